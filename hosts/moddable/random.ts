/**
 * Cryptographically strong random bytes on Moddable: masking keys and Sec-WebSocket-Key
 * (RFC 6455 sections 5.3 and 10.3 ask for a strong source of entropy), the boot id, and the
 * backoff jitter.
 *
 * The SDK has no such source for scripts (see random.c: Math.random is libc rand() in the
 * simulator, the `rng` module is RC4 keyed from it), so a few lines of native code ask the
 * platform's generator: the ESP32's hardware RNG, getrandom() on Linux, arc4random_buf() on
 * macOS, rand_s() on Windows.
 */
import type { RandomSource } from "../../src/shared/host.js";

/** Fills an ArrayBuffer or typed array in place (hosts/moddable/random.c). */
const fill: (into: Uint8Array) => void = native("xs_moorline_random_fill");

export const moddableRandom: RandomSource = (into: Uint8Array): void => {
  fill(into);
};
