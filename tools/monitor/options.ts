/**
 * The monitor's command line, parsed and validated up front: a bad value is named in the error
 * and the CLI exits 2 with the usage text, before any port is touched.
 */
import { LOG_LEVELS, levelRank } from "../../hosts/node/log-format.js";

/** The ESP32 ROM bootloader's and our firmware's UART speed, bit/s. */
export const DEFAULT_BAUD = 115_200;
/** Slowest rate POSIX termios names (B50), bit/s. */
export const MIN_BAUD = 50;
/** Fastest rate a common USB-UART bridge does (FTDI FT232H: 12 Mbit/s). */
export const MAX_BAUD = 12_000_000;

export const USAGE = `Usage: npm run monitor -- [--port PATH] [options]

Watches an ESP32 running the firmware over its serial port: every line with the local time,
the firmware's JSON log lines made readable. Survives the board resetting and the cable being
unplugged and plugged back. Ctrl-C quits.

  --port PATH     the serial port, e.g. /dev/ttyUSB0, /dev/ttyACM0, COM3;
                  without it, lists the serial ports and exits
  --baud N        bit/s (default ${DEFAULT_BAUD}, the firmware's and the ROM bootloader's)
  --raw           print lines exactly as received: no time, no formatting
  --level L       only log lines at level L and above (${LOG_LEVELS.join(", ")})
  --event E       only log events whose name starts with E, or matches E when E is a
                  regular expression (anything but letters, digits, "_", ".", ":", "-");
                  repeat to allow several
  --only-json     hide lines that are not the firmware's JSON log (boot messages, panics);
                  without it they are always shown, whatever the filters
  --wait          when the port does not exist yet, wait for it instead of failing
  --color         colour even when stdout is not a terminal
  --no-color      never colour (so does NO_COLOR=1); default: colour on a terminal
  -h, --help      this text

Exit status: 0 after Ctrl-C or a listing, 1 when the port cannot be opened, 2 for bad arguments.
`;

export type EventMatcher = (event: string) => boolean;

export interface MonitorOptions {
  port: string;
  baudRate: number;
  raw: boolean;
  /** Rank (levelRank) of the least important level shown; 0 shows all. */
  minLevel: number;
  /** Events shown; empty: all. An event is shown when any matcher accepts it. */
  events: EventMatcher[];
  onlyJson: boolean;
  wait: boolean;
  /** undefined: decide from the terminal and NO_COLOR. */
  colour: boolean | undefined;
}

export type Command = { kind: "help" } | { kind: "list"; colour: boolean | undefined } | { kind: "monitor"; options: MonitorOptions };

/** A command line the monitor refuses; the CLI prints it with the usage and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

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

const VALUE_OPTIONS = new Set(["--port", "--baud", "--level", "--event"]);
const FLAG_OPTIONS = new Set(["--raw", "--only-json", "--wait", "--color", "--no-color", "--help", "-h"]);

export function parseArguments(argv: readonly string[]): Command {
  let port: string | undefined;
  let baudRate = DEFAULT_BAUD;
  let minLevel = 0;
  const events: EventMatcher[] = [];
  const flags = new Set<string>();
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const equals = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = equals < 0 ? arg : arg.slice(0, equals);
    if (FLAG_OPTIONS.has(name)) {
      if (equals >= 0) throw new UsageError(`${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (!VALUE_OPTIONS.has(name)) {
      throw new UsageError(arg.startsWith("-") ? `unknown option ${JSON.stringify(arg)}` : `unexpected argument ${JSON.stringify(arg)}`);
    }
    let value: string;
    if (equals >= 0) value = arg.slice(equals + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
      value = argv[++i]!;
    }
    if (name !== "--event") {
      if (seen.has(name)) throw new UsageError(`${name} given twice`);
      seen.add(name);
    }
    switch (name) {
      case "--port":
        if (value === "" || value.startsWith("-")) throw new UsageError(`--port needs a path, got ${JSON.stringify(value)}`);
        port = value;
        break;
      case "--baud":
        if (!/^[0-9]+$/.test(value) || Number(value) < MIN_BAUD || Number(value) > MAX_BAUD) {
          throw new UsageError(`--baud must be a whole number of bit/s from ${MIN_BAUD} to ${MAX_BAUD}, got ${JSON.stringify(value)}`);
        }
        baudRate = Number(value);
        break;
      case "--level": {
        const rank = levelRank(value.toLowerCase());
        if (rank === undefined) throw new UsageError(`--level must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(value)}`);
        minLevel = rank;
        break;
      }
      case "--event":
        events.push(eventMatcher(value));
        break;
    }
  }
  if (flags.has("--help") || flags.has("-h")) return { kind: "help" };
  if (flags.has("--color") && flags.has("--no-color")) throw new UsageError("--color and --no-color contradict each other");
  const colour = flags.has("--color") ? true : flags.has("--no-color") ? false : undefined;
  if (port === undefined) {
    const given = [...seen, ...flags].filter((option) => option !== "--color" && option !== "--no-color");
    if (given.length > 0 || events.length > 0) {
      throw new UsageError(`${given[0] ?? "--event"} needs --port (without --port the monitor lists the serial ports)`);
    }
    return { kind: "list", colour };
  }
  return {
    kind: "monitor",
    options: {
      port,
      baudRate,
      raw: flags.has("--raw"),
      minLevel,
      events,
      onlyJson: flags.has("--only-json"),
      wait: flags.has("--wait"),
      colour,
    },
  };
}
