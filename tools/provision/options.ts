/**
 * `npm run provision`'s command line (hosts/node/cli.ts's table), parsed and validated up
 * front: a bad value is named in one line and the command exits 2 before any port is touched.
 */
import {
  formatHelp,
  HELP_FLAG,
  integerFlag,
  stringFlag,
  switchFlag,
  UsageError,
  type CommandSpec,
  type ParsedFlags,
} from "../../hosts/node/cli.js";
import { DEFAULT_BAUD } from "../../hosts/node/serial.js";
import { MAX_BAUD, MIN_BAUD } from "../monitor/options.js";

/** How long the device has to answer at all (it may be booting right after a flash), ms. */
export const DEFAULT_DETECT_TIMEOUT_MS = 10_000;
/** Bounds of --timeout-ms. */
const MAX_DETECT_TIMEOUT_MS = 300_000;

/** 802.11: an SSID is at most 32 bytes; a WPA2 passphrase at most 64. */
const MAX_SSID_BYTES = 32;
const MAX_PASSWORD_BYTES = 64;

export const PROVISION_COMMAND: CommandSpec = {
  name: "provision",
  helpCommand: "npm run provision -- --help",
  usage: "Usage: npm run provision -- --port PATH [--ssid NAME [--password PW]] [--scan] [options]",
  description:
    "Speaks Improv WiFi over serial (https://www.improv-wifi.com/serial/, the protocol of ESP Web\n" +
    "Tools and Home Assistant) to a device on a serial port: shows its state and device info,\n" +
    "lists the networks it hears (--scan), and hands it a WiFi network (--ssid, --password),\n" +
    "which it tries at once and keeps only once it works. The device's log lines on the same\n" +
    "port are skipped (--log shows them). The simulated device answers on the tty of its --serial.",
  flags: [
    { name: "port", value: "PATH", help: "the device's serial port, e.g. /dev/ttyUSB0; without it, lists the\nserial ports and exits" },
    { name: "ssid", value: "NAME", help: "the network to join (1 to 32 bytes)" },
    { name: "password", value: "PW", help: "its passphrase (none for an open network); one starting with \"-\":\n--password=PW" },
    { name: "scan", help: "list the networks the device hears, strongest first" },
    { name: "baud", value: "N", integer: { min: MIN_BAUD, max: MAX_BAUD }, help: `bit/s (default ${DEFAULT_BAUD}, the firmware's)` },
    { name: "timeout-ms", value: "N", integer: { min: 100, max: MAX_DETECT_TIMEOUT_MS, unit: "milliseconds" }, help: `how long the device has to answer at all (default ${DEFAULT_DETECT_TIMEOUT_MS}):\nit may still be booting` },
    { name: "log", help: "show the device's own lines (its log) on stderr as they come" },
    { name: "wait", help: "when the port does not exist yet, wait for it instead of failing" },
    HELP_FLAG,
  ],
  footer:
    "Output: one line each for the device, its state, the networks (--scan) and the join.\n" +
    "Exit status: 0 done (the device joined the network, or answered); 1 the device could not\n" +
    "join (wrong password, network not found), did not answer, or the port cannot be opened;\n" +
    "2 bad arguments.",
};

/** The --help text. */
export const USAGE = formatHelp(PROVISION_COMMAND);

export interface ProvisionOptions {
  port: string;
  baudRate: number;
  /** The network to hand over, when given. */
  network: { ssid: string; password: string } | undefined;
  scan: boolean;
  detectTimeoutMs: number;
  log: boolean;
  wait: boolean;
}

export type ProvisionCommand = { kind: "help" } | { kind: "list" } | { kind: "provision"; options: ProvisionOptions };

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** What the command line asks for; throws UsageError naming the flag at fault. */
export function provisionCommand(parsed: ParsedFlags): ProvisionCommand {
  if (parsed.help) return { kind: "help" };
  const as = (name: string): string => parsed.typed.get(name) ?? `--${name}`;
  const port = stringFlag(parsed, "port");
  if (port === undefined) {
    const given = PROVISION_COMMAND.flags.map((flag) => flag.name).find((name) => parsed.values.has(name));
    if (given !== undefined) throw new UsageError(`${as(given)} needs --port (without --port the command lists the serial ports)`);
    return { kind: "list" };
  }
  if (port === "") throw new UsageError(`${as("port")} needs a path`);
  const ssid = stringFlag(parsed, "ssid");
  const password = stringFlag(parsed, "password");
  if (password !== undefined && ssid === undefined) throw new UsageError(`${as("password")} needs --ssid: the network it is for`);
  if (ssid !== undefined && (ssid === "" || utf8Bytes(ssid) > MAX_SSID_BYTES)) {
    throw new UsageError(`${as("ssid")} must be 1 to ${MAX_SSID_BYTES} bytes, got ${utf8Bytes(ssid)}`);
  }
  // Never quoted: it is a secret.
  if (password !== undefined && utf8Bytes(password) > MAX_PASSWORD_BYTES) {
    throw new UsageError(`${as("password")} must be at most ${MAX_PASSWORD_BYTES} bytes, got ${utf8Bytes(password)}`);
  }
  return {
    kind: "provision",
    options: {
      port,
      baudRate: integerFlag(parsed, "baud") ?? DEFAULT_BAUD,
      network: ssid === undefined ? undefined : { ssid, password: password ?? "" },
      scan: switchFlag(parsed, "scan"),
      detectTimeoutMs: integerFlag(parsed, "timeout-ms") ?? DEFAULT_DETECT_TIMEOUT_MS,
      log: switchFlag(parsed, "log"),
      wait: switchFlag(parsed, "wait"),
    },
  };
}
