/**
 * The ESP32 budget of the whole device (bench/device-budget.ts): what XS holds from the system
 * under manifest.json's creation sizes for a given need, as XS grows its heaps.
 */
import assert from "node:assert/strict";
import { esp32Budget, ESP32_XS_BYTES } from "../../bench/device-budget.js";

const creation = { chunk: { initial: 40 * 1024, incremental: 2048 }, heap: { initial: 2048, incremental: 64 }, stack: 512 };

describe("the device's ESP32 budget (bench/device-budget.ts)", () => {
  it("holds the initial sizes when the need leaves an increment of slots free and the chunks fit", function () {
    const budget = esp32Budget(creation, { slots: 2048 - 64, chunkBytes: 40 * 1024, largestChunk: 16 * 1024 });
    assert.equal(budget.heapSlots, 2048);
    assert.equal(budget.chunkBytes, 40 * 1024);
    assert.equal(budget.totalBytes, 2048 * 16 + 40 * 1024 + 512 * 16);
    assert.equal(budget.marginBytes, ESP32_XS_BYTES - budget.totalBytes);
    assert.equal(budget.fits, true);
  });

  it("grows the slot heap by whole increments once less than one would stay free", function () {
    const budget = esp32Budget(creation, { slots: 2048 - 63, chunkBytes: 0, largestChunk: 0 });
    assert.equal(budget.heapSlots, 2048 + 64);
    assert.equal(budget.heapIncrements, 1);
  });

  it("grows the chunk heap by a block of at least the chunk asked for: a 16 KiB buffer adds 16 KiB and more", function () {
    const budget = esp32Budget(creation, { slots: 0, chunkBytes: 40 * 1024 + 100, largestChunk: 16 * 1024 });
    // 16 KiB and the block's header, rounded up to the 2 KiB increment.
    assert.equal(budget.chunkGrowthBytes, 18 * 1024);
    const small = esp32Budget(creation, { slots: 0, chunkBytes: 40 * 1024 + 100, largestChunk: 0 });
    assert.equal(small.chunkGrowthBytes, 2048);
  });

  it("says it does not fit when the total passes what an ESP32 without PSRAM leaves XS", function () {
    const budget = esp32Budget(creation, { slots: 4000, chunkBytes: 60 * 1024, largestChunk: 16 * 1024 });
    assert.equal(budget.fits, false);
    assert.ok(budget.marginBytes < 0);
  });
});
