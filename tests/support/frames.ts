/**
 * A tiny, deliberately literal WebSocket frame builder for tests (RFC 6455 section 5.2),
 * written independently of src/websocket/sender.ts so tests do not check the code with itself.
 * It builds what a server sends (unmasked by default), and can also build what a server
 * must not send: reserved bits, reserved opcodes, masked frames, non-minimal or lying
 * lengths.
 */

export const OP = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export type PayloadLike = Uint8Array | string | readonly number[];

export interface FrameSpec {
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV1-3 as a 3-bit number (4 = RSV1, 2 = RSV2, 1 = RSV3); default 0. */
  rsv?: number;
  opcode: number;
  /** Bytes, a string (UTF-8 encoded) or a byte list; default empty. */
  payload?: PayloadLike;
  /** When given, the MASK bit is set and the payload is masked with this 4-byte key. */
  mask?: Uint8Array | readonly number[];
  /** Length field form: 7-bit, 16-bit (126) or 64-bit (127); default the minimal one. */
  lengthEncoding?: 7 | 16 | 64;
  /** Length written in the header instead of the payload's real length (a lying header). */
  length?: number | bigint;
}

/** Bytes of a payload given as bytes, text or a byte list. */
export function toBytes(payload: PayloadLike | undefined): Uint8Array {
  if (payload === undefined) return new Uint8Array(0);
  if (typeof payload === "string") return new TextEncoder().encode(payload);
  return Uint8Array.from(payload);
}

/** The frame header alone (no payload), for tests that stop before the payload. */
export function frameHeader(spec: FrameSpec): Uint8Array {
  const payloadLength = toBytes(spec.payload).length;
  const length = BigInt(spec.length ?? payloadLength);
  const encoding =
    spec.lengthEncoding ?? (length <= 125n ? 7 : length <= 0xffffn ? 16 : 64);
  const bytes: number[] = [];
  bytes.push((spec.fin === false ? 0 : 0x80) | ((spec.rsv ?? 0) << 4) | spec.opcode);
  const maskBit = spec.mask ? 0x80 : 0;
  if (encoding === 7) {
    bytes.push(maskBit | Number(length));
  } else if (encoding === 16) {
    bytes.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  } else {
    bytes.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) bytes.push(Number((length >> shift) & 0xffn));
  }
  if (spec.mask) bytes.push(...spec.mask);
  return Uint8Array.from(bytes);
}

/** One whole frame: header then payload (masked when `mask` is given). */
export function serverFrame(spec: FrameSpec): Uint8Array {
  const payload = toBytes(spec.payload);
  if (spec.mask) {
    for (let i = 0; i < payload.length; i++) payload[i] ^= spec.mask[i % 4];
  }
  return concat(frameHeader(spec), payload);
}

/** Close frame payload: 2-byte big-endian code then the reason (bytes or text). */
export function closeBody(code: number, reason: PayloadLike = ""): Uint8Array {
  return concat(Uint8Array.of(code >> 8, code & 0xff), toBytes(reason));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** "81 05 48 65" -> bytes; whitespace is ignored. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0) throw new Error(`odd hex string: ${text}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** bytes -> "81 05 48 65", for readable assertion messages. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** `length` bytes of a deterministic pattern (so misplaced bytes show up). */
export function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}
