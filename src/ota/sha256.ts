/**
 * Portable streaming SHA-256 (FIPS 180-4 sections 5.3.3, 6.2) for hosts without a native
 * digest: a firmware image is hashed as its chunks arrive, one chunk in RAM at a time, so the
 * hash takes its input in pieces of any size and keeps only one 64-byte block of its own.
 *
 * All arithmetic is on 32-bit integers: `| 0` keeps sums in int32 (addition modulo 2^32,
 * section 3.2) and `>>> 0` reads them unsigned; no floating point in the inner loop, so XS
 * runs it as fast as it runs anything.
 *
 * The host may give a native one instead (src/shared/host.ts FirmwareHost.sha256): the same
 * Sha256Stream shape.
 */

/** A SHA-256 in progress: update() with the message in pieces, then digest() once. */
export interface Sha256Stream {
  update(bytes: Uint8Array): void;
  /** The 32-byte digest; the stream is finished after it. */
  digest(): Uint8Array;
}

/** Round constants K0..K63 (section 4.2.2). */
const K = Int32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);

/** Message schedule W0..W63 (section 6.2.2 step 1), shared by every stream: 256 bytes. */
const schedule = new Int32Array(64);

/** SHA-256 over pieces of a message; 104 bytes of state besides the shared schedule. */
export class Sha256 implements Sha256Stream {
  /** H0..H7, initially section 5.3.3's values. */
  private readonly state = Int32Array.of(
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  );
  /** The current partial block. */
  private readonly block = new Uint8Array(64);
  private readonly view = new DataView(this.block.buffer);
  private filled = 0;
  /** Message bytes so far (a Number: exact up to 2^53, far past any image). */
  private length = 0;
  private finished = false;

  update(bytes: Uint8Array): void {
    if (this.finished) throw new Error("SHA-256: update() after digest()");
    this.length += bytes.length;
    let at = 0;
    if (this.filled > 0) {
      const take = Math.min(64 - this.filled, bytes.length);
      this.block.set(bytes.subarray(0, take), this.filled);
      this.filled += take;
      at = take;
      if (this.filled < 64) return;
      compress(this.state, this.block, 0);
      this.filled = 0;
    }
    // Whole blocks straight from the input, no copy.
    for (; at + 64 <= bytes.length; at += 64) compress(this.state, bytes, at);
    if (at < bytes.length) {
      this.block.set(bytes.subarray(at), 0);
      this.filled = bytes.length - at;
    }
  }

  digest(): Uint8Array {
    if (this.finished) throw new Error("SHA-256: digest() twice");
    this.finished = true;
    // Padding, section 5.1.1: 0x80, zeros, then the length in bits as 64-bit big-endian.
    const block = this.block;
    block.fill(0, this.filled);
    block[this.filled] = 0x80;
    if (this.filled >= 56) {
      compress(this.state, block, 0);
      block.fill(0);
    }
    // Bit length = length * 8, split without leaving exact integer range.
    this.view.setUint32(56, Math.floor(this.length / 0x20000000));
    this.view.setUint32(60, (this.length % 0x20000000) * 8);
    compress(this.state, block, 0);
    const out = new Uint8Array(32);
    // Big-endian H0..H7 (section 6.2.2 step 4); setUint32 reads the int32 words unsigned.
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setUint32(i * 4, this.state[i]!);
    return out;
  }
}

/** SHA-256 of `bytes` in one go. */
export function sha256(bytes: Uint8Array): Uint8Array {
  const stream = new Sha256();
  stream.update(bytes);
  return stream.digest();
}

/** One application of the compression function to the block at `offset`, section 6.2.2. */
function compress(state: Int32Array, data: Uint8Array, offset: number): void {
  const w = schedule;
  for (let t = 0; t < 16; t++) {
    const p = offset + t * 4;
    w[t] = (data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!;
  }
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    // sigma0 and sigma1, section 4.1.2 (4.6, 4.7).
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (s1 + w[t - 7]! + s0 + w[t - 16]!) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let t = 0; t < 64; t++) {
    // Sigma1, Ch, Sigma0, Maj: section 4.1.2 (4.2-4.5).
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[t]! + w[t]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}
