/**
 * The wire format between the Node side of the XS host (hosts/xs/engine.ts) and the XS side
 * (hosts/xs/xs-side/), carried by xsnap's command channel: Node delivers an event with
 * worker.issueCommand (XS's globalThis.handleCommand answers it), and XS calls Node
 * synchronously with its own issueCommand. This module is shared by both sides, so it uses
 * nothing but ECMAScript.
 *
 * Payloads cross as raw bytes (no JSON, no base64): a delivery is
 *
 *   kind u8 | Node's monotonic clock f64 (ms, performance.now()) | body
 *
 * and every message from XS to Node (the answer to a delivery, or a synchronous call) is a
 * sequence of records
 *
 *   kind u8 | body length u32 | body
 *
 * in the order XS made them. Records of kind < 32 are posts (fire and forget: a write, a
 * timer to set, a log line, an event for Node); a record of kind >= 32 ends a synchronous
 * call, and Node answers it with
 *
 *   status u8 (0 ok, 1 failed) | body (failed: error name, NUL, message)
 *
 * Posts ride along with the next message XS sends anyway, so an echoed message costs one
 * crossing: the delivery of the received bytes, whose answer carries the write. All
 * integers are little-endian; strings are UTF-8 with a u32 length prefix unless they end a body.
 */

/** Node -> XS: the events Node delivers (worker.issueCommand). */
export const Delivery = {
  /** socket id u32 | bytes (the rest): bytes arrived; XS queues them until read. */
  TCP_READABLE: 1,
  /** socket id u32 | count u32: `count` bytes may be written (first one: connected). */
  TCP_WRITABLE: 2,
  /**
   * socket id u32 | code (u32-prefixed; a TlsErrorCode, empty when none) | message (the
   * rest): the connection failed or ended.
   */
  TCP_ERROR: 3,
  /** timer id u32: a timer is due. */
  TIMER: 4,
  /** notification u8 | reason u8 (index + 1; 0 none): a WiFi notification. */
  WIFI: 5,
  /** handle u32 | json (u32-prefixed) | bytes (the rest): a call from Node to a program. */
  CALL: 6,
  /** Nothing: collect garbage, so the answer's meter shows the live heap. */
  GC: 7,
  /** socket id u32 | port u16 | address (u32-prefixed) | bytes (the rest): a datagram arrived. */
  UDP_MESSAGE: 8,
  /** socket id u32 | message (the rest): the UDP socket failed; nothing follows. */
  UDP_ERROR: 9,
  /** lookup id u32 | found u8 | address, or the error when not found (the rest): a RESOLVE's answer. */
  RESOLVED: 10,
  /** listener id u32 | count u32: connections wait to be accepted (LISTENER_ACCEPT). */
  LISTENER_READABLE: 11,
  /** listener id u32 | message (the rest): the listener failed (its port is taken); nothing follows. */
  LISTENER_ERROR: 12,
  /** ok u8 | JSON WifiScanResult[] (ok) or the error (the rest): a WIFI_SCAN's answer. */
  WIFI_SCANNED: 13,
  /** bytes (the rest): bytes arrived on the console serial port (improv-bridge.ts). */
  SERIAL_READABLE: 14,
  /** message (the rest): the console serial port failed or went away. */
  SERIAL_ERROR: 15,
} as const;

/** XS -> Node posts: no answer. */
export const Post = {
  /** level u8 (index in LOG_LEVELS) | JSON [event, fields] (the rest). */
  LOG: 1,
  /** timer id u32 | ms f64 */
  TIMER_SET: 2,
  /** timer id u32 */
  TIMER_CLEAR: 3,
  /** socket id u32 | port u16 | nodelay u8 | host (the rest) */
  TCP_OPEN: 4,
  /** socket id u32 | bytes (the rest) */
  TCP_WRITE: 5,
  /** socket id u32 */
  TCP_CLOSE: 6,
  /**
   * socket id u32: XS has read everything it was given after a TCP_HOLD; Node may deliver
   * more bytes. (Without a TCP_HOLD in its answer, a TCP_READABLE delivery is taken as read.)
   */
  TCP_WANT: 7,
  /** handle u32 | json (u32-prefixed) | bytes (the rest): an event of a program, for Node. */
  EMIT: 8,
  /** json (u32-prefixed) | bytes (the rest): the result of the CALL being delivered. */
  RESULT: 9,
  /** text: an exception escaped into the host during a delivery (name: message, stack). */
  EXCEPTION: 10,
  /** socket id u32 | port u16 | address (u32-prefixed) | bytes (the rest): send one datagram. */
  UDP_SEND: 11,
  /** socket id u32 */
  UDP_CLOSE: 12,
  /** lookup id u32 | name (the rest): resolve a host name; RESOLVED answers it. */
  RESOLVE: 13,
  /** time f64 (UTC ms): set the device's wall clock (Node keeps it, and checks certificate dates by it). */
  CLOCK_SET: 14,
  /** listener id u32: stop listening. */
  LISTENER_CLOSE: 15,
  /** nothing: scan for networks; WIFI_SCANNED answers. */
  WIFI_SCAN: 16,
  /**
   * socket id u32: in the answer to a TCP_READABLE delivery, XS has not read all of it yet
   * (its reader paused): Node delivers nothing more until TCP_WANT.
   */
  TCP_HOLD: 17,
} as const;

/** XS -> Node synchronous calls (the last record of an issueCommand). */
export const Command = {
  /** specifier (the rest) -> module source text. */
  LOAD: 32,
  /** count u32 -> that many random bytes. */
  RANDOM: 33,
  /** domain, key (u32-prefixed) -> found u8 | value (the rest). */
  STORAGE_GET: 34,
  /** domain, key (u32-prefixed) | value (the rest) -> nothing. */
  STORAGE_SET: 35,
  /** domain, key (u32-prefixed) -> nothing. */
  STORAGE_DELETE: 36,
  /** listening u8 | JSON network (the rest) -> nothing. */
  WIFI_CONNECT: 37,
  /** listening u8 -> nothing. */
  WIFI_DISCONNECT: 38,
  /** nothing -> rssi f64 (NaN: unknown) | address (the rest, "" when none). */
  WIFI_STATUS: 39,
  /**
   * socket id u32 | port u16 | nodelay u8 | host (u32-prefixed) | JSON TlsOptions (the rest)
   * -> nothing: opens a TLS socket (NodeTlsSocket). A call, not a post, so that a TlsOptions
   * Node refuses throws inside XS, from the constructor, as NodeTlsSocket's does on Node.
   * Its events are the TCP socket's (TCP_READABLE, TCP_WRITABLE, TCP_ERROR with the code).
   */
  TLS_OPEN: 40,
  /**
   * socket id u32 | port u16 (0: any) | address (the rest, "" for every interface) -> nothing:
   * opens a UDP socket (NodeUdpSocket); a bad port or address throws inside XS. Its events are
   * UDP_MESSAGE and UDP_ERROR.
   */
  UDP_OPEN: 41,
  /** nothing -> time f64 (UTC ms, the device's wall clock) | systemSynced u8. */
  CLOCK_GET: 42,
  /**
   * listener id u32 | port u16 | address (the rest, "" for every interface) -> nothing: opens a
   * NodeTcpListener; a bad port or address throws inside XS. Its events are LISTENER_READABLE
   * and LISTENER_ERROR.
   */
  LISTENER_OPEN: 43,
  /**
   * listener id u32 | socket id u32 -> accepted u8: the oldest waiting connection becomes
   * that TCP socket (its events are TCP_READABLE, TCP_WRITABLE, TCP_ERROR); 0: none waited.
   */
  LISTENER_ACCEPT: 44,
  /** start u8 (1 start, 0 stop) | JSON AccessPointOptions (start) -> nothing; the driver's refusal throws inside XS. */
  WIFI_ACCESS_POINT: 45,
  /** nothing -> MAC (u32-prefixed, "" unknown) | access point address (the rest, "" when closed). */
  WIFI_INFO: 46,
  /** nothing -> nothing: opens the console serial port's reader (throws in XS when it cannot). */
  SERIAL_OPEN: 47,
  /** bytes (the rest) -> accepted u8 (0: the output queue was full). In order with the log's posts. */
  SERIAL_WRITE: 48,
  /** nothing -> nothing: closes the console serial port's reader. */
  SERIAL_CLOSE: 49,
  /**
   * op u8 (FirmwareOp) | the op's arguments -> its answer: the firmware update store and
   * signature check of the desktop chip (hosts/xs/firmware-bridge.ts), synchronous as the
   * ESP32's flash writes are, so a failed write throws inside XS where it was made.
   */
  FIRMWARE: 50,
} as const;

/** Command.FIRMWARE's operations: arguments -> answer. */
export const FirmwareOp = {
  /** nothing -> JSON {target, capacity, blockBytes}. */
  INFO: 0,
  /** nothing -> JSON RunningImage. */
  RUNNING: 1,
  /** size f64 | offset f64 -> nothing. */
  OPEN: 2,
  /** offset f64 | bytes (the rest) -> nothing. */
  WRITE: 3,
  /** offset f64 | length u32 -> bytes. */
  READ: 4,
  /** nothing -> nothing. */
  CANCEL: 5,
  /** JSON ActivatedImage (the rest) -> nothing. */
  ACTIVATE: 6,
  /** nothing -> nothing. */
  MARK_VALID: 7,
  /** nothing -> nothing. */
  ROLLBACK: 8,
  /** key (u32-prefixed) | signature (u32-prefixed) | message (the rest) -> valid u8. */
  VERIFY: 9,
} as const;

export const ANSWER_OK = 0;
export const ANSWER_FAILED = 1;

/** Bytes of a delivery's header: kind u8 and Node's clock f64. */
export const DELIVERY_HEADER_BYTES = 9;
/** Bytes of a record's header: kind u8 and body length u32. */
export const RECORD_HEADER_BYTES = 5;

/** The wire's level numbers are indexes in the log format's own table. */
export { LOG_LEVELS } from "../../../src/shared/log-format.js";
export const WIFI_NOTIFICATIONS = ["connect", "gotIP", "lostIP", "disconnect"] as const;
export const WIFI_REASONS = ["wrong_password", "ap_not_found", "link_lost"] as const;

/** The handle of the root program, which starts the others (CALL with {op: "start"}). */
export const ROOT_HANDLE = 0;

/** A growable byte buffer that messages are written into. */
export class Writer {
  private buffer: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(private readonly initialBytes = 4096, private readonly keepBytes = 256 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
    this.view = new DataView(this.buffer.buffer);
  }

  private ensure(more: number): void {
    const needed = this.length + more;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buffer[this.length++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, value, true);
    this.length += 2;
  }

  u32(value: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A u32 length, then the bytes (an encoded string, typically). */
  prefixed(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.bytes(bytes);
  }

  /** Starts a record; returns where its length goes (for end()). */
  begin(kind: number): number {
    this.ensure(5);
    this.buffer[this.length] = kind;
    const at = this.length + 1;
    this.length = at + 4;
    return at;
  }

  /**
   * A whole record whose body is `id` u32 and then `bytes` (or nothing), in one go: the
   * common posts (a socket's write, TCP_HOLD), without a callback or a bounds check per field.
   */
  record(kind: number, id: number, bytes?: Uint8Array): void {
    const count = bytes === undefined ? 0 : bytes.length;
    const at = this.length;
    if (at + 9 + count > this.buffer.length) this.ensure(9 + count);
    this.buffer[at] = kind;
    this.view.setUint32(at + 1, 4 + count, true);
    this.view.setUint32(at + 5, id, true);
    if (bytes !== undefined) this.buffer.set(bytes, at + 9);
    this.length = at + 9 + count;
  }

  end(at: number): void {
    this.view.setUint32(at, this.length - at - 4, true);
  }

  /** The bytes written so far, as a new ArrayBuffer; the writer starts over. */
  take(): ArrayBuffer {
    const out = this.buffer.buffer.slice(0, this.length) as ArrayBuffer;
    this.length = 0;
    // One large write must not pin a large buffer for the rest of the run.
    if (this.buffer.length > this.keepBytes) {
      this.buffer = new Uint8Array(this.initialBytes);
      this.view = new DataView(this.buffer.buffer);
    }
    return out;
  }
}

/** Reads a message front to back. */
export class Reader {
  readonly view: DataView;
  offset: number;
  readonly end: number;

  constructor(readonly bytes: Uint8Array, offset = 0, end = bytes.length) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.offset = offset;
    this.end = end;
  }

  private need(count: number): void {
    if (this.offset + count > this.end) throw new RangeError(`bridge message truncated: ${count} bytes wanted at ${this.offset} of ${this.end}`);
  }

  // Each read checks its bounds inline (need() only reports): these run for every delivery.

  u8(): number {
    const at = this.offset;
    if (at + 1 > this.end) this.need(1);
    this.offset = at + 1;
    return this.bytes[at]!;
  }

  u16(): number {
    const at = this.offset;
    if (at + 2 > this.end) this.need(2);
    this.offset = at + 2;
    return this.view.getUint16(at, true);
  }

  u32(): number {
    const at = this.offset;
    if (at + 4 > this.end) this.need(4);
    this.offset = at + 4;
    return this.view.getUint32(at, true);
  }

  f64(): number {
    const at = this.offset;
    if (at + 8 > this.end) this.need(8);
    this.offset = at + 8;
    return this.view.getFloat64(at, true);
  }

  /** `count` bytes, as a view (no copy). */
  bytesOf(count: number): Uint8Array {
    const at = this.offset;
    if (at + count > this.end) this.need(count);
    this.offset = at + count;
    return this.bytes.subarray(at, at + count);
  }

  /** Bytes after a u32 length (Writer.prefixed), as a view. */
  prefixed(): Uint8Array {
    return this.bytesOf(this.u32());
  }

  /** Everything up to the end, as a view (no copy). */
  rest(): Uint8Array {
    const at = this.offset;
    this.offset = this.end;
    return this.bytes.subarray(at, this.end);
  }

  get remaining(): number {
    return this.end - this.offset;
  }
}
