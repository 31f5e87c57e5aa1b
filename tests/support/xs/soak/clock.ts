/**
 * The soak's virtual clock (tests/support/xs/soak/world.ts): the Timers host interface over
 * simulated time, with a binary heap, so a simulated week of a few million timers runs in
 * seconds. Due timers fire in order of due time, then of creation (as
 * tests/support/virtual-clock.ts does); a cleared timer is dropped when it comes up. Portable
 * code: it runs on Node and inside XS (the soak's XS program), with nothing but ECMAScript.
 */
import type { TimerId, Timers } from "../../../../src/shared/host.js";

interface Entry {
  id: number;
  at: number;
  callback: (() => void) | undefined;
}

export class SimClock implements Timers {
  private current = 0;
  private nextId = 1;
  private readonly heap: Entry[] = [];
  private readonly live = new Map<number, Entry>();

  now(): number {
    return this.current;
  }

  set(callback: () => void, ms: number): TimerId {
    const entry: Entry = { id: this.nextId++, at: this.current + (ms > 0 ? ms : 0), callback };
    this.live.set(entry.id, entry);
    this.push(entry);
    return entry.id;
  }

  clear(id: TimerId): void {
    const entry = this.live.get(id as number);
    if (entry === undefined) return;
    entry.callback = undefined;
    this.live.delete(entry.id);
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.live.size;
  }

  /** Runs every timer due up to `end` (ms), in order; the clock then reads `end`. */
  runUntil(end: number): void {
    const heap = this.heap;
    while (heap.length > 0 && heap[0]!.at <= end) {
      const entry = this.pop();
      if (entry.callback === undefined) continue;
      this.live.delete(entry.id);
      this.current = entry.at;
      const callback = entry.callback;
      entry.callback = undefined;
      callback();
    }
    if (end > this.current) this.current = end;
  }

  private before(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i]!, heap[parent]!)) break;
      const swap = heap[i]!;
      heap[i] = heap[parent]!;
      heap[parent] = swap;
      i = parent;
    }
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && this.before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        const swap = heap[i]!;
        heap[i] = heap[smallest]!;
        heap[smallest] = swap;
        i = smallest;
      }
    }
    return top;
  }
}

/**
 * A seeded pseudo-random sequence (xorshift32): the soak's chaos schedule and the device's
 * random bytes, so a seed replays the same week on every engine.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = (seed | 0) === 0 ? 0x6d2b79f5 : seed | 0;
  }

  /** A 32-bit unsigned integer. */
  next32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x;
    return x >>> 0;
  }

  /** A number in [0, 1). */
  unit(): number {
    return this.next32() / 4294967296;
  }

  /** An integer in [low, high]. */
  between(low: number, high: number): number {
    return low + Math.floor(this.unit() * (high - low + 1));
  }

  /**
   * A delay of mean `mean` (ms), uniform over 1..2 * mean: events at random times. Integer
   * arithmetic only (no Math.log, whose last bit may differ between engines), so a seed gives
   * the same schedule on Node and in XS.
   */
  interval(mean: number): number {
    return this.between(1, 2 * mean);
  }

  /** The host's RandomSource (masking keys, handshake keys, boot id, backoff jitter). */
  fill(into: Uint8Array): void {
    for (let i = 0; i < into.length; i++) into[i] = this.next32() & 0xff;
  }
}
