/**
 * src/mqtt/encoder.ts: the packets a client sends, byte for byte, read back by the test's
 * own decoder (tests/support/mqtt-packets.ts), and the arguments it refuses.
 */
import assert from "node:assert/strict";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import {
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  remainingLengthBytes,
} from "../../src/mqtt/encoder.js";
import { decodeClientPackets, remainingLength } from "../support/mqtt-packets.js";

const invalidArgument = (pattern: RegExp) => (error: unknown) =>
  error instanceof WebSocketError && error.code === ErrorCode.INVALID_ARGUMENT && pattern.test(error.message);

describe("the MQTT encoder (client to broker)", () => {
  it("writes CONNECT with protocol MQTT level 4, the flags, keep alive, client id, will, user name and password", () => {
    const bytes = encodeConnect({
      clientId: "sim-1",
      cleanSession: false,
      keepAliveSeconds: 30,
      username: "sim-1",
      password: "s3cret",
      will: { topic: "moorline/sim-1/status", message: '{"online":false}', qos: 1, retain: true },
    });
    // Section 3.1.2.3: user name 1, password 1, will retain 1, will QoS 01, will 1, clean session 0.
    assert.equal(bytes[9], 0b1110_1100);
    assert.deepEqual(decodeClientPackets(bytes), [
      {
        type: "CONNECT",
        protocol: "MQTT",
        level: 4,
        clientId: "sim-1",
        cleanSession: false,
        keepAlive: 30,
        username: "sim-1",
        password: "s3cret",
        will: { topic: "moorline/sim-1/status", message: '{"online":false}', qos: 1, retain: true },
      },
    ]);
  });

  it("writes a bare CONNECT (clean session, no will, no credentials) as the standard's 10-byte header and a client id", () => {
    assert.deepEqual(
      [...encodeConnect({ clientId: "a", cleanSession: true, keepAliveSeconds: 0 })],
      [0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, 0, 1, 0x61],
    );
  });

  it("writes PUBLISH at QoS 0 and 1, with DUP and RETAIN, a text payload as UTF-8", () => {
    assert.deepEqual([...encodePublish({ topic: "t", payload: "hé", qos: 0, retain: false, dup: false, packetId: 0 })], [0x30, 6, 0, 1, 0x74, 0x68, 0xc3, 0xa9]);
    const [packet] = decodeClientPackets(encodePublish({ topic: "a/b", payload: Uint8Array.of(0, 255), qos: 1, retain: true, dup: true, packetId: 513 }));
    assert.deepEqual(packet, { type: "PUBLISH", topic: "a/b", payload: Buffer.from([0, 255]), qos: 1, dup: true, retain: true, packetId: 513 });
  });

  it("writes the Remaining Length in 1 to 4 bytes at each boundary (section 2.2.3)", () => {
    for (const [length, size] of [[127, 1], [128, 2], [16_383, 2], [16_384, 3], [2_097_151, 3], [2_097_152, 4]] as const) {
      assert.equal(remainingLengthBytes(length), size, `${length}`);
    }
    for (const length of [127, 128, 16_383, 16_384, 70_000]) {
      const bytes = encodePublish({ topic: "t", payload: "x".repeat(length - 3), qos: 0, retain: false, dup: false, packetId: 0 });
      assert.deepEqual([...bytes.subarray(1, 1 + remainingLength(length).length)], remainingLength(length));
      assert.equal(bytes.length, 1 + remainingLength(length).length + length);
    }
  });

  it("writes PUBACK, SUBSCRIBE (flags 0010), PINGREQ and DISCONNECT", () => {
    assert.deepEqual([...encodePuback(0x0102)], [0x40, 2, 1, 2]);
    assert.deepEqual(decodeClientPackets(encodeSubscribe(65535, "moorline/x/req", 1)), [
      { type: "SUBSCRIBE", packetId: 65535, filters: [{ filter: "moorline/x/req", qos: 1 }] },
    ]);
    assert.deepEqual([...encodePingreq()], [0xc0, 0]);
    assert.deepEqual([...encodeDisconnect()], [0xe0, 0]);
  });

  it("refuses what the standard forbids: packet identifier 0 or 65536, QoS 2, DUP at QoS 0, a 65,536-byte topic, a password without a user name", () => {
    const base = { topic: "t", payload: "", retain: false, dup: false };
    assert.throws(() => encodePublish({ ...base, qos: 1, packetId: 0 }), invalidArgument(/packet identifier/));
    assert.throws(() => encodePuback(65_536), invalidArgument(/packet identifier/));
    assert.throws(() => encodePublish({ ...base, qos: 2 as 1, packetId: 1 }), invalidArgument(/QoS 0 or 1/));
    assert.throws(() => encodePublish({ ...base, qos: 0, dup: true, packetId: 0 }), invalidArgument(/DUP/));
    assert.throws(() => encodePublish({ ...base, topic: "t".repeat(65_536), qos: 0, packetId: 0 }), invalidArgument(/at most 65535/));
    assert.throws(() => encodeConnect({ clientId: "a", cleanSession: true, keepAliveSeconds: 0, password: "p" }), invalidArgument(/user name/));
    assert.throws(() => encodeConnect({ clientId: "a", cleanSession: true, keepAliveSeconds: 65_536 }), invalidArgument(/keep alive/));
  });
});
