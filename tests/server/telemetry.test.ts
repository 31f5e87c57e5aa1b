/**
 * The companion server's memory of telemetry sequence numbers (server/telemetry.ts):
 * duplicates and gaps per (device, boot), within a bound.
 */
import assert from "node:assert/strict";
import { TelemetryLedger } from "../../server/telemetry.js";

describe("telemetry ledger (server/telemetry.ts)", function () {
  it("calls the first record of a boot first, then next, duplicate or gap", function () {
    const ledger = new TelemetryLedger();
    assert.deepEqual(
      [5, 6, 6, 4, 9, 10].map((seq) => {
        const { outcome, missed } = ledger.record("sim-1", "b1", seq);
        return [outcome, missed];
      }),
      [
        ["first", 0],
        ["next", 0],
        ["duplicate", 0],
        ["duplicate", 0],
        ["gap", 2],
        ["next", 0],
      ],
    );
    assert.deepEqual(ledger.get("sim-1", "b1"), {
      device: "sim-1",
      boot: "b1",
      firstSeq: 5,
      highestSeq: 10,
      received: 6,
      duplicates: 2,
      gaps: 1,
      missed: 2,
    });
  });

  it("keeps each (device, boot) apart: a reboot starts a new sequence", function () {
    const ledger = new TelemetryLedger();
    ledger.record("sim-1", "b1", 50);
    assert.equal(ledger.record("sim-1", "b2", 1).outcome, "first");
    assert.equal(ledger.record("sim-2", "b1", 1).outcome, "first");
    assert.equal(ledger.record("sim-1", "b1", 50).outcome, "duplicate");
    // Length-prefixed keys: these two pairs must not collide.
    ledger.record("a\u0000b", "c", 1);
    assert.equal(ledger.record("a", "b\u0000c", 1).outcome, "first");
  });

  it("remembers at most maxBoots pairs, forgetting the least recently heard first", function () {
    const ledger = new TelemetryLedger(3);
    ledger.record("d", "1", 1);
    ledger.record("d", "2", 1);
    ledger.record("d", "3", 1);
    ledger.record("d", "1", 2); // heard again: now the most recent
    ledger.record("d", "4", 1); // evicts "2"
    assert.equal(ledger.size, 3);
    assert.equal(ledger.evicted, 1);
    assert.equal(ledger.get("d", "2"), undefined);
    assert.equal(ledger.get("d", "1")?.highestSeq, 2);
    for (let boot = 0; boot < 10_000; boot++) ledger.record("d", `x${boot}`, 1);
    assert.equal(ledger.size, 3, "bounded however many boots come and go");
  });

  it("refuses a bound that is not a positive integer", function () {
    assert.throws(() => new TelemetryLedger(0), /maxBoots must be a positive integer, got 0/);
    assert.throws(() => new TelemetryLedger(1.5), /got 1.5/);
  });
});
