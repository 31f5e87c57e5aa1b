/**
 * src/websocket/receiver.ts, the frame parser (RFC 6455 section 5), as a specification.
 *
 * Every frame sequence is fed whole, split in two at every byte boundary, and one byte at a
 * time, and must give the same events each way. Errors are checked for their class, `code`
 * and `closeCode`, and for the byte at which they are reported: as early as the rule can be
 * known, never after buffering payload that is already doomed.
 */
import assert from "node:assert/strict";
import { CloseCode } from "../../src/websocket/constants.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { Receiver, type ReceiverEvents, type ReceiverLimits } from "../../src/websocket/receiver.js";
import {
  closeBody,
  concat,
  frameHeader,
  hex,
  OP,
  pattern,
  type PayloadLike,
  serverFrame,
  toBytes,
  toHex,
} from "../support/frames.js";
import { formatBytes, liveArrayBufferBytes } from "../support/memory.js";

type Event =
  | ["message", string | Uint8Array]
  | ["ping", Uint8Array]
  | ["pong", Uint8Array]
  | ["close", number, string]
  | ["error", string, number | undefined];

const roomy: ReceiverLimits = { maxMessageBytes: 1 << 20, maxFrameBytes: 1 << 20 };

/** A receiver whose events are recorded in order. */
function recordingReceiver(limits: ReceiverLimits = roomy): { receiver: Receiver; events: Event[] } {
  const events: Event[] = [];
  const handlers: ReceiverEvents = {
    onMessage: (data) => events.push(["message", data]),
    onPing: (payload) => events.push(["ping", payload]),
    onPong: (payload) => events.push(["pong", payload]),
    onClose: (code, reason) => events.push(["close", code, reason]),
    onError: (error) => {
      assert.ok(error instanceof WebSocketError, "errors are WebSocketErrors");
      events.push(["error", error.code, error.closeCode]);
    },
  };
  return { receiver: new Receiver(handlers, limits), events };
}

/** The ways of cutting `bytes` into chunks: whole, every 2-way split, one byte at a time. */
function* chunkings(bytes: Uint8Array): Generator<[string, Uint8Array[]]> {
  yield ["whole", [bytes]];
  for (let cut = 1; cut < bytes.length; cut++) {
    yield [`split at ${cut}`, [bytes.subarray(0, cut), bytes.subarray(cut)]];
  }
  if (bytes.length > 1) {
    const single: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
    yield ["one byte at a time", single];
  }
}

/** A valid frame pushed after a close or an error, to show that it is ignored. */
const lateFrame = serverFrame({ opcode: OP.TEXT, payload: "too late" });

/**
 * Feeds `bytes` in every chunking and asserts the events (each time in a fresh receiver).
 * When the last event is a close or an error, also asserts that the receiver is stopped and
 * that more input is ignored.
 */
function expectEvents(bytes: Uint8Array, expected: Event[], limits: ReceiverLimits = roomy): void {
  const last = expected[expected.length - 1];
  const stops = last !== undefined && (last[0] === "close" || last[0] === "error");
  for (const [how, chunks] of chunkings(bytes)) {
    const { receiver, events } = recordingReceiver(limits);
    for (const chunk of chunks) receiver.push(chunk);
    assert.deepEqual(events, expected, how);
    assert.equal(receiver.stopped, stops, `${how}: stopped`);
    if (stops) {
      receiver.push(lateFrame);
      receiver.push(hex("ff ff ff"));
      assert.deepEqual(events, expected, `${how}: input after the stop is ignored`);
    }
  }
}

/**
 * Pushes one byte at a time; returns the index of the byte whose push emitted the first
 * error (-1 if none) and the events so far.
 */
function errorAt(bytes: Uint8Array, limits: ReceiverLimits = roomy): { at: number; events: Event[] } {
  const { receiver, events } = recordingReceiver(limits);
  for (let i = 0; i < bytes.length; i++) {
    receiver.push(bytes.subarray(i, i + 1));
    if (events.some((event) => event[0] === "error")) return { at: i, events };
  }
  return { at: -1, events };
}

/**
 * The frames fail with `code` and `closeCode` (after the events `before`) in every
 * chunking, and fed byte by byte the error comes with byte `atByte`: the bytes after it were
 * not needed.
 */
function expectError(
  bytes: Uint8Array,
  code: string,
  closeCode: number,
  atByte: number,
  limits: ReceiverLimits = roomy,
  before: Event[] = [],
): void {
  const expected: Event[] = [...before, ["error", code, closeCode]];
  expectEvents(bytes, expected, limits);
  const { at, events } = errorAt(bytes, limits);
  assert.equal(at, atByte, `the error is reported at byte ${atByte}`);
  assert.deepEqual(events, expected);
}

const text = (s: string) => new TextEncoder().encode(s);

describe("Receiver", () => {
  describe("single-frame messages", () => {
    it('delivers the RFC 6455 section 5.7 unmasked "Hello" as a string', () => {
      expectEvents(hex("81 05 48 65 6c 6c 6f"), [["message", "Hello"]]);
    });

    it("delivers a binary message as bytes", () => {
      expectEvents(serverFrame({ opcode: OP.BINARY, payload: [0, 1, 2, 0xff] }), [
        ["message", Uint8Array.of(0, 1, 2, 0xff)],
      ]);
    });

    it('delivers an empty text message as "" and an empty binary message as 0 bytes', () => {
      expectEvents(hex("81 00"), [["message", ""]]);
      expectEvents(hex("82 00"), [["message", new Uint8Array(0)]]);
    });

    it("delivers multi-byte characters split across chunks", () => {
      expectEvents(serverFrame({ opcode: OP.TEXT, payload: "κόσμε €😀" }), [["message", "κόσμε €😀"]]);
    });

    it("delivers binary bytes that are not UTF-8 (only text is validated)", () => {
      expectEvents(serverFrame({ opcode: OP.BINARY, payload: [0xff, 0xc0, 0xed, 0xa0, 0x80] }), [
        ["message", Uint8Array.of(0xff, 0xc0, 0xed, 0xa0, 0x80)],
      ]);
    });

    it("delivers several frames from one chunk, in order", () => {
      expectEvents(
        concat(
          serverFrame({ opcode: OP.TEXT, payload: "one" }),
          serverFrame({ opcode: OP.BINARY, payload: [2] }),
          serverFrame({ opcode: OP.PING, payload: "p" }),
          serverFrame({ opcode: OP.TEXT, payload: "" }),
          serverFrame({ opcode: OP.TEXT, payload: "three" }),
        ),
        [
          ["message", "one"],
          ["message", Uint8Array.of(2)],
          ["ping", text("p")],
          ["message", ""],
          ["message", "three"],
        ],
      );
    });
  });

  describe("payload lengths (section 5.2: 7-bit, 16-bit and 64-bit)", () => {
    // Whole, one byte at a time, and split at every boundary of the header and of the
    // first and last payload bytes; for long payloads, also every 509th boundary in between
    // (every one of 65 thousand boundaries would add nothing but minutes).
    function expectLength(length: number, lengthField: string, opcode: number = OP.BINARY): void {
      const payload = opcode === OP.TEXT ? text("é".repeat(length / 2)) : pattern(length);
      const frame = serverFrame({ opcode, payload });
      const headerLength = frame.length - length;
      assert.equal(
        Array.from(frame.subarray(1, headerLength), (b) => b.toString(16).padStart(2, "0")).join(" "),
        lengthField,
      );
      const expected: Event[] = [["message", opcode === OP.TEXT ? "é".repeat(length / 2) : payload]];
      if (frame.length <= 2048) {
        expectEvents(frame, expected);
        return;
      }
      const cuts = new Set<number>();
      for (let cut = 1; cut < frame.length; cut++) {
        if (cut <= headerLength + 8 || cut >= frame.length - 8 || cut % 509 === 0) cuts.add(cut);
      }
      const ways: Array<[string, Uint8Array[]]> = [["whole", [frame]]];
      for (const cut of cuts) ways.push([`split at ${cut}`, [frame.subarray(0, cut), frame.subarray(cut)]]);
      const bytes: Uint8Array[] = [];
      for (let i = 0; i < frame.length; i++) bytes.push(frame.subarray(i, i + 1));
      ways.push(["one byte at a time", bytes]);
      for (const [how, chunks] of ways) {
        const { receiver, events } = recordingReceiver();
        for (const chunk of chunks) receiver.push(chunk);
        assert.deepEqual(events, expected, how);
      }
    }

    it("0 bytes: 7-bit length 0", () => expectLength(0, "00"));
    it("125 bytes: the largest 7-bit length", () => expectLength(125, "7d"));
    it("126 bytes: the smallest 16-bit length", () => expectLength(126, "7e 00 7e"));
    it("127 bytes: 16-bit length", () => expectLength(127, "7e 00 7f"));
    it("126 bytes of text (63 two-byte characters)", () => expectLength(126, "7e 00 7e", OP.TEXT));
    it("65535 bytes: the largest 16-bit length", () => expectLength(65535, "7e ff ff"));
    it("65536 bytes: the smallest 64-bit length", () =>
      expectLength(65536, "7f 00 00 00 00 00 01 00 00"));
    it("70000 bytes of text in a 64-bit length", () =>
      expectLength(70000, "7f 00 00 00 00 00 01 11 70", OP.TEXT));
  });

  describe("fragmented messages (section 5.4)", () => {
    it('reassembles the section 5.7 fragmented "Hel" + "lo"', () => {
      expectEvents(hex("01 03 48 65 6c 80 02 6c 6f"), [["message", "Hello"]]);
    });

    it("reassembles a binary message of three fragments", () => {
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.BINARY, payload: [1, 2] }),
          serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: [3] }),
          serverFrame({ opcode: OP.CONTINUATION, payload: [4, 5, 6] }),
        ),
        [["message", Uint8Array.of(1, 2, 3, 4, 5, 6)]],
      );
    });

    it("accepts empty fragments anywhere, and a message made only of empty fragments", () => {
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: "" }),
          serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: "ab" }),
          serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: "" }),
          serverFrame({ opcode: OP.CONTINUATION, payload: "" }),
        ),
        [["message", "ab"]],
      );
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT }),
          serverFrame({ opcode: OP.CONTINUATION }),
          serverFrame({ fin: false, opcode: OP.BINARY }),
          serverFrame({ opcode: OP.CONTINUATION }),
        ),
        [
          ["message", ""],
          ["message", new Uint8Array(0)],
        ],
      );
    });

    it("accepts a character split across fragments", () => {
      // "é€" = c3 a9 e2 82 ac, fragmented inside both characters.
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: [0xc3] }),
          serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: [0xa9, 0xe2] }),
          serverFrame({ opcode: OP.CONTINUATION, payload: [0x82, 0xac] }),
        ),
        [["message", "é€"]],
      );
    });

    it("delivers a ping interleaved in a fragmented message at once, then the message", () => {
      // Section 5.4: "Control frames MAY be injected in the middle of a fragmented message."
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: "frag" }),
          serverFrame({ opcode: OP.PING, payload: "ping!" }),
          serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: "men" }),
          serverFrame({ opcode: OP.PONG, payload: "" }),
          serverFrame({ opcode: OP.CONTINUATION, payload: "ted" }),
        ),
        [
          ["ping", text("ping!")],
          ["pong", new Uint8Array(0)],
          ["message", "fragmented"],
        ],
      );
    });

    it("delivers the ping before the rest of the message has arrived", () => {
      const { receiver, events } = recordingReceiver();
      receiver.push(serverFrame({ fin: false, opcode: OP.TEXT, payload: "a" }));
      receiver.push(serverFrame({ opcode: OP.PING, payload: "now" }));
      assert.deepEqual(events, [["ping", text("now")]]);
      receiver.push(serverFrame({ opcode: OP.CONTINUATION, payload: "b" }));
      assert.deepEqual(events, [["ping", text("now")], ["message", "ab"]]);
    });

    it("keeps a text message's UTF-8 state across an interleaved close reason", () => {
      // The close reason is validated on its own: the pending C3 of the message does not leak in.
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: [0xc3] }),
          serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, "ok") }),
        ),
        [["close", 1000, "ok"]],
      );
    });

    it("starts each message with fresh UTF-8 state", () => {
      expectEvents(
        concat(
          serverFrame({ opcode: OP.BINARY, payload: [0xc3] }), // binary: not validated
          serverFrame({ opcode: OP.TEXT, payload: [0xa9] }), // a continuation byte with no lead
        ),
        [
          ["message", Uint8Array.of(0xc3)],
          ["error", "ERR_INVALID_UTF8", 1007],
        ],
      );
    });
  });

  describe("pause() and resume(): the client's flow control", () => {
    it("stops after the message whose handler paused, keeps the rest and later pushes in order, and goes on at resume()", () => {
      const seen: string[] = [];
      let receiver!: Receiver;
      receiver = new Receiver(
        {
          onMessage: (data) => {
            seen.push(data as string);
            if (data === "b") receiver.pause();
          },
          onPing: () => seen.push("ping"),
          onPong: () => {},
          onClose: () => {},
          onError: (error) => seen.push(error.code),
        },
        roomy,
      );
      const text = (t: string) => serverFrame({ opcode: OP.TEXT, payload: t });
      receiver.push(concat(text("a"), text("b"), text("c"), serverFrame({ opcode: OP.PING })));
      assert.deepEqual(seen, ["a", "b"]);
      assert.equal(receiver.isPaused, true);
      receiver.push(text("d"));
      assert.deepEqual(seen, ["a", "b"], "nothing parsed while paused");
      receiver.resume();
      assert.deepEqual(seen, ["a", "b", "c", "ping", "d"]);
      assert.equal(receiver.isPaused, false);
    });

    it("resume() without pause() does nothing, and a handler may pause again during resume()", () => {
      const seen: string[] = [];
      let receiver!: Receiver;
      receiver = new Receiver(
        {
          onMessage: (data) => {
            seen.push(data as string);
            receiver.pause();
          },
          onPing: () => {},
          onPong: () => {},
          onClose: () => {},
          onError: () => {},
        },
        roomy,
      );
      receiver.resume();
      const text = (t: string) => serverFrame({ opcode: OP.TEXT, payload: t });
      receiver.push(concat(text("1"), text("2"), text("3")));
      assert.deepEqual(seen, ["1"]);
      receiver.resume();
      assert.deepEqual(seen, ["1", "2"]);
      receiver.resume();
      assert.deepEqual(seen, ["1", "2", "3"]);
    });
  });

  describe("memory: bounded by maxMessageBytes, not by the bytes on the wire", () => {
    /** 125-byte pongs after a one-byte fragment: 3 + 516 * 127 = 65,535 bytes, one 64 KiB read. */
    const PONGS_PER_READ = 516;
    const pong = serverFrame({ opcode: OP.PONG, payload: pattern(125) });

    /** A read of a 64 KiB socket buffer: a one-byte fragment (`byte`), then pongs. */
    function largeRead(opcode: number, fin: boolean, byte: number): Uint8Array {
      const read = new Uint8Array(3 + PONGS_PER_READ * pong.length);
      read.set(serverFrame({ fin, opcode, payload: [byte] }), 0);
      for (let i = 0; i < PONGS_PER_READ; i++) read.set(pong, 3 + i * pong.length);
      return read;
    }

    function countingReceiver(limits: ReceiverLimits) {
      const seen = { messages: [] as Uint8Array[], pongs: 0 };
      const receiver = new Receiver(
        {
          onMessage: (data) => seen.messages.push(data as Uint8Array),
          onPing: () => assert.fail("no ping was sent"),
          onPong: () => seen.pongs++,
          onClose: () => assert.fail("no close was sent"),
          onError: (error) => assert.fail(error),
        },
        limits,
      );
      return { receiver, seen };
    }

    it("holds 1,500 one-byte fragments, each in a 64 KiB read full of pongs, in about maxMessageBytes", () => {
      // The ESP32's default limits. Before the fix each fragment was a view that kept its
      // whole read alive: 1,500 x 64 KiB, about 94 MiB, for a message of 1,501 bytes.
      const limits = { maxMessageBytes: 16 * 1024, maxFrameBytes: 16 * 1024 };
      const { receiver, seen } = countingReceiver(limits);
      const fragments = 1500;
      const before = liveArrayBufferBytes();
      for (let i = 0; i < fragments; i++) receiver.push(largeRead(i === 0 ? OP.BINARY : OP.CONTINUATION, false, i & 0xff));
      const held = liveArrayBufferBytes() - before;
      assert.equal(seen.pongs, fragments * PONGS_PER_READ);
      assert.equal(seen.messages.length, 0, "the message is not complete yet");
      // The message buffer (at most maxMessageBytes) and a little slack for the allocator.
      assert.ok(
        held <= limits.maxMessageBytes + 64 * 1024,
        `${formatBytes(held)} of ArrayBuffers held after ${fragments} fragments (${formatBytes(fragments * 65535)} read)`,
      );

      receiver.push(largeRead(OP.CONTINUATION, true, fragments & 0xff));
      assert.equal(seen.messages.length, 1);
      const message = seen.messages[0]!;
      assert.equal(message.length, fragments + 1);
      assert.ok(message.every((byte, i) => byte === (i & 0xff)), "the bytes in order");
      assert.equal(message.buffer.byteLength, fragments + 1, "the message owns a buffer of its own size");
    });

    it("copies each fragment: a read overwritten after it was parsed leaves the message intact", () => {
      const { receiver, seen } = countingReceiver(roomy);
      const reads = [
        serverFrame({ fin: false, opcode: OP.BINARY, payload: [1, 2] }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: [3] }),
      ];
      for (const read of reads) receiver.push(read);
      for (const read of reads) read.fill(0xee); // the socket reuses its buffer
      receiver.push(serverFrame({ opcode: OP.CONTINUATION, payload: [4] }));
      assert.deepEqual(seen.messages, [Uint8Array.of(1, 2, 3, 4)]);
    });

    it("never allocates past maxMessageBytes for a message of many fragments, and delivers it exactly", () => {
      const limits = { maxMessageBytes: 1000, maxFrameBytes: 1000 };
      for (const size of [1, 7, 100, 999]) {
        const { receiver, seen } = countingReceiver(limits);
        const whole = pattern(1000);
        const parts: Uint8Array[] = [];
        for (let at = 0; at < whole.length; at += size) {
          const payload = whole.subarray(at, at + size);
          parts.push(serverFrame({ fin: at + size >= whole.length, opcode: at === 0 ? OP.BINARY : OP.CONTINUATION, payload }));
        }
        receiver.push(concat(...parts));
        assert.deepEqual(seen.messages, [whole], `fragments of ${size}`);
        const buffer = seen.messages[0]!.buffer.byteLength;
        assert.ok(buffer <= limits.maxMessageBytes, `fragments of ${size}: a buffer of ${buffer} bytes`);
      }
    });
  });

  describe("control frames (section 5.5)", () => {
    it("delivers pings and pongs with their payloads (0 to 125 bytes)", () => {
      expectEvents(hex("89 05 48 65 6c 6c 6f"), [["ping", text("Hello")]]); // section 5.7
      expectEvents(hex("8a 05 48 65 6c 6c 6f"), [["pong", text("Hello")]]);
      expectEvents(hex("89 00"), [["ping", new Uint8Array(0)]]);
      expectEvents(serverFrame({ opcode: OP.PING, payload: pattern(125) }), [["ping", pattern(125)]]);
      expectEvents(serverFrame({ opcode: OP.PONG, payload: pattern(125, 1) }), [["pong", pattern(125, 1)]]);
    });

    it("reports a close frame without a body as 1005 (no status), with an empty reason", () => {
      expectEvents(hex("88 00"), [["close", 1005, ""]]);
    });

    it("reports a close frame's code and reason", () => {
      expectEvents(serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000) }), [["close", 1000, ""]]);
      expectEvents(serverFrame({ opcode: OP.CLOSE, payload: closeBody(1001, "going away") }), [
        ["close", 1001, "going away"],
      ]);
      expectEvents(serverFrame({ opcode: OP.CLOSE, payload: closeBody(4000, "é".repeat(61) + "x") }), [
        ["close", 4000, "é".repeat(61) + "x"],
      ]);
    });

    it("accepts every valid close code (1000-1003, 1007-1014, 3000-4999)", () => {
      for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
        expectEvents(serverFrame({ opcode: OP.CLOSE, payload: closeBody(code, "r") }), [["close", code, "r"]]);
      }
    });

    it("fails with 1002 on an invalid close code, once both code bytes are in", () => {
      for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
        const frame = serverFrame({ opcode: OP.CLOSE, payload: closeBody(code, "reason") });
        expectError(frame, "ERR_INVALID_CLOSE_CODE", 1002, 3);
      }
    });

    it("fails with 1002 on a 1-byte close payload, from the header alone", () => {
      expectError(hex("88 01 03"), "ERR_INVALID_CLOSE_PAYLOAD", 1002, 1);
    });

    it("fails with 1007 on a close reason that is not UTF-8, at the offending byte", () => {
      // 88 08 | 03 e8 | 'o' 'k' ed a0 80 'x': ED A0 can only be a surrogate.
      const frame = serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, [0x6f, 0x6b, 0xed, 0xa0, 0x80, 0x78]) });
      expectError(frame, "ERR_INVALID_UTF8", 1007, 2 + 2 + 3);
    });

    it("fails with 1007 on a close reason that ends inside a character", () => {
      const frame = serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, [0x6f, 0xe2, 0x82]) });
      expectError(frame, "ERR_INVALID_UTF8", 1007, frame.length - 1);
    });

    it("stops after a close frame: later frames are ignored", () => {
      expectEvents(
        concat(
          serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, "bye") }),
          serverFrame({ opcode: OP.TEXT, payload: "after close" }),
          serverFrame({ opcode: OP.PING }),
        ),
        [["close", 1000, "bye"]],
      );
    });

    it("discards a fragmented message interrupted by a close", () => {
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: "unfinished" }),
          serverFrame({ opcode: OP.CLOSE, payload: closeBody(1001) }),
          serverFrame({ opcode: OP.CONTINUATION, payload: "end" }),
        ),
        [["close", 1001, ""]],
      );
    });
  });

  describe("protocol errors: fail the connection with 1002", () => {
    it("RSV1, RSV2 or RSV3 set with no extension negotiated: ERR_RESERVED_BITS at the first byte", () => {
      for (const rsv of [1, 2, 3, 4, 5, 6, 7]) {
        for (const opcode of [OP.TEXT, OP.BINARY, OP.PING, OP.CLOSE]) {
          expectError(serverFrame({ rsv, opcode, payload: "x" }), "ERR_RESERVED_BITS", 1002, 0);
        }
      }
      // On a continuation frame too.
      const first = serverFrame({ fin: false, opcode: OP.TEXT, payload: "a" });
      expectError(
        concat(first, serverFrame({ rsv: 4, opcode: OP.CONTINUATION, payload: "b" })),
        "ERR_RESERVED_BITS",
        1002,
        first.length,
      );
    });

    it("reserved opcodes 0x3-0x7 and 0xB-0xF: ERR_RESERVED_OPCODE at the first byte", () => {
      for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
        expectError(serverFrame({ opcode, payload: "x" }), "ERR_RESERVED_OPCODE", 1002, 0);
        expectError(serverFrame({ fin: false, opcode }), "ERR_RESERVED_OPCODE", 1002, 0);
      }
    });

    it("a masked frame from the server (section 5.1): ERR_MASKED_FRAME at the second byte", () => {
      const mask = [1, 2, 3, 4];
      for (const opcode of [OP.TEXT, OP.BINARY, OP.PING, OP.CLOSE]) {
        expectError(serverFrame({ opcode, payload: "", mask }), "ERR_MASKED_FRAME", 1002, 1);
      }
      expectError(serverFrame({ opcode: OP.TEXT, payload: "Hello", mask }), "ERR_MASKED_FRAME", 1002, 1);
    });

    it("a fragmented control frame (FIN=0): ERR_FRAGMENTED_CONTROL at the first byte", () => {
      for (const opcode of [OP.PING, OP.PONG, OP.CLOSE]) {
        expectError(serverFrame({ fin: false, opcode, payload: "x" }), "ERR_FRAGMENTED_CONTROL", 1002, 0);
      }
    });

    it("a control frame over 125 bytes: ERR_CONTROL_TOO_LONG at the second byte", () => {
      for (const opcode of [OP.PING, OP.PONG, OP.CLOSE]) {
        expectError(serverFrame({ opcode, payload: pattern(126) }), "ERR_CONTROL_TOO_LONG", 1002, 1);
        expectError(
          serverFrame({ opcode, payload: pattern(3), lengthEncoding: 64 }),
          "ERR_CONTROL_TOO_LONG",
          1002,
          1,
        );
      }
    });

    it("a continuation frame with no message in progress: ERR_UNEXPECTED_CONTINUATION", () => {
      expectError(serverFrame({ opcode: OP.CONTINUATION, payload: "x" }), "ERR_UNEXPECTED_CONTINUATION", 1002, 0);
      expectError(serverFrame({ fin: false, opcode: OP.CONTINUATION }), "ERR_UNEXPECTED_CONTINUATION", 1002, 0);
      // After a complete message, a continuation is unexpected again.
      const done = serverFrame({ opcode: OP.TEXT, payload: "done" });
      expectError(
        concat(done, serverFrame({ opcode: OP.CONTINUATION, payload: "x" })),
        "ERR_UNEXPECTED_CONTINUATION",
        1002,
        done.length,
        roomy,
        [["message", "done"]],
      );
    });

    it("a new text or binary frame inside a fragmented message: ERR_EXPECTED_CONTINUATION", () => {
      for (const [first, second] of [
        [OP.TEXT, OP.TEXT],
        [OP.TEXT, OP.BINARY],
        [OP.BINARY, OP.TEXT],
        [OP.BINARY, OP.BINARY],
      ]) {
        const start = serverFrame({ fin: false, opcode: first, payload: "a" });
        expectError(
          concat(start, serverFrame({ opcode: second, payload: "b" })),
          "ERR_EXPECTED_CONTINUATION",
          1002,
          start.length,
        );
      }
    });

    it("a 64-bit length with its most significant bit set: ERR_LENGTH_MSB_SET at that byte", () => {
      expectError(hex("82 7f 80 00 00 00 00 00 00 01"), "ERR_LENGTH_MSB_SET", 1002, 2);
      expectError(hex("82 7f ff ff ff ff ff ff ff ff"), "ERR_LENGTH_MSB_SET", 1002, 2);
    });

    it("a length not in its minimal form: ERR_NON_MINIMAL_LENGTH once the length is read", () => {
      for (const length of [0, 1, 125]) {
        expectError(
          frameHeader({ opcode: OP.BINARY, length, lengthEncoding: 16 }),
          "ERR_NON_MINIMAL_LENGTH",
          1002,
          3,
        );
      }
      for (const length of [0, 125, 126, 65535]) {
        expectError(
          frameHeader({ opcode: OP.BINARY, length, lengthEncoding: 64 }),
          "ERR_NON_MINIMAL_LENGTH",
          1002,
          9,
        );
      }
    });

    it("accepts the smallest length of each form (126 in 16 bits, 65536 in 64 bits)", () => {
      const { receiver, events } = recordingReceiver();
      receiver.push(frameHeader({ opcode: OP.BINARY, length: 126, lengthEncoding: 16 }));
      assert.equal(receiver.stopped, false);
      receiver.push(pattern(126));
      receiver.push(frameHeader({ opcode: OP.BINARY, length: 65536, lengthEncoding: 64 }));
      assert.equal(receiver.stopped, false);
      receiver.push(pattern(65536));
      assert.deepEqual(events, [
        ["message", pattern(126)],
        ["message", pattern(65536)],
      ]);
    });

    it("reports only the first error, once", () => {
      const { receiver, events } = recordingReceiver();
      receiver.push(concat(hex("c1 00"), hex("83 00"), hex("81 80")));
      receiver.push(hex("09 00"));
      assert.deepEqual(events, [["error", "ERR_RESERVED_BITS", 1002]]);
      assert.equal(receiver.stopped, true);
    });
  });

  describe("invalid UTF-8 in text: fail with 1007 as soon as it arrives", () => {
    it("fails at the offending byte of a single frame, before the rest of the frame", () => {
      // "ab" ED A0 80 "cd": fails at A0 (index 2 + 3) without waiting for "cd".
      const frame = serverFrame({ opcode: OP.TEXT, payload: [0x61, 0x62, 0xed, 0xa0, 0x80, 0x63, 0x64] });
      expectError(frame, "ERR_INVALID_UTF8", 1007, 2 + 3);
    });

    it("fails on a bad byte in the middle of a large frame with only part of it received", () => {
      const payload = text("x".repeat(1000));
      payload[10] = 0xff;
      const frame = serverFrame({ opcode: OP.TEXT, payload });
      const { receiver, events } = recordingReceiver();
      receiver.push(frame.subarray(0, 4 + 11)); // header (4 bytes) + 11 payload bytes
      assert.deepEqual(events, [["error", "ERR_INVALID_UTF8", 1007]]);
    });

    it("fails while pushing fragment 2 of a fragmented message, before fragment 3 arrives", () => {
      const fragment1 = serverFrame({ fin: false, opcode: OP.TEXT, payload: "κόσμε" });
      const fragment2 = serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: [0x61, 0xc0, 0x80] });
      const fragment3 = serverFrame({ opcode: OP.CONTINUATION, payload: "end" });
      const { receiver, events } = recordingReceiver();
      receiver.push(fragment1);
      assert.deepEqual(events, []);
      receiver.push(fragment2);
      assert.deepEqual(events, [["error", "ERR_INVALID_UTF8", 1007]]);
      receiver.push(fragment3);
      assert.deepEqual(events, [["error", "ERR_INVALID_UTF8", 1007]]);
      // And in every chunking, at the byte C0 (fragment 2's header is 2 bytes, then "a").
      expectError(
        concat(fragment1, fragment2, fragment3),
        "ERR_INVALID_UTF8",
        1007,
        fragment1.length + 2 + 1,
      );
    });

    it("fails on a sequence made impossible across a fragment boundary (ED | A0)", () => {
      const fragment1 = serverFrame({ fin: false, opcode: OP.TEXT, payload: [0x41, 0xed] });
      const fragment2 = serverFrame({ opcode: OP.CONTINUATION, payload: [0xa0, 0x80] });
      expectError(concat(fragment1, fragment2), "ERR_INVALID_UTF8", 1007, fragment1.length + 2);
    });

    // Autobahn|Testsuite 6.4.1 to 6.4.4: "κόσμε" then F4 90 80 80 (above U+10FFFF) then
    // "edited", sent in three fragments or three chunks of one frame. F4 90 fails at the 90.
    const kosme = text("κόσμε");
    const bad = hex("f4 90 80 80");
    const edited = text("edited");
    it("6.4.1/6.4.3: fails on F4 90 in fragment 2, before fragment 3 arrives", () => {
      const fragments = [
        serverFrame({ fin: false, opcode: OP.TEXT, payload: kosme }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: bad }),
        serverFrame({ opcode: OP.CONTINUATION, payload: edited }),
      ];
      expectError(concat(...fragments), "ERR_INVALID_UTF8", 1007, fragments[0].length + 2 + 1);
    });
    it("6.4.2/6.4.4: fails on F4 90 in the middle of one frame, before the rest arrives", () => {
      const frame = serverFrame({ opcode: OP.TEXT, payload: concat(kosme, bad, edited) });
      const { receiver, events } = recordingReceiver();
      receiver.push(frame.subarray(0, 2 + kosme.length + 1)); // up to F4: still a valid prefix
      assert.deepEqual(events, []);
      receiver.push(frame.subarray(2 + kosme.length + 1, 2 + kosme.length + 2)); // 90
      assert.deepEqual(events, [["error", "ERR_INVALID_UTF8", 1007]]);
      expectError(frame, "ERR_INVALID_UTF8", 1007, 2 + kosme.length + 1);
    });

    it("fails at the end of a message that ends inside a character", () => {
      // A single frame: E2 82 is a valid prefix of "€" until the frame ends.
      const frame = serverFrame({ opcode: OP.TEXT, payload: [0x41, 0xe2, 0x82] });
      expectError(frame, "ERR_INVALID_UTF8", 1007, frame.length - 1);
      // Fragmented: the final (empty) fragment ends the message.
      const fragments = concat(
        serverFrame({ fin: false, opcode: OP.TEXT, payload: [0x41, 0xe2, 0x82] }),
        serverFrame({ opcode: OP.CONTINUATION }),
      );
      expectError(fragments, "ERR_INVALID_UTF8", 1007, fragments.length - 1);
    });

    it("accepts a text message ending exactly on a character boundary after a pending prefix", () => {
      expectEvents(
        concat(
          serverFrame({ fin: false, opcode: OP.TEXT, payload: [0xf0, 0x9f] }),
          serverFrame({ opcode: OP.CONTINUATION, payload: [0x98, 0x80] }),
        ),
        [["message", "😀"]],
      );
    });
  });

  describe("a host's native decoder", () => {
    /** A receiver decoding with a recording decoder that marks its output. */
    function withDecoder(): { receiver: Receiver; events: Event[]; decoded: string[] } {
      const { events } = recordingReceiver();
      const decoded: string[] = [];
      const receiver = new Receiver(
        {
          onMessage: (data) => events.push(["message", data]),
          onPing: () => {},
          onPong: () => {},
          onClose: (code, reason) => events.push(["close", code, reason]),
          onError: (error) => events.push(["error", error.code, error.closeCode]),
        },
        roomy,
        (bytes) => {
          const value = new TextDecoder().decode(bytes);
          decoded.push(value);
          return `native:${value}`;
        },
      );
      return { receiver, events, decoded };
    }

    it("turns text messages and close reasons into strings", () => {
      const { receiver, events } = withDecoder();
      receiver.push(serverFrame({ opcode: OP.TEXT, fin: false, payload: "hé" }));
      receiver.push(serverFrame({ opcode: OP.CONTINUATION, payload: "llo" }));
      receiver.push(serverFrame({ opcode: OP.CLOSE, payload: [0x03, 0xe8, ...text("bye")] }));
      assert.deepEqual(events, [
        ["message", "native:héllo"],
        ["close", 1000, "native:bye"],
      ]);
    });

    it("never sees invalid UTF-8: validation stays the receiver's, failing with 1007 first", () => {
      const { receiver, events, decoded } = withDecoder();
      receiver.push(serverFrame({ opcode: OP.TEXT, payload: [0x41, 0xc0, 0x80] }));
      assert.deepEqual(events, [["error", ErrorCode.INVALID_UTF8, CloseCode.INVALID_PAYLOAD]]);
      assert.deepEqual(decoded, []);
    });
  });

  describe("a host's checked decoder (decodeChecked): a text message that arrives whole", () => {
    /** A receiver whose host validates and decodes at once, with Node's strict decoder; calls recorded. */
    function withChecked(): { receiver: Receiver; events: Event[]; checked: number[]; messages: string[] } {
      const events: Event[] = [];
      const checked: number[] = [];
      const messages: string[] = [];
      const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
      const receiver = new Receiver(
        {
          onMessage: (data) => events.push(["message", data]),
          onPing: () => {},
          onPong: () => {},
          onClose: (code, reason) => events.push(["close", code, reason]),
          onError: (error) => {
            events.push(["error", error.code, error.closeCode]);
            messages.push(error.message);
          },
        },
        roomy,
        (bytes) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes),
        (bytes) => {
          checked.push(bytes.length);
          try {
            return strict.decode(bytes);
          } catch {
            return undefined;
          }
        },
      );
      return { receiver, events, checked, messages };
    }

    it("hands it to decodeChecked in one piece, and the text to onMessage", () => {
      const { receiver, events, checked } = withChecked();
      receiver.push(concat(serverFrame({ opcode: OP.TEXT, payload: "héllo" }), serverFrame({ opcode: OP.TEXT, payload: "\ufeffbom" })));
      assert.deepEqual(events, [
        ["message", "héllo"],
        ["message", "\ufeffbom"],
      ]);
      assert.deepEqual(checked, [6, 6]);
    });

    it("does not use it for a message in pieces: the Utf8Validator checks those as they arrive", () => {
      const { receiver, events, checked } = withChecked();
      const frame = serverFrame({ opcode: OP.TEXT, payload: "héllo" });
      receiver.push(frame.subarray(0, 4));
      receiver.push(frame.subarray(4));
      receiver.push(serverFrame({ opcode: OP.TEXT, fin: false, payload: "a" }));
      receiver.push(serverFrame({ opcode: OP.CONTINUATION, payload: "b" }));
      assert.deepEqual(events, [
        ["message", "héllo"],
        ["message", "ab"],
      ]);
      assert.deepEqual(checked, []);
    });

    it("fails with 1007 when it says the bytes are not UTF-8, with the validator's message for what broke", () => {
      for (const [payload, expected] of [
        [[0x41, 0xc0, 0x80], /^invalid UTF-8 in text message$/],
        [[0x41, 0xe2, 0x82], /^invalid UTF-8 in text message \(truncated sequence at the end\)$/],
      ] as const) {
        const { receiver, events, messages } = withChecked();
        receiver.push(serverFrame({ opcode: OP.TEXT, payload: [...payload] }));
        receiver.push(serverFrame({ opcode: OP.TEXT, payload: "never" }));
        assert.deepEqual(events, [["error", ErrorCode.INVALID_UTF8, CloseCode.INVALID_PAYLOAD]]);
        assert.match(messages[0]!, expected);
      }
    });

    it("agrees with the Utf8Validator on 2,000 random byte strings", () => {
      let state = 0x1234567;
      const next = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
      const pool = [0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xa0, 0x90, 0x8f];
      for (let n = 0; n < 2000; n++) {
        const payload = Array.from({ length: 1 + (next() % 12) }, () => (next() % 3 === 0 ? next() : pool[next() % pool.length]!));
        const frame = serverFrame({ opcode: OP.TEXT, payload });
        const checked = withChecked();
        const plain = recordingReceiver();
        checked.receiver.push(frame);
        plain.receiver.push(frame);
        assert.deepEqual(checked.events, plain.events, `payload ${toHex(Uint8Array.from(payload))}`);
      }
    });
  });

  describe("limits: fail with 1009 from the header, before any payload is buffered", () => {
    const small: ReceiverLimits = { maxMessageBytes: 1000, maxFrameBytes: 300 };

    it("a frame over maxFrameBytes: ERR_FRAME_TOO_BIG with the header alone", () => {
      expectError(frameHeader({ opcode: OP.BINARY, length: 301 }), "ERR_FRAME_TOO_BIG", 1009, 3, small);
      expectError(frameHeader({ opcode: OP.TEXT, length: 70000 }), "ERR_FRAME_TOO_BIG", 1009, 9, small);
      // The same frames with their payloads give the same single error.
      expectError(serverFrame({ opcode: OP.BINARY, payload: pattern(301) }), "ERR_FRAME_TOO_BIG", 1009, 3, small);
    });

    it("a frame of exactly maxFrameBytes is accepted", () => {
      expectEvents(serverFrame({ opcode: OP.BINARY, payload: pattern(300) }), [["message", pattern(300)]], small);
    });

    it("a fragmented message over maxMessageBytes: ERR_MESSAGE_TOO_BIG at the header of the fragment that overflows", () => {
      const fragments = [
        serverFrame({ fin: false, opcode: OP.TEXT, payload: "a".repeat(300) }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: "b".repeat(300) }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: "c".repeat(300) }),
      ];
      const overflowing = frameHeader({ opcode: OP.CONTINUATION, length: 101 }); // 900 + 101 > 1000
      const bytes = concat(...fragments, overflowing);
      const { receiver, events } = recordingReceiver(small);
      receiver.push(bytes);
      assert.deepEqual(events, [["error", "ERR_MESSAGE_TOO_BIG", 1009]]);
      const { at } = errorAt(bytes, small);
      assert.equal(at, bytes.length - 1, "reported at the last header byte of the 4th fragment");
    });

    it("a fragmented message of exactly maxMessageBytes is accepted", () => {
      const bytes = concat(
        serverFrame({ fin: false, opcode: OP.BINARY, payload: pattern(300, 1) }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: pattern(300, 2) }),
        serverFrame({ fin: false, opcode: OP.CONTINUATION, payload: pattern(300, 3) }),
        serverFrame({ opcode: OP.CONTINUATION, payload: pattern(100, 4) }),
      );
      const { receiver, events } = recordingReceiver(small);
      receiver.push(bytes);
      assert.deepEqual(events, [
        ["message", concat(pattern(300, 1), pattern(300, 2), pattern(300, 3), pattern(100, 4))],
      ]);
    });

    it("a single frame over maxMessageBytes but within maxFrameBytes: ERR_MESSAGE_TOO_BIG", () => {
      const limits = { maxMessageBytes: 100, maxFrameBytes: 1000 };
      expectError(frameHeader({ opcode: OP.TEXT, length: 101 }), "ERR_MESSAGE_TOO_BIG", 1009, 1, limits);
    });

    it("64-bit lengths beyond 2^32 and 2^53 are too big, without precision errors", () => {
      const limits = { maxMessageBytes: 0x7fffffff, maxFrameBytes: 0x7fffffff };
      for (const length of [2n ** 31n, 2n ** 32n, 2n ** 32n + 1n, 2n ** 53n + 1n, 2n ** 63n - 1n]) {
        const header = frameHeader({ opcode: OP.BINARY, length });
        expectError(header, "ERR_FRAME_TOO_BIG", 1009, 9, limits);
        // The message names the limit.
        let message = "";
        const withMessage = new Receiver(
          {
            onMessage: () => assert.fail("no message"),
            onPing: () => assert.fail("no ping"),
            onPong: () => assert.fail("no pong"),
            onClose: () => assert.fail("no close"),
            onError: (error) => (message = error.message),
          },
          limits,
        );
        withMessage.push(header);
        assert.match(message, /maxFrameBytes \(2147483647 bytes\)/);
      }
      // 2^31 - 1 itself is allowed by those limits: the header alone raises nothing.
      const { receiver, events } = recordingReceiver(limits);
      receiver.push(frameHeader({ opcode: OP.BINARY, length: 0x7fffffff }));
      assert.deepEqual(events, []);
      assert.equal(receiver.stopped, false);
    });

    it("control frames are bounded by 125 bytes, not by a smaller maxFrameBytes", () => {
      const tiny = { maxMessageBytes: 10, maxFrameBytes: 10 };
      expectEvents(serverFrame({ opcode: OP.PING, payload: pattern(100) }), [["ping", pattern(100)]], tiny);
      expectEvents(serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, "a long reason, over ten bytes") }), [
        ["close", 1000, "a long reason, over ten bytes"],
      ], tiny);
    });

    it("with limits of 0 only empty messages pass", () => {
      const zero = { maxMessageBytes: 0, maxFrameBytes: 0 };
      expectEvents(hex("81 00"), [["message", ""]], zero);
      expectError(hex("81 01 41"), "ERR_FRAME_TOO_BIG", 1009, 1, zero);
    });

    it("refuses limits that are not integers from 0 to 2^31-1, naming them", () => {
      const bad: Array<[string, ReceiverLimits]> = [
        ["maxMessageBytes", { maxMessageBytes: -1, maxFrameBytes: 10 }],
        ["maxMessageBytes", { maxMessageBytes: 1.5, maxFrameBytes: 10 }],
        ["maxMessageBytes", { maxMessageBytes: Number.NaN, maxFrameBytes: 10 }],
        ["maxFrameBytes", { maxMessageBytes: 10, maxFrameBytes: 2 ** 31 }],
        ["maxFrameBytes", { maxMessageBytes: 10, maxFrameBytes: "10" as unknown as number }],
      ];
      for (const [name, limits] of bad) {
        assert.throws(
          () => recordingReceiver(limits),
          (error: unknown) =>
            error instanceof WebSocketError &&
            error.code === "ERR_INVALID_OPTION" &&
            error.message.includes(name),
          name,
        );
      }
    });
  });

  describe("delivery and handlers", () => {
    it("delivers a payload that arrived whole in one chunk as a view of it (no copy)", () => {
      const chunk = serverFrame({ opcode: OP.BINARY, payload: [1, 2, 3] });
      let data: Uint8Array | undefined;
      const receiver = new Receiver(
        {
          onMessage: (message) => (data = message as Uint8Array),
          onPing: () => {},
          onPong: () => {},
          onClose: () => {},
          onError: (error) => assert.fail(error),
        },
        roomy,
      );
      receiver.push(chunk);
      assert.ok(data);
      assert.equal(data.buffer, chunk.buffer);
      assert.equal(data.byteOffset, 2);
      assert.deepEqual(data, Uint8Array.of(1, 2, 3));
    });

    it("keeps bytes in order when a handler pushes more bytes re-entrantly", () => {
      const events: string[] = [];
      const receiver: Receiver = new Receiver(
        {
          onMessage: (message) => {
            events.push(String(message));
            if (message === "A") receiver.push(serverFrame({ opcode: OP.TEXT, payload: "C" }));
          },
          onPing: () => events.push("ping"),
          onPong: () => {},
          onClose: () => {},
          onError: (error) => assert.fail(error),
        },
        roomy,
      );
      receiver.push(
        concat(
          serverFrame({ opcode: OP.TEXT, payload: "A" }),
          serverFrame({ opcode: OP.PING }),
          serverFrame({ opcode: OP.TEXT, payload: "B" }),
        ),
      );
      assert.deepEqual(events, ["A", "ping", "B", "C"]);
    });

    it("does not nest: a handler that pushes from every message does not grow the stack", () => {
      // 100000 messages, each pushed by the handler of the one before.
      const frame = serverFrame({ opcode: OP.BINARY, payload: [7] });
      let count = 0;
      const receiver: Receiver = new Receiver(
        {
          onMessage: () => {
            if (++count < 100_000) receiver.push(frame);
          },
          onPing: () => {},
          onPong: () => {},
          onClose: () => {},
          onError: (error) => assert.fail(error),
        },
        roomy,
      );
      receiver.push(frame);
      assert.equal(count, 100_000);
    });

    it("lets a handler's exception propagate and parses the rest at the next push", () => {
      const events: string[] = [];
      let throwOnce = true;
      const receiver = new Receiver(
        {
          onMessage: (message) => {
            events.push(String(message));
            if (throwOnce) {
              throwOnce = false;
              throw new Error("handler failed");
            }
          },
          onPing: () => {},
          onPong: () => {},
          onClose: (code) => events.push(`close ${code}`),
          onError: (error) => assert.fail(error),
        },
        roomy,
      );
      const chunk = concat(
        serverFrame({ opcode: OP.TEXT, payload: "first" }),
        serverFrame({ fin: false, opcode: OP.TEXT, payload: "sec" }),
      );
      assert.throws(() => receiver.push(chunk), /handler failed/);
      assert.deepEqual(events, ["first"]);
      assert.equal(receiver.stopped, false);
      // The bytes after the throwing handler's frame were kept, ahead of the new ones.
      receiver.push(serverFrame({ opcode: OP.CONTINUATION, payload: "ond" }));
      receiver.push(serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000) }));
      assert.deepEqual(events, ["first", "second", "close 1000"]);
    });

    it("stays stopped when the error handler throws", () => {
      let errors = 0;
      const receiver = new Receiver(
        {
          onMessage: () => assert.fail("no message"),
          onPing: () => {},
          onPong: () => {},
          onClose: () => {},
          onError: () => {
            errors++;
            throw new Error("error handler failed");
          },
        },
        roomy,
      );
      assert.throws(() => receiver.push(hex("f1 00 81 01 41")), /error handler failed/);
      assert.equal(receiver.stopped, true);
      receiver.push(hex("f1 00"));
      assert.equal(errors, 1);
    });

    it("ignores pushes after the stop, including empty ones", () => {
      const { receiver, events } = recordingReceiver();
      receiver.push(hex("88 00"));
      receiver.push(new Uint8Array(0));
      receiver.push(hex("81 01 41"));
      assert.deepEqual(events, [["close", 1005, ""]]);
      assert.equal(receiver.stopped, true);
    });

    it("accepts empty pushes while running", () => {
      const { receiver, events } = recordingReceiver();
      receiver.push(new Uint8Array(0));
      receiver.push(hex("81"));
      receiver.push(new Uint8Array(0));
      receiver.push(hex("01 41"));
      assert.deepEqual(events, [["message", "A"]]);
    });
  });

  describe("any input", () => {
    it("never throws, stops at most once, and gives the same events in any chunking (500 random streams)", () => {
      // xorshift32: reproducible.
      let state = 2024;
      const next = () => {
        state ^= state << 13;
        state >>>= 0;
        state ^= state >>> 17;
        state ^= state << 5;
        state >>>= 0;
        return state / 0x100000000;
      };
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
      const opcodes = [OP.TEXT, OP.BINARY, OP.CONTINUATION, OP.CONTINUATION, OP.PING, OP.PONG, OP.CLOSE, 3, 0xb];
      const payloads: PayloadLike[] = ["", "a", "κόσμε", [0xc3], [0xa9], [0xed, 0xa0, 0x80], [0xf4, 0x90], pattern(130)];
      const limits = { maxMessageBytes: 200, maxFrameBytes: 150 };
      for (let round = 0; round < 500; round++) {
        const parts: Uint8Array[] = [];
        const count = 1 + Math.floor(next() * 6);
        for (let i = 0; i < count; i++) {
          const r = next();
          if (r < 0.85) {
            const opcode = pick(opcodes);
            let payload = toBytes(pick(payloads));
            if (opcode === OP.CLOSE && payload.length > 0) {
              payload = closeBody(pick([1000, 1005, 4000]), payload.subarray(0, 100));
            }
            parts.push(
              serverFrame({
                fin: next() < 0.7,
                rsv: next() < 0.05 ? 4 : 0,
                opcode,
                payload,
                mask: next() < 0.03 ? [1, 2, 3, 4] : undefined,
              }),
            );
          } else {
            parts.push(Uint8Array.from({ length: Math.floor(next() * 12) }, () => Math.floor(next() * 256)));
          }
        }
        const bytes = concat(...parts);
        const whole = recordingReceiver(limits);
        whole.receiver.push(bytes);
        const stops = whole.events.filter(([kind]) => kind === "close" || kind === "error").length;
        assert.ok(stops <= 1, "at most one close or error");
        assert.equal(whole.receiver.stopped, stops === 1);
        const byBytes = recordingReceiver(limits);
        for (let i = 0; i < bytes.length; i++) byBytes.receiver.push(bytes.subarray(i, i + 1));
        assert.deepEqual(byBytes.events, whole.events, `round ${round}, one byte at a time`);
        const randomChunks = recordingReceiver(limits);
        for (let at = 0; at < bytes.length; ) {
          const size = 1 + Math.floor(next() * 20);
          randomChunks.receiver.push(bytes.subarray(at, at + size));
          at += size;
        }
        assert.deepEqual(randomChunks.events, whole.events, `round ${round}, random chunks`);
      }
    });
  });

  // The helpers themselves: a test that cannot fail is a defect.
  describe("test helpers", () => {
    it("chunkings cover whole, every split and single bytes", () => {
      const ways = [...chunkings(hex("01 02 03"))].map(([how, chunks]) => [how, chunks.map((c) => Array.from(c))]);
      assert.deepEqual(ways, [
        ["whole", [[1, 2, 3]]],
        ["split at 1", [[1], [2, 3]]],
        ["split at 2", [[1, 2], [3]]],
        ["one byte at a time", [[1], [2], [3]]],
      ]);
    });

    it("serverFrame builds the section 5.7 examples", () => {
      assert.deepEqual(serverFrame({ opcode: OP.TEXT, payload: "Hello" }), hex("81 05 48 65 6c 6c 6f"));
      assert.deepEqual(
        serverFrame({ opcode: OP.TEXT, payload: "Hello", mask: [0x37, 0xfa, 0x21, 0x3d] }),
        hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
      );
      assert.deepEqual(serverFrame({ fin: false, opcode: OP.TEXT, payload: "Hel" }), hex("01 03 48 65 6c"));
      assert.deepEqual(frameHeader({ opcode: OP.BINARY, length: 256 }), hex("82 7e 01 00"));
      assert.deepEqual(frameHeader({ opcode: OP.BINARY, length: 65536 }), hex("82 7f 00 00 00 00 00 01 00 00"));
      assert.deepEqual(toBytes([1, 2]), Uint8Array.of(1, 2));
    });
  });
});
