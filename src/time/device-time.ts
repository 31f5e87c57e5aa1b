/**
 * Time on the device: the clock service (clock.ts) kept set by the SNTP client
 * (sntp-client.ts) while the network is up, the gate that holds wss:// back until the clock
 * can be believed, and the clock's fields in hello, status and telemetry. src/device/device.ts
 * makes one and asks it `ready` before letting the supervisor connect.
 *
 * Why the gate: a chip's clock reads 1970 at boot (or, once restored, the firmware's build
 * time), so every certificate would be "not yet valid", or worse, one issued after the build
 * would be refused with an error blaming the server. So until the clock is trusted the device
 * does not attempt wss:// at all, and says so in one `clock_wait` line naming the NTP servers
 * it asks. ws:// needs no clock and connects at once.
 *
 * The fallback (config clockFallbackMs, off by default): after that long waiting, wss:// is
 * attempted with the untrusted clock, which reads at least its lower bound: certificates
 * issued before it pass, expired ones still fail. If the server's certificate turns out newer
 * than the clock's lower bound (ERR_TLS_CERT_NOT_YET_VALID while untrusted), that is the
 * device's clock, not the server: the gate closes again (`clock_fallback_ended`), and the next
 * fallback comes clockFallbackMs later, unless NTP answers first.
 */
import type { DeviceConfig } from "../device/config.js";
import { TlsErrorCode, type DeviceHost, type Log, type TimerId, type Timers, type WallClock } from "../shared/host.js";
import { parseWebSocketUrl } from "../websocket/url.js";
import { ClockService, isoTime, SOURCE_DATE_MS } from "./clock.js";
import { parseNtpServer } from "./servers.js";
import { SntpClient } from "./sntp-client.js";

/**
 * How far behind the build time an NTP answer may be before it is refused, ms: a build
 * machine's clock may be a little ahead; a server a day behind it is broken or lying.
 */
export const BUILD_TIME_SLACK_MS = 86_400_000;

export interface DeviceTimeOptions {
  host: DeviceHost;
  config: Pick<DeviceConfig, "url" | "ntp" | "ntpIntervalMs" | "clockFallbackMs" | "buildTime">;
  /** `ready` changed (the clock became trusted, a fallback began or ended). */
  onGateChange(): void;
}

export class DeviceTime {
  readonly clock: ClockService;
  /** Absent when the clock needs none (the platform keeps it) or cannot have one (no server, no UDP). */
  readonly sntp: SntpClient | undefined;
  private readonly options: DeviceTimeOptions;
  private readonly log: Log;
  private readonly timers: Timers;
  private readonly secure: boolean;
  private readonly servers: string[];
  private running = false;
  private waitLogged = false;
  /** wss:// attempted with the untrusted clock (clockFallbackMs). */
  private fallback = false;
  private fallbackTimer: TimerId | undefined;
  private readonly onFallbackDue = (): void => this.fallbackDue();

  constructor(options: DeviceTimeOptions) {
    const { host, config } = options;
    this.options = options;
    this.log = host.log;
    this.timers = host.timers;
    this.secure = parseWebSocketUrl(config.url).secure;
    const servers = config.ntp.map((entry) => parseNtpServer("config.ntp", entry));
    this.servers = servers.map((server) => server.label);
    const buildTimeMs = Math.max(SOURCE_DATE_MS, config.buildTime);
    this.clock = new ClockService({
      wallClock: host.wallClock ?? standInClock(host.timers),
      timers: host.timers,
      storage: host.storage,
      log: host.log,
      buildTimeMs,
      onTrusted: () => this.trusted(),
    });
    if (this.clock.trusted) {
      this.sntp = undefined;
    } else if (servers.length === 0) {
      this.sntp = undefined;
      this.log("warn", "ntp_not_configured", { hint: "no NTP server (config ntp): the clock stays untrusted" });
    } else if (host.udp === undefined || host.resolve === undefined) {
      this.sntp = undefined;
      this.log("warn", "ntp_unavailable", { hint: "this platform gives no UDP sockets: the clock stays untrusted" });
    } else {
      this.sntp = new SntpClient({
        servers,
        udp: host.udp,
        resolve: host.resolve,
        timers: host.timers,
        random: host.random,
        log: host.log,
        earliestMs: buildTimeMs - BUILD_TIME_SLACK_MS,
        intervalMs: config.ntpIntervalMs,
        onSample: (sample) => this.clock.synced(sample),
      });
    }
  }

  /** wss:// may be attempted: a ws:// URL, a trusted clock, or the fallback in force. */
  get ready(): boolean {
    return !this.secure || this.clock.trusted || this.fallback;
  }

  /** The trusted wall time, UTC ms; undefined while the clock is not trusted. */
  now(): number | undefined {
    return this.clock.now();
  }

  /** Starts keeping time (SNTP while the network is up). */
  start(networkUp: boolean): void {
    this.running = true;
    this.setNetwork(networkUp);
  }

  stop(): void {
    this.running = false;
    this.sntp?.stop();
    this.clearFallback();
  }

  /** The network went up or down: SNTP follows it. */
  setNetwork(up: boolean): void {
    if (!this.running || this.sntp === undefined) return;
    if (up) this.sntp.start();
    else this.sntp.stop();
  }

  /**
   * The device would connect now, but `ready` is false: says why, once, and starts the
   * fallback's wait when the build config has one.
   */
  holding(): void {
    if (this.ready) return;
    if (!this.waitLogged) {
      this.waitLogged = true;
      const fallbackMs = this.options.config.clockFallbackMs;
      this.log("info", "clock_wait", {
        servers: this.servers,
        reads: isoTime(this.clock.reads()),
        ...(fallbackMs > 0 ? { fallbackMs } : {}),
        hint:
          this.sntp === undefined
            ? "wss:// waits for a trusted clock, and no NTP server can be asked (config ntp)"
            : "wss:// waits until an NTP server gives the time: certificate dates cannot be checked before",
      });
    }
    this.armFallback();
  }

  /**
   * A connection (or attempt) ended with `code`: a certificate "not yet valid" by a clock that
   * is not trusted ends the fallback (the clock is at fault, not the server).
   */
  connectionEnded(code: string | undefined): void {
    if (code !== TlsErrorCode.TLS_CERT_NOT_YET_VALID || !this.fallback || this.clock.trusted) return;
    this.fallback = false;
    this.log("warn", "clock_fallback_ended", {
      reads: isoTime(this.clock.reads()),
      hint: "the server's certificate is newer than what the device's unsynced clock can vouch for: waiting for NTP",
    });
    this.armFallback();
    this.options.onGateChange();
  }

  /** hello's fields: the time (null while untrusted) and whether it can be believed. */
  hello(): Record<string, unknown> {
    const state = this.clock.state();
    return { time: this.clock.now() ?? null, clock: { trusted: state.trusted, source: state.source } };
  }

  /** status's fields: the time and the clock's state, with the SNTP client's counters. */
  status(): Record<string, unknown> {
    const state = this.clock.state();
    return {
      time: this.clock.now() ?? null,
      clock: {
        trusted: state.trusted,
        source: state.source,
        since: state.since,
        lastSync: state.lastSync,
        offsetMs: state.offsetMs,
        server: state.server,
        lowerBound: state.lowerBound,
        ntp: this.sntp === undefined ? null : { servers: this.servers, ...this.sntp.stats },
        ...(this.secure && !this.clock.trusted ? { fallback: this.fallback } : {}),
      },
    };
  }

  private trusted(): void {
    this.clearFallback();
    this.fallback = false;
    this.options.onGateChange();
  }

  private armFallback(): void {
    const fallbackMs = this.options.config.clockFallbackMs;
    if (fallbackMs === 0 || this.fallbackTimer !== undefined || this.ready || !this.running) return;
    this.fallbackTimer = this.timers.set(this.onFallbackDue, fallbackMs);
  }

  private fallbackDue(): void {
    this.fallbackTimer = undefined;
    if (this.clock.trusted || !this.running) return;
    this.fallback = true;
    this.log("warn", "clock_fallback", {
      afterMs: this.options.config.clockFallbackMs,
      reads: isoTime(this.clock.reads()),
      hint: "wss:// without a trusted clock: certificate dates are checked against the clock's lower bound",
    });
    this.options.onGateChange();
  }

  private clearFallback(): void {
    if (this.fallbackTimer === undefined) return;
    this.timers.clear(this.fallbackTimer);
    this.fallbackTimer = undefined;
  }
}

/**
 * A wall clock for a platform that gives none (a test's host): it starts at 1970, as a chip's
 * does, and runs on the monotonic clock.
 */
function standInClock(timers: Timers): WallClock {
  let offset = -timers.now();
  return {
    now: () => timers.now() + offset,
    set: (utcMs: number) => {
      offset = utcMs - timers.now();
    },
    systemSynced: false,
  };
}
