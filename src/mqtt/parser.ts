/**
 * The MQTT 3.1.1 packet parser for a client: a pure incremental state machine (in the style
 * of src/websocket/receiver.ts) that takes the broker's bytes in any chunking, down to one
 * byte at a time, and emits one event per packet; it never touches a socket. Over WebSocket
 * the packets arrive in binary messages that may hold several packets or part of one
 * (section 6), so the parser keeps its place across pushes.
 *
 * Every rule is checked at the earliest byte that can break it: the first byte (a packet
 * type a broker may send a client, in the right order, with the flags section 2.2.2
 * prescribes), the Remaining Length (at most four bytes, minimally encoded, within
 * maxPacketBytes and exact for fixed-size packets) before any body byte is kept, then the
 * body's fields. The first violation is reported once through onError (ERR_MQTT_MALFORMED,
 * ERR_MQTT_UNEXPECTED or ERR_MQTT_PACKET_TOO_BIG) and all further input is ignored: the
 * connection must be closed (section 4.8).
 *
 * Memory is bounded by maxPacketBytes: a packet that arrives whole in one chunk is parsed in
 * place; one split across chunks is copied into one buffer of its exact length.
 */
import { ErrorCode, mqttError, type WebSocketError } from "../shared/errors.js";
import { checkInteger } from "../shared/options.js";
import { decodeUtf8, isValidUtf8 } from "../websocket/utf8.js";
import { CONNACK_MEANINGS, MAX_REMAINING_LENGTH, PACKET_NAMES, PacketType, SUBACK_FAILURE } from "./packets.js";

export interface ParserEvents {
  /** CONNACK (section 3.2): always the first packet; returnCode 0..5. */
  onConnack(sessionPresent: boolean, returnCode: number): void;
  /**
   * PUBLISH (section 3.3): `payload` is a view valid only during the call (copy to keep it);
   * packetId is 0 for QoS 0.
   */
  onPublish(topic: string, payload: Uint8Array, qos: 0 | 1, packetId: number, dup: boolean, retain: boolean): void;
  /** PUBACK (section 3.4). */
  onPuback(packetId: number): void;
  /** SUBACK (section 3.9): one return code per topic filter (0, 1, 2 or 0x80); a view, as payload. */
  onSuback(packetId: number, returnCodes: Uint8Array): void;
  /** PINGRESP (section 3.13). */
  onPingresp(): void;
  /** The first violation; after it, all input is ignored. */
  onError(error: WebSocketError): void;
}

/** Parser states: what the next byte is. */
const State = Object.freeze({
  /** The first byte of a packet: type and flags. */
  TYPE: 0,
  /** A byte of the Remaining Length. */
  LENGTH: 1,
  /** Body bytes. */
  BODY: 2,
  /** An error was reported, or stop() was called: input is ignored. */
  STOPPED: 3,
} as const);
type StateValue = (typeof State)[keyof typeof State];

/** The Remaining Length is at most four bytes (section 2.2.3). */
const MAX_LENGTH_BYTES = 4;

export class PacketParser {
  private readonly events: ParserEvents;
  private readonly maxPacketBytes: number;
  private state: StateValue = State.TYPE;
  /** The broker's CONNACK has arrived: every other packet must wait for it (section 3.2). */
  private connacked = false;

  // The packet being parsed.
  private type = 0;
  private flags = 0;
  private length = 0;
  private lengthBytes = 0;
  private multiplier = 1;
  /** A body split across chunks: its bytes so far (the first `received`). */
  private body: Uint8Array | undefined;
  private received = 0;

  /** `maxPacketBytes`: the largest Remaining Length accepted (a packet's bytes after its fixed header). */
  constructor(events: ParserEvents, maxPacketBytes: number) {
    this.events = events;
    this.maxPacketBytes = checkInteger("maxPacketBytes", maxPacketBytes, 2, MAX_REMAINING_LENGTH, "bytes");
  }

  /** True once an error was reported or stop() was called. */
  get stopped(): boolean {
    return this.state === State.STOPPED;
  }

  /** Ignores all further input (the connection is closing) and releases a partial packet. */
  stop(): void {
    this.state = State.STOPPED;
    this.body = undefined;
  }

  /**
   * Feeds bytes from the broker. Events are emitted as packets complete; a handler may call
   * stop(). A handler that throws propagates out of push(): the caller fails the connection.
   */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length && this.state !== State.STOPPED) {
      if (this.state === State.TYPE) {
        this.readType(chunk[at++]!);
      } else if (this.state === State.LENGTH) {
        this.readLength(chunk[at++]!);
      } else {
        at = this.readBody(chunk, at);
      }
    }
  }

  private readType(byte: number): void {
    const type = byte >> 4;
    const flags = byte & 0x0f;
    const name = PACKET_NAMES[type]!;
    switch (type) {
      case PacketType.CONNACK:
      case PacketType.PUBACK:
      case PacketType.SUBACK:
      case PacketType.PINGRESP:
        // Section 2.2.2: these packets' flags are 0000; anything else closes the connection.
        if (flags !== 0) return this.malformed(`${name} with flags ${bits(flags)} (section 2.2.2 says 0000)`);
        break;
      case PacketType.PUBLISH: {
        const qos = (flags >> 1) & 3;
        if (qos === 3) return this.malformed("PUBLISH with QoS 3 (section 3.3.1.2: both QoS bits set)");
        if (qos === 2) {
          return this.unexpected("a QoS 2 PUBLISH: this client subscribes at QoS 1 at most, so the broker may not send QoS 2 (section 3.8.4)");
        }
        if (qos === 0 && (flags & 0x08) !== 0) return this.malformed("a QoS 0 PUBLISH with DUP set (section 3.3.1.1)");
        break;
      }
      case PacketType.PUBREC:
      case PacketType.PUBREL:
      case PacketType.PUBCOMP:
        return this.unexpected(`${name}: it belongs to QoS 2, which this client never uses`);
      case PacketType.UNSUBACK:
        return this.unexpected("UNSUBACK: this client never unsubscribes");
      case PacketType.CONNECT:
      case PacketType.SUBSCRIBE:
      case PacketType.UNSUBSCRIBE:
      case PacketType.PINGREQ:
      case PacketType.DISCONNECT:
        return this.unexpected(`${name}: a broker never sends it to a client (MQTT 3.1.1 section 3)`);
      default:
        return this.malformed(`packet type ${type} is reserved (section 2.2.1)`);
    }
    if (!this.connacked && type !== PacketType.CONNACK) {
      return this.unexpected(`${name} before CONNACK (the broker's first packet is CONNACK, section 3.2)`);
    }
    if (this.connacked && type === PacketType.CONNACK) return this.unexpected("a second CONNACK");
    this.type = type;
    this.flags = flags;
    this.length = 0;
    this.lengthBytes = 0;
    this.multiplier = 1;
    this.state = State.LENGTH;
  }

  private readLength(byte: number): void {
    this.lengthBytes++;
    this.length += (byte & 0x7f) * this.multiplier;
    this.multiplier *= 128;
    if ((byte & 0x80) !== 0) {
      if (this.lengthBytes === MAX_LENGTH_BYTES) return this.malformed("a Remaining Length of more than four bytes (section 2.2.3)");
      return;
    }
    // A last byte of 0 after others: the value fits in fewer bytes (MQTT 5 makes this an
    // error, [MQTT-1.5.5-1]; no 3.1.1 broker sends it).
    if (byte === 0 && this.lengthBytes > 1) return this.malformed("a Remaining Length not minimally encoded");
    const length = this.length;
    const name = PACKET_NAMES[this.type]!;
    if (length > this.maxPacketBytes) {
      this.fail(mqttError(ErrorCode.MQTT_PACKET_TOO_BIG, `${name} of ${length} bytes exceeds maxPacketBytes (${this.maxPacketBytes} bytes)`));
      return;
    }
    switch (this.type) {
      case PacketType.CONNACK:
      case PacketType.PUBACK:
        if (length !== 2) return this.malformed(`${name} with a Remaining Length of ${length} (it is 2)`);
        break;
      case PacketType.PINGRESP:
        if (length !== 0) return this.malformed(`PINGRESP with a Remaining Length of ${length} (it is 0)`);
        break;
      case PacketType.SUBACK:
        if (length < 3) return this.malformed(`SUBACK with a Remaining Length of ${length} (at least 3)`);
        break;
      default: {
        // PUBLISH: a topic of at least one byte, and a packet identifier at QoS 1.
        const least = this.qos() === 1 ? 5 : 3;
        if (length < least) return this.malformed(`PUBLISH with a Remaining Length of ${length} (at least ${least})`);
      }
    }
    if (length === 0) {
      this.state = State.TYPE;
      this.packet(EMPTY);
      return;
    }
    this.state = State.BODY;
    this.received = 0;
    this.body = undefined;
  }

  /** Consumes body bytes from `at`; returns where the next unread byte is. */
  private readBody(chunk: Uint8Array, at: number): number {
    const length = this.length;
    if (this.body === undefined && chunk.length - at >= length) {
      // The whole body is here: parsed in place, never copied.
      const end = at + length;
      this.state = State.TYPE;
      this.packet(chunk.subarray(at, end));
      return end;
    }
    if (this.body === undefined) this.body = new Uint8Array(length);
    const take = Math.min(length - this.received, chunk.length - at);
    this.body.set(chunk.subarray(at, at + take), this.received);
    this.received += take;
    if (this.received === length) {
      const body = this.body;
      this.body = undefined;
      this.state = State.TYPE;
      this.packet(body);
    }
    return at + take;
  }

  /** A complete packet's body: checks its fields and emits it. */
  private packet(body: Uint8Array): void {
    switch (this.type) {
      case PacketType.CONNACK:
        return this.connack(body);
      case PacketType.PUBLISH:
        return this.publish(body);
      case PacketType.PUBACK: {
        const id = u16(body, 0);
        if (id === 0) return this.malformed("PUBACK for packet identifier 0 (section 2.3.1)");
        return this.events.onPuback(id);
      }
      case PacketType.SUBACK:
        return this.suback(body);
      default:
        return this.events.onPingresp();
    }
  }

  private connack(body: Uint8Array): void {
    const acknowledge = body[0]!;
    const code = body[1]!;
    if ((acknowledge & 0xfe) !== 0) return this.malformed(`CONNACK with reserved bits set (${bits(acknowledge, 8)}, section 3.2.2.1)`);
    if (code >= CONNACK_MEANINGS.length) return this.malformed(`CONNACK return code ${code} (only 0 to 5 are defined, section 3.2.2.3)`);
    const sessionPresent = (acknowledge & 1) === 1;
    if (code !== 0 && sessionPresent) return this.malformed(`CONNACK refusing (code ${code}) with session present set (section 3.2.2.2)`);
    this.connacked = true;
    this.events.onConnack(sessionPresent, code);
  }

  private publish(body: Uint8Array): void {
    const qos = this.qos();
    const topicLength = u16(body, 0);
    const headerLength = 2 + topicLength + (qos === 1 ? 2 : 0);
    if (topicLength === 0) return this.malformed("PUBLISH with an empty topic name (section 4.7.3)");
    if (headerLength > body.length) {
      return this.malformed(`PUBLISH whose topic name (${topicLength} bytes) runs past its Remaining Length (${body.length})`);
    }
    const topicBytes = body.subarray(2, 2 + topicLength);
    for (let i = 0; i < topicBytes.length; i++) {
      const byte = topicBytes[i];
      if (byte === 0) return this.malformed("PUBLISH whose topic name holds U+0000 (section 1.5.3)");
      if (byte === 0x2b || byte === 0x23) return this.malformed("PUBLISH whose topic name holds a wildcard (section 3.3.2.1)");
    }
    if (!isValidUtf8(topicBytes)) return this.malformed("PUBLISH whose topic name is not UTF-8 (section 1.5.3)");
    let packetId = 0;
    if (qos === 1) {
      packetId = u16(body, 2 + topicLength);
      if (packetId === 0) return this.malformed("a QoS 1 PUBLISH with packet identifier 0 (section 2.3.1)");
    }
    const flags = this.flags;
    this.events.onPublish(decodeUtf8(topicBytes), body.subarray(headerLength), qos, packetId, (flags & 0x08) !== 0, (flags & 0x01) !== 0);
  }

  private suback(body: Uint8Array): void {
    const id = u16(body, 0);
    if (id === 0) return this.malformed("SUBACK for packet identifier 0 (section 2.3.1)");
    const codes = body.subarray(2);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i]!;
      if (code > 2 && code !== SUBACK_FAILURE) return this.malformed(`SUBACK return code 0x${code.toString(16)} (0, 1, 2 or 0x80, section 3.9.3)`);
    }
    this.events.onSuback(id, codes);
  }

  private qos(): 0 | 1 {
    return (this.flags & 0x02) !== 0 ? 1 : 0;
  }

  private malformed(message: string): void {
    this.fail(mqttError(ErrorCode.MQTT_MALFORMED, `malformed packet from the broker: ${message}`));
  }

  private unexpected(message: string): void {
    this.fail(mqttError(ErrorCode.MQTT_UNEXPECTED, `unexpected packet from the broker: ${message}`));
  }

  private fail(error: WebSocketError): void {
    this.stop();
    this.events.onError(error);
  }
}

const EMPTY = new Uint8Array(0);

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/** `value` as binary digits, `width` wide ("0010"). */
function bits(value: number, width = 4): string {
  let text = value.toString(2);
  while (text.length < width) text = `0${text}`;
  return text;
}
