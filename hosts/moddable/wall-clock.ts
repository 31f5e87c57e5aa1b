/**
 * The firmware's WallClock on Moddable: Date.now() for reading, `Time.set(seconds)` for
 * setting (SDK 8.2.3, modules/base/time: settimeofday on the ESP32; a no-op in the
 * simulator, whose clock is the computer's). The SDK's TLS checks the server certificate's
 * dates against Date.now(), so setting the chip's clock is what makes wss:// possible there.
 *
 * Time.set takes whole seconds: the milliseconds are kept as an offset of our own, so now()
 * reads what was set to the millisecond. The same offset lets a simulator build start "at
 * 1970" as a chip does (config clockUnset, for testing the wait for NTP): its Date.now() is
 * the computer's, which Time.set cannot change. By default the simulator's clock is the
 * computer's, kept in sync by its OS, and trusted as such (config systemClock), as the desktop
 * host's is.
 *
 * Portable on purpose: the SDK's functions are passed in (host.ts gives them), so it is tested
 * on Node.
 */
import type { WallClock } from "../../src/shared/host.js";

export interface ModdableClockApi {
  /** Date.now() */
  now(): number;
  /** Time.set(seconds since 1970) */
  setSeconds(seconds: number): void;
}

export interface WallClockOptions {
  /** It reads 1970-01-01 at start, whatever the platform's clock says (config clockUnset). */
  unset?: boolean;
  /**
   * The platform's clock is kept in sync by its OS: the simulator's Date.now() is the
   * computer's (config systemClock, set for lin, mac and win). Never with `unset`.
   */
  systemSynced?: boolean;
}

/** The wall clock over `api` (see the file comment). */
export function createWallClock(api: ModdableClockApi, options: WallClockOptions = {}): WallClock {
  const unset = options.unset === true;
  let offset = unset ? -api.now() : 0;
  return {
    now: () => api.now() + offset,
    set(utcMs: number): void {
      api.setSeconds(Math.floor(utcMs / 1000));
      offset = utcMs - api.now();
    },
    // A chip's clock is nobody's but ours to set.
    systemSynced: !unset && options.systemSynced === true,
  };
}
