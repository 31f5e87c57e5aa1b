/**
 * Writing a whole file so that a crash or power cut mid-write leaves the old file or the new
 * one, never half of each: the desktop device's storage (file-storage.ts) and the companion
 * server's device registry (server/registry.ts) are written this way.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Temporary files of this process get distinct names, even with several files in one folder. */
let temporaryCount = 0;

/**
 * Writes `text` to `path` atomically: a temporary file in the same folder (rename is atomic
 * only within one file system), created with `mode` (0o600 by default: these files hold
 * secrets), fsync'd so its bytes are on disk before the rename makes it the file; then the
 * folder is fsync'd so the rename itself survives a power cut (where the platform allows
 * opening a folder, as Linux and macOS do). The folder is created if missing. Throws the
 * file system's error; the temporary file is then removed.
 */
export function writeFileAtomic(path: string, text: string, mode = 0o600): void {
  const folder = dirname(path);
  mkdirSync(folder, { recursive: true });
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${++temporaryCount}.tmp`);
  try {
    const fd = openSync(temporary, "w", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    // Best effort: the cleanup's own failure (the same full disk, say) must not hide why
    // the write failed.
    try {
      rmSync(temporary, { force: true });
    } catch {
      // nothing more to do
    }
    throw error;
  }
  try {
    const fd = openSync(folder, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Windows cannot open a folder: the rename is still atomic, just not yet durable.
  }
}
