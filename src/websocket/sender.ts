/**
 * Frame encoding, RFC 6455 section 5.2. Pure: the caller supplies the masking key.
 */
import { invalidArgument } from "../shared/errors.js";
import { encodeUtf8Into, utf8Length } from "./utf8.js";

/** Payload lengths up to this use the 7-bit length field (section 5.2). */
const MAX_7BIT_LENGTH = 125;
/** Payload lengths up to this use the 16-bit extended length (marker 126). */
const MAX_16BIT_LENGTH = 0xffff;
/** 2^32, to split a 64-bit length into two 32-bit halves without bit operators (which truncate). */
const TWO_TO_32 = 0x100000000;

/**
 * Encodes one client frame: FIN bit, opcode, MASK bit set, 7/16/64-bit length, the 4-byte
 * masking key, and the payload XORed with the key (section 5.3). One allocation, header and
 * payload together. `payload` is not modified.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  maskKey: Uint8Array,
): Uint8Array {
  if (maskKey.length !== 4) {
    throw invalidArgument(`masking key must be 4 bytes, got ${maskKey.length}`);
  }
  const length = payload.length;
  // Section 5.2: "the minimal number of bytes MUST be used to encode the length".
  const lengthBytes = length <= MAX_7BIT_LENGTH ? 0 : length <= MAX_16BIT_LENGTH ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = new Uint8Array(headerLength + length);

  frame[0] = (fin ? 0x80 : 0) | (opcode & 0x0f); // RSV1-3 stay 0: no extensions
  if (lengthBytes === 0) {
    frame[1] = 0x80 | length; // 0x80: MASK, every client frame is masked (section 5.1)
  } else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    // Network byte order; the most significant bit stays 0 (array lengths are < 2^53).
    const high = Math.floor(length / TWO_TO_32);
    const low = length >>> 0;
    frame[2] = high >>> 24;
    frame[3] = (high >>> 16) & 0xff;
    frame[4] = (high >>> 8) & 0xff;
    frame[5] = high & 0xff;
    frame[6] = low >>> 24;
    frame[7] = (low >>> 16) & 0xff;
    frame[8] = (low >>> 8) & 0xff;
    frame[9] = low & 0xff;
  }

  const keyAt = 2 + lengthBytes;
  const k0 = maskKey[0];
  const k1 = maskKey[1];
  const k2 = maskKey[2];
  const k3 = maskKey[3];
  frame[keyAt] = k0;
  frame[keyAt + 1] = k1;
  frame[keyAt + 2] = k2;
  frame[keyAt + 3] = k3;

  // Section 5.3: byte i is XORed with key byte i mod 4. Four bytes per iteration keeps the
  // key bytes in locals and avoids a modulo per byte.
  const whole = length - (length & 3);
  let i = 0;
  let out = headerLength;
  for (; i < whole; i += 4, out += 4) {
    frame[out] = payload[i] ^ k0;
    frame[out + 1] = payload[i + 1] ^ k1;
    frame[out + 2] = payload[i + 2] ^ k2;
    frame[out + 3] = payload[i + 3] ^ k3;
  }
  if (i < length) frame[out++] = payload[i++] ^ k0;
  if (i < length) frame[out++] = payload[i++] ^ k1;
  if (i < length) frame[out] = payload[i] ^ k2;
  return frame;
}

/**
 * Close frame payload (section 5.5.1): empty when `code` is undefined, else the 2-byte code
 * followed by the UTF-8 reason. Arguments are validated by the caller.
 */
export function encodeClosePayload(code?: number, reason?: string): Uint8Array {
  if (code === undefined) return new Uint8Array(0);
  const text = reason ?? "";
  const payload = new Uint8Array(2 + utf8Length(text));
  // The status code is an unsigned 16-bit integer in network byte order.
  payload[0] = (code >>> 8) & 0xff;
  payload[1] = code & 0xff;
  encodeUtf8Into(text, payload, 2);
  return payload;
}
