/**
 * Reading the firmware's log lines back: createJsonLog (host.ts) writes one JSON object per
 * event, {"t":"<ISO time>","level":"info","event":"ws_open",...fields}; this module turns such
 * a line into one readable line ("12:00:01.234 info  ws_open url=ws://... attempt=2").
 * `npm start` shows the simulated device's log with it and `npm run monitor` a real device's,
 * so both print the same thing for the same event.
 *
 * Everything here is made to face a device's output: a line may be garbage, a value may hold
 * terminal control characters, and nothing a device prints may drive the terminal.
 */

/** The levels createJsonLog writes, least important first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type KnownLevel = (typeof LOG_LEVELS)[number];

/** A level's rank (0 = debug), or undefined for a level we don't know. */
export function levelRank(level: string): number | undefined {
  const rank = (LOG_LEVELS as readonly string[]).indexOf(level);
  return rank < 0 ? undefined : rank;
}

/** One event of the firmware's JSON log. */
export interface LogRecord {
  /** The device's time as it wrote it: an ISO string (createJsonLog), or milliseconds of uptime. */
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
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { t, level, event, ...fields } = value as Record<string, unknown>;
  if (typeof event !== "string") return undefined;
  return { t, level: typeof level === "string" ? level : "info", event, fields };
}

/** SGR codes used: 1 bold, 2 dim, 31 red, 32 green, 33 yellow, 90 grey. */
export function paint(code: number, text: string, colour: boolean): string {
  return colour && code !== 0 ? `\x1b[${code}m${text}\x1b[0m` : text;
}

const LEVEL_COLOUR: Record<string, number> = { debug: 90, info: 32, warn: 33, error: 31 };

/** The device's "t" as a clock time: HH:MM:SS.mmm from an ISO string, seconds from a number. */
export function deviceTime(t: unknown): string {
  if (typeof t === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(t)) return t.slice(11, 23);
  if (typeof t === "number" && Number.isFinite(t)) return `${(t / 1000).toFixed(3)}s`;
  return "";
}

/**
 * A record as one line: device time (grey), level (coloured, padded to 5), event (bold), then
 * the fields as key=value. A string value is shown bare unless it is empty or holds spaces,
 * "=", quotes or control characters; then it is shown as a JSON string, so a line always reads
 * back unambiguously. Other values are shown as JSON.
 */
export function formatLogRecord(record: LogRecord, colour: boolean): string {
  const fields = Object.entries(record.fields)
    .map(([key, value]) => `${printable(key)}=${fieldValue(value)}`)
    .join(" ");
  const level = printable(record.level);
  const parts = [
    paint(90, deviceTime(record.t), colour),
    paint(LEVEL_COLOUR[level] ?? 0, level.padEnd(5), colour),
    paint(1, printable(record.event), colour),
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

function fieldValue(value: unknown): string {
  if (typeof value === "string") {
    return value === "" || /[\s="\\\x00-\x1f\x7f-\x9f]/.test(value) ? JSON.stringify(value) : value;
  }
  // JSON.stringify escapes control characters inside strings, so nested values are safe too.
  return JSON.stringify(value) ?? String(value);
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
