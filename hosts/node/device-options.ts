/**
 * The simulated device's command line (hosts/node/device.ts): its flags, --help, and the
 * arguments they make, validated up front. `npm start` checks the device options it passes on
 * with the same table.
 */
import { accessSync, constants, statSync } from "node:fs";
import { DEFAULT_DEVICE_CONFIG, parseDeviceConfig, type DeviceConfig } from "../../src/device/config.js";
import { DEVICE_SETTINGS } from "../../src/device/settings.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import type { LogLevel } from "../../src/shared/host.js";
import {
  fileProblem,
  flagErrorMessage,
  HELP_FLAG,
  keyedValues,
  logLevelFlag,
  logLevelOf,
  stringFlag,
  switchFlag,
  UsageError,
  type ParsedFlags,
  type CommandSpec,
  type Flag,
} from "./cli.js";
import { SIM_NETWORK } from "./device-host.js";
import { caFlagFile, TLS_FLAGS } from "./tls.js";

/** The device's name when --device-id is not given. */
const DEFAULT_DEVICE_ID = "sim-1";

const D = DEFAULT_DEVICE_CONFIG;

/**
 * The flags; those with a key set that DeviceConfig key, as strings (as mcconfig passes them),
 * validated by parseDeviceConfig; --ca's file is read here and its text passed.
 */
const FLAGS: readonly Flag[] = [
  { name: "url", value: "URL", key: "url", help: `the server (default ${D.url})` },
  { name: "device-id", value: "ID", key: "deviceId", help: `the device's name in hello (default ${DEFAULT_DEVICE_ID})` },
  { name: "ssid", value: "NAME", key: "ssid", help: `WiFi network (default: the simulated access point ${SIM_NETWORK.ssid};\nanother name shows WiFi failures)` },
  { name: "password", value: "PW", key: "password", help: "WiFi passphrase (default: the simulated access point's)" },
  { name: "no-wifi", help: "no simulated WiFi: the link is up at once" },
  { name: "auth-token", value: "TOKEN", key: "authToken", help: 'sent as "Authorization: Bearer TOKEN" in the handshake' },
  ...TLS_FLAGS,
  { name: "telemetry-interval-ms", value: "N", key: "telemetryIntervalMs", help: `initial telemetry interval (default ${D.telemetryIntervalMs}); given here,\nit wins over a value stored by \`config set\`` },
  { name: "heartbeat-interval-ms", value: "N", key: "heartbeatIntervalMs", help: `ping after this much silence (default ${D.heartbeatIntervalMs}; 0 = off)` },
  { name: "heartbeat-timeout-ms", value: "N", key: "heartbeatTimeoutMs", help: `dead when nothing arrives this long after a ping (default ${D.heartbeatTimeoutMs})` },
  { name: "backoff-base-ms", value: "N", key: "backoffBaseMs", help: `reconnect backoff: first delay bound (default ${D.backoffBaseMs})` },
  { name: "backoff-cap-ms", value: "N", key: "backoffCapMs", help: `reconnect backoff: largest delay (default ${D.backoffCapMs})` },
  { name: "stable-ms", value: "N", key: "stableMs", help: `connected this long resets the backoff (default ${D.stableMs})` },
  { name: "max-message-bytes", value: "N", key: "maxMessageBytes", help: `largest message accepted (default ${D.maxMessageBytes})` },
  { name: "storage", value: "FILE", help: "settings and saved networks (default .moorline/<device-id>.json)" },
  { name: "serial", value: "PATH", help: "the device's UART is the tty PATH (one end of a socat pty pair), as\nUART0 is the chip's: its log lines (JSON) go there too, and it answers\nImprov WiFi there (npm run provision -- --port <the other end>)" },
  { name: "improv-url", value: "URL", key: "improvUrl", help: 'Improv: where the browser goes once the device is online;\n"{address}" becomes its IP address (default: none)' },
  logLevelFlag("log-level", "debug, info, warn or error (default info)"),
  { name: "log-format", value: "FORMAT", choices: ["text", "json"], help: "text: readable lines; json: one JSON object a line (what\nthe monitor and scripts read). Default: text on a terminal,\njson otherwise" },
  { name: "engine", value: "NAME", choices: ["node", "xs"], help: "node (default), or xs: the firmware inside the XS engine\n(the chip's JavaScript engine, hosts/xs)" },
  HELP_FLAG,
];

export const DEVICE_COMMAND: CommandSpec = {
  name: "device",
  helpCommand: "npm run device -- --help",
  usage: "Usage: npm run device -- [options]\n       node dist/hosts/node/device.js [options]",
  description:
    "Runs the firmware on the desktop: simulated WiFi, then a WebSocket connection to the\n" +
    "server that never gives up, the JSON protocol (docs/protocol.md) and periodic telemetry.\n" +
    "Logs one line per event on stdout.",
  flags: FLAGS,
  footer:
    "Exit status: 0 after SIGINT or SIGTERM (the connection is closed with 1001 first);\n" +
    "1 a --serial tty that cannot be opened; 2 bad arguments (including a --ca or --storage\n" +
    "file that cannot be used).",
};

export interface DeviceArguments {
  config: DeviceConfig;
  storage: string;
  logLevel: LogLevel;
  /** Readable lines (text) or JSON lines. */
  logFormat: "text" | "json";
  engine: "node" | "xs";
  /** The setting keys (DEVICE_SETTINGS) given as flags: they win over stored values. */
  explicitSettings: readonly string[];
  /** --serial: the tty that is the device's UART. */
  serial: string | undefined;
}

/** The command line as the device's arguments; throws UsageError naming the flag at fault. */
export function deviceArguments(parsed: ParsedFlags, stdoutIsTerminal: boolean): DeviceArguments {
  const wifi = !switchFlag(parsed, "no-wifi");
  const credential = ["ssid", "password"].find((name) => parsed.values.has(name));
  if (!wifi && credential !== undefined) {
    throw new UsageError(`${parsed.typed.get(credential)} and ${parsed.typed.get("no-wifi")} contradict each other`);
  }
  const raw: Record<string, unknown> = { deviceId: DEFAULT_DEVICE_ID, ...(wifi ? SIM_NETWORK : { ssid: "", password: "" }) };
  Object.assign(raw, keyedValues(parsed, FLAGS));
  const ca = stringFlag(parsed, "ca");
  if (ca !== undefined) raw.ca = caFlagFile(parsed.typed.get("ca")!, ca);
  let config: DeviceConfig;
  try {
    config = parseDeviceConfig(raw);
  } catch (error) {
    const message = flagErrorMessage(error, FLAGS, "config.");
    // A bad URL is explained by the URL parser, which does not know the flag.
    throw new UsageError(error instanceof WebSocketError && error.code === ErrorCode.INVALID_URL ? `--url: ${message}` : message);
  }
  const storage = stringFlag(parsed, "storage") ?? `.moorline/${config.deviceId}.json`;
  checkStorageFile(parsed.typed.get("storage") ?? "--storage", storage);
  const logFormat = stringFlag(parsed, "log-format") ?? (stdoutIsTerminal ? "text" : "json");
  const serial = stringFlag(parsed, "serial");
  if (serial === "") throw new UsageError(`${parsed.typed.get("serial")} needs a path`);
  return {
    config,
    storage,
    logLevel: logLevelOf(parsed, "log-level", "info"),
    logFormat: logFormat === "text" ? "text" : "json",
    engine: stringFlag(parsed, "engine") === "xs" ? "xs" : "node",
    serial,
    explicitSettings: FLAGS.filter((flag) => flag.key !== undefined && flag.key in DEVICE_SETTINGS && parsed.values.has(flag.name)).map(
      (flag) => flag.key!,
    ),
  };
}

/**
 * The storage file must be a file this process can read and write, or not exist yet (it is
 * created, with its folder, on the first write): anything else is said now, in one line,
 * rather than failing the first `config set`.
 */
function checkStorageFile(as: string, path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new UsageError(`${as} ${path}: ${fileProblem(error)}`);
  }
  if (!isFile) throw new UsageError(`${as} ${path}: not a file`);
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (error) {
    throw new UsageError(`${as} ${path}: ${fileProblem(error)}`);
  }
}

