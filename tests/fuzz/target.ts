/**
 * What a fuzz target is: one small file under tests/fuzz/targets/ exporting a FuzzTarget, and
 * one line in tests/fuzz/targets/index.ts. The harness (tests/fuzz/harness.ts) feeds it bytes
 * from fast-check: the target's own structure-aware inputs (mostly valid, so the deep states
 * are reached), those inputs mutated byte by byte, plain random bytes and, in a
 * coverage-guided run (npm run fuzz), mutations of the inputs that reached new code.
 *
 * A target's check() is the whole property: it runs the code under test on the input and
 * throws (node:assert) when a rule is broken. What every target checks, in its own terms: no
 * exception escapes the code (or only the documented error class), every rejection carries
 * the right close code or error code, what the code holds stays within its limits, and a
 * valid input round-trips. Inputs are bytes, so a failure's reproducer is a hex string that
 * becomes a regular test (tests/fuzz/regressions.test.ts).
 */
import type { Arbitrary } from "fast-check";

export interface FuzzTarget {
  /** Short name: `npm run fuzz -- --target NAME`. */
  readonly name: string;
  /** What it exercises (src/ files) and against what, for the report. */
  readonly about: string;
  /** Structure-aware inputs, as bytes: valid ones and near misses. */
  readonly inputs: Arbitrary<Uint8Array>;
  /** Runs one input; throws when a property does not hold. Must be deterministic. */
  check(bytes: Uint8Array): void;
  /** Longest input the harness makes for it by mutation or at random, bytes (default 2048). */
  readonly maxBytes?: number;
}

/** `bytes` as lower-case hex, two digits a byte (a reproducer). */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
  return out;
}

/** The bytes of a hex string written by toHex (whitespace ignored). */
export function fromHex(hex: string): Uint8Array {
  const digits = hex.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) throw new Error(`not a hex string: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * A deterministic way to cut `bytes` into chunks, drawn from the bytes themselves (FNV-1a
 * hash as the seed of a xorshift sequence): the same input is always cut the same way, so a
 * reproducer needs nothing but the bytes. Cuts fall anywhere, one-byte chunks included.
 */
export function chunksOf(bytes: Uint8Array, salt = 0): Uint8Array[] {
  let state = 0x811c9dc5 ^ salt;
  for (let i = 0; i < bytes.length; i++) state = Math.imul(state ^ bytes[i]!, 0x01000193);
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const pick = next() % 8;
    const size = pick < 3 ? 1 : pick < 6 ? 1 + (next() % 16) : 1 + (next() % 512);
    chunks.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    at += size;
  }
  return chunks;
}

/** Every way this suite cuts an input: whole, the hash-chosen cuts, and (for short ones) byte by byte. */
export function chunkings(bytes: Uint8Array, byteByByteUpTo = 1024): Array<[string, Uint8Array[]]> {
  const ways: Array<[string, Uint8Array[]]> = [["whole", bytes.length > 0 ? [bytes] : []], ["cut", chunksOf(bytes)]];
  if (bytes.length <= byteByByteUpTo) {
    const single: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    ways.push(["byte by byte", single]);
  }
  return ways;
}
