/**
 * src/websocket/sender.ts: client frames (RFC 6455 section 5.2) byte for byte, with an injected
 * masking key, and close payloads (section 5.5.1); the Sender's queue alone (bounded
 * bufferedAmount, the coalesced pong, partial writes, drain, discarding) against a recording
 * socket, frames read back with the tests' own parser.
 */
import assert from "node:assert/strict";
import { WebSocketError } from "../../src/shared/errors.js";
import { ErrorCode } from "../../src/shared/errors.js";
import { portableUtf8 } from "../../src/websocket/utf8.js";
import { clientFrameLength, encodeClosePayload, encodeFrame, encodeMaskedFrame, encodeMaskedTextFrame, Sender } from "../../src/websocket/sender.js";
import { nodeUtf8 } from "../../hosts/node/host.js";
import { parseClientFrames } from "../support/client-frames.js";
import { concat, hex, OP, pattern, serverFrame, toHex } from "../support/frames.js";

const key = hex("37 fa 21 3d"); // the key of the RFC 6455 section 5.7 examples
const text = (s: string) => new TextEncoder().encode(s);

/** Undoes the masking of a client frame's payload (section 5.3), independently of the sender. */
function unmask(frame: Uint8Array, headerLength: number): Uint8Array {
  const mask = frame.subarray(headerLength - 4, headerLength);
  return frame.subarray(headerLength).map((b, i) => b ^ mask[i % 4]);
}

describe("sender", () => {
  describe("encodeFrame", () => {
    it("encodes the RFC 6455 section 5.7 masked \"Hello\" exactly", () => {
      assert.equal(toHex(encodeFrame(OP.TEXT, text("Hello"), true, key)), "81 85 37 fa 21 3d 7f 9f 4d 51 58");
    });

    it("encodes the section 5.7 masked pong, and a ping the same way", () => {
      assert.equal(toHex(encodeFrame(OP.PONG, text("Hello"), true, key)), "8a 85 37 fa 21 3d 7f 9f 4d 51 58");
      assert.equal(toHex(encodeFrame(OP.PING, text("Hello"), true, key)), "89 85 37 fa 21 3d 7f 9f 4d 51 58");
    });

    it("encodes a fragmented text message: FIN=0 first, continuation with FIN=1 last", () => {
      // Section 5.7: "Hel" then "lo", each frame masked from the key's first byte.
      assert.equal(toHex(encodeFrame(OP.TEXT, text("Hel"), false, key)), "01 83 37 fa 21 3d 7f 9f 4d");
      assert.equal(toHex(encodeFrame(OP.CONTINUATION, text("lo"), true, key)), "80 82 37 fa 21 3d 5b 95");
      assert.equal(toHex(encodeFrame(OP.CONTINUATION, text("l"), false, key)), "00 81 37 fa 21 3d 5b");
    });

    it("encodes an empty frame as the header and key alone", () => {
      assert.equal(toHex(encodeFrame(OP.BINARY, new Uint8Array(0), true, key)), "82 80 37 fa 21 3d");
      assert.equal(toHex(encodeFrame(OP.CLOSE, new Uint8Array(0), true, key)), "88 80 37 fa 21 3d");
    });

    // Section 5.2: the minimal length encoding, at each boundary.
    const lengthCases: Array<[number, string]> = [
      [0, "82 80"],
      [1, "82 81"],
      [125, "82 fd"],
      [126, "82 fe 00 7e"],
      [127, "82 fe 00 7f"],
      [256, "82 fe 01 00"], // the section 5.7 256-byte example, masked
      [65535, "82 fe ff ff"],
      [65536, "82 ff 00 00 00 00 00 01 00 00"], // the section 5.7 64 KiB example, masked
      [65537, "82 ff 00 00 00 00 00 01 00 01"],
      [1 << 20, "82 ff 00 00 00 00 00 10 00 00"],
    ];
    for (const [length, header] of lengthCases) {
      it(`encodes a ${length}-byte payload with the header ${header} + key`, () => {
        const payload = pattern(length);
        const frame = encodeFrame(OP.BINARY, payload, true, key);
        const headerLength = header.split(" ").length + 4;
        assert.equal(frame.length, headerLength + length);
        assert.equal(toHex(frame.subarray(0, headerLength)), `${header} 37 fa 21 3d`);
        assert.deepEqual(unmask(frame, headerLength), payload);
        // The same bytes as the independent test builder makes.
        assert.deepEqual(frame, serverFrame({ opcode: OP.BINARY, payload, mask: key }));
      });
    }

    it("masks every payload length 0..17 (including the 1-3 byte tails) like the reference", () => {
      const keys = [hex("00 00 00 00"), hex("ff ff ff ff"), hex("01 02 04 08"), key];
      for (const maskKey of keys) {
        for (let length = 0; length <= 17; length++) {
          for (const fin of [true, false]) {
            const payload = pattern(length, length);
            const frame = encodeFrame(OP.TEXT, payload, fin, maskKey);
            assert.deepEqual(
              frame,
              serverFrame({ fin, opcode: OP.TEXT, payload, mask: maskKey }),
              `length ${length}, key ${toHex(maskKey)}, fin ${fin}`,
            );
          }
        }
      }
    });

    it("masks a word at a time past 24 bytes like the reference: every tail, both header alignments, any source offset", () => {
      const keys = [hex("01 02 04 08"), hex("de ad be ef"), key];
      const lengths = [23, 24, 25, 26, 27, 28, 31, 64, 125, 126, 127, 128, 129, 1021, 1022, 1023, 1024, 65535, 65536, 65537, 65538, 65539];
      for (const maskKey of keys) {
        for (const length of lengths) {
          for (const offset of [0, 1, 2, 3]) {
            const buffer = pattern(length + offset, length);
            const payload = buffer.subarray(offset);
            const frame = encodeFrame(OP.BINARY, payload, true, maskKey);
            assert.deepEqual(frame, serverFrame({ opcode: OP.BINARY, payload, mask: maskKey }), `length ${length}, offset ${offset}, key ${toHex(maskKey)}`);
          }
        }
      }
    });

    it("does not modify the payload or the key", () => {
      const payload = pattern(1000);
      const copy = payload.slice();
      const maskKey = hex("de ad be ef");
      encodeFrame(OP.BINARY, payload, true, maskKey);
      assert.deepEqual(payload, copy);
      assert.equal(toHex(maskKey), "de ad be ef");
    });

    it("reads a payload that is a view into a larger buffer from its own offset", () => {
      const buffer = pattern(64);
      const view = buffer.subarray(13, 13 + 30);
      const frame = encodeFrame(OP.BINARY, view, true, key);
      assert.deepEqual(unmask(frame, 6), buffer.slice(13, 43));
    });

    it("returns one buffer holding the header and payload, not a view into a shared one", () => {
      const frame = encodeFrame(OP.TEXT, text("Hello"), true, key);
      assert.equal(frame.byteOffset, 0);
      assert.equal(frame.buffer.byteLength, frame.length);
    });

    it("refuses a masking key that is not 4 bytes", () => {
      for (const bad of [new Uint8Array(0), new Uint8Array(3), new Uint8Array(5)]) {
        assert.throws(
          () => encodeFrame(OP.TEXT, text("x"), true, bad),
          (error: unknown) =>
            error instanceof WebSocketError &&
            error.code === "ERR_INVALID_ARGUMENT" &&
            error.closeCode === undefined &&
            /4 bytes/.test(error.message),
        );
      }
    });
  });

  describe("encodeClosePayload", () => {
    it("is empty when no code is given (a close frame without a body)", () => {
      assert.equal(encodeClosePayload().length, 0);
      assert.equal(encodeClosePayload(undefined, "ignored").length, 0);
    });

    it("is the 2-byte big-endian code alone when there is no reason", () => {
      assert.equal(toHex(encodeClosePayload(1000)), "03 e8");
      assert.equal(toHex(encodeClosePayload(1000, "")), "03 e8");
      assert.equal(toHex(encodeClosePayload(4999)), "13 87");
      assert.equal(toHex(encodeClosePayload(3000)), "0b b8");
    });

    it("appends the reason in UTF-8", () => {
      assert.equal(toHex(encodeClosePayload(1001, "bye")), "03 e9 62 79 65");
      assert.equal(toHex(encodeClosePayload(1000, "é€😀")), "03 e8 c3 a9 e2 82 ac f0 9f 98 80");
    });

    it("encodes a lone surrogate in the reason as U+FFFD, as TextEncoder does", () => {
      assert.equal(toHex(encodeClosePayload(1000, "\ud800")), "03 e8 ef bf bd");
    });

    it("fits the longest allowed reason (123 bytes) in a control frame", () => {
      const payload = encodeClosePayload(1000, "r".repeat(123));
      assert.equal(payload.length, 125);
      assert.equal(toHex(encodeFrame(OP.CLOSE, payload, true, key).subarray(0, 2)), "88 fd");
    });
  });

  describe("long text encoded straight into its frame (a host codec with byteLength and encodeInto)", () => {
    const keys = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0xa5, 0x5a, 0x0f, 0xf0);
    // Lengths around the 7/16/64-bit length fields and every remainder of 4; a lone surrogate
    // (U+FFFD on the wire), 2- and 4-byte characters.
    const texts = [
      "",
      "a",
      "é".repeat(63),
      "x".repeat(125),
      "x".repeat(126),
      "\ud800" + "y".repeat(4097),
      "😀".repeat(16_383) + "z",
      "q".repeat(65_535),
      "q".repeat(65_536) + "é",
    ];
    it("gives byte for byte the frame of the encoded bytes, with either key offset", () => {
      for (const text of texts) {
        for (const keyAt of [0, 4]) {
          const bytes = nodeUtf8.encode(text);
          const viaBytes = encodeMaskedFrame(OP.TEXT, bytes, true, keys, keyAt);
          const direct = encodeMaskedTextFrame(OP.TEXT, text, nodeUtf8.byteLength!(text), nodeUtf8.encodeInto!, true, keys, keyAt);
          assert.equal(toHex(direct), toHex(viaBytes), `${text.length} units, key at ${keyAt}`);
        }
      }
    });

    it("the Sender uses it for long strings and the peer reads the same text", () => {
      const sender = new Sender({ host: { random: (bytes) => bytes.fill(7) }, utf8: nodeUtf8, maxBufferedBytes: 1 << 20 });
      const writes: Uint8Array[] = [];
      const long = "\ud83d" + "ü".repeat(5000) + "end";
      sender.send(long, false);
      sender.send("short", false);
      sender.setWritable(1 << 20);
      sender.flush({ write: (bytes: Uint8Array) => void writes.push(bytes.slice()) });
      const frames = parseClientFrames(concat(...writes));
      assert.deepEqual(frames.map((f) => new TextDecoder().decode(f.payload)), ["\ufffd" + "ü".repeat(5000) + "end", "short"]);
      assert.equal(sender.bufferedAmount, 0);
    });

    it("refuses a codec whose encodeInto writes another length than byteLength said", () => {
      assert.throws(
        () => encodeMaskedTextFrame(OP.TEXT, "abcd".repeat(2000), 8001, nodeUtf8.encodeInto!, true, keys, 0),
        (error: unknown) => error instanceof WebSocketError && /wrote 8000 bytes of 8001/.test(error.message),
      );
    });
  });

  describe("Sender (the queue of one connection)", () => {
    /** A Sender with a counting random source, and a socket that records what it is given. */
    function harness(maxBufferedBytes = 1024) {
      let randomCalls = 0;
      const sender = new Sender({
        host: {
          random: (bytes) => {
            randomCalls++;
            for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + randomCalls) & 0xff;
          },
        },
        utf8: portableUtf8,
        maxBufferedBytes,
      });
      const writes: Uint8Array[] = [];
      const socket = { write: (bytes: Uint8Array) => void writes.push(bytes.slice()) };
      const written = () => Uint8Array.from(writes.flatMap((chunk) => [...chunk]));
      return { sender, socket, writes, written, randomCalls: () => randomCalls };
    }

    it("counts queued frames in bufferedAmount and writes them in order, masked", () => {
      const h = harness();
      h.sender.send("Hello", false);
      h.sender.send(Uint8Array.of(1, 2, 3), false);
      assert.equal(h.sender.bufferedAmount, clientFrameLength(5) + clientFrameLength(3));
      h.sender.setWritable(1000);
      h.sender.flush(h.socket);
      assert.equal(h.sender.bufferedAmount, 0);
      const frames = parseClientFrames(h.written());
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin, [...f.payload]]),
        [
          [OP.TEXT, true, [...text("Hello")]],
          [OP.BINARY, true, [1, 2, 3]],
        ],
      );
    });

    it("writes no more than the socket said it takes, and the rest at the next flush", () => {
      const h = harness();
      h.sender.send(pattern(100), false);
      h.sender.setWritable(30);
      h.sender.flush(h.socket);
      assert.deepEqual(h.writes.map((w) => w.length), [30]);
      assert.equal(h.sender.bufferedAmount, clientFrameLength(100) - 30);
      assert.equal(h.sender.takeDrained(), false, "bytes are still waiting");
      h.sender.setWritable(1000);
      h.sender.flush(h.socket);
      assert.equal(h.sender.bufferedAmount, 0);
      assert.deepEqual([...parseClientFrames(h.written())[0]!.payload], [...pattern(100)]);
      assert.equal(h.sender.takeDrained(), true, "drained after waiting for the socket");
      assert.equal(h.sender.takeDrained(), false, "once");
    });

    it("refuses a frame that would pass maxBufferedBytes with ERR_BUFFER_FULL, queueing nothing", () => {
      const h = harness(256);
      h.sender.send(pattern(200), false); // 208 bytes on the wire
      assert.throws(() => h.sender.send(pattern(50), false), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, ErrorCode.BUFFER_FULL);
        assert.match(error.message, /send\(\) of a 56-byte frame would exceed limits\.maxBufferedBytes \(256\); 208 bytes are waiting/);
        return true;
      });
      assert.throws(() => h.sender.ping(pattern(125)), { code: ErrorCode.BUFFER_FULL, message: /^ping\(\)/ });
      assert.equal(h.sender.bufferedAmount, 208);
      // A close frame always goes out: it is what ends the connection.
      h.sender.close(1000, "bye");
      assert.equal(h.sender.bufferedAmount, 208 + clientFrameLength(5));
    });

    it("keeps one pong at most, the latest, and sends it ahead of queued frames at a frame boundary", () => {
      const h = harness();
      h.sender.send(pattern(40), true); // a fragment, partly written below
      h.sender.send(pattern(10), false);
      h.sender.setWritable(20);
      h.sender.flush(h.socket);
      h.sender.pong(text("one"));
      h.sender.pong(text("two"));
      assert.equal(h.sender.bufferedAmount, clientFrameLength(40) - 20 + clientFrameLength(10) + clientFrameLength(3));
      h.sender.setWritable(1000);
      h.sender.flush(h.socket);
      const frames = parseClientFrames(h.written());
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin, f.payload.length]),
        [
          [OP.BINARY, false, 40], // finished first: a frame is never cut by another
          [OP.PONG, true, 3],
          [OP.CONTINUATION, true, 10],
        ],
      );
      assert.equal(new TextDecoder().decode(frames[1]!.payload), "two");
    });

    it("refuses a fragment of the other type, and continues a fragmented message with continuation frames", () => {
      const h = harness();
      h.sender.send("a", true);
      assert.throws(() => h.sender.send(Uint8Array.of(1), false), { code: ErrorCode.INVALID_ARGUMENT, message: /a binary fragment cannot continue a text message/ });
      h.sender.send("b", false);
      h.sender.send(Uint8Array.of(2), false);
      h.sender.setWritable(1000);
      h.sender.flush(h.socket);
      assert.deepEqual(
        parseClientFrames(h.written()).map((f) => [f.opcode, f.fin]),
        [
          [OP.TEXT, false],
          [OP.CONTINUATION, true],
          [OP.BINARY, true],
        ],
      );
    });

    it("draws mask keys from the random source 64 bytes at a time, a fresh key per frame", () => {
      const h = harness(1 << 20);
      for (let i = 0; i < 17; i++) h.sender.send("x", false);
      assert.equal(h.randomCalls(), 2, "16 keys from each 64-byte draw");
      h.sender.setWritable(1 << 20);
      h.sender.flush(h.socket);
      const keys = parseClientFrames(h.written()).map((f) => toHex(f.mask));
      assert.equal(new Set(keys).size, 17);
    });

    it("draws as many mask keys at a time as the host says (NetHost.maskKeysPerDraw), each used once", () => {
      const sizes: number[] = [];
      let draw = 0;
      const sender = new Sender({
        host: {
          maskKeysPerDraw: 64,
          random: (bytes) => {
            sizes.push(bytes.length);
            draw++;
            for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13 + draw * 101) & 0xff;
          },
        },
        utf8: portableUtf8,
        maxBufferedBytes: 1 << 20,
      });
      for (let i = 0; i < 65; i++) sender.send("x", false);
      assert.deepEqual(sizes, [256, 256], "64 keys (256 bytes) a draw");
      const written: Uint8Array[] = [];
      sender.setWritable(1 << 20);
      sender.flush({ write: (bytes) => written.push(bytes.slice()) });
      const keys = parseClientFrames(concat(...written)).map((f) => toHex(f.mask));
      assert.equal(new Set(keys).size, 65);
    });

    it("discards what was not started, counting it, and reports the unsent bytes at release", () => {
      const h = harness();
      h.sender.send(pattern(50), false);
      h.sender.send(pattern(60), false);
      h.sender.pong(text("p"));
      h.sender.setWritable(10);
      h.sender.flush(h.socket); // 10 bytes of the pong went out (it jumps ahead): 7 bytes, then 3 of the first frame
      h.sender.discardQueued();
      // The frame begun is kept, so a close frame after it can still be read.
      assert.equal(h.sender.bufferedAmount, clientFrameLength(50) - 3);
      h.sender.close(1002, "");
      const closeLength = clientFrameLength(2);
      assert.equal(h.sender.release(), clientFrameLength(60) + clientFrameLength(50) - 3 + closeLength);
      assert.equal(h.sender.bufferedAmount, 0);
    });
  });
});
