/**
 * The ESP32's firmware updates (the manifest maps this module as hosts/moddable/firmware on
 * esp32 only; the simulator gets firmware-sim.ts, which has none): firmware-store.ts's store
 * and checks over the SDK's ECMA-419 flash (the next OTA partition), its crypt modules
 * (ECDSA over native arithmetic, Digest) and the ESP-IDF calls of firmware.c.
 */
/// <reference path="./sdk-crypt.d.ts" />
import Flash from "embedded:storage/flash";
import { Digest } from "crypt";
import ECDSA from "ecdsa";
import Curve from "curve";
import ECPoint from "ecp";
import type { FirmwareHost } from "../../src/shared/host.js";
import { createFirmwareHost, FlashFirmwareStore, type EcdsaApi, type FlashApi, type OtaApi } from "./firmware-store.js";

const ota: OtaApi = Object.freeze({
  state: native("xs_moorline_ota_state") as () => number,
  rolledBack: native("xs_moorline_ota_rolled_back") as () => boolean,
  activate: native("xs_moorline_ota_activate") as () => void,
  markValid: native("xs_moorline_ota_mark_valid") as () => void,
  rollback: native("xs_moorline_ota_rollback") as () => void,
});

/**
 * The FirmwareHost of this chip; `resetReason` names this boot's reset (after a rollback: why).
 * Undefined when the partition table has no second app partition (a build without the
 * manifest's ota define): the firmware then takes no updates.
 */
export function firmwareHost(resetReason: () => string): FirmwareHost | undefined {
  let flash: FlashApi;
  try {
    flash = Flash.open({ path: "nextota", mode: "r+" }) as unknown as FlashApi;
  } catch {
    return undefined;
  }
  const store = new FlashFirmwareStore(flash, ota, resetReason);
  return createFirmwareHost(store, { ECDSA, Curve, ECPoint } as unknown as EcdsaApi, Digest);
}
