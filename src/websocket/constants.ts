/**
 * RFC 6455 constants and the client's default limits. Tables are frozen: the Moddable
 * linker (xsl) keeps a preloaded module's objects in flash, and each one left unfrozen costs
 * RAM on the chip (it warns "not frozen") in case it is ever modified.
 */

/** RFC 6455 section 1.3: appended to Sec-WebSocket-Key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Frame opcodes, RFC 6455 section 5.2. */
export const Opcode = Object.freeze({
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const);
export type OpcodeValue = (typeof Opcode)[keyof typeof Opcode];

/** Close codes, RFC 6455 section 7.4.1. */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Never on the wire: the close frame had no status code. */
  NO_STATUS: 1005,
  /** Never on the wire: the connection closed without a close frame. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
} as const);

/** Control frame payloads are at most 125 bytes (RFC 6455 section 5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** A close reason fits in a control frame after the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/**
 * Is `code` acceptable in a close frame received from, or sent to, a peer?
 * RFC 6455 section 7.4: 1000-1003 and 1007-1011 are defined for use; 1004 is reserved;
 * 1005, 1006 and 1015 must never be sent; 1012-1014 (service restart, try again later,
 * bad gateway) were registered with IANA since and servers do send them, so they are
 * accepted (as by the `ws` package and current Autobahn|Testsuite case 7.9); the rest of
 * 1000-2999 is reserved; 3000-4999 belong to libraries and applications.
 */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/**
 * Default limits, sized for an ESP32 where XS has roughly 100 KB of heap.
 * Each can be raised per connection (the echo agent raises them to 16 MiB).
 */
export const DEFAULT_LIMITS = Object.freeze({
  /** Largest message (all fragments together) accepted, bytes. Larger: close 1009. */
  maxMessageBytes: 16 * 1024,
  /** Largest single frame payload accepted, bytes. Larger: close 1009. */
  maxFrameBytes: 16 * 1024,
  /** Bytes that send() may queue before it refuses (the bufferedAmount bound). */
  maxBufferedBytes: 16 * 1024,
  /**
   * The receive side's high-water mark, bytes: while bufferedAmount is above it, the client
   * reads nothing more from the socket (it stops between two messages) until the queue has
   * drained to it, so a peer that sends faster than it reads is slowed by TCP flow control
   * instead of having the answers to its messages refused with ERR_BUFFER_FULL. When only
   * maxBufferedBytes is given, a quarter of it. At most maxBufferedBytes.
   */
  readPauseBytes: 4 * 1024,
  /** Largest HTTP response header block accepted during the opening handshake, bytes. */
  maxHandshakeBytes: 4 * 1024,
  /** From TCP connect to a validated 101 response, milliseconds. */
  handshakeTimeoutMs: 10_000,
  /** From sending or receiving a close frame to dropping TCP, milliseconds. */
  closeTimeoutMs: 5_000,
} as const);

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

/** Upper bound accepted for any byte limit: 2 GiB - 1, the largest length a JS array buffer reliably has. */
export const MAX_LIMIT_BYTES = 0x7fffffff;
/** Upper bound accepted for any timeout (one day, milliseconds): src/shared/options.ts's. */
export { MAX_TIMEOUT_MS } from "../shared/options.js";

/**
 * Mask keys a connection draws from its host's random source at a time (NetHost.maskKeysPerDraw):
 * 16 keys, 64 bytes per connection, unless the host names another number; at most 1,024
 * (4 KiB per connection).
 */
export const DEFAULT_MASK_KEYS_PER_DRAW = 16;
export const MAX_MASK_KEYS_PER_DRAW = 1024;
