/**
 * A virtual clock implementing the Timers host interface: time moves only when a test
 * calls advance(), so deadlines and backoff are tested exactly and instantly.
 */
import type { TimerId, Timers } from "../../src/shared/host.js";

interface Pending {
  id: number;
  at: number;
  callback: () => void;
}

export class VirtualClock implements Timers {
  private current = 0;
  private nextId = 1;
  private pending: Pending[] = [];

  now(): number {
    return this.current;
  }

  set(callback: () => void, ms: number): TimerId {
    const id = this.nextId++;
    this.pending.push({ id, at: this.current + Math.max(0, ms), callback });
    return id;
  }

  clear(id: TimerId): void {
    this.pending = this.pending.filter((timer) => timer.id !== id);
  }

  /** Number of timers not yet fired. */
  get size(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, firing due timers in order of due time (then creation). */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      let next: Pending | undefined;
      for (const timer of this.pending) {
        if (timer.at <= end && (!next || timer.at < next.at || (timer.at === next.at && timer.id < next.id))) {
          next = timer;
        }
      }
      if (!next) break;
      this.pending = this.pending.filter((timer) => timer !== next);
      this.current = next.at;
      next.callback();
    }
    this.current = end;
  }
}
