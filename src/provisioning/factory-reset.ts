/**
 * The factory-reset button, watched at boot: a press that begins within windowMs of the
 * start and lasts holdMs resets the device (Provisioner.factoryReset). On most ESP32 boards
 * the button is BOOT (GPIO 0), which the chip itself reads at reset to enter its flasher: so
 * the press comes just after the reset, not during it, hence the window.
 *
 * The button is read every pollMs while the window is open or a press lasts, and never
 * again afterwards: a button pressed later (or stuck) does nothing.
 */
import type { Log, TimerId, Timers } from "../shared/host.js";
import { checkInteger } from "../shared/options.js";

export interface FactoryResetButtonOptions {
  /** True while the button is pressed (the host reads the pin). */
  pressed: () => boolean;
  timers: Timers;
  /** How long a press must last, ms. */
  holdMs: number;
  /** A press must begin this soon after start(), ms (default 3000). */
  windowMs?: number;
  /** Reads the button this often, ms (default 100). */
  pollMs?: number;
  log?: Log;
  onReset(): void;
}

export const DEFAULT_RESET_WINDOW_MS = 3_000;
const DEFAULT_POLL_MS = 100;

export class FactoryResetButton {
  private readonly options: FactoryResetButtonOptions;
  private readonly windowMs: number;
  private readonly pollMs: number;
  private timer: TimerId | undefined;
  private startedAt = 0;
  /** When the press under way began, or undefined. */
  private pressedAt: number | undefined;

  constructor(options: FactoryResetButtonOptions) {
    this.options = options;
    checkInteger("holdMs", options.holdMs, 1, 600_000, "milliseconds");
    this.windowMs = checkInteger("windowMs", options.windowMs ?? DEFAULT_RESET_WINDOW_MS, 0, 600_000, "milliseconds");
    this.pollMs = checkInteger("pollMs", options.pollMs ?? DEFAULT_POLL_MS, 1, 10_000, "milliseconds");
  }

  start(): void {
    this.startedAt = this.options.timers.now();
    this.check();
  }

  stop(): void {
    if (this.timer !== undefined) this.options.timers.clear(this.timer);
    this.timer = undefined;
  }

  private readonly check = (): void => {
    this.timer = undefined;
    const { timers, log } = this.options;
    const now = timers.now();
    let pressed: boolean;
    try {
      pressed = this.options.pressed() === true;
    } catch (error) {
      log?.("error", "factory_reset_button_failed", { error });
      return;
    }
    if (pressed) {
      if (this.pressedAt === undefined) {
        this.pressedAt = now;
        log?.("warn", "factory_reset_hold", { holdMs: this.options.holdMs });
      }
      if (now - this.pressedAt >= this.options.holdMs) {
        this.options.onReset();
        return;
      }
    } else if (this.pressedAt !== undefined) {
      log?.("info", "factory_reset_released", { heldMs: Math.round(now - this.pressedAt) });
      return;
    } else if (now - this.startedAt >= this.windowMs) {
      return;
    }
    this.timer = timers.set(this.check, this.pollMs);
  };
}
