/**
 * Why the previous run of the firmware ended: one vocabulary for every host, named after the
 * ESP32's own reset reasons (ESP-IDF esp_reset_reason_t, which the SDK's resetReason module
 * reports), plus the one thing only the desktop can tell ("killed"). Hello and status carry the
 * name as `reset` (docs/protocol.md).
 */

export const ResetReason = Object.freeze({
  /** The platform cannot tell (ESP_RST_UNKNOWN; Moddable's simulator). */
  UNKNOWN: "unknown",
  /**
   * Powered on (ESP_RST_POWERON). On the chip this includes a power cut: it cannot tell one
   * from switching on. On the desktop: the first start, or a start after a clean stop.
   */
  POWER_ON: "power_on",
  /** Desktop only: the previous process died without stopping (SIGKILL, the desktop's power cut). */
  KILLED: "killed",
  /** The reset pin (ESP_RST_EXT): the board's EN button. */
  EXTERNAL: "external",
  /** The firmware restarted itself (ESP_RST_SW: esp_restart()): a reboot request, leaving safe mode. */
  SOFTWARE: "software",
  /** An exception or fault nobody caught (ESP_RST_PANIC; an uncaught exception in XS aborts). */
  PANIC: "panic",
  /** The task watchdog (ESP_RST_TASK_WDT): one turn of the event loop ran too long. */
  WATCHDOG: "watchdog",
  /** The interrupt watchdog (ESP_RST_INT_WDT): interrupts were blocked too long. */
  INTERRUPT_WATCHDOG: "interrupt_watchdog",
  /** Another watchdog (ESP_RST_WDT). */
  OTHER_WATCHDOG: "other_watchdog",
  /** Woken from deep sleep (ESP_RST_DEEPSLEEP). */
  DEEP_SLEEP: "deep_sleep",
  /** The supply voltage dropped too low (ESP_RST_BROWNOUT). */
  BROWNOUT: "brownout",
  /** Reset over SDIO (ESP_RST_SDIO). */
  SDIO: "sdio",
} as const);

export type ResetReasonValue = (typeof ResetReason)[keyof typeof ResetReason];

/** Every name, for checks. */
export const RESET_REASONS: readonly string[] = Object.freeze(Object.keys(ResetReason).map((key) => ResetReason[key as keyof typeof ResetReason]));

/**
 * ESP-IDF's esp_reset_reason_t, by number (esp_system.h, the order the SDK's resetReason module
 * lists them in): 0 unknown, 1 power-on, 2 external pin, 3 software, 4 panic, 5 interrupt WDT,
 * 6 task WDT, 7 other WDT, 8 deep sleep, 9 brownout, 10 SDIO.
 */
const ESP_RESET_REASONS: readonly ResetReasonValue[] = Object.freeze([
  ResetReason.UNKNOWN,
  ResetReason.POWER_ON,
  ResetReason.EXTERNAL,
  ResetReason.SOFTWARE,
  ResetReason.PANIC,
  ResetReason.INTERRUPT_WATCHDOG,
  ResetReason.WATCHDOG,
  ResetReason.OTHER_WATCHDOG,
  ResetReason.DEEP_SLEEP,
  ResetReason.BROWNOUT,
  ResetReason.SDIO,
]);

/** The name of an esp_reset_reason_t number; "unknown" for anything else. */
export function espResetReason(code: unknown): ResetReasonValue {
  return typeof code === "number" && Number.isInteger(code) && code >= 0 && code < ESP_RESET_REASONS.length
    ? ESP_RESET_REASONS[code]!
    : ResetReason.UNKNOWN;
}
