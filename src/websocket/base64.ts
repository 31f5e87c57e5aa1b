/**
 * Base64 encoding, RFC 4648 section 4 (standard alphabet, "=" padding). The handshake needs
 * it twice: for Sec-WebSocket-Key (16 bytes -> 24 characters) and to compute the expected
 * Sec-WebSocket-Accept (20-byte SHA-1 -> 28 characters); the client never decodes base64, it
 * compares the server's Accept string with its own. Decoding serves firmware updates
 * (src/ota): an image's signature and the key it is checked with.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 (RFC 4648 section 4) encoding of bytes. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = "";
  const whole = bytes.length - (bytes.length % 3);
  let i = 0;
  // Each 3-byte group becomes 4 characters of 6 bits each (section 4).
  for (; i < whole; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      ALPHABET[(n >>> 18) & 63]! +
      ALPHABET[(n >>> 12) & 63]! +
      ALPHABET[(n >>> 6) & 63]! +
      ALPHABET[n & 63]!;
  }
  // The final quantum: 1 byte -> 2 characters + "==", 2 bytes -> 3 characters + "=".
  const left = bytes.length - whole;
  if (left === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[(n >>> 18) & 63]! + ALPHABET[(n >>> 12) & 63]! + "==";
  } else if (left === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out +=
      ALPHABET[(n >>> 18) & 63]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + "=";
  }
  return out;
}

/** Each character's 6-bit value, -1 for a character outside the alphabet. */
const VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) values[ALPHABET.charCodeAt(i)] = i;
  return values;
})();

/**
 * The bytes of base64 text (RFC 4648 section 4, padded; a signed firmware image's signature
 * and the key it is checked with arrive this way), or undefined for text that is not
 * canonical base64: a length that is not a multiple of 4, a character outside the alphabet,
 * padding anywhere but the end, or non-zero bits under the padding (section 3.5).
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const code = text.charCodeAt(i + j);
      const last = i + 4 === text.length;
      if (code === 0x3d && last && j >= 4 - padding) {
        n <<= 6;
        continue;
      }
      const value = code < 128 ? VALUES[code]! : -1;
      if (value < 0) return undefined;
      n = (n << 6) | value;
    }
    const bytes = i + 4 === text.length ? 3 - padding : 3;
    if (bytes < 3 && (n & (bytes === 1 ? 0xffff : 0xff)) !== 0) return undefined;
    for (let k = 0; k < bytes; k++) out[at++] = (n >>> (16 - 8 * k)) & 0xff;
  }
  return out;
}
