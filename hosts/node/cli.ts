/**
 * The command-line layer of every desktop command (device, server, start, echo-agent,
 * monitor, and the Moddable wrappers of tools/moddable.ts): each declares its flags in a table
 * (name, value, repeatable, help text, the internal key it sets), and this module parses them,
 * writes --help from the same table, and reports what goes wrong in one way:
 *
 *   - a usage error (exit 2): ONE line on stderr naming the flag as the user typed it, and
 *     where the help is: `device: unknown option --bogus. Try 'npm run device -- --help'.`
 *     This covers the command line as typed: an unknown flag, a missing or bad value, flags
 *     that contradict each other, a file a flag names that cannot be read or is not a file.
 *   - a setup failure (exit 1): one line, no stack trace, when the command line was fine but
 *     the machine refused: the port is in use, the serial port cannot be opened.
 *
 * Errors that come from deeper layers speak of internal names (`config.telemetryIntervalMs`,
 * `limits.maxMessageBytes`); flagErrorMessage() puts the flag the user typed in their place.
 */
import { readFileSync } from "node:fs";
import { isLogLevel, LOG_LEVELS } from "../../src/shared/log-format.js";
import { checkInteger } from "../../src/shared/options.js";
import type { LogLevel } from "../../src/shared/host.js";

/** Exit status for a command line that cannot be used as typed. */
export const EXIT_USAGE = 2;
/** Exit status for a command that could not set itself up (a port in use, ...). */
export const EXIT_SETUP = 1;

/** One flag of a command, as its table declares it. */
export interface Flag {
  /** The long name without dashes: "telemetry-interval-ms" for --telemetry-interval-ms. */
  name: string;
  /** A one-letter alias without its dash: "h" for -h. */
  short?: string;
  /** What the flag takes, as --help shows it ("N", "URL", "FILE"); absent for a switch. */
  value?: string;
  /**
   * A value that must be a decimal integer in [min, max] (checked here, with the unit in the
   * error); the parsed value is then a number.
   */
  integer?: { min: number; max: number; unit?: "milliseconds" | "bytes" | "" };
  /** The only values accepted (checked here). */
  choices?: readonly string[];
  /** May be given more than once; the values are collected in order. */
  repeatable?: boolean;
  /** For --help: what it does, its default. Lines after the first continue the text. */
  help: string;
  /** The internal key the flag sets (a DeviceConfig key, say): errors about it name the flag. */
  key?: string;
  /** A heading --help prints before this flag (a group: "TLS (wss://):"). */
  section?: string;
}

export interface CommandSpec {
  /** The prefix of the command's error lines: "device", "companion". */
  name: string;
  /** How a user asks for this help: "npm run device -- --help". */
  helpCommand: string;
  /** The usage lines --help starts with ("Usage: ..."). */
  usage: string;
  /** What the command does: the paragraph after the usage lines. */
  description: string;
  flags: readonly Flag[];
  /** Arguments that are not flags: none (default), or this many at most. */
  maxPositionals?: number;
  /** Everything after a bare "--" is passed on as it is (ParsedFlags.rest), not parsed. */
  passesRest?: boolean;
  /** Text --help ends with (other commands, output, exit status). */
  footer?: string;
}

/** What the command line said. */
export interface ParsedFlags {
  /** By flag name: true for a switch, the value (string, or number for integer flags), or a list for repeatable flags. */
  values: ReadonlyMap<string, string | number | true | readonly string[]>;
  /** The flags given, by name, each as the user first typed it ("--port", "-h"): for messages. */
  typed: ReadonlyMap<string, string>;
  positionals: readonly string[];
  /** After "--", when the command passes the rest on. */
  rest: readonly string[];
  help: boolean;
}

/** A command line that cannot be used as typed: printed in one line with the help hint, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command line was fine but the machine refused (a port in use): one line, exit 1. */
export class SetupError extends Error {
  override name = "SetupError";
}

/** Every command takes -h/--help; tables list it last. */
export const HELP_FLAG: Flag = Object.freeze({ name: "help", short: "h", help: "print this help" });

/** The log levels as a flag's choices. */
export function logLevelFlag(name: string, help: string): Flag {
  return { name, value: "LEVEL", choices: LOG_LEVELS, help };
}

/** A --log-level value, typed; the parser has checked it already. */
export function logLevelOf(parsed: ParsedFlags, name: string, fallback: LogLevel): LogLevel {
  const value = parsed.values.get(name);
  return isLogLevel(value) ? value : fallback;
}

/**
 * Parses `argv` against the command's table: `--name value`, `--name=value`, `-h`; a switch
 * takes no value; a flag not marked repeatable may be given once. Throws UsageError naming
 * the flag as typed. -h or --help anywhere (before a bare "--") wins over any mistake: the
 * user is asking how to fix it.
 */
export function parseFlags(spec: CommandSpec, argv: readonly string[]): ParsedFlags {
  const own = argv.indexOf("--") < 0 ? argv : argv.slice(0, argv.indexOf("--"));
  if (spec.flags.includes(HELP_FLAG) && own.some((arg) => arg === "--help" || arg === "-h")) {
    return { values: new Map([["help", true]]), typed: new Map(), positionals: [], rest: [], help: true };
  }
  const byName = new Map<string, Flag>();
  for (const flag of spec.flags) {
    byName.set(`--${flag.name}`, flag);
    if (flag.short) byName.set(`-${flag.short}`, flag);
  }
  const values = new Map<string, string | number | true | string[]>();
  const typed = new Map<string, string>();
  const positionals: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      if (!spec.passesRest) throw new UsageError(`unexpected argument "--"`);
      rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (positionals.length >= (spec.maxPositionals ?? 0)) throw new UsageError(`unexpected argument ${quote(arg)}`);
      positionals.push(arg);
      continue;
    }
    const equals = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const as = equals < 0 ? arg : arg.slice(0, equals);
    const flag = byName.get(as);
    if (flag === undefined) throw new UsageError(`unknown option ${as}`);
    let text: string | undefined;
    if (flag.value === undefined) {
      if (equals >= 0) throw new UsageError(`${as} takes no value`);
    } else if (equals >= 0) {
      text = arg.slice(equals + 1);
    } else {
      const next = argv[i + 1];
      // "--url --no-wifi" is a forgotten value, not a URL; "--password=-x" gives one that starts with "-".
      if (next === undefined) throw new UsageError(`${as} needs a value (${flag.value})`);
      if (next.startsWith("-") && next !== "-") {
        throw new UsageError(`${as} needs a value (${flag.value}), got the option ${next}; for a value starting with "-", write ${as}=${flag.value}`);
      }
      text = next;
      i++;
    }
    if (values.has(flag.name) && !flag.repeatable) throw new UsageError(`${as} given twice`);
    if (!typed.has(flag.name)) typed.set(flag.name, as);
    if (text === undefined) {
      values.set(flag.name, true);
    } else if (flag.repeatable) {
      const list = (values.get(flag.name) as string[] | undefined) ?? [];
      list.push(checkValue(flag, as, text) as string);
      values.set(flag.name, list);
    } else {
      values.set(flag.name, checkValue(flag, as, text));
    }
  }
  return { values, typed, positionals, rest, help: values.get("help") === true };
}

/** A flag's value checked against what its table entry says it takes. */
function checkValue(flag: Flag, as: string, text: string): string | number {
  if (flag.choices && !flag.choices.includes(text)) {
    throw new UsageError(`${as} must be ${alternatives(flag.choices)}, got ${quote(text)}`);
  }
  if (flag.integer) {
    const { min, max, unit } = flag.integer;
    // Plain decimal only: "5s", "1e3", " 5" and "0x10" are typos, reported as typed.
    try {
      return checkInteger(as, /^[0-9]+$/.test(text) ? Number(text) : text, min, max, unit ?? "");
    } catch (error) {
      throw new UsageError(flagErrorMessage(error, []));
    }
  }
  return text;
}

/** A string flag's value, or undefined when it was not given. */
export function stringFlag(parsed: ParsedFlags, name: string): string | undefined {
  const value = parsed.values.get(name);
  return typeof value === "string" ? value : undefined;
}

/** An integer flag's value, or undefined when it was not given. */
export function integerFlag(parsed: ParsedFlags, name: string): number | undefined {
  const value = parsed.values.get(name);
  return typeof value === "number" ? value : undefined;
}

/** Whether a switch was given. */
export function switchFlag(parsed: ParsedFlags, name: string): boolean {
  return parsed.values.get(name) === true;
}

/** A repeatable flag's values (empty when not given). */
export function listFlag(parsed: ParsedFlags, name: string): readonly string[] {
  const value = parsed.values.get(name);
  return Array.isArray(value) ? value : [];
}

/**
 * The message of `error` with the internal names of the flags' keys replaced by the flags
 * (`option config.telemetryIntervalMs must be ...` -> `--telemetry-interval-ms must be ...`).
 * `prefix` is how the deeper layer spells the keys ("config.", "limits."). A name that is an
 * identifier (a dot or a capital: config.ca, closeReason) is replaced wherever it stands as a
 * whole word; a plain word (host, port) only where it opens the message, as the name of what
 * is wrong: "a host name" stays as it is.
 */
export function flagErrorMessage(error: unknown, flags: readonly Flag[], prefix = ""): string {
  let message = error instanceof Error ? error.message : String(error);
  for (const flag of flags) {
    if (flag.key === undefined) continue;
    const internal = `${prefix}${flag.key}`;
    const name = internal.replace(/[.]/g, "\\.");
    const before = /[A-Z.]/.test(internal) ? "(^|[^A-Za-z0-9_.])" : "(^|^option )";
    message = message.replace(new RegExp(`${before}${name}(?![A-Za-z0-9_])`, "g"), `$1--${flag.name}`);
  }
  // src/shared/errors.ts says "option X must be"; a flag needs no such word before it.
  return message.replace(/(^|\(|: )option (--[A-Za-z])/g, "$1$2");
}

/** The raw object of internal keys to values that the flags with a key were given. */
export function keyedValues(parsed: ParsedFlags, flags: readonly Flag[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const flag of flags) {
    const value = parsed.values.get(flag.name);
    if (flag.key !== undefined && value !== undefined) raw[flag.key] = value;
  }
  return raw;
}

/** The --help text: usage, description, every flag once (in table order), footer. */
export function formatHelp(spec: CommandSpec): string {
  const head = (flag: Flag): string =>
    `  ${flag.short ? `-${flag.short}, ` : ""}--${flag.name}${flag.value ? ` ${flag.value}` : ""}`;
  // The help text starts in one column, after the longest flag that still leaves it room.
  const column = Math.min(30, Math.max(...spec.flags.map((flag) => head(flag).length)) + 2);
  const lines = [spec.usage.trimEnd(), "", spec.description.trimEnd(), "", "Options:"];
  for (const flag of spec.flags) {
    if (flag.section) lines.push(flag.section);
    const [first, ...more] = flag.help.split("\n");
    const start = head(flag);
    if (start.length + 1 > column) {
      lines.push(start);
      lines.push(" ".repeat(column) + first);
    } else {
      lines.push(start.padEnd(column) + first);
    }
    for (const line of more) lines.push(" ".repeat(column) + line);
  }
  if (spec.footer) lines.push("", spec.footer.trimEnd());
  return lines.join("\n") + "\n";
}

/** What a command's main gets, and what it returns: an exit status, or nothing (it keeps running). */
export type CommandMain = (parsed: ParsedFlags) => void | number | Promise<void | number>;

/**
 * Runs a command: parses its command line, prints --help, runs `main`, and reports a
 * UsageError (exit 2) or SetupError (exit 1) in one line. Anything else is a bug: its stack
 * is printed (exit 1). A number `main` returns (or resolves with) is the exit status.
 */
export async function runCommand(spec: CommandSpec, argv: readonly string[], main: CommandMain): Promise<void> {
  try {
    const parsed = parseFlags(spec, argv);
    if (parsed.help) {
      process.stdout.write(formatHelp(spec));
      return;
    }
    const code = await main(parsed);
    if (typeof code === "number") process.exitCode = code;
  } catch (error) {
    failCommand(spec, error);
  }
}

/**
 * Exits with the status set (process.exitCode, else 0) once stdout has drained: process.exit
 * would cut a piped output short, and a port or a signal handler may still hold the process.
 * For commands that end when their work is done (the monitor, provision), after runCommand.
 */
export function exitWhenDrained(): void {
  const code = typeof process.exitCode === "number" ? process.exitCode : 0;
  setTimeout(() => process.exit(code), 50).unref();
  process.stdout.write("", () => process.exit(code));
}

/** Reports `error` as runCommand does and sets the exit status. */
export function failCommand(spec: CommandSpec, error: unknown): void {
  if (error instanceof UsageError) {
    process.stderr.write(`${spec.name}: ${usageLine(error.message, spec.helpCommand)}\n`);
    process.exitCode = EXIT_USAGE;
  } else if (error instanceof SetupError) {
    process.stderr.write(`${spec.name}: ${error.message}\n`);
    process.exitCode = EXIT_SETUP;
  } else {
    process.stderr.write(`${spec.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = EXIT_SETUP;
  }
}

/**
 * A usage error's one line: the message, then where the help is. A message of several lines
 * already says what to do (a command to run): it is left as it is.
 */
export function usageLine(message: string, helpCommand: string): string {
  if (message.includes("\n")) return message;
  return `${message.replace(/[.\s]+$/, "")}. Try '${helpCommand}'.`;
}

/**
 * Why a file could not be read (or written), in words, from a Node file system error:
 * "no such file", "permission denied", "it is a folder".
 */
export function fileProblem(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a folder";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    default:
      return message;
  }
}

/** `path`, named by the flag typed as `as`, read as text; a file it cannot read is a UsageError naming both. */
export function readFlagFile(as: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`${as} ${path}: ${fileProblem(error)}`);
  }
}

/**
 * Why a server could not listen, in words, from Node's error: "the port is in use
 * (EADDRINUSE)". The caller names the address.
 */
export function listenProblem(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  switch (code) {
    case "EADDRINUSE":
      return "the port is in use (EADDRINUSE)";
    case "EACCES":
      return "permission denied: ports below 1024 need privileges (EACCES)";
    case "EADDRNOTAVAIL":
      return "this machine has no such address (EADDRNOTAVAIL)";
    default:
      return message;
  }
}

/** Colour when writing to a terminal, unless NO_COLOR is set to anything (https://no-color.org). */
export function wantsColour(stream: { isTTY?: boolean }, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
}

/** ["a", "b", "c"] as "a, b or c". */
export function alternatives(choices: readonly string[]): string {
  return choices.length < 2 ? choices.join("") : `${choices.slice(0, -1).join(", ")} or ${choices[choices.length - 1]}`;
}

function quote(text: string): string {
  return JSON.stringify(text);
}
