/**
 * A scripted WebSocket peer on a real TCP server (127.0.0.1, port chosen by the OS), for
 * tests that must control every byte the client sees: bad handshake answers, silence,
 * hand-made frames (reserved bits, bad opcodes, invalid UTF-8), bytes chopped into small
 * writes with pauses (Autobahn|Testsuite's "chopsize"), and the close handshake.
 *
 * The test plays the server: `nextConnection()` gives a RawPeer for each client that
 * connects; `peer.request()` gives the client's HTTP request; then the test either answers
 * with a script (`respond`, `closeTcp`, nothing at all) or completes the handshake
 * (`acceptHandshake`) and exchanges frames (`sendFrame`, `nextFrame`, `nextEvent`,
 * `waitForClose`). Every wait is bounded and rejects with a message that says what was
 * awaited and what was seen instead.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import type { EngineName } from "./engines.js";
import { createClientOn, type EngineClient, type EngineClientOptions } from "./on-engine.js";
import type { CloseEvent } from "../../src/websocket/client.js";

/** RFC 6455 section 1.3. Kept here (not imported from src/) so the peer checks src/ independently. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Default bound of every wait, milliseconds. */
export const DEFAULT_WAIT_MS = 2000;

/** The client's opening request, as the server saw it. */
export interface HttpRequest {
  /** "GET /path?query HTTP/1.1" */
  requestLine: string;
  method: string;
  /** The request target: path and query. */
  target: string;
  version: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Headers as sent, names in their original case, in order. */
  rawHeaders: Array<[string, string]>;
  /** The whole head, CRLFs included, decoded as latin1. */
  raw: string;
}

/** A frame the server sends. Defaults: fin true, rsv 0, empty payload, unmasked. */
export interface ServerFrame {
  fin?: boolean;
  /** The three reserved bits RSV1..RSV3 as a number 0..7 (RSV1 = 4, as Autobahn counts). */
  rsv?: number;
  opcode: number;
  payload?: Uint8Array | string;
  /** Mask the frame (a server must not: for testing the client's rejection). */
  mask?: Uint8Array;
}

/** How bytes go onto the wire. */
export interface WriteOptions {
  /** Split the bytes into writes of at most this many bytes (Autobahn's chopsize). */
  chopSize?: number;
  /** Pause between chops, milliseconds; 0 (default) yields to the event loop once. */
  delayMs?: number;
}

/** A frame the client sent, unmasked. */
export interface ClientFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  /** The 4-byte masking key (a client always masks: frames without one are rejected). */
  maskKey: Uint8Array;
  payload: Buffer;
}

/** A message-level view of what the client sent: data messages reassembled. */
export type ClientEvent =
  | { type: "text"; data: Buffer }
  | { type: "binary"; data: Buffer }
  | { type: "ping"; data: Buffer }
  | { type: "pong"; data: Buffer }
  | { type: "close"; code: number | undefined; reason: Buffer; payload: Buffer };

/** `pattern` repeated and cut to `length` bytes (Autobahn's payload_len). */
export function repeatTo(pattern: Uint8Array | string, length: number): Buffer {
  const unit = typeof pattern === "string" ? Buffer.from(pattern, "latin1") : Buffer.from(pattern);
  const out = Buffer.allocUnsafe(length);
  if (length === 0) return out;
  out.set(unit.subarray(0, Math.min(unit.length, length)), 0);
  let filled = Math.min(unit.length, length);
  // Doubling copies: 16 MiB in 24 copies instead of millions.
  while (filled < length) {
    const n = Math.min(filled, length - filled);
    out.copy(out, filled, 0, n);
    filled += n;
  }
  return out;
}

/** The Sec-WebSocket-Accept a server answers for `key` (RFC 6455 section 4.2.2, item 5.4). */
export function acceptFor(key: string): string {
  return createHash("sha1").update(key + WEBSOCKET_GUID, "latin1").digest("base64");
}

/** Encodes a server frame: minimal length encoding (7, 16 or 64-bit), optional mask. */
export function encodeFrame(frame: ServerFrame): Buffer {
  const payload =
    frame.payload === undefined
      ? Buffer.alloc(0)
      : typeof frame.payload === "string"
        ? Buffer.from(frame.payload, "utf8")
        : Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.byteLength);
  const length = payload.length;
  const extended = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const maskBytes = frame.mask ? 4 : 0;
  const head = Buffer.alloc(2 + extended + maskBytes);
  head[0] = ((frame.fin ?? true) ? 0x80 : 0) | (((frame.rsv ?? 0) & 7) << 4) | (frame.opcode & 0x0f);
  const maskBit = frame.mask ? 0x80 : 0;
  if (extended === 0) {
    head[1] = maskBit | length;
  } else if (extended === 2) {
    head[1] = maskBit | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!frame.mask) return Buffer.concat([head, payload]);
  if (frame.mask.length !== 4) throw new Error("a masking key is 4 bytes");
  head.set(frame.mask, 2 + extended);
  const masked = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ frame.mask[i & 3]!;
  return Buffer.concat([head, masked]);
}

/** A close frame's payload: 2-byte code then the reason (RFC 6455 section 5.5.1). */
export function closePayload(code?: number, reason: Uint8Array | string = ""): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const reasonBytes = typeof reason === "string" ? Buffer.from(reason, "utf8") : Buffer.from(reason);
  const out = Buffer.alloc(2 + reasonBytes.length);
  out.writeUInt16BE(code & 0xffff, 0);
  out.set(reasonBytes, 2);
  return out;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => (ms > 0 ? setTimeout(resolve, ms) : setImmediate(resolve)));
}

/** Waits for `check()` to be true, re-checking on every `signal`; bounded by `timeoutMs`. */
class Waiters {
  private list: Array<() => void> = [];
  notify(): void {
    const list = this.list;
    this.list = [];
    for (const wake of list) wake();
  }
  until<T>(check: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`));
      }, timeoutMs);
      const attempt = (): void => {
        if (settled) return;
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          settled = true;
          clearTimeout(timer);
          reject(error as Error);
          return;
        }
        if (value !== undefined) {
          settled = true;
          clearTimeout(timer);
          resolve(value);
        } else {
          this.list.push(attempt);
        }
      };
      attempt();
    });
  }
}

/** Incremental parser of the client's frames: chunks in, frames out, one copy per payload. */
class ClientFrameParser {
  private chunks: Buffer[] = [];
  private available = 0;
  private header: { fin: boolean; rsv: number; opcode: number; maskKey: Uint8Array; length: number } | undefined;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  /** Next complete frame, or undefined; throws when the client broke a client rule. */
  next(): ClientFrame | undefined {
    if (!this.header) {
      if (this.available < 2) return undefined;
      const first = this.peek(2);
      const b0 = first[0]!;
      const b1 = first[1]!;
      const short = b1 & 0x7f;
      const extended = short === 126 ? 2 : short === 127 ? 8 : 0;
      const masked = (b1 & 0x80) !== 0;
      const headLength = 2 + extended + (masked ? 4 : 0);
      if (this.available < headLength) return undefined;
      const head = this.take(headLength);
      if (!masked) {
        throw new Error(
          `the client sent an unmasked frame (opcode ${b0 & 0x0f}): RFC 6455 section 5.3 requires every client frame to be masked`,
        );
      }
      let length = short;
      if (extended === 2) length = head.readUInt16BE(2);
      if (extended === 8) {
        const big = head.readBigUInt64BE(2);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`the client sent a frame length of ${big}`);
        length = Number(big);
      }
      this.header = {
        fin: (b0 & 0x80) !== 0,
        rsv: (b0 >> 4) & 7,
        opcode: b0 & 0x0f,
        maskKey: Uint8Array.from(head.subarray(2 + extended, 6 + extended)),
        length,
      };
    }
    const header = this.header;
    if (this.available < header.length) return undefined;
    const payload = Buffer.from(this.take(header.length)); // own copy: unmasked in place
    const key = header.maskKey;
    for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ key[i & 3]!;
    this.header = undefined;
    return { fin: header.fin, rsv: header.rsv, opcode: header.opcode, maskKey: key, payload };
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.available -= n;
      return out;
    }
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= need) {
        parts.push(chunk);
        this.chunks.shift();
        need -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, need));
        this.chunks[0] = chunk.subarray(need);
        need = 0;
      }
    }
    this.available -= n;
    return Buffer.concat(parts, n);
  }
}

const OPCODE_NAMES: Record<number, string> = { 0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong" };

/** Short description of a frame for failure messages. */
export function describeFrame(frame: ClientFrame): string {
  const name = OPCODE_NAMES[frame.opcode] ?? `opcode ${frame.opcode}`;
  let text = `${name} frame (fin ${frame.fin}, ${frame.payload.length} bytes`;
  if (frame.opcode === 8 && frame.payload.length >= 2) text += `, code ${frame.payload.readUInt16BE(0)}`;
  else if (frame.payload.length <= 32) text += `, ${frame.payload.toString("hex")}`;
  return text + ")";
}

/** Short description of a client event for failure messages. */
export function describeEvent(event: ClientEvent): string {
  if (event.type === "close") {
    return `close (code ${event.code ?? "none"}, reason ${JSON.stringify(event.reason.toString("latin1"))})`;
  }
  const data = event.data.length <= 32 ? ` ${event.data.toString("hex")}` : "";
  return `${event.type} of ${event.data.length} bytes${data}`;
}

/** One accepted TCP connection, played by the test as the server. */
export class RawPeer {
  readonly socket: net.Socket;
  /** Every frame the client sent, in order (after the handshake). */
  readonly frames: ClientFrame[] = [];
  /** Frames the client sent after its close frame (RFC 6455 section 5.5.1 forbids any). */
  readonly framesAfterClose: ClientFrame[] = [];
  /** The client closed or reset TCP (or we did). */
  tcpClosed = false;
  /** The client half-closed (FIN) its side. */
  clientEnded = false;
  /** Milliseconds (performance.now) when TCP closed. */
  tcpClosedAt = 0;
  /** A rule the client broke on the wire (an unmasked frame, bytes before the 101...). */
  violation: Error | undefined;

  private head: Buffer[] = [];
  private headBytes = 0;
  private parsedRequest: HttpRequest | undefined;
  private handshakeDone = false;
  private readonly parser = new ClientFrameParser();
  private frameCursor = 0;
  private sawClose = false;
  private readonly waiters = new Waiters();

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => {
      this.clientEnded = true;
      this.waiters.notify();
    });
    // The client failing the connection may reset it while we write: that is an outcome
    // the tests observe through tcpClosed, not an error of the test server.
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.tcpClosed = true;
      this.tcpClosedAt = performance.now();
      this.waiters.notify();
    });
  }

  private onData(chunk: Buffer): void {
    if (!this.parsedRequest) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      const all = Buffer.concat(this.head);
      const end = all.indexOf("\r\n\r\n");
      if (end >= 0) {
        this.parsedRequest = parseRequest(all.subarray(0, end + 4).toString("latin1"));
        const rest = all.subarray(end + 4);
        if (rest.length > 0) {
          this.violation = new Error(`the client sent ${rest.length} bytes after its request, before the server answered`);
        }
      } else if (this.headBytes > 64 * 1024) {
        this.violation = new Error(`the client sent ${this.headBytes} bytes without ending its request head`);
      }
    } else if (!this.handshakeDone) {
      this.violation ??= new Error(`the client sent ${chunk.length} bytes before the server answered its handshake`);
    } else {
      this.parser.push(chunk);
      try {
        for (let frame = this.parser.next(); frame; frame = this.parser.next()) {
          if (this.sawClose) this.framesAfterClose.push(frame);
          else this.frames.push(frame);
          if (frame.opcode === 8) this.sawClose = true;
        }
      } catch (error) {
        this.violation ??= error as Error;
      }
    }
    this.waiters.notify();
  }

  /** The client's HTTP request head, once complete. */
  request(timeoutMs = DEFAULT_WAIT_MS): Promise<HttpRequest> {
    return this.waiters.until(
      () => {
        if (this.parsedRequest) return this.parsedRequest;
        if (this.violation) throw this.violation;
        if (this.tcpClosed) throw new Error("the client closed TCP before completing its HTTP request");
        return undefined;
      },
      timeoutMs,
      () => `the client's HTTP request (got ${this.headBytes} bytes so far)`,
    );
  }

  /** Writes raw bytes (a scripted HTTP response, garbage, partial frames). */
  async sendRaw(bytes: Uint8Array | string, options: WriteOptions = {}): Promise<void> {
    const buffer = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const chop = options.chopSize ?? 0;
    if (chop <= 0) {
      await this.write(buffer);
      if (options.delayMs) await delay(options.delayMs);
      return;
    }
    for (let at = 0; at < buffer.length; at += chop) {
      await this.write(buffer.subarray(at, Math.min(buffer.length, at + chop)));
      await delay(options.delayMs ?? 0);
    }
  }

  /** Sends a scripted HTTP response (any status, any headers), then keeps the connection open. */
  respond(response: string | Uint8Array): Promise<void> {
    return this.sendRaw(response);
  }

  /**
   * Completes the handshake with a correct 101 (RFC 6455 section 4.2.2): Upgrade, Connection,
   * Sec-WebSocket-Accept computed from the client's key. `protocol`/`extensions` add those
   * headers, `headers` adds or (with value undefined) removes headers, `accept` overrides the
   * accept value, `trailing` is written in the SAME write as the response (the server's first
   * frames arriving in the same TCP segment as the 101).
   */
  async acceptHandshake(
    options: {
      protocol?: string;
      extensions?: string;
      headers?: Record<string, string | undefined>;
      accept?: string;
      trailing?: Uint8Array;
      timeoutMs?: number;
    } = {},
  ): Promise<HttpRequest> {
    const request = await this.request(options.timeoutMs);
    const key = request.headers.get("sec-websocket-key") ?? "";
    const headers: Record<string, string | undefined> = {
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Accept": options.accept ?? acceptFor(key),
    };
    if (options.protocol !== undefined) headers["Sec-WebSocket-Protocol"] = options.protocol;
    if (options.extensions !== undefined) headers["Sec-WebSocket-Extensions"] = options.extensions;
    Object.assign(headers, options.headers ?? {});
    let text = "HTTP/1.1 101 Switching Protocols\r\n";
    for (const [name, value] of Object.entries(headers)) {
      if (value !== undefined) text += `${name}: ${value}\r\n`;
    }
    text += "\r\n";
    const response = Buffer.from(text, "latin1");
    this.handshakeDone = true;
    await this.write(options.trailing ? Buffer.concat([response, options.trailing]) : response);
    return request;
  }

  /** Sends one frame, optionally chopped into small writes. */
  sendFrame(frame: ServerFrame, options: WriteOptions = {}): Promise<void> {
    return this.sendRaw(encodeFrame(frame), options);
  }

  /** Sends a close frame with `code` and `reason` (no code: empty payload). */
  sendClose(code?: number, reason: Uint8Array | string = ""): Promise<void> {
    return this.sendFrame({ opcode: 8, payload: closePayload(code, reason) });
  }

  /** The client's next frame; rejects on timeout, on TCP close, or on a client rule broken. */
  nextFrame(timeoutMs = DEFAULT_WAIT_MS): Promise<ClientFrame> {
    return this.waiters.until(
      () => {
        if (this.frameCursor < this.frames.length) return this.frames[this.frameCursor++];
        if (this.violation) throw this.violation;
        if (this.tcpClosed || this.clientEnded) {
          throw new Error(`the client closed TCP instead of sending another frame (after ${this.frames.length} frames)`);
        }
        return undefined;
      },
      timeoutMs,
      () => `the client's next frame (got ${this.frames.length} frames so far)`,
    );
  }

  /**
   * The client's next message-level event: data fragments reassembled (control frames
   * interleaved with fragments come out first, in wire order), close frames decoded.
   */
  async nextEvent(timeoutMs = DEFAULT_WAIT_MS): Promise<ClientEvent> {
    const deadline = performance.now() + timeoutMs;
    const left = (): number => Math.max(1, Math.round(deadline - performance.now()));
    const fragments: Buffer[] = [];
    let messageType: "text" | "binary" | undefined;
    for (;;) {
      const frame = await this.nextFrame(left());
      if (frame.rsv !== 0) throw new Error(`the client sent reserved bits ${frame.rsv} in a ${describeFrame(frame)}`);
      switch (frame.opcode) {
        case 8: {
          if (messageType) throw new Error("the client sent a close frame in the middle of its fragmented message");
          const payload = frame.payload;
          if (payload.length === 1) throw new Error("the client sent a close frame with a 1-byte payload");
          return {
            type: "close",
            code: payload.length >= 2 ? payload.readUInt16BE(0) : undefined,
            reason: payload.subarray(2),
            payload,
          };
        }
        case 9:
        case 10:
          if (!frame.fin) throw new Error("the client sent a fragmented control frame");
          if (messageType) throw new Error(`the client interleaved a ${describeFrame(frame)} in its own fragmented message`);
          return { type: frame.opcode === 9 ? "ping" : "pong", data: frame.payload };
        case 1:
        case 2:
          if (messageType) throw new Error(`the client started a new message inside a fragmented one: ${describeFrame(frame)}`);
          messageType = frame.opcode === 1 ? "text" : "binary";
          fragments.push(frame.payload);
          break;
        case 0:
          if (!messageType) throw new Error("the client sent a continuation frame with no message to continue");
          fragments.push(frame.payload);
          break;
        default:
          throw new Error(`the client sent a frame with reserved opcode ${frame.opcode}`);
      }
      if (frame.fin && messageType) return { type: messageType, data: Buffer.concat(fragments) };
    }
  }

  /** Resolves undefined when the client sends no frame for `ms`; else resolves that frame. */
  async frameWithin(ms: number): Promise<ClientFrame | undefined> {
    try {
      return await this.nextFrame(ms);
    } catch (error) {
      if (/^timed out/.test((error as Error).message)) return undefined;
      throw error;
    }
  }

  /**
   * Reads events up to and including the client's close frame. Returns the close and the
   * events before it; rejects when TCP closes or time runs out first.
   */
  async waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<{ close: Extract<ClientEvent, { type: "close" }>; before: ClientEvent[] }> {
    const deadline = performance.now() + timeoutMs;
    const before: ClientEvent[] = [];
    for (;;) {
      const left = Math.max(1, Math.round(deadline - performance.now()));
      let event: ClientEvent;
      try {
        event = await this.nextEvent(left);
      } catch (error) {
        const seen = before.length ? ` after ${before.map(describeEvent).join(", ")}` : "";
        throw new Error(`no close frame from the client${seen}: ${(error as Error).message}`);
      }
      if (event.type === "close") return { close: event, before };
      before.push(event);
    }
  }

  /** Resolves when the TCP connection is closed (by either side); bounded. */
  waitForTcpClose(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waiters.until(
      () => (this.tcpClosed ? true : undefined),
      timeoutMs,
      () => `the TCP connection to close (client ${this.clientEnded ? "has" : "has not"} sent FIN)`,
    ).then(() => undefined);
  }

  /** Resolves when the client has closed its side of TCP (FIN or reset); bounded. */
  waitForClientEnd(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waiters.until(
      () => (this.clientEnded || this.tcpClosed ? true : undefined),
      timeoutMs,
      () => "the client to close its side of TCP",
    ).then(() => undefined);
  }

  /** Orderly close of our side (FIN); the client's side closes when it wants. */
  closeTcp(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Drops the connection at once (like a crashed server). */
  destroy(): void {
    this.socket.destroy();
  }

  private write(buffer: Buffer): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      const ok = this.socket.write(buffer);
      if (ok) {
        resolve();
        return;
      }
      const done = (): void => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        resolve();
      };
      this.socket.on("drain", done);
      this.socket.on("close", done);
    });
  }
}

function parseRequest(raw: string): HttpRequest {
  const lines = raw.split("\r\n").slice(0, -2);
  const requestLine = lines[0] ?? "";
  const [method = "", target = "", version = ""] = requestLine.split(" ");
  const headers = new Map<string, string>();
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`the client sent a malformed header line ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const lower = name.toLowerCase();
    const previous = headers.get(lower);
    headers.set(lower, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { requestLine, method, target, version, headers, rawHeaders, raw };
}

/** The TCP server: hands out one RawPeer per connection. */
export class RawServer {
  readonly server: net.Server;
  readonly peers: RawPeer[] = [];
  private cursor = 0;
  private readonly waiters = new Waiters();

  private constructor(server: net.Server) {
    this.server = server;
    server.on("connection", (socket) => {
      this.peers.push(new RawPeer(socket));
      this.waiters.notify();
    });
  }

  static listen(): Promise<RawServer> {
    return new Promise((resolve, reject) => {
      const server = net.createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(new RawServer(server)));
    });
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** ws://127.0.0.1:<port><resource> */
  url(resource = "/"): string {
    return `ws://127.0.0.1:${this.port}${resource}`;
  }

  /** The next client connection (in order of arrival). */
  nextConnection(timeoutMs = DEFAULT_WAIT_MS): Promise<RawPeer> {
    return this.waiters.until(
      () => (this.cursor < this.peers.length ? this.peers[this.cursor++] : undefined),
      timeoutMs,
      () => "a client to connect",
    );
  }

  /** Drops every connection and stops listening. */
  close(): Promise<void> {
    for (const peer of this.peers) peer.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}


// --- the client under test ---------------------------------------------------------------

/** The client plus everything it reported, for assertions. */
export interface ClientRun {
  /** The client, on Node or inside XS (tests/support/on-engine.ts): its calls return promises. */
  client: EngineClient;
  /** Protocols passed to onOpen, in order (at most one entry for a correct client). */
  opens: string[];
  /** Messages passed to onMessage, with the readyState at the time. */
  messages: Array<{ data: string | Uint8Array; state: number }>;
  pings: Uint8Array[];
  pongs: Uint8Array[];
  /** Every onClose call (a correct client makes exactly one). */
  closes: CloseEvent[];
  /** Resolves with the first onClose event; rejects after `timeoutMs`. */
  closed(timeoutMs?: number): Promise<CloseEvent>;
  /** Resolves with the protocol passed to onOpen; rejects if it closes first or on timeout. */
  opened(timeoutMs?: number): Promise<string>;
}

/**
 * Starts a WebSocketClient on `engine` (on Node: the Node host, silent) with recording
 * callbacks. With `echo`, it behaves as the echo agent: every message is sent back as it
 * came (text as text, binary as binary) while the connection is open, from inside the
 * engine's onMessage (on XS, inside XS), before the client reads the next frame.
 */
export async function startClient(engine: EngineName, options: EngineClientOptions): Promise<ClientRun> {
  const waiters = new Waiters();
  const run: ClientRun = {
    client: undefined as unknown as EngineClient,
    opens: [],
    messages: [],
    pings: [],
    pongs: [],
    closes: [],
    closed: (timeoutMs = DEFAULT_WAIT_MS) =>
      waiters.until(
        () => run.closes[0],
        timeoutMs,
        () => `the client's onClose (readyState ${run.client?.readyState})`,
      ),
    opened: (timeoutMs = DEFAULT_WAIT_MS) =>
      waiters.until(
        () => {
          if (run.opens.length > 0) return run.opens[0];
          const close = run.closes[0];
          if (close) {
            throw new Error(`the client closed instead of opening: code ${close.code}, ${close.error?.code ?? ""} ${close.reason}`);
          }
          return undefined;
        },
        timeoutMs,
        () => "the client's onOpen",
      ),
  };
  const rest = options;
  // On Node without a host: the Node host, silent (failures are asserted, not printed).
  run.client = await createClientOn(engine, {
    ...rest,
    onOpen: (protocol) => {
      run.opens.push(protocol);
      waiters.notify();
      rest.onOpen?.(protocol);
    },
    // On XS, readyState is the client's as the message was delivered inside XS.
    onMessage: (data) => {
      run.messages.push({ data, state: run.client.readyState });
      waiters.notify();
      rest.onMessage?.(data);
    },
    onPing: (payload) => {
      run.pings.push(Uint8Array.from(payload));
      rest.onPing?.(payload);
    },
    onPong: (payload) => {
      run.pongs.push(Uint8Array.from(payload));
      rest.onPong?.(payload);
    },
    onClose: (event) => {
      run.closes.push(event);
      waiters.notify();
      rest.onClose?.(event);
    },
  });
  return run;
}
