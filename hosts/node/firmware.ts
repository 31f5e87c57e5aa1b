/**
 * Which firmware the desktop chip (hosts/node/chip.ts) boots, and the chip's own memory: the
 * one place that decides it. Today there is one image, the firmware compiled into dist/
 * ("built-in"); signed firmware updates will add image slots here (two slots, the active one
 * booted, a trial boot rolled back when it does not prove itself) without touching the boot
 * loop: chip.ts asks selectFirmware() at every boot and runs what it returns.
 *
 * The chip's memory is the desktop's stand-in for what survives a reset on the ESP32 outside
 * NVS (the RTC registers that hold the reset reason, the OTA data partition): a small JSON
 * file beside the device's storage, written atomically by FileStorage. Fields it does not
 * know are kept as they are, so a later version's fields survive an older one.
 */
import { FIRMWARE_VERSION } from "../../src/device/device.js";
import { FileStorage } from "./file-storage.js";
import type { Log } from "../../src/shared/host.js";
import { parseJsonObject } from "../../src/shared/json.js";

/** A firmware image the chip can boot. */
export interface FirmwareImage {
  /** Where it comes from: "built-in" (dist/), later an update slot. */
  slot: string;
  /** Its version, as hello reports it. */
  version: string;
  /** The Node engine's entry: the worker module that runs it (hosts/node/firmware-worker.ts). */
  nodeEntry: URL;
  /** The XS engine's program (hosts/xs/xs-side/<program>.ts). */
  xsProgram: string;
}

/** The image compiled into dist/ with the rest of the desktop tools. */
export const BUILT_IN_FIRMWARE: Readonly<FirmwareImage> = Object.freeze({
  slot: "built-in",
  version: FIRMWARE_VERSION,
  nodeEntry: new URL("./firmware-worker.js", import.meta.url),
  xsProgram: "device",
});

/** What the chip remembers across power cycles. */
export interface ChipState {
  /** A firmware is running: set at power-on, cleared by a clean stop. Found set at power-on: the last run was killed. */
  running: boolean;
  /** Fields of other versions, kept as they are. */
  [field: string]: unknown;
}

/** The firmware to boot now. */
export function selectFirmware(_state: Readonly<ChipState>): FirmwareImage {
  return BUILT_IN_FIRMWARE;
}

const STATE_DOMAIN = "chip";
const STATE_KEY = "state";

/** The chip's memory file beside the device's storage: .moorline/sim-1.json -> .moorline/sim-1.chip.json. */
export function chipStatePath(storagePath: string): string {
  return storagePath.replace(/\.json$/, "") + ".chip.json";
}

/** The chip's memory: read at power-on, written at power-on and at a clean stop. */
export class ChipMemory {
  private readonly file: FileStorage;
  /** What the file held at power-on: undefined when there was nothing (a first start), or nothing readable. */
  readonly previous: ChipState | undefined;
  private state: ChipState;

  constructor(path: string, log: Log) {
    this.file = new FileStorage(path, { log });
    let previous: ChipState | undefined;
    const text = this.file.get(STATE_DOMAIN, STATE_KEY);
    if (text !== undefined) {
      const value = parseJsonObject(text);
      if (value !== undefined && typeof value.running === "boolean") previous = value as ChipState;
      if (previous === undefined) log("warn", "chip_state_corrupt", { path, action: "as at a first start" });
    }
    this.previous = previous;
    this.state = { ...(previous ?? {}), running: false };
  }

  get current(): Readonly<ChipState> {
    return this.state;
  }

  /** Records whether a firmware is running (a clean stop clears it). */
  setRunning(running: boolean): void {
    this.state = { ...this.state, running };
    this.file.set(STATE_DOMAIN, STATE_KEY, JSON.stringify(this.state));
  }
}
