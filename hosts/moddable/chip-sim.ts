/**
 * Moddable's simulator (the manifest maps this module as hosts/moddable/chip on lin, mac and
 * win; the ESP32 gets chip.ts): no reset reason (the SDK's resetReason module is the ESP32's
 * alone: reported as "unknown"), and no restart (mcsim cannot restart its program: the reboot
 * request answers "unsupported", and the end of safe mode waits for the next start).
 */
import type { ChipApi } from "./system.js";

export const chipApi: ChipApi = Object.freeze({});
