/**
 * hosts/moddable/system.ts: the chip's SystemHost over what the platform module gives: the
 * ESP32's esp_reset_reason() number named, restart passed on; the simulator's nothing.
 */
import assert from "node:assert/strict";
import { createSystemHost } from "../../../hosts/moddable/system.js";

describe("Moddable SystemHost (hosts/moddable/system.ts)", function () {
  it("names the ESP32's reset reason (esp_reset_reason_t) and restarts with esp_restart()", function () {
    let code = 6;
    let restarts = 0;
    const system = createSystemHost({ resetReason: () => ({ reason: code }), restart: () => restarts++ });
    assert.equal(system.resetReason(), "watchdog", "6: task WDT");
    code = 4;
    assert.equal(system.resetReason(), "panic");
    code = 1;
    assert.equal(system.resetReason(), "power_on");
    code = 42;
    assert.equal(system.resetReason(), "unknown", "a number the SDK does not know");
    system.restart!();
    assert.equal(restarts, 1);
  });

  it("in the simulator: the reason is unknown and there is no restart (reboot answers unsupported)", function () {
    const system = createSystemHost({});
    assert.equal(system.resetReason(), "unknown");
    assert.equal(system.restart, undefined);
  });
});
