/**
 * The device's health across boots: why the previous run ended (the platform's reset reason),
 * how many times it has booted, and safe mode.
 *
 * Every boot reads and rewrites one small boot record in storage (domain "health", key
 * "boot"): the boot counter, the consecutive boots that never reached the server for a stable
 * period, whether the previous run ended cleanly (its outbox flushed), and what a requested
 * reboot asked for (its reason, safe mode). Two or three writes per boot at most: one at boot,
 * one when the connection proves stable, one at a clean stop or a requested reboot.
 *
 * Safe mode: when `safeModeAfterBoots` boots in a row (default 5) ended without a stable
 * connection (a firmware that crashes at boot, hangs, or cannot reach its server), the next
 * boot runs only connectivity (and, as they come, provisioning and firmware update): no user
 * handlers, no telemetry. Hello and status say so. It ends after a stable connection (the
 * device restarts into normal mode) or a server command (the `reboot` request). A safe mode
 * the server asked for (reboot with "safeMode": true) lasts until the next restart.
 *
 * A clean stop (the desktop's Ctrl-C) and a requested reboot do not count as failed boots:
 * the device was told to stop.
 */
import { MAX_REBOOT_REASON_CHARS } from "../device/handlers.js";
import type { Log, Storage, SystemHost } from "../shared/host.js";
import { parseJsonObject } from "../shared/json.js";
import { ResetReason } from "./reset-reason.js";

/** Where the boot record lives (NVS names are at most 15 characters). */
export const HEALTH_STORAGE = Object.freeze({ domain: "health", key: "boot" } as const);

/** Failed boots in a row after which the next boot is in safe mode (config safeModeAfterBoots). */
export const DEFAULT_SAFE_MODE_AFTER_BOOTS = 5;
/** Largest safeModeAfterBoots; 0 turns safe mode off. */
export const MAX_SAFE_MODE_AFTER_BOOTS = 1000;
/** The counters stop here rather than grow without bound. */
const MAX_COUNT = 1_000_000_000;

/** The reboot reason the device gives itself when a stable connection ends safe mode. */
export const SAFE_MODE_EXIT_REASON = "safe_mode_exit";

/** What the boot record holds. */
export interface BootRecord {
  /** Boots so far, this one included. */
  boots: number;
  /** Consecutive boots, this one included until it proves stable, without a stable connection. */
  failed: number;
  /** The run ended cleanly: stopped or restarted on request, after its outbox was flushed. */
  clean: boolean;
  /** A requested reboot's reason, for the next boot to report. */
  reason?: string;
  /** The next boot is in safe mode because the server asked. */
  safe?: boolean;
}

export interface HealthOptions {
  storage: Storage;
  /** The platform's reset reason and restart; without it the reason is "unknown". */
  system?: SystemHost | undefined;
  log: Log;
  /** Failed boots in a row that put the next boot in safe mode; 0: never. */
  safeModeAfterBoots: number;
}

/** Why this boot is in safe mode. */
export type SafeModeCause = "failed_boots" | "requested";

export class Health {
  /** Why the previous run ended (src/health/reset-reason.ts). */
  readonly reset: string;
  /** Boots so far, this one included. */
  readonly boots: number;
  /** Failed boots in a row before this one. */
  readonly failedBefore: number;
  /** This boot runs in safe mode. */
  readonly safeMode: boolean;
  readonly safeModeCause: SafeModeCause | undefined;
  /** The reason the previous run's reboot was requested with, if it was. */
  readonly rebootReason: string | undefined;
  /** The previous run ended cleanly (its outbox flushed before it stopped or restarted). */
  readonly previousRunClean: boolean;

  private readonly options: HealthOptions;
  private record: BootRecord;
  private stable = false;
  /** stopped() or restarting() was called: this run's end is recorded. */
  private ended = false;

  constructor(options: HealthOptions) {
    this.options = options;
    this.reset = readResetReason(options);
    const previous = this.read();
    this.failedBefore = previous.failed;
    this.previousRunClean = previous.clean;
    this.rebootReason = previous.reason;
    const threshold = options.safeModeAfterBoots;
    this.safeModeCause = previous.safe === true
      ? "requested"
      : threshold > 0 && previous.failed >= threshold
        ? "failed_boots"
        : undefined;
    this.safeMode = this.safeModeCause !== undefined;
    this.boots = Math.min(previous.boots + 1, MAX_COUNT);
    // Pessimistic: this boot counts as failed until its connection proves stable.
    this.record = { boots: this.boots, failed: Math.min(previous.failed + 1, MAX_COUNT), clean: false };
    this.write("boot");
    const fields: Record<string, unknown> = { reset: this.reset, boots: this.boots, failedBoots: this.failedBefore, safeMode: this.safeMode };
    if (this.rebootReason !== undefined) fields.rebootReason = this.rebootReason;
    options.log("info", "health_boot", fields);
    if (this.safeMode) {
      options.log("warn", "safe_mode", {
        cause: this.safeModeCause,
        failedBoots: this.failedBefore,
        safeModeAfterBoots: threshold,
        hint: "only connectivity runs (no user handlers, no telemetry); a stable connection or a reboot request ends it",
      });
    }
  }

  /**
   * The connection proved stable (the supervisor's notion: a message stableMs after opening):
   * this boot is a good one. Returns true when that ends safe mode (the caller restarts into
   * normal mode); a safe mode the server asked for does not end this way.
   */
  connectionStable(): boolean {
    if (this.stable) return false;
    this.stable = true;
    if (!this.ended && this.record.failed !== 0) {
      this.record.failed = 0;
      this.write("stable");
    }
    return this.safeModeCause === "failed_boots";
  }

  /**
   * A restart is about to happen because the firmware chose it (a reboot request, leaving safe
   * mode): the next boot reports `reason`, starts in safe mode only when `safeMode`, and does
   * not count this one as failed. Call after the outbox is flushed.
   */
  restarting(reason: string, safeMode: boolean): void {
    this.ended = true;
    this.record.failed = 0;
    this.record.clean = true;
    this.record.reason = reason.slice(0, MAX_REBOOT_REASON_CHARS);
    if (safeMode) this.record.safe = true;
    else delete this.record.safe;
    this.write("restart");
  }

  /**
   * A clean stop (the desktop's Ctrl-C, after the outbox was flushed): this boot does not
   * count as failed, and the next one knows nothing was left unsaved.
   */
  stopped(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.stable) this.record.failed = this.failedBefore;
    this.record.clean = true;
    this.write("stop");
  }

  /** Hello's fields: reset, boots, safeMode, and the reboot reason after a requested reboot. */
  hello(): Record<string, unknown> {
    const fields: Record<string, unknown> = { reset: this.reset, boots: this.boots, safeMode: this.safeMode };
    if (this.rebootReason !== undefined) fields.rebootReason = this.rebootReason;
    return fields;
  }

  /** Status's fields: hello's, and the count towards safe mode. */
  status(): Record<string, unknown> {
    const fields = this.hello();
    fields.failedBoots = this.stable ? 0 : this.failedBefore;
    fields.safeModeAfterBoots = this.options.safeModeAfterBoots;
    if (this.safeModeCause !== undefined) fields.safeModeCause = this.safeModeCause;
    return fields;
  }

  /** The stored record, or a fresh one when there is none or it cannot be read (logged). */
  private read(): BootRecord {
    const fresh: BootRecord = { boots: 0, failed: 0, clean: false };
    const { storage, log } = this.options;
    let text: string | undefined;
    try {
      text = storage.get(HEALTH_STORAGE.domain, HEALTH_STORAGE.key);
    } catch (error) {
      log("error", "health_record_unreadable", { error: String(error) });
      return fresh;
    }
    // No record at all: the first boot ever (or after a factory reset). No run came before,
    // so none can have lost anything.
    if (text === undefined) return { ...fresh, clean: true };
    const record = parseBootRecord(text);
    if (record === undefined) {
      log("warn", "health_record_corrupt", { bytes: text.length, action: "counting from 0" });
      return fresh;
    }
    return record;
  }

  private write(when: string): void {
    try {
      this.options.storage.set(HEALTH_STORAGE.domain, HEALTH_STORAGE.key, JSON.stringify(this.record));
    } catch (error) {
      // A full or failing store must not stop the device: the counters are then one boot behind.
      this.options.log("error", "health_record_not_saved", { when, error: String(error) });
    }
  }
}

function readResetReason(options: HealthOptions): string {
  if (!options.system) return ResetReason.UNKNOWN;
  try {
    const reason = options.system.resetReason();
    return typeof reason === "string" && reason !== "" ? reason : ResetReason.UNKNOWN;
  } catch (error) {
    options.log("warn", "reset_reason_unavailable", { error: String(error) });
    return ResetReason.UNKNOWN;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= MAX_COUNT;
}

/** A boot record from its stored text, or undefined when it is not one. */
export function parseBootRecord(text: string): BootRecord | undefined {
  const value = parseJsonObject(text);
  if (value === undefined) return undefined;
  const { boots, failed, clean, reason, safe } = value;
  if (!isCount(boots) || !isCount(failed) || typeof clean !== "boolean") return undefined;
  if (reason !== undefined && (typeof reason !== "string" || reason.length > MAX_REBOOT_REASON_CHARS)) return undefined;
  if (safe !== undefined && typeof safe !== "boolean") return undefined;
  const record: BootRecord = { boots, failed, clean };
  if (reason !== undefined) record.reason = reason;
  if (safe === true) record.safe = true;
  return record;
}
