/**
 * The ESP32's own (the manifest maps this module as hosts/moddable/chip on esp32 only; the
 * simulator gets chip-sim.ts): the reset reason from the SDK's resetReason module (its native
 * xs_esp32_reset_reason: ESP-IDF's esp_reset_reason(); its JavaScript table of names is not
 * used, src/health/reset-reason.ts names the numbers) and esp_restart(), which the SDK does
 * not expose to scripts (chip.c: a few lines of C).
 */
import type { ChipApi } from "./system.js";

/** esp_reset_reason() as its number (esp_reset_reason_t), from the SDK's resetReason.c. */
const resetReasonCode: () => number = native("xs_esp32_reset_reason");
/** esp_restart() (hosts/moddable/chip.c): the run ends here; the next boot reports "software". */
const restart: () => void = native("xs_moorline_restart");

export const chipApi: ChipApi = Object.freeze({ resetReason: () => ({ reason: resetReasonCode() }), restart });
