/**
 * Health's part of the device (src/device/device.ts composes it): the boot record and safe
 * mode (health.ts), the durable outbox (outbox-store.ts), the `fault` request (faults.ts),
 * the reboot, and hello's and status's fields. At construction the boot is counted, the reset
 * reason read and, unless in safe mode, the outbox restored; the device then asks it which
 * handlers to run, tells it when the connection proved stable and when it stops.
 */
import type { RequestHandler } from "../device/handlers.js";
import type { DeviceConfig } from "../device/config.js";
import type { RestoredRecord } from "../device/telemetry.js";
import type { DeviceHost } from "../shared/host.js";
import { FAULT_TYPE, faultHandler } from "./faults.js";
import { Health, SAFE_MODE_EXIT_REASON, DEFAULT_SAFE_MODE_AFTER_BOOTS } from "./health.js";
import { DEFAULT_OUTBOX_FLUSH_MS, DEFAULT_OUTBOX_WRITES_PER_HOUR, OutboxStore } from "./outbox-store.js";

/** After a reboot request, how long the reply has to go out before the device stops, ms. */
export const REBOOT_DELAY_MS = 100;
/** Longest the device waits for its connection to close before it restarts anyway, ms. */
export const REBOOT_STOP_TIMEOUT_MS = 3000;

export interface DeviceHealthOptions {
  host: DeviceHost;
  /** A configuration built by hand may predate the health keys: their defaults then. */
  config: Pick<DeviceConfig, "faults"> & Partial<Pick<DeviceConfig, "safeModeAfterBoots" | "outboxFlushMs" | "outboxWritesPerHour">>;
  /** The telemetry interval in force, ms (bounds what a power cut may have lost). */
  telemetryIntervalMs: number;
  /** Stops the device (outbox flushed, connection closed with 1001); `done` once stopped. */
  stopDevice(done: () => void): void;
}

export class DeviceHealth {
  readonly health: Health;
  /** The durable outbox (absent in safe mode: the stored records wait for normal mode). */
  readonly outboxStore: OutboxStore | undefined;
  /** Earlier boots' records, oldest first, for the outbox. */
  readonly restored: RestoredRecord[] | undefined;
  private readonly options: DeviceHealthOptions;
  /** A restart is under way (a reboot request, the end of safe mode). */
  private rebooting = false;
  /**
   * While this says true (a firmware update is being received), leaving safe mode waits: its
   * restart would cut the update short. Set by the composition (src/device/device.ts).
   */
  holdRestart: (() => boolean) | undefined;
  /** Leaving safe mode waits for the hold to end (releaseHold()). */
  private exitDeferred = false;

  constructor(options: DeviceHealthOptions) {
    this.options = options;
    const { host, config } = options;
    this.health = new Health({
      storage: host.storage,
      system: host.system,
      log: host.log,
      safeModeAfterBoots: config.safeModeAfterBoots ?? DEFAULT_SAFE_MODE_AFTER_BOOTS,
    });
    if (!this.health.safeMode) {
      this.outboxStore = new OutboxStore({
        storage: host.storage,
        timers: host.timers,
        log: host.log,
        flushMs: config.outboxFlushMs ?? DEFAULT_OUTBOX_FLUSH_MS,
        writesPerHour: config.outboxWritesPerHour ?? DEFAULT_OUTBOX_WRITES_PER_HOUR,
      });
      this.restored = this.outboxStore.restore({ clean: this.health.previousRunClean, recordIntervalMs: options.telemetryIntervalMs });
    }
  }

  get safeMode(): boolean {
    return this.health.safeMode;
  }

  /** The request handlers to run: none of the user's in safe mode; `fault` when the config asks. */
  handlers(user: Record<string, RequestHandler> | undefined): Record<string, RequestHandler> | undefined {
    if (this.safeMode) return undefined;
    if (!this.options.config.faults) return user;
    const log = this.options.host.log;
    return { ...user, [FAULT_TYPE]: faultHandler(this.options.host.timers, (event, fields) => log("warn", event, fields)) };
  }

  /** The `reboot` request's callback, where the platform can restart. */
  get reboot(): ((reason: string, safeMode: boolean) => Record<string, unknown>) | undefined {
    return this.options.host.system?.restart ? (reason, safeMode) => this.restart(reason, safeMode) : undefined;
  }

  /** Fields for hello and status (Device.addReporter). */
  readonly reporter = {
    hello: (): Record<string, unknown> => this.health.hello(),
    status: (): Record<string, unknown> => ({
      ...this.health.status(),
      ...(this.outboxStore ? { outboxStore: this.outboxStore.status() } : {}),
    }),
  };

  /** The connection proved stable: the boot is a good one; in safe mode, time to leave it. */
  connectionStable(): void {
    if (!this.health.connectionStable()) return;
    if (this.holdRestart?.() === true) {
      this.exitDeferred = true;
      this.options.host.log("info", "safe_mode_exit_deferred", { cause: "stable connection", until: "the firmware update under way ends" });
      return;
    }
    this.exitSafeMode();
  }

  /** What held a restart back is over: a deferred exit from safe mode happens now. */
  releaseHold(): void {
    if (!this.exitDeferred || this.rebooting) return;
    this.exitDeferred = false;
    this.exitSafeMode();
  }

  /**
   * Restarts the device as a reboot request does (reply out, outbox flushed, 1001), `before`
   * run last, just before the platform's restart (a firmware update's switch of image). False,
   * doing nothing, where the platform cannot restart.
   */
  restartFor(reason: string, before?: () => void): boolean {
    if (!this.options.host.system?.restart) return false;
    this.restart(reason, false, before);
    return true;
  }

  private exitSafeMode(): void {
    const log = this.options.host.log;
    if (this.options.host.system?.restart) {
      log("info", "safe_mode_exit", { cause: "stable connection" });
      this.restart(SAFE_MODE_EXIT_REASON, false);
    } else {
      log("info", "safe_mode_exit", { cause: "stable connection", when: "at the next start (this platform cannot restart)" });
    }
  }

  /** The device is stopping: everything pending goes to storage, and the end is recorded. */
  stopping(): void {
    // Whatever the write budget: a clean end.
    this.outboxStore?.flush(true);
    if (!this.rebooting) this.health.stopped();
  }

  /**
   * Restarts the device: lets the reply go out, stops the device (outbox flushed, 1001),
   * records why (the next hello's rebootReason, and safe mode when asked) and calls the
   * platform's restart. Returns the reboot request's result.
   */
  private restart(reason: string, safeMode: boolean, before?: () => void): Record<string, unknown> {
    const { host } = this.options;
    if (!this.rebooting) {
      this.rebooting = true;
      host.log("warn", "reboot", { reason, safeMode });
      host.timers.set(() => {
        let done = false;
        const go = (): void => {
          if (done) return;
          done = true;
          this.health.restarting(reason, safeMode);
          before?.();
          host.system!.restart!();
        };
        host.timers.set(go, REBOOT_STOP_TIMEOUT_MS);
        this.options.stopDevice(go);
      }, REBOOT_DELAY_MS);
    }
    return { rebooting: true, reason, safeMode, inMs: REBOOT_DELAY_MS };
  }
}
