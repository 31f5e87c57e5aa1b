/**
 * The desktop's wall clock (src/shared/host.ts WallClock): the OS clock plus an offset of its
 * own, so the simulated device can set "its" clock without touching the machine's. By
 * default it reads the OS clock and is trusted from boot (the OS keeps it in sync: source
 * "system"). `--clock-unset` makes it start at 1970-01-01T00:00:00Z, as a chip's does, and
 * `--ntp` alone makes it wait for NTP too: neither is then trusted until an NTP server answers.
 *
 * The TLS sockets of the Node host check certificate dates against it (hosts/node/tls.ts), so
 * a device whose clock reads 1970 fails them as a chip would.
 */
import type { WallClock } from "../../src/shared/host.js";

export interface NodeWallClockOptions {
  /** Start at 1970-01-01, as a chip's clock does (default false: the OS time). */
  unset?: boolean;
  /** Trust it from boot, as the OS keeps it in sync (default: true unless `unset`). */
  systemSynced?: boolean;
}

export class NodeWallClock implements WallClock {
  readonly systemSynced: boolean;
  /** Added to the OS clock, ms. */
  private offset: number;

  constructor(options: NodeWallClockOptions = {}) {
    const unset = options.unset === true;
    this.offset = unset ? -Date.now() : 0;
    this.systemSynced = !unset && options.systemSynced !== false;
  }

  now(): number {
    return Date.now() + this.offset;
  }

  set(utcMs: number): void {
    if (!Number.isFinite(utcMs)) throw new RangeError(`a wall clock time must be a finite number of ms, got ${String(utcMs)}`);
    this.offset = utcMs - Date.now();
  }
}
