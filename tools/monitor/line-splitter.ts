/**
 * Serial bytes into lines, in bounded memory. A pure incremental splitter: it is given bytes
 * and the time they came, and hands out whole lines; the caller owns the port and the clock
 * (it calls flush() when the line has been idle, or when the port goes away).
 *
 * What a device's serial output looks like: lines ending in "\n" or "\r\n" (the ESP32 ROM
 * writes "\r\n", the firmware "\n"); after a reset, a line cut short and a few garbage bytes;
 * at a wrong baud rate, garbage with no newline at all. So a line that never ends is cut into
 * pieces of at most maxLineBytes (nothing is dropped), and a pending partial line is handed out
 * when the caller says the line went idle.
 */

/** The longest line kept whole, bytes. The firmware's log lines are far shorter (< 1 KiB). */
export const MAX_LINE_BYTES = 64 * 1024;

/** Why a line ended. */
export type LineEnd =
  /** "\n" came: the line is complete. */
  | "newline"
  /** The line reached maxLineBytes without a newline; the rest follows as the next line. */
  | "cut"
  /** No newline yet, but the caller flushed it: the port went idle or away (a device reset). */
  | "partial";

export interface Line {
  /** The bytes exactly as received, terminator included ("\n", "\r\n", or none). */
  raw: Uint8Array;
  /** When the line's first byte arrived, ms since the epoch. */
  receivedAt: number;
  end: LineEnd;
  /** The line is the rest of a line that was cut: it began in the previous piece. */
  continuation: boolean;
}

const LF = 0x0a;

export class LineSplitter {
  private readonly buffer: Uint8Array;
  private length = 0;
  private startedAt = 0;
  private afterCut = false;

  constructor(
    private readonly onLine: (line: Line) => void,
    readonly maxLineBytes = MAX_LINE_BYTES,
  ) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
    }
    this.buffer = new Uint8Array(maxLineBytes);
  }

  /** Bytes of a line started but not yet handed out. */
  get pending(): number {
    return this.length;
  }

  /** Takes bytes that arrived at `now` (ms); hands out every line they complete. */
  push(chunk: Uint8Array, now: number): void {
    let start = 0;
    while (start < chunk.length) {
      if (this.length === 0) this.startedAt = now;
      const newline = chunk.indexOf(LF, start);
      const end = newline < 0 ? chunk.length : newline + 1;
      // Copy what fits; a line reaching the limit is handed out as "cut" and the rest of the
      // chunk starts the next piece.
      const take = Math.min(end - start, this.maxLineBytes - this.length);
      this.buffer.set(chunk.subarray(start, start + take), this.length);
      this.length += take;
      start += take;
      if (newline >= 0 && start === newline + 1) this.emit("newline");
      else if (this.length === this.maxLineBytes) this.emit("cut");
    }
  }

  /** Hands out the pending partial line, if any (idle port, port gone, quitting). */
  flush(): void {
    if (this.length > 0) this.emit("partial");
  }

  private emit(end: LineEnd): void {
    const raw = this.buffer.slice(0, this.length);
    const continuation = this.afterCut;
    this.length = 0;
    this.afterCut = end === "cut";
    this.onLine({ raw, receivedAt: this.startedAt, end, continuation });
  }
}
