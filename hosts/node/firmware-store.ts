/**
 * The desktop's FirmwareStore (src/shared/host.ts): the update slot is a file beside the
 * device's storage (<name>.slots/a.bin or b.bin, whichever the running image is not), and the
 * boot choice is the chip's memory (hosts/node/firmware.ts), which the chip reads at its next
 * boot, as the ESP32's boot loader reads otadata. Used by the Node engine's worker directly
 * and by the XS engine's Node side across the bridge (hosts/xs/firmware-bridge.ts).
 *
 * Writes go to the file at their offset and are flushed to disk every SYNC_BYTES, so a
 * checkpoint the updater records later never claims bytes the disk does not have.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { ActivatedImage, FirmwareHost, FirmwareStore, Log, RunningImage } from "../../src/shared/host.js";
import { ChipMemory, updateSlot, type SlotName } from "./firmware.js";
import { verifyP256 } from "./firmware-keys.js";

/** The desktop's image target (a manifest's `target`). */
export const DESKTOP_TARGET = "desktop";
/** A desktop slot's size: the largest desktop image, bytes (today's is about 0.6 MiB). */
export const DESKTOP_SLOT_BYTES = 8 * 1024 * 1024;
/** The desktop slot's erase unit, as the ESP32's flash sector: checkpoints are multiples of it. */
export const DESKTOP_BLOCK_BYTES = 4096;
/** Written bytes are flushed to disk at least this often, bytes. */
const SYNC_BYTES = 64 * 1024;

export interface NodeFirmwareStoreOptions {
  /** The chip's memory file (firmware.ts chipStatePath). */
  statePath: string;
  /** The slots' folder (firmware.ts slotsPath). */
  slotsPath: string;
  log: Log;
  /** Default DESKTOP_SLOT_BYTES. */
  capacity?: number;
}

export class NodeFirmwareStore implements FirmwareStore {
  readonly target = DESKTOP_TARGET;
  readonly capacity: number;
  readonly blockBytes = DESKTOP_BLOCK_BYTES;
  private readonly memory: ChipMemory;
  private readonly slots: string;
  private fd: number | undefined;
  private slot: SlotName | undefined;
  private size = 0;
  private unsynced = 0;

  constructor(options: NodeFirmwareStoreOptions) {
    this.memory = new ChipMemory(options.statePath, options.log);
    this.slots = options.slotsPath;
    this.capacity = options.capacity ?? DESKTOP_SLOT_BYTES;
  }

  running(): RunningImage {
    const boot = this.memory.boot;
    const running: RunningImage = { pending: boot.state === "pending" };
    if (boot.rollback) running.rollback = { reason: boot.rollback.reason, ...(boot.rollback.detail !== undefined ? { detail: boot.rollback.detail } : {}) };
    return running;
  }

  open(size: number, offset: number): void {
    this.cancel();
    const slot = updateSlot(this.memory.boot.image);
    mkdirSync(this.slots, { recursive: true });
    const path = join(this.slots, `${slot}.bin`);
    // A resume keeps what an earlier boot wrote; a new image starts an empty file.
    const fd = openSync(path, offset > 0 ? "r+" : "w", 0o600);
    if (offset > fstatSync(fd).size) {
      closeSync(fd);
      throw new Error(`slot ${slot} holds fewer than the ${offset} bytes to resume from`);
    }
    this.fd = fd;
    this.slot = slot;
    this.size = size;
    this.unsynced = 0;
  }

  write(offset: number, bytes: Uint8Array): void {
    const fd = this.openFd();
    if (offset + bytes.length > this.size) throw new Error(`a write past the image's ${this.size} bytes`);
    writeSync(fd, bytes, 0, bytes.length, offset);
    this.unsynced += bytes.length;
    if (this.unsynced >= SYNC_BYTES) {
      fsyncSync(fd);
      this.unsynced = 0;
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const read = readSync(this.openFd(), out, 0, length, offset);
    return read === length ? out : out.subarray(0, read);
  }

  cancel(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.slot = undefined;
  }

  activate(image: ActivatedImage): void {
    const fd = this.openFd();
    const slot = this.slot!;
    fsyncSync(fd);
    const size = fstatSync(fd).size;
    this.cancel();
    if (size !== image.size) throw new Error(`slot ${slot} holds ${size} bytes, the image has ${image.size}`);
    const boot = this.memory.boot;
    this.memory.setBoot({
      image: slot,
      previous: boot.image,
      state: "new",
      slots: { ...boot.slots, [slot]: { version: image.version, size: image.size, sha256: image.sha256 } },
    });
  }

  markValid(): void {
    const boot = this.memory.boot;
    if (boot.state === "pending") this.memory.setBoot({ ...boot, state: "valid" });
  }

  rollback(): void {
    const boot = this.memory.boot;
    if (boot.state !== "pending") return;
    const version = boot.image === "built-in" ? "built-in" : (boot.slots[boot.image]?.version ?? "unknown");
    this.memory.setBoot({ image: boot.previous, previous: boot.previous, state: "valid", slots: boot.slots, rollback: { version, reason: "rolled back by the firmware" } });
  }

  private openFd(): number {
    if (this.fd === undefined) throw new Error("no image is being written (open() first)");
    return this.fd;
  }
}

/** Node's SHA-256 as a FirmwareHost's streaming digest. */
export function nodeSha256(): { update(bytes: Uint8Array): void; digest(): Uint8Array } {
  const hash = createHash("sha256");
  return {
    update: (bytes) => void hash.update(bytes),
    digest: () => new Uint8Array(hash.digest()),
  };
}

/** The desktop's FirmwareHost on the Node engine: the store, Node's ECDSA and SHA-256. */
export function createNodeFirmwareHost(options: NodeFirmwareStoreOptions): FirmwareHost {
  return { store: new NodeFirmwareStore(options), verify: verifyP256, sha256: nodeSha256 };
}
