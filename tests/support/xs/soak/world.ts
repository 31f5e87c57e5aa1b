/**
 * The soak (issue 17): one device (src/device/device.ts, the real composition) living for
 * simulated days on a virtual clock, over a simulated WiFi radio and TCP to a simulated
 * server, with trouble at random but seeded times: WiFi drops, server restarts, half-open
 * links, a slow server, and requests from the server all along. Portable: the same world runs
 * on Node (tests/soak/soak.test.ts, npm run soak) and inside XS (tests/support/xs/soak.ts), so
 * a seed gives the same week on both engines.
 *
 * The verdict (SoakSummary.problems, empty when all is well): every telemetry record the
 * device made reached the server at least once, or was dropped by the outbox's documented
 * policy (logged, counted); no record twice on one connection, none resent after its ack had
 * reached the device; every request on a live connection answered, once, correctly; no
 * backoff delay under its floor (backoff.minMs), measured from the log and from the clock; no
 * internal error logged; the device ends connected. The summary counts what happened.
 */
import { DEFAULT_BACKOFF } from "../../../../src/device/backoff.js";
import { parseDeviceConfig } from "../../../../src/device/config.js";
import { Device } from "../../../../src/device/device.js";
import type { DeviceHost, LogLevel, Utf8Codec } from "../../../../src/shared/host.js";
import { MemoryStorage } from "../../../../src/shared/memory-storage.js";
import { SeededRandom, SimClock } from "./clock.js";
import { SimNet, SimWifiDriver } from "./net.js";
import { SoakServer } from "./server.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** How often each kind of trouble comes (mean interval, ms) and how long it lasts (ms). */
export const CHAOS = Object.freeze({
  wifiDrop: { every: 6 * HOUR, shortest: 5 * SECOND, longest: 5 * MINUTE },
  serverRestart: { every: 8 * HOUR, shortest: 5 * SECOND, longest: 3 * MINUTE },
  halfOpen: { every: 12 * HOUR },
  slowServer: { every: 8 * HOUR, shortest: 5 * MINUTE, longest: 30 * MINUTE, delayLow: 500, delayHigh: 6 * SECOND },
  /** The server's requests: mean interval while connected. */
  request: { every: 45 * SECOND },
});

/** The last stretch of a run has no trouble: the device must end connected and caught up. */
export const CALM_END_MS = HOUR;
export const TELEMETRY_INTERVAL_MS = 10 * SECOND;

export interface SoakSummary {
  seed: number;
  simulatedMs: number;
  telemetry: { made: number; delivered: number; resent: number; droppedByOutbox: number; unacknowledgedAtEnd: number };
  requests: { sent: number; answered: number; lostWithConnection: number };
  trouble: { wifiDrops: number; serverRestarts: number; halfOpens: number; slowPeriods: number };
  connections: { attempts: number; opened: number; reconnects: number; heartbeatTimeouts: number; longestOutageMs: number; shortestBackoffMs: number };
  /** Log events at warn and error level, by name (what went wrong, as the device saw it). */
  warnings: Record<string, number>;
  /** Broken promises; empty when the soak passed. */
  problems: string[];
}

export interface SoakOptions {
  seed: number;
  /** Simulated days the run will last (sizes the server's books). */
  days: number;
  /** The engine's native UTF-8 codec, as its real host gives it (default: the portable one). */
  utf8?: Utf8Codec;
}

/** Log events that mean a bug, not trouble the device handled. */
const BUG_EVENTS = new Set(["app_internal_error", "supervisor_callback_failed", "ws_callback_failed", "telemetry_failed", "report_failed"]);

export class SoakWorld {
  readonly clock = new SimClock();
  readonly device: Device;
  readonly server: SoakServer;
  readonly net: SimNet;
  private readonly wifi: SimWifiDriver;
  private readonly chaos: SeededRandom;
  private readonly options: SoakOptions;
  private readonly endMs: number;
  /** Records the outbox dropped: bits, as the server keeps the received ones. */
  private readonly dropped: Uint8Array;
  private made = 0;
  private droppedCount = 0;
  private opened = 0;
  private heartbeatTimeouts = 0;
  private readonly counts = { wifiDrops: 0, serverRestarts: 0, halfOpens: 0, slowPeriods: 0 };
  private readonly warnings: Record<string, number> = {};
  private readonly problems: string[] = [];
  private problemCount = 0;
  /** Outage bookkeeping: the device's link state from its log. */
  private openSince = -1;
  private outageSince = 0;
  private longestOutage = 0;
  /** The last backoff the supervisor announced, and whether the network came back since. */
  private backoffAt = -1;
  private backoffDelay = 0;
  private networkCameBack = false;
  private shortestBackoff = Infinity;

  constructor(options: SoakOptions) {
    this.options = options;
    this.endMs = options.days * DAY;
    const maxRecords = Math.ceil(this.endMs / TELEMETRY_INTERVAL_MS) + 16;
    this.dropped = new Uint8Array((maxRecords >> 3) + 1);
    this.chaos = new SeededRandom(options.seed);
    const deviceRandom = new SeededRandom(options.seed ^ 0x5bd1e995);
    this.net = new SimNet(this.clock, new SeededRandom(options.seed ^ 0x27d4eb2f));
    this.server = new SoakServer(this.clock, new SeededRandom(options.seed ^ 0x165667b1), maxRecords);
    this.net.server = this.server;
    this.net.onAttempt = () => this.attempted();
    this.wifi = new SimWifiDriver(this.net);
    const host: DeviceHost = {
      tcp: this.net.tcp(),
      timers: this.clock,
      random: (into) => deviceRandom.fill(into),
      log: (level, event, fields) => this.log(level, event, fields ?? {}),
      wifi: this.wifi,
      storage: new MemoryStorage(),
    };
    if (options.utf8) host.utf8 = options.utf8;
    const config = parseDeviceConfig({
      deviceId: "soak-1",
      url: "ws://soak.example:8080/device",
      ssid: "soak-ap",
      password: "soak-password",
      telemetryIntervalMs: TELEMETRY_INTERVAL_MS,
    });
    this.device = new Device({ host, config });
  }

  /** Starts the device and schedules the trouble and the requests of the whole run. */
  start(): void {
    this.device.start();
    this.scheduleTrouble();
    this.scheduleRequests();
  }

  /** Runs simulated time up to `ms` from the start (or the run's end, whichever is first). */
  runUntil(ms: number): void {
    this.clock.runUntil(Math.min(ms, this.endMs));
  }

  get now(): number {
    return this.clock.now();
  }

  get ended(): boolean {
    return this.clock.now() >= this.endMs;
  }

  /** What happened, and what broke (call at the end of the run). */
  summary(): SoakSummary {
    const now = this.clock.now();
    const problems = [...this.problems];
    const server = this.server;
    let lost = 0;
    let firstLost = -1;
    for (let seq = 1; seq <= this.made; seq++) {
      if (!server.hasRecord(seq) && !this.isDropped(seq)) {
        lost++;
        if (firstLost < 0) firstLost = seq;
      }
    }
    const counters = this.device.app.counters;
    // Records made in the last moments may still be on their way: not lost.
    const inFlight = counters.outboxSize;
    if (lost > inFlight) problems.push(`${lost} telemetry records neither delivered nor dropped by the outbox (first: ${firstLost})`);
    if (counters.outboxDropped !== this.droppedCount) problems.push(`the outbox counts ${counters.outboxDropped} drops, its log ${this.droppedCount}`);
    server.checkDeadlines();
    if (server.violationCount > 0) problems.push(`${server.violationCount} protocol violations seen by the server: ${server.violations.join("; ")}`);
    if (this.problemCount > this.problems.length) problems.push(`(${this.problemCount - this.problems.length} more problems)`);
    if (this.ended && this.openSince < 0) problems.push("the device is not connected at the end of the calm hour");
    const outage = this.openSince < 0 ? now - this.outageSince : 0;
    return {
      seed: this.options.seed,
      simulatedMs: now,
      telemetry: { made: this.made, delivered: server.telemetryReceived, resent: server.resends, droppedByOutbox: this.droppedCount, unacknowledgedAtEnd: counters.outboxSize },
      requests: { sent: server.requestsSent, answered: server.repliesReceived, lostWithConnection: server.requestsLostWithConnection },
      trouble: { ...this.counts },
      connections: {
        attempts: this.net.attempts,
        opened: this.opened,
        reconnects: Math.max(0, this.opened - 1),
        heartbeatTimeouts: this.heartbeatTimeouts,
        longestOutageMs: Math.max(this.longestOutage, outage),
        shortestBackoffMs: this.shortestBackoff === Infinity ? -1 : this.shortestBackoff,
      },
      warnings: { ...this.warnings },
      problems,
    };
  }

  // --- what the device says ------------------------------------------------------------

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    if (level === "warn" || level === "error") this.warnings[event] = (this.warnings[event] ?? 0) + 1;
    if (BUG_EVENTS.has(event)) this.problem(`the device logged ${event}: ${JSON.stringify(fields).slice(0, 120)}`);
    switch (event) {
      case "telemetry_recorded":
        this.made = fields.seq as number;
        return;
      case "outbox_drop": {
        const seq = fields.seq as number;
        this.droppedCount++;
        if (seq >= 1 && seq < this.dropped.length * 8) this.dropped[seq >> 3]! |= 1 << (seq & 7);
        return;
      }
      case "ws_supervisor_state":
        this.linkState(fields.state as string);
        return;
      case "ws_backoff": {
        const delay = fields.delayMs as number;
        if (delay < DEFAULT_BACKOFF.minMs) this.problem(`a backoff of ${delay} ms, under the floor of ${DEFAULT_BACKOFF.minMs} ms`);
        this.backoffAt = this.clock.now();
        this.backoffDelay = delay;
        this.networkCameBack = false;
        return;
      }
      case "ws_network":
        if (fields.up === true) this.networkCameBack = true;
        return;
      case "ws_heartbeat_timeout":
        this.heartbeatTimeouts++;
        return;
    }
  }

  /** A TCP attempt: after a backoff (the network did not come back meanwhile), not before its delay. */
  private attempted(): void {
    if (this.backoffAt < 0 || this.networkCameBack) return;
    const waited = this.clock.now() - this.backoffAt;
    if (waited < this.shortestBackoff) this.shortestBackoff = waited;
    if (waited < this.backoffDelay || waited < DEFAULT_BACKOFF.minMs) {
      this.problem(`an attempt ${waited} ms after a backoff of ${this.backoffDelay} ms (floor ${DEFAULT_BACKOFF.minMs} ms)`);
    }
    this.backoffAt = -1;
  }

  private linkState(state: string): void {
    const now = this.clock.now();
    if (state === "open") {
      this.opened++;
      if (this.openSince < 0) {
        const outage = now - this.outageSince;
        if (outage > this.longestOutage) this.longestOutage = outage;
      }
      this.openSince = now;
    } else if (this.openSince >= 0) {
      this.openSince = -1;
      this.outageSince = now;
    }
  }

  private isDropped(seq: number): boolean {
    return (this.dropped[seq >> 3]! & (1 << (seq & 7))) !== 0;
  }

  private problem(text: string): void {
    this.problemCount++;
    if (this.problems.length < 20) this.problems.push(`at ${this.clock.now()} ms: ${text}`);
  }

  // --- trouble -------------------------------------------------------------------------

  /** Each kind of trouble at exponential intervals, until the calm last hour. */
  private scheduleTrouble(): void {
    const calmFrom = this.endMs - CALM_END_MS;
    const random = this.chaos;
    const every = (mean: number, act: () => void): void => {
      const next = (): void => {
        const at = this.clock.now() + random.interval(mean);
        if (at >= calmFrom) return;
        this.clock.set(() => {
          act();
          next();
        }, at - this.clock.now());
      };
      next();
    };
    every(CHAOS.wifiDrop.every, () => {
      this.counts.wifiDrops++;
      this.wifi.drop();
      this.clock.set(() => this.wifi.restore(), random.between(CHAOS.wifiDrop.shortest, CHAOS.wifiDrop.longest));
    });
    every(CHAOS.serverRestart.every, () => {
      this.counts.serverRestarts++;
      this.server.restart(random.between(CHAOS.serverRestart.shortest, CHAOS.serverRestart.longest));
    });
    every(CHAOS.halfOpen.every, () => {
      if (this.server.blackHole(random.between(0, 1) === 1)) this.counts.halfOpens++;
    });
    every(CHAOS.slowServer.every, () => {
      this.counts.slowPeriods++;
      this.server.readDelayMs = random.between(CHAOS.slowServer.delayLow, CHAOS.slowServer.delayHigh);
      this.clock.set(() => {
        this.server.readDelayMs = 0;
      }, random.between(CHAOS.slowServer.shortest, CHAOS.slowServer.longest));
    });
  }

  /** The server's requests, at random times all run long (sent only while the device is connected). */
  private scheduleRequests(): void {
    const random = this.chaos;
    const next = (): void => {
      this.clock.set(() => {
        this.server.sendRequest();
        next();
      }, random.interval(CHAOS.request.every));
    };
    next();
  }
}
