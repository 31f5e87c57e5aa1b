/**
 * The simulated device on the Node host:
 *
 *   node dist/hosts/node/device.js [options]
 *   npm run device -- --url ws://127.0.0.1:8080/
 *
 * Runs the firmware's Device (src/device/device.ts) over the Node host, a simulated WiFi and a
 * JSON file for storage, printing one JSON log line per event on stdout, as the ESP32's
 * serial port would.
 */
import { parseArgs } from "node:util";
import { parseDeviceConfig, type DeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import type { LogLevel } from "../../src/shared/host.js";
import { createNodeDeviceHost, SIM_NETWORK } from "./device-host.js";
import { readCaFile } from "./tls.js";

/** How long a stop (closing the connection with 1001) may take before the process exits anyway. */
const STOP_GRACE_MS = 3_000;

const EXIT_USAGE = 2;

/** Command-line option -> DeviceConfig key; values pass as strings, as mcconfig passes them. */
const CONFIG_OPTIONS = {
  url: "url",
  "device-id": "deviceId",
  ssid: "ssid",
  password: "password",
  "auth-token": "authToken",
  "telemetry-interval-ms": "telemetryIntervalMs",
  "heartbeat-interval-ms": "heartbeatIntervalMs",
  "heartbeat-timeout-ms": "heartbeatTimeoutMs",
  "backoff-base-ms": "backoffBaseMs",
  "backoff-cap-ms": "backoffCapMs",
  "stable-ms": "stableMs",
  "max-message-bytes": "maxMessageBytes",
} as const satisfies Record<string, keyof DeviceConfig>;

const USAGE = `Usage: device [options]

Runs the firmware on the desktop: simulated WiFi, then a WebSocket connection to the
server that never gives up, the JSON protocol (docs/protocol.md) and periodic telemetry.
Logs one JSON line per event on stdout.

Options:
  --url URL                   the server (default ws://127.0.0.1:8080/)
  --device-id ID              the device's name in hello (default sim-1)
  --ssid NAME --password PW   WiFi credentials (default: the simulated access point
                              ${SIM_NETWORK.ssid}; other values show WiFi failures)
  --no-wifi                   no simulated WiFi: the link is up at once
  --auth-token TOKEN          sent as "Authorization: Bearer TOKEN" in the handshake
  --ca FILE                   wss://: trust only the CA certificate(s) in this PEM file
                              (default: Node's root CAs)
  --pin BASE64                wss://: the server's public key must be this one: base64
                              SHA-256 of its SubjectPublicKeyInfo (repeatable)
  --insecure                  wss://: no certificate verification (warned at every connect)
  --telemetry-interval-ms N   initial telemetry interval (default 10000)
  --heartbeat-interval-ms N   ping after this much silence (default 20000; 0 = off)
  --heartbeat-timeout-ms N    dead when nothing arrives this long after a ping (default 10000)
  --backoff-base-ms N         reconnect backoff: first delay bound (default 1000)
  --backoff-cap-ms N          reconnect backoff: largest delay (default 60000)
  --stable-ms N               connected this long resets the backoff (default 30000)
  --max-message-bytes N       largest message accepted (default 16384)
  --storage FILE              settings and saved networks (default .moorline/<device-id>.json)
  --log-level LEVEL           debug, info, warn or error (default info)
  --engine node|xs            run the firmware on Node (default) or inside the XS engine
                              (the chip's JavaScript engine, hosts/xs)
  -h, --help                  print this help
`;

class UsageError extends Error {}

interface DeviceArguments {
  config: DeviceConfig;
  wifi: boolean;
  storage: string;
  logLevel: LogLevel;
  help: boolean;
  engine: "node" | "xs";
}

function parseDeviceArguments(argv: readonly string[]): DeviceArguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(Object.keys(CONFIG_OPTIONS).map((name) => [name, { type: "string" as const }])),
        "no-wifi": { type: "boolean" },
        ca: { type: "string" },
        pin: { type: "string", multiple: true },
        insecure: { type: "boolean" },
        storage: { type: "string" },
        "log-level": { type: "string" },
        engine: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const wifi = values["no-wifi"] !== true;
  const raw: Record<string, unknown> = { deviceId: "sim-1" };
  if (wifi) Object.assign(raw, SIM_NETWORK);
  for (const [option, key] of Object.entries(CONFIG_OPTIONS)) {
    if (values[option] !== undefined) raw[key] = values[option];
  }
  if (typeof values.ca === "string") {
    try {
      raw.ca = readCaFile(values.ca);
    } catch (error) {
      throw new UsageError(`--ca: ${(error as Error).message}`);
    }
  }
  if (Array.isArray(values.pin)) raw.pins = values.pin;
  if (values.insecure === true) raw.insecure = true;
  let config: DeviceConfig;
  try {
    config = parseDeviceConfig(raw);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const logLevel = (values["log-level"] ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error"].includes(logLevel)) {
    throw new UsageError(`--log-level must be debug, info, warn or error, got ${JSON.stringify(logLevel)}`);
  }
  const engine = (values.engine as string | undefined) ?? "node";
  if (engine !== "node" && engine !== "xs") throw new UsageError(`--engine must be node or xs, got ${JSON.stringify(engine)}`);
  return {
    engine,
    config,
    wifi,
    storage: (values.storage as string | undefined) ?? `.moorline/${config.deviceId}.json`,
    logLevel,
    help: values.help === true,
  };
}

function main(argv: readonly string[]): void {
  let args: DeviceArguments;
  try {
    args = parseDeviceArguments(argv);
  } catch (error) {
    process.stderr.write(`device: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(EXIT_USAGE);
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (args.engine === "xs") {
    mainInXs(args).catch((error: Error) => {
      process.stderr.write(`device: ${error.stack ?? error.message}\n`);
      process.exit(1);
    });
    return;
  }
  const host = createNodeDeviceHost({ storage: args.storage, logLevel: args.logLevel });
  const config = args.wifi ? args.config : { ...args.config, ssid: "", password: "" };
  const device = new Device({ host, config });
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(0); // a second Ctrl-C: leave at once
    stopping = true;
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    device.stop(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  device.start();
}

/** The same device inside XS (hosts/xs): the same log lines on stdout, the same exits. */
async function mainInXs(args: DeviceArguments): Promise<void> {
  const [{ runDeviceInXs }, { FileStorage }, { createJsonLog }] = await Promise.all([
    import("../xs/run.js"),
    import("./file-storage.js"),
    import("./host.js"),
  ]);
  const config = args.wifi ? args.config : { ...args.config, ssid: "", password: "" };
  const storage = new FileStorage(args.storage, { log: createJsonLog(process.stdout, args.logLevel) });
  const device = await runDeviceInXs({ config, storage, logLevel: args.logLevel });
  device.engine.onFailure((error) => {
    process.stderr.write(`device: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    device.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main(process.argv.slice(2));
