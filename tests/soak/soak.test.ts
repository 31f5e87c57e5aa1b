/**
 * The soak (issue 17): one device for a simulated week on a virtual clock, on Node and inside
 * XS (tests/support/xs/soak/world.ts: telemetry every 10 s, requests from the server, WiFi
 * drops, server restarts, half-open links and a slow server at seeded random times). The
 * world's verdict must be clean (every record delivered or dropped by the documented policy,
 * no duplicate but resends, every request on a live connection answered, no backoff under
 * its floor), the trouble must really have happened, the XS heap must be back to its size of
 * the first hour, and both engines must live the same week. `npm run soak -- --days N --seed S`
 * runs longer ones.
 */
import assert from "node:assert/strict";
import { ENGINES } from "../support/engines.js";
import { DEFAULT_BACKOFF } from "../../src/device/backoff.js";
import { describeRun, runSoak, type SoakRun } from "./run.js";

const SEED = 17;
const DAYS = 7;
/** Live slots the XS heap may differ by between the first hour and the end (maps' spare room). */
const HEAP_SLACK_SLOTS = 256;

describe(`the soak: one device, ${DAYS} simulated days of trouble (tests/soak)`, function () {
  this.timeout(300_000);
  const runs: SoakRun[] = [];

  for (const engine of ENGINES) {
    it(`[${engine}] keeps every promise for a week`, async function () {
      const run = await runSoak(engine, { seed: SEED, days: DAYS });
      runs.push(run);
      const s = run.summary;
      const report = describeRun(run);
      assert.deepEqual(s.problems, [], report);
      assert.equal(s.simulatedMs, DAYS * 86_400_000, report);
      assert.equal(s.telemetry.made, (DAYS * 86_400_000) / 10_000, "a record every 10 s");
      assert.ok(s.telemetry.delivered + s.telemetry.droppedByOutbox >= s.telemetry.made - s.telemetry.unacknowledgedAtEnd, report);
      assert.ok(s.requests.answered > 1000, report);
      assert.ok(s.telemetry.resent > 0, `no record had to be resent (acks lost on a one-way half-open link): ${report}`);
      for (const [kind, count] of Object.entries(s.trouble)) assert.ok(count > 0, `no ${kind} happened: ${report}`);
      assert.ok(s.connections.heartbeatTimeouts > 0, `the half-open links were caught by the heartbeat: ${report}`);
      assert.ok(s.connections.shortestBackoffMs >= DEFAULT_BACKOFF.minMs, report);
      if (run.heap) {
        assert.ok(run.heap.endSlots <= run.heap.startSlots + HEAP_SLACK_SLOTS, `the XS heap grew: ${report}`);
      }
    });
  }

  it("lives the same week on both engines", function () {
    if (runs.length < 2) this.skip();
    const [a, b] = runs;
    assert.deepEqual({ ...a!.summary, warnings: a!.summary.warnings }, { ...b!.summary, warnings: b!.summary.warnings });
  });
});
