/**
 * Memory figures of this Node process, for tests that bound what the code under test keeps
 * alive: bytes of ArrayBuffers (every Uint8Array's and Buffer's storage) left after a full
 * garbage collection. Works without `node --expose-gc`: the flag is set at run time.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | undefined;

/** A full, synchronous garbage collection. */
export function collectGarbage(): void {
  if (gc === undefined) {
    const global = (globalThis as { gc?: () => void }).gc;
    if (global !== undefined) {
      gc = global;
    } else {
      // A context created after the flag is set gets the gc function.
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    }
  }
  // Twice: the first pass may only run finalizers that free what the second collects.
  gc();
  gc();
}

/** Bytes of ArrayBuffers alive in this process after a full garbage collection. */
export function liveArrayBufferBytes(): number {
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

/** `bytes` as "12.3 MiB" / "45.6 KiB", for assertion messages. */
export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
