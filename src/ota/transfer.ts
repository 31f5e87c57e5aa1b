/**
 * One image on its way into the store (src/shared/host.ts FirmwareStore): where it has got to,
 * its SHA-256 so far, and its checkpoints. It holds no image bytes: each chunk is written and
 * hashed as it arrives and let go, so RAM holds one chunk at a time whatever the image's size.
 *
 * Resuming: within one boot the transfer object itself survives a disconnect and goes on from
 * its exact offset. After a reboot only the transfer record survives (records.ts: the offset
 * last checkpointed, a multiple of the store's block); the bytes before it are read back from
 * the store and hashed again, a slice per turn of the event loop, then writing goes on there.
 */
import type { FirmwareStore, Timers } from "../shared/host.js";
import type { ImageManifest } from "./manifest.js";
import { toHex } from "./manifest.js";
import type { Sha256Stream } from "./sha256.js";

/** Bytes read back and hashed per turn of the event loop when resuming after a reboot. */
export const REHASH_SLICE_BYTES = 64 * 1024;

export class Transfer {
  readonly manifest: ImageManifest;
  /** Bytes written so far. */
  offset: number;
  /** The offset of the last checkpoint (the transfer record's). */
  checkpointed: number;
  private readonly store: FirmwareStore;
  private readonly hash: Sha256Stream;

  private constructor(store: FirmwareStore, manifest: ImageManifest, hash: Sha256Stream, offset: number) {
    this.store = store;
    this.manifest = manifest;
    this.hash = hash;
    this.offset = offset;
    this.checkpointed = offset;
  }

  /**
   * Opens the store for `manifest`'s image at `resumeAt` (0: from the start), hashing again
   * what an earlier boot wrote before it, `readBytes` at a time (one chunk's worth of RAM),
   * REHASH_SLICE_BYTES per turn; `done` gets the transfer, or the store's error.
   */
  static begin(
    store: FirmwareStore,
    manifest: ImageManifest,
    hash: Sha256Stream,
    resumeAt: number,
    readBytes: number,
    timers: Timers,
    done: (result: Transfer | Error) => void,
  ): void {
    let at = 0;
    const step = (): void => {
      try {
        if (at === 0) store.open(manifest.size, resumeAt);
        const end = Math.min(resumeAt, at + REHASH_SLICE_BYTES);
        while (at < end) {
          const bytes = store.read(at, Math.min(readBytes, end - at));
          if (bytes.length === 0) throw new Error(`the slot gave no bytes at ${at}`);
          hash.update(bytes);
          at += bytes.length;
        }
      } catch (error) {
        done(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (at < resumeAt) timers.set(step, 0);
      else done(new Transfer(store, manifest, hash, resumeAt));
    };
    step();
  }

  get size(): number {
    return this.manifest.size;
  }

  get complete(): boolean {
    return this.offset === this.manifest.size;
  }

  /** Writes the next chunk (at this.offset) and hashes it; throws the store's error. */
  append(data: Uint8Array): void {
    this.store.write(this.offset, data);
    this.hash.update(data);
    this.offset += data.length;
  }

  /** The payload's SHA-256 matches the manifest's (once complete; the hash is finished then). */
  hashMatches(): boolean {
    return toHex(this.hash.digest()) === this.manifest.sha256;
  }

  /** The offset a checkpoint may record now: the last whole block written. */
  checkpointOffset(blockBytes: number): number {
    return this.offset - (this.offset % blockBytes);
  }
}
