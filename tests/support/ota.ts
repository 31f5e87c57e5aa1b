/**
 * Firmware images for the update tests: the desktop firmware as built in dist/ (or a copy of
 * it with a file changed, to make a "B" that crashes at boot or never reaches its server),
 * signed with a key made in the test's folder, written as the image file the companion server
 * offers, and damaged on demand (a flipped byte, a file cut short); and an update slot in RAM
 * for unit tests of the firmware's side.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { firmwareFiles, packFirmware } from "../../hosts/node/firmware-archive.js";
import { ensureSigningKey, signBytes, type SigningKey } from "../../hosts/node/firmware-keys.js";
import { IMAGE_FORMAT } from "../../src/ota/manifest.js";
import { buildImage, parseImage } from "../../server/ota-image.js";
import { REPO_ROOT } from "./child-process.js";
import type { ActivatedImage, FirmwareStore, RunningImage } from "../../src/shared/host.js";

/** The built firmware the tests pack. */
export const DIST_ROOT = join(REPO_ROOT, "dist");

/** A key pair in `folder`/`name` (the device's --ota-keys, the image's signer). */
export function testKey(folder: string, name = "keys"): SigningKey {
  return ensureSigningKey(join(folder, name));
}

/** A copy of the built firmware under `folder`/`name`, with `patches` applied (path -> change of its text). */
export function patchedFirmware(folder: string, name: string, patches: Record<string, (text: string) => string>): string {
  const root = join(folder, name);
  for (const file of firmwareFiles(DIST_ROOT)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    cpSync(join(DIST_ROOT, file), join(root, file));
  }
  for (const [file, change] of Object.entries(patches)) {
    const path = join(root, file);
    const before = readFileSync(path, "utf8");
    const after = change(before);
    if (after === before) throw new Error(`the patch of ${file} changed nothing`);
    writeFileSync(path, after);
  }
  return root;
}

export interface ImageOptions {
  version: string;
  key: SigningKey;
  /** The dist/ folder to pack (default the built one). */
  root?: string;
  /** Another payload (random bytes for a memory test). */
  payload?: Uint8Array;
  target?: string;
}

/** The image file's bytes. */
export function imageBytes(options: ImageOptions): Buffer {
  const payload = options.payload ?? packFirmware(options.root ?? DIST_ROOT);
  return buildImage({ payload, version: options.version, target: options.target ?? "desktop", key: options.key });
}

/**
 * What an ota_offer carries for `payload`: its manifest's text (desktop, version 0.2.0, its
 * size and SHA-256, the signer's key id; `fields` change any of them) and the signature over
 * it, base64.
 */
export function signedManifest(payload: Uint8Array, signer: SigningKey, fields: Record<string, unknown> = {}): { manifest: string; signature: string } {
  const manifest = JSON.stringify({
    format: IMAGE_FORMAT,
    target: "desktop",
    version: "0.2.0",
    size: payload.length,
    sha256: createHash("sha256").update(payload).digest("hex"),
    key: signer.id,
    ...fields,
  });
  return { manifest, signature: Buffer.from(signBytes(signer.privateKey!, Buffer.from(manifest))).toString("base64") };
}

/** Writes the image to `folder`/`name`; returns the path. */
export function writeImage(folder: string, name: string, bytes: Buffer): string {
  const path = join(folder, name);
  writeFileSync(path, bytes);
  return path;
}

/** The image with one byte of its payload (at `at`, a fraction of its length) flipped. */
export function flipPayloadByte(bytes: Buffer, at = 0.5): Buffer {
  const payloadStart = bytes.length - parseImage(bytes).payload.length;
  const copy = Buffer.from(bytes);
  const index = payloadStart + Math.floor((copy.length - payloadStart) * at);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

/** The image file cut short: its payload loses its last `fraction`. */
export function truncate(bytes: Buffer, fraction = 0.25): Buffer {
  const payload = parseImage(bytes).payload.length;
  return bytes.subarray(0, bytes.length - Math.ceil(payload * fraction));
}

/** A slot in RAM that counts what is done to it. */
export class RamFirmwareStore implements FirmwareStore {
  readonly target = "desktop";
  readonly blockBytes = 1024;
  readonly slot: Uint8Array;
  pending = false;
  rollbackInfo: RunningImage["rollback"];
  size = -1;
  activated: ActivatedImage | undefined;
  calls: string[] = [];
  largestRead = 0;
  failWrites = false;

  /** `capacity`: the slot's size in bytes (more than REHASH_SLICE_BYTES for a resume over several turns). */
  constructor(readonly capacity = 64 * 1024) {
    this.slot = new Uint8Array(capacity);
  }

  running(): RunningImage {
    return { pending: this.pending, ...(this.rollbackInfo ? { rollback: this.rollbackInfo } : {}) };
  }
  open(size: number, offset: number): void {
    this.calls.push(`open ${size} ${offset}`);
    this.size = size;
  }
  write(offset: number, bytes: Uint8Array): void {
    if (this.failWrites) throw new Error("flash write failed");
    if (this.size < 0) throw new Error("written before open()");
    this.slot.set(bytes, offset);
  }
  read(offset: number, length: number): Uint8Array {
    this.largestRead = Math.max(this.largestRead, length);
    return this.slot.slice(offset, offset + length);
  }
  cancel(): void {
    this.calls.push("cancel");
  }
  activate(image: ActivatedImage): void {
    this.activated = image;
  }
  markValid(): void {
    this.calls.push("markValid");
    this.pending = false;
  }
  rollback(): void {
    this.calls.push("rollback");
  }
}
