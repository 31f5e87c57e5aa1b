/**
 * src/provisioning/improv.ts, the Improv serial codec (https://www.improv-wifi.com/serial/), as
 * a specification. Encoded packets are compared byte for byte with packets written out by hand
 * (checksums computed once, independently of this code). Every byte stream the parser is given
 * is fed whole, split in two at every byte boundary, and one byte at a time, and must give
 * the same events each way.
 */
import assert from "node:assert/strict";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import {
  decodeRpc,
  decodeStrings,
  decodeWifiSettings,
  encodeImprovByte,
  encodeImprovPacket,
  encodeRpcCommand,
  encodeRpcResult,
  encodeWifiSettings,
  ImprovCommand,
  ImprovError,
  ImprovParser,
  ImprovState,
  ImprovType,
  MAX_IMPROV_DATA_BYTES,
} from "../../src/provisioning/improv.js";

/** Bytes from hex pairs ("49 4d ..."), with ASCII between braces ("{IMPROV}"). */
function bytes(spec: string): Uint8Array {
  const out: number[] = [];
  for (const part of spec.match(/\{[^}]*\}|[0-9a-fA-F]{2}/g) ?? []) {
    if (part.startsWith("{")) out.push(...Buffer.from(part.slice(1, -1), "utf8"));
    else out.push(parseInt(part, 16));
  }
  return new Uint8Array(out);
}

function hex(data: Uint8Array): string {
  return Buffer.from(data).toString("hex").replace(/(..)(?!$)/g, "$1 ");
}

type Event = ["packet", number, string] | ["bad", string] | ["other", string];

/** A parser whose events are recorded; consecutive "other" bytes are joined (chunking splits them). */
function recordingParser(): { parser: ImprovParser; events: Event[] } {
  const events: Event[] = [];
  const parser = new ImprovParser({
    onPacket: (type, data) => events.push(["packet", type, hex(data)]),
    onBadPacket: (problem) => events.push(["bad", problem]),
    onOther: (data) => {
      const text = Buffer.from(data).toString("latin1");
      const last = events[events.length - 1];
      if (last?.[0] === "other") last[1] += text;
      else events.push(["other", text]);
    },
  });
  return { parser, events };
}

/** The ways of cutting `data` into chunks: whole, every 2-way split, one byte at a time. */
function* chunkings(data: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ["whole", [data]];
  for (let cut = 1; cut < data.length; cut++) yield [`split at ${cut}`, [data.subarray(0, cut), data.subarray(cut)]];
  const single: Uint8Array[] = [];
  for (let i = 0; i < data.length; i++) single.push(data.subarray(i, i + 1));
  yield ["one byte at a time", single];
}

/** Feeds `data` in every chunking; each must give `expected`. */
function parsesAs(data: Uint8Array, expected: Event[]): void {
  for (const [how, chunks] of chunkings(data)) {
    const { parser, events } = recordingParser();
    // Chunks are copied: the parser must not depend on the caller's buffer after push().
    for (const chunk of chunks) parser.push(chunk.slice());
    assert.deepEqual(events, expected, how);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

const STATE_PROVISIONED = "49 4d 50 52 4f 56 01 01 01 04 e4 0a";
const SPEC_WIFI_SETTINGS = "{IMPROV} 01 03 20 01 1e 0c {MyWirelessAP} 10 {mysecurepassword} c1 0a";

describe("Improv serial codec", function () {
  describe("encoding", function () {
    it("writes the spec's own example (send WiFi settings MyWirelessAP / mysecurepassword), checksum and newline after", function () {
      assert.equal(hex(encodeWifiSettings("MyWirelessAP", "mysecurepassword")), hex(bytes(SPEC_WIFI_SETTINGS)));
    });

    it("writes state and error packets", function () {
      assert.equal(hex(encodeImprovByte(ImprovType.CURRENT_STATE, ImprovState.PROVISIONED)), STATE_PROVISIONED);
      assert.equal(hex(encodeImprovByte(ImprovType.CURRENT_STATE, ImprovState.READY)), "49 4d 50 52 4f 56 01 01 01 02 e2 0a");
      assert.equal(hex(encodeImprovByte(ImprovType.ERROR_STATE, ImprovError.INVALID_RPC)), "49 4d 50 52 4f 56 01 02 01 01 e2 0a");
      assert.equal(hex(encodeImprovByte(ImprovType.ERROR_STATE, ImprovError.NONE)), "49 4d 50 52 4f 56 01 02 01 00 e1 0a");
    });

    it("writes RPC commands with their data length, and RPC results as length-prefixed strings", function () {
      assert.equal(hex(encodeRpcCommand(ImprovCommand.CURRENT_STATE)), "49 4d 50 52 4f 56 01 03 02 02 00 e5 0a");
      assert.equal(
        hex(encodeRpcResult(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", "esp32", "esp32-1"])),
        "49 4d 50 52 4f 56 01 04 1f 03 1d 08 6d 6f 6f 72 6c 69 6e 65 05 30 2e 31 2e 30 05 65 73 70 33 32 07 65 73 70 33 32 2d 31 44 0a",
      );
      assert.equal(
        hex(encodeRpcResult(ImprovCommand.WIFI_NETWORKS, ["moorline-sim", "-58", "YES"])),
        "49 4d 50 52 4f 56 01 04 17 04 15 0c 6d 6f 6f 72 6c 69 6e 65 2d 73 69 6d 03 2d 35 38 03 59 45 53 8a 0a",
      );
      assert.equal(hex(encodeRpcResult(ImprovCommand.WIFI_NETWORKS, [])), "49 4d 50 52 4f 56 01 04 02 04 00 e8 0a");
    });

    it("encodes strings as UTF-8, their length in bytes", function () {
      const packet = encodeWifiSettings("Café", "");
      assert.equal(hex(packet.subarray(9, 9 + 2 + 1 + 5 + 1)), "01 07 05 43 61 66 c3 a9 00");
    });

    it("refuses what does not fit in one packet, with ERR_INVALID_ARGUMENT", function () {
      const refused = (action: () => unknown, pattern: RegExp): void => {
        assert.throws(action, (error: unknown) => {
          assert.ok(error instanceof WebSocketError);
          assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
          assert.match(error.message, pattern);
          return true;
        });
      };
      assert.equal(encodeImprovPacket(ImprovType.RPC_RESULT, new Uint8Array(MAX_IMPROV_DATA_BYTES)).length, 266);
      refused(() => encodeImprovPacket(ImprovType.RPC_RESULT, new Uint8Array(256)), /at most 255 data bytes, got 256/);
      refused(() => encodeRpcCommand(1, new Uint8Array(254)), /at most 253 bytes, got 254/);
      refused(() => encodeRpcResult(1, ["x".repeat(256)]), /at most 255 bytes, got 256/);
      refused(() => encodeRpcResult(1, ["x".repeat(200), "y".repeat(60)]), /take 262 bytes, more than the 253/);
    });
  });

  describe("decoding RPC data", function () {
    it("splits command and payload, the length byte saying exactly what follows", function () {
      assert.deepEqual(decodeRpc(bytes("02 00")), { command: 2, payload: new Uint8Array(0) });
      assert.deepEqual(decodeRpc(bytes("01 02 aa bb")), { command: 1, payload: bytes("aa bb") });
      assert.deepEqual(decodeRpc(bytes("01")), { problem: "an RPC packet needs a command and a length, got 1 bytes" });
      assert.deepEqual(decodeRpc(bytes("01 03 aa bb")), { problem: "the RPC data length says 3 bytes, 2 follow" });
      assert.deepEqual(decodeRpc(bytes("01 01 aa bb")), { problem: "the RPC data length says 1 bytes, 2 follow" });
    });

    it("reads length-prefixed UTF-8 strings, refusing lengths past the end and bytes that are not UTF-8", function () {
      assert.deepEqual(decodeStrings(bytes("02 {ok} 00 03 {abc}")), ["ok", "", "abc"]);
      assert.deepEqual(decodeStrings(new Uint8Array(0)), []);
      assert.deepEqual(decodeStrings(bytes("02 {ok} 05 {abc}")), { problem: "string 2 says 5 bytes, 3 are left" });
      assert.deepEqual(decodeStrings(bytes("02 c3 28")), { problem: "string 1 is not UTF-8" });
    });

    it("reads WiFi settings as exactly two strings", function () {
      assert.deepEqual(decodeWifiSettings(bytes("04 {home} 06 {secret}")), { ssid: "home", password: "secret" });
      assert.deepEqual(decodeWifiSettings(bytes("04 {home} 00")), { ssid: "home", password: "" });
      assert.deepEqual(decodeWifiSettings(bytes("04 {home}")), { problem: "WiFi settings are 2 strings (ssid, password), got 1" });
      assert.deepEqual(decodeWifiSettings(bytes("01 {a} 01 {b} 01 {c}")), { problem: "WiFi settings are 2 strings (ssid, password), got 3" });
    });
  });

  describe("the parser", function () {
    it("finds a packet among log lines, handing every other byte back in order", function () {
      parsesAs(concat(bytes("{boot ok}0a"), bytes(SPEC_WIFI_SETTINGS), new TextEncoder().encode('{"t":1,"event":"x"}\n')), [
        ["other", "boot ok\n"],
        ["packet", ImprovType.RPC_COMMAND, hex(bytes("01 1e 0c {MyWirelessAP} 10 {mysecurepassword}"))],
        // The newline after the checksum is not part of the packet.
        ["other", '\n{"t":1,"event":"x"}\n'],
      ]);
    });

    it("reports a bad checksum and carries on with the next packet", function () {
      const bad = bytes("{IMPROV} 01 03 02 02 00 e6");
      parsesAs(concat(bad, bytes("{x}"), encodeRpcCommand(ImprovCommand.DEVICE_INFO)), [
        ["bad", "checksum"],
        ["other", "x"],
        ["packet", ImprovType.RPC_COMMAND, "03 00"],
        ["other", "\n"],
      ]);
    });

    it("takes text that only looks like a header for text, and resynchronises on the real one", function () {
      // "IMPROVED" (the version byte is "E"), a header cut short ("IMP IMPROV"), a version it
      // does not speak, doubled letters: all text, then the packet.
      const text = bytes("{IMPROVED IMP IIMPRO IMPROV} 02 {!}");
      parsesAs(concat(text, bytes("{IMPROV} 01 01 01 04 e4")), [
        ["other", "IMPROVED IMP IIMPRO IMPROV\u0002!"],
        ["packet", ImprovType.CURRENT_STATE, "04"],
      ]);
    });

    it("starts a header at the byte that broke the previous one", function () {
      parsesAs(bytes("{IMPRIMPROV} 01 01 01 04 e4"), [
        ["other", "IMPR"],
        ["packet", ImprovType.CURRENT_STATE, "04"],
      ]);
      // The byte after "IMPROV" is an "I": the version is wrong, and that "I" starts the packet.
      parsesAs(bytes("{IMPROVIMPROV} 01 01 01 04 e4"), [
        ["other", "IMPROV"],
        ["packet", ImprovType.CURRENT_STATE, "04"],
      ]);
    });

    it("reads a packet's data by its length: a header, a newline or a checksum-like byte inside is data", function () {
      const data = bytes("04 0a {IMPROV} 0a 01");
      parsesAs(encodeImprovPacket(ImprovType.RPC_RESULT, data), [
        ["packet", ImprovType.RPC_RESULT, hex(data)],
        ["other", "\n"],
      ]);
    });

    it("takes packets back to back, empty ones and the largest (255 data bytes)", function () {
      const largest = new Uint8Array(MAX_IMPROV_DATA_BYTES).map((_, i) => i);
      const packets = concat(
        bytes("{IMPROV} 01 03 00 e1"),
        encodeImprovPacket(ImprovType.RPC_RESULT, largest).subarray(0, 265),
        bytes("{IMPROV} 01 01 01 04 e4"),
      );
      const { parser, events } = recordingParser();
      parser.push(packets);
      assert.deepEqual(events, [
        ["packet", ImprovType.RPC_COMMAND, ""],
        ["packet", ImprovType.RPC_RESULT, hex(largest)],
        ["packet", ImprovType.CURRENT_STATE, "04"],
      ]);
      // Every chunking of a shorter stream of the same kinds.
      parsesAs(concat(bytes("{IMPROV} 01 03 00 e1"), bytes("{IMPROV} 01 01 01 04 e4")), [
        ["packet", ImprovType.RPC_COMMAND, ""],
        ["packet", ImprovType.CURRENT_STATE, "04"],
      ]);
    });

    it("gives each packet its own copy of the data", function () {
      const seen: Uint8Array[] = [];
      const parser = new ImprovParser({ onPacket: (_type, data) => seen.push(data) });
      parser.push(encodeRpcResult(ImprovCommand.WIFI_NETWORKS, ["aa"]));
      parser.push(encodeRpcResult(ImprovCommand.WIFI_NETWORKS, ["bb"]));
      assert.deepEqual(seen.map((data) => Buffer.from(data).toString("latin1")), ["\u0004\u0003\u0002aa", "\u0004\u0003\u0002bb"]);
    });

    it("says whether a packet is under way, and forgets it on reset(): a header begun is text, a packet begun is incomplete", function () {
      const { parser, events } = recordingParser();
      assert.equal(parser.inPacket, false);
      parser.push(bytes("{log IMP}"));
      assert.equal(parser.inPacket, true);
      parser.reset();
      assert.equal(parser.inPacket, false);
      parser.push(bytes("{IMPROV} 01 03 05 01"));
      parser.reset();
      parser.push(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(events, [
        ["other", "log IMP"],
        ["bad", "incomplete"],
        ["packet", ImprovType.RPC_COMMAND, "02 00"],
        ["other", "\n"],
      ]);
    });

    it("needs an onPacket handler", function () {
      assert.throws(() => new ImprovParser({} as never), /needs events with onPacket/);
    });
  });
});
