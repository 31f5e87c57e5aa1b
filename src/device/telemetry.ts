/**
 * Telemetry scheduling: a record every telemetryIntervalMs (a setting the server can change,
 * followed at once), each put in the bounded outbox (src/device/outbox.ts) and sent while
 * connected, oldest first, until the server acknowledges it (at least once delivery).
 *
 * A record: {"type":"telemetry","boot":...,"seq":n,"uptimeMs":...,"time":...,"data":{...}};
 * `time` is the wall time (UTC ms) when the record was made, null while the device's clock is
 * not trusted (absent when the composition gives no clock); `data` is
 * the application's readTelemetry(), or by default the free heap and the composition's status
 * fields. (boot, seq) names a record across reboots, so the server tells a resend from a new
 * record.
 *
 * Durability: an OutboxJournal (src/health/outbox-store.ts) is told of every record added,
 * acknowledged or dropped, and keeps them in storage; the records it restored at boot (earlier
 * boots', under their own `(boot, seq)`) are put in the outbox first, so they go out after the
 * next hello and before this boot's.
 *
 * One timer at most. Nothing here throws into the caller: a failing readTelemetry is logged
 * and the next tick comes all the same.
 */
import type { TimerId, Timers } from "../shared/host.js";
import { Outbox, type OutboxEntry } from "./outbox.js";
import type { Settings } from "./settings.js";

/** The setting that paces telemetry (src/device/settings.ts, DEVICE_SETTINGS). */
export const TELEMETRY_INTERVAL_SETTING = "telemetryIntervalMs";

/** A record of an earlier boot, as storage gave it back. */
export interface RestoredRecord {
  readonly boot: string;
  readonly seq: number;
  readonly text: string;
}

/** Persistence of the outbox (src/health/outbox-store.ts): told of every change. */
export interface OutboxJournal {
  /** A record was added (made by this boot, or restored). */
  added(entry: OutboxEntry): void;
  /** A record left the outbox: acknowledged, or dropped by the drop policy. */
  removed(entry: OutboxEntry): void;
  /** An ack message was applied (its removals may be saved now). */
  acked(): void;
}

export interface TelemetryOptions {
  timers: Timers;
  /** Must have an integer telemetryIntervalMs. */
  settings: Settings;
  /** This boot's id, stamped on every record. */
  bootId: string;
  /** Records held until acknowledged. */
  maxEntries: number;
  /** UTF-8 bytes of records held until acknowledged. */
  maxBytes: number;
  /** Sends one text on the current connection; false when it could not (kept for later). */
  send(text: string): boolean;
  /** The record's data; see the file comment for the default. */
  readTelemetry?: (() => Record<string, unknown>) | undefined;
  /** The trusted wall time, UTC ms (undefined while untrusted): the record's `time`, null when untrusted. */
  wallTime?: (() => number | undefined) | undefined;
  /** Free heap, bytes, when the platform knows it (undefined otherwise). */
  freeMemory(): number | undefined;
  /** The composition's status fields, added to the default data. */
  status?: (() => Record<string, unknown>) | undefined;
  /** Whole milliseconds since the JSON loop was made. */
  uptimeMs(): number;
  /** The JSON loop's log, which never throws. */
  note(level: "debug" | "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void;
  /** Text of a thrown value, clipped for a log line. */
  errorText(error: unknown): string;
  /** Keeps the records in storage (absent: RAM only). */
  journal?: OutboxJournal | undefined;
  /** Earlier boots' records, oldest first, to send before this boot's. */
  restored?: readonly RestoredRecord[] | undefined;
}

export class Telemetry {
  private readonly options: TelemetryOptions;
  private readonly outbox: Outbox;
  private timer: TimerId | undefined;
  private running = false;
  private isConnected = false;
  private unsubscribeSettings: (() => void) | undefined;
  /** Bound once: arming the timer allocates nothing per tick. */
  private readonly onTick = (): void => this.tick();

  constructor(options: TelemetryOptions) {
    this.options = options;
    const journal = options.journal;
    this.outbox = new Outbox({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      boot: options.bootId,
      onDrop: (entry) => {
        options.note("warn", "outbox_drop", { seq: entry.seq, bytes: entry.bytes, ...(entry.boot === options.bootId ? {} : { boot: entry.boot }) });
        journal?.removed(entry);
      },
      onAck: journal ? (entry) => journal.removed(entry) : undefined,
    });
    for (const record of options.restored ?? []) this.outbox.restore(record.boot, record.seq, record.text);
  }

  /** Starts the timer: a record every telemetryIntervalMs, following changes of the setting. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribeSettings = this.options.settings.onChange((key) => {
      // A new interval takes effect at once: the next record comes one new interval from now.
      if (key === TELEMETRY_INTERVAL_SETTING && this.running) this.arm();
    });
    this.arm();
  }

  /** Stops the timer; the records held are kept. */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.options.timers.clear(this.timer);
    this.timer = undefined;
    if (this.unsubscribeSettings) this.unsubscribeSettings();
    this.unsubscribeSettings = undefined;
  }

  /** A connection opened: every record held is to be sent again, oldest first. */
  connected(): void {
    this.isConnected = true;
    this.outbox.resetSent();
  }

  /** The connection ended: records are kept for the next one. */
  disconnected(): void {
    this.isConnected = false;
    this.outbox.resetSent();
  }

  /** Cumulative acknowledgement of `boot`'s records up to `seq`; how many were removed. */
  acknowledge(seq: number, boot: string = this.options.bootId): number {
    const removed = this.outbox.ack(seq, boot);
    if (removed > 0) this.options.journal?.acked();
    return removed;
  }

  /** Drops every record held, in RAM and in storage (a factory reset); how many there were. */
  discard(): number {
    const removed = this.outbox.clear();
    const journal = this.options.journal;
    if (journal) {
      for (const entry of removed) journal.removed(entry);
      if (removed.length > 0) journal.acked();
    }
    return removed.length;
  }

  /** Sends every record not yet sent on this connection, oldest first, until send() refuses. */
  flush(): void {
    if (!this.isConnected) return;
    for (;;) {
      const entry: OutboxEntry | undefined = this.outbox.nextUnsent();
      if (entry === undefined) return;
      if (!this.options.send(entry.text)) {
        // Kept: retried at the next tick or the next connection.
        this.options.note("debug", "telemetry_deferred", { seq: entry.seq });
        return;
      }
      this.outbox.markSent(entry);
    }
  }

  /** The current interval, ms. */
  intervalMs(): number {
    return this.options.settings.get(TELEMETRY_INTERVAL_SETTING) as number;
  }

  /** Records held, awaiting an ack. */
  get size(): number {
    return this.outbox.size;
  }

  /** UTF-8 bytes of records held. */
  get bytes(): number {
    return this.outbox.bytes;
  }

  /** Records dropped by the outbox's drop policy. */
  get dropped(): number {
    return this.outbox.dropped;
  }

  /** Sequence number of the last record made; 0 before the first. */
  get lastSequence(): number {
    return this.outbox.lastSequence;
  }

  private arm(): void {
    const timers = this.options.timers;
    if (this.timer !== undefined) timers.clear(this.timer);
    this.timer = timers.set(this.onTick, this.intervalMs());
  }

  private tick(): void {
    this.timer = undefined;
    // Re-armed first, so that nothing below can end telemetry.
    this.arm();
    const options = this.options;
    try {
      const data = this.data();
      const uptimeMs = options.uptimeMs();
      const boot = options.bootId;
      const wallTime = options.wallTime;
      // `time` when the record was made (null: the clock was not trusted), after uptimeMs.
      const time = wallTime ? (wallTime() ?? null) : undefined;
      const seq = this.outbox.add((seq) => JSON.stringify({ type: "telemetry", boot, seq, uptimeMs, time, data }));
      options.note("debug", "telemetry_recorded", { seq, unacked: this.outbox.size });
      const entry = this.outbox.newest;
      if (entry !== undefined) options.journal?.added(entry);
    } catch (error) {
      options.note("error", "telemetry_failed", { error: options.errorText(error) });
    }
    this.flush();
  }

  private data(): Record<string, unknown> {
    const options = this.options;
    if (options.readTelemetry) return options.readTelemetry();
    const data: Record<string, unknown> = {};
    const free = options.freeMemory();
    if (free !== undefined) data.freeMemory = free;
    const extra = options.status ? options.status() : undefined;
    if (extra) {
      for (const key of Object.keys(extra)) if (!Object.prototype.hasOwnProperty.call(data, key)) data[key] = extra[key];
    }
    return data;
  }
}
