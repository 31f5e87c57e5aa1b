/**
 * The outbox: messages that must reach the server at least once (telemetry), kept until the
 * server acknowledges them, in a bounded space.
 *
 * - Each record gets a sequence number: 1 for the first, then one more per record, never
 *   reused (a dropped record's number is not given again), so the server tells a resend
 *   from a new record by `seq`.
 * - Acknowledgements are cumulative: ack(n) removes every record with seq <= n.
 * - On one connection each record is sent once, oldest first; after a reconnect
 *   (resetSent()) every record still held is sent again, oldest first, with its old `seq`.
 * - Records of earlier boots (restored from storage by src/health/outbox-store.ts) keep their
 *   own `(boot, seq)`; they go before this boot's records and are acknowledged per boot.
 * - Drop policy: the outbox holds at most maxEntries records and maxBytes bytes of text.
 *   Adding a record to a full outbox drops the OLDEST records until the new one fits: the
 *   newest data is the most useful after a long outage, and the server sees the gap in
 *   `seq`. A record larger than maxBytes on its own is refused (dropped at once). Every drop
 *   is counted and reported through onDrop, never silent.
 *
 * Sizes are UTF-8 bytes of the text, which is what XS stores strings as and what goes on the
 * wire, so maxBytes bounds the heap the outbox holds (plus a small fixed cost per entry).
 */
import { checkInteger } from "../shared/options.js";
import { MAX_LIMIT_BYTES } from "../websocket/constants.js";
import { utf8Length } from "../websocket/utf8.js";

export interface OutboxEntry {
  /** The boot that made the record: this boot's id (the `boot` option), or an earlier one's. */
  readonly boot: string;
  readonly seq: number;
  readonly text: string;
  /** UTF-8 bytes of `text`. */
  readonly bytes: number;
}

export interface OutboxOptions {
  /** Most records held at once (default 64). */
  maxEntries: number;
  /** Most UTF-8 bytes of text held at once (default 16384). */
  maxBytes: number;
  /** A record was dropped without being acknowledged (policy above). */
  onDrop?: (entry: OutboxEntry) => void;
  /** A record was acknowledged (and removed). */
  onAck?: (entry: OutboxEntry) => void;
  /** This boot's id, the `boot` of the records add() makes (default ""). */
  boot?: string;
}

/** A record held, with whether it went out on the current connection. */
interface HeldEntry extends OutboxEntry {
  sent: boolean;
}

export const DEFAULT_OUTBOX = Object.freeze({ maxEntries: 64, maxBytes: 16 * 1024 } as const);

/** Most records an outbox may be asked to hold: an outbox is heap, and an ESP32 has ~100 KB. */
export const MAX_OUTBOX_ENTRIES = 100_000;

export class Outbox {
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly onDrop: ((entry: OutboxEntry) => void) | undefined;
  private readonly onAck: ((entry: OutboxEntry) => void) | undefined;
  private readonly boot: string;
  /**
   * Oldest first: earlier boots' records (as restored), then this boot's, whose sequence
   * numbers strictly increase along the array. Records go out in this order.
   */
  private entries: HeldEntry[] = [];
  private heldBytes = 0;
  private lastSeq = 0;
  private droppedCount = 0;

  constructor(options: OutboxOptions) {
    this.maxEntries = checkInteger("maxEntries", options.maxEntries, 1, MAX_OUTBOX_ENTRIES, "records");
    this.maxBytes = checkInteger("maxBytes", options.maxBytes, 1, MAX_LIMIT_BYTES, "bytes");
    this.onDrop = options.onDrop;
    this.onAck = options.onAck;
    this.boot = options.boot ?? "";
  }

  /**
   * Adds a record. `render` is called with the record's sequence number and returns its text
   * (the number usually appears in it). Returns the sequence number. When the outbox is full
   * the oldest records are dropped first; a text larger than maxBytes is itself dropped.
   * If `render` throws, no number is used and the error propagates.
   */
  add(render: (seq: number) => string): number {
    const seq = this.lastSeq + 1;
    const text = render(seq);
    this.lastSeq = seq;
    this.hold({ boot: this.boot, seq, text, bytes: utf8Length(text), sent: false }, this.entries.length);
    return seq;
  }

  /**
   * Puts back a record of an earlier boot (restored from storage), after those restored
   * before it and before this boot's own: it is older than anything this boot made. The same
   * bounds apply (the oldest records are dropped to make room, counted).
   */
  restore(boot: string, seq: number, text: string): void {
    let at = 0;
    while (at < this.entries.length && this.entries[at]!.boot !== this.boot) at++;
    this.hold({ boot, seq, text, bytes: utf8Length(text), sent: false }, at);
  }

  private hold(entry: HeldEntry, at: number): void {
    if (entry.bytes > this.maxBytes) {
      this.drop(entry);
      return;
    }
    while (
      this.entries.length > 0 &&
      (this.entries.length >= this.maxEntries || this.heldBytes + entry.bytes > this.maxBytes)
    ) {
      if (at === 0) {
        // What is to be put back is older than everything held: it goes first.
        this.drop(entry);
        return;
      }
      const oldest = this.entries.shift() as HeldEntry;
      at--;
      this.heldBytes -= oldest.bytes;
      this.drop(oldest);
    }
    this.entries.splice(at, 0, entry);
    this.heldBytes += entry.bytes;
  }

  /**
   * Cumulative acknowledgement of `boot`'s records (default this boot's): removes every one
   * with seq <= `seq` and returns how many were removed (0 for a stale or repeated ack, or a
   * boot with no record held).
   */
  ack(seq: number, boot: string = this.boot): number {
    let removed = 0;
    let kept = 0;
    for (let i = 0; i < this.entries.length; i++) {
      const entry = this.entries[i]!;
      if (entry.boot === boot && entry.seq <= seq) {
        this.heldBytes -= entry.bytes;
        removed++;
        if (this.onAck) this.onAck(entry);
      } else {
        this.entries[kept++] = entry;
      }
    }
    this.entries.length = kept;
    return removed;
  }

  /**
   * Removes every record held and returns them, oldest first (a factory reset: they were
   * meant for the server of before). Not counted as drops; sequence numbers go on.
   */
  clear(): OutboxEntry[] {
    const removed: OutboxEntry[] = this.entries;
    this.entries = [];
    this.heldBytes = 0;
    return removed;
  }

  /** The oldest record not yet sent on the current connection, if any. */
  nextUnsent(): OutboxEntry | undefined {
    for (const entry of this.entries) {
      if (!entry.sent) return entry;
    }
    return undefined;
  }

  /** Records that `entry` (from nextUnsent()) went out on the current connection. */
  markSent(entry: OutboxEntry): void {
    (entry as HeldEntry).sent = true;
  }

  /** A new connection: every record held is to be sent again, oldest first. */
  resetSent(): void {
    for (const entry of this.entries) entry.sent = false;
  }

  /** Records held (sent or not) awaiting acknowledgement. */
  get size(): number {
    return this.entries.length;
  }

  /** UTF-8 bytes of text held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Records dropped by the drop policy since construction. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** The sequence number given to the last record added; 0 before the first. */
  get lastSequence(): number {
    return this.lastSeq;
  }

  /** The record added last, while it is held. */
  get newest(): OutboxEntry | undefined {
    const entry = this.entries[this.entries.length - 1];
    return entry !== undefined && entry.boot === this.boot && entry.seq === this.lastSeq ? entry : undefined;
  }

  /** The records held, oldest first (a copy). */
  list(): OutboxEntry[] {
    return this.entries.slice();
  }

  private drop(entry: OutboxEntry): void {
    this.droppedCount++;
    if (this.onDrop) this.onDrop(entry);
  }
}
