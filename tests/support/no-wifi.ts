/** A WiFi driver for unit tests of a device configured without WiFi: using it fails the test. */
import assert from "node:assert/strict";
import type { WifiDriver } from "../../src/shared/host.js";

export const NO_WIFI: WifiDriver = {
  connect: () => assert.fail("no WiFi is configured"),
  disconnect: () => {},
  onNotify: undefined,
  rssi: () => undefined,
  address: () => undefined,
};
