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
}

export const DEFAULT_OUTBOX = Object.freeze({ maxEntries: 64, maxBytes: 16 * 1024 } as const);

/** Most records an outbox may be asked to hold: an outbox is heap, and an ESP32 has ~100 KB. */
export const MAX_OUTBOX_ENTRIES = 100_000;

export class Outbox {
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly onDrop: ((entry: OutboxEntry) => void) | undefined;
  /** Oldest first; sequence numbers strictly increase along the array. */
  private entries: OutboxEntry[] = [];
  private heldBytes = 0;
  private lastSeq = 0;
  /**
   * Every held record with seq <= sentThrough was sent on the current connection. Records
   * are sent in order, so one number says which ones were.
   */
  private sentThrough = 0;
  private droppedCount = 0;

  constructor(options: OutboxOptions) {
    this.maxEntries = checkInteger("maxEntries", options.maxEntries, 1, MAX_OUTBOX_ENTRIES, "records");
    this.maxBytes = checkInteger("maxBytes", options.maxBytes, 1, MAX_LIMIT_BYTES, "bytes");
    this.onDrop = options.onDrop;
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
    const entry: OutboxEntry = { seq, text, bytes: utf8Length(text) };
    if (entry.bytes > this.maxBytes) {
      this.drop(entry);
      return seq;
    }
    while (
      this.entries.length > 0 &&
      (this.entries.length >= this.maxEntries || this.heldBytes + entry.bytes > this.maxBytes)
    ) {
      const oldest = this.entries.shift() as OutboxEntry;
      this.heldBytes -= oldest.bytes;
      this.drop(oldest);
    }
    this.entries.push(entry);
    this.heldBytes += entry.bytes;
    return seq;
  }

  /**
   * Cumulative acknowledgement: removes every record with seq <= `seq` and returns how many
   * were removed (0 for a stale or repeated ack).
   */
  ack(seq: number): number {
    let removed = 0;
    while (removed < this.entries.length && this.entries[removed].seq <= seq) {
      this.heldBytes -= this.entries[removed].bytes;
      removed++;
    }
    if (removed > 0) this.entries.splice(0, removed);
    return removed;
  }

  /** The oldest record not yet sent on the current connection, if any. */
  nextUnsent(): OutboxEntry | undefined {
    for (const entry of this.entries) {
      if (entry.seq > this.sentThrough) return entry;
    }
    return undefined;
  }

  /** Records that `entry` (from nextUnsent()) went out on the current connection. */
  markSent(entry: OutboxEntry): void {
    if (entry.seq > this.sentThrough) this.sentThrough = entry.seq;
  }

  /** A new connection: every record held is to be sent again, oldest first. */
  resetSent(): void {
    this.sentThrough = 0;
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

  /** The records held, oldest first (a copy). */
  list(): OutboxEntry[] {
    return this.entries.slice();
  }

  private drop(entry: OutboxEntry): void {
    this.droppedCount++;
    if (this.onDrop) this.onDrop(entry);
  }
}
