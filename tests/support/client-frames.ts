/**
 * Reads what a client wrote: its handshake request and its (masked) frames. Checks that
 * every client frame is masked, as RFC 6455 section 5.3 requires.
 */
import { createHash } from "node:crypto";

export interface ClientFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  mask: Uint8Array;
  /** Unmasked payload. */
  payload: Uint8Array;
}

export interface ParsedRequest {
  requestLine: string;
  headers: Map<string, string>;
  /** Bytes after the request head (frames). */
  rest: Uint8Array;
}

export function parseRequest(bytes: Uint8Array): ParsedRequest {
  const text = Buffer.from(bytes).toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) throw new Error("incomplete request head");
  const [requestLine, ...lines] = text.slice(0, end).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { requestLine: requestLine!, headers, rest: bytes.subarray(end + 4) };
}

export function acceptFor(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/** A valid 101 answer to `request`, with optional extra header lines. */
export function switchingProtocols(request: ParsedRequest, extra: string[] = []): Uint8Array {
  const key = request.headers.get("sec-websocket-key") ?? "";
  const lines = [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${acceptFor(key)}`,
    ...extra,
    "",
    "",
  ];
  return new Uint8Array(Buffer.from(lines.join("\r\n"), "latin1"));
}

/** Parses complete client frames; throws on an unmasked or truncated frame. */
export function parseClientFrames(bytes: Uint8Array): ClientFrame[] {
  const frames: ClientFrame[] = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes.length - i < 2) throw new Error("truncated frame header");
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    if ((b1 & 0x80) === 0) throw new Error("client frame is not masked");
    let length = b1 & 0x7f;
    i += 2;
    if (length === 126) {
      length = (bytes[i]! << 8) | bytes[i + 1]!;
      i += 2;
    } else if (length === 127) {
      length = 0;
      for (let k = 0; k < 8; k++) length = length * 256 + bytes[i + k]!;
      i += 8;
    }
    const mask = bytes.slice(i, i + 4);
    i += 4;
    if (bytes.length - i < length) throw new Error("truncated frame payload");
    const payload = new Uint8Array(length);
    for (let k = 0; k < length; k++) payload[k] = bytes[i + k]! ^ mask[k & 3]!;
    i += length;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, mask, payload });
  }
  return frames;
}

/** The code and reason of a close frame's payload. */
export function closePayload(payload: Uint8Array): { code: number | undefined; reason: string } {
  if (payload.length < 2) return { code: undefined, reason: "" };
  return {
    code: (payload[0]! << 8) | payload[1]!,
    reason: Buffer.from(payload.subarray(2)).toString("utf8"),
  };
}
