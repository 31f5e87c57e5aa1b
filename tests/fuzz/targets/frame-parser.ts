/**
 * Fuzz target: the frame parser (src/websocket/receiver.ts) against the reference model of
 * RFC 6455 section 5 (tests/fuzz/rfc6455-model.ts). Each input is a server's byte stream;
 * fed whole, cut at hash-chosen places, byte by byte, and with the parser paused after every
 * message and resumed (the client's flow control), the parser must report exactly the
 * model's events: the same messages, pings, pongs and close, or the same error with the same
 * close code, at the same point. It never throws, and holds no more than its limits allow.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { WebSocketError } from "../../../src/shared/errors.js";
import { Receiver, type ReceiverLimits } from "../../../src/websocket/receiver.js";
import { encodeFrame, expectedEvents, hexOf, type FrameSpec, type ModelEvent } from "../rfc6455-model.js";
import { chunkings, type FuzzTarget } from "../target.js";
import { concat } from "../../support/frames.js";

/** Small limits, so inputs of a few hundred bytes reach them. */
const LIMITS: ReceiverLimits = { maxMessageBytes: 600, maxFrameBytes: 300 };

/** What the parser reported, as the model writes events. */
function parse(chunks: readonly Uint8Array[], pauseEachMessage: boolean): ModelEvent[] {
  const events: ModelEvent[] = [];
  const receiver: Receiver = new Receiver(
    {
      onMessage: (data) => {
        events.push(typeof data === "string" ? { event: "text", data } : { event: "binary", data: hexOf(data) });
        if (pauseEachMessage) receiver.pause();
      },
      onPing: (payload) => events.push({ event: "ping", data: hexOf(payload) }),
      onPong: (payload) => events.push({ event: "pong", data: hexOf(payload) }),
      onClose: (code, reason) => events.push({ event: "close", code, reason }),
      onError: (error) => {
        assert.ok(error instanceof WebSocketError, `onError got ${String(error)}`);
        events.push({ event: "error", code: error.code, closeCode: error.closeCode! });
      },
    },
    LIMITS,
  );
  const held = receiver as unknown as { message?: Uint8Array; payload?: Uint8Array; pending: Uint8Array[] };
  for (const chunk of chunks) {
    receiver.push(chunk);
    while (receiver.isPaused) receiver.resume();
    // Memory: one message buffer of at most maxMessageBytes, one frame's payload, nothing queued.
    assert.ok((held.message?.length ?? 0) <= LIMITS.maxMessageBytes, `message buffer of ${held.message?.length} bytes`);
    assert.ok((held.payload?.length ?? 0) <= Math.max(LIMITS.maxFrameBytes, 125), `payload buffer of ${held.payload?.length} bytes`);
    assert.equal(held.pending.length, 0, "input left unparsed");
  }
  return events;
}

const utf8 = new TextEncoder();
const textBytes = fc.string({ unit: "binary", maxLength: 60 }).map((text) => utf8.encode(text));
const payload = fc.oneof({ weight: 3, arbitrary: textBytes }, { weight: 2, arbitrary: fc.uint8Array({ maxLength: 140 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 320 }) });
const closeCode = fc.oneof(fc.constantFrom(1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1014, 1015, 1016, 2999, 3000, 4999, 5000, 0, 65535), fc.nat(65535));
const closePayload = fc.tuple(closeCode, textBytes).map(([code, reason]) => Uint8Array.from([code >> 8, code & 0xff, ...reason.subarray(0, 123)]));

/** A frame as a server sends it: mostly right, sometimes not. */
const frame: fc.Arbitrary<FrameSpec> = fc.record({
  fin: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  rsv: fc.oneof({ weight: 20, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(7) }),
  opcode: fc.oneof({ weight: 20, arbitrary: fc.constantFrom(0, 1, 2, 8, 9, 10) }, { weight: 1, arbitrary: fc.nat(15) }),
  payload,
  lengthForm: fc.oneof({ weight: 20, arbitrary: fc.constant("minimal" as const) }, { weight: 1, arbitrary: fc.constantFrom(16 as const, 64 as const) }),
  masked: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
}).chain((spec) => (spec.opcode === 8 ? closePayload.map((body) => ({ ...spec, payload: body })) : fc.constant(spec)));

/** A valid message, fragmented at random, with control frames between its fragments. */
const message: fc.Arbitrary<FrameSpec[]> = fc
  .tuple(fc.boolean(), payload, fc.array(fc.nat(), { maxLength: 4 }), fc.array(fc.constantFrom(9, 10), { maxLength: 2 }))
  .map(([isText, bytes, cuts, controls]) => {
    const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
    const pieces: Uint8Array[] = [];
    let from = 0;
    for (const point of [...points, bytes.length]) {
      pieces.push(bytes.subarray(from, point));
      from = point;
    }
    const frames: FrameSpec[] = [];
    pieces.forEach((piece, i) => {
      if (i > 0 && controls.length > 0) frames.push({ fin: true, rsv: 0, opcode: controls.pop()!, payload: piece.subarray(0, 20), lengthForm: "minimal", masked: false });
      frames.push({ fin: i === pieces.length - 1, rsv: 0, opcode: i === 0 ? (isText ? 1 : 2) : 0, payload: piece, lengthForm: "minimal", masked: false });
    });
    return frames;
  });

const stream = fc.oneof(
  { weight: 3, arbitrary: fc.array(message, { maxLength: 4 }).map((messages) => messages.flat()) },
  { weight: 2, arbitrary: fc.array(fc.oneof(message, frame.map((spec) => [spec])), { maxLength: 5 }).map((groups) => groups.flat()) },
);

export const framesTarget: FuzzTarget = {
  name: "frames",
  about: "src/websocket/receiver.ts against a reference model of RFC 6455 section 5 (tests/fuzz/rfc6455-model.ts), any chunking",
  inputs: stream.map((frames) => concat(...frames.map(encodeFrame))),
  check(bytes) {
    const expected = expectedEvents(bytes, LIMITS);
    for (const [way, chunks] of chunkings(bytes, 600)) {
      assert.deepEqual(parse(chunks, false), expected, `fed ${way}`);
    }
    assert.deepEqual(parse([bytes], true), expected, "paused after every message");
  },
};
