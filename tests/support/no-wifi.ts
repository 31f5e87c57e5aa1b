/**
 * A WiFi driver for device tests that configure no WiFi: the device must never use it.
 */
import assert from "node:assert/strict";
import type { WifiDriver } from "../../src/shared/host.js";

export const NO_WIFI: WifiDriver = {
  connect: () => assert.fail("no WiFi is configured"),
  disconnect: () => {},
  onNotify: undefined,
  rssi: () => undefined,
  address: () => undefined,
};
