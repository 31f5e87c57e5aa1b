/**
 * The Moddable host's timers and clock (hosts/moddable/timers.ts): delays handed to the SDK's
 * Timer as whole milliseconds, and a clock that only grows over Time.ticks, which wraps on
 * the ESP32 (a signed view of a 32-bit millisecond counter) and can step back in the
 * simulator (the desktop's wall clock).
 */
import assert from "node:assert/strict";
import { createTimers, monotonicClock, type TimerApi } from "../../../hosts/moddable/timers.js";

/** A tick source replaying `values`. */
function ticks(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

describe("Moddable host timers (hosts/moddable/timers.ts)", function () {
  describe("monotonicClock", function () {
    it("counts milliseconds from its creation", function () {
      const now = monotonicClock(ticks(5_000, 5_010, 5_250));
      assert.equal(now(), 10);
      assert.equal(now(), 250);
    });

    it("goes on through the ESP32 counter turning negative (2^31 ms, 24.8 days)", function () {
      const now = monotonicClock(ticks(2_147_483_000, 2_147_483_647, -2_147_483_648, -2_147_483_000));
      assert.equal(now(), 647);
      assert.equal(now(), 648);
      assert.equal(now(), 1_296);
    });

    it("goes on through the counter wrapping to 0 (2^32 ms, 49.7 days)", function () {
      const now = monotonicClock(ticks(-10, -1, 0, 25));
      assert.equal(now(), 9);
      assert.equal(now(), 10);
      assert.equal(now(), 35);
    });

    it("stands still when a wall clock steps back, then counts on", function () {
      const now = monotonicClock(ticks(1_700_000_000_000, 1_700_000_001_000, 1_699_999_999_000, 1_699_999_999_500));
      assert.equal(now(), 1_000);
      assert.equal(now(), 1_000);
      assert.equal(now(), 1_500);
    });
  });

  describe("createTimers", function () {
    function fakeTimer() {
      const set: Array<{ ms: number; callback: () => void }> = [];
      const cleared: unknown[] = [];
      const api: TimerApi = {
        set(callback, ms) {
          set.push({ ms, callback });
          return { handle: set.length };
        },
        clear(id: never) {
          cleared.push(id);
        },
      };
      return { api, set, cleared };
    }

    it("hands the SDK whole, non-negative milliseconds and calls back without arguments", function () {
      const fake = fakeTimer();
      const timers = createTimers(fake.api, () => 0);
      const calls: unknown[][] = [];
      timers.set((...args: unknown[]) => calls.push(args), 12.2);
      timers.set(() => {}, -5);
      timers.set(() => {}, 0);
      assert.deepEqual(fake.set.map((entry) => entry.ms), [13, 0, 0]);
      (fake.set[0]!.callback as (timer: unknown) => void)({ timerObject: true });
      assert.deepEqual(calls, [[]]);
    });

    it("clears what set returned, and ignores undefined", function () {
      const fake = fakeTimer();
      const timers = createTimers(fake.api, () => 0);
      const id = timers.set(() => {}, 10);
      timers.clear(id);
      timers.clear(undefined);
      assert.deepEqual(fake.cleared, [{ handle: 1 }]);
    });

    it("reads its clock from the tick source", function () {
      let tick = 100;
      const timers = createTimers(fakeTimer().api, () => tick);
      tick = 350;
      assert.equal(timers.now(), 250);
    });
  });
});
