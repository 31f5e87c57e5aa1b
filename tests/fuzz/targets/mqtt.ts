/**
 * Fuzz target: the MQTT 3.1.1 packet parser (src/mqtt/parser.ts) against a reference reading
 * of the broker-to-client rules of the standard (below, whole-input, written from sections
 * 2 and 3), and the encoder (src/mqtt/encoder.ts) as the way back. Each input is a broker's
 * byte stream; fed whole, cut at hash-chosen places and byte by byte, the parser must report
 * exactly the reference's events: the same packets, or the same error code (MALFORMED,
 * UNEXPECTED, PACKET_TOO_BIG) with its close code (1002 or 1009) after the same packets. It
 * never throws anything else, its message has no raw control byte, and what it holds
 * between pushes is never more than one body of at most maxPacketBytes (nothing kept for a
 * packet announced too big). Every PUBLISH and PUBACK it accepts, encoded again by
 * src/mqtt/encoder.ts, gives back its bytes exactly (the encoding is canonical).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodePuback, encodePublish } from "../../../src/mqtt/encoder.js";
import type { PacketParser } from "../../../src/mqtt/parser.js";
import { ErrorCode } from "../../../src/shared/errors.js";
import { CloseCode } from "../../../src/websocket/constants.js";
import { connack, packet, pingresp, remainingLength, suback } from "../../support/mqtt-packets.js";
import { MQTT_FUZZ_MAX_PACKET_BYTES, mqttEvents } from "../../support/xs/fuzz-observe.js";
import { chunkings, toHex, type FuzzTarget } from "../target.js";
import { concat } from "../../support/frames.js";

const MAX = MQTT_FUZZ_MAX_PACKET_BYTES;
const MALFORMED = `error ${ErrorCode.MQTT_MALFORMED} ${CloseCode.PROTOCOL_ERROR}`;
const UNEXPECTED = `error ${ErrorCode.MQTT_UNEXPECTED} ${CloseCode.PROTOCOL_ERROR}`;
const TOO_BIG = `error ${ErrorCode.MQTT_PACKET_TOO_BIG} ${CloseCode.MESSAGE_TOO_BIG}`;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Packet types a broker sends a client (section 3), and those it never does. */
const FROM_BROKER = new Set([2, 3, 4, 9, 13]);
/** Types whose fixed-header flags are 0000 (section 2.2.2 table 2.2). */
const ZERO_FLAGS = new Set([2, 4, 9, 13]);

/**
 * The events the standard asks of a client reading `bytes` (without messages), and the
 * packets it accepted: an incomplete packet at the end gives nothing yet; an error ends it.
 */
function reference(bytes: Uint8Array): { events: string[]; accepted: Array<{ raw: Uint8Array; encode: () => Uint8Array | undefined }> } {
  const events: string[] = [];
  /** Each packet accepted, and how the encoder writes it (undefined: a packet only a broker sends). */
  const accepted: Array<{ raw: Uint8Array; encode: () => Uint8Array | undefined }> = [];
  let connacked = false;
  let i = 0;
  const fail = (error: string) => {
    events.push(error);
    return { events, accepted };
  };
  while (i < bytes.length) {
    const type = bytes[i]! >> 4;
    const flags = bytes[i]! & 0x0f;
    const qos = (flags >> 1) & 3;
    // Section 2.2.1: 0 and 15 reserved; section 2.2.2: fixed flags, PUBLISH's QoS 3 and DUP at QoS 0.
    if (type === 0 || type === 15) return fail(MALFORMED);
    if (ZERO_FLAGS.has(type) && flags !== 0) return fail(MALFORMED);
    if (type === 3 && (qos === 3 || (qos === 0 && (flags & 8) !== 0))) return fail(MALFORMED);
    // What a broker never sends, or this client never asks for (QoS 2, UNSUBACK); CONNACK first, once.
    if (!FROM_BROKER.has(type) || (type === 3 && qos === 2)) return fail(UNEXPECTED);
    if (connacked === (type === 2)) return fail(UNEXPECTED);
    // Section 2.2.3: at most four bytes, minimal (no final 0 after others).
    let length = 0;
    let at = i + 1;
    for (let n = 0; ; n++) {
      if (at >= bytes.length) return { events, accepted };
      const byte = bytes[at++]!;
      length += (byte & 0x7f) * 128 ** n;
      if ((byte & 0x80) !== 0) {
        if (n === 3) return fail(MALFORMED); // a fifth byte announced
        continue;
      }
      if (byte === 0 && n > 0) return fail(MALFORMED);
      break;
    }
    if (length > MAX) return fail(TOO_BIG);
    const least = { 2: 2, 3: qos === 1 ? 5 : 3, 4: 2, 9: 3, 13: 0 }[type as 2 | 3 | 4 | 9 | 13];
    if (length < least || ((type === 2 || type === 4 || type === 13) && length !== least)) return fail(MALFORMED);
    if (at + length > bytes.length) return { events, accepted };
    const body = bytes.subarray(at, at + length);
    const id = length >= 2 ? (body[0]! << 8) | body[1]! : 0;
    let event: string;
    let encode = (): Uint8Array | undefined => undefined;
    if (type === 2) {
      // Section 3.2.2: reserved bits 0, codes 0..5, no session present with a refusal.
      if ((body[0]! & 0xfe) !== 0 || body[1]! > 5 || (body[1]! !== 0 && body[0] === 1)) return fail(MALFORMED);
      event = `connack ${body[0] === 1} ${body[1]}`;
      connacked = true;
    } else if (type === 3) {
      // Section 3.3.2: a topic of UTF-8 without U+0000 or wildcards; a nonzero id at QoS 1.
      const topicEnd = 2 + id;
      const headerEnd = topicEnd + (qos === 1 ? 2 : 0);
      if (id === 0 || headerEnd > length) return fail(MALFORMED);
      const topicBytes = body.subarray(2, topicEnd);
      if (topicBytes.some((b) => b === 0 || b === 0x2b || b === 0x23)) return fail(MALFORMED);
      let topic: string;
      try {
        topic = utf8.decode(topicBytes);
      } catch {
        return fail(MALFORMED);
      }
      const packetId = qos === 1 ? (body[topicEnd]! << 8) | body[topicEnd + 1]! : 0;
      if (qos === 1 && packetId === 0) return fail(MALFORMED);
      const payload = body.subarray(headerEnd);
      const [dup, retain] = [(flags & 8) !== 0, (flags & 1) !== 0];
      event = `publish ${JSON.stringify(topic)} ${toHex(payload)} ${qos} ${packetId} ${dup} ${retain}`;
      encode = () => encodePublish({ topic, payload, qos: qos as 0 | 1, packetId, dup, retain });
    } else if (type === 4) {
      if (id === 0) return fail(MALFORMED);
      event = `puback ${id}`;
      encode = () => encodePuback(id);
    } else if (type === 9) {
      // Section 3.9.3: 0, 1, 2 or 0x80 per filter.
      const codes = body.subarray(2);
      if (id === 0 || codes.some((c) => c > 2 && c !== 0x80)) return fail(MALFORMED);
      event = `suback ${id} ${toHex(codes)}`;
    } else {
      event = "pingresp";
    }
    events.push(event);
    accepted.push({ raw: bytes.subarray(i, at + length), encode });
    i = at + length;
  }
  return { events, accepted };
}

/** The parser's events, fed `chunks`, errors without their message (checked here). */
function parse(chunks: readonly Uint8Array[]): string[] {
  const held = (parser: PacketParser) => {
    const body = (parser as unknown as { body?: Uint8Array }).body;
    assert.ok((body?.length ?? 0) <= MAX, `the parser holds a body of ${body?.length} bytes`);
  };
  return mqttEvents(chunks, held).map((event) => {
    if (!event.startsWith("error ")) return event;
    const [, code, closeCode] = event.split(" ");
    const message = event.slice(`error ${code} ${closeCode} `.length);
    assert.ok(!/[\u0000-\u001f\u007f]/.test(message), `a raw control character in ${JSON.stringify(message)}`);
    assert.match(message, /^(malformed packet from the broker|unexpected packet from the broker|[A-Z]+ of \d+ bytes exceeds maxPacketBytes)/);
    return `error ${code} ${closeCode}`;
  });
}

/** A topic name as publishers write them: levels of text, sometimes wildcards, NUL or none. */
const topic = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 }).map((levels) => levels.join("/")) },
  { weight: 1, arbitrary: fc.constantFrom("", "a/+/b", "#", "a\u0000b", "/", "é/ü", "\uffff") },
);
const payload = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 200, maxLength: 320 }));
const packetId = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.constantFrom(1, 65535) });

/** A PUBLISH from the encoder (a broker's is the same packet), or undefined when the encoder refuses it. */
const publish = fc.record({ topic, payload, qos: fc.constantFrom(0 as const, 1 as const), retain: fc.boolean(), dup: fc.boolean(), packetId }).map((fields) => {
  try {
    return encodePublish({ ...fields, dup: fields.dup && fields.qos === 1 });
  } catch {
    return packet(0x30, [0, 1, 0x61]);
  }
});

/** A fixed header with any first byte and a Remaining Length of any form, then a few bytes. */
const raw = fc
  .tuple(fc.nat(255), fc.oneof(fc.nat(400).map(remainingLength), fc.array(fc.nat(255), { minLength: 1, maxLength: 5 })), fc.uint8Array({ maxLength: 12 }))
  .map(([first, length, rest]) => Uint8Array.from([first, ...length, ...rest]));

const brokerPacket: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: publish },
  { weight: 2, arbitrary: packetId.map(encodePuback) },
  { weight: 2, arbitrary: fc.tuple(packetId, fc.array(fc.constantFrom(0, 1, 2, 0x80, 3), { minLength: 1, maxLength: 4 })).map(([id, codes]) => suback(id, ...codes)) },
  { weight: 1, arbitrary: fc.constant(pingresp()) },
  { weight: 1, arbitrary: fc.tuple(fc.nat(6), fc.boolean()).map(([code, present]) => connack(code, present)) },
  { weight: 1, arbitrary: raw },
);

/** A session from the broker: its CONNACK (mostly an acceptance), then packets. */
const session = fc
  .tuple(fc.oneof({ weight: 8, arbitrary: fc.constant(connack(0)) }, { weight: 1, arbitrary: brokerPacket }), fc.array(brokerPacket, { maxLength: 8 }))
  .map(([first, rest]) => concat(first, ...rest));

export const mqttTarget: FuzzTarget = {
  name: "mqtt",
  about: "src/mqtt/parser.ts against a reference reading of MQTT 3.1.1 sections 2-3, src/mqtt/encoder.ts as the way back, any chunking",
  inputs: session,
  check(bytes) {
    const { events: expected, accepted } = reference(bytes);
    for (const [way, chunks] of chunkings(bytes, 600)) {
      assert.deepEqual(parse(chunks), expected, `fed ${way}`);
    }
    // The way back: the encoder writes each accepted PUBLISH and PUBACK (the parser's, which
    // are the reference's) as it came.
    for (const { raw, encode } of accepted) {
      const again = encode();
      if (again !== undefined) assert.deepEqual(again, raw, `${toHex(raw)} re-encoded`);
    }
  },
};
