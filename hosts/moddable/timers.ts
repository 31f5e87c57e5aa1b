/**
 * Timers over Moddable's `timer` module, and a monotonic clock over `Time.ticks` (module
 * `time`).
 *
 * Time.ticks is milliseconds since boot on the ESP32, but as a signed 32-bit integer of a
 * 32-bit counter: it turns negative after 24.8 days and wraps after 49.7. In the simulator it
 * is the host's wall clock, which can step backwards when the computer's time is set. The
 * firmware needs neither: `now()` unwraps the counter into a number that only grows, as long
 * as it is read at least once every 24 days (every heartbeat and telemetry tick reads it).
 *
 * Portable on purpose: the Timer and tick source are passed in (host.ts gives the SDK's), so
 * the unwrapping is tested on Node.
 */
import type { TimerId, Timers } from "../../src/shared/host.js";

/** The part of Moddable's Timer class used here (`import Timer from "timer"`). */
export interface TimerApi {
  /** Calls `callback` once after `ms` milliseconds (an integer: the SDK truncates). */
  set(callback: () => void, ms: number): unknown;
  /** Cancels a timer; the SDK ignores a timer that has already fired or was cleared. */
  clear(id: never): void;
}

/** 2^32: the period of the ESP32's millisecond counter behind Time.ticks. */
const COUNTER_PERIOD = 0x1_0000_0000;

/**
 * A clock that only grows, over `ticks` (milliseconds): a jump back of more than half the
 * counter's period is the 32-bit counter wrapping (added back); a smaller one is a wall clock
 * set backwards (the clock then stands still until the ticks catch up).
 */
export function monotonicClock(ticks: () => number): () => number {
  let last = ticks();
  let elapsed = 0;
  return () => {
    const raw = ticks();
    let delta = raw - last;
    last = raw;
    if (delta < 0) delta = delta < -COUNTER_PERIOD / 2 ? delta + COUNTER_PERIOD : 0;
    elapsed += delta;
    return elapsed;
  };
}

/**
 * Timers for src/: `set` rounds the delay to whole milliseconds (never negative), `clear`
 * accepts anything `set` returned, any number of times, and undefined.
 */
export function createTimers(timer: TimerApi, ticks: () => number): Timers {
  return {
    set(callback: () => void, ms: number): TimerId {
      const delay = ms > 0 ? Math.ceil(ms) : 0;
      return timer.set(() => callback(), delay);
    },
    clear(id: TimerId): void {
      if (id === undefined || id === null) return;
      timer.clear(id as never);
    },
    now: monotonicClock(ticks),
  };
}
