/**
 * The frame parser: a pure incremental state machine (RFC 6455 section 5). It takes bytes
 * in any chunking, down to one byte at a time, and emits events; it never touches a socket.
 *
 * Every rule is checked at the earliest byte that can break it, so a bad peer costs no
 * memory: the first header byte (RSV bits, opcode, fragmentation order), the second
 * (MASK bit, control frame length), the extended length (minimal encoding, size limits,
 * before any payload byte is buffered), and text payload bytes as they arrive (UTF-8).
 *
 * Memory held is bounded by the limits, never by the bytes on the wire: a fragmented
 * message is copied, fragment by fragment, into one buffer of at most maxMessageBytes, so no
 * fragment keeps the (possibly much larger) read buffer it arrived in alive.
 */
import { CloseCode, isValidCloseCode, MAX_CONTROL_PAYLOAD, MAX_LIMIT_BYTES, Opcode } from "./constants.js";
import {
  ErrorCode,
  invalidUtf8,
  protocolError,
  tooBig,
  type WebSocketError,
} from "../shared/errors.js";
import { checkInteger } from "../shared/options.js";
import { MessageBuffer } from "./message-buffer.js";
import { decodeUtf8, Utf8Validator } from "./utf8.js";

export interface ReceiverEvents {
  /** A complete message: a string for text (validated UTF-8), bytes for binary. */
  onMessage(data: string | Uint8Array): void;
  /** A ping's payload (0..125 bytes). The client answers with a pong. */
  onPing(payload: Uint8Array): void;
  /** A pong's payload. */
  onPong(payload: Uint8Array): void;
  /**
   * A valid close frame: `code` is 1005 when the frame had no payload. After this the
   * receiver ignores all further input.
   */
  onClose(code: number, reason: string): void;
  /**
   * A protocol violation: the error carries its close code (1002, 1007 or 1009). After this
   * the receiver ignores all further input.
   */
  onError(error: WebSocketError): void;
}

export interface ReceiverLimits {
  /** Largest reassembled message, bytes. */
  maxMessageBytes: number;
  /** Largest single frame payload, bytes. */
  maxFrameBytes: number;
}

/** Parser states: which part of a frame (section 5.2) the next byte belongs to. */
const State = Object.freeze({
  /** Byte 1 of the header: FIN, RSV1-3, opcode. */
  HEADER: 0,
  /** Byte 2 of the header: MASK and the 7-bit payload length. */
  LENGTH_7: 1,
  /** The 16-bit extended payload length (7-bit length was 126). */
  LENGTH_16: 2,
  /** The 64-bit extended payload length (7-bit length was 127). */
  LENGTH_64: 3,
  /** Payload bytes. */
  PAYLOAD: 4,
  /** A close frame or an error was seen: all input is ignored. */
  STOPPED: 5,
} as const);
type StateValue = (typeof State)[keyof typeof State];

const EMPTY = new Uint8Array(0);

/** 2^32: the weight of the high half of a 64-bit length. */
const TWO_TO_32 = 0x100000000;

export class Receiver {
  private readonly events: ReceiverEvents;
  private readonly maxMessageBytes: number;
  private readonly maxFrameBytes: number;

  private state: StateValue = State.HEADER;

  // The frame being parsed.
  private fin = false;
  private opcode = 0;
  /** Extended length bytes still to read, and the value read so far in two 32-bit halves. */
  private lengthBytesLeft = 0;
  private lengthHigh = 0;
  private lengthLow = 0;
  private payloadLength = 0;
  private payloadReceived = 0;
  /**
   * The payload of a control frame or an unfragmented message: a buffer of payloadLength
   * being filled, or a view into the input when one chunk held the whole payload (delivered
   * at once, never kept). Undefined until the first payload byte.
   */
  private payload: Uint8Array | undefined = undefined;
  /** The frame is a fragment (section 5.4): its payload goes into `message`. */
  private fragment = false;

  // The data message being received (section 5.4): opcode 0 when none is in progress.
  private messageOpcode = 0;
  /** A fragmented message's bytes so far, copied out of the input. */
  private readonly message: MessageBuffer;
  /** Validates a text message across all its fragments. */
  private readonly textValidator = new Utf8Validator();
  /**
   * Validates a close reason; separate because a close may arrive inside a text message.
   * Used once at most: a close frame stops the receiver.
   */
  private readonly reasonValidator = new Utf8Validator();

  // Input not yet parsed: normally one chunk. More chunks queue up when a handler calls push()
  // re-entrantly, or stay when a handler threw, so bytes are always parsed in order.
  private readonly pending: Uint8Array[] = [];
  private pendingOffset = 0;
  private draining = false;
  /**
   * pause() was called: parsing stops after the current event, and the bytes not yet parsed
   * stay in `pending` (at most the chunks already pushed) until resume().
   */
  private paused = false;

  /** Turns validated text into a string: the host's native decoder, or decodeUtf8. */
  private readonly decode: (bytes: Uint8Array) => string;
  /** Validates and decodes at once (undefined for bytes that are not UTF-8), when the host can. */
  private readonly decodeChecked: ((bytes: Uint8Array) => string | undefined) | undefined;

  /**
   * `decode` is called only with bytes this receiver has already validated as UTF-8 (text
   * messages and close reasons); default: src/websocket/utf8.ts's decodeUtf8. `decodeChecked`
   * (a host's Utf8Codec.decodeChecked), when given, takes a text message that arrives whole in
   * one chunk: it must return undefined for anything that is not UTF-8 (RFC 3629).
   */
  constructor(
    events: ReceiverEvents,
    limits: ReceiverLimits,
    decode: (bytes: Uint8Array) => string = decodeUtf8,
    decodeChecked?: (bytes: Uint8Array) => string | undefined,
  ) {
    this.events = events;
    this.decode = decode;
    this.decodeChecked = decodeChecked;
    this.maxMessageBytes = checkInteger("maxMessageBytes", limits.maxMessageBytes, 0, MAX_LIMIT_BYTES, "bytes");
    this.message = new MessageBuffer(this.maxMessageBytes);
    this.maxFrameBytes = checkInteger("maxFrameBytes", limits.maxFrameBytes, 0, MAX_LIMIT_BYTES, "bytes");
  }

  /**
   * Feeds bytes from the server. Safe to call after close or error (input is ignored).
   *
   * The receiver may deliver views into `chunk` (a payload that arrived whole in one chunk
   * is not copied), so the caller must not modify `chunk` afterwards. It keeps none once
   * the chunk is parsed: fragments of a message are copied.
   * A handler may call push() again: those bytes are parsed after the current ones.
   * While paused (pause()), bytes are kept unparsed until resume().
   * If a handler throws, the exception propagates and the bytes not yet parsed are kept,
   * to be parsed (before the new ones) at the next push().
   */
  push(chunk: Uint8Array): void {
    if (this.state === State.STOPPED) return;
    if (chunk.length > 0) this.pending.push(chunk);
    if (this.draining) return;
    this.draining = true;
    try {
      const pending = this.pending;
      while (!this.paused && pending.length > 0) {
        const state = this.state as StateValue;
        if (state === State.STOPPED) break;
        const bytes = pending[0];
        const at = this.pendingOffset;
        if (at < bytes.length) {
          if (state === State.PAYLOAD) {
            this.readPayload(bytes, at);
          } else if (state === State.HEADER && at + 1 < bytes.length) {
            // Both bytes of the header's start are here (the common case): read them in one
            // turn, and a payload that follows at once. readFirstByte emits nothing unless it
            // fails, which stops the parser.
            this.pendingOffset = at + 2;
            if (this.readFirstByte(bytes[at])) {
              this.readSecondByte(bytes[at + 1]);
              if ((this.state as StateValue) === State.PAYLOAD && at + 2 < bytes.length) this.readPayload(bytes, at + 2);
            }
          } else {
            this.pendingOffset = at + 1;
            this.readHeaderByte(bytes[at]);
          }
          // More of this chunk to parse, or the parser stopped (and dropped it).
          if (this.pendingOffset < bytes.length || pending[0] !== bytes) continue;
        }
        // This chunk is parsed: the next one, if any.
        pending.shift();
        this.pendingOffset = 0;
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Stops parsing after the event being delivered (a handler calls it: the client does when
   * its send queue is over its high-water mark). Bytes pushed meanwhile are kept, in order,
   * unparsed; the caller should stop reading them from the socket, so TCP flow control slows
   * the peer instead.
   */
  pause(): void {
    this.paused = true;
  }

  /** Parses the bytes kept since pause(), until they run out or a handler pauses again. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.push(EMPTY);
  }

  /** pause() was called and resume() not yet. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** True once a close frame was received or an error was reported. */
  get stopped(): boolean {
    return this.state === State.STOPPED;
  }

  /**
   * One byte of a frame's header, in the state it belongs to. pendingOffset is already past
   * it, and state is updated before any event is emitted, so a handler sees (and may
   * re-enter) a consistent parser.
   */
  private readHeaderByte(byte: number): void {
    switch (this.state) {
      case State.HEADER:
        this.readFirstByte(byte);
        return;
      case State.LENGTH_7:
        this.readSecondByte(byte);
        return;
      case State.LENGTH_16:
      case State.LENGTH_64:
        this.readLengthByte(byte);
        return;
    }
  }

  private readFirstByte(byte: number): boolean {
    // Section 5.2: RSV1-3 "MUST be 0 unless an extension is negotiated"; we offer none.
    if ((byte & 0x70) !== 0) {
      this.fail(
        protocolError(
          ErrorCode.RESERVED_BITS,
          `reserved bits set (RSV ${(byte >> 4) & 7}) with no extension negotiated`,
        ),
      );
      return false;
    }
    const fin = (byte & 0x80) !== 0;
    const opcode = byte & 0x0f;
    switch (opcode) {
      case Opcode.CONTINUATION:
        // Section 5.4: a continuation frame only follows a non-final data frame.
        if (this.messageOpcode === 0) {
          this.fail(
            protocolError(
              ErrorCode.UNEXPECTED_CONTINUATION,
              "continuation frame without a fragmented message in progress",
            ),
          );
          return false;
        }
        break;
      case Opcode.TEXT:
      case Opcode.BINARY:
        // Section 5.4: fragments of one message are not interleaved with another message.
        if (this.messageOpcode !== 0) {
          this.fail(
            protocolError(
              ErrorCode.EXPECTED_CONTINUATION,
              `${opcode === Opcode.TEXT ? "text" : "binary"} frame while a fragmented message is in progress`,
            ),
          );
          return false;
        }
        break;
      case Opcode.CLOSE:
      case Opcode.PING:
      case Opcode.PONG:
        // Section 5.5: "All control frames ... MUST NOT be fragmented."
        if (!fin) {
          this.fail(
            protocolError(
              ErrorCode.FRAGMENTED_CONTROL,
              `fragmented control frame (opcode 0x${opcode.toString(16)})`,
            ),
          );
          return false;
        }
        break;
      default:
        // Section 5.2: 0x3-0x7 and 0xB-0xF are reserved for further frames.
        this.fail(
          protocolError(
            ErrorCode.RESERVED_OPCODE,
            `reserved opcode 0x${opcode.toString(16)}`,
          ),
        );
        return false;
    }
    this.fin = fin;
    this.opcode = opcode;
    this.state = State.LENGTH_7;
    return true;
  }

  private readSecondByte(byte: number): void {
    // Section 5.1: "A client MUST close a connection if it detects a masked frame."
    if ((byte & 0x80) !== 0) {
      this.fail(protocolError(ErrorCode.MASKED_FRAME, "server sent a masked frame"));
      return;
    }
    const length = byte & 0x7f;
    // Section 5.5: control frames carry at most 125 bytes, so their length is always 7-bit.
    if (this.opcode >= Opcode.CLOSE && length > MAX_CONTROL_PAYLOAD) {
      this.fail(
        protocolError(
          ErrorCode.CONTROL_TOO_LONG,
          `control frame payload over ${MAX_CONTROL_PAYLOAD} bytes (length field ${length})`,
        ),
      );
      return;
    }
    if (length === 126) {
      this.state = State.LENGTH_16;
      this.lengthBytesLeft = 2;
      this.lengthHigh = 0;
      this.lengthLow = 0;
    } else if (length === 127) {
      this.state = State.LENGTH_64;
      this.lengthBytesLeft = 8;
      this.lengthHigh = 0;
      this.lengthLow = 0;
    } else {
      this.startPayload(length);
    }
  }

  private readLengthByte(byte: number): void {
    if (this.state === State.LENGTH_64) {
      // Section 5.2: "the most significant bit MUST be 0".
      if (this.lengthBytesLeft === 8 && (byte & 0x80) !== 0) {
        this.fail(
          protocolError(ErrorCode.LENGTH_MSB_SET, "64-bit payload length has its most significant bit set"),
        );
        return;
      }
      // Two exact 32-bit halves: a single accumulating number would round above 2^53.
      if (this.lengthBytesLeft > 4) this.lengthHigh = this.lengthHigh * 256 + byte;
      else this.lengthLow = this.lengthLow * 256 + byte;
    } else {
      this.lengthLow = this.lengthLow * 256 + byte;
    }
    if (--this.lengthBytesLeft > 0) return;

    // Section 5.2: "the minimal number of bytes MUST be used to encode the length".
    if (this.state === State.LENGTH_16) {
      if (this.lengthLow <= 125) {
        this.fail(nonMinimal(this.lengthLow, 16));
        return;
      }
      this.startPayload(this.lengthLow);
      return;
    }
    if (this.lengthHigh === 0 && this.lengthLow <= 0xffff) {
      this.fail(nonMinimal(this.lengthLow, 64));
      return;
    }
    // Exact below 2^53; above, rounded, but then it is far beyond any limit anyway
    // (limits are at most MAX_LIMIT_BYTES), so the size checks still decide correctly.
    this.startPayload(this.lengthHigh * TWO_TO_32 + this.lengthLow);
  }

  /** The payload length is known: check it against the limits before buffering anything. */
  private startPayload(length: number): void {
    const opcode = this.opcode;
    this.fragment = false;
    if (opcode >= Opcode.CLOSE) {
      // Control frames are bounded by section 5.5 (125 bytes, checked already), not by the
      // data limits: a small maxFrameBytes must not make pings or close reasons fail.
      if (opcode === Opcode.CLOSE && length === 1) {
        // Section 5.5.1: a close body starts with a 2-byte status code.
        this.fail(
          protocolError(ErrorCode.INVALID_CLOSE_PAYLOAD, "close frame payload of 1 byte (a status code takes 2)"),
        );
        return;
      }
    } else {
      if (length > this.maxFrameBytes) {
        this.fail(tooBig(ErrorCode.FRAME_TOO_BIG, "frame payload", length, this.maxFrameBytes, "maxFrameBytes"));
        return;
      }
      const buffered = opcode === Opcode.CONTINUATION ? this.message.length : 0;
      if (buffered + length > this.maxMessageBytes) {
        this.fail(
          tooBig(ErrorCode.MESSAGE_TOO_BIG, "message", buffered + length, this.maxMessageBytes, "maxMessageBytes"),
        );
        return;
      }
      if (opcode !== Opcode.CONTINUATION) {
        // The first frame of a message (section 5.4).
        this.messageOpcode = opcode;
        this.message.length = 0;
        if (opcode === Opcode.TEXT) this.textValidator.reset();
      }
      // A message in one frame is delivered as its payload; a fragment is copied into the
      // message buffer, which must hold it before any of its bytes arrive.
      this.fragment = opcode === Opcode.CONTINUATION || !this.fin;
      if (this.fragment && length > 0) this.message.reserve(buffered + length, this.fin);
    }
    this.payloadLength = length;
    this.payloadReceived = 0;
    this.payload = undefined;
    if (length === 0) {
      this.state = State.HEADER;
      this.endFrame();
    } else {
      this.state = State.PAYLOAD;
    }
  }

  private readPayload(bytes: Uint8Array, at: number): void {
    const received = this.payloadReceived;
    const wanted = this.payloadLength - received;
    const available = bytes.length - at;
    const count = available < wanted ? available : wanted;
    const end = at + count;

    if (received === 0 && count === wanted && !this.fragment && this.opcode < Opcode.CLOSE) {
      this.deliverWhole(bytes, at, end);
      return;
    }

    // Section 8.1: fail on invalid text as soon as it arrives, before buffering it.
    // (Control frames interleaved in a text message are not part of it: opcode >= CLOSE.)
    if (this.opcode < Opcode.CLOSE && this.messageOpcode === Opcode.TEXT) {
      if (!this.textValidator.update(bytes, at, end)) {
        this.pendingOffset = end;
        this.fail(invalidUtf8("text message"));
        return;
      }
    }

    let payload = this.payload;
    if (this.fragment) {
      // Copied: the message holds its own bytes, never the (larger) input they came in.
      this.message.bytes!.set(bytes.subarray(at, end), this.message.length + received);
    } else if (received === 0 && count === this.payloadLength) {
      payload = bytes.subarray(at, end); // the whole payload is here: no copy
    } else {
      if (payload === undefined) payload = new Uint8Array(this.payloadLength);
      payload.set(bytes.subarray(at, end), received);
    }
    this.payload = payload;
    this.payloadReceived = received + count;
    this.pendingOffset = end;

    if (this.opcode === Opcode.CLOSE && !this.checkClosePayload(payload!, received, received + count)) {
      return;
    }

    if (this.payloadReceived === this.payloadLength) {
      this.state = State.HEADER;
      this.endFrame();
    }
  }

  /**
   * A whole unfragmented data message (text or binary) is in this chunk: delivered from here,
   * without being copied or kept. Text is validated as it is decoded, by the host's checked
   * decoder when it has one (one native pass), else by the Utf8Validator and then decoded: at
   * the same moment either way, as its last byte has arrived (section 8.1).
   */
  private deliverWhole(bytes: Uint8Array, at: number, end: number): void {
    const payload = bytes.subarray(at, end);
    this.pendingOffset = end;
    this.payloadReceived = end - at;
    this.state = State.HEADER;
    this.messageOpcode = 0;
    if (this.opcode === Opcode.BINARY) {
      this.events.onMessage(payload);
      return;
    }
    const validator = this.textValidator;
    let text: string | undefined;
    if (this.decodeChecked !== undefined) {
      text = this.decodeChecked(payload);
    } else if (validator.update(payload, 0, payload.length) && validator.complete) {
      text = this.decode(payload);
    }
    if (text === undefined) {
      // Which rule broke (a bad byte, or a sequence cut short at the end) is told as before.
      validator.reset();
      this.fail(invalidUtf8(validator.update(payload, 0, payload.length) ? "text message (truncated sequence at the end)" : "text message"));
      return;
    }
    this.events.onMessage(text);
  }

  /**
   * Checks close payload bytes [from, to) as they arrive: the status code once both of its
   * bytes are in, the reason's UTF-8 byte by byte (section 5.5.1, 7.4). False after failing.
   */
  private checkClosePayload(payload: Uint8Array, from: number, to: number): boolean {
    if (from < 2 && to >= 2) {
      const code = (payload[0] << 8) | payload[1];
      if (!isValidCloseCode(code)) {
        this.fail(protocolError(ErrorCode.INVALID_CLOSE_CODE, `invalid close code ${code}`));
        return false;
      }
    }
    if (to > 2 && !this.reasonValidator.update(payload, from > 2 ? from : 2, to)) {
      this.fail(invalidUtf8("close reason"));
      return false;
    }
    return true;
  }

  /** A whole frame is in (state is already HEADER): deliver it, or add it to its message. */
  private endFrame(): void {
    const opcode = this.opcode;
    const payload = this.payload ?? new Uint8Array(0);
    this.payload = undefined;

    switch (opcode) {
      case Opcode.PING:
        this.events.onPing(payload);
        return;
      case Opcode.PONG:
        this.events.onPong(payload);
        return;
      case Opcode.CLOSE:
        this.endClose(payload);
        return;
    }

    // A data frame (text, binary or continuation).
    const isText = this.messageOpcode === Opcode.TEXT;
    let message: Uint8Array;
    if (this.fragment) {
      this.message.length += this.payloadLength;
      if (!this.fin) return;
      // Text becomes a string; binary is handed over, so it gets a buffer of its own size.
      message = this.message.take(!isText);
    } else {
      message = payload; // an unfragmented message is delivered as received, not copied
    }
    this.messageOpcode = 0;
    if (isText) {
      // Section 5.6 / 8.1: the message must end on a character boundary too.
      if (!this.textValidator.complete) {
        this.fail(invalidUtf8("text message (truncated sequence at the end)"));
        return;
      }
      this.events.onMessage(this.decode(message));
    } else {
      this.events.onMessage(message);
    }
  }

  private endClose(payload: Uint8Array): void {
    // Code and reason were checked as the bytes arrived (checkClosePayload).
    if (payload.length === 0) {
      this.stop();
      this.events.onClose(CloseCode.NO_STATUS, "");
      return;
    }
    if (!this.reasonValidator.complete) {
      this.fail(invalidUtf8("close reason (truncated sequence at the end)"));
      return;
    }
    const code = (payload[0] << 8) | payload[1];
    const reason = this.decode(payload.subarray(2));
    this.stop();
    this.events.onClose(code, reason);
  }

  /** Stops the parser and releases everything it holds. */
  private stop(): void {
    this.state = State.STOPPED;
    this.payload = undefined;
    this.message.clear();
    this.messageOpcode = 0;
    this.pending.length = 0;
    this.pendingOffset = 0;
  }

  /** Reports a protocol violation once: the parser stops before the handler runs. */
  private fail(error: WebSocketError): void {
    this.stop();
    this.events.onError(error);
  }
}

function nonMinimal(length: number, bits: number): WebSocketError {
  return protocolError(
    ErrorCode.NON_MINIMAL_LENGTH,
    `payload length ${length} sent in the ${bits}-bit form (the minimal encoding is required)`,
  );
}

