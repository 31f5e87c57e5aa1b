/**
 * The console UART on the ESP32 (the manifest maps this module there; console-sim.ts in
 * Moddable's simulator): UART0 opened as the firmware's own with the SDK's ECMA-419
 * `embedded:io/serial`, for the log and Improv WiFi (uart.ts). A debug or instrumented build
 * keeps UART0 for xsbug or the SDK's console: then this says why, and the log stays on trace().
 */
import Serial from "embedded:io/serial";
import config from "mc/config";
import { consolePins, ConsoleUart, type Ecma419SerialConstructor } from "./uart.js";

/** What the device runs on, for Improv's device info. */
export const CONSOLE_PLATFORM = "esp32";

/** UART0 as the firmware's console, or why it cannot be (a string for the log). */
export function openConsole(): ConsoleUart | string {
  try {
    return new ConsoleUart(Serial as unknown as Ecma419SerialConstructor, consolePins(config as Readonly<Record<string, unknown>>));
  } catch (error) {
    return (
      `UART0 is taken (${error instanceof Error ? error.message : String(error)}): a debug (-d) or instrumented (-i) build ` +
      "keeps it for xsbug or the console, so Improv WiFi needs a release build"
    );
  }
}
