/**
 * The firmware's log format, in one place for every host and every reader of it.
 *
 * Writing (the hosts: Node, Moddable's trace(), the XS side): one JSON object per event and
 * per line, `{"t":"<ISO time>","level":"info","event":"ws_open",...fields}`; bytes shown by
 * length, errors by name, code and message; a log call never throws.
 *
 * Reading (`npm start`, `npm run device` on a terminal, the serial monitor, the companion
 * server's view): such a line made readable, `12:00:01.234 info  ws_open url=ws://... attempt=2`,
 * so a real device and a simulated one print the same thing for the same event. Everything
 * read is treated as a device's output: a line may be garbage, a value may hold terminal
 * control characters, and nothing a device prints may drive the terminal.
 *
 * Levels are on one scale, debug < info < warn < error, filtered by levelShown.
 * Portable ECMAScript (the chip runs the writing half): no platform API.
 */
import type { Log, LogLevel } from "./host.js";
import { parseJsonObject } from "./json.js";

// --- levels -------------------------------------------------------------------------------

/** The levels, least important first. */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(["debug", "info", "warn", "error"] as LogLevel[]);

/** A level's rank (0 = debug), or undefined for a level we don't know. */
export function levelRank(level: string): number | undefined {
  const rank = (LOG_LEVELS as readonly string[]).indexOf(level);
  return rank < 0 ? undefined : rank;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && levelRank(value) !== undefined;
}

/**
 * Whether an event at `level` passes a filter whose least important level is `minLevel`.
 * A level we don't know passes: a filter never hides what it cannot judge.
 */
export function levelShown(level: string, minLevel: LogLevel): boolean {
  const rank = levelRank(level);
  return rank === undefined || rank >= levelRank(minLevel)!;
}

// --- writing ------------------------------------------------------------------------------

/** An error (or anything thrown) as one line of text: its message. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * JSON.stringify's replacer for log fields: what JSON cannot show, shown. Bytes by length
 * (never dumped), bigints as decimal strings, errors as {name, code, message}.
 */
export function logValue(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { name: value.name, message: value.message } : { name: value.name, code, message: value.message };
  }
  return value;
}

/** The keys every record starts with; a field of the same name is written with a "_" prefix. */
const RECORD_KEYS: readonly string[] = Object.freeze(["t", "level", "event"]);

/**
 * One log line (without its "\n"): t, level, event, then the fields in their order. Never
 * throws: a field that cannot be serialised (a cycle) is replaced by a note ("logError").
 */
export function formatLogLine(t: string, level: LogLevel, event: string, fields?: Record<string, unknown>): string {
  // No prototype: a field named "__proto__" or "toString" is a field like any other.
  const record = Object.create(null) as Record<string, unknown>;
  record.t = t;
  record.level = level;
  record.event = event;
  if (fields) {
    for (const key of Object.keys(fields)) {
      record[RECORD_KEYS.indexOf(key) >= 0 ? `_${key}` : key] = fields[key];
    }
  }
  try {
    return JSON.stringify(record, logValue);
  } catch (error) {
    // A cyclic field: say so rather than lose the event or throw into the caller.
    return JSON.stringify({ t, level, event, logError: errorMessage(error) });
  }
}

export interface LogWriterOptions {
  /** Prints one complete line (the text ends with "\n"). */
  print: (line: string) => void;
  /** Least important level printed (default "info"). */
  minLevel?: LogLevel;
  /** The time written as "t": an ISO string of the host's clock. */
  now: () => string;
}

/** A Log printing one JSON line per event at or above `minLevel`; an unknown level is a RangeError. */
export function createLog(options: LogWriterOptions): Log {
  const minLevel = options.minLevel ?? "info";
  if (!isLogLevel(minLevel)) throw new RangeError(`unknown log level ${JSON.stringify(minLevel)}`);
  const { print, now } = options;
  return (level, event, fields) => {
    if (!levelShown(level, minLevel)) return;
    print(formatLogLine(now(), level, event, fields) + "\n");
  };
}

// --- reading ------------------------------------------------------------------------------

/** One event of the firmware's JSON log, read back. */
export interface LogRecord {
  /** The device's time as it wrote it: an ISO string, or milliseconds of uptime. */
  t: unknown;
  level: string;
  event: string;
  /** Everything else in the object, in the order the device wrote it. */
  fields: Record<string, unknown>;
}

/**
 * The record in `line` when the line is one of the firmware's JSON log lines (an object with a
 * string "event"); undefined for anything else (boot messages, panics, partial lines).
 */
export function parseLogLine(line: string): LogRecord | undefined {
  const text = line.trim();
  // Cheap test first: most non-JSON lines are rejected without a parse attempt.
  if (text.length < 2 || text[0] !== "{" || text[text.length - 1] !== "}") return undefined;
  const value = parseJsonObject(text);
  if (value === undefined) return undefined;
  const { t, level, event, ...fields } = value;
  if (typeof event !== "string") return undefined;
  return { t, level: typeof level === "string" ? level : "info", event, fields };
}

/** SGR codes (ECMA-48 section 8.3.117) the readable forms use. */
export const SGR = Object.freeze({
  bold: 1,
  dim: 2,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  grey: 90,
});

/** `text` in SGR `code` when `colour`, else as it is. */
export function paint(code: number, text: string, colour: boolean): string {
  return colour && code !== 0 ? `\x1b[${code}m${text}\x1b[0m` : text;
}

const LEVEL_COLOUR: Readonly<Record<string, number>> = Object.freeze({
  debug: SGR.grey,
  info: SGR.green,
  warn: SGR.yellow,
  error: SGR.red,
});

/** The device's "t" as a clock time: HH:MM:SS.mmm from an ISO string, seconds from a number. */
export function deviceTime(t: unknown): string {
  if (typeof t === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(t)) return t.slice(11, 23);
  if (typeof t === "number" && Number.isFinite(t)) return `${(t / 1000).toFixed(3)}s`;
  return "";
}

/** `ms` since the epoch as local "HH:MM:SS.mmm": when a reader saw something. */
export function localTime(ms: number): string {
  const date = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, "0")}`;
}

/**
 * A value as a key=value line shows it. A string is shown bare unless it is empty or holds
 * spaces, "=", quotes or control characters; then it is shown as a JSON string, so a line
 * always reads back unambiguously. Other values are shown as JSON (which escapes control
 * characters inside strings, so nested values are safe too).
 */
export function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return value === "" || /[\s="\\\x00-\x1f\x7f-\x9f]/.test(value) ? JSON.stringify(value) : value;
  }
  return JSON.stringify(value) ?? String(value);
}

/**
 * A record as one line: device time (grey), level (coloured, padded to 5), event (bold), then
 * the fields as key=value (formatValue).
 */
export function formatLogRecord(record: LogRecord, colour: boolean): string {
  const fields = Object.keys(record.fields)
    .map((key) => `${printable(key)}=${formatValue(record.fields[key])}`)
    .join(" ");
  const level = printable(record.level);
  const parts = [
    paint(SGR.grey, deviceTime(record.t), colour),
    paint(LEVEL_COLOUR[level] ?? 0, level.padEnd(5), colour),
    paint(SGR.bold, printable(record.event), colour),
  ];
  if (parts[0] === "") parts.shift();
  if (fields !== "") parts.push(fields);
  return parts.join(" ");
}

/** A device log line made readable when it is a JSON log line; any other line as it is. */
export function formatDeviceLine(line: string, colour: boolean): string {
  const record = parseLogLine(line);
  return record ? formatLogRecord(record, colour) : line;
}

/**
 * `text` with every control character shown as an escape (\r, \x1b, ...), tab excepted, so a
 * device's bytes cannot move the cursor, clear the screen or retitle the terminal. C1 controls
 * (U+0080-U+009F) count too: some terminals take U+009B as the start of a control sequence.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) =>
    c === "\r" ? "\\r" : c === "\n" ? "\\n" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
