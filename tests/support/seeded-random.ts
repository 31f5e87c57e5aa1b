/**
 * A small seeded generator (xorshift32) for repeatable "random" bytes: tests of jitter and
 * spread must not depend on luck, and a failure must reproduce.
 */
import type { RandomSource } from "../../src/shared/host.js";

/** A deterministic RandomSource: the same seed gives the same bytes. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0 || 1;
  return (into) => {
    for (let i = 0; i < into.length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      into[i] = state & 0xff;
    }
  };
}
