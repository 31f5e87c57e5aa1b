/**
 * src/device/telemetry.ts: the periodic telemetry records, their outbox and their
 * acknowledgement, through the JSON loop as a server sees them (tests/support/device-app.ts).
 */
import assert from "node:assert/strict";
import { DEFAULT_APP_LIMITS } from "../../src/device/app.js";
import { BOOT, harness, onlyReply, type Message } from "../support/device-app.js";

describe("telemetry", () => {
  it("is numbered from 1, stamped with boot and uptime, sent at once when connected", () => {
    const h = harness({ readTelemetry: () => ({ temperature: 21.5 }) });
    h.app.start();
    h.app.connected();
    h.take();
    h.clock.advance(10_000);
    h.clock.advance(10_000);
    assert.deepEqual(h.take(), [
      { type: "telemetry", boot: BOOT, seq: 1, uptimeMs: 10_000, data: { temperature: 21.5 } },
      { type: "telemetry", boot: BOOT, seq: 2, uptimeMs: 20_000, data: { temperature: 21.5 } },
    ]);
    assert.equal(h.app.counters.telemetrySeq, 2);
    assert.equal(h.app.counters.outboxSize, 2);
  });

  it("by default carries freeMemory and the composition's status fields", () => {
    const h = harness({ status: () => ({ rssi: -61 }) });
    h.app.start();
    h.app.connected();
    h.take();
    h.clock.advance(10_000);
    assert.deepEqual(h.take()[0].data, { freeMemory: 81234, rssi: -61 });
  });

  it("acks remove records cumulatively; an ack of another boot is ignored", () => {
    const h = harness();
    h.app.start();
    h.app.connected();
    h.clock.advance(40_000);
    h.take();
    assert.equal(h.app.counters.outboxSize, 4);
    assert.deepEqual(h.feed({ type: "ack", boot: "another", seq: 4 }), []);
    assert.equal(h.app.counters.outboxSize, 4);
    assert.equal(h.app.counters.ignored, 1);
    assert.deepEqual(h.feed({ type: "ack", boot: BOOT, seq: 3 }), []);
    assert.equal(h.app.counters.outboxSize, 1);
    assert.deepEqual(h.events("telemetry_acked").map((l) => [l.fields?.seq, l.fields?.removed]), [[3, 3]]);
    h.feed({ type: "ack", boot: BOOT, seq: 4 });
    assert.equal(h.app.counters.outboxSize, 0);
  });

  it("unacked records are sent again after a reconnect, oldest first, with the same seq", () => {
    const h = harness();
    h.app.start();
    h.app.connected();
    h.clock.advance(30_000); // seq 1..3 sent
    h.feed({ type: "ack", boot: BOOT, seq: 1 });
    h.take();
    h.app.disconnected();
    h.accept = false; // the link is gone: send() refuses
    h.clock.advance(20_000); // seq 4, 5 made while disconnected
    assert.deepEqual(h.texts, []);
    h.accept = true;
    h.app.connected();
    const sent = h.take();
    assert.deepEqual(sent.map((m) => [m.type, m.seq]), [
      ["hello", undefined],
      ["telemetry", 2],
      ["telemetry", 3],
      ["telemetry", 4],
      ["telemetry", 5],
    ]);
    assert.equal(sent[1].uptimeMs, 20_000, "a resend is the same record, not a new one");
  });

  it("when send() refuses, the record stays queued and goes at the next tick", () => {
    const h = harness();
    h.app.start();
    h.app.connected();
    h.take();
    h.accept = false;
    h.clock.advance(10_000);
    h.accept = true;
    assert.deepEqual(h.take(), []);
    h.clock.advance(10_000);
    assert.deepEqual(h.take().map((m) => m.seq), [1, 2]);
    h.clock.advance(10_000);
    assert.deepEqual(h.take().map((m) => m.seq), [3], "each record once per connection");
  });

  it("is not sent while disconnected, even if send() would accept", () => {
    const h = harness();
    h.app.start();
    h.clock.advance(10_000);
    assert.deepEqual(h.take(), []);
    h.app.connected();
    assert.deepEqual(h.take().map((m) => [m.type, m.seq]), [["hello", undefined], ["telemetry", 1]]);
  });

  it("the outbox stays at its bound through 1000 ticks without a connection, dropping the oldest", () => {
    const h = harness();
    h.app.start();
    for (let i = 0; i < 1000; i++) h.clock.advance(10_000);
    const counters = h.app.counters;
    assert.equal(counters.telemetrySeq, 1000);
    assert.equal(counters.outboxSize, DEFAULT_APP_LIMITS.outboxEntries);
    assert.equal(counters.outboxDropped, 1000 - 64);
    assert.equal(counters.dropped, 1000 - 64);
    const drops = h.events("outbox_drop");
    assert.equal(drops.length, 936);
    assert.deepEqual(drops.slice(0, 2).map((l) => l.fields?.seq), [1, 2]);
    h.app.connected();
    const seqs = h.take().filter((m) => m.type === "telemetry").map((m) => m.seq);
    assert.deepEqual(seqs, Array.from({ length: 64 }, (_, i) => 937 + i));
    const status = onlyReply(h.feed({ type: "status", id: 1 }), 1).result as Message;
    assert.deepEqual((status.outbox as Message).dropped, 936);
    assert.equal(status.dropped, 936);
  });

  it("the outbox byte bound holds too", () => {
    const h = harness({ limits: { outboxBytes: 1000 }, readTelemetry: () => ({ blob: "x".repeat(300) }) });
    h.app.start();
    for (let i = 0; i < 20; i++) h.clock.advance(10_000);
    assert.equal(h.app.counters.outboxSize, 2); // ~370 bytes each
    assert.equal(h.app.counters.outboxDropped, 18);
  });

  it("a readTelemetry that throws is logged and telemetry goes on", () => {
    let fail = true;
    const h = harness({ readTelemetry: () => { if (fail) throw new Error("sensor gone"); return { ok: 1 }; } });
    h.app.start();
    h.app.connected();
    h.take();
    h.clock.advance(10_000);
    assert.deepEqual(h.take(), []);
    assert.equal(h.events("telemetry_failed").length, 1);
    fail = false;
    h.clock.advance(10_000);
    assert.deepEqual(h.take().map((m) => m.seq), [1]);
  });

  it("stop() clears every timer; start() again resumes", () => {
    const h = harness();
    h.app.start();
    h.app.start(); // idempotent: still one timer
    assert.equal(h.clock.size, 1);
    h.app.stop();
    assert.equal(h.clock.size, 0);
    h.app.connected();
    h.take();
    h.clock.advance(100_000);
    assert.deepEqual(h.take(), []);
    h.settings.set("telemetryIntervalMs", 5000); // a stopped app does not re-arm
    assert.equal(h.clock.size, 0);
    h.app.start();
    h.clock.advance(5000);
    assert.deepEqual(h.take().map((m) => m.seq), [1]);
  });
});

