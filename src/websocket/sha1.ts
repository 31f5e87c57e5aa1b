/**
 * Portable SHA-1 (FIPS 180-4 section 6.1) for hosts without a native digest. The client
 * hashes one short string per handshake (key + GUID, 60 bytes), so this favours small,
 * allocation-free code over speed; it still handles messages of any length.
 *
 * All arithmetic is on 32-bit integers: `| 0` keeps sums in int32 (wrapping mod 2^32, as
 * FIPS 180-4 section 3.2 "addition modulo 2^32" requires) and `>>> 0` reads them unsigned.
 * XS and every other engine run this without floating point in the inner loop.
 */

/** Message schedule W0..W79 (section 6.1.2 step 1), reused by every call: 320 bytes. */
const schedule = new Int32Array(80);
/** The padded final block or two (section 5.1.1): at most 2 x 64 bytes, reused. */
const tail = new Uint8Array(128);

/** SHA-1 of `bytes`: 20 bytes, big-endian H0..H4 (section 6.1.2 step 4). */
export function sha1(bytes: Uint8Array): Uint8Array {
  // Initial hash value, section 5.3.1.
  const state = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];

  const length = bytes.length;
  const fullBlocks = length >>> 6; // 64-byte blocks taken straight from the input
  for (let block = 0; block < fullBlocks; block++) compress(state, bytes, block << 6);

  // Padding, section 5.1.1: the leftover bytes, 0x80, zeros, then the message length in
  // bits as a 64-bit big-endian number. Leftover of 56..63 bytes leaves no room for the
  // length in this block, so the padding spills into a second one.
  const leftover = length & 63;
  tail.fill(0);
  tail.set(bytes.subarray(length - leftover), 0);
  tail[leftover] = 0x80;
  const tailLength = leftover < 56 ? 64 : 128;
  // Bit length = length * 8, split without leaving exact integer range: the high word is
  // length / 2^29, the low word (length mod 2^29) * 8.
  const bitsHigh = Math.floor(length / 0x20000000);
  const bitsLow = (length % 0x20000000) * 8;
  writeUint32(tail, tailLength - 8, bitsHigh);
  writeUint32(tail, tailLength - 4, bitsLow);
  compress(state, tail, 0);
  if (tailLength === 128) compress(state, tail, 64);

  const digest = new Uint8Array(20);
  for (let i = 0; i < 5; i++) writeUint32(digest, i * 4, state[i]!);
  return digest;
}

/** One application of the compression function, section 6.1.2 steps 1-4. */
function compress(state: number[], data: Uint8Array, offset: number): void {
  const w = schedule;
  for (let t = 0; t < 16; t++) {
    const p = offset + t * 4;
    w[t] = (data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!;
  }
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
    w[t] = (x << 1) | (x >>> 31); // ROTL^1
  }

  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  for (let t = 0; t < 80; t++) {
    // f_t and K_t, sections 4.1.1 and 4.2.1.
    let f: number;
    let k: number;
    if (t < 20) {
      f = (b & c) | (~b & d); // Ch
      k = 0x5a827999;
    } else if (t < 40) {
      f = b ^ c ^ d; // Parity
      k = 0x6ed9eba1;
    } else if (t < 60) {
      f = (b & c) | (b & d) | (c & d); // Maj
      k = 0x8f1bbcdc | 0;
    } else {
      f = b ^ c ^ d; // Parity
      k = 0xca62c1d6 | 0;
    }
    const temp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2); // ROTL^30
    b = a;
    a = temp;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
}

function writeUint32(into: Uint8Array, offset: number, value: number): void {
  into[offset] = value >>> 24;
  into[offset + 1] = value >>> 16;
  into[offset + 2] = value >>> 8;
  into[offset + 3] = value;
}
