/**
 * The device's log on Moddable: one JSON object per line through trace(), exactly the format
 * of the Node host's createJsonLog (hosts/node/host.ts), so `npm run monitor` and `npm start`
 * read a real device and a simulated one the same way:
 *
 *   {"t":"1970-01-01T00:00:05.120Z","level":"info","event":"ws_open","host":"10.0.0.2",...}
 *
 * On the ESP32, trace() goes to the serial port (UART0, 115200 baud) in a release build and to
 * xsbug in a debug build; in Moddable's simulator it goes to mcsim's standard output.
 * "t" is the device's clock, which reads 1970 until something sets the time (nothing in this
 * firmware does yet; wss:// will need SNTP for certificate dates).
 *
 * Portable on purpose: the print function and the clock are passed in (main.ts gives trace
 * and Date), so the format is tested on Node against createJsonLog itself.
 */
import type { Log, LogLevel } from "../../src/shared/host.js";

const LEVEL_RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface TraceLogOptions {
  /** Prints one complete line (the text ends with "\n"); on Moddable, trace. */
  print: (line: string) => void;
  /** Least important level printed (default "info"). */
  minLevel?: LogLevel;
  /** The time written as "t" (default: the ISO string of the device's clock). */
  now?: () => string;
}

/**
 * A Log printing one JSON line per event at or above `minLevel`. Bytes are shown by length
 * (never dumped), errors by name, code and message, bigints as decimal strings; a field that
 * would hide t, level or event is prefixed with "_". A log call never throws: a field that
 * cannot be serialised (a cycle) is replaced by a note, so logging cannot take the device down.
 */
export function createTraceLog(options: TraceLogOptions): Log {
  const minLevel = options.minLevel ?? "info";
  const threshold = LEVEL_RANK[minLevel];
  if (threshold === undefined) throw new RangeError(`unknown log level ${JSON.stringify(minLevel)}`);
  const print = options.print;
  const now = options.now ?? (() => new Date().toISOString());
  return (level, event, fields) => {
    if ((LEVEL_RANK[level] ?? 0) < threshold) return;
    const record: Record<string, unknown> = { t: now(), level, event };
    if (fields) {
      for (const key of Object.keys(fields)) {
        record[key in record ? `_${key}` : key] = fields[key];
      }
    }
    let line: string;
    try {
      line = JSON.stringify(record, logValue);
    } catch (error) {
      // A cyclic field: say so rather than lose the event or throw into the caller.
      line = JSON.stringify({ t: record.t, level, event, logError: messageOf(error) });
    }
    print(line + "\n");
  };
}

/** JSON.stringify replacer: what createJsonLog shows for bytes, bigints and errors. */
function logValue(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return code === undefined ? { name: value.name, message: value.message } : { name: value.name, code, message: value.message };
  }
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
