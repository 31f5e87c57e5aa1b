/**
 * src/health/outbox-store.ts on a virtual clock over NVS-limited storage that counts writes:
 * batching, the write budget, removals on acks, restoring after a cut, damaged storage.
 */
import assert from "node:assert/strict";
import { Outbox, type OutboxEntry } from "../../src/device/outbox.js";
import { encodeSlot } from "../../src/health/outbox-slots.js";
import { OUTBOX_STORAGE_DOMAIN, OutboxStore, WRITE_BURST, type OutboxStoreOptions } from "../../src/health/outbox-store.js";
import type { LogLevel } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { VirtualClock } from "../support/virtual-clock.js";

/** MemoryStorage (NVS's limits) counting sets and deletes, and able to fail on demand. */
class CountingStorage extends MemoryStorage {
  sets = 0;
  deletes = 0;
  failing = false;
  override set(domain: string, key: string, value: string): void {
    if (this.failing) throw new Error("flash write failed");
    this.sets++;
    super.set(domain, key, value);
  }
  override delete(domain: string, key: string): void {
    if (this.failing) throw new Error("flash write failed");
    this.deletes++;
    super.delete(domain, key);
  }
  get writes(): number {
    return this.sets + this.deletes;
  }
  slots(): string[] {
    return this.keys(OUTBOX_STORAGE_DOMAIN).sort();
  }
}

interface Logged {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

/** A store and an outbox wired as src/device/telemetry.ts wires them. */
function setup(options: Partial<OutboxStoreOptions> & { boot?: string; storage?: CountingStorage; clock?: VirtualClock } = {}) {
  const clock = options.clock ?? new VirtualClock();
  const storage = options.storage ?? new CountingStorage();
  const logs: Logged[] = [];
  const store = new OutboxStore({
    storage,
    timers: clock,
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
    flushMs: options.flushMs ?? 2000,
    writesPerHour: options.writesPerHour ?? 720,
    ...(options.slots !== undefined ? { slots: options.slots } : {}),
  });
  const boot = options.boot ?? "b1";
  const restored = store.restore({ clean: false, recordIntervalMs: 10_000 });
  const outbox = new Outbox({
    maxEntries: 64,
    maxBytes: 16 * 1024,
    boot,
    onDrop: (entry) => store.removed(entry),
    onAck: (entry) => store.removed(entry),
  });
  for (const record of restored) outbox.restore(record.boot, record.seq, record.text);
  const add = (): OutboxEntry => {
    outbox.add((seq) => JSON.stringify({ type: "telemetry", boot, seq, data: { v: seq } }));
    const entry = outbox.newest!;
    store.added(entry);
    return entry;
  };
  const ack = (seq: number, ackBoot = boot): number => {
    const removed = outbox.ack(seq, ackBoot);
    if (removed > 0) store.acked();
    return removed;
  };
  return { clock, storage, store, outbox, add, ack, restored, logs, events: (name: string) => logs.filter((l) => l.event === name) };
}

describe("OutboxStore", function () {
  describe("batching: flash is written only for records the server has not acknowledged", function () {
    it("never writes a record acknowledged within the flush interval (a device in touch with its server)", function () {
      const s = setup();
      for (let i = 1; i <= 360; i++) {
        s.add();
        s.clock.advance(20); // the ack's round trip
        s.ack(i);
        s.clock.advance(10_000 - 20);
      }
      assert.equal(s.storage.writes, 0, "an hour of telemetry at the default rate: no write at all");
      assert.equal(s.store.writes, 0);
    });

    it("writes an unacknowledged record flushMs after it was made, with every record made meanwhile, in one write", function () {
      const s = setup({ flushMs: 2000 });
      s.add();
      s.clock.advance(500);
      s.add();
      s.clock.advance(500);
      s.add();
      assert.equal(s.storage.writes, 0);
      s.clock.advance(999);
      assert.equal(s.storage.writes, 0, "not before flushMs after the first");
      s.clock.advance(1);
      assert.equal(s.storage.sets, 1, "three records, one write");
      assert.deepEqual(s.storage.slots(), ["s0"]);
    });

    it("saves removals on the ack batch: a slot whose records are all acknowledged is deleted at once", function () {
      const s = setup();
      s.add();
      s.add();
      s.clock.advance(2000);
      assert.equal(s.storage.sets, 1);
      s.ack(1);
      assert.equal(s.storage.deletes, 0, "record 2 of the slot is still unacknowledged");
      s.ack(2);
      assert.equal(s.storage.deletes, 1);
      assert.deepEqual(s.storage.slots(), []);
    });

    it("overwrites a slot that is no longer needed rather than deleting it and writing another", function () {
      const s = setup();
      s.add();
      s.clock.advance(2000); // written in s0
      s.add(); // pending: the flush comes within 2 s
      s.ack(1); // s0 dead: its removal waits for that flush, which reuses it
      assert.equal(s.storage.deletes, 0);
      s.clock.advance(2000);
      assert.equal(s.storage.writes, 2, "two sets, no delete");
      assert.deepEqual(s.storage.slots(), ["s0"]);
    });

    it("writes everything at a final flush (clean stop, requested reboot), and nothing after", function () {
      const s = setup();
      s.add();
      s.store.flush(true);
      assert.equal(s.storage.sets, 1, "at once");
      s.add();
      s.clock.advance(10_000);
      assert.equal(s.storage.sets, 1, "the store is done");
    });
  });

  describe("the write budget", function () {
    it("allows at most writesPerHour writes an hour (plus one burst), deferring flushes and counting them", function () {
      const writesPerHour = 60;
      const s = setup({ writesPerHour, flushMs: 1000 });
      // Offline, a record a second for two hours: 7200 records into 64 entries.
      for (let second = 0; second < 7200; second++) {
        s.add();
        s.clock.advance(1000);
      }
      const burst = Math.min(WRITE_BURST, writesPerHour);
      assert.ok(s.storage.writes <= burst + 2 * writesPerHour + 1, `${s.storage.writes} writes in two hours`);
      assert.ok(s.storage.writes >= 2 * writesPerHour, `the budget is used: ${s.storage.writes}`);
      const status = s.store.status();
      assert.ok(status.deferred! > 0, "flushes waited for the budget");
      assert.equal(status.writes, s.storage.writes, "every write counted");
      assert.ok(s.events("outbox_flush_deferred").length > 0);
    });

    it("batches more records per write while the budget is spent (nothing is skipped)", function () {
      const s = setup({ writesPerHour: 1, flushMs: 1000 });
      s.add();
      s.clock.advance(1000);
      assert.equal(s.storage.sets, 1, "the one write the budget holds");
      for (let i = 0; i < 5; i++) {
        s.add();
        s.clock.advance(1000);
      }
      assert.equal(s.storage.sets, 1, "deferred");
      s.clock.advance(3_600_000);
      assert.equal(s.storage.sets, 2, "one write when the budget allows it");
      const next = setup({ storage: s.storage, boot: "b2" });
      assert.deepEqual(next.restored.map((r) => r.seq), [1, 2, 3, 4, 5, 6], "the five records went together");
    });
  });

  describe("restoring after a cut", function () {
    it("gives back every record written, under its own (boot, seq), oldest first, across boots", function () {
      const storage = new CountingStorage();
      const first = setup({ storage, boot: "aaaa0001" });
      for (let i = 0; i < 3; i++) {
        first.add();
        first.clock.advance(2000);
      }
      first.ack(1);
      // A power cut: nothing more. The next boot restores, adds its own, and is cut in turn.
      const second = setup({ storage, boot: "bbbb0002" });
      assert.deepEqual(second.restored.map((r) => [r.boot, r.seq]), [["aaaa0001", 2], ["aaaa0001", 3]]);
      second.add();
      second.clock.advance(2000);
      const third = setup({ storage, boot: "cccc0003" });
      assert.deepEqual(third.restored.map((r) => [r.boot, r.seq]), [["aaaa0001", 2], ["aaaa0001", 3], ["bbbb0002", 1]]);
      assert.deepEqual(JSON.parse(third.restored[0]!.text), { type: "telemetry", boot: "aaaa0001", seq: 2, data: { v: 2 } });
      assert.deepEqual(
        third.outbox.list().map((e) => [e.boot, e.seq]),
        [["aaaa0001", 2], ["aaaa0001", 3], ["bbbb0002", 1]],
        "in the outbox, in sending order",
      );
      // Acks name the boot: an earlier boot's are removed from storage too.
      assert.equal(third.ack(3, "aaaa0001"), 2);
      assert.equal(third.ack(1, "bbbb0002"), 1);
      assert.deepEqual(storage.slots(), []);
      assert.equal(third.store.status().restored, 3);
    });

    it("bounds what a run that did not end cleanly may have lost: the records of one flush interval", function () {
      const s = setup();
      assert.equal(s.store.status().lostAtMost, 1, "2 s of flush interval, a record every 10 s");
      const clock = new VirtualClock();
      const store = new OutboxStore({ storage: new MemoryStorage(), timers: clock, log: () => {}, flushMs: 2000, writesPerHour: 720 });
      store.restore({ clean: true, recordIntervalMs: 1000 });
      assert.equal(store.status().lostAtMost, 0, "a clean end flushed everything");
      const fast = new OutboxStore({ storage: new MemoryStorage(), timers: clock, log: () => {}, flushMs: 2000, writesPerHour: 720 });
      fast.restore({ clean: false, recordIntervalMs: 1000 });
      assert.equal(fast.status().lostAtMost, 3);
    });
  });

  describe("damaged storage: skipped record by record, logged, never a crash or a stuck outbox", function () {
    it("skips a record cut in half and keeps the rest of its slot", function () {
      const storage = new CountingStorage();
      const first = setup({ storage });
      first.add();
      first.add();
      first.clock.advance(2000);
      const value = storage.get(OUTBOX_STORAGE_DOMAIN, "s0")!;
      storage.set(OUTBOX_STORAGE_DOMAIN, "s0", value.slice(0, value.length - 10));
      const next = setup({ storage, boot: "b2" });
      assert.deepEqual(next.restored.map((r) => r.seq), [1]);
      assert.equal(next.store.status().corrupt, 1);
      assert.equal(next.events("outbox_record_corrupt").length, 1);
      assert.match(String(next.events("outbox_record_corrupt")[0]!.fields.problem), /seq 2 checksum mismatch/);
      // The outbox carries on.
      next.add();
      next.clock.advance(2000);
      assert.equal(setup({ storage, boot: "b3" }).restored.length, 2);
    });

    it("skips and deletes a slot that is not one (garbage, a header cut short), keeping the others", function () {
      const storage = new CountingStorage();
      storage.set(OUTBOX_STORAGE_DOMAIN, "s0", "m1 4 b1");
      storage.set(OUTBOX_STORAGE_DOMAIN, "s1", encodeSlot(5, "b0", [{ seq: 1, text: '{"seq":1}' }]));
      storage.set(OUTBOX_STORAGE_DOMAIN, "s2", "\u00ff\u00fe binary junk");
      const before = storage.deletes;
      const s = setup({ storage });
      assert.deepEqual(s.restored.map((r) => [r.boot, r.seq]), [["b0", 1]]);
      assert.equal(s.events("outbox_slot_corrupt").length, 2);
      assert.equal(s.store.status().corrupt, 2);
      assert.equal(storage.deletes - before, 2, "the damaged slots are deleted");
      assert.deepEqual(storage.slots(), ["s1"]);
      s.add();
      s.clock.advance(2000);
      assert.deepEqual(storage.slots(), ["s0", "s1"], "and their keys used again");
    });

    it("keeps going when storage fails to write: logged, counted, retried, the records kept in RAM", function () {
      const s = setup();
      s.storage.failing = true;
      s.add();
      s.clock.advance(2000);
      assert.equal(s.events("outbox_store_failed").length, 1);
      assert.equal(s.store.status().failures, 1);
      assert.equal(s.outbox.size, 1);
      s.storage.failing = false;
      s.clock.advance(2000);
      assert.equal(s.storage.sets, 1, "written on the retry");
    });

    it("keeps a record too large for a storage value in RAM only, counted", function () {
      const s = setup();
      s.outbox.add(() => JSON.stringify({ type: "telemetry", seq: 1, data: "x".repeat(5000) }));
      s.store.added(s.outbox.newest!);
      s.add();
      s.clock.advance(2000);
      assert.equal(s.store.status().notStored, 1);
      assert.equal(s.storage.sets, 1, "the next record is written all the same");
      assert.equal(s.events("outbox_not_stored").length, 1);
    });

    it("stores no more chunks than it has slots (each is read at every boot), counting the rest", function () {
      const s = setup({ slots: 2 });
      for (let i = 0; i < 3; i++) {
        s.add();
        s.clock.advance(2000);
      }
      assert.equal(s.storage.slots().length, 2);
      assert.equal(s.store.status().notStored, 1);
    });
  });

  it("refuses options out of range, naming them", function () {
    const base = { storage: new MemoryStorage(), timers: new VirtualClock(), log: () => {} };
    assert.throws(() => new OutboxStore({ ...base, flushMs: 10, writesPerHour: 720 }), /flushMs must be an integer from 100 to 60000 \(milliseconds\)/);
    assert.throws(() => new OutboxStore({ ...base, flushMs: 2000, writesPerHour: 0 }), /writesPerHour must be an integer from 1 to 3600 \(writes\)/);
    assert.throws(() => new OutboxStore({ ...base, flushMs: 2000, writesPerHour: 720, slots: 1000 }), /slots/);
  });
});
