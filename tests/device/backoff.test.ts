/**
 * The retry policy, a pure function: exponential growth of the jitter window up to a cap,
 * full jitter inside it, a floor so nothing spins, and no overflow however long the outage.
 */
import assert from "node:assert/strict";

import {
  DEFAULT_BACKOFF,
  backoffDelay,
  randomUnit,
  resolveBackoff,
  unauthorizedDelay,
  type BackoffPolicy,
} from "../../src/device/backoff.js";
import { MAX_TIMEOUT_MS } from "../../src/websocket/constants.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { seededRandom } from "../support/seeded-random.js";

/** The largest double below 1: the top of full jitter's range. */
const JUST_BELOW_ONE = 1 - 2 ** -53;

const POLICY: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 1_000, capMs: 60_000, minMs: 100 });

function assertOptionError(action: () => unknown, name: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof WebSocketError, `a WebSocketError, got ${String(error)}`);
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.match(error.message, new RegExp(`^option ${name.replace(/\./g, "\\.")} `));
    return true;
  });
}

describe("backoff", function () {
  describe("backoffDelay(attempt, policy, random)", function () {
    it("draws the first retry from [minMs, baseMs)", function () {
      assert.equal(backoffDelay(0, POLICY, 0), 100, "random 0 gives the floor");
      assert.equal(backoffDelay(0, POLICY, 0.5), 500);
      assert.equal(backoffDelay(0, POLICY, JUST_BELOW_ONE), 999, "random just below 1 stays below baseMs");
    });

    it("doubles the window with each attempt", function () {
      const tops = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, POLICY, JUST_BELOW_ONE));
      assert.deepEqual(tops, [999, 1_999, 3_999, 7_999, 15_999, 31_999]);
      const middles = [0, 1, 2, 3].map((attempt) => backoffDelay(attempt, POLICY, 0.5));
      assert.deepEqual(middles, [500, 1_000, 2_000, 4_000]);
    });

    it("never exceeds capMs once the window reaches it", function () {
      for (const attempt of [6, 7, 10, 26, 27, 31, 32, 53, 64, 1_000]) {
        assert.equal(backoffDelay(attempt, POLICY, JUST_BELOW_ONE), 59_999, `attempt ${attempt}`);
        assert.equal(backoffDelay(attempt, POLICY, 0.5), 30_000, `attempt ${attempt}`);
      }
    });

    it("never falls below minMs, however small the draw", function () {
      for (const attempt of [0, 1, 5, 100]) {
        assert.equal(backoffDelay(attempt, POLICY, 0), 100);
        assert.equal(backoffDelay(attempt, POLICY, Number.MIN_VALUE), 100);
      }
      // 0.05 * 1000 = 50 < minMs: the floor applies; 0.15 * 1000 = 150 does not need it.
      assert.equal(backoffDelay(0, POLICY, 0.05), 100);
      assert.equal(backoffDelay(0, POLICY, 0.15), 150);
    });

    it("stays a finite integer in [minMs, capMs] for huge attempts (no overflow, no NaN)", function () {
      for (const attempt of [1_000, 1e6, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, Infinity]) {
        for (const random of [0, 0.25, 0.5, JUST_BELOW_ONE]) {
          const delay = backoffDelay(attempt, POLICY, random);
          assert.ok(Number.isInteger(delay), `attempt ${attempt}, random ${random}: ${delay}`);
          assert.ok(delay >= 100 && delay <= 60_000, `attempt ${attempt}, random ${random}: ${delay}`);
        }
        assert.equal(backoffDelay(attempt, POLICY, JUST_BELOW_ONE), 59_999);
      }
    });

    it("is exhaustively within bounds and equal to the formula for attempts 0..64", function () {
      const policies: BackoffPolicy[] = [
        POLICY,
        { baseMs: 1, capMs: 1, minMs: 0 },
        { baseMs: 1, capMs: MAX_TIMEOUT_MS, minMs: 0 },
        { baseMs: 100, capMs: 1_000, minMs: 100 },
        { baseMs: MAX_TIMEOUT_MS, capMs: MAX_TIMEOUT_MS, minMs: MAX_TIMEOUT_MS },
        { baseMs: 7, capMs: 1_000_003, minMs: 3 },
      ];
      const randoms = [0, 1e-9, 0.001, 0.1, 0.25, 0.333, 0.5, 0.75, 0.9, 0.999999, JUST_BELOW_ONE];
      for (const policy of policies) {
        for (let attempt = 0; attempt <= 64; attempt++) {
          let previous = -1;
          for (const random of randoms) {
            const delay = backoffDelay(attempt, policy, random);
            const window = Math.min(policy.capMs, policy.baseMs * 2 ** attempt);
            const expected = Math.max(policy.minMs, Math.floor(random * window));
            const where = `${JSON.stringify(policy)} attempt ${attempt} random ${random}`;
            assert.equal(delay, expected, where);
            assert.ok(Number.isInteger(delay) && delay >= policy.minMs && delay <= policy.capMs, where);
            assert.ok(delay >= previous, `monotonic in random: ${where}`);
            previous = delay;
          }
        }
      }
    });

    it("never shrinks as attempts grow (for the same draw)", function () {
      for (const random of [0, 0.3, 0.7, JUST_BELOW_ONE]) {
        let previous = 0;
        for (let attempt = 0; attempt < 100; attempt++) {
          const delay = backoffDelay(attempt, POLICY, random);
          assert.ok(delay >= previous, `attempt ${attempt}, random ${random}`);
          previous = delay;
        }
      }
    });

    it("treats out-of-contract attempts as the nearest valid one instead of failing", function () {
      assert.equal(backoffDelay(-1, POLICY, JUST_BELOW_ONE), 999, "negative counts as 0");
      assert.equal(backoffDelay(-Infinity, POLICY, JUST_BELOW_ONE), 999);
      assert.equal(backoffDelay(Number.NaN, POLICY, JUST_BELOW_ONE), 999, "NaN counts as 0");
      assert.equal(backoffDelay(2.9, POLICY, JUST_BELOW_ONE), 3_999, "fractions count as their floor");
    });

    it("treats out-of-range random numbers as the nearest valid one instead of returning NaN", function () {
      assert.equal(backoffDelay(0, POLICY, Number.NaN), 100, "NaN counts as 0");
      assert.equal(backoffDelay(0, POLICY, -0.5), 100, "negative counts as 0");
      assert.equal(backoffDelay(0, POLICY, 1), 999, "1 counts as just below 1");
      assert.equal(backoffDelay(0, POLICY, 42), 999);
      assert.equal(backoffDelay(0, POLICY, Infinity), 999);
    });

    it("is pure: same inputs, same output, policy untouched", function () {
      const policy = Object.freeze({ ...POLICY });
      assert.equal(backoffDelay(3, policy, 0.42), backoffDelay(3, policy, 0.42));
      assert.deepEqual(policy, POLICY);
    });

    it("spreads retries over the whole window (full jitter)", function () {
      // 20 000 draws from a seeded source through randomUnit, at attempt 3 (window 8000 ms).
      const random = seededRandom(0x5eed);
      const attempt = 3;
      const window = 8_000;
      const bucketCount = 16;
      const buckets = new Array<number>(bucketCount).fill(0);
      const draws = 20_000;
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < draws; i++) {
        const delay = backoffDelay(attempt, POLICY, randomUnit(random));
        sum += delay;
        min = Math.min(min, delay);
        max = Math.max(max, delay);
        buckets[Math.floor((delay / window) * bucketCount)]!++;
      }
      const expectedPerBucket = draws / bucketCount;
      for (let b = 0; b < bucketCount; b++) {
        assert.ok(buckets[b]! > 0, `bucket ${b} is empty: ${buckets.join(",")}`);
        // Uniform: each bucket within 15% of its share (about 6 standard deviations).
        assert.ok(
          Math.abs(buckets[b]! - expectedPerBucket) < expectedPerBucket * 0.15,
          `bucket ${b} holds ${buckets[b]}, expected about ${expectedPerBucket}: ${buckets.join(",")}`,
        );
      }
      const mean = sum / draws;
      assert.ok(Math.abs(mean - window / 2) < window * 0.02, `mean ${mean}, expected about ${window / 2}`);
      assert.ok(min >= 100 && min < 200, `the smallest draw ${min} is near the floor`);
      assert.ok(max < window && max > window - 100, `the largest draw ${max} is near the top`);
    });

    it("gives devices with different random sources different delays (no herd)", function () {
      const delays = new Set<number>();
      for (let device = 1; device <= 50; device++) {
        delays.add(backoffDelay(5, POLICY, randomUnit(seededRandom(device * 7919))));
      }
      assert.ok(delays.size >= 45, `50 devices drew only ${delays.size} distinct delays`);
    });
  });

  describe("unauthorizedDelay(policy, random): refused credentials wait at the long end", function () {
    it("draws from [capMs / 2, capMs]: 30 to 60 s by default", function () {
      assert.equal(unauthorizedDelay(POLICY, 0), 30_000);
      assert.equal(unauthorizedDelay(POLICY, 0.5), 45_000);
      assert.equal(unauthorizedDelay(POLICY, JUST_BELOW_ONE), 60_000);
    });

    it("rounds half of an odd cap up, and never goes below minMs or above capMs", function () {
      const odd = { baseMs: 1, capMs: 7, minMs: 0 };
      const seen = new Set<number>();
      for (let i = 0; i < 1000; i++) seen.add(unauthorizedDelay(odd, i / 1000));
      assert.deepEqual([...seen].sort((a, b) => a - b), [4, 5, 6, 7]);
      assert.equal(unauthorizedDelay({ baseMs: 100, capMs: 100, minMs: 100 }, 0), 100);
      assert.equal(unauthorizedDelay({ baseMs: 1, capMs: 1, minMs: 0 }, 0), 1);
    });

    it("makes out-of-contract randoms harmless, as backoffDelay does", function () {
      assert.equal(unauthorizedDelay(POLICY, NaN), 30_000);
      assert.equal(unauthorizedDelay(POLICY, -3), 30_000);
      assert.equal(unauthorizedDelay(POLICY, 1), 60_000);
      assert.equal(unauthorizedDelay(POLICY, Infinity), 60_000);
    });

    it("is always longer than half of what the first failures wait, over many seeded draws", function () {
      const random = seededRandom(777);
      for (let i = 0; i < 10_000; i++) {
        const delay = unauthorizedDelay(POLICY, randomUnit(random));
        assert.ok(delay >= POLICY.capMs / 2 && delay <= POLICY.capMs, String(delay));
      }
    });
  });

  describe("resolveBackoff(partial, name)", function () {
    it("returns the defaults (a fresh copy) when nothing is given", function () {
      const policy = resolveBackoff(undefined, "backoff");
      assert.deepEqual(policy, { baseMs: 1_000, capMs: 60_000, minMs: 100 });
      assert.deepEqual(policy, { ...DEFAULT_BACKOFF });
      assert.notEqual(policy, DEFAULT_BACKOFF);
    });

    it("merges a partial policy over the defaults", function () {
      assert.deepEqual(resolveBackoff({ baseMs: 200 }, "backoff"), { baseMs: 200, capMs: 60_000, minMs: 100 });
      assert.deepEqual(resolveBackoff({ capMs: 5_000, minMs: 0 }, "backoff"), { baseMs: 1_000, capMs: 5_000, minMs: 0 });
      assert.deepEqual(resolveBackoff({}, "backoff"), { ...DEFAULT_BACKOFF });
    });

    it("accepts the extremes of every range", function () {
      assert.deepEqual(resolveBackoff({ baseMs: 1, capMs: 1, minMs: 0 }, "b"), { baseMs: 1, capMs: 1, minMs: 0 });
      const top = { baseMs: MAX_TIMEOUT_MS, capMs: MAX_TIMEOUT_MS, minMs: MAX_TIMEOUT_MS };
      assert.deepEqual(resolveBackoff(top, "b"), top);
    });

    it("merges over other defaults when given them", function () {
      const wifi = { baseMs: 2_000, capMs: 120_000, minMs: 500 };
      assert.deepEqual(resolveBackoff(undefined, "backoff", wifi), wifi);
      assert.deepEqual(resolveBackoff({ minMs: 0 }, "backoff", wifi), { ...wifi, minMs: 0 });
    });

    it("rejects something that is not an object, naming the option", function () {
      for (const bad of [null, 5, "fast", true, [1, 2]]) {
        assertOptionError(() => resolveBackoff(bad, "backoff"), "backoff");
      }
    });

    it("rejects an unknown field, naming it (a typo must not be ignored)", function () {
      assertOptionError(() => resolveBackoff({ maxMs: 5 }, "backoff"), "backoff.maxMs");
      assertOptionError(() => resolveBackoff({ baseMS: 5 }, "wifi.backoff"), "wifi.backoff.baseMS");
    });

    for (const field of ["baseMs", "capMs", "minMs"] as const) {
      it(`rejects a bad ${field}, naming it`, function () {
        const bads: unknown[] = [-1, 1.5, Number.NaN, Infinity, MAX_TIMEOUT_MS + 1, "100", null, {}, 2 ** 53];
        for (const bad of bads) {
          assertOptionError(() => resolveBackoff({ [field]: bad }, "backoff"), `backoff.${field}`);
        }
      });
    }

    it("rejects baseMs 0 (the window would never grow)", function () {
      assertOptionError(() => resolveBackoff({ baseMs: 0, minMs: 0 }, "backoff"), "backoff.baseMs");
    });

    it("requires minMs <= baseMs <= capMs, naming the field that was given", function () {
      assertOptionError(() => resolveBackoff({ minMs: 2_000 }, "backoff"), "backoff.minMs");
      assertOptionError(() => resolveBackoff({ baseMs: 50 }, "backoff"), "backoff.baseMs");
      assertOptionError(() => resolveBackoff({ capMs: 500 }, "backoff"), "backoff.capMs");
      assertOptionError(() => resolveBackoff({ baseMs: 90_000 }, "backoff"), "backoff.baseMs");
      assertOptionError(() => resolveBackoff({ baseMs: 500, capMs: 400, minMs: 0 }, "backoff"), "backoff.capMs");
      assert.throws(() => resolveBackoff({ capMs: 500 }, "backoff"), /at least backoff\.baseMs \(1000\)/);
    });
  });

  describe("randomUnit(random)", function () {
    function fixed(bytes: number[]): (into: Uint8Array) => void {
      return (into) => {
        assert.equal(into.length, 4, "draws exactly 32 bits");
        into.set(bytes);
      };
    }

    it("maps 32 random bits onto [0, 1)", function () {
      assert.equal(randomUnit(fixed([0, 0, 0, 0])), 0);
      assert.equal(randomUnit(fixed([0x80, 0, 0, 0])), 0.5);
      assert.equal(randomUnit(fixed([0x40, 0, 0, 0])), 0.25);
      assert.equal(randomUnit(fixed([0, 0, 0, 1])), 2 ** -32);
      const top = randomUnit(fixed([0xff, 0xff, 0xff, 0xff]));
      assert.equal(top, (2 ** 32 - 1) / 2 ** 32);
      assert.ok(top < 1);
    });

    it("fills a fresh buffer each time (a host keeping it cannot change later draws)", function () {
      const seen: Uint8Array[] = [];
      const source = (into: Uint8Array) => {
        seen.push(into);
        into.fill(0x11);
      };
      randomUnit(source);
      randomUnit(source);
      assert.notEqual(seen[0], seen[1]);
    });

    it("stays in [0, 1) over many seeded draws", function () {
      const random = seededRandom(12345);
      for (let i = 0; i < 10_000; i++) {
        const unit = randomUnit(random);
        assert.ok(unit >= 0 && unit < 1, String(unit));
      }
    });
  });

});
