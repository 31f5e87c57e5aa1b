/**
 * One test source, two engines: a WebSocket client, a connection supervisor and a whole
 * device that a test (or a benchmark) drives the same way whether the firmware runs on Node
 * or inside XS.
 *
 * On XS the firmware runs in the worker and this side is a proxy: calls cross to XS (so they
 * return promises, and a throw inside XS becomes a rejection with the same error class, code
 * and close code, plus the XS stack), and the client's callbacks run here, after the fact,
 * with the same arguments. readyState, bufferedAmount and protocol are read synchronously
 * from the snapshot XS sends with every event and every call result. On Node the real
 * objects are wrapped to the same shape.
 *
 * Differences a test must allow for on XS: a callback's throw cannot reach the client (it
 * runs on Node, after the event); events arrive asynchronously (a SimWifi script's
 * notification too); a getter shows the state as of the last event or call (refresh()
 * fetches it).
 */
import type { BackoffPolicy } from "../../src/device/backoff.js";
import type { Limits } from "../../src/websocket/constants.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import { WebSocketError } from "../../src/shared/errors.js";
import type { Log, LogLevel, NetHost, Storage } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { levelShown } from "../../src/shared/log-format.js";
import {
  ConnectionSupervisor,
  type HeartbeatOptions,
  type SupervisorStats,
  type SupervisorStateValue,
} from "../../src/device/supervisor.js";
import {
  ReadyState,
  WebSocketClient,
  type ClientTlsOptions,
  type CloseEvent,
  type ReadyStateValue,
  type SendOptions,
  type WebSocketClientOptions,
} from "../../src/websocket/client.js";
import { SIM_NETWORK } from "../../hosts/node/device-host.js";
import { createNodeHost, NodeWallClock, type NodeTcpTuning, type NodeWallClockOptions } from "../../hosts/node/host.js";
import { SimWifi, type SimAccessPoint, type SimWifiOptions } from "../../hosts/node/sim-wifi.js";
import { bounded, type XsEngine } from "../../hosts/xs/engine.js";
import { DEVICE_STOP_TIMEOUT_MS, runDeviceInXs, type DeviceStatus } from "../../hosts/xs/run.js";
import { errorFromXs, type XsErrorJson } from "../../hosts/xs/xs-errors.js";
import { sharedXsEngine, type EngineName } from "./engines.js";

export type { DeviceStatus };

// --- what the client, the supervisor and the device share --------------------------------

/** `base` with its log replaced by `log` from `minLevel` up (none for "silent"). */
function withLog<H extends NetHost>(base: H, log: Log | undefined, minLevel: LogLevel | "silent"): H {
  if (!log) return base;
  return {
    ...base,
    log: (level, event, fields) => (minLevel !== "silent" && levelShown(level, minLevel) ? log(level, event, fields) : undefined),
  };
}

/** What `action` returns, or its throw as a rejection (the Node end's calls, shaped as XS's). */
function settle<T>(action: () => T): Promise<T> {
  try {
    return Promise.resolve(action());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** A client's options as the XS programs take them (tests/support/xs/program-events.ts clientOptionsFrom). */
function clientJson(options: Pick<WebSocketClientOptions, "protocols" | "headers" | "limits" | "tls">): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  if (options.protocols !== undefined) json.protocols = typeof options.protocols === "string" ? [options.protocols] : [...options.protocols];
  // As given (an object or an array of pairs): the client inside XS reads either.
  if (options.headers !== undefined) json.headers = Array.isArray(options.headers) ? options.headers.map((pair) => [...pair]) : options.headers;
  if (options.limits !== undefined) json.limits = options.limits;
  // Plain data (the CA is PEM text): NodeTlsSocket, on this side of the bridge, gets it.
  if (options.tls !== undefined) json.tls = options.tls;
  return json;
}

/** The CloseEvent an XS program reported (tests/support/xs/program-events.ts closeEventJson). */
function closeEventFromXs(event: Record<string, unknown>): CloseEvent {
  const closeEvent: CloseEvent = {
    code: event.code as number,
    reason: event.reason as string,
    wasClean: event.wasClean as boolean,
    unsentBytes: event.unsentBytes as number,
  };
  if (event.error) closeEvent.error = errorFromXs(event.error as XsErrorJson) as unknown as WebSocketError;
  return closeEvent;
}

/** A message an XS program reported: text, or a copy of its bytes. */
function messageFromXs(event: Record<string, unknown>, bytes: Uint8Array): string | Uint8Array {
  return event.binary ? bytes.slice() : Buffer.from(bytes).toString("utf8");
}

// --- the client -------------------------------------------------------------------------

/** WebSocketClient's surface, the same on both engines. */
export interface EngineClient {
  readonly engine: EngineName;
  readonly readyState: ReadyStateValue;
  readonly bufferedAmount: number;
  readonly protocol: string;
  send(data: string | Uint8Array, options?: SendOptions): Promise<void>;
  ping(payload?: string | Uint8Array): Promise<void>;
  close(code?: number, reason?: string): Promise<void>;
  terminate(error?: WebSocketError): Promise<void>;
  effectiveLimits(): Promise<Readonly<Limits>>;
  /** Reads readyState, bufferedAmount and protocol afresh (XS); nothing to do on Node. */
  refresh(): Promise<void>;
}

export interface EngineClientOptions extends Omit<WebSocketClientOptions, "host"> {
  /** Node only: the host (default: the Node host, silent). */
  host?: WebSocketClientOptions["host"];
  /** XS only: the engine (default: sharedXsEngine()). */
  xsEngine?: XsEngine;
  /**
   * The least important level of the client's log: printed by the XS engine's log when no
   * `log` is given (default silent; on Node give `host` a log instead), else `log`'s
   * threshold (default debug).
   */
  logLevel?: LogLevel | "silent";
  /**
   * Where the client's log events go, on both engines (on Node: instead of `host`'s log). On
   * XS they come back as events of the client's program, so clients sharing a worker keep
   * their logs apart; they arrive as its other events do, after the fact.
   */
  log?: Log;
  /**
   * Sends every message back as it came (text as text, binary as binary) while open, from
   * inside the engine's onMessage, right after onMessage's event: the echo agent's shape.
   * On XS the echo is made inside XS (an echo sent from Node would go out only after the
   * client had read the frames that followed the message).
   */
  echo?: boolean;
}

/**
 * A client on `engine`, connecting at once. Rejects with what the constructor throws (a
 * WebSocketError ERR_INVALID_URL / ERR_INVALID_OPTION), on XS with the XS stack too.
 */
export async function createClientOn(engine: EngineName, options: EngineClientOptions): Promise<EngineClient> {
  if (engine === "node") return nodeClient(options);
  return XsClient.start(options.xsEngine ?? (await sharedXsEngine()), options);
}

function nodeClient(options: EngineClientOptions): EngineClient {
  const { host, xsEngine: _xs, logLevel, log, echo, ...rest } = options;
  const onMessage = rest.onMessage;
  const client: WebSocketClient = new WebSocketClient({
    ...rest,
    host: withLog(host ?? createNodeHost({ logLevel: "silent" }), log, logLevel ?? "debug"),
    ...(echo
      ? {
          onMessage: (data: string | Uint8Array) => {
            onMessage?.(data);
            if (client.readyState === ReadyState.OPEN) client.send(data);
          },
        }
      : {}),
  });
  return {
    engine: "node",
    get readyState() {
      return client.readyState;
    },
    get bufferedAmount() {
      return client.bufferedAmount;
    },
    get protocol() {
      return client.protocol;
    },
    send: (data, sendOptions) => settle(() => client.send(data, sendOptions)),
    ping: (payload) => settle(() => (payload === undefined ? client.ping() : client.ping(payload))),
    close: (code, reason) =>
      settle(() => (code === undefined ? client.close() : reason === undefined ? client.close(code) : client.close(code, reason))),
    terminate: (error) => settle(() => client.terminate(error)),
    effectiveLimits: () => Promise.resolve(client.effectiveLimits),
    refresh: () => Promise.resolve(),
  };
}

interface ClientState {
  readyState: ReadyStateValue;
  bufferedAmount: number;
  protocol: string;
}

const encoder = new TextEncoder();

/** The XS end: a WebSocketClient running in an XS worker (tests/support/xs/client.ts). */
class XsClient implements EngineClient {
  readonly engine = "xs" as const;
  private state: ClientState = { readyState: ReadyState.CONNECTING, bufferedAmount: 0, protocol: "" };
  private handle = 0;

  private constructor(
    private readonly xs: XsEngine,
    private readonly options: EngineClientOptions,
  ) {}

  static async start(xs: XsEngine, options: EngineClientOptions): Promise<XsClient> {
    const client = new XsClient(xs, options);
    const json: Record<string, unknown> = { url: options.url, logLevel: options.logLevel ?? (options.log ? "debug" : "silent"), ...clientJson(options) };
    if (options.log) json.logEvents = true;
    if (options.echo) json.echo = true;
    client.handle = await xs.startProgram("client", json, (event, bytes) => client.event(event, bytes));
    return client;
  }

  get readyState(): ReadyStateValue {
    return this.state.readyState;
  }

  get bufferedAmount(): number {
    return this.state.bufferedAmount;
  }

  get protocol(): string {
    return this.state.protocol;
  }

  send(data: string | Uint8Array, options?: SendOptions): Promise<void> {
    const binary = typeof data !== "string";
    if (binary && !(data instanceof Uint8Array)) {
      return Promise.reject(new TypeError("send() takes a string or a Uint8Array (XS proxy)"));
    }
    return this.invoke("send", { binary, more: options?.more === true }, binary ? data : encoder.encode(data));
  }

  ping(payload: string | Uint8Array = new Uint8Array(0)): Promise<void> {
    const text = typeof payload === "string";
    return this.invoke("ping", { text }, text ? encoder.encode(payload) : payload);
  }

  close(code?: number, reason?: string): Promise<void> {
    const args: Record<string, unknown> = {};
    if (code !== undefined) args.code = code;
    if (reason !== undefined) args.reason = reason;
    return this.invoke("close", args);
  }

  terminate(error?: WebSocketError): Promise<void> {
    return this.invoke("terminate", error ? { error: { code: error.code, message: error.message, closeCode: error.closeCode } } : {});
  }

  async effectiveLimits(): Promise<Readonly<Limits>> {
    return (await this.xs.call(this.handle, "limits")).value as Limits;
  }

  async refresh(): Promise<void> {
    await this.invoke("state");
  }

  private async invoke(op: string, args: Record<string, unknown> = {}, bytes?: Uint8Array): Promise<void> {
    try {
      const reply = await this.xs.call(this.handle, op, args, bytes);
      if (reply.state) this.state = reply.state as ClientState;
    } catch (error) {
      const state = (error as { xsState?: ClientState }).xsState;
      if (state) this.state = state;
      throw error;
    }
  }

  private event(event: Record<string, unknown>, bytes: Uint8Array): void {
    this.state = event.state as ClientState;
    const o = this.options;
    switch (event.event) {
      case "open":
        o.onOpen?.(event.protocol as string);
        break;
      case "message":
        o.onMessage?.(messageFromXs(event, bytes));
        break;
      case "ping":
        o.onPing?.(bytes.slice());
        break;
      case "pong":
        o.onPong?.(bytes.slice());
        break;
      case "drain":
        o.onDrain?.();
        break;
      case "log":
        o.log?.(event.level as LogLevel, event.name as string, event.fields as Record<string, unknown>);
        break;
      case "close":
        void this.xs.endProgram(this.handle);
        o.onClose?.(closeEventFromXs(event));
        break;
    }
  }
}

// --- the device -------------------------------------------------------------------------

export interface LogLine {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

export interface EngineDeviceOptions {
  /** The server. */
  url: string;
  /** Build configuration (parseDeviceConfig's keys) over: deviceId "it-1", SIM_NETWORK's credentials. */
  config?: Record<string, unknown>;
  /** The simulated WiFi (default: SIM_NETWORK's access point; delays of 20 ms). */
  wifi?: Partial<Omit<SimWifiOptions, "timers">> & { accessPoints?: readonly SimAccessPoint[] };
  /** Storage (default: a new MemoryStorage). */
  storage?: Storage;
  /** Socket tuning, as for the Node host. */
  tcp?: NodeTcpTuning;
  /** The device's wall clock (default: the OS clock, trusted): { unset: true } starts it at 1970, as a chip's. */
  clock?: NodeWallClockOptions;
}

/** A running device, the same to a test on both engines. */
export interface EngineDevice {
  readonly engine: EngineName;
  /** The simulated WiFi (in Node on both engines): script it (dropLink, restore...). */
  readonly wifi: SimWifi;
  readonly storage: Storage;
  /** Every log event, all levels, in order. */
  readonly logs: LogLine[];
  /** Supervisor state and stats, app counters, WiFi: as src/device/device.ts knows them. */
  status(): Promise<DeviceStatus>;
  /** Stops the device (1001); resolves when it has stopped (and, on XS, its worker ended). */
  stop(): Promise<void>;
  /** XS only: the engine running it (its heap, meter, failures). */
  readonly xsEngine: XsEngine | undefined;
}

const FAST_WIFI = { connectDelayMs: 20, gotIPDelayMs: 20, failDelayMs: 20 };

/** Starts a device (src/device/device.ts) on `engine`, connecting to `options.url`. */
export async function startDeviceOn(engine: EngineName, options: EngineDeviceOptions): Promise<EngineDevice> {
  const logs: LogLine[] = [];
  const log: Log = (level, event, fields = {}) => logs.push({ level, event, fields });
  const storage = options.storage ?? new MemoryStorage();
  const config = parseDeviceConfig({ deviceId: "it-1", ...SIM_NETWORK, ...options.config, url: options.url });
  const wifiOptions = { accessPoints: [{ ...SIM_NETWORK }], ...FAST_WIFI, ...options.wifi };

  if (engine === "node") {
    const net = createNodeHost({ logLevel: "silent", ...(options.tcp ? { tcp: options.tcp } : {}), wallClock: new NodeWallClock(options.clock) });
    const wifi = new SimWifi({ timers: net.timers, ...wifiOptions });
    const device = new Device({ host: { ...net, wifi, storage, log }, config });
    device.start();
    let stopping: Promise<void> | undefined;
    return {
      engine,
      wifi,
      storage,
      logs,
      xsEngine: undefined,
      status: async () => JSON.parse(JSON.stringify(nodeStatus(device))) as DeviceStatus,
      stop: () => (stopping ??= new Promise<void>((resolve) => device.stop(resolve))),
    };
  }

  // The engine makes the SimWifi (with Node's timers) and closes it when it ends.
  const device = await runDeviceInXs({
    config,
    storage,
    logLevel: "debug",
    log,
    wifi: wifiOptions,
    ...(options.clock ? { clock: options.clock } : {}),
    engine: { onFailure: () => {}, ...(options.tcp ? { tcp: options.tcp } : {}) },
  });
  return {
    engine,
    wifi: device.engine.wifi,
    storage,
    logs,
    xsEngine: device.engine,
    status: () => device.status(),
    stop: () => device.stop(),
  };
}

/** The XS device program's "status", computed the same way on Node. */
function nodeStatus(device: Device): DeviceStatus {
  return {
    supervisor: { state: device.supervisor.state, stats: device.supervisor.stats as unknown as Record<string, unknown> },
    app: { counters: device.app.counters as unknown as Record<string, number> },
    wifi: device.wifi ? { state: device.wifi.state, ssid: device.wifi.ssid ?? null } : null,
  };
}

// --- the supervisor ---------------------------------------------------------------------

export interface EngineSupervisorOptions {
  url: string;
  client?: { protocols?: string | readonly string[]; headers?: Record<string, string>; limits?: Partial<Limits>; tls?: ClientTlsOptions };
  backoff?: Partial<BackoffPolicy>;
  stableMs?: number;
  heartbeat?: Partial<HeartbeatOptions> | false;
  networkUp?: boolean;
  /**
   * Each callback gets, last, `at`: when it happened, in performance.now() milliseconds
   * (inside XS: its clock, which follows Node's), so gaps are measured where they happened.
   */
  onAttempt?: (at: number) => void;
  onOpen?: (protocol: string, at: number) => void;
  onMessage?: (data: string | Uint8Array, at: number) => void;
  onClose?: (event: CloseEvent, retryInMs: number | undefined, at: number) => void;
  onState?: (state: SupervisorStateValue, at: number) => void;
  /** The supervisor's and its clients' log events at or above logLevel (default: none). */
  log?: Log;
  logLevel?: LogLevel;
  /** Node only: the host (default: the Node host). */
  host?: NetHost;
  /** XS only: the engine (default: sharedXsEngine()). */
  xsEngine?: XsEngine;
}

/** ConnectionSupervisor's surface, the same on both engines (calls return promises). */
export interface EngineSupervisor {
  readonly engine: EngineName;
  /** As of the last event or call (XS); live on Node. */
  readonly state: SupervisorStateValue;
  readonly stats: Readonly<SupervisorStats>;
  start(): Promise<void>;
  /** Resolves when the supervisor reports itself stopped (onStopped). */
  stop(): Promise<void>;
  setNetwork(up: boolean): Promise<void>;
  send(data: string | Uint8Array): Promise<boolean>;
  refresh(): Promise<void>;
}

/** A supervisor on `engine` (not started: call start()). */
export async function createSupervisorOn(engine: EngineName, options: EngineSupervisorOptions): Promise<EngineSupervisor> {
  if (engine === "node") return nodeSupervisor(options);
  const xs = options.xsEngine ?? (await sharedXsEngine());
  let snapshot: { state: SupervisorStateValue; stats: SupervisorStats } = {
    state: "stopped",
    stats: { connects: 0, reconnects: 0, consecutiveFailures: 0, lastRttMs: undefined, lastClose: undefined, heartbeatTimeouts: 0, unauthorized: 0 },
  };
  const stopWaiters: Array<() => void> = [];
  const take = (value: unknown): void => {
    const v = value as { state?: SupervisorStateValue; stats?: SupervisorStats } | null;
    if (v?.state !== undefined) snapshot = { state: v.state, stats: v.stats ?? snapshot.stats };
  };
  const json: Record<string, unknown> = { url: options.url, logLevel: options.log ? (options.logLevel ?? "debug") : "silent", ...clientJson(options.client ?? {}) };
  for (const key of ["backoff", "stableMs", "heartbeat", "networkUp"] as const) {
    if (options[key] !== undefined) json[key] = options[key];
  }
  const handle = await xs.startProgram("supervisor", json, (event, bytes) => {
    const at = event.at as number;
    switch (event.event) {
      case "attempt":
        options.onAttempt?.(at);
        break;
      case "open":
        take(event);
        options.onOpen?.(event.protocol as string, at);
        break;
      case "message":
        options.onMessage?.(messageFromXs(event, bytes), at);
        break;
      case "close":
        take(event);
        options.onClose?.(closeEventFromXs(event), (event.retryInMs as number | null) ?? undefined, at);
        break;
      case "state":
        snapshot = { state: event.value as SupervisorStateValue, stats: event.stats as SupervisorStats };
        options.onState?.(event.value as SupervisorStateValue, at);
        break;
      case "log":
        options.log?.(event.level as LogLevel, event.name as string, event.fields as Record<string, unknown>);
        break;
      case "stopped":
        take(event);
        for (const waiter of stopWaiters.splice(0)) waiter();
        break;
    }
  });
  const invoke = async (op: string, args: Record<string, unknown> = {}, bytes?: Uint8Array): Promise<unknown> => {
    const reply = await xs.call(handle, op, args, bytes);
    take(reply.state);
    return reply.value;
  };
  return {
    engine: "xs",
    get state() {
      return snapshot.state;
    },
    get stats() {
      return snapshot.stats;
    },
    start: async () => void (await invoke("start")),
    // The program stays in XS after stop(), as the supervisor stays usable on Node: send()
    // says false, start() starts afresh. It ends with its engine.
    stop: async () => {
      const stopped = new Promise<void>((resolve) => stopWaiters.push(resolve));
      await invoke("stop");
      await bounded(stopped, DEVICE_STOP_TIMEOUT_MS, "the supervisor to stop");
    },
    setNetwork: async (up) => void (await invoke("setNetwork", { up })),
    send: async (data) => {
      const binary = typeof data !== "string";
      return (await invoke("send", { binary }, binary ? data : encoder.encode(data))) as boolean;
    },
    refresh: async () => void (await invoke("state")),
  };
}

function nodeSupervisor(options: EngineSupervisorOptions): EngineSupervisor {
  const host = withLog(options.host ?? createNodeHost({ logLevel: "silent" }), options.log, options.logLevel ?? "debug");
  const now = () => performance.now();
  const supervisor = new ConnectionSupervisor({
    url: options.url,
    host,
    ...(options.client ? { client: options.client } : {}),
    ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
    ...(options.stableMs !== undefined ? { stableMs: options.stableMs } : {}),
    ...(options.heartbeat !== undefined ? { heartbeat: options.heartbeat } : {}),
    ...(options.networkUp !== undefined ? { networkUp: options.networkUp } : {}),
    createClient: (clientOptions) => {
      options.onAttempt?.(now());
      return new WebSocketClient(clientOptions);
    },
    onOpen: (protocol) => options.onOpen?.(protocol, now()),
    onMessage: (data) => options.onMessage?.(data, now()),
    onClose: (event, retryInMs) => options.onClose?.(event, retryInMs, now()),
    onState: (state) => options.onState?.(state, now()),
  });
  return {
    engine: "node",
    get state() {
      return supervisor.state;
    },
    get stats() {
      return supervisor.stats;
    },
    start: () => settle(() => supervisor.start()),
    stop: () => new Promise<void>((resolve) => supervisor.stop(resolve)),
    setNetwork: (up) => settle(() => supervisor.setNetwork(up)),
    send: (data) => settle(() => supervisor.send(data)),
    refresh: () => Promise.resolve(),
  };
}
