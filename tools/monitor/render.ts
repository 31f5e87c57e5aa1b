/**
 * What the monitor prints for one line from the device, and whether it prints it at all
 * (filters). Pure: a Line in, text or bytes out.
 *
 * Pretty (default): "HH:MM:SS.mmm " (local time the line's first byte came) then the firmware's
 * JSON log line made readable (src/shared/log-format.ts), or any other line dimmed, with its
 * control characters shown as escapes. Raw (--raw): the bytes exactly as received.
 */
import type { LogLevel } from "../../src/shared/host.js";
import { formatLogRecord, levelShown, localTime, paint, parseLogLine, printable, SGR, type LogRecord } from "../../src/shared/log-format.js";
import type { Line } from "./line-splitter.js";
import type { EventMatcher } from "./options.js";

export interface RenderOptions {
  raw: boolean;
  colour: boolean;
  /** The least important level shown. */
  minLevel: LogLevel;
  /** Empty: every event. */
  events: readonly EventMatcher[];
  onlyJson: boolean;
}

/** A JSON log record's start, as createJsonLog writes it (its first key is always "t"). */
const RECORD_START = '{"t":';
/** How many record starts inside one line are tried before giving up (bounds the parsing). */
const MAX_RECORD_STARTS_TRIED = 8;
/** An SGR (colour) sequence, as ESP-IDF's own log lines carry them. */
const SGR_SEQUENCE = /\x1b\[[0-9;]*m/g;

const decoder = new TextDecoder("utf-8");

/** One thing shown for a line: a log record, or plain text. */
interface Piece {
  record?: LogRecord;
  text: string;
}

/**
 * The output for `line`: a string (pretty) or the line's own bytes (raw), or undefined when the
 * filters hide it.
 */
export function renderLine(line: Line, options: RenderOptions): string | Uint8Array | undefined {
  const text = lineText(line.raw);
  if (options.raw) {
    const record = parseLogLine(text);
    return shown({ record, text }, options) ? line.raw : undefined;
  }
  // The rest of a cut line is often just its "\n": nothing to show.
  if (line.continuation && text === "") return undefined;
  const out: string[] = [];
  const stamp = localTime(line.receivedAt);
  for (const piece of pieces(text)) {
    if (!shown(piece, options)) continue;
    // Blank lines (the ROM prints a few) carry nothing once timestamped.
    if (!piece.record && piece.text.trim() === "") continue;
    let body = piece.record ? formatLogRecord(piece.record, options.colour) : plainText(piece.text, options.colour);
    if (line.continuation) body = `${paint(SGR.yellow, "[continued]", options.colour)} ${body}`;
    out.push(`${stamp} ${body}`);
  }
  if (out.length === 0) return undefined;
  if (line.end === "cut") out[out.length - 1] += ` ${paint(SGR.yellow, `[cut at ${line.raw.length} bytes; continues on the next line]`, options.colour)}`;
  else if (line.end === "partial") out[out.length - 1] += ` ${paint(SGR.yellow, "[no end of line]", options.colour)}`;
  return out.join("\n") + "\n";
}

/** A line's text without its terminator ("\n", "\r\n", and any further "\r" before it). */
export function lineText(raw: Uint8Array): string {
  let end = raw.length;
  if (end > 0 && raw[end - 1] === 0x0a) end--;
  while (end > 0 && raw[end - 1] === 0x0d) end--;
  // Not fatal: garbage after a reset shows as U+FFFD instead of failing the line.
  return decoder.decode(raw.subarray(0, end));
}

function shown(piece: Piece, options: RenderOptions): boolean {
  const record = piece.record;
  // Non-JSON lines are boot messages, panics and backtraces: what explains a crash. The
  // level and event filters select among log records and never hide them.
  if (!record) return !options.onlyJson;
  // A level we don't know is shown: a filter never hides what it cannot judge.
  if (!levelShown(record.level, options.minLevel)) return false;
  return options.events.length === 0 || options.events.some((matches) => matches(record.event));
}

/**
 * A line as log records and text. A device reset leaves a line cut short, and the first line
 * after it is then glued to it ('{"t":"...","lev<garbage>{"t":...}'): when a line is not a
 * record itself but ends with a whole one, the record is shown apart from what came before.
 */
function pieces(text: string): Piece[] {
  const record = parseLogLine(text);
  if (record) return [{ record, text }];
  let from = 1;
  for (let tries = 0; tries < MAX_RECORD_STARTS_TRIED; tries++) {
    const start = text.indexOf(RECORD_START, from);
    if (start < 0) break;
    const tail = parseLogLine(text.slice(start));
    if (tail) return [{ text: text.slice(0, start) }, { record: tail, text: text.slice(start) }];
    from = start + 1;
  }
  return [{ text }];
}

/**
 * Any other line, dimmed, its control characters escaped. Colour sequences the device sent
 * itself (ESP-IDF's log) are kept when we colour and dropped when we don't.
 */
function plainText(text: string, colour: boolean): string {
  let out = "";
  let last = 0;
  for (const match of text.matchAll(SGR_SEQUENCE)) {
    out += printable(text.slice(last, match.index)) + (colour ? match[0] : "");
    last = match.index + match[0].length;
  }
  out += printable(text.slice(last));
  return paint(SGR.dim, out, colour);
}
