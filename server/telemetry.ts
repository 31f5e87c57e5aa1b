/**
 * The server's memory of telemetry sequence numbers, per (device, boot): the highest `seq`
 * seen, and counts of duplicates (a `seq` at or below it: a resend after a reconnect,
 * docs/protocol.md) and gaps (a `seq` more than one above it: records the device dropped
 * from its full outbox). Bounded: at most `maxBoots` pairs are remembered, the least
 * recently heard from is forgotten first, so a server left running for months with
 * devices rebooting all the time does not grow.
 */

/** What is remembered about one boot of one device. */
export interface BootRecord {
  readonly device: string;
  readonly boot: string;
  /** The first `seq` heard from this boot (by this server, since it started). */
  readonly firstSeq: number;
  /** The highest `seq` heard: acks are cumulative up to it. */
  highestSeq: number;
  /** Records heard, duplicates included. */
  received: number;
  /** Records with `seq` <= the highest already heard. */
  duplicates: number;
  /** Jumps of more than one above the highest. */
  gaps: number;
  /** `seq` values skipped over by those jumps. */
  missed: number;
}

/** How one record relates to what came before. */
export type TelemetryOutcome = "first" | "next" | "duplicate" | "gap";

export interface TelemetryVerdict {
  outcome: TelemetryOutcome;
  /** For a gap: how many `seq` values were skipped. Otherwise 0. */
  missed: number;
  record: Readonly<BootRecord>;
}

/** Default bound on remembered (device, boot) pairs. */
export const DEFAULT_MAX_BOOTS = 1000;

export class TelemetryLedger {
  /** Map iteration order is insertion order: re-inserting on every use keeps it LRU-first. */
  private readonly boots = new Map<string, BootRecord>();
  /** Pairs forgotten to stay within the bound, since the start. */
  evicted = 0;

  constructor(readonly maxBoots: number = DEFAULT_MAX_BOOTS) {
    if (!Number.isSafeInteger(maxBoots) || maxBoots < 1) {
      throw new RangeError(`maxBoots must be a positive integer, got ${String(maxBoots)}`);
    }
  }

  get size(): number {
    return this.boots.size;
  }

  /** Records telemetry `seq` from (device, boot) and says whether it was new. */
  record(device: string, boot: string, seq: number): TelemetryVerdict {
    const key = keyOf(device, boot);
    const known = this.boots.get(key);
    if (!known) {
      const record: BootRecord = { device, boot, firstSeq: seq, highestSeq: seq, received: 1, duplicates: 0, gaps: 0, missed: 0 };
      this.boots.set(key, record);
      while (this.boots.size > this.maxBoots) {
        this.boots.delete(this.boots.keys().next().value!);
        this.evicted++;
      }
      // Nothing to compare with: a server that just started sees a device mid-sequence.
      return { outcome: "first", missed: 0, record };
    }
    this.boots.delete(key);
    this.boots.set(key, known);
    known.received++;
    if (seq <= known.highestSeq) {
      known.duplicates++;
      return { outcome: "duplicate", missed: 0, record: known };
    }
    const missed = seq - known.highestSeq - 1;
    known.highestSeq = seq;
    if (missed > 0) {
      known.gaps++;
      known.missed += missed;
      return { outcome: "gap", missed, record: known };
    }
    return { outcome: "next", missed: 0, record: known };
  }

  get(device: string, boot: string): Readonly<BootRecord> | undefined {
    return this.boots.get(keyOf(device, boot));
  }
}

/** Length-prefixed, so no two (device, boot) pairs share a key whatever characters they hold. */
function keyOf(device: string, boot: string): string {
  return `${device.length}:${device}\u0000${boot}`;
}
