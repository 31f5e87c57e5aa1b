/**
 * The echo agent and the device run inside XS, with the same behaviour as on the Node host:
 * what hosts/node/echo-agent.ts and hosts/node/device.ts start for `--engine xs`.
 */
import type { Limits } from "../../src/websocket/constants.js";
import type { DeviceConfig } from "../../src/device/config.js";
import { EXIT_NOT_OPENED } from "../../src/websocket/echo-agent.js";
import type { Log, LogLevel, Storage } from "../../src/shared/host.js";
import type { ClientTlsOptions } from "../../src/websocket/client.js";
import type { SimWifi, SimWifiOptions } from "../node/sim-wifi.js";
import type { SerialConsole } from "../node/serial.js";
import { createJsonLog, type LineSink } from "../node/host.js";
import { NodeWallClock, type NodeWallClockOptions } from "../node/wall-clock.js";
import { bounded, XsEngine, type XsEngineOptions } from "./engine.js";

/** How long a device may take to stop (its close handshake is bounded by closeTimeoutMs), ms. */
export const DEVICE_STOP_TIMEOUT_MS = 10_000;

export interface EchoAgentInXsOptions {
  url: string;
  limits?: Partial<Limits>;
  /** wss://: the client's tls option (the CA as PEM text); Node's TLS socket verifies. */
  tls?: ClientTlsOptions;
  /** The agent's JSON log lines: "debug" for all (--verbose), "silent" for none (default). */
  logLevel?: LogLevel | "silent";
  /** Where log lines go (default stderr, as on Node). */
  logSink?: LineSink;
  engine?: Omit<XsEngineOptions, "log">;
}

export interface EchoAgentInXs {
  readonly engine: XsEngine;
  /**
   * The agent's end: {code, reason} as the Node agent's onExit gives them (0 opened then
   * closed, 1 never opened). An XS failure (an uncaught exception, the worker's death) ends
   * it with code 1 and the XS error as the reason, as an uncaught exception ends Node with 1.
   */
  readonly exited: Promise<{ code: number; reason: string }>;
  /** Closes the connection (1001); `exited` follows. */
  stop(): void;
}

/**
 * Starts the echo agent inside XS. Throws, like startEchoAgent, the client's
 * WebSocketError for a bad URL or limits (ERR_INVALID_URL, ERR_INVALID_OPTION), with its
 * XS stack; the worker is closed when the agent has exited.
 */
export async function runEchoAgentInXs(options: EchoAgentInXsOptions): Promise<EchoAgentInXs> {
  let finish!: (result: { code: number; reason: string }) => void;
  const exited = new Promise<{ code: number; reason: string }>((resolve) => (finish = resolve));
  let done = false;
  const end = (result: { code: number; reason: string }): void => {
    if (done) return;
    done = true;
    // After the delivery that reported it: the agent's last posts (its socket's close) are
    // carried out first.
    setImmediate(() => void engine.close().finally(() => finish(result)));
  };
  const engine = await XsEngine.start({
    ...options.engine,
    log: createJsonLog(options.logSink ?? process.stderr, "debug"),
    onFailure: (error) => end({ code: EXIT_NOT_OPENED, reason: `failed inside XS: ${error.stack ?? error.message}` }),
  });
  let handle: number;
  try {
    handle = await engine.startProgram(
      "echo-agent",
      { url: options.url, limits: options.limits ?? null, tls: options.tls ?? null, logLevel: options.logLevel ?? "silent" },
      (event) => {
        if (event.event === "exit") end({ code: event.code as number, reason: event.reason as string });
      },
    );
  } catch (error) {
    await engine.close();
    throw error;
  }
  return {
    engine,
    exited,
    stop() {
      if (!done) engine.call(handle, "stop").catch(() => {});
    },
  };
}

export interface DeviceInXsOptions {
  config: DeviceConfig;
  /** Setting keys the user gave explicitly at start: they win over stored values (DeviceOptions). */
  explicitSettings?: readonly string[];
  /** Settings and saved networks (a FileStorage for the command line). */
  storage: Storage;
  logLevel: LogLevel;
  /** Where the JSON log lines go (default stdout, as the Node device). */
  out?: LineSink;
  /** Instead of JSON lines on `out`: where the log events (those from logLevel up) go. */
  log?: Log;
  /** The simulated WiFi (default: SIM_NETWORK's access point, default delays). */
  wifi?: SimWifi | Partial<SimWifiOptions>;
  /** The device's wall clock (default: the OS clock, trusted). */
  clock?: NodeWallClockOptions;
  /** The device's UART (--serial): Improv is answered there (the log lines go to `out` or `log`). */
  serial?: SerialConsole;
  engine?: Omit<XsEngineOptions, "log" | "storage" | "wifi" | "wallClock" | "serial">;
}

export interface DeviceInXs {
  readonly engine: XsEngine;
  readonly handle: number;
  /** Stops the device (closing its connection with 1001); resolves once it has stopped. The worker ends either way. */
  stop(): Promise<void>;
  /** What the device reports of itself: supervisor state and stats, app counters, WiFi. */
  status(): Promise<DeviceStatus>;
}

export interface DeviceStatus {
  supervisor: { state: string; stats: Record<string, unknown> };
  app: { counters: Record<string, number> };
  wifi: { state: string; ssid: string | null } | null;
}

/** Starts the device (src/device/device.ts) inside XS over Node's TCP, timers, storage and SimWifi. */
export async function runDeviceInXs(options: DeviceInXsOptions): Promise<DeviceInXs> {
  const engine = await XsEngine.start({
    ...options.engine,
    storage: options.storage,
    ...(options.wifi ? { wifi: options.wifi } : {}),
    wallClock: new NodeWallClock(options.clock),
    ...(options.serial ? { serial: options.serial } : {}),
    log: options.log ?? createJsonLog(options.out ?? process.stdout, options.logLevel),
  });
  let stopped!: () => void;
  let failed!: (error: Error) => void;
  const stoppedPromise = new Promise<void>((resolve, reject) => {
    stopped = resolve;
    failed = reject;
  });
  stoppedPromise.catch(() => {});
  // A device whose XS failed never says "stopped": stop() reports the failure instead.
  engine.onFailure((error) => failed(error));
  let handle: number;
  try {
    const program = {
      config: options.config,
      logLevel: options.logLevel,
      ...(options.explicitSettings ? { explicitSettings: [...options.explicitSettings] } : {}),
      ...(options.serial ? { serial: true } : {}),
    };
    handle = await engine.startProgram("device", program, (event) => {
      if (event.event === "stopped") stopped();
    });
  } catch (error) {
    await engine.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    engine,
    handle,
    stop() {
      stopping ??= (async () => {
        try {
          await engine.call(handle, "stop");
          await bounded(stoppedPromise, DEVICE_STOP_TIMEOUT_MS, "the device to stop");
        } finally {
          // After the delivery that said "stopped": the device's last posts are carried out first.
          await new Promise((resolve) => setImmediate(resolve));
          await engine.close();
        }
      })();
      return stopping;
    },
    async status() {
      return (await engine.call(handle, "status")).value as DeviceStatus;
    },
  };
}
