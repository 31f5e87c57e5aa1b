/**
 * The device: WiFi setup, the connection supervisor and the JSON processing loop, wired
 * together over a DeviceHost. The same composition runs on the ESP32, in Moddable's
 * simulator, in XS on the desktop and on Node.
 *
 *   WiFi online  -> SNTP (src/time), and supervisor.setNetwork(true) -> WebSocket attempts
 *                   (backoff, heartbeat); for wss:// only once the clock is trusted
 *   WiFi offline -> supervisor.setNetwork(false) -> the connection is dropped at once
 *   open         -> app.connected(): hello, then every unacknowledged telemetry record
 *   message      -> app.receive()
 *
 * Health (src/health/): at construction the boot is counted and the reset reason read; the
 * durable outbox restores the records earlier boots left unacknowledged; a stable connection
 * marks the boot a good one (and ends safe mode: the device restarts into normal mode). In safe
 * mode only connectivity runs: no user handlers, no telemetry, the stored outbox left as it is.
 *
 * Provisioning (src/provisioning) sets the network, the server and the name without a new
 * build: it hears WiFi's states and the connection's opens and closes, answers the server's
 * wifi/server/factory_reset requests, and opens the setup portal when no network works. A
 * URL and name it saved win over the build's (not over a desktop flag given for this run).
 */
import { chooseAuthToken, credentialHeaders, DEVICE_ID_HEADER, warnCleartextToken, type AuthTokenSource } from "../auth/credentials.js";
import { parseWebSocketUrl } from "../websocket/url.js";
import { DeviceApp, type RequestHandler } from "./app.js";
import { DEFAULT_DEVICE_CONFIG, type DeviceConfig } from "./config.js";
import type { DeviceHost } from "../shared/host.js";
import { DEVICE_SETTINGS, Settings } from "./settings.js";
import { ConnectionSupervisor, SupervisorState } from "./supervisor.js";
import type { ClientTlsOptions } from "../websocket/client.js";
import { loadNetworks, WifiManager } from "./wifi.js";
import { DeviceTime } from "../time/device-time.js";
import { DeviceHealth } from "../health/device-health.js";
import { DEFAULT_APP_LIMITS } from "./app-options.js";
import { DEFAULT_LIMITS } from "../websocket/constants.js";
import { clientFrameLength } from "../websocket/sender.js";
import { checkNewUrl } from "./supervisor-options.js";
import { loadProvisioned } from "../provisioning/provisioner.js";
import { Provisioning } from "../provisioning/provisioning.js";
import { ImprovService } from "../provisioning/improv-service.js";
import { createWifiProvisioning } from "../provisioning/improv-provisioning.js";

/**
 * The client's readPauseBytes for the device: reading stops while more than this is queued
 * to send, so the reply to the next request, up to maxReplyBytes, always fits the send buffer
 * (docs/protocol.md: every request gets exactly one reply, however fast requests come).
 */
export const DEVICE_READ_PAUSE_BYTES = DEFAULT_LIMITS.maxBufferedBytes - clientFrameLength(DEFAULT_APP_LIMITS.maxReplyBytes);
import { MqttTransport } from "../mqtt/transport.js";
import { Updater } from "../ota/updater.js";
import { OTA_OFFER } from "../ota/protocol.js";
import { toHex } from "../ota/manifest.js";
import { decodeBase64 } from "../websocket/base64.js";

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
   * config is never explicit). "authToken" among them makes config.authToken win over a
   * token stored by provisioning, for this run (src/auth/credentials.ts).
   */
  explicitSettings?: readonly string[];
  /**
   * Firmware updates (src/ota): refuses an offered image with a code of the application's
   * ("low_battery"), or returns undefined to let it come. Default: every valid image comes.
   */
  updatePolicy?: (offer: { version: string; size: number }) => string | undefined;
  /**
   * Firmware updates: the application's self-check of a new image on trial, once it has
   * reached its server; undefined when it passed, else why not (the image is rolled back).
   */
  selfCheck?: () => string | undefined;
}

export class Device {
  readonly app: DeviceApp;
  readonly supervisor: ConnectionSupervisor;
  /** The MQTT transport (config.transport "mqtt"), whose supervisor is `supervisor`; else undefined. */
  readonly mqtt: MqttTransport | undefined;
  readonly wifi: WifiManager | undefined;
  readonly settings: Settings;
  /** The clock (SNTP), and the gate that holds wss:// back until it is trusted. */
  readonly time: DeviceTime;
  /** Boot record, reset reason, safe mode, the durable outbox, the reboot (src/health/). */
  readonly health: DeviceHealth;
  /**
   * Firmware updates (src/ota/): where the platform has a firmware store, over the WebSocket
   * transport (an image does not travel over MQTT).
   */
  readonly updates: Updater | undefined;
  /** The running firmware's version (hello's `firmware`). */
  readonly version: string;
  /** New WiFi, server and name without a new build: the setup portal, the server's requests (src/provisioning/). */
  readonly provisioning: Provisioning;
  /** Improv WiFi over serial, on hosts with a console serial port (DeviceHost.serial). */
  readonly improv: ImprovService | undefined;
  private readonly host: DeviceHost;
  private readonly config: DeviceConfig;
  private started = false;
  /** The network is up (WiFi has an address, or there is no WiFi to manage). */
  private online: boolean;
  /** Where the token sent to the server came from (never the token itself). */
  private authTokenSource: AuthTokenSource;
  /**
   * The WebSocket handshake's credential headers: the supervisor's client options hold this
   * very array, so a rename or a factory reset updates it in place for the next connection.
   */
  private readonly headers: Array<[string, string]>;
  /** The token sent ("" for none). */
  private token: string;
  /** Fields for hello and status, in order; an earlier reporter's field wins a clash. */
  private readonly reporters: DeviceReporter[] = [];

  constructor(options: DeviceOptions) {
    const { host, config } = options;
    this.host = host;
    this.config = config;
    // A configuration built by hand may predate firmwareVersion.
    this.version = config.firmwareVersion || FIRMWARE_VERSION;
    const log = host.log;
    this.settings = new Settings({
      storage: host.storage,
      specs: DEVICE_SETTINGS,
      log,
      initial: { telemetryIntervalMs: config.telemetryIntervalMs },
      ...(options.explicitSettings !== undefined ? { explicit: options.explicitSettings } : {}),
    });

    // What provisioning saved wins over the build's config, unless given for this run.
    const explicit = options.explicitSettings ?? [];
    const provisioned = loadProvisioned(host.storage, log);
    const deviceId = provisioned.deviceId !== undefined && !explicit.includes("deviceId") ? provisioned.deviceId : config.deviceId;

    // Who the device is, and the token that proves it (src/auth/credentials.ts).
    const credential = chooseAuthToken({
      configToken: config.authToken,
      explicit: options.explicitSettings?.includes("authToken") === true,
      storage: host.storage,
      log,
    });
    this.authTokenSource = credential.source;
    this.token = credential.token;
    const headers = credentialHeaders(deviceId, credential.token);
    this.headers = headers;
    const networks = loadNetworks({ ssid: config.ssid, password: config.password }, host.storage, log);
    // A device that can open its setup portal manages WiFi even with no network to try yet.
    const canProvision = config.portalPort > 0 && host.listener !== undefined && typeof host.wifi.startAccessPoint === "function";
    const managesWifi = networks.length > 0 || canProvision;

    const tls = clientTls(config);
    this.online = !managesWifi;
    this.time = new DeviceTime({ host, config, onGateChange: () => this.updateLink() });
    // What both transports share: the supervisor's policies and the JSON loop's callbacks.
    const link = {
      url: config.url,
      host,
      backoff: { baseMs: config.backoffBaseMs, capMs: config.backoffCapMs },
      stableMs: config.stableMs,
      heartbeat:
        config.heartbeatIntervalMs === 0
          ? (false as const)
          : { intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs },
      // With WiFi to manage, nothing is attempted before an IP address; wss:// waits for the clock.
      networkUp: this.online && this.time.ready,
      onOpen: () => {
        this.app.connected();
        this.updates?.connected();
        this.provisioning.linkOpened();
      },
      onMessage: (data: string | Uint8Array) => this.app.receive(data),
      onClose: (event: { reason: string; error?: { code: string } }) => {
        this.time.connectionEnded(event.error?.code);
        this.app.disconnected();
        this.updates?.disconnected();
        this.provisioning.linkClosed(event.reason);
      },
      onStable: () => {
        this.health.connectionStable();
        this.updates?.connectionStable();
      },
    };
    // Reading pauses while a reply would not fit the send buffer (DEVICE_READ_PAUSE_BYTES).
    const limits = { maxMessageBytes: config.maxMessageBytes, readPauseBytes: DEVICE_READ_PAUSE_BYTES };
    // The client options a new URL is checked against (provisioning), as the supervisor checks them.
    const client = config.transport === "mqtt" ? { limits, ...(tls ? { tls } : {}) } : { headers, limits, ...(tls ? { tls } : {}) };
    if (config.transport === "mqtt") {
      // The same supervisor, JSON loop and outbox, on a broker's topics (src/mqtt/transport.ts).
      this.mqtt = new MqttTransport({
        ...link,
        client,
        // The name at boot: a rename by provisioning reaches the topics at the next start.
        deviceId,
        username: config.mqttUsername,
        password: credential.token,
        prefix: config.mqttPrefix,
        limits: { maxPacketBytes: config.maxMessageBytes },
      });
      this.supervisor = this.mqtt.supervisor;
    } else {
      this.mqtt = undefined;
      this.supervisor = new ConnectionSupervisor({ ...link, client });
    }
    if (provisioned.url !== undefined && !explicit.includes("url") && provisioned.url !== config.url) {
      try {
        this.supervisor.setUrl(provisioned.url);
      } catch (error) {
        log("warn", "provision_url_ignored", { url: provisioned.url, error });
      }
    }
    warnCleartextToken(parseWebSocketUrl(this.supervisor.url), this.token, log);

    // No network to join: a host whose link is always up (a desktop without simulated WiFi).
    this.wifi =
      !managesWifi
        ? undefined
        : new WifiManager({
            driver: host.wifi,
            timers: host.timers,
            random: host.random,
            log,
            networks,
            onOnline: () => this.setOnline(true),
            onOffline: () => this.setOnline(false),
            onState: (state) => this.provisioning?.wifiChanged(state),
          });

    this.health = new DeviceHealth({
      host,
      config,
      telemetryIntervalMs: this.settings.get("telemetryIntervalMs") as number,
      stopDevice: (done) => this.stop(done),
    });
    // Safe mode: none of the user's handlers.
    const handlers = this.health.handlers(options.handlers);

    const boot = new Uint8Array(4);
    host.random(boot);
    this.app = new DeviceApp({
      identity: { deviceId, firmware: this.version, bootId: toHex(boot) },
      timers: host.timers,
      log,
      send: (text, kind) => (this.mqtt ? this.mqtt.send(text, kind) : this.supervisor.send(text)),
      sendBinary: (bytes) => (this.mqtt ? this.mqtt.send(bytes, "echo") : this.supervisor.send(bytes)),
      onBinary: (bytes) => this.updates?.receiveBinary(bytes) === true,
      settings: this.settings,
      freeMemory: host.freeMemory,
      status: () => this.report("status"),
      hello: () => this.report("hello"),
      wallTime: () => this.time.now(),
      ...(handlers ? { handlers } : {}),
      readTelemetry: options.readTelemetry ?? (() => this.defaultTelemetry()),
      ...(this.health.outboxStore ? { journal: this.health.outboxStore } : {}),
      ...(this.health.restored ? { restored: this.health.restored } : {}),
      ...(this.health.reboot ? { reboot: this.health.reboot } : {}),
    });
    this.addReporter({ status: () => this.linkStatus() });
    this.addReporter({ hello: () => this.time.hello(), status: () => this.time.status() });
    this.addReporter(this.health.reporter);
    const mqtt = this.mqtt;
    if (mqtt) this.addReporter({ hello: () => ({ online: true }), status: () => ({ transport: "mqtt", mqtt: mqtt.mqttStats }) });

    const supervisor = this.supervisor;
    const app = this.app;
    this.provisioning = new Provisioning({
      host,
      config,
      wifi: this.wifi,
      link: {
        get url() {
          return supervisor.url;
        },
        get open() {
          return supervisor.state === SupervisorState.OPEN;
        },
        setUrl: (url) => {
          supervisor.setUrl(url);
          warnCleartextToken(parseWebSocketUrl(url), this.token, log);
        },
        checkUrl: (url) => void checkNewUrl(url, { host, client }, config.transport === "mqtt"),
        rename: (name) => {
          app.rename(name);
          setHeader(headers, DEVICE_ID_HEADER, name);
        },
      },
      deviceId,
      buildNetwork: config.ssid !== "" && networks[0]?.ssid === config.ssid ? networks[0] : undefined,
      onFactoryReset: () => this.factoryReset(options.explicitSettings?.includes("authToken") === true),
    });
    for (const [type, handler] of Object.entries(this.provisioning.handlers())) {
      // An application's own handler of that type wins (none in safe mode: provisioning runs there too).
      if (handlers?.[type] === undefined) this.app.register(type, handler);
      else log("warn", "provision_request_taken", { type });
    }
    this.addReporter({ hello: () => this.provisioning.report("hello"), status: () => this.provisioning.report("status") });

    // Improv WiFi over serial (hosts with a console serial port): networks go through the same
    // core as the setup page's and the server's (tried, kept only once they work).
    this.improv =
      host.serial === undefined
        ? undefined
        : new ImprovService({
            serial: host.serial,
            timers: host.timers,
            log,
            provisioning: createWifiProvisioning({
              core: this.provisioning.core,
              wifi: this.wifi,
              driver: host.wifi,
              redirectUrl: config.improvUrl ?? "",
            }),
            info: { firmware: "moorline", version: this.version, hardware: host.platform ?? "unknown", name: deviceId },
          });

    // Firmware updates (src/ota), in safe mode too: an update is what fixes a firmware that crashes.
    this.updates = host.firmware && !mqtt ? this.createUpdater(host.firmware, options) : undefined;
  }

  /** Firmware updates: the ota_offer request, hello's and status's `ota`, safe mode's wait for a transfer. */
  private createUpdater(firmware: NonNullable<DeviceHost["firmware"]>, options: DeviceOptions): Updater {
    const { host, config } = this;
    const d = DEFAULT_DEVICE_CONFIG;
    const updates = new Updater({
      firmware,
      storage: host.storage,
      timers: host.timers,
      log: host.log,
      version: this.version,
      publicKey: config.otaPublicKey ? decodeBase64(config.otaPublicKey) : undefined,
      allowDowngrade: config.otaAllowDowngrade === true,
      confirmMs: config.otaConfirmMs ?? d.otaConfirmMs,
      chunkBytes: config.otaChunkBytes ?? d.otaChunkBytes,
      send: (text) => this.supervisor.send(text),
      restart: (reason, before) => this.health.restartFor(reason, before),
      policy: options.updatePolicy,
      selfCheck: options.selfCheck,
      onIdle: () => this.health.releaseHold(),
    });
    this.app.register(OTA_OFFER, updates.handler);
    this.addReporter({ hello: () => updates.hello(), status: () => updates.status() });
    this.health.holdRestart = () => updates.busy;
    return updates;
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
      device: this.provisioning.core.name,
      firmware: this.version,
      url: this.supervisor.url,
      ...(this.config.transport === "mqtt" ? { transport: "mqtt" } : {}),
      wifi: this.wifi ? "managed" : "none",
    });
    // Safe mode: no telemetry.
    if (!this.health.safeMode) this.app.start();
    this.time.start(this.online);
    this.updates?.start();
    this.supervisor.start();
    if (this.online && !this.time.ready) this.time.holding();
    this.provisioning.start();
    this.wifi?.start();
    this.improv?.start();
  }

  /** Stops everything; `onStopped` runs once the connection is closed (bounded). */
  stop(onStopped?: () => void): void {
    this.app.stop();
    this.time.stop();
    this.updates?.stop();
    this.health.stopping();
    this.provisioning.stop();
    this.improv?.stop();
    this.wifi?.stop();
    this.supervisor.stop(() => {
      this.host.log("info", "device_stopped", { device: this.config.deviceId });
      onStopped?.();
    });
  }

  /**
   * After a factory reset wiped storage (src/provisioning FACTORY_RESET_STORAGE): the token
   * sent from now on is chosen again (the stored one is gone: the build's, or one given for
   * this run), and the telemetry records not yet acknowledged, meant for the server of before,
   * are dropped, in RAM and in storage.
   */
  private factoryReset(explicitToken: boolean): void {
    const credential = chooseAuthToken({ configToken: this.config.authToken, explicit: explicitToken, storage: this.host.storage, log: this.host.log });
    this.authTokenSource = credential.source;
    this.token = credential.token;
    setHeader(this.headers, "Authorization", credential.token === "" ? undefined : `Bearer ${credential.token}`);
    this.app.discardTelemetry();
  }

  /** WiFi went online or offline: SNTP and the connection follow. */
  private setOnline(up: boolean): void {
    this.online = up;
    this.time.setNetwork(up);
    this.updateLink();
  }

  /** The supervisor may connect when the network is up and, for wss://, the clock trusted. */
  private updateLink(): void {
    const ready = this.time.ready;
    if (this.started && this.online && !ready) this.time.holding();
    this.supervisor.setNetwork(this.online && ready);
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
    const state = this.supervisor.state;
    const status: Record<string, unknown> = {
      // Held back by the clock gate, not by the network.
      link: state === SupervisorState.WAITING_FOR_NETWORK && this.online ? "waiting_for_clock" : state,
      connects: stats.connects,
      reconnects: stats.reconnects,
      lastRttMs: stats.lastRttMs ?? null,
      heartbeatTimeouts: stats.heartbeatTimeouts,
      lastClose: stats.lastClose ?? null,
      auth: { token: this.authTokenSource, refused: stats.unauthorized },
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

/** Sets (or, with undefined, removes) header `name` in `headers`, in place. */
function setHeader(headers: Array<[string, string]>, name: string, value: string | undefined): void {
  const at = headers.findIndex((header) => header[0] === name);
  if (value === undefined) {
    if (at >= 0) headers.splice(at, 1);
  } else if (at >= 0) headers[at] = [name, value];
  else headers.unshift([name, value]);
}
