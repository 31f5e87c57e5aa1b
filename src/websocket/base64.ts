/**
 * Base64 encoding, RFC 4648 section 4 (standard alphabet, "=" padding). The handshake needs
 * it twice: for Sec-WebSocket-Key (16 bytes -> 24 characters) and to compute the expected
 * Sec-WebSocket-Accept (20-byte SHA-1 -> 28 characters). Only encoding is needed: the
 * client never decodes base64, it compares the server's Accept string with its own.
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
