/**
 * The desktop "chip": what the ESP32's silicon and ROM do for the firmware, for the simulated
 * device (hosts/node/device.ts). The command-line process is the chip; the firmware runs apart
 * from it, in a worker thread (Node engine, chip-node.ts) or in an xsnap process (XS engine,
 * chip-xs.ts), so the chip can end a run and boot again as a chip resets:
 *
 *   power-on  read the chip's memory (firmware.ts): a run found still marked "running" was
 *             killed (SIGKILL of the process group: the desktop's power cut) -> "killed";
 *             otherwise (a first start, or after a clean stop) -> "power_on"
 *   boot      selectFirmware() (firmware.ts): the built-in image or an update slot's, a
 *             trial that ended rolled back; start it with the reset reason
 *   reset     the run ended by itself: restart() (a reboot request, leaving safe mode)
 *             -> "software"; a turn that did not return within the watchdog -> "watchdog";
 *             an exception nobody caught, the engine's death -> "panic"; then boot again
 *   stop      SIGINT/SIGTERM: the firmware stops cleanly (its connection closed with 1001,
 *             its outbox flushed), a trial is suspended (tried again at the next power-on),
 *             the memory's "running" mark is cleared, the process exits
 *
 * Each boot and reset is one log line of the chip's own, in the device's log format, as a
 * board's ROM prints its reset reason on the serial port before the firmware starts.
 */
import type { NodeWallClockOptions } from "./wall-clock.js";
import type { DeviceConfig } from "../../src/device/config.js";
import type { Log, LogLevel } from "../../src/shared/host.js";
import { ResetReason } from "../../src/health/reset-reason.js";
import { ChipMemory, endTrial, selectFirmware, suspendTrial, type FirmwareImage, type LastRun } from "./firmware.js";
import type { LineSink } from "./host.js";
import type { SerialConsole } from "./serial.js";

/** The ESP32's default task watchdog timeout (CONFIG_ESP_TASK_WDT_TIMEOUT_S), ms. */
export const DEFAULT_WATCHDOG_MS = 5000;
/** How long a reset takes before the next boot, ms: a crash loop does not spin the desktop's CPU. */
export const RESET_DELAY_MS = 200;
/** How long a clean stop may take before the run is ended anyway, ms. */
export const STOP_GRACE_MS = 3000;

/** Why a run ended on its own (the reasons the chip reports at the next boot). */
export type ResetCause = typeof ResetReason.SOFTWARE | typeof ResetReason.WATCHDOG | typeof ResetReason.PANIC;

export type RunEnd = { how: "stopped" } | { how: "reset"; reason: ResetCause; detail: string };

/** A firmware running on an engine. */
export interface FirmwareRun {
  /** Settles once the run is over, saying how. */
  readonly ended: Promise<RunEnd>;
  /** Asks the firmware to stop cleanly; `ended` then says "stopped". */
  stop(): void;
  /** Ends the run at once (a stop that took too long). */
  kill(): void;
}

/** What every boot of the firmware is given. */
export interface BootContext {
  image: FirmwareImage;
  /** Why the previous run ended. */
  resetReason: string;
  /** The watchdog: a turn longer than this ends the run ("watchdog"), ms; 0: none. */
  watchdogMs: number;
  config: DeviceConfig;
  explicitSettings: readonly string[];
  /** The device's wall clock at each boot (hosts/node/wall-clock.ts; default: the OS clock, trusted). */
  clock?: NodeWallClockOptions;
  /** The device's storage file (re-read at every boot, as a chip reads its NVS). */
  storagePath: string;
  /** The chip's memory file (firmware.ts chipStatePath): the firmware's update store writes its boot choice. */
  statePath: string;
  /** The update slots' folder (firmware.ts slotsPath). */
  slotsPath: string;
  logLevel: LogLevel;
  /** Where the firmware's log lines go (formatted by the caller). */
  out: LineSink;
  /** The chip's own log (the same sink). */
  log: Log;
  /**
   * The device's UART (--serial), opened once by the chip and kept across resets, as UART0
   * outlives the firmware: each run reads it (Improv) and writes to it; the log lines already
   * reach it through `out`.
   */
  serial?: SerialConsole;
}

/** Starts one run of the firmware on an engine; rejects when it cannot start at all. */
export type EngineBoot = (context: BootContext) => Promise<FirmwareRun>;

export interface ChipOptions extends Omit<BootContext, "image" | "resetReason"> {
  engine: EngineBoot;
  /** ms between a reset and the next boot (default RESET_DELAY_MS). */
  resetDelayMs?: number;
}

export class Chip {
  private readonly options: ChipOptions;
  private readonly memory: ChipMemory;
  private run: FirmwareRun | undefined;
  private stopping = false;
  private finished!: () => void;
  /** Settles when the chip has stopped (after stop()). */
  readonly stopped: Promise<void>;

  constructor(options: ChipOptions) {
    this.options = options;
    this.memory = new ChipMemory(options.statePath, options.log);
    this.stopped = new Promise((resolve) => (this.finished = resolve));
  }

  /**
   * Powers on: boots the firmware and keeps booting it after every reset until stop().
   * Rejects when the firmware cannot start at all (the engine is missing): a setup failure.
   */
  async powerOn(): Promise<void> {
    const killed = this.memory.previous?.running === true;
    let last: LastRun = { reason: killed ? ResetReason.KILLED : ResetReason.POWER_ON };
    this.memory.setRunning(true);
    for (;;) {
      const reason = last.reason;
      const image = selectFirmware(this.memory, this.options.slotsPath, last, this.options.log);
      this.options.log("info", "chip_boot", { reset: reason, firmware: image.version, slot: image.slot, watchdogMs: this.options.watchdogMs });
      const o = this.options;
      const run = await o.engine({
        image,
        resetReason: reason,
        watchdogMs: o.watchdogMs,
        // The image's version is part of its build, as config is on the chip.
        config: { ...o.config, firmwareVersion: image.version },
        explicitSettings: o.explicitSettings,
        ...(o.clock ? { clock: o.clock } : {}),
        storagePath: o.storagePath,
        statePath: o.statePath,
        slotsPath: o.slotsPath,
        logLevel: o.logLevel,
        out: o.out,
        log: o.log,
        ...(o.serial ? { serial: o.serial } : {}),
      });
      this.run = run;
      if (this.stopping) this.stopRun(run);
      const end = await run.ended;
      this.run = undefined;
      if (end.how === "stopped" || this.stopping) {
        if (end.how === "stopped") {
          suspendTrial(this.memory);
          this.memory.setRunning(false);
        }
        this.finished();
        return;
      }
      this.options.log(end.reason === ResetReason.SOFTWARE ? "info" : "error", "chip_reset", { reason: end.reason, detail: end.detail });
      last = { reason: end.reason, detail: end.detail };
      await new Promise((resolve) => setTimeout(resolve, this.options.resetDelayMs ?? RESET_DELAY_MS));
      if (this.stopping) {
        endTrial(this.memory, last, this.options.log);
        this.memory.setRunning(false);
        this.finished();
        return;
      }
    }
  }

  /**
   * Stops the firmware cleanly (bounded by STOP_GRACE_MS, then it is ended anyway and the
   * next power-on reports "killed"); resolves once the chip is stopped.
   */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      if (this.run) this.stopRun(this.run);
    }
    return this.stopped;
  }

  private stopRun(run: FirmwareRun): void {
    run.stop();
    const timer = setTimeout(() => run.kill(), STOP_GRACE_MS);
    void run.ended.finally(() => clearTimeout(timer));
  }
}
