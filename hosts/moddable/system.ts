/**
 * The chip's SystemHost on Moddable (src/shared/host.ts, src/health/): the reset reason and
 * restart, over what the platform module (chip.ts on the ESP32, chip-sim.ts in the simulator,
 * chosen by the manifest) gives. Portable on purpose, so it is tested on Node.
 */
import type { SystemHost } from "../../src/shared/host.js";
import { espResetReason, ResetReason } from "../../src/health/reset-reason.js";

/** What a platform module gives: each part absent where the platform has none. */
export interface ChipApi {
  /** esp_reset_reason() as a number (esp_reset_reason_t), from the SDK's resetReason module. */
  resetReason?: () => { reason: number };
  /** esp_restart(): never returns. */
  restart?: () => void;
}

/** The SystemHost over `chip`: the ESP32's reason by name, "unknown" where there is none. */
export function createSystemHost(chip: ChipApi): SystemHost {
  const read = chip.resetReason;
  const system: SystemHost = {
    resetReason: () => (read ? espResetReason(read().reason) : ResetReason.UNKNOWN),
  };
  if (chip.restart) system.restart = chip.restart;
  return system;
}
