/**
 * A reference model of RFC 6455 section 5 as a client receives it: what a server's byte
 * stream must give, event by event, written straight from the RFC and independently of
 * src/websocket/receiver.ts (the frame-parser fuzz target compares the two). It reads the
 * whole stream at once, frame after frame, and stops at the first rule broken, with the
 * error a client must report (its close code: 1002 framing, 1007 bad UTF-8, 1009 over a
 * limit). A frame cut short by the end of the input gives only what is already decided by
 * the bytes that arrived (a client fails as early as it can: section 8.1 for UTF-8).
 *
 * UTF-8 is judged by Node's own TextDecoder (WHATWG, fatal, streaming), not by src/.
 */
import { TextDecoder } from "node:util";
import { ErrorCode } from "../../src/shared/errors.js";
import { concat } from "../support/frames.js";

export interface ModelLimits {
  maxMessageBytes: number;
  maxFrameBytes: number;
}

export type ModelEvent =
  | { event: "text"; data: string }
  | { event: "binary"; data: string /* hex */ }
  | { event: "ping" | "pong"; data: string /* hex */ }
  | { event: "close"; code: number; reason: string }
  | { event: "error"; code: string; closeCode: number };

/** Section 7.4: codes a peer may send (1012-1014 registered since; 3000-4999 private). */
export function closeCodeAllowed(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class Stop extends Error {}

/** The events a client must report for `bytes` received from a server. */
export function expectedEvents(bytes: Uint8Array, limits: ModelLimits): ModelEvent[] {
  const events: ModelEvent[] = [];
  const fail = (code: string, closeCode: number): never => {
    events.push({ event: "error", code, closeCode });
    throw new Stop();
  };
  const framing = (code: string): never => fail(code, 1002);
  const n = bytes.length;
  let pos = 0;
  /** The data message under way (section 5.4): its opcode (0 none), parts and length. */
  let messageOpcode = 0;
  let parts: Uint8Array[] = [];
  let messageLength = 0;
  let text: TextDecoder | undefined;

  const utf8 = (decoder: TextDecoder, chunk: Uint8Array, last: boolean): string => {
    try {
      return decoder.decode(chunk, { stream: !last });
    } catch {
      return fail(ErrorCode.INVALID_UTF8, 1007);
    }
  };

  try {
    while (pos < n) {
      // Section 5.2, first byte: FIN, RSV1-3 (no extension: must be 0), opcode.
      const b0 = bytes[pos]!;
      if ((b0 & 0x70) !== 0) framing(ErrorCode.RESERVED_BITS);
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const control = opcode >= 8;
      if (opcode === 0) {
        if (messageOpcode === 0) framing(ErrorCode.UNEXPECTED_CONTINUATION);
      } else if (opcode === 1 || opcode === 2) {
        if (messageOpcode !== 0) framing(ErrorCode.EXPECTED_CONTINUATION);
      } else if (opcode === 8 || opcode === 9 || opcode === 10) {
        if (!fin) framing(ErrorCode.FRAGMENTED_CONTROL); // section 5.5
      } else {
        framing(ErrorCode.RESERVED_OPCODE);
      }
      if (pos + 1 >= n) break;
      // Second byte: MASK (a server must not mask, section 5.1) and the 7-bit length.
      const b1 = bytes[pos + 1]!;
      if ((b1 & 0x80) !== 0) framing(ErrorCode.MASKED_FRAME);
      const length7 = b1 & 0x7f;
      if (control && length7 > 125) framing(ErrorCode.CONTROL_TOO_LONG);
      let at = pos + 2;
      let length: number;
      if (length7 === 126) {
        if (at + 2 > n) break;
        length = (bytes[at]! << 8) | bytes[at + 1]!;
        if (length <= 125) framing(ErrorCode.NON_MINIMAL_LENGTH);
        at += 2;
      } else if (length7 === 127) {
        if (at >= n) break;
        if ((bytes[at]! & 0x80) !== 0) framing(ErrorCode.LENGTH_MSB_SET);
        if (at + 8 > n) break;
        let big = 0n;
        for (let k = 0; k < 8; k++) big = (big << 8n) | BigInt(bytes[at + k]!);
        if (big <= 0xffffn) framing(ErrorCode.NON_MINIMAL_LENGTH);
        length = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
        at += 8;
      } else {
        length = length7;
      }

      // The length is known: limits before any payload byte (section 10.4).
      if (control) {
        if (opcode === 8 && length === 1) framing(ErrorCode.INVALID_CLOSE_PAYLOAD);
      } else {
        if (length > limits.maxFrameBytes) fail(ErrorCode.FRAME_TOO_BIG, 1009);
        const buffered = opcode === 0 ? messageLength : 0;
        if (buffered + length > limits.maxMessageBytes) fail(ErrorCode.MESSAGE_TOO_BIG, 1009);
        if (opcode !== 0) {
          messageOpcode = opcode;
          parts = [];
          messageLength = 0;
          text = opcode === 1 ? new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }) : undefined;
        }
      }

      const available = Math.min(length, n - at);
      const payload = bytes.subarray(at, at + available);
      const whole = available === length;
      if (!control && text !== undefined) utf8(text, payload, false); // fail fast (section 8.1)
      let reason = "";
      if (opcode === 8 && available >= 2) {
        const code = (payload[0]! << 8) | payload[1]!;
        if (!closeCodeAllowed(code)) framing(ErrorCode.INVALID_CLOSE_CODE);
        reason = utf8(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }), payload.subarray(2), whole);
      }
      if (!whole) break;
      pos = at + length;

      if (opcode === 9 || opcode === 10) {
        events.push({ event: opcode === 9 ? "ping" : "pong", data: hexOf(payload) });
        continue;
      }
      if (opcode === 8) {
        events.push(length === 0 ? { event: "close", code: 1005, reason: "" } : { event: "close", code: (payload[0]! << 8) | payload[1]!, reason });
        throw new Stop(); // section 5.5.1: nothing after a close frame counts
      }
      parts.push(payload);
      messageLength += length;
      if (!fin) continue;
      const data = concat(...parts);
      if (messageOpcode === 1) {
        utf8(text!, new Uint8Array(0), true); // the message must end on a character boundary
        events.push({ event: "text", data: new TextDecoder("utf-8", { ignoreBOM: true }).decode(data) });
      } else {
        events.push({ event: "binary", data: hexOf(data) });
      }
      messageOpcode = 0;
      text = undefined;
    }
  } catch (stop) {
    if (!(stop instanceof Stop)) throw stop;
  }
  return events;
}

// --- what the fuzzer builds streams from ------------------------------------------------

export interface FrameSpec {
  fin: boolean;
  rsv: number;
  opcode: number;
  payload: Uint8Array;
  /** 7 (minimal), or force the 16- or 64-bit length form (non-minimal when short). */
  lengthForm: "minimal" | 16 | 64;
  /** Set the MASK bit (and mask the payload), which a server must not. */
  masked: boolean;
}

/** A server frame as `spec` says, wrong or right. */
export function encodeFrame(spec: FrameSpec): Uint8Array {
  const length = spec.payload.length;
  const form = spec.lengthForm === "minimal" ? (length <= 125 ? 7 : length <= 0xffff ? 16 : 64) : spec.lengthForm;
  const head: number[] = [(spec.fin ? 0x80 : 0) | ((spec.rsv & 7) << 4) | (spec.opcode & 0x0f)];
  const mask = spec.masked ? 0x80 : 0;
  if (form === 7) head.push(mask | length);
  else if (form === 16) head.push(mask | 126, (length >> 8) & 0xff, length & 0xff);
  else head.push(mask | 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff);
  const key = [0x37, 0xfa, 0x21, 0x3d];
  if (spec.masked) head.push(...key);
  const out = new Uint8Array(head.length + length);
  out.set(head, 0);
  for (let i = 0; i < length; i++) out[head.length + i] = spec.masked ? spec.payload[i]! ^ key[i & 3]! : spec.payload[i]!;
  return out;
}
