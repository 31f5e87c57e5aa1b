/**
 * Moddable's simulator (the manifest maps this module as hosts/moddable/firmware on lin, mac
 * and win; the ESP32 gets firmware.ts): no firmware updates. The simulator has no app
 * partitions to write and cannot restart its program into another (an offer is then unknown:
 * the device does not announce ota_offer).
 */
import type { FirmwareHost } from "../../src/shared/host.js";

export function firmwareHost(_resetReason: () => string): FirmwareHost | undefined {
  return undefined;
}
