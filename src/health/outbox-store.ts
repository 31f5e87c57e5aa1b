/**
 * The durable outbox: telemetry records kept in the host's storage (NVS on the ESP32, a file
 * on the desktop) until the server acknowledges them, so a power cut or a crash loses at most
 * the records of the last flush interval. src/device/outbox.ts keeps the records in RAM, as
 * before; this store is told of every change (the OutboxJournal of src/device/telemetry.ts)
 * and mirrors them into storage slots (src/health/outbox-slots.ts: domain "outbox", keys
 * "s0".."s63", one chunk of records each, checksummed).
 *
 * Flash wear is a budget, not an accident:
 * - Batched: a new record is written at most flushMs after it is made, together with every
 *   other record made meanwhile, in one value (one write). A record acknowledged before that
 *   is never written at all: a device in touch with its server writes nothing.
 * - Removals are saved on every ack batch: a slot whose records are all acknowledged (or
 *   dropped) is deleted, or overwritten by the next chunk (one write instead of two).
 * - Bounded: at most writesPerHour writes (set or delete) an hour on average, with bursts of at
 *   most WRITE_BURST (a token bucket); past that, flushes wait for the budget and records
 *   stay in RAM meanwhile (counted: `deferred`). Every write is counted (`writes`).
 * - A clean stop or a requested reboot writes everything pending first (flush(true)),
 *   whatever the budget.
 *
 * At boot, restore() reads every slot: records come back under their original (boot, seq),
 * oldest first. A slot or a record that fails its checksum (cut mid-write, damaged) is skipped
 * with a log line and counted (`corrupt`), never a crash or a stuck outbox; a damaged slot is
 * deleted. After a run that did not end cleanly, up to `lostAtMost` records (those of its last
 * flush interval) may have been lost: that bound is logged and reported in status.
 *
 * Bounded in RAM: three numbers and a boot id per slot, in arrays made once; records are
 * referenced, never copied (a chunk holds a run of one boot's records: the range of their
 * sequence numbers and how many are still held say all that is needed).
 */
import type { Log, Storage, TimerId, Timers } from "../shared/host.js";
import type { OutboxEntry } from "../device/outbox.js";
import type { OutboxJournal, RestoredRecord } from "../device/telemetry.js";
import { checkInteger } from "../shared/options.js";
import { decodeSlot, encodeSlot, headerBytes, isUnreadable, recordBytes, SLOT_VALUE_BYTES, type SlotRecord } from "./outbox-slots.js";

/** Where the slots live: one NVS namespace, keys "s0", "s1", ... */
export const OUTBOX_STORAGE_DOMAIN = "outbox";
/** Default longest wait before a record is written, ms (config outboxFlushMs). */
export const DEFAULT_OUTBOX_FLUSH_MS = 2000;
/** Shortest and longest flush interval accepted, ms. */
export const MIN_OUTBOX_FLUSH_MS = 100;
export const MAX_OUTBOX_FLUSH_MS = 60_000;
/** Default storage writes allowed per hour, on average (config outboxWritesPerHour). */
export const DEFAULT_OUTBOX_WRITES_PER_HOUR = 720;
/** Most writes per hour accepted (one a second). */
export const MAX_OUTBOX_WRITES_PER_HOUR = 3600;
/** Writes that may be made at once beyond the hourly rate: a whole outbox of slots deleted after a reconnect. */
export const WRITE_BURST = 64;
/** Default number of slots (storage keys); the outbox holds 64 records by default. */
export const DEFAULT_OUTBOX_SLOTS = 64;
/** Most slots: all are read at every boot. */
export const MAX_OUTBOX_SLOTS = 256;

const HOUR_MS = 3_600_000;

export interface OutboxStoreOptions {
  storage: Storage;
  timers: Timers;
  log: Log;
  /** Longest a record waits before it is written, ms. */
  flushMs: number;
  /** Writes (set or delete) allowed per hour, on average. */
  writesPerHour: number;
  /** Storage keys used (default DEFAULT_OUTBOX_SLOTS). */
  slots?: number;
}

/** What restore() is told about the previous run, to bound what it may have lost. */
export interface PreviousRun {
  /** It ended cleanly (its last flush wrote everything). */
  clean: boolean;
  /** Its telemetry interval, ms: how many records a flush interval can hold. */
  recordIntervalMs: number;
}

/** `first` of a slot whose key holds nothing. */
const EMPTY = -1;

export class OutboxStore implements OutboxJournal {
  private readonly options: OutboxStoreOptions;
  /**
   * Per slot (storage key): the smallest and largest seq of its chunk (first is EMPTY when the
   * key holds nothing), how many of its records the outbox still holds (0 in a used slot: no
   * longer needed, to delete or overwrite), and the boot that made them.
   */
  private readonly first: Float64Array;
  private readonly last: Float64Array;
  private readonly live: Uint16Array;
  private readonly boots: string[] = [];
  /** This boot's records not written yet, oldest first. */
  private pending: OutboxEntry[] = [];
  private nextChunk = 1;
  private timer: TimerId | undefined;
  private dueAt = 0;
  /** The write budget: a token bucket. */
  private tokens: number;
  private readonly burst: number;
  private refilledAt: number;
  private stopped = false;
  private readonly counts = { writes: 0, deferred: 0, failures: 0, notStored: 0, restored: 0, corrupt: 0, lostAtMost: 0 };

  constructor(options: OutboxStoreOptions) {
    checkInteger("flushMs", options.flushMs, MIN_OUTBOX_FLUSH_MS, MAX_OUTBOX_FLUSH_MS, "milliseconds");
    checkInteger("writesPerHour", options.writesPerHour, 1, MAX_OUTBOX_WRITES_PER_HOUR, "writes");
    const slots = options.slots ?? DEFAULT_OUTBOX_SLOTS;
    checkInteger("slots", slots, 1, MAX_OUTBOX_SLOTS);
    this.options = options;
    this.first = new Float64Array(slots).fill(EMPTY);
    this.last = new Float64Array(slots);
    this.live = new Uint16Array(slots);
    for (let i = 0; i < slots; i++) this.boots.push("");
    this.burst = Math.min(WRITE_BURST, options.writesPerHour);
    this.tokens = this.burst;
    this.refilledAt = options.timers.now();
  }

  /**
   * Reads every slot and returns the records they hold, oldest first (chunk order, then seq).
   * Damaged slots and records are logged, counted and skipped; a damaged slot is deleted.
   */
  restore(previous: PreviousRun): RestoredRecord[] {
    const { storage, log } = this.options;
    const found: Array<{ chunk: number; boot: string; records: SlotRecord[] }> = [];
    for (let index = 0; index < this.first.length; index++) {
      let value: string | undefined;
      try {
        value = storage.get(OUTBOX_STORAGE_DOMAIN, key(index));
      } catch (error) {
        log("error", "outbox_slot_unreadable", { slot: index, error: String(error) });
        continue;
      }
      if (value === undefined) continue;
      const decoded = decodeSlot(value);
      if (isUnreadable(decoded)) {
        this.counts.corrupt++;
        log("warn", "outbox_slot_corrupt", { slot: index, bytes: value.length, problem: decoded.problem, action: "skipped and deleted" });
        this.hold(index, "", 0, 0, 0); // no longer needed: deleted below
        continue;
      }
      for (const problem of decoded.problems) log("warn", "outbox_record_corrupt", { slot: index, boot: decoded.boot, problem });
      this.counts.corrupt += decoded.lost;
      const records = decoded.records;
      if (records.length === 0) this.hold(index, decoded.boot, 0, 0, 0);
      else this.hold(index, decoded.boot, records[0]!.seq, records[records.length - 1]!.seq, records.length);
      if (decoded.chunk >= this.nextChunk) this.nextChunk = decoded.chunk + 1;
      if (records.length > 0) found.push({ chunk: decoded.chunk, boot: decoded.boot, records });
    }
    found.sort((a, b) => a.chunk - b.chunk);
    const restored: RestoredRecord[] = [];
    for (const chunk of found) for (const record of chunk.records) restored.push({ boot: chunk.boot, seq: record.seq, text: record.text });
    this.counts.restored = restored.length;
    // Records made after the last flush of a run that did not end cleanly were never written.
    this.counts.lostAtMost = previous.clean ? 0 : Math.floor(this.options.flushMs / Math.max(1, previous.recordIntervalMs)) + 1;
    log(restored.length > 0 || this.counts.corrupt > 0 ? "info" : "debug", "outbox_restored", {
      records: restored.length,
      corrupt: this.counts.corrupt,
      previousRunClean: previous.clean,
      lostAtMost: this.counts.lostAtMost,
    });
    if (this.deadSlot() >= 0) this.flushRemovals();
    return restored;
  }

  // --- OutboxJournal ------------------------------------------------------------------

  added(entry: OutboxEntry): void {
    if (this.stopped) return;
    this.pending.push(entry);
    this.arm(this.options.flushMs);
  }

  removed(entry: OutboxEntry): void {
    const at = this.pending.indexOf(entry);
    if (at >= 0) {
      // Acknowledged (or dropped) before it was ever written: no wear at all.
      this.pending.splice(at, 1);
      return;
    }
    // The chunk whose range holds it: a boot's chunks hold disjoint runs of its records.
    for (let index = 0; index < this.first.length; index++) {
      if (this.live[index] === 0 || this.boots[index] !== entry.boot) continue;
      if (entry.seq < this.first[index]! || entry.seq > this.last[index]!) continue;
      this.live[index]--;
      return;
    }
  }

  acked(): void {
    if (!this.stopped) this.flushRemovals();
  }

  // --- flushing -----------------------------------------------------------------------

  /**
   * Writes what is pending now: new records, then removals. `final` (a clean stop, a
   * requested reboot) ignores the budget and stops the timer for good.
   */
  flush(final = false): void {
    this.clearTimer();
    if (final) this.stopped = true;
    if (this.writePending(final)) this.deleteDead(final);
  }

  /** Counters for status (`outboxStore`). */
  status(): Record<string, number> {
    let used = 0;
    for (let index = 0; index < this.live.length; index++) if (this.live[index]! > 0) used++;
    return {
      slots: used,
      pending: this.pending.length,
      writes: this.counts.writes,
      writesPerHour: this.options.writesPerHour,
      deferred: this.counts.deferred,
      failures: this.counts.failures,
      notStored: this.counts.notStored,
      restored: this.counts.restored,
      corrupt: this.counts.corrupt,
      lostAtMost: this.counts.lostAtMost,
    };
  }

  /** Storage writes made so far. */
  get writes(): number {
    return this.counts.writes;
  }

  private flushRemovals(): void {
    if (this.timer !== undefined && this.pending.length > 0) {
      // A flush is due soon anyway: removals go with it (and may save a write by overwriting).
      return;
    }
    this.deleteDead(false);
  }

  /** Writes pending records in chunks; false when it had to stop (budget, failure). */
  private writePending(final: boolean): boolean {
    while (this.pending.length > 0) {
      const boot = this.pending[0]!.boot;
      const chunk = this.nextChunk;
      let bytes = headerBytes(chunk, boot);
      let count = 0;
      while (count < this.pending.length && this.pending[count]!.boot === boot) {
        const more = recordBytes(this.pending[count]!);
        if (bytes + more > SLOT_VALUE_BYTES) break;
        bytes += more;
        count++;
      }
      if (count === 0) {
        // One record larger than a slot: it lives in RAM only.
        const entry = this.pending.shift()!;
        this.counts.notStored++;
        this.options.log("warn", "outbox_not_stored", { seq: entry.seq, bytes: entry.bytes, reason: `larger than a storage value (${SLOT_VALUE_BYTES} bytes)` });
        continue;
      }
      const index = this.freeSlot();
      if (index < 0) {
        this.counts.notStored += this.pending.length;
        this.options.log("warn", "outbox_not_stored", { records: this.pending.length, reason: `all ${this.first.length} storage slots are in use` });
        this.pending = [];
        return true;
      }
      if (!this.spend(final)) return false;
      const records = this.pending.slice(0, count);
      try {
        this.options.storage.set(OUTBOX_STORAGE_DOMAIN, key(index), encodeSlot(chunk, boot, records));
      } catch (error) {
        this.failed("set", index, error);
        return false;
      }
      this.counts.writes++;
      this.nextChunk++;
      this.hold(index, boot, records[0]!.seq, records[count - 1]!.seq, count);
      this.pending.splice(0, count);
    }
    return true;
  }

  private deleteDead(final: boolean): void {
    for (let index = this.deadSlot(); index >= 0; index = this.deadSlot()) {
      if (!this.spend(final)) return;
      try {
        this.options.storage.delete(OUTBOX_STORAGE_DOMAIN, key(index));
      } catch (error) {
        this.failed("delete", index, error);
        return;
      }
      this.counts.writes++;
      this.first[index] = EMPTY;
      this.boots[index] = "";
    }
  }

  /** Records what slot `index` holds now. */
  private hold(index: number, boot: string, first: number, last: number, live: number): void {
    this.boots[index] = boot;
    this.first[index] = first;
    this.last[index] = last;
    this.live[index] = live;
  }

  /** A slot that holds a value no longer needed, or -1. */
  private deadSlot(): number {
    for (let index = 0; index < this.first.length; index++) {
      if (this.first[index] !== EMPTY && this.live[index] === 0) return index;
    }
    return -1;
  }

  /** A slot to write into: a dead one first (overwriting it saves its delete), then an empty one. */
  private freeSlot(): number {
    const dead = this.deadSlot();
    return dead >= 0 ? dead : this.first.indexOf(EMPTY);
  }

  /** Takes one write from the budget; when it is spent, schedules the flush for when it is not. */
  private spend(final: boolean): boolean {
    const now = this.options.timers.now();
    const rate = this.options.writesPerHour / HOUR_MS;
    this.tokens = Math.min(this.burst, this.tokens + (now - this.refilledAt) * rate);
    this.refilledAt = now;
    if (final || this.tokens >= 1) {
      this.tokens = Math.max(0, this.tokens - 1);
      return true;
    }
    this.counts.deferred++;
    const waitMs = Math.ceil((1 - this.tokens) / rate);
    this.options.log("debug", "outbox_flush_deferred", { waitMs, writesPerHour: this.options.writesPerHour });
    this.arm(waitMs);
    return false;
  }

  private failed(operation: string, index: number, error: unknown): void {
    this.counts.failures++;
    this.options.log("error", "outbox_store_failed", { operation, slot: index, error: String(error) });
    // Tried again later; the records stay in RAM meanwhile.
    this.arm(this.options.flushMs);
  }

  /** Makes sure a flush happens within `ms`. */
  private arm(ms: number): void {
    if (this.stopped) return;
    const timers = this.options.timers;
    const due = timers.now() + ms;
    if (this.timer !== undefined) {
      if (this.dueAt <= due) return;
      timers.clear(this.timer);
    }
    this.dueAt = due;
    this.timer = timers.set(this.onTimer, ms);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush(false);
  };

  private clearTimer(): void {
    if (this.timer !== undefined) this.options.timers.clear(this.timer);
    this.timer = undefined;
  }
}

/** The storage key of slot `index` ("s0".."s255": NVS keys are at most 15 characters). */
function key(index: number): string {
  return `s${index}`;
}
