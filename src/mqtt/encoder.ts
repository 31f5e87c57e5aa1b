/**
 * Encodes the MQTT 3.1.1 packets a client sends: CONNECT, PUBLISH, PUBACK, SUBSCRIBE,
 * PINGREQ and DISCONNECT (section 3). Each packet is one exactly-sized Uint8Array: its
 * fixed header, then its fields, written in place (strings as UTF-8 straight into it), so a
 * publish costs one allocation besides its text.
 *
 * The encoder checks what the standard bounds (string fields of at most 65,535 bytes, a
 * Remaining Length of at most 268,435,455, packet identifiers 1..65535, QoS 0 or 1) and
 * throws ERR_INVALID_ARGUMENT otherwise: those are the caller's mistakes, never the peer's.
 */
import { invalidArgument } from "../shared/errors.js";
import { encodeUtf8Into, utf8Length } from "../websocket/utf8.js";
import {
  MAX_KEEP_ALIVE_SECONDS,
  MAX_PACKET_ID,
  MAX_REMAINING_LENGTH,
  MAX_STRING_BYTES,
  PacketType,
  PROTOCOL_LEVEL,
  PROTOCOL_NAME,
} from "./packets.js";

/** The last will (section 3.1.2.5): published by the broker when the client vanishes. */
export interface Will {
  topic: string;
  /** Its payload, as text (sent as UTF-8). */
  message: string;
  qos: 0 | 1;
  retain: boolean;
}

export interface ConnectFields {
  clientId: string;
  /** Start afresh (true) or resume the session the broker keeps for clientId (false). */
  cleanSession: boolean;
  /** Seconds; 0 turns the broker's keep alive check off (section 3.1.2.10). */
  keepAliveSeconds: number;
  username?: string;
  /** Sent only with a username (section 3.1.2.9). */
  password?: string;
  will?: Will;
}

export interface PublishFields {
  topic: string;
  payload: string | Uint8Array;
  qos: 0 | 1;
  retain: boolean;
  /** A resend of a packet sent before (section 3.3.1.1); QoS 1 only. */
  dup: boolean;
  /** 1..65535 for QoS 1; ignored for QoS 0. */
  packetId: number;
}

/** Bytes the variable length encoding of `length` takes (section 2.2.3): 1 to 4. */
export function remainingLengthBytes(length: number): number {
  return length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4;
}

/** A packet of `remaining` bytes after its fixed header, the header written: [buffer, offset]. */
function packet(first: number, remaining: number): [Uint8Array, number] {
  if (remaining > MAX_REMAINING_LENGTH) {
    throw invalidArgument(`an MQTT packet holds at most ${MAX_REMAINING_LENGTH} bytes after its header, this one ${remaining}`);
  }
  const bytes = new Uint8Array(1 + remainingLengthBytes(remaining) + remaining);
  bytes[0] = first;
  let at = 1;
  let rest = remaining;
  do {
    let digit = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) digit |= 0x80;
    bytes[at++] = digit;
  } while (rest > 0);
  return [bytes, at];
}

/** UTF-8 bytes of a string field, checked against the two-byte prefix (section 1.5.3). */
function fieldLength(name: string, text: string): number {
  const length = utf8Length(text);
  if (length > MAX_STRING_BYTES) throw invalidArgument(`${name} is ${length} UTF-8 bytes; MQTT allows at most ${MAX_STRING_BYTES}`);
  return length;
}

function writeU16(bytes: Uint8Array, at: number, value: number): number {
  bytes[at] = value >> 8;
  bytes[at + 1] = value & 0xff;
  return at + 2;
}

/** A length-prefixed string whose UTF-8 length the caller measured. */
function writeString(bytes: Uint8Array, at: number, text: string, length: number): number {
  const start = writeU16(bytes, at, length);
  return encodeUtf8Into(text, bytes, start);
}

function checkPacketId(packetId: number): void {
  if (!Number.isInteger(packetId) || packetId < 1 || packetId > MAX_PACKET_ID) {
    throw invalidArgument(`a packet identifier is an integer from 1 to ${MAX_PACKET_ID}, got ${String(packetId)}`);
  }
}

/** CONNECT (section 3.1). */
export function encodeConnect(fields: ConnectFields): Uint8Array {
  const keepAlive = fields.keepAliveSeconds;
  if (!Number.isInteger(keepAlive) || keepAlive < 0 || keepAlive > MAX_KEEP_ALIVE_SECONDS) {
    throw invalidArgument(`keep alive is an integer from 0 to ${MAX_KEEP_ALIVE_SECONDS} seconds, got ${String(keepAlive)}`);
  }
  if (fields.password !== undefined && fields.username === undefined) {
    throw invalidArgument("MQTT 3.1.1 sends a password only with a user name (section 3.1.2.9)");
  }
  const clientId = fieldLength("the client identifier", fields.clientId);
  const will = fields.will;
  const willTopic = will ? fieldLength("the will topic", will.topic) : 0;
  const willMessage = will ? fieldLength("the will message", will.message) : 0;
  const username = fields.username !== undefined ? fieldLength("the user name", fields.username) : 0;
  const password = fields.password !== undefined ? fieldLength("the password", fields.password) : 0;
  // Variable header: protocol name (2 + 4), level, flags, keep alive (section 3.1.2).
  let remaining = 10 + 2 + clientId;
  if (will) remaining += 2 + willTopic + 2 + willMessage;
  if (fields.username !== undefined) remaining += 2 + username;
  if (fields.password !== undefined) remaining += 2 + password;
  const [bytes, start] = packet(PacketType.CONNECT << 4, remaining);
  let at = writeString(bytes, start, PROTOCOL_NAME, PROTOCOL_NAME.length);
  bytes[at++] = PROTOCOL_LEVEL;
  let flags = fields.cleanSession ? 0x02 : 0;
  if (will) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (fields.password !== undefined) flags |= 0x40;
  if (fields.username !== undefined) flags |= 0x80;
  bytes[at++] = flags;
  at = writeU16(bytes, at, keepAlive);
  at = writeString(bytes, at, fields.clientId, clientId);
  if (will) {
    at = writeString(bytes, at, will.topic, willTopic);
    at = writeString(bytes, at, will.message, willMessage);
  }
  if (fields.username !== undefined) at = writeString(bytes, at, fields.username, username);
  if (fields.password !== undefined) writeString(bytes, at, fields.password, password);
  return bytes;
}

/** PUBLISH (section 3.3). A text payload is written as UTF-8. */
export function encodePublish(fields: PublishFields): Uint8Array {
  const { qos, payload } = fields;
  if (qos !== 0 && qos !== 1) throw invalidArgument(`this client publishes at QoS 0 or 1, got ${String(qos)}`);
  if (qos === 1) checkPacketId(fields.packetId);
  if (fields.dup && qos === 0) throw invalidArgument("DUP is never set on a QoS 0 PUBLISH (section 3.3.1.1)");
  const topic = fieldLength("the topic name", fields.topic);
  const payloadBytes = typeof payload === "string" ? utf8Length(payload) : payload.length;
  const remaining = 2 + topic + (qos === 1 ? 2 : 0) + payloadBytes;
  const first = (PacketType.PUBLISH << 4) | (fields.dup ? 0x08 : 0) | (qos << 1) | (fields.retain ? 0x01 : 0);
  const [bytes, start] = packet(first, remaining);
  let at = writeString(bytes, start, fields.topic, topic);
  if (qos === 1) at = writeU16(bytes, at, fields.packetId);
  if (typeof payload === "string") encodeUtf8Into(payload, bytes, at);
  else bytes.set(payload, at);
  return bytes;
}

/** PUBACK (section 3.4): the answer to a QoS 1 PUBLISH from the broker. */
export function encodePuback(packetId: number): Uint8Array {
  checkPacketId(packetId);
  const [bytes, at] = packet(PacketType.PUBACK << 4, 2);
  writeU16(bytes, at, packetId);
  return bytes;
}

/** SUBSCRIBE (section 3.8) to one topic filter at `qos`. Its fixed header flags are 0010. */
export function encodeSubscribe(packetId: number, filter: string, qos: 0 | 1): Uint8Array {
  checkPacketId(packetId);
  const length = fieldLength("the topic filter", filter);
  const [bytes, start] = packet((PacketType.SUBSCRIBE << 4) | 0x02, 2 + 2 + length + 1);
  let at = writeU16(bytes, start, packetId);
  at = writeString(bytes, at, filter, length);
  bytes[at] = qos;
  return bytes;
}

/** PINGREQ (section 3.12) and DISCONNECT (section 3.14): two fixed bytes each. */
export function encodePingreq(): Uint8Array {
  return Uint8Array.of(PacketType.PINGREQ << 4, 0);
}

export function encodeDisconnect(): Uint8Array {
  return Uint8Array.of(PacketType.DISCONNECT << 4, 0);
}
