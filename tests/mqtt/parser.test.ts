/**
 * src/mqtt/parser.ts, the client's MQTT 3.1.1 packet parser, as a specification.
 *
 * Every packet sequence is fed whole, split in two at every byte boundary, and one byte at a
 * time, and must give the same events each way. Errors are checked for their code and the
 * WebSocket close code they carry, and for the byte at which they are reported: as early as
 * the rule can be known, never after keeping body bytes that are already doomed. The
 * broker's packets are assembled by tests/support/mqtt-packets.ts, not by src/mqtt.
 */
import assert from "node:assert/strict";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { PacketParser, type ParserEvents } from "../../src/mqtt/parser.js";
import { CloseCode } from "../../src/websocket/constants.js";
import { connack, joined, packet, pingresp, puback, publish, remainingLength, suback } from "../support/mqtt-packets.js";

type Event =
  | ["connack", boolean, number]
  | ["publish", string, string, number, number, boolean, boolean]
  | ["puback", number]
  | ["suback", number, number[]]
  | ["pingresp"]
  | ["error", string, number | undefined];

const ROOMY = 1 << 20;

function recordingParser(maxPacketBytes = ROOMY): { parser: PacketParser; events: Event[] } {
  const events: Event[] = [];
  const handlers: ParserEvents = {
    onConnack: (sessionPresent, code) => events.push(["connack", sessionPresent, code]),
    onPublish: (topic, payload, qos, id, dup, retain) =>
      events.push(["publish", topic, Buffer.from(payload).toString("latin1"), qos, id, dup, retain]),
    onPuback: (id) => events.push(["puback", id]),
    onSuback: (id, codes) => events.push(["suback", id, [...codes]]),
    onPingresp: () => events.push(["pingresp"]),
    onError: (error) => {
      assert.ok(error instanceof WebSocketError);
      events.push(["error", error.code, error.closeCode]);
    },
  };
  return { parser: new PacketParser(handlers, maxPacketBytes), events };
}

function* chunkings(bytes: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ["whole", [bytes]];
  for (let cut = 1; cut < bytes.length; cut++) yield [`split at ${cut}`, [bytes.subarray(0, cut), bytes.subarray(cut)]];
  if (bytes.length > 1) yield ["one byte at a time", [...bytes].map((_, i) => bytes.subarray(i, i + 1))];
}

/** The bytes give `expected` in every chunking; after an error, more input is ignored. */
function expectEvents(bytes: Uint8Array, expected: Event[], maxPacketBytes = ROOMY): void {
  const stops = expected.at(-1)?.[0] === "error";
  for (const [how, chunks] of chunkings(bytes)) {
    const { parser, events } = recordingParser(maxPacketBytes);
    for (const chunk of chunks) parser.push(chunk);
    assert.deepEqual(events, expected, how);
    assert.equal(parser.stopped, stops, `${how}: stopped`);
    if (stops) {
      parser.push(pingresp());
      assert.deepEqual(events, expected, `${how}: input after the error is ignored`);
    }
  }
}

/** The index of the byte whose push (one at a time) reported the error. */
function errorAt(bytes: Uint8Array, maxPacketBytes = ROOMY): number {
  const { parser, events } = recordingParser(maxPacketBytes);
  for (let i = 0; i < bytes.length; i++) {
    parser.push(bytes.subarray(i, i + 1));
    if (events.some((event) => event[0] === "error")) return i;
  }
  return -1;
}

const MALFORMED: Event = ["error", ErrorCode.MQTT_MALFORMED, CloseCode.PROTOCOL_ERROR];
const UNEXPECTED: Event = ["error", ErrorCode.MQTT_UNEXPECTED, CloseCode.PROTOCOL_ERROR];
const TOO_BIG: Event = ["error", ErrorCode.MQTT_PACKET_TOO_BIG, CloseCode.MESSAGE_TOO_BIG];
const ACCEPTED = connack(0);
const OK: Event = ["connack", false, 0];

/** After the broker's CONNACK, `bytes` fail with `error` at byte `atByte` of theirs. */
function expectError(bytes: Uint8Array, error: Event, atByte: number, before: Event[] = [], maxPacketBytes = ROOMY): void {
  expectEvents(joined(ACCEPTED, bytes), [OK, ...before, error], maxPacketBytes);
  assert.equal(errorAt(joined(ACCEPTED, bytes), maxPacketBytes), ACCEPTED.length + atByte, `the error comes with byte ${atByte}`);
}

describe("PacketParser (MQTT 3.1.1, broker to client)", () => {
  describe("CONNACK (section 3.2)", () => {
    it("reports an accepted session, with and without a session present", () => {
      expectEvents(connack(0), [["connack", false, 0]]);
      expectEvents(connack(0, true), [["connack", true, 0]]);
    });

    it("reports every refusal code, 1 to 5", () => {
      for (let code = 1; code <= 5; code++) expectEvents(connack(code), [["connack", false, code]]);
    });

    it("refuses a code beyond 5, reserved acknowledge bits, and a refusal with session present", () => {
      expectEvents(connack(6), [MALFORMED]);
      expectEvents(packet(0x20, [0x02, 0]), [MALFORMED]);
      expectEvents(connack(5, true), [MALFORMED]);
    });

    it("refuses a CONNACK whose Remaining Length is not 2, before reading its body", () => {
      expectEvents(packet(0x20, [0, 0, 0]), [MALFORMED]);
      assert.equal(errorAt(packet(0x20, [0, 0, 0])), 1);
      expectEvents(packet(0x20, [0]), [MALFORMED]);
    });

    it("must come first, and only once", () => {
      expectEvents(pingresp(), [UNEXPECTED]);
      expectEvents(publish({ topic: "a/b", payload: "x" }), [UNEXPECTED]);
      assert.equal(errorAt(puback(1)), 0, "known at the first byte");
      expectError(connack(0), UNEXPECTED, 0);
    });
  });

  describe("PUBLISH (section 3.3)", () => {
    it("delivers QoS 0 and QoS 1 messages with their topic, payload, identifier and flags", () => {
      expectEvents(joined(ACCEPTED, publish({ topic: "moorline/d/req", payload: '{"type":"ping","id":1}' })), [
        OK,
        ["publish", "moorline/d/req", '{"type":"ping","id":1}', 0, 0, false, false],
      ]);
      expectEvents(joined(ACCEPTED, publish({ topic: "t", payload: "p", qos: 1, packetId: 0x1234, dup: true, retain: true })), [
        OK,
        ["publish", "t", "p", 1, 0x1234, true, true],
      ]);
    });

    it("delivers an empty payload, a UTF-8 topic, and a payload past the one-byte Remaining Length", () => {
      const long = "x".repeat(300);
      expectEvents(joined(ACCEPTED, publish({ topic: "é/ü", qos: 1, packetId: 9 }), publish({ topic: "t", payload: long })), [
        OK,
        ["publish", "é/ü", "", 1, 9, false, false],
        ["publish", "t", long, 0, 0, false, false],
      ]);
    });

    it("refuses QoS 3 and a QoS 0 message with DUP (malformed) and QoS 2 (never subscribed for) at the first byte", () => {
      expectError(packet(0x36, [0, 1, 0x74, 0, 1]), MALFORMED, 0);
      expectError(packet(0x38, [0, 1, 0x74]), MALFORMED, 0);
      expectError(publish({ topic: "t", qos: 2, packetId: 1 }), UNEXPECTED, 0);
    });

    it("refuses an empty topic, a topic running past the packet, U+0000, wildcards and bad UTF-8", () => {
      expectError(packet(0x30, [0, 0, 0x78]), MALFORMED, 4);
      expectError(packet(0x30, [0, 9, 0x74, 0x78]), MALFORMED, 5);
      expectError(packet(0x30, [0, 2, 0x74, 0x00]), MALFORMED, 5);
      expectError(publish({ topic: "a/+" }), MALFORMED, 6);
      expectError(publish({ topic: "a/#" }), MALFORMED, 6);
      expectError(packet(0x30, [0, 2, 0xc3, 0x28]), MALFORMED, 5);
    });

    it("refuses a QoS 1 message with packet identifier 0, and one too short to hold its identifier", () => {
      expectError(publish({ topic: "t", qos: 1, packetId: 0 }), MALFORMED, 6);
      expectError(packet(0x32, [0, 1, 0x74]), MALFORMED, 1);
    });
  });

  describe("PUBACK, SUBACK, PINGRESP (sections 3.4, 3.9, 3.13)", () => {
    it("reports them, several packets in one chunk", () => {
      expectEvents(joined(ACCEPTED, puback(7), suback(0xffff, 1), suback(2, 0, 0x80), pingresp()), [
        OK,
        ["puback", 7],
        ["suback", 0xffff, [1]],
        ["suback", 2, [0, 0x80]],
        ["pingresp"],
      ]);
    });

    it("refuses identifier 0, wrong lengths and SUBACK codes other than 0, 1, 2 and 0x80", () => {
      expectError(puback(0), MALFORMED, 3);
      expectError(packet(0x40, [0, 1, 0]), MALFORMED, 1);
      expectError(suback(0, 1), MALFORMED, 4);
      expectError(packet(0x90, [0, 1]), MALFORMED, 1);
      expectError(suback(1, 3), MALFORMED, 4);
      expectError(packet(0xd0, [0]), MALFORMED, 1);
    });

    it("refuses flags other than 0000 (section 2.2.2) at the first byte", () => {
      for (const first of [0x21, 0x42, 0x98, 0xd1]) expectError(Uint8Array.of(first, 2, 0, 1), MALFORMED, 0);
      expectEvents(Uint8Array.of(0x28, 2, 0, 0), [MALFORMED]);
    });
  });

  describe("packets a broker never sends a client", () => {
    it("refuses CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, the QoS 2 packets and UNSUBACK at the first byte", () => {
      for (const first of [0x10, 0x82, 0xa2, 0xc0, 0xe0, 0x50, 0x62, 0x70, 0xb0]) expectError(Uint8Array.of(first, 0), UNEXPECTED, 0);
    });

    it("refuses the reserved types 0 and 15", () => {
      expectError(Uint8Array.of(0x00, 0), MALFORMED, 0);
      expectError(Uint8Array.of(0xf0, 0), MALFORMED, 0);
    });
  });

  describe("the Remaining Length (section 2.2.3)", () => {
    it("reads the encodings at each size boundary", () => {
      for (const size of [127, 128, 16_383, 16_384]) {
        const body = publish({ topic: "t", payload: "y".repeat(size - 3) });
        assert.deepEqual([...body.subarray(1, 1 + remainingLength(size).length)], remainingLength(size));
        const { parser, events } = recordingParser();
        parser.push(joined(ACCEPTED, body));
        assert.equal(events.length, 2, `size ${size}`);
      }
    });

    it("refuses a fifth length byte, and an encoding that is not minimal", () => {
      expectError(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), MALFORMED, 4);
      expectError(Uint8Array.of(0x30, 0x83, 0x00, 0, 1, 0x74), MALFORMED, 2);
    });

    it("refuses a packet over maxPacketBytes as soon as its length is read, keeping none of it", () => {
      const big = publish({ topic: "t", payload: "z".repeat(1000) });
      expectError(big, TOO_BIG, 2, [], 999);
      expectEvents(joined(ACCEPTED, publish({ topic: "t", payload: "z".repeat(996) })), [OK, ["publish", "t", "z".repeat(996), 0, 0, false, false]], 999);
    });
  });

  describe("its life", () => {
    it("ignores everything after stop()", () => {
      const { parser, events } = recordingParser();
      parser.push(ACCEPTED);
      parser.stop();
      parser.push(puback(1));
      assert.deepEqual(events, [OK]);
    });

    it("checks maxPacketBytes at construction", () => {
      assert.throws(() => recordingParser(1), (e: WebSocketError) => e.code === ErrorCode.INVALID_OPTION && /maxPacketBytes/.test(e.message));
    });

    it("lets a handler stop it between two packets of one chunk", () => {
      const events: string[] = [];
      const parser: PacketParser = new PacketParser(
        {
          onConnack: () => events.push("connack"),
          onPublish: () => {},
          onPuback: (id) => {
            events.push(`puback ${id}`);
            parser.stop();
          },
          onSuback: () => {},
          onPingresp: () => events.push("pingresp"),
          onError: () => events.push("error"),
        },
        ROOMY,
      );
      parser.push(joined(ACCEPTED, puback(3), pingresp()));
      assert.deepEqual(events, ["connack", "puback 3"]);
    });
  });
});
