/**
 * The monitor's command line (hosts/node/cli.ts's table), parsed and validated up front: a bad
 * value is named in one line and the CLI exits 2, before any port is touched.
 */
import type { LogLevel } from "../../src/shared/host.js";
import { isLogLevel, LOG_LEVELS } from "../../src/shared/log-format.js";
import {
  alternatives,
  formatHelp,
  HELP_FLAG,
  integerFlag,
  listFlag,
  parseFlags,
  stringFlag,
  switchFlag,
  UsageError,
  type ParsedFlags,
  type CommandSpec,
} from "../../hosts/node/cli.js";
import { DEFAULT_BAUD } from "../../hosts/node/serial.js";

export { UsageError };
/** The ESP32 ROM bootloader's and our firmware's UART speed, bit/s (hosts/node/serial.ts). */
export { DEFAULT_BAUD };
/** Slowest rate POSIX termios names (B50), bit/s. */
export const MIN_BAUD = 50;
/** Fastest rate a common USB-UART bridge does (FTDI FT232H: 12 Mbit/s). */
export const MAX_BAUD = 12_000_000;

export const MONITOR_COMMAND: CommandSpec = {
  name: "monitor",
  helpCommand: "npm run monitor -- --help",
  usage: "Usage: npm run monitor -- [--port PATH | --stdin] [options]",
  description:
    "Watches an ESP32 running the firmware over its serial port: every line with the local time,\n" +
    "the firmware's JSON log lines made readable. Survives the board resetting and the cable being\n" +
    "unplugged and plugged back. Ctrl-C quits. With --stdin it reads the lines from a pipe instead,\n" +
    "e.g. the simulated device's: npm run -s device | npm run -s monitor -- --stdin",
  flags: [
    { name: "port", value: "PATH", help: "the serial port, e.g. /dev/ttyUSB0, /dev/ttyACM0, COM3;\nwithout it (and without --stdin), lists the serial ports and exits" },
    { name: "stdin", help: "read the device's output from standard input (a pipe) until it ends;\n--port - does the same" },
    { name: "baud", value: "N", integer: { min: MIN_BAUD, max: MAX_BAUD }, help: `bit/s (default ${DEFAULT_BAUD}, the firmware's and the ROM bootloader's)` },
    { name: "raw", help: "print lines exactly as received: no time, no formatting" },
    { name: "level", value: "L", help: `only log lines at level L and above (${LOG_LEVELS.join(", ")})` },
    {
      name: "event",
      value: "E",
      repeatable: true,
      help:
        "only log events whose name starts with E, or matches E when E is a\n" +
        'regular expression (anything but letters, digits, "_", ".", ":", "-");\n' +
        "repeat to allow several",
    },
    { name: "only-json", help: "hide lines that are not the firmware's JSON log (boot messages, panics);\nwithout it they are always shown, whatever the filters" },
    { name: "wait", help: "when the port does not exist yet, wait for it instead of failing" },
    { name: "color", help: "colour even when stdout is not a terminal" },
    { name: "no-color", help: "never colour (so does NO_COLOR=1); default: colour on a terminal" },
    HELP_FLAG,
  ],
  footer: "Exit status: 0 after Ctrl-C, the end of --stdin or a listing; 1 when the port cannot be\nopened; 2 bad arguments.",
};

/** The --help text. */
export const USAGE = formatHelp(MONITOR_COMMAND);

export type EventMatcher = (event: string) => boolean;

export interface MonitorOptions {
  /** The serial port's path, or "-" for standard input (--stdin). */
  port: string;
  baudRate: number;
  raw: boolean;
  /** The least important level shown. */
  minLevel: LogLevel;
  /** Events shown; empty: all. An event is shown when any matcher accepts it. */
  events: EventMatcher[];
  onlyJson: boolean;
  wait: boolean;
  /** undefined: decide from the terminal and NO_COLOR. */
  colour: boolean | undefined;
}

export type Command = { kind: "help" } | { kind: "list"; colour: boolean | undefined } | { kind: "monitor"; options: MonitorOptions };

/** An event filter's text is a literal prefix when it is made only of these. */
const EVENT_PREFIX = /^[A-Za-z0-9_.:-]+$/;

export function eventMatcher(text: string): EventMatcher {
  if (text === "") throw new UsageError("--event needs an event name prefix or a regular expression");
  if (EVENT_PREFIX.test(text)) return (event) => event.startsWith(text);
  let pattern: RegExp;
  try {
    pattern = new RegExp(text);
  } catch (error) {
    throw new UsageError(`--event ${JSON.stringify(text)} is not a valid regular expression: ${(error as Error).message}`);
  }
  return (event) => pattern.test(event);
}

/** The command line as typed, in words: parseFlags's checks, then the monitor's own. */
export function parseMonitorArguments(argv: readonly string[]): Command {
  return monitorCommand(parseFlags(MONITOR_COMMAND, argv));
}

/** What the monitor is asked to do; throws UsageError naming the flag at fault. */
export function monitorCommand(parsed: ParsedFlags): Command {
  if (parsed.help) return { kind: "help" };
  const as = (name: string): string => parsed.typed.get(name) ?? `--${name}`;
  const level = stringFlag(parsed, "level")?.toLowerCase() ?? "debug";
  if (!isLogLevel(level)) {
    throw new UsageError(`${as("level")} must be ${alternatives(LOG_LEVELS)}, got ${JSON.stringify(stringFlag(parsed, "level"))}`);
  }
  const events = listFlag(parsed, "event").map(eventMatcher);
  if (switchFlag(parsed, "color") && switchFlag(parsed, "no-color")) throw new UsageError("--color and --no-color contradict each other");
  const colour = switchFlag(parsed, "color") ? true : switchFlag(parsed, "no-color") ? false : undefined;
  const port = stringFlag(parsed, "port");
  // "--port -" is standard input too, as "-" is for most tools.
  const stdin = switchFlag(parsed, "stdin") || port === "-";
  if (switchFlag(parsed, "stdin") && port !== undefined) throw new UsageError(`${as("port")} and ${as("stdin")} contradict each other: one source`);
  if (stdin) {
    const serialOnly = ["baud", "wait"].find((name) => parsed.values.has(name));
    if (serialOnly) throw new UsageError(`${as(serialOnly)} is for a serial port, not ${as("stdin")}`);
  }
  if (port === "") throw new UsageError(`${as("port")} needs a path`);
  if (port === undefined && !stdin) {
    const given = MONITOR_COMMAND.flags.map((flag) => flag.name).find((name) => name !== "color" && name !== "no-color" && parsed.values.has(name));
    if (given !== undefined) throw new UsageError(`${as(given)} needs --port (without --port the monitor lists the serial ports)`);
    return { kind: "list", colour };
  }
  return {
    kind: "monitor",
    options: {
      port: stdin ? "-" : port!,
      baudRate: integerFlag(parsed, "baud") ?? DEFAULT_BAUD,
      raw: switchFlag(parsed, "raw"),
      minLevel: level,
      events,
      onlyJson: switchFlag(parsed, "only-json"),
      wait: switchFlag(parsed, "wait"),
      colour,
    },
  };
}
