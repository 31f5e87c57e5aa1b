/**
 * The device: WiFi setup, the connection supervisor and the JSON processing loop, wired
 * together over a DeviceHost. The same composition runs on the ESP32, in Moddable's
 * simulator, in XS on the desktop and on Node.
 *
 *   WiFi online  -> supervisor.setNetwork(true)  -> WebSocket attempts (backoff, heartbeat)
 *   WiFi offline -> supervisor.setNetwork(false) -> the connection is dropped at once
 *   open         -> app.connected(): hello, then every unacknowledged telemetry record
 *   message      -> app.receive()
 */
import { DeviceApp, type RequestHandler } from "./app.js";
import type { DeviceConfig } from "./config.js";
import type { DeviceHost } from "../shared/host.js";
import { DEVICE_SETTINGS, Settings } from "./settings.js";
import { ConnectionSupervisor } from "./supervisor.js";
import type { ClientTlsOptions } from "../websocket/client.js";
import { loadNetworks, WifiManager } from "./wifi.js";
import { ImprovService } from "../provisioning/improv-service.js";
import { createWifiProvisioning } from "../provisioning/improv-provisioning.js";

/** The firmware's version, reported in hello. */
export const FIRMWARE_VERSION = "0.1.0";

/**
 * A part of the device that adds fields to hello and to the status reply (the link, the
 * clock, health, updates...). Each new capability registers one with addReporter(), so hello
 * and status grow without the JSON loop knowing every part.
 */
export interface DeviceReporter {
  hello?(): Record<string, unknown>;
  status?(): Record<string, unknown>;
}

export interface DeviceOptions {
  host: DeviceHost;
  config: DeviceConfig;
  /** The application's own request handlers (type -> handler). */
  handlers?: Record<string, RequestHandler>;
  /** The `data` of each telemetry record (sensor readings). */
  readTelemetry?: () => Record<string, unknown>;
  /**
   * Keys of `config` the user gave explicitly at start (the desktop's command-line flags, by
   * their DeviceConfig names, e.g. "telemetryIntervalMs" for --telemetry-interval-ms). For
   * those that are settings, the value in `config` wins over one stored at run time (`config
   * set`) for this run; otherwise a stored setting wins over the build's config, so a server's
   * change survives a reboot on the chip. Other keys are ignored. Default: none (a build's
   * config is never explicit).
   */
  explicitSettings?: readonly string[];
}

export class Device {
  readonly app: DeviceApp;
  readonly supervisor: ConnectionSupervisor;
  readonly wifi: WifiManager | undefined;
  readonly settings: Settings;
  /** Improv WiFi over serial, on hosts with a console serial port (DeviceHost.serial). */
  readonly improv: ImprovService | undefined;
  private readonly host: DeviceHost;
  private readonly config: DeviceConfig;
  private started = false;
  /** Fields for hello and status, in order; an earlier reporter's field wins a clash. */
  private readonly reporters: DeviceReporter[] = [];

  constructor(options: DeviceOptions) {
    const { host, config } = options;
    this.host = host;
    this.config = config;
    const log = host.log;
    this.settings = new Settings({
      storage: host.storage,
      specs: DEVICE_SETTINGS,
      log,
      initial: { telemetryIntervalMs: config.telemetryIntervalMs },
      ...(options.explicitSettings !== undefined ? { explicit: options.explicitSettings } : {}),
    });

    const headers: Array<[string, string]> = [];
    if (config.authToken) headers.push(["Authorization", `Bearer ${config.authToken}`]);
    const networks = loadNetworks({ ssid: config.ssid, password: config.password }, host.storage, log);

    const tls = clientTls(config);
    this.supervisor = new ConnectionSupervisor({
      url: config.url,
      host,
      client: { headers, limits: { maxMessageBytes: config.maxMessageBytes }, ...(tls ? { tls } : {}) },
      backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
      stableMs: config.stableMs,
      heartbeat:
        config.heartbeatIntervalMs === 0
          ? false
          : { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs },
      // With WiFi to manage, nothing is attempted before an IP address.
      networkUp: networks.length === 0,
      onOpen: () => this.app.connected(),
      onMessage: (data) => this.app.receive(data),
      onClose: () => this.app.disconnected(),
    });

    // No network to join: a host whose link is always up (a desktop without simulated WiFi).
    this.wifi =
      networks.length === 0
        ? undefined
        : new WifiManager({
            driver: host.wifi,
            timers: host.timers,
            random: host.random,
            log,
            networks,
            onOnline: () => this.supervisor.setNetwork(true),
            onOffline: () => this.supervisor.setNetwork(false),
          });

    const boot = new Uint8Array(4);
    host.random(boot);
    this.app = new DeviceApp({
      identity: { deviceId: config.deviceId, firmware: FIRMWARE_VERSION, bootId: hexBytes(boot) },
      timers: host.timers,
      log,
      send: (text) => this.supervisor.send(text),
      sendBinary: (bytes) => this.supervisor.send(bytes),
      settings: this.settings,
      freeMemory: host.freeMemory,
      status: () => this.report("status"),
      hello: () => this.report("hello"),
      ...(options.handlers ? { handlers: options.handlers } : {}),
      readTelemetry: options.readTelemetry ?? (() => this.defaultTelemetry()),
    });
    this.addReporter({ status: () => this.linkStatus() });

    this.improv =
      host.serial === undefined
        ? undefined
        : new ImprovService({
            serial: host.serial,
            timers: host.timers,
            log,
            provisioning: createWifiProvisioning({
              wifi: this.wifi,
              driver: host.wifi,
              storage: host.storage,
              log,
              redirectUrl: config.improvUrl ?? "",
            }),
            info: { firmware: "moorline", version: FIRMWARE_VERSION, hardware: host.platform ?? "unknown", name: config.deviceId },
          });
  }

  /** Adds fields to hello and status (see DeviceReporter). */
  addReporter(reporter: DeviceReporter): void {
    this.reporters.push(reporter);
  }

  /** The reporters' fields for hello or status; a reporter that throws adds nothing. */
  private report(kind: "hello" | "status"): Record<string, unknown> {
    const fields: Record<string, unknown> = {};
    for (const reporter of this.reporters) {
      const part = reporter[kind];
      if (!part) continue;
      let extra: Record<string, unknown>;
      try {
        extra = part.call(reporter);
      } catch (error) {
        this.host.log("warn", "report_failed", { kind, error: String(error) });
        continue;
      }
      for (const key of Object.keys(extra)) if (!(key in fields)) fields[key] = extra[key];
    }
    return fields;
  }

  /** Starts WiFi (or the link directly), the supervisor and the telemetry timer. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.host.log("info", "device_start", {
      device: this.config.deviceId,
      firmware: FIRMWARE_VERSION,
      url: this.config.url,
      wifi: this.wifi ? "managed" : "none",
    });
    this.app.start();
    this.supervisor.start();
    this.wifi?.start();
    this.improv?.start();
  }

  /** Stops everything; `onStopped` runs once the connection is closed (bounded). */
  stop(onStopped?: () => void): void {
    this.app.stop();
    this.improv?.stop();
    this.wifi?.stop();
    this.supervisor.stop(() => {
      this.host.log("info", "device_stopped", { device: this.config.deviceId });
      onStopped?.();
    });
  }

  /** What a device without sensors reports: its own health. */
  private defaultTelemetry(): Record<string, unknown> {
    return {
      freeMemory: this.host.freeMemory?.() ?? null,
      rssi: this.wifi ? (this.host.wifi.rssi() ?? null) : null,
      rttMs: this.supervisor.stats.lastRttMs ?? null,
    };
  }

  /** The link's part of a status reply. */
  private linkStatus(): Record<string, unknown> {
    const stats = this.supervisor.stats;
    const status: Record<string, unknown> = {
      link: this.supervisor.state,
      connects: stats.connects,
      reconnects: stats.reconnects,
      lastRttMs: stats.lastRttMs ?? null,
      heartbeatTimeouts: stats.heartbeatTimeouts,
      lastClose: stats.lastClose ?? null,
    };
    if (this.wifi) {
      status.wifi = this.wifi.state;
      status.ssid = this.wifi.ssid ?? null;
      status.rssi = this.host.wifi.rssi() ?? null;
    }
    return status;
  }
}

/**
 * The client's tls option from the configuration's TLS keys, when any is set. With a ws://
 * URL the supervisor refuses it (parseDeviceConfig already has): never silently ignored.
 */
function clientTls(config: DeviceConfig): ClientTlsOptions | undefined {
  const tls: ClientTlsOptions = {};
  if (config.ca) tls.ca = config.ca;
  // A configuration built by hand may predate the TLS keys.
  if (config.pins && config.pins.length > 0) tls.pins = config.pins;
  if (config.insecure) tls.insecure = true;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/** The bytes as lower-case hex digits, two per byte (the boot id). */
function hexBytes(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
  return text;
}
