/**
 * The send side of a client connection (RFC 6455 section 5), as the `ws` package keeps it in
 * its Sender: frame encoding (encodeFrame, encodeClosePayload: pure functions, the caller
 * supplies the masking key) and the Sender, which owns everything the client accepted and
 * has not yet written: the bounded queue of encoded frames (bufferedAmount, refused past
 * maxBufferedBytes with ERR_BUFFER_FULL), the one coalesced pong, the drain signal, the
 * fragmentation state of the message being sent, and the pool of mask keys.
 *
 * The Sender never holds a socket: the client gives it one to write into (flush) whenever
 * the socket may take bytes, so the queue is testable alone and the client keeps the
 * connection's state machine.
 */
import { ErrorCode, invalidArgument, WebSocketError } from "../shared/errors.js";
import type { NetHost, Utf8Codec } from "../shared/host.js";
import { DEFAULT_MASK_KEYS_PER_DRAW, Opcode } from "./constants.js";
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
  return encodeMaskedFrame(opcode, payload, fin, maskKey, 0);
}

/**
 * Payloads shorter than this are masked a byte at a time: below it, making the two 32-bit
 * views costs more than the words save (in XS steps and on V8 alike).
 */
const WORD_MASK_MIN_BYTES = 24;

/**
 * Strings of at least this many UTF-16 units are encoded straight into their frame when the
 * host's codec can (Utf8Codec.byteLength and encodeInto): below it the extra length pass
 * costs more than the allocation it saves.
 */
const ENCODE_INTO_MIN_CHARS = 4096;

/** The platform's byte order, for the 32-bit masking key (the ESP32 and x86: little-endian). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * encodeFrame with the key at `keys[keyAt..keyAt+3]` (the Sender's pool: no view per frame).
 *
 * Long payloads are masked 32 bits at a time: the payload is copied into the frame (natively),
 * then XORed in place (maskFrameInPlace). In XS that is about a quarter of the steps of a
 * byte loop.
 */
export function encodeMaskedFrame(
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  keys: Uint8Array,
  keyAt: number,
): Uint8Array {
  const length = payload.length;
  // clientFrameLength(length), inline: this runs for every frame.
  const frame = new Uint8Array(length + (length <= MAX_7BIT_LENGTH ? 6 : length <= MAX_16BIT_LENGTH ? 8 : 14));
  const headerLength = writeFrameHeader(frame, opcode, fin, length, keys, keyAt);
  if (length < WORD_MASK_MIN_BYTES) {
    // Section 5.3: byte i is XORed with key byte i mod 4.
    const k0 = keys[keyAt];
    const k1 = keys[keyAt + 1];
    const k2 = keys[keyAt + 2];
    const k3 = keys[keyAt + 3];
    let i = 0;
    let out = headerLength;
    const whole = length - (length & 3);
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
  frame.set(payload, headerLength);
  maskFrameInPlace(frame, headerLength, keys, keyAt);
  return frame;
}

/**
 * A masked text frame whose payload is `text`'s `byteLength` UTF-8 bytes, encoded by
 * `encodeInto` straight into the frame: one allocation instead of two (the encoded string,
 * then the frame). On Node a 16 KiB text echo otherwise allocates two native buffers, and
 * the page faults of the allocator trimming and regrowing its heap for them cost more than
 * the encoding (measured: about twice the CPU per echo of a binary one).
 */
export function encodeMaskedTextFrame(
  opcode: number,
  text: string,
  byteLength: number,
  encodeInto: (text: string, into: Uint8Array, at: number) => number,
  fin: boolean,
  keys: Uint8Array,
  keyAt: number,
): Uint8Array {
  const frame = new Uint8Array(clientFrameLength(byteLength));
  const headerLength = writeFrameHeader(frame, opcode, fin, byteLength, keys, keyAt);
  const written = encodeInto(text, frame, headerLength);
  if (written !== byteLength) throw invalidArgument(`the host's UTF-8 encoder wrote ${written} bytes of ${byteLength}`);
  if (byteLength >= WORD_MASK_MIN_BYTES) {
    maskFrameInPlace(frame, headerLength, keys, keyAt);
  } else {
    for (let i = 0; i < byteLength; i++) frame[headerLength + i] ^= keys[keyAt + (i & 3)]; // section 5.3
  }
  return frame;
}

/**
 * Writes a client frame's header into `frame`: FIN, opcode, MASK and the payload length in
 * the fewest bytes (section 5.2: "the minimal number of bytes MUST be used"), then the key.
 * Returns where the payload starts (6, 8 or 14).
 */
function writeFrameHeader(frame: Uint8Array, opcode: number, fin: boolean, length: number, keys: Uint8Array, keyAt: number): number {
  frame[0] = (fin ? 0x80 : 0) | (opcode & 0x0f); // RSV1-3 stay 0: no extensions
  let keyStart: number;
  if (length <= MAX_7BIT_LENGTH) {
    frame[1] = 0x80 | length; // 0x80: MASK, every client frame is masked (section 5.1)
    keyStart = 2;
  } else if (length <= MAX_16BIT_LENGTH) {
    frame[1] = 0x80 | 126;
    frame[2] = length >>> 8;
    frame[3] = length & 0xff;
    keyStart = 4;
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
    keyStart = 10;
  }
  frame[keyStart] = keys[keyAt];
  frame[keyStart + 1] = keys[keyAt + 1];
  frame[keyStart + 2] = keys[keyAt + 2];
  frame[keyStart + 3] = keys[keyAt + 3];
  return keyStart + 4;
}

/**
 * XORs the payload already in `frame` from `headerLength` on (at least WORD_MASK_MIN_BYTES
 * bytes) with the key (section 5.3), a word of the frame's own (aligned) buffer at a time, with
 * the key rotated to where the payload starts; the few bytes before the first whole word and
 * after the last one at a time.
 */
function maskFrameInPlace(frame: Uint8Array, headerLength: number, keys: Uint8Array, keyAt: number): void {
  const k0 = keys[keyAt];
  const k1 = keys[keyAt + 1];
  const k2 = keys[keyAt + 2];
  const k3 = keys[keyAt + 3];
  // The key as a word of the platform's byte order.
  let key = LITTLE_ENDIAN ? k0 | (k1 << 8) | (k2 << 16) | (k3 << 24) : (k0 << 24) | (k1 << 16) | (k2 << 8) | k3;
  // The header is 6, 8 or 14 bytes: the payload starts 0 or 2 bytes past a word boundary of
  // the frame's buffer. Those 2 bytes are masked one by one, then whole words from the
  // boundary on, with the key turned by 2 bytes (16 bits, whatever the byte order).
  let start = headerLength;
  if ((headerLength & 3) === 2) {
    frame[start] ^= k0;
    frame[start + 1] ^= k1;
    start += 2;
    key = (key >>> 16) | (key << 16);
  }
  const wordCount = (frame.length - start) >> 2;
  const words = new Uint32Array(frame.buffer, frame.byteOffset + start, wordCount);
  // Four words per iteration: fewer loop steps in XS.
  const unrolled = wordCount - (wordCount & 3);
  let w = 0;
  for (; w < unrolled; w += 4) {
    words[w] ^= key;
    words[w + 1] ^= key;
    words[w + 2] ^= key;
    words[w + 3] ^= key;
  }
  for (; w < wordCount; w++) words[w] ^= key;
  // The last 0-3 bytes: payload byte i is XORed with key byte i mod 4.
  for (let at = start + (wordCount << 2); at < frame.length; at++) frame[at] ^= keys[keyAt + ((at - headerLength) & 3)];
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

/** Bytes a frame of `payloadLength` takes on the wire from a client (section 5.2). */
export function clientFrameLength(payloadLength: number): number {
  const header = payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
  return header + 4 + payloadLength;
}


const EMPTY = new Uint8Array(0);

/** Where the Sender writes: the connection's socket (ECMA-419 `write`). */
export interface FrameSink {
  write(bytes: Uint8Array): void;
}

export interface SenderOptions {
  /**
   * The source of the mask keys (section 5.3): `random` fills its argument with random
   * bytes; called as a method (a host may be a class instance). maskKeysPerDraw keys are
   * drawn at a time (default DEFAULT_MASK_KEYS_PER_DRAW).
   */
  host: Pick<NetHost, "random" | "maskKeysPerDraw">;
  /** Encodes text messages; called as a method (a host's codec may be a class instance). */
  utf8: Utf8Codec;
  /** The bufferedAmount bound: send() and ping() refuse a frame that would pass it. */
  maxBufferedBytes: number;
}

/**
 * The queue of one connection's outgoing frames. Frames wait in `queue` (from `queueHead`);
 * a pong jumps ahead of them at the next frame boundary; `current` is the frame being
 * written, from `currentOffset`. Every frame is encoded (and masked) when it is accepted,
 * so bufferedAmount counts wire bytes and a write never allocates.
 */
export class Sender {
  private readonly host: Pick<NetHost, "random">;
  private readonly utf8: Utf8Codec;
  private readonly maxBufferedBytes: number;

  private queue: Uint8Array[] = [];
  private queueHead = 0;
  /** The answer to the latest ping, not yet started: at most one is kept (section 5.5.3). */
  private pongFrame: Uint8Array | undefined;
  private current: Uint8Array | undefined;
  private currentOffset = 0;
  private buffered = 0;
  /** Queued bytes thrown away when the connection failed (reported as unsent). */
  private discarded = 0;
  /** Bytes the socket said it takes, not yet written. */
  private writable = 0;
  /** Bytes had to wait for the socket since the queue was last empty (onDrain is due). */
  private waitedForSocket = false;
  /** Mask keys drawn and not used yet: from maskOffset on (each is used once). */
  private readonly maskPool: Uint8Array;
  private maskOffset: number;
  /** Opcode of the fragmented message being sent, 0 when none. */
  private sendingFragmented = 0;

  constructor(options: SenderOptions) {
    this.host = options.host;
    this.utf8 = options.utf8;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.maskPool = new Uint8Array(4 * (options.host.maskKeysPerDraw ?? DEFAULT_MASK_KEYS_PER_DRAW));
    this.maskOffset = this.maskPool.length;
  }

  /** Frame bytes accepted and not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.buffered;
  }

  /**
   * Queues the opening handshake's request (a few hundred bytes) like a frame, so a socket
   * that takes it in parts gets the rest later. Not bounded: it is the first thing queued.
   */
  queueRequest(request: Uint8Array): void {
    this.queue.push(request);
    this.buffered += request.length;
  }

  /**
   * Queues a text (string) or binary (Uint8Array) message or fragment (section 5.4). Throws
   * ERR_BUFFER_FULL when it would take bufferedAmount past maxBufferedBytes (nothing is
   * queued then), ERR_INVALID_ARGUMENT for a fragment whose type differs from the message it
   * continues.
   */
  send(data: string | Uint8Array, more: boolean): void {
    const text = typeof data === "string";
    const type = text ? Opcode.TEXT : Opcode.BINARY;
    if (this.sendingFragmented !== 0 && this.sendingFragmented !== type) {
      throw invalidArgument(
        `a ${text ? "text" : "binary"} fragment cannot continue a ${text ? "binary" : "text"} message`,
      );
    }
    let payload: Uint8Array | undefined;
    let length: number;
    if (text) {
      // A string takes at least one byte per UTF-16 unit, so one that cannot fit is refused
      // before it costs an allocation. A long one is measured and encoded straight into its
      // frame where the host can (encodeMaskedTextFrame); a short one is encoded once (no
      // separate length pass). The exact bound is checked below, before anything is queued.
      if (this.buffered + clientFrameLength(data.length) > this.maxBufferedBytes) this.refuse(clientFrameLength(data.length), "send");
      const utf8 = this.utf8;
      if (data.length >= ENCODE_INTO_MIN_CHARS && utf8.byteLength !== undefined && utf8.encodeInto !== undefined) {
        length = utf8.byteLength(data);
      } else {
        payload = utf8.encode(data);
        length = payload.length;
      }
    } else {
      payload = data;
      length = data.length;
    }
    // clientFrameLength(length), inline: this runs for every message.
    const frameLength = length + (length < 126 ? 6 : length < 65536 ? 8 : 14);
    if (this.buffered + frameLength > this.maxBufferedBytes) this.refuse(frameLength, "send");
    const opcode = this.sendingFragmented !== 0 ? Opcode.CONTINUATION : type;
    this.sendingFragmented = more ? type : 0;
    // nextMaskKey(), inline: this runs for every message.
    if (this.maskOffset === this.maskPool.length) this.refillMaskPool();
    const keyAt = this.maskOffset;
    this.maskOffset = keyAt + 4;
    const frame =
      payload === undefined
        ? encodeMaskedTextFrame(opcode, data as string, length, this.utf8.encodeInto!, !more, this.maskPool, keyAt)
        : encodeMaskedFrame(opcode, payload, !more, this.maskPool, keyAt);
    this.queue.push(frame);
    this.buffered += frameLength;
  }

  /** Queues a ping (the caller checked the payload: at most 125 bytes); bounded as send(). */
  ping(payload: Uint8Array): void {
    this.reserve(clientFrameLength(payload.length), "ping");
    this.enqueue(encodeMaskedFrame(Opcode.PING, payload, true, this.maskPool, this.nextMaskKey()));
  }

  /**
   * Answers a ping (section 5.5.3: the same payload). A pong still waiting is replaced by
   * the newer one (allowed by 5.5.3), so a ping flood cannot grow the queue.
   */
  pong(payload: Uint8Array): void {
    const frame = encodeMaskedFrame(Opcode.PONG, payload, true, this.maskPool, this.nextMaskKey());
    if (this.pongFrame) this.buffered -= this.pongFrame.length;
    this.pongFrame = frame;
    this.buffered += frame.length;
  }

  /**
   * Queues a close frame (section 5.5.1; the caller validated code and reason). It always
   * goes out, even past maxBufferedBytes: it is at most 131 bytes.
   */
  close(code: number | undefined, reason: string): void {
    this.enqueue(encodeMaskedFrame(Opcode.CLOSE, encodeClosePayload(code, reason), true, this.maskPool, this.nextMaskKey()));
  }

  /** The socket takes `count` bytes now (its onWritable); flush() writes them. */
  setWritable(count: number): void {
    this.writable = count;
  }

  /** Writes as much as the socket's reported space allows. */
  flush(socket: FrameSink): void {
    const queue = this.queue;
    if (this.current === undefined && this.pongFrame === undefined && this.queueHead === 0 && queue.length === 1) {
      // One whole frame waits and nothing is half-written (the common case: a message sent
      // while the socket keeps up): it goes out in one write when it fits.
      const frame = queue[0]!;
      if (frame.length <= this.writable) {
        socket.write(frame);
        queue.length = 0;
        this.writable -= frame.length;
        this.buffered -= frame.length;
        if (this.buffered > 0) this.waitedForSocket = true;
        return;
      }
    }
    while (this.writable > 0) {
      if (!this.current) {
        this.current = this.nextFrame();
        this.currentOffset = 0;
        if (!this.current) break;
      }
      const remaining = this.current.length - this.currentOffset;
      const count = remaining < this.writable ? remaining : this.writable;
      const chunk =
        this.currentOffset === 0 && count === this.current.length
          ? this.current
          : this.current.subarray(this.currentOffset, this.currentOffset + count);
      socket.write(chunk);
      this.writable -= count;
      this.buffered -= count;
      this.currentOffset += count;
      if (this.currentOffset === this.current.length) this.current = undefined;
    }
    if (this.buffered > 0) this.waitedForSocket = true;
  }

  /**
   * True once when the queue has emptied after bytes had to wait for the socket: the moment
   * for the application's onDrain.
   */
  takeDrained(): boolean {
    if (this.buffered !== 0 || !this.waitedForSocket) return false;
    this.waitedForSocket = false;
    return true;
  }

  /**
   * Drops every frame not yet started (the connection failed: section 7.1.7), counting them
   * as unsent. A frame half-written is finished, so the close frame after it is readable.
   */
  discardQueued(): void {
    let dropped = 0;
    for (let i = this.queueHead; i < this.queue.length; i++) dropped += this.queue[i]!.length;
    this.queue = [];
    this.queueHead = 0;
    if (this.pongFrame) {
      dropped += this.pongFrame.length;
      this.pongFrame = undefined;
    }
    this.buffered -= dropped;
    this.discarded += dropped;
  }

  /**
   * The connection is closed: releases every frame and returns the bytes accepted that never
   * reached the socket (frame bytes, as bufferedAmount counts them).
   */
  release(): number {
    this.discardQueued();
    const unsent = this.discarded + this.buffered;
    this.current = undefined;
    this.buffered = 0;
    return unsent;
  }

  private reserve(frameLength: number, what: string): void {
    if (this.buffered + frameLength > this.maxBufferedBytes) this.refuse(frameLength, what);
  }

  /** A frame of `frameLength` bytes does not fit under maxBufferedBytes: ERR_BUFFER_FULL. */
  private refuse(frameLength: number, what: string): never {
    throw new WebSocketError(
      ErrorCode.BUFFER_FULL,
      `${what}() of a ${frameLength}-byte frame would exceed limits.maxBufferedBytes ` +
        `(${this.maxBufferedBytes}); ${this.buffered} bytes are waiting: wait for onDrain`,
    );
  }

  private enqueue(frame: Uint8Array): void {
    this.queue.push(frame);
    this.buffered += frame.length;
  }

  private nextFrame(): Uint8Array | undefined {
    // A pending pong goes first at a frame boundary (control frames may be interleaved
    // between fragments, section 5.4). It never overtakes the handshake request: pings are
    // read only once the 101 came, and the server could answer only after reading our key.
    if (this.pongFrame) {
      const pong = this.pongFrame;
      this.pongFrame = undefined;
      return pong;
    }
    if (this.queueHead >= this.queue.length) return undefined;
    const frame = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = EMPTY;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead >= 32 && this.queueHead * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return frame;
  }

  /** Where the next frame's key is in maskPool (refilled first when used up). */
  private nextMaskKey(): number {
    if (this.maskOffset === this.maskPool.length) this.refillMaskPool();
    const at = this.maskOffset;
    this.maskOffset = at + 4;
    return at;
  }

  private refillMaskPool(): void {
    // Section 5.3: a fresh, unpredictable key per frame. Drawing several at a time (16 by
    // default) keeps the host's random source off the per-frame path; each is used once.
    this.host.random(this.maskPool);
    this.maskOffset = 0;
  }
}
