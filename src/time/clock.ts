/**
 * The device's clock service: whether the wall clock can be believed, since when, from what
 * source, and the last correction applied. The rest of the firmware asks it for the time (and
 * gets undefined while the clock is not trusted); TLS checks certificate dates against the
 * platform clock it keeps set (src/shared/host.ts WallClock).
 *
 * Trust comes from one of two sources:
 * - "ntp": an answer of the SNTP client (sntp-client.ts) that passed every check sets the
 *   platform clock (a step, not a slew: a device's clock is off by years or by seconds);
 * - "system": the platform keeps its clock in sync itself (a desktop's OS): trusted at boot.
 *
 * Until then the clock is not trusted, but it is not left at 1970 either: at boot it is moved
 * forward to a lower bound of the true time, the later of
 * - the firmware's build time (`buildTimeMs`: no true clock reads earlier), and
 * - the last trusted time saved in storage (CLOCK_STORAGE), restored at boot.
 * The saved time is written when the clock becomes trusted and then at most once every
 * saveIntervalMs of clock time (flash wear: NVS on the ESP32), and never for a time that
 * differs from the saved one by less than that.
 */
import type { Log, LogLevel, Storage, Timers, WallClock } from "../shared/host.js";
import { checkInteger, checkMethods, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";
import type { SntpSample } from "./sntp-client.js";

/**
 * The date of this firmware's source, UTC ms: the earliest build time there can be, for a
 * build that was not given its own (config `buildTime`). Moved forward at each release.
 */
export const SOURCE_DATE_MS = Date.UTC(2026, 11, 1);

/** Where the last trusted time is saved (NVS names: at most 15 characters). */
export const CLOCK_STORAGE = Object.freeze({ domain: "clock", key: "lastGood" });

/** The least clock time between two saves, ms: one NVS write an hour at most. */
export const DEFAULT_CLOCK_SAVE_INTERVAL_MS = 3_600_000;

/** Where the trusted time comes from. */
export const ClockSource = Object.freeze({ NTP: "ntp", SYSTEM: "system" } as const);
export type ClockSourceValue = (typeof ClockSource)[keyof typeof ClockSource];

export interface ClockOptions {
  wallClock: WallClock;
  timers: Timers;
  /** Where the last trusted time is kept across reboots; without it, only the build time bounds the clock. */
  storage?: Storage;
  log?: Log;
  /** The firmware's build time, UTC ms (at least SOURCE_DATE_MS is used). */
  buildTimeMs: number;
  /** The least clock time between two saves, ms (default DEFAULT_CLOCK_SAVE_INTERVAL_MS). */
  saveIntervalMs?: number;
  /** The clock became trusted (once per boot). A throw is logged and ignored. */
  onTrusted?: () => void;
}

/** The clock's state as status shows it. */
export interface ClockState {
  trusted: boolean;
  source: ClockSourceValue | null;
  /** When the clock became trusted, UTC ms; null before. */
  since: number | null;
  /** When the last NTP answer set it, UTC ms; null before the first. */
  lastSync: number | null;
  /** The correction the last answer applied (new time minus old), ms; null before the first. */
  offsetMs: number | null;
  /** The server ("host:port") of the last answer; null before the first. */
  server: string | null;
  /** The lower bound the clock was moved to at boot, UTC ms. */
  lowerBound: number;
}

export class ClockService {
  private readonly wall: WallClock;
  private readonly options: ClockOptions;
  private readonly saveIntervalMs: number;
  private source: ClockSourceValue | null = null;
  private since: number | null = null;
  private lastSync: number | null = null;
  private offsetMs: number | null = null;
  private server: string | null = null;
  /** The value in storage, UTC ms; undefined when none (or unreadable). */
  private saved: number | undefined;
  /** The lower bound at boot (build time or saved time), UTC ms. */
  readonly lowerBound: number;

  /**
   * Reads the saved time and the platform's clock: a platform that keeps its own clock in
   * sync is trusted at once; any other clock reading before the lower bound is moved to it.
   */
  constructor(options: ClockOptions) {
    checkMethods("wallClock", options.wallClock, ["now", "set"]);
    checkMethods("timers", options.timers, ["set", "clear", "now"]);
    checkInteger("buildTimeMs", options.buildTimeMs, 0, Number.MAX_SAFE_INTEGER, "milliseconds");
    this.wall = options.wallClock;
    this.options = options;
    this.saveIntervalMs = optionalInteger("saveIntervalMs", options.saveIntervalMs, DEFAULT_CLOCK_SAVE_INTERVAL_MS, 1, MAX_TIMEOUT_MS, "milliseconds");
    const build = Math.max(SOURCE_DATE_MS, options.buildTimeMs);
    this.saved = this.readSaved();
    const fromStorage = this.saved !== undefined && this.saved > build;
    this.lowerBound = fromStorage ? this.saved! : build;
    if (this.wall.systemSynced) {
      this.source = ClockSource.SYSTEM;
      this.since = this.wall.now();
      this.log("info", "clock_trusted", { source: ClockSource.SYSTEM, time: isoTime(this.since) });
      return;
    }
    const reads = this.wall.now();
    if (reads < this.lowerBound) {
      this.wall.set(this.lowerBound);
      this.log("info", "clock_restored", {
        from: fromStorage ? "storage" : "build",
        time: isoTime(this.lowerBound),
        was: isoTime(reads),
        hint: "a lower bound only: not trusted until an NTP server answers",
      });
    }
  }

  get trusted(): boolean {
    return this.source !== null;
  }

  /** The trusted wall time, UTC ms; undefined while the clock is not trusted. */
  now(): number | undefined {
    return this.source === null ? undefined : Math.round(this.wall.now());
  }

  /** What the platform clock reads, trusted or not, UTC ms. */
  reads(): number {
    return Math.round(this.wall.now());
  }

  /**
   * An SNTP answer: sets the platform clock to it (corrected for the time since it arrived),
   * trusts it, and saves it when due.
   */
  synced(sample: SntpSample): void {
    const time = sample.timeMs + (this.options.timers.now() - sample.monotonicMs);
    const before = this.wall.now();
    this.wall.set(time);
    const offsetMs = Math.round(time - before);
    const first = this.source === null;
    this.source = ClockSource.NTP;
    this.lastSync = Math.round(time);
    this.offsetMs = offsetMs;
    this.server = sample.server;
    if (first) this.since = this.lastSync;
    this.log(first ? "info" : "debug", "clock_synced", {
      server: sample.server,
      time: isoTime(time),
      offsetMs,
      delayMs: Math.round(sample.delayMs),
      stratum: sample.stratum,
    });
    this.save(time);
    if (first && this.options.onTrusted) {
      try {
        this.options.onTrusted();
      } catch (error) {
        this.log("error", "clock_callback_failed", { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  /** The state, as status shows it (a fresh object). */
  state(): ClockState {
    return {
      trusted: this.source !== null,
      source: this.source,
      since: this.since,
      lastSync: this.lastSync,
      offsetMs: this.offsetMs,
      server: this.server,
      lowerBound: this.lowerBound,
    };
  }

  private readSaved(): number | undefined {
    const storage = this.options.storage;
    if (storage === undefined) return undefined;
    let text: string | undefined;
    try {
      text = storage.get(CLOCK_STORAGE.domain, CLOCK_STORAGE.key);
    } catch (error) {
      this.log("warn", "clock_saved_unreadable", { error: error instanceof Error ? error.message : String(error) });
      return undefined;
    }
    if (text === undefined) return undefined;
    const value = /^[0-9]{1,16}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value)) {
      this.log("warn", "clock_saved_invalid", { length: text.length, hint: "ignored; replaced at the next sync" });
      return undefined;
    }
    return value;
  }

  /** Saves `time` when it is at least saveIntervalMs away from the saved one (bounded flash writes). */
  private save(time: number): void {
    const storage = this.options.storage;
    if (storage === undefined) return;
    const rounded = Math.round(time);
    if (this.saved !== undefined && Math.abs(rounded - this.saved) < this.saveIntervalMs) return;
    try {
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, String(rounded));
      this.saved = rounded;
      this.log("debug", "clock_saved", { time: isoTime(rounded) });
    } catch (error) {
      this.log("warn", "clock_save_failed", { error: error instanceof Error ? error.message : String(error) });
    }
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.options.log?.(level, event, fields);
  }
}

/** "2026-12-06T16:48:34.123Z" (a time far outside Date's range says so instead of throwing). */
export function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `invalid time ${ms}` : date.toISOString();
}
