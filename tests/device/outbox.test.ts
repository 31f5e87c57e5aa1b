/**
 * src/device/outbox.ts: records awaiting acknowledgement, numbered from 1, acknowledged
 * cumulatively, sent once per connection oldest first, bounded with the oldest dropped.
 */
import assert from "node:assert/strict";
import { WebSocketError } from "../../src/shared/errors.js";
import { Outbox, type OutboxEntry } from "../../src/device/outbox.js";

const record = (seq: number): string => `{"seq":${seq}}`;

/** Sends everything unsent, as the app does, and returns the sequence numbers sent. */
function sendAll(outbox: Outbox, accept = (_entry: OutboxEntry) => true): number[] {
  const sent: number[] = [];
  for (;;) {
    const entry = outbox.nextUnsent();
    if (!entry || !accept(entry)) return sent;
    sent.push(entry.seq);
    outbox.markSent(entry);
  }
}

describe("Outbox", () => {
  it("numbers records 1, 2, 3... and gives render the number", () => {
    const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
    assert.equal(outbox.lastSequence, 0);
    assert.equal(outbox.add(record), 1);
    assert.equal(outbox.add(record), 2);
    assert.equal(outbox.add(record), 3);
    assert.deepEqual(
      outbox.list().map((entry) => entry.text),
      ['{"seq":1}', '{"seq":2}', '{"seq":3}'],
    );
    assert.equal(outbox.size, 3);
    assert.equal(outbox.bytes, 27);
  });

  it("uses no number when render throws", () => {
    const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
    assert.throws(() => outbox.add(() => { throw new Error("sensor"); }), /sensor/);
    assert.equal(outbox.add(record), 1);
  });

  describe("ack", () => {
    it("is cumulative and returns how many records it removed", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      for (let i = 0; i < 5; i++) outbox.add(record);
      assert.equal(outbox.ack(3), 3);
      assert.deepEqual(outbox.list().map((e) => e.seq), [4, 5]);
      assert.equal(outbox.bytes, 18);
    });

    it("removes nothing for a stale, repeated or zero ack", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      for (let i = 0; i < 3; i++) outbox.add(record);
      assert.equal(outbox.ack(2), 2);
      assert.equal(outbox.ack(2), 0);
      assert.equal(outbox.ack(1), 0);
      assert.equal(outbox.ack(0), 0);
      assert.equal(outbox.size, 1);
    });

    it("an ack beyond the last record empties the outbox, and numbering goes on", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      outbox.add(record);
      assert.equal(outbox.ack(99), 1);
      assert.equal(outbox.size, 0);
      assert.equal(outbox.bytes, 0);
      assert.equal(outbox.add(record), 2);
    });
  });

  describe("clear (a factory reset)", () => {
    it("removes every record, restored or not, returns them oldest first, counts no drop; numbering goes on", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024, boot: "b2", onDrop: () => assert.fail("not a drop") });
      outbox.add(record);
      outbox.add(record);
      outbox.restore("b1", 7, record(7));
      assert.deepEqual(outbox.clear().map((e) => `${e.boot}:${e.seq}`), ["b1:7", "b2:1", "b2:2"]);
      assert.equal(outbox.size, 0);
      assert.equal(outbox.bytes, 0);
      assert.equal(outbox.dropped, 0);
      assert.equal(outbox.nextUnsent(), undefined);
      assert.equal(outbox.add(record), 3);
    });
  });

  describe("sending", () => {
    it("gives each record once per connection, oldest first", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      outbox.add(record);
      outbox.add(record);
      assert.deepEqual(sendAll(outbox), [1, 2]);
      assert.deepEqual(sendAll(outbox), []);
      outbox.add(record);
      assert.deepEqual(sendAll(outbox), [3]);
    });

    it("after resetSent() (a reconnect) gives every unacked record again, oldest first", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      for (let i = 0; i < 4; i++) outbox.add(record);
      sendAll(outbox);
      outbox.ack(1);
      outbox.resetSent();
      assert.deepEqual(sendAll(outbox), [2, 3, 4]);
    });

    it("resumes where a refused send stopped", () => {
      const outbox = new Outbox({ maxEntries: 8, maxBytes: 1024 });
      for (let i = 0; i < 4; i++) outbox.add(record);
      assert.deepEqual(sendAll(outbox, (entry) => entry.seq < 3), [1, 2]);
      assert.deepEqual(sendAll(outbox), [3, 4]);
    });
  });

  describe("drop policy: the oldest goes", () => {
    it("keeps at most maxEntries, dropping the oldest and counting it", () => {
      const dropped: number[] = [];
      const outbox = new Outbox({ maxEntries: 3, maxBytes: 1024, onDrop: (entry) => dropped.push(entry.seq) });
      for (let i = 0; i < 5; i++) outbox.add(record);
      assert.deepEqual(outbox.list().map((e) => e.seq), [3, 4, 5]);
      assert.deepEqual(dropped, [1, 2]);
      assert.equal(outbox.dropped, 2);
    });

    it("keeps at most maxBytes, dropping as many old records as the new one needs", () => {
      const dropped: number[] = [];
      const outbox = new Outbox({ maxEntries: 100, maxBytes: 30, onDrop: (entry) => dropped.push(entry.seq) });
      outbox.add(() => "a".repeat(10));
      outbox.add(() => "b".repeat(10));
      outbox.add(() => "c".repeat(10));
      assert.equal(outbox.bytes, 30);
      outbox.add(() => "d".repeat(25));
      assert.deepEqual(outbox.list().map((e) => e.seq), [4]);
      assert.deepEqual(dropped, [1, 2, 3]);
      assert.equal(outbox.bytes, 25);
    });

    it("measures UTF-8 bytes", () => {
      const outbox = new Outbox({ maxEntries: 100, maxBytes: 6 });
      outbox.add(() => "€€");
      assert.equal(outbox.bytes, 6);
      outbox.add(() => "é");
      assert.deepEqual(outbox.list().map((e) => e.seq), [2]);
    });

    it("refuses a record larger than maxBytes on its own, counting it, keeping the rest", () => {
      const dropped: number[] = [];
      const outbox = new Outbox({ maxEntries: 10, maxBytes: 20, onDrop: (entry) => dropped.push(entry.seq) });
      outbox.add(record);
      assert.equal(outbox.add(() => "x".repeat(21)), 2);
      assert.deepEqual(outbox.list().map((e) => e.seq), [1]);
      assert.deepEqual(dropped, [2]);
      assert.equal(outbox.add(record), 3);
    });

    it("stays at its bound through a long outage", () => {
      const outbox = new Outbox({ maxEntries: 64, maxBytes: 16384 });
      for (let i = 0; i < 1000; i++) outbox.add(record);
      assert.equal(outbox.size, 64);
      assert.equal(outbox.dropped, 936);
      assert.equal(outbox.list()[0].seq, 937);
      assert.equal(outbox.list()[63].seq, 1000);
    });
  });

  it("refuses limits that are not positive integers, naming the option", () => {
    for (const bad of [0, -1, 1.5, NaN, "8", undefined]) {
      assert.throws(
        () => new Outbox({ maxEntries: bad as number, maxBytes: 100 }),
        (error: unknown) => error instanceof WebSocketError && error.code === "ERR_INVALID_OPTION" && /maxEntries/.test(error.message),
      );
      assert.throws(
        () => new Outbox({ maxEntries: 1, maxBytes: bad as number }),
        (error: unknown) => error instanceof WebSocketError && /maxBytes/.test(error.message),
      );
    }
  });
});
