/**
 * The device's log on Moddable: the firmware's log format (src/shared/log-format.ts, the same
 * one JSON object per line as the Node host's createJsonLog) printed through trace(), so
 * `npm run monitor` and `npm start` read a real device and a simulated one the same way:
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
import { createLog } from "../../src/shared/log-format.js";

export interface TraceLogOptions {
  /** Prints one complete line (the text ends with "\n"); on Moddable, trace. */
  print: (line: string) => void;
  /** Least important level printed (default "info"). */
  minLevel?: LogLevel;
  /** The time written as "t" (default: the ISO string of the device's clock). */
  now?: () => string;
}

/**
 * A Log printing one JSON line per event at or above `minLevel` (createLog: bytes by length,
 * errors by name, code and message; a log call never throws, so logging cannot take the
 * device down).
 */
export function createTraceLog(options: TraceLogOptions): Log {
  return createLog({
    print: options.print,
    ...(options.minLevel !== undefined ? { minLevel: options.minLevel } : {}),
    now: options.now ?? (() => new Date().toISOString()),
  });
}
