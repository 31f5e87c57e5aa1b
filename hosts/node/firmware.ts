/**
 * Which firmware the desktop chip (hosts/node/chip.ts) boots, and the chip's own memory: the
 * one place that decides it, as the ESP32's boot loader does with its otadata partition.
 *
 * Images: the firmware compiled into dist/ ("built-in", the factory image), and two update
 * slots, "a" and "b" (ota_0 and ota_1): each a payload file written by the firmware's updater
 * (hosts/node/firmware-store.ts) and, once booted, unpacked into a folder of its own
 * (firmware-archive.ts) that the Node worker and the XS engine load the firmware from.
 *
 * The boot choice (`boot` in the chip's memory), as ESP-IDF's app rollback keeps it:
 *
 *   activate   the updater made slot X the image to boot: image X, state "new", the running
 *              image kept as `previous`
 *   boot       "new" -> "pending" (on trial) and X boots; a boot that finds "pending" means the
 *              trial's run ended without the firmware confirming it (a crash, the watchdog, a
 *              power cut, a restart): rolled back to `previous`, why recorded for its firmware
 *   confirm    the firmware on trial reached its server: "valid", it stays
 *   give up    the firmware on trial rolls itself back (its deadline passed): `previous` boots
 *   stop       a clean stop (Ctrl-C) ends a trial without judging it: "new" again, tried anew
 *
 * The chip's memory is the desktop's stand-in for what survives a reset on the ESP32 outside
 * NVS (the RTC registers that hold the reset reason, the OTA data partition): a small JSON
 * file beside the device's storage, written atomically by FileStorage, read afresh for every
 * change (the firmware's store writes it too, between the chip's own writes). Fields it does
 * not know are kept as they are, so a later version's fields survive an older one.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { FIRMWARE_VERSION } from "../../src/device/device.js";
import { isVersion } from "../../src/ota/manifest.js";
import { FileStorage } from "./file-storage.js";
import type { Log } from "../../src/shared/host.js";
import { parseJsonObject } from "../../src/shared/json.js";
import { NODE_ENTRY, unpackFirmware } from "./firmware-archive.js";

/** A firmware image the chip can boot. */
export interface FirmwareImage {
  /** Where it comes from: "built-in" (dist/), or an update slot ("a", "b"). */
  slot: string;
  /** Its version, as hello reports it. */
  version: string;
  /** The Node engine's entry: the worker module that runs it (hosts/node/firmware-worker.ts). */
  nodeEntry: URL;
  /** The XS engine's program (hosts/xs/xs-side/<program>.ts). */
  xsProgram: string;
  /** The folder the XS engine loads src/ and hosts/xs/xs-side/ from; undefined: dist/. */
  root?: string;
}

/** The image compiled into dist/ with the rest of the desktop tools. */
export const BUILT_IN_FIRMWARE: Readonly<FirmwareImage> = Object.freeze({
  slot: "built-in",
  version: FIRMWARE_VERSION,
  nodeEntry: new URL("./firmware-worker.js", import.meta.url),
  xsProgram: "device",
});

export type SlotName = "a" | "b";
export type ImageName = SlotName | "built-in";

/** An image written to a slot: what its verified manifest said. */
export interface SlotRecord {
  version: string;
  size: number;
  sha256: string;
}

/** The boot choice (ESP-IDF's otadata, see the module's comment). */
export interface BootChoice {
  image: ImageName;
  previous: ImageName;
  state: "new" | "pending" | "valid";
  slots: Partial<Record<SlotName, SlotRecord>>;
  /** The last rollback: of which version, and why. */
  rollback?: { version: string; reason: string; detail?: string };
}

/** What the chip remembers across power cycles. */
export interface ChipState {
  /** A firmware is running: set at power-on, cleared by a clean stop. Found set at power-on: the last run was killed. */
  running: boolean;
  /** The boot choice; absent: the built-in image, valid. */
  boot?: BootChoice;
  /** Fields of other versions, kept as they are. */
  [field: string]: unknown;
}

export const FACTORY_BOOT: Readonly<BootChoice> = Object.freeze({ image: "built-in", previous: "built-in", state: "valid", slots: Object.freeze({}) });

const STATE_DOMAIN = "chip";
const STATE_KEY = "state";

/** The chip's memory file beside the device's storage: .moorline/sim-1.json -> .moorline/sim-1.chip.json. */
export function chipStatePath(storagePath: string): string {
  return storagePath.replace(/\.json$/, "") + ".chip.json";
}

/** The update slots' folder beside it: .moorline/sim-1.json -> .moorline/sim-1.slots/. */
export function slotsPath(storagePath: string): string {
  return storagePath.replace(/\.json$/, "") + ".slots";
}

/** The chip's memory: read afresh for every look and every change (the firmware's store shares the file). */
export class ChipMemory {
  /** What the file held at power-on: undefined when there was nothing (a first start), or nothing readable. */
  readonly previous: ChipState | undefined;

  constructor(
    readonly path: string,
    private readonly log: Log,
  ) {
    this.previous = this.read(true);
  }

  get current(): Readonly<ChipState> {
    return this.read(false) ?? { running: false };
  }

  /** The boot choice, or the factory's. */
  get boot(): BootChoice {
    return readBootChoice(this.current.boot);
  }

  /** Records whether a firmware is running (a clean stop clears it). */
  setRunning(running: boolean): void {
    this.update((state) => ({ ...state, running }));
  }

  setBoot(boot: BootChoice): void {
    this.update((state) => ({ ...state, boot }));
  }

  private update(change: (state: ChipState) => ChipState): void {
    const file = new FileStorage(this.path);
    file.set(STATE_DOMAIN, STATE_KEY, JSON.stringify(change(this.read(false) ?? { running: false })));
  }

  private read(report: boolean): ChipState | undefined {
    const text = new FileStorage(this.path, report ? { log: this.log } : {}).get(STATE_DOMAIN, STATE_KEY);
    if (text === undefined) return undefined;
    const value = parseJsonObject(text);
    if (value !== undefined && typeof value.running === "boolean") return value as ChipState;
    if (report) this.log("warn", "chip_state_corrupt", { path: this.path, action: "as at a first start" });
    return undefined;
  }
}

/** A stored boot choice, or the factory's when there is none or it is damaged. */
export function readBootChoice(value: unknown): BootChoice {
  const choice = value as Partial<BootChoice> | undefined;
  const isImage = (name: unknown): name is ImageName => name === "built-in" || name === "a" || name === "b";
  if (!choice || typeof choice !== "object" || !isImage(choice.image) || !isImage(choice.previous)) return { ...FACTORY_BOOT, slots: {} };
  if (choice.state !== "new" && choice.state !== "pending" && choice.state !== "valid") return { ...FACTORY_BOOT, slots: {} };
  const slots: Partial<Record<SlotName, SlotRecord>> = {};
  for (const name of ["a", "b"] as const) {
    const slot = (choice.slots as Record<string, Partial<SlotRecord>> | undefined)?.[name];
    if (slot && isVersion(slot.version) && typeof slot.size === "number" && typeof slot.sha256 === "string") {
      slots[name] = { version: slot.version, size: slot.size, sha256: slot.sha256 };
    }
  }
  // A slot image without its record cannot boot: the factory image instead.
  if (choice.image !== "built-in" && slots[choice.image] === undefined) return { ...FACTORY_BOOT, slots };
  const boot: BootChoice = { image: choice.image, previous: choice.previous, state: choice.state, slots };
  if (choice.rollback && typeof choice.rollback.reason === "string") boot.rollback = choice.rollback;
  return boot;
}

/** The slot an update is written to while `running` runs (ESP-IDF's next update partition). */
export function updateSlot(running: ImageName): SlotName {
  return running === "a" ? "b" : "a";
}

/** How the previous run ended, for a rollback's record. */
export interface LastRun {
  reason: string;
  detail?: string;
}

/**
 * The firmware to boot now (the boot loader's decision, see the module's comment), after the
 * previous run ended as `last` says. Rolls back a trial that ended, and an image that cannot
 * be unpacked, logging why; the chip's memory records it for the firmware to report.
 */
export function selectFirmware(memory: ChipMemory, slots: string, last: LastRun, log: Log): FirmwareImage {
  for (;;) {
    const boot = memory.boot;
    if (boot.state === "pending") {
      rollBack(memory, boot, last.reason, last.detail, log);
      continue;
    }
    if (boot.state === "new") memory.setBoot({ ...boot, state: "pending" });
    if (boot.image === "built-in") return BUILT_IN_FIRMWARE;
    const record = boot.slots[boot.image]!;
    try {
      return slotImage(slots, boot.image, record);
    } catch (error) {
      rollBack(memory, { ...boot, state: "pending" }, "corrupt_image", (error as Error).message, log);
    }
  }
}

/** The image in `slot`, unpacked from its payload unless it is already (a marker names its SHA-256). */
function slotImage(slots: string, slot: SlotName, record: SlotRecord): FirmwareImage {
  const folder = join(slots, slot);
  const marker = join(folder, ".sha256");
  if (!(existsSync(marker) && readFileSync(marker, "utf8") === record.sha256)) {
    const payload = new Uint8Array(readFileSync(join(slots, `${slot}.bin`)));
    const digest = createHash("sha256").update(payload).digest("hex");
    // The updater verified it; a payload changed since (a damaged disk) is not booted.
    if (payload.length !== record.size || digest !== record.sha256) throw new Error(`slot ${slot}'s payload is not the image that was installed`);
    unpackFirmware(payload, folder);
    writeFileSync(marker, record.sha256);
  }
  return { slot, version: record.version, nodeEntry: pathToFileURL(join(folder, NODE_ENTRY)), xsProgram: "device", root: folder };
}

function rollBack(memory: ChipMemory, boot: BootChoice, reason: string, detail: string | undefined, log: Log): void {
  const failed = boot.image === "built-in" ? FIRMWARE_VERSION : boot.slots[boot.image]?.version ?? "unknown";
  // An image that is its own fallback (after an earlier rollback) falls back to the factory's.
  const to = boot.previous !== boot.image ? boot.previous : "built-in";
  log("error", "chip_rollback", { image: boot.image, version: failed, to, reason, ...(detail !== undefined ? { detail } : {}) });
  memory.setBoot({
    image: to,
    previous: to,
    state: "valid",
    slots: boot.slots,
    rollback: { version: failed, reason, ...(detail !== undefined ? { detail } : {}) },
  });
}

/** The run on trial ended (`last`) and the chip stops before booting again: the rollback is recorded now. */
export function endTrial(memory: ChipMemory, last: LastRun, log: Log): void {
  const boot = memory.boot;
  if (boot.state === "pending") rollBack(memory, boot, last.reason, last.detail, log);
}

/** A clean stop ends a trial without judging it: the image is tried again at the next power-on. */
export function suspendTrial(memory: ChipMemory): void {
  const boot = memory.boot;
  if (boot.state === "pending") memory.setBoot({ ...boot, state: "new" });
}
