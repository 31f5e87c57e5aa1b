/**
 * The console in Moddable's simulator (the manifest maps this module in place of console.ts
 * on lin, mac and win): there is no UART, trace() goes to mcsim's standard output, and so
 * there is no Improv WiFi.
 */
import type { ConsoleUart } from "./uart.js";

/** What the device runs on, for Improv's device info. */
export const CONSOLE_PLATFORM = "moddable-simulator";

/** Always why not: the simulator has no UART. */
export function openConsole(): ConsoleUart | string {
  return "Moddable's simulator has no UART: the log goes to mcsim's standard output";
}
