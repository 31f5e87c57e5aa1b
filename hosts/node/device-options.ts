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
  integerFlag,
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
import type { NodeWallClockOptions } from "./wall-clock.js";
import { DEFAULT_WATCHDOG_MS } from "./chip.js";
import { DEFAULT_KEYS_DIR } from "./firmware-keys.js";

/** The MQTT transport's flags (src/mqtt, docs/mqtt.md). */
const MQTT_FLAGS: readonly Flag[] = [
  { name: "transport", value: "NAME", key: "transport", choices: ["websocket", "mqtt"], help: "websocket (default): the companion server; mqtt: the same\nprotocol on an MQTT broker's WebSocket listener at --url\n(topics PREFIX/ID/telemetry, req, reply, status)" },
  { name: "mqtt-prefix", value: "PREFIX", key: "mqttPrefix", help: `MQTT: the topics' prefix (default ${DEFAULT_DEVICE_CONFIG.mqttPrefix})` },
  { name: "mqtt-username", value: "NAME", key: "mqttUsername", help: "MQTT: the user name (default: the device id)" },
];

/** Firmware updates' flags (src/ota, docs/ota.md). */
const OTA_FLAGS: readonly Flag[] = [
  {
    name: "ota-keys",
    value: "DIR",
    help: `the owner's update key pair (made there on first use; default\n${DEFAULT_KEYS_DIR}): its public half is built into the firmware\n(otaPublicKey), so it takes images signed with it (npm run image)`,
  },
  { name: "ota-confirm-ms", value: "N", key: "otaConfirmMs", help: `a new image that has not reached its server within N ms\nis rolled back (default ${DEFAULT_DEVICE_CONFIG.otaConfirmMs})` },
  { name: "ota-chunk-bytes", value: "N", key: "otaChunkBytes", help: `largest chunk of an image asked for at a time (default ${DEFAULT_DEVICE_CONFIG.otaChunkBytes})` },
  { name: "ota-allow-downgrade", key: "otaAllowDowngrade", help: "take images older than the running firmware" },
];

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
  {
    name: "auth-token",
    value: "TOKEN",
    key: "authToken",
    help: 'sent as "Authorization: Bearer TOKEN" in the handshake (with --transport\nmqtt: the MQTT password); wins over a token stored in --storage\n(npm start stores one there)',
  },
  ...TLS_FLAGS,
  ...MQTT_FLAGS,
  { name: "telemetry-interval-ms", value: "N", key: "telemetryIntervalMs", help: `initial telemetry interval (default ${D.telemetryIntervalMs}); given here,\nit wins over a value stored by \`config set\`` },
  { name: "heartbeat-interval-ms", value: "N", key: "heartbeatIntervalMs", help: `a ping every N ms, busy or not (default ${D.heartbeatIntervalMs}; 0 = off)` },
  { name: "heartbeat-timeout-ms", value: "N", key: "heartbeatTimeoutMs", help: `dead when nothing arrives this long after a ping (default ${D.heartbeatTimeoutMs})` },
  { name: "backoff-base-ms", value: "N", key: "backoffBaseMs", help: `reconnect backoff: first delay bound (default ${D.backoffBaseMs})` },
  { name: "backoff-cap-ms", value: "N", key: "backoffCapMs", help: `reconnect backoff: largest delay (default ${D.backoffCapMs})` },
  { name: "stable-ms", value: "N", key: "stableMs", help: `backoff reset by a server message N ms after connecting (default ${D.stableMs})` },
  { name: "max-message-bytes", value: "N", key: "maxMessageBytes", help: `largest message accepted (default ${D.maxMessageBytes})` },
  { name: "clock-unset", help: "the device's clock starts at 1970-01-01, as a chip's: wss://\nwaits for NTP (default: the OS clock, trusted at once)" },
  { name: "ntp", value: "HOST[:PORT]", key: "ntp", repeatable: true, help: "an NTP server to set the clock from (repeatable); default with\n--clock-unset: the NTP Pool (0, 1 and 2.pool.ntp.org). Given alone,\nthe clock starts at the OS time but waits for NTP all the same" },
  { name: "ntp-interval-ms", value: "N", key: "ntpIntervalMs", help: `how often a synced clock asks NTP again (default ${D.ntpIntervalMs})` },
  { name: "clock-fallback-ms", value: "N", key: "clockFallbackMs", help: "after this long without a trusted clock, try wss:// anyway, dates\nchecked against the clock's lower bound (default 0: never)" },
  { name: "storage", value: "FILE", help: "settings, saved networks, the boot record and the durable outbox\n(default .moorline/<device-id>.json; the chip's memory beside it,\n<name>.chip.json)" },
  { name: "factory-reset", help: "first erase what a factory reset erases (saved networks, the\nprovisioned server and name, settings, the stored token, telemetry\nnot acknowledged): back to the build's settings" },
  { name: "safe-mode-after-boots", value: "N", key: "safeModeAfterBoots", help: `boots in a row without a stable connection before safe mode\n(default ${D.safeModeAfterBoots}; 0 = never)` },
  { name: "outbox-flush-ms", value: "N", key: "outboxFlushMs", help: `longest a telemetry record waits before it is stored (default ${D.outboxFlushMs})` },
  { name: "outbox-writes-per-hour", value: "N", key: "outboxWritesPerHour", help: `storage writes the outbox may make per hour (default ${D.outboxWritesPerHour})` },
  { name: "watchdog-ms", value: "N", integer: { min: 0, max: 600_000, unit: "milliseconds" }, help: `a turn of the firmware longer than this resets it (default ${DEFAULT_WATCHDOG_MS},\nthe ESP32's task watchdog; 0 = off)` },
  ...OTA_FLAGS,
  { name: "faults", key: "faults", help: 'adds the "fault" request (hang, crash) to try the watchdog\nand safe mode; never in production' },
  { name: "portal-port", value: "N", key: "portalPort", integer: { min: 1, max: 65535 }, help: "open the setup portal when no network works, with its page on\nhttp://127.0.0.1:N/ (default: no portal). Start unprovisioned with\n--ssid \"\" --password \"\"" },
  { name: "dns-port", value: "N", key: "dnsPort", integer: { min: 1, max: 65535 }, help: "the portal's DNS server on 127.0.0.1:N (every name answers 127.0.0.1)" },
  { name: "portal-timeout-ms", value: "N", key: "portalTimeoutMs", help: `no network working this long opens the portal (default ${D.portalTimeoutMs})` },
  { name: "ap-password", value: "PW", key: "apPassword", help: "the setup access point's passphrase, 8 to 63 characters (default: open)" },
  { name: "server-trial-ms", value: "N", key: "serverTrialMs", help: `a new server URL must get a connection this soon, or the old one\ncomes back (default ${D.serverTrialMs})` },
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
    "A reboot request, a crash or the watchdog restarts the firmware, as on the chip; the next\n" +
    "hello says why (reset). SIGKILL is a power cut: the next start reports reset=killed.\n" +
    "Firmware updates (docs/ota.md) go to an update slot beside the storage file\n" +
    "(<name>.slots/); the chip boots the image it was told to, and rolls a new one back when\n" +
    "it does not prove itself.\n\n" +
    "Exit status: 0 after SIGINT or SIGTERM (the connection is closed with 1001 first);\n" +
    "1 the firmware cannot start at all, or a --serial tty cannot be opened; 2 bad arguments\n" +
    "(including a --ca or --storage file that cannot be used).",
};

export interface DeviceArguments {
  config: DeviceConfig;
  storage: string;
  logLevel: LogLevel;
  /** Readable lines (text) or JSON lines. */
  logFormat: "text" | "json";
  engine: "node" | "xs";
  /** The desktop chip's watchdog, ms; 0: none. */
  watchdogMs: number;
  /** The setting keys (DEVICE_SETTINGS, the provisioned url and deviceId) and authToken given as flags: they win over stored values. */
  explicitSettings: readonly string[];
  /** --factory-reset: erase what a factory reset erases before starting. */
  factoryReset: boolean;
  /** The device's wall clock (hosts/node/wall-clock.ts): from 1970 (--clock-unset), trusted from boot or not (--ntp). */
  clock: NodeWallClockOptions;
  /** Where the owner's update key pair is (made on first use by the command line, hosts/node/firmware-keys.ts). */
  otaKeys: string;
  /** --serial: the tty that is the device's UART. */
  serial: string | undefined;
}

/** Keys provisioning stores (src/provisioning): a flag for one wins over the stored value for this run. */
const PROVISIONED_KEYS: readonly string[] = ["url", "deviceId"];

/** The command line as the device's arguments; throws UsageError naming the flag at fault. */
export function deviceArguments(parsed: ParsedFlags, stdoutIsTerminal: boolean): DeviceArguments {
  const wifi = !switchFlag(parsed, "no-wifi");
  const credential = ["ssid", "password"].find((name) => parsed.values.has(name));
  if (!wifi && credential !== undefined) {
    throw new UsageError(`${parsed.typed.get(credential)} and ${parsed.typed.get("no-wifi")} contradict each other`);
  }
  if (!wifi && parsed.values.has("portal-port")) {
    throw new UsageError(`${parsed.typed.get("portal-port")} and ${parsed.typed.get("no-wifi")} contradict each other (the portal is WiFi's)`);
  }
  // No portal on the desktop unless asked for (port 80 would need privileges).
  const raw: Record<string, unknown> = { deviceId: DEFAULT_DEVICE_ID, portalPort: 0, dnsPort: 0, ...(wifi ? SIM_NETWORK : { ssid: "", password: "" }) };
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
  // The OS clock is trusted unless the user asked for a chip's clock or for NTP.
  const unset = switchFlag(parsed, "clock-unset");
  const serial = stringFlag(parsed, "serial");
  if (serial === "") throw new UsageError(`${parsed.typed.get("serial")} needs a path`);
  return {
    config,
    storage,
    logLevel: logLevelOf(parsed, "log-level", "info"),
    logFormat: logFormat === "text" ? "text" : "json",
    engine: stringFlag(parsed, "engine") === "xs" ? "xs" : "node",
    clock: { unset, systemSynced: !unset && !parsed.values.has("ntp") },
    watchdogMs: integerFlag(parsed, "watchdog-ms") ?? DEFAULT_WATCHDOG_MS,
    otaKeys: otaKeysFlag(parsed),
    // The token too: one typed here wins over a stored one (src/auth/credentials.ts).
    explicitSettings: FLAGS.filter(
      (flag) =>
        flag.key !== undefined &&
        (flag.key in DEVICE_SETTINGS || PROVISIONED_KEYS.includes(flag.key) || flag.key === "authToken") &&
        parsed.values.has(flag.name),
    ).map((flag) => flag.key!),
    factoryReset: switchFlag(parsed, "factory-reset"),
    serial,
  };
}

function otaKeysFlag(parsed: ParsedFlags): string {
  const dir = stringFlag(parsed, "ota-keys");
  if (dir === "") throw new UsageError(`${parsed.typed.get("ota-keys")} must not be empty`);
  return dir ?? DEFAULT_KEYS_DIR;
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

