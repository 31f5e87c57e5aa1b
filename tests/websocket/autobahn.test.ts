/**
 * The Autobahn|Testsuite client cases, sections 1 to 7 and 9, re-expressed as data and
 * played by a scripted raw-TCP server against src/websocket/client.ts, on both engines
 * (tests/support/engines.ts): on the Node host, and the same compiled client inside the XS
 * engine (tests/support/on-engine.ts), echoing from inside XS.
 *
 * Autobahn's fuzzing server cannot run here (no internet, no docker), so each case's frames,
 * chopping and pauses are taken from its public definition (autobahntestsuite/case/*.py)
 * and its expectation is checked strictly: where Autobahn accepts a "non-strict" outcome
 * (no echo before a failure, a dropped TCP connection instead of a close frame, failing
 * only at the end of an invalid UTF-8 message), we require the strict one.
 *
 * The client is the echo agent: every message goes back as it came (text as text, binary
 * as binary), with limits raised to 16 MiB plus headroom.
 */
import assert from "node:assert/strict";
import { ErrorCode, WebSocketError, type ErrorCodeValue } from "../../src/shared/errors.js";
import { ReadyState } from "../../src/websocket/client.js";
import {
  RawServer,
  closePayload,
  describeEvent,
  describeFrame,
  encodeFrame,
  repeatTo,
  startClient,
  type ClientEvent,
  type ClientRun,
  type RawPeer,
  type ServerFrame,
} from "../support/raw-server.js";
import { ENGINES, useEngine, type EngineName } from "../support/engines.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Section 9 sends messages of 16 MiB: the echo agent's limits, with headroom. */
const ECHO_LIMIT_BYTES = 16 * MiB + 64 * KiB;
const ECHO_LIMITS = {
  maxMessageBytes: ECHO_LIMIT_BYTES,
  maxFrameBytes: ECHO_LIMIT_BYTES,
  // 7.1.6 echoes two messages back to back; 9.x one message of up to 16 MiB.
  maxBufferedBytes: 2 * ECHO_LIMIT_BYTES,
  handshakeTimeoutMs: 2000,
  // A case that goes wrong must not hang on the 5 s default.
  closeTimeoutMs: 1500,
};

/** Autobahn's "sync" writes each frame on its own; this pause keeps them in separate segments. */
const SYNC_PAUSE_MS = 5;

// --- the case language -------------------------------------------------------------------

/** What the client sends back: a data message (reassembled) or a pong. */
interface Reply {
  type: "text" | "binary" | "pong";
  data: Buffer;
}

type Step =
  /** Frames: one write for all (Autobahn's default), one write each (`sync`), or each chopped. */
  | { send: ServerFrame[]; chop?: number; sync?: boolean }
  /** Raw bytes (a frame split at chosen places). */
  | { raw: Uint8Array; chop?: number }
  | { pause: number }
  /** The client must send nothing for this long (Autobahn's expected "timeout"). */
  | { silence: number }
  /** The client must send `expect` within `within` ms, before the next step. */
  | { expect: Reply; within: number }
  /**
   * Fail fast: the client's close frame must arrive within this many ms, BEFORE the next
   * steps are sent; if it does not, the rest is sent and the case fails.
   */
  | { failFast: number };

type Outcome =
  /** The client echoes (`replies`), then the server closes 1000 and expects 1000 back, clean. */
  | { kind: "echo" }
  /** The client fails the connection: replies before it, then its close frame with `closeCode`. */
  | { kind: "fail"; closeCode: number; error: ErrorCodeValue }
  /**
   * The steps end with the server's close: the client answers with one of `answers`
   * (undefined: no code), and reports `code`/`reason`, clean.
   */
  | { kind: "answer"; answers: Array<number | undefined>; code: number; reason?: string }
  /** 2.10, 2.11: pongs for some of these pings, in order, the last one included. */
  | { kind: "pongs"; pings: Buffer[] };

interface AutobahnCase {
  id: string;
  title: string;
  steps: Step[];
  /** Client events expected before its close frame (or before the server's close), in order. */
  replies?: Reply[];
  outcome: Outcome;
  /** Bound for each awaited reply, ms (large for section 9). */
  waitMs?: number;
  /** Builds steps and replies when the case runs (section 9: megabytes not held by the table). */
  build?: () => { steps: Step[]; replies: Reply[] };
}

// --- data helpers ------------------------------------------------------------------------

/** Bytes written in a JS string as \xNN escapes (as Autobahn's Python 2 byte strings are). */
const bytes = (latin1: string): Buffer => Buffer.from(latin1, "latin1");
const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");
const text = (data: Buffer | string): Reply => ({ type: "text", data: typeof data === "string" ? utf8(data) : data });
const binary = (data: Buffer): Reply => ({ type: "binary", data });
const pong = (data: Buffer | string): Reply => ({ type: "pong", data: typeof data === "string" ? utf8(data) : data });
const textFrame = (payload: Buffer | string, fin = true): ServerFrame => ({ opcode: 1, payload, fin });
const binaryFrame = (payload: Buffer, fin = true): ServerFrame => ({ opcode: 2, payload, fin });
const continuation = (payload: Buffer | string, fin: boolean): ServerFrame => ({ opcode: 0, payload, fin });
const pingFrame = (payload: Buffer | string = ""): ServerFrame => ({ opcode: 9, payload });
const pongFrame = (payload: Buffer | string = ""): ServerFrame => ({ opcode: 10, payload });
const closeFrame = (code?: number, reason: Buffer | string = ""): ServerFrame => ({ opcode: 8, payload: closePayload(code, reason) });
/** A message as fragments of `size` bytes (Autobahn's sendMessage with fragmentSize). */
function fragments(opcode: 1 | 2, payload: Buffer, size: number): ServerFrame[] {
  if (payload.length <= size) return [{ opcode, payload }];
  const frames: ServerFrame[] = [];
  for (let at = 0; at < payload.length; at += size) {
    frames.push({
      opcode: at === 0 ? opcode : 0,
      payload: payload.subarray(at, Math.min(payload.length, at + size)),
      fin: at + size >= payload.length,
    });
  }
  return frames;
}
/** The header of a single unfragmented frame of `length` bytes, for sending its payload in parts. */
function frameHead(opcode: number, length: number): Buffer {
  return encodeFrame({ opcode, payload: Buffer.alloc(length) }).subarray(0, length < 126 ? 2 : length < 65536 ? 4 : 10);
}

const HELLO = "Hello, world!";
/** Autobahn's 8 non-UTF-8 bytes (2.3, 3.5). */
const NON_UTF8 = bytes("\x00\xff\xfe\xfd\xfc\xfb\x00\xff");
/** "κόσμε" in UTF-8, Autobahn's reference string for sections 6 and 7. */
const KOSME = bytes("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");

// --- sections 1 to 5 ---------------------------------------------------------------------

const SECTION_1: AutobahnCase[] = [
  ...[0, 125, 126, 127, 128, 65535, 65536].map((length, i): AutobahnCase => ({
    id: `1.1.${i + 1}`,
    title: `text message of ${length} bytes is echoed`,
    steps: [{ send: [textFrame(repeatTo("*", length))] }],
    replies: [text(repeatTo("*", length))],
    outcome: { kind: "echo" },
  })),
  {
    id: "1.1.8",
    title: "text message of 65536 bytes written in chops of 997 bytes is echoed",
    steps: [{ send: [textFrame(repeatTo("*", 65536))], chop: 997 }],
    replies: [text(repeatTo("*", 65536))],
    outcome: { kind: "echo" },
  },
  ...[0, 125, 126, 127, 128, 65535, 65536].map((length, i): AutobahnCase => ({
    id: `1.2.${i + 1}`,
    title: `binary message of ${length} bytes is echoed`,
    steps: [{ send: [binaryFrame(repeatTo("\xfe", length))] }],
    replies: [binary(repeatTo("\xfe", length))],
    outcome: { kind: "echo" },
  })),
  {
    id: "1.2.8",
    title: "binary message of 65536 bytes written in chops of 997 bytes is echoed",
    steps: [{ send: [binaryFrame(repeatTo("\xfe", 65536))], chop: 997 }],
    replies: [binary(repeatTo("\xfe", 65536))],
    outcome: { kind: "echo" },
  },
];

const TEN_PINGS = Array.from({ length: 10 }, (_, i) => utf8(`payload-${i}`));

const SECTION_2: AutobahnCase[] = [
  { id: "2.1", title: "ping without payload gets an empty pong", steps: [{ send: [pingFrame()] }], replies: [pong("")], outcome: { kind: "echo" } },
  { id: "2.2", title: "ping with a small text payload gets it back", steps: [{ send: [pingFrame(HELLO)] }], replies: [pong(HELLO)], outcome: { kind: "echo" } },
  { id: "2.3", title: "ping with a small non-UTF-8 payload gets it back", steps: [{ send: [pingFrame(NON_UTF8)] }], replies: [pong(NON_UTF8)], outcome: { kind: "echo" } },
  {
    id: "2.4",
    title: "ping with a 125-byte payload gets it back",
    steps: [{ send: [pingFrame(repeatTo("\xfe", 125))] }],
    replies: [pong(repeatTo("\xfe", 125))],
    outcome: { kind: "echo" },
  },
  {
    id: "2.5",
    title: "ping with a 126-byte payload fails the connection with 1002",
    steps: [{ send: [pingFrame(repeatTo("\xfe", 126))] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.CONTROL_TOO_LONG },
  },
  {
    id: "2.6",
    title: "ping with a 125-byte payload written byte by byte gets it back",
    steps: [{ send: [pingFrame(repeatTo("\xfe", 125))], chop: 1 }],
    replies: [pong(repeatTo("\xfe", 125))],
    outcome: { kind: "echo" },
  },
  {
    id: "2.7",
    title: "unsolicited empty pong is ignored; the close that follows is answered",
    steps: [{ send: [pongFrame(), closeFrame(1000)] }],
    outcome: { kind: "answer", answers: [1000], code: 1000 },
  },
  {
    id: "2.8",
    title: "unsolicited pong with payload is ignored; the close that follows is answered",
    steps: [{ send: [pongFrame("unsolicited pong payload"), closeFrame(1000)] }],
    outcome: { kind: "answer", answers: [1000], code: 1000 },
  },
  {
    id: "2.9",
    title: "unsolicited pong then ping: only the ping is answered",
    steps: [{ send: [pongFrame("unsolicited pong payload"), pingFrame("ping payload")] }],
    replies: [pong("ping payload")],
    outcome: { kind: "echo" },
  },
  {
    id: "2.10",
    title: "10 pings with payload: pongs in order, the last one at least",
    steps: [{ send: TEN_PINGS.map((payload) => pingFrame(payload)) }],
    outcome: { kind: "pongs", pings: TEN_PINGS },
  },
  {
    id: "2.11",
    title: "10 pings with payload written byte by byte: pongs in order, the last one at least",
    steps: [{ send: TEN_PINGS.map((payload) => pingFrame(payload)), chop: 1 }],
    outcome: { kind: "pongs", pings: TEN_PINGS },
  },
];

const RESERVED_BITS = { kind: "fail", closeCode: 1002, error: ErrorCode.RESERVED_BITS } as const;

const SECTION_3: AutobahnCase[] = [
  { id: "3.1", title: "text message with RSV = 1 fails with 1002", steps: [{ send: [{ ...textFrame(HELLO), rsv: 1 }] }], outcome: RESERVED_BITS },
  {
    id: "3.2",
    title: "text, then text with RSV = 2, then ping: first echoed, then 1002, no pong",
    steps: [{ send: [textFrame(HELLO), { ...textFrame(HELLO), rsv: 2 }, pingFrame()] }],
    replies: [text(HELLO)],
    outcome: RESERVED_BITS,
  },
  {
    id: "3.3",
    title: "text, then text with RSV = 3, then ping, frame by frame: first echoed, then 1002, no pong",
    steps: [{ send: [textFrame(HELLO), { ...textFrame(HELLO), rsv: 3 }, pingFrame()], sync: true }],
    replies: [text(HELLO)],
    outcome: RESERVED_BITS,
  },
  {
    id: "3.4",
    title: "text, then text with RSV = 4, then ping, byte by byte: first echoed, then 1002, no pong",
    steps: [{ send: [textFrame(HELLO), { ...textFrame(HELLO), rsv: 4 }, pingFrame()], chop: 1 }],
    replies: [text(HELLO)],
    outcome: RESERVED_BITS,
  },
  { id: "3.5", title: "binary message with RSV = 5 fails with 1002", steps: [{ send: [{ ...binaryFrame(NON_UTF8), rsv: 5 }] }], outcome: RESERVED_BITS },
  // Autobahn describes 3.6 as "Send Ping with RSV = 6" while its code sends a binary frame:
  // both are played.
  { id: "3.6", title: "binary message with RSV = 6 fails with 1002", steps: [{ send: [{ ...binaryFrame(utf8(HELLO)), rsv: 6 }] }], outcome: RESERVED_BITS },
  { id: "3.6 (as described)", title: "ping with RSV = 6 fails with 1002, no pong", steps: [{ send: [{ ...pingFrame(HELLO), rsv: 6 }] }], outcome: RESERVED_BITS },
  { id: "3.7", title: "close with RSV = 7 fails with 1002", steps: [{ send: [{ ...closeFrame(), rsv: 7 }] }], outcome: RESERVED_BITS },
];

const RESERVED_OPCODE = { kind: "fail", closeCode: 1002, error: ErrorCode.RESERVED_OPCODE } as const;

function reservedOpcodeCases(group: string, opcodes: number[], kind: string): AutobahnCase[] {
  const [a, b, c, d, e] = opcodes as [number, number, number, number, number];
  return [
    { id: `${group}.1`, title: `frame with reserved ${kind} opcode ${a} fails with 1002`, steps: [{ send: [{ opcode: a }] }], outcome: RESERVED_OPCODE },
    {
      id: `${group}.2`,
      title: `frame with reserved ${kind} opcode ${b} and a payload fails with 1002`,
      steps: [{ send: [{ opcode: b, payload: "reserved opcode payload" }] }],
      outcome: RESERVED_OPCODE,
    },
    {
      id: `${group}.3`,
      title: `text, then reserved ${kind} opcode ${c}, then ping: text echoed, then 1002, no pong`,
      steps: [{ send: [textFrame(HELLO), { opcode: c }, pingFrame()] }],
      replies: [text(HELLO)],
      outcome: RESERVED_OPCODE,
    },
    {
      id: `${group}.4`,
      title: `text, then reserved ${kind} opcode ${d} with payload, then ping: text echoed, then 1002, no pong`,
      steps: [{ send: [textFrame(HELLO), { opcode: d, payload: HELLO }, pingFrame()] }],
      replies: [text(HELLO)],
      outcome: RESERVED_OPCODE,
    },
    {
      id: `${group}.5`,
      title: `text, then reserved ${kind} opcode ${e} with payload, then ping, byte by byte: text echoed, then 1002, no pong`,
      steps: [{ send: [textFrame(HELLO), { opcode: e, payload: HELLO }, pingFrame()], chop: 1 }],
      replies: [text(HELLO)],
      outcome: RESERVED_OPCODE,
    },
  ];
}

const SECTION_4: AutobahnCase[] = [
  ...reservedOpcodeCases("4.1", [3, 4, 5, 6, 7], "non-control"),
  ...reservedOpcodeCases("4.2", [11, 12, 13, 14, 15], "control"),
];

const FRAGMENTED_CONTROL = { kind: "fail", closeCode: 1002, error: ErrorCode.FRAGMENTED_CONTROL } as const;
const UNEXPECTED_CONTINUATION = { kind: "fail", closeCode: 1002, error: ErrorCode.UNEXPECTED_CONTINUATION } as const;

/** The frames of 5.19/5.20, with Autobahn's 1 s pause; the first pong must come during it. */
function case519(sync: boolean): Step[] {
  return [
    { send: [textFrame("fragment1", false), continuation("fragment2", false), pingFrame("pongme 1!")], sync },
    // "The peer immediately answers the first Ping before it has received the last text
    // message fragment."
    { expect: pong("pongme 1!"), within: 1000 },
    { pause: 1000 },
    {
      send: [continuation("fragment3", false), continuation("fragment4", false), pingFrame("pongme 2!"), continuation("fragment5", true)],
      sync,
    },
  ];
}

function noStartCases(first: number, fin: boolean): AutobahnCase[] {
  const what = `continuation with FIN = ${fin} and nothing to continue, then a text message`;
  const frames = [continuation("non-continuation payload", fin), textFrame(HELLO)];
  return [
    { id: `5.${first}`, title: `${what}, in one write, fails with 1002`, steps: [{ send: frames }], outcome: UNEXPECTED_CONTINUATION },
    { id: `5.${first + 1}`, title: `${what}, frame by frame, fails with 1002`, steps: [{ send: frames, sync: true }], outcome: UNEXPECTED_CONTINUATION },
    { id: `5.${first + 2}`, title: `${what}, byte by byte, fails with 1002`, steps: [{ send: frames, chop: 1 }], outcome: UNEXPECTED_CONTINUATION },
  ];
}

const SECTION_5: AutobahnCase[] = [
  {
    id: "5.1",
    title: "ping fragmented into 2 fragments fails with 1002",
    steps: [{ send: [{ opcode: 9, fin: false, payload: "fragment1" }, continuation("fragment2", true)] }],
    outcome: FRAGMENTED_CONTROL,
  },
  {
    id: "5.2",
    title: "pong fragmented into 2 fragments fails with 1002",
    steps: [{ send: [{ opcode: 10, fin: false, payload: "fragment1" }, continuation("fragment2", true)] }],
    outcome: FRAGMENTED_CONTROL,
  },
  ...(
    [
      ["5.3", "in one write", {}],
      ["5.4", "frame by frame", { sync: true }],
      ["5.5", "byte by byte", { chop: 1 }],
    ] as const
  ).map(([id, how, mode]): AutobahnCase => ({
    id,
    title: `text message in 2 fragments, ${how}, is echoed whole`,
    steps: [{ send: [textFrame("fragment1", false), continuation("fragment2", true)], ...mode }],
    replies: [text("fragment1fragment2")],
    outcome: { kind: "echo" },
  })),
  ...(
    [
      ["5.6", "in one write", {}],
      ["5.7", "frame by frame", { sync: true }],
      ["5.8", "byte by byte", { chop: 1 }],
    ] as const
  ).map(([id, how, mode]): AutobahnCase => ({
    id,
    title: `text message in 2 fragments with a ping between, ${how}: pong first, then the echo`,
    steps: [{ send: [textFrame("fragment1", false), pingFrame("ping payload"), continuation("fragment2", true)], ...mode }],
    replies: [pong("ping payload"), text("fragment1fragment2")],
    outcome: { kind: "echo" },
  })),
  ...noStartCases(9, true),
  ...noStartCases(12, false),
  {
    id: "5.15",
    title: "text in 2 fragments, then a continuation with nothing to continue: first echoed, then 1002",
    steps: [
      {
        send: [
          textFrame("fragment1", false),
          continuation("fragment2", true),
          continuation("fragment3", false),
          textFrame("fragment4", true),
        ],
      },
    ],
    replies: [text("fragment1fragment2")],
    outcome: UNEXPECTED_CONTINUATION,
  },
  {
    id: "5.16",
    title: "twice: continuation (FIN = false) with nothing to continue, then text in 2 fragments: 1002",
    steps: [
      {
        send: [0, 1].flatMap(() => [continuation("fragment1", false), textFrame("fragment2", false), continuation("fragment3", true)]),
      },
    ],
    outcome: UNEXPECTED_CONTINUATION,
  },
  {
    id: "5.17",
    title: "twice: continuation (FIN = true) with nothing to continue, then text in 2 fragments: 1002",
    steps: [
      {
        send: [0, 1].flatMap(() => [continuation("fragment1", true), textFrame("fragment2", false), continuation("fragment3", true)]),
      },
    ],
    outcome: UNEXPECTED_CONTINUATION,
  },
  {
    id: "5.18",
    title: "text in 2 fragments with both opcodes text fails with 1002",
    steps: [{ send: [textFrame("fragment1", false), textFrame("fragment2", true)] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.EXPECTED_CONTINUATION },
  },
  {
    id: "5.19",
    title: "text in 5 fragments with 2 pings between and a 1 s pause: each pong at once, then the echo",
    steps: case519(false),
    replies: [pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")],
    outcome: { kind: "echo" },
  },
  {
    id: "5.20",
    title: "as 5.19, frame by frame: each pong at once, then the echo",
    steps: case519(true),
    replies: [pong("pongme 2!"), text("fragment1fragment2fragment3fragment4fragment5")],
    outcome: { kind: "echo" },
  },
];

// --- section 6: UTF-8 handling -----------------------------------------------------------

const INVALID_UTF8 = { kind: "fail", closeCode: 1007, error: ErrorCode.INVALID_UTF8 } as const;

/** Autobahn's 6.2.x string, as UTF-8 bytes. */
const UTF8_SAMPLE = utf8("Hello-µ@ßöäüàá-UTF-8!!");
/** 6.3.x: κόσμε, then a lone surrogate (ED A0 80, invalid at A0, byte 12), then "edited". */
const INVALID_AT_12 = Buffer.concat([KOSME, bytes("\xed\xa0\x80"), bytes("edited")]);
/** 6.4.x: κόσμε, then F4 90 80 80 (above U+10FFFF, invalid at 90, byte 12), then "edited". */
const PART1 = KOSME;
const PART2 = bytes("\xf4\x90\x80\x80");
const PART3 = bytes("edited");
const OUT_OF_RANGE = Buffer.concat([PART1, PART2, PART3]);

/** The pause during which a valid prefix must not fail the connection (Autobahn: 1 s). */
const PREFIX_SILENCE_MS = 500;
/** How long the invalid part has to be detected before the rest is sent, ms. */
const FAIL_FAST_MS = 1000;

const SECTION_6_FIXED: AutobahnCase[] = [
  { id: "6.1.1", title: "empty text message is echoed", steps: [{ send: [textFrame("")] }], replies: [text("")], outcome: { kind: "echo" } },
  {
    id: "6.1.2",
    title: "text message in 3 empty fragments is echoed empty",
    steps: [{ send: [textFrame("", false), continuation("", false), continuation("", true)] }],
    replies: [text("")],
    outcome: { kind: "echo" },
  },
  {
    id: "6.1.3",
    title: "text message in 3 fragments, only the middle one non-empty, is echoed",
    steps: [{ send: [textFrame("", false), continuation("middle frame payload", false), continuation("", true)] }],
    replies: [text("middle frame payload")],
    outcome: { kind: "echo" },
  },
  { id: "6.2.1", title: "valid UTF-8 text in one frame is echoed", steps: [{ send: [textFrame(UTF8_SAMPLE)] }], replies: [text(UTF8_SAMPLE)], outcome: { kind: "echo" } },
  {
    id: "6.2.2",
    title: "valid UTF-8 text in 2 fragments split on a code point boundary is echoed",
    steps: [{ send: [textFrame(utf8("Hello-µ@ßöä"), false), continuation(utf8("üàá-UTF-8!!"), true)] }],
    replies: [text(UTF8_SAMPLE)],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.3",
    title: "valid UTF-8 text in 1-byte fragments (splitting code points) is echoed",
    steps: [{ send: fragments(1, UTF8_SAMPLE, 1) }],
    replies: [text(UTF8_SAMPLE)],
    outcome: { kind: "echo" },
  },
  {
    id: "6.2.4",
    title: "κόσμε in 1-byte fragments (splitting code points) is echoed",
    steps: [{ send: fragments(1, KOSME, 1) }],
    replies: [text(KOSME)],
    outcome: { kind: "echo" },
  },
  {
    id: "6.3.1",
    title: "invalid UTF-8 text in one frame fails with 1007",
    steps: [{ send: [textFrame(INVALID_AT_12)] }],
    outcome: INVALID_UTF8,
  },
  {
    id: "6.3.2",
    title: "invalid UTF-8 text in 1-byte fragments: 1007 as soon as the invalid byte arrives",
    steps: [
      // Up to ED: a valid prefix of a 3-byte sequence, so no failure yet.
      { send: fragments(1, INVALID_AT_12, 1).slice(0, 12) },
      { silence: 100 },
      { send: fragments(1, INVALID_AT_12, 1).slice(12, 13) }, // A0: ED A0 is a surrogate
      { failFast: FAIL_FAST_MS },
      { send: fragments(1, INVALID_AT_12, 1).slice(13) },
    ],
    outcome: INVALID_UTF8,
  },
  {
    id: "6.4.1",
    title: "fail fast on invalid code point in second fragment",
    steps: [
      { send: [textFrame(PART1, false)] },
      { silence: PREFIX_SILENCE_MS },
      { send: [continuation(PART2, false)] },
      { failFast: FAIL_FAST_MS },
      { send: [continuation(PART3, true)] },
    ],
    outcome: INVALID_UTF8,
  },
  {
    id: "6.4.2",
    title: "fail fast on the very byte that makes the second fragment invalid",
    steps: [
      { send: [textFrame(OUT_OF_RANGE.subarray(0, 12), false)] },
      { silence: PREFIX_SILENCE_MS },
      { send: [continuation(OUT_OF_RANGE.subarray(12, 13), false)] },
      { failFast: FAIL_FAST_MS },
      { send: [continuation(OUT_OF_RANGE.subarray(13), true)] },
    ],
    outcome: INVALID_UTF8,
  },
  {
    id: "6.4.3",
    title: "fail fast on invalid code point in the second chop of one frame",
    steps: [
      { raw: Buffer.concat([frameHead(1, OUT_OF_RANGE.length), PART1]) },
      { silence: PREFIX_SILENCE_MS },
      { raw: PART2 },
      { failFast: FAIL_FAST_MS },
      { raw: PART3 },
    ],
    outcome: INVALID_UTF8,
  },
  {
    id: "6.4.4",
    title: "fail fast on the very byte that makes one frame's payload invalid",
    steps: [
      { raw: Buffer.concat([frameHead(1, OUT_OF_RANGE.length), OUT_OF_RANGE.subarray(0, 12)]) },
      { silence: PREFIX_SILENCE_MS },
      { raw: OUT_OF_RANGE.subarray(12, 13) },
      { failFast: FAIL_FAST_MS },
      { raw: OUT_OF_RANGE.subarray(13) },
    ],
    outcome: INVALID_UTF8,
  },
];

/**
 * Cases 6.5 to 6.23: Autobahn's UTF-8 decoder table (after Markus Kuhn's UTF-8-test.txt),
 * one text message each, in one frame. [group title, [valid?, bytes][]].
 */
function utf8Groups(): Array<[string, Array<[boolean, Buffer]>]> {
  const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);
  // Prefixes of κόσμε: complete after 2, 5, 7, 9 and 11 bytes.
  const kosmeBoundaries = [2, 5, 7, 9, 11];
  const lastByteMissing = ["\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
    "\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"];
  const nonCharacters: string[] = ["\xef\xbf\xbe", "\xef\xbf\xbf"];
  for (const lead of ["\xf0", "\xf1", "\xf2", "\xf3", "\xf4"]) {
    for (const second of ["\x8f", "\x9f", "\xaf", "\xbf"]) {
      if (lead === "\xf4" && second !== "\x8f") continue; // above U+10FFFF
      for (const last of ["\xbe", "\xbf"]) {
        const sequence = lead + second + "\xbf" + last;
        if (lead === "\xf0" && second === "\x8f") continue; // overlong
        nonCharacters.push(sequence);
      }
    }
  }
  const valid = (s: string): [boolean, Buffer] => [true, bytes(s)];
  const invalid = (s: string): [boolean, Buffer] => [false, bytes(s)];
  return [
    ["some valid UTF-8 sequences", [valid("hello\x24world"), valid("hello\xc2\xa2world"), valid("hello\xe2\x82\xacworld"), valid("hello\xf0\xa4\xad\xa2world"), [true, KOSME]]],
    ["all prefixes of a valid UTF-8 string with multi-byte code points", range(1, KOSME.length + 1).map((n) => [kosmeBoundaries.includes(n), KOSME.subarray(0, n)])],
    ["first possible sequence of each length", [valid("\x00"), valid("\xc2\x80"), valid("\xe0\xa0\x80"), valid("\xf0\x90\x80\x80")]],
    ["first possible sequence of length 5 and 6 (invalid code points)", [invalid("\xf8\x88\x80\x80\x80"), invalid("\xfc\x84\x80\x80\x80\x80")]],
    ["last possible sequence of each length", [valid("\x7f"), valid("\xdf\xbf"), valid("\xef\xbf\xbf"), valid("\xf4\x8f\xbf\xbf")]],
    ["last possible sequence of length 4, 5 and 6 (invalid code points)", [invalid("\xf7\xbf\xbf\xbf"), invalid("\xfb\xbf\xbf\xbf\xbf"), invalid("\xfd\xbf\xbf\xbf\xbf\xbf")]],
    ["other boundary conditions", [valid("\xed\x9f\xbf"), valid("\xee\x80\x80"), valid("\xef\xbf\xbd"), valid("\xf4\x8f\xbf\xbf"), invalid("\xf4\x90\x80\x80")]],
    [
      "unexpected continuation bytes",
      [
        invalid("\x80"), invalid("\xbf"), invalid("\x80\xbf"), invalid("\x80\xbf\x80"), invalid("\x80\xbf\x80\xbf"),
        invalid("\x80\xbf\x80\xbf\x80"), invalid("\x80\xbf\x80\xbf\x80\xbf"),
        [false, Buffer.from(range(0x80, 0xbf))],
      ],
    ],
    [
      "lonely start characters",
      ([[0xc0, 0xdf], [0xe0, 0xef], [0xf0, 0xf7], [0xf8, 0xfb], [0xfc, 0xfd]] as const).map(([from, to]) => [
        false,
        Buffer.from(range(from, to).flatMap((b) => [b, 0x20])),
      ]),
    ],
    ["sequences with the last continuation byte missing", lastByteMissing.map(invalid)],
    ["concatenation of incomplete sequences", [invalid(lastByteMissing.join(""))]],
    ["impossible bytes", [invalid("\xfe"), invalid("\xff"), invalid("\xfe\xfe\xff\xff")]],
    ["overlong ASCII character", [invalid("\xc0\xaf"), invalid("\xe0\x80\xaf"), invalid("\xf0\x80\x80\xaf"), invalid("\xf8\x80\x80\x80\xaf"), invalid("\xfc\x80\x80\x80\x80\xaf")]],
    ["maximum overlong sequences", [invalid("\xc1\xbf"), invalid("\xe0\x9f\xbf"), invalid("\xf0\x8f\xbf\xbf"), invalid("\xf8\x87\xbf\xbf\xbf"), invalid("\xfc\x83\xbf\xbf\xbf\xbf")]],
    ["overlong NUL", [invalid("\xc0\x80"), invalid("\xe0\x80\x80"), invalid("\xf0\x80\x80\x80"), invalid("\xf8\x80\x80\x80\x80"), invalid("\xfc\x80\x80\x80\x80\x80")]],
    [
      "single UTF-16 surrogates",
      ["\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"].map(invalid),
    ],
    [
      "paired UTF-16 surrogates",
      [
        "\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
        "\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf",
      ].map(invalid),
    ],
    ["non-character code points (valid UTF-8)", nonCharacters.map(valid)],
    ["Unicode specials (valid UTF-8)", ["\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"].map(valid)],
  ];
}

const SECTION_6_TABLE: AutobahnCase[] = utf8Groups().flatMap(([group, entries], g) =>
  entries.map(([isValid, payload], j): AutobahnCase => ({
    id: `6.${g + 5}.${j + 1}`,
    title: `${group}: 0x${payload.toString("hex")} ${isValid ? "is echoed" : "fails with 1007"}`,
    steps: [{ send: [textFrame(payload)] }],
    ...(isValid ? { replies: [text(payload)], outcome: { kind: "echo" } as const } : { outcome: INVALID_UTF8 }),
  })),
);

// --- section 7: close handling -----------------------------------------------------------

const answered = (code: number, reason?: string): Outcome => ({ kind: "answer", answers: [code], code, ...(reason === undefined ? {} : { reason }) });

const SECTION_7: AutobahnCase[] = [
  {
    id: "7.1.1",
    title: "message then close: echo, then a clean close with 1000",
    steps: [{ send: [textFrame("Hello World!")] }],
    replies: [text("Hello World!")],
    outcome: { kind: "echo" },
  },
  {
    id: "7.1.2",
    title: "two close frames: the first is answered, the second ignored",
    steps: [{ send: [closeFrame(1000), closeFrame()] }],
    outcome: answered(1000),
  },
  {
    id: "7.1.3",
    title: "ping after close: close answered, no pong",
    steps: [{ send: [closeFrame(1000), pingFrame()] }],
    outcome: answered(1000),
  },
  {
    id: "7.1.4",
    title: "text after close: close answered, text ignored",
    steps: [{ send: [closeFrame(1000), textFrame("Hello World!")] }],
    outcome: answered(1000),
  },
  {
    id: "7.1.5",
    title: "fragment, close, last fragment: close answered, no message",
    steps: [{ send: [textFrame("fragment1", false), closeFrame(1000), continuation("fragment2", true)] }],
    outcome: answered(1000),
  },
  {
    id: "7.1.6",
    title: "256 KiB message, small message, close, ping: both echoed, close answered, no pong",
    steps: [{ send: [textFrame(repeatTo("BAsd7&jh23", 256 * KiB)), textFrame("Hello World!"), closeFrame(1000), pingFrame()] }],
    replies: [text(repeatTo("BAsd7&jh23", 256 * KiB)), text("Hello World!")],
    outcome: answered(1000),
  },
  {
    id: "7.3.1",
    title: "close with an empty payload is answered (no code, or 1000); reported as 1005",
    steps: [{ send: [closeFrame()] }],
    outcome: { kind: "answer", answers: [undefined, 1000], code: 1005, reason: "" },
  },
  {
    id: "7.3.2",
    title: "close with a 1-byte payload fails with 1002",
    steps: [{ send: [{ opcode: 8, payload: "a" }] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.INVALID_CLOSE_PAYLOAD },
  },
  { id: "7.3.3", title: "close with code 1000 and no reason is answered with 1000", steps: [{ send: [closeFrame(1000)] }], outcome: answered(1000, "") },
  {
    id: "7.3.4",
    title: "close with code and reason is answered; the reason is reported",
    steps: [{ send: [closeFrame(1000, "Hello World!")] }],
    outcome: answered(1000, "Hello World!"),
  },
  {
    id: "7.3.5",
    title: "close with a reason of 123 bytes (the maximum) is answered; the reason is reported",
    steps: [{ send: [closeFrame(1000, "*".repeat(123))] }],
    outcome: answered(1000, "*".repeat(123)),
  },
  {
    id: "7.3.6",
    title: "close with a reason of 124 bytes (a 126-byte control frame) fails with 1002",
    steps: [{ send: [closeFrame(1000, "*".repeat(124))] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.CONTROL_TOO_LONG },
  },
  {
    id: "7.5.1",
    title: "close with an invalid UTF-8 reason fails with 1007",
    steps: [{ send: [closeFrame(1000, INVALID_AT_12)] }],
    outcome: { kind: "fail", closeCode: 1007, error: ErrorCode.INVALID_UTF8 },
  },
  ...[1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999].map((code, i): AutobahnCase => ({
    id: `7.7.${i + 1}`,
    title: `close with valid code ${code} is answered with ${code} or 1000, clean`,
    steps: [{ send: [closeFrame(code)] }],
    outcome: { kind: "answer", answers: [code, 1000], code, reason: "" },
  })),
  ...[0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999].map((code, i): AutobahnCase => ({
    id: `7.9.${i + 1}`,
    title: `close with invalid code ${code} fails with 1002`,
    steps: [{ send: [closeFrame(code)] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.INVALID_CLOSE_CODE },
  })),
  // Earlier Autobahn releases listed 1015 in 7.9; RFC 6455 section 7.4.1 forbids it on the wire.
  {
    id: "7.9 (1015)",
    title: "close with code 1015 (TLS handshake failure, never on the wire) fails with 1002",
    steps: [{ send: [closeFrame(1015)] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.INVALID_CLOSE_CODE },
  },
  // 1012-1014 were registered with IANA after RFC 6455; the client accepts them (constants.ts).
  ...[1012, 1013, 1014].map((code): AutobahnCase => ({
    id: `7.7 (${code})`,
    title: `close with IANA-registered code ${code} is accepted and answered, clean`,
    steps: [{ send: [closeFrame(code)] }],
    outcome: { kind: "answer", answers: [code, 1000], code, reason: "" },
  })),
  ...[5000, 65535].map((code, i): AutobahnCase => ({
    id: `7.13.${i + 1}`,
    title: `close with code ${code} (out of range) fails with 1002`,
    steps: [{ send: [closeFrame(code)] }],
    outcome: { kind: "fail", closeCode: 1002, error: ErrorCode.INVALID_CLOSE_CODE },
  })),
];

// --- section 9: limits and performance ---------------------------------------------------

const TEXT_PATTERN = "BAsd7&jh23";
const BINARY_PATTERN = bytes("\x00\xfe\x23\xfa\xf0");
const SIZE_NAMES: Record<number, string> = {};
for (const [size, name] of [[64, "64 B"], [128, "128 B"], [256, "256 B"], [512, "512 B"], [1 * KiB, "1 KiB"], [2 * KiB, "2 KiB"], [4 * KiB, "4 KiB"], [16 * KiB, "16 KiB"], [64 * KiB, "64 KiB"], [256 * KiB, "256 KiB"], [1 * MiB, "1 MiB"], [4 * MiB, "4 MiB"], [8 * MiB, "8 MiB"], [16 * MiB, "16 MiB"]] as const) {
  SIZE_NAMES[size] = name;
}
const sizeName = (n: number): string => SIZE_NAMES[n] ?? `${n} B`;

interface RoundTripCase {
  id: string;
  title: string;
  binary: boolean;
  size: number;
  count: number;
}

/** A section 9 case whose megabytes are made only when it runs. */
function large(id: string, title: string, build: () => { steps: Step[]; replies: Reply[] }): AutobahnCase {
  return { id, title, steps: [], outcome: { kind: "echo" }, waitMs: 30_000, build };
}

const SECTION_9: AutobahnCase[] = [
  ...[64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB].map((size, i) =>
    large(`9.1.${i + 1}`, `text message of ${sizeName(size)} is echoed byte-exact`, () => {
      const payload = repeatTo(TEXT_PATTERN, size);
      return { steps: [{ send: [textFrame(payload)] }], replies: [text(payload)] };
    }),
  ),
  ...[64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB, 8 * MiB, 16 * MiB].map((size, i) =>
    large(`9.2.${i + 1}`, `binary message of ${sizeName(size)} is echoed byte-exact`, () => {
      const payload = repeatTo(BINARY_PATTERN, size);
      return { steps: [{ send: [binaryFrame(payload)] }], replies: [binary(payload)] };
    }),
  ),
  ...[64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB].map((fragment, i) =>
    large(`9.3.${i + 1}`, `text message of 4 MiB in fragments of ${sizeName(fragment)} is echoed byte-exact`, () => {
      const payload = repeatTo("*", 4 * MiB);
      return { steps: [{ send: fragments(1, payload, fragment) }], replies: [text(payload)] };
    }),
  ),
  ...[64, 256, 1 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB].map((fragment, i) =>
    large(`9.4.${i + 1}`, `binary message of 4 MiB in fragments of ${sizeName(fragment)} is echoed byte-exact`, () => {
      const payload = repeatTo("\xfe", 4 * MiB);
      return { steps: [{ send: fragments(2, payload, fragment) }], replies: [binary(payload)] };
    }),
  ),
  ...[64, 128, 256, 512, 1 * KiB, 2 * KiB].map((chop, i) =>
    large(`9.5.${i + 1}`, `text message of 1 MiB written in chops of ${sizeName(chop)} is echoed byte-exact`, () => {
      const payload = repeatTo(TEXT_PATTERN, 1 * MiB);
      return { steps: [{ send: [textFrame(payload)], chop }], replies: [text(payload)] };
    }),
  ),
  ...[64, 128, 256, 512, 1 * KiB, 2 * KiB].map((chop, i) =>
    large(`9.6.${i + 1}`, `binary message of 1 MiB written in chops of ${sizeName(chop)} is echoed byte-exact`, () => {
      const payload = repeatTo(BINARY_PATTERN, 1 * MiB);
      return { steps: [{ send: [binaryFrame(payload)], chop }], replies: [binary(payload)] };
    }),
  ),
];

/** 9.7.x (text) and 9.8.x (binary): 1000 round trips each, of 0 B to 4 KiB (Autobahn's sizes). */
const ROUND_TRIPS: RoundTripCase[] = [false, true].flatMap((isBinary) =>
  [0, 16, 64, 256, 1 * KiB, 4 * KiB].map((size, i) => ({
    id: `9.${isBinary ? 8 : 7}.${i + 1}`,
    title: `1000 ${isBinary ? "binary" : "text"} messages of ${sizeName(size)}, one at a time, are echoed`,
    binary: isBinary,
    size,
    count: 1000,
  })),
);

// --- the runner --------------------------------------------------------------------------

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function sameReply(event: ClientEvent, reply: Reply): boolean {
  return event.type === reply.type && event.data.equals(reply.data);
}

function describeReply(reply: Reply): string {
  return describeEvent({ type: reply.type, data: reply.data } as ClientEvent);
}

/** Asserts the client sent exactly `expected` (byte-exact), with a readable difference. */
function assertReplies(actual: ClientEvent[], expected: Reply[], context: string): void {
  const ok = actual.length === expected.length && actual.every((event, i) => sameReply(event, expected[i]!));
  if (ok) return;
  let detail = "";
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    const event = actual[i]!;
    const reply = expected[i]!;
    if (event.type !== "close" && event.type === reply.type && !event.data.equals(reply.data)) {
      let at = 0;
      while (at < event.data.length && at < reply.data.length && event.data[at] === reply.data[at]) at++;
      detail = ` (reply ${i + 1} differs first at byte ${at}: lengths ${event.data.length} vs ${reply.data.length})`;
      break;
    }
  }
  const list = (items: string[]): string => (items.length ? items.join(", ") : "nothing");
  assert.fail(
    `${context}: expected ${list(expected.map(describeReply))}, got ${list(actual.map(describeEvent))}${detail}`,
  );
}

/** Opens the echo client on `engine` against a fresh peer. */
async function openEcho(engine: EngineName, server: RawServer): Promise<{ run: ClientRun; peer: RawPeer }> {
  const run = await startClient(engine, { url: server.url("/runCase?case=1&agent=moorline"), limits: ECHO_LIMITS, echo: true });
  const peer = await server.nextConnection();
  await peer.acceptHandshake();
  await run.opened();
  return { run, peer };
}

interface Played {
  /** The client's close and what came before it, when a failFast step already read them. */
  close?: Awaited<ReturnType<RawPeer["waitForClose"]>>;
}

/** Sends a case's steps in order, checking the in-between expectations. */
async function play(peer: RawPeer, steps: Step[], context: string): Promise<Played> {
  const played: Played = {};
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if ("send" in step) {
      if (step.chop) {
        for (const frame of step.send) await peer.sendFrame(frame, { chopSize: step.chop });
      } else if (step.sync) {
        for (const frame of step.send) {
          await peer.sendFrame(frame);
          await delay(SYNC_PAUSE_MS);
        }
      } else {
        await peer.sendRaw(Buffer.concat(step.send.map(encodeFrame)));
      }
    } else if ("raw" in step) {
      await peer.sendRaw(step.raw, step.chop ? { chopSize: step.chop } : {});
    } else if ("pause" in step) {
      await delay(step.pause);
    } else if ("silence" in step) {
      const frame = await peer.frameWithin(step.silence);
      if (frame) {
        assert.fail(`${context}: the client sent a ${describeFrame(frame)} while the message so far was valid (it must wait for more)`);
      }
    } else if ("expect" in step) {
      const event = await peer.nextEvent(step.within);
      assertReplies([event], [step.expect], `${context}, within ${step.within} ms of the frames before it`);
    } else {
      try {
        played.close = await peer.waitForClose(step.failFast);
      } catch {
        // Not failed fast: send the rest (as Autobahn does), then say what happened.
        for (const rest of steps.slice(i + 1)) await play(peer, [rest], context).catch(() => undefined);
        const late = await peer.waitForClose(1000).catch(() => undefined);
        assert.fail(
          `${context}: not fail-fast: no close frame within ${step.failFast} ms of the invalid bytes; ` +
            (late ? `the client closed with ${late.close.code} only after the rest of the message was sent` : "it did not close even after the rest"),
        );
      }
      return played; // the connection is failed: the rest is never sent
    }
  }
  return played;
}

/** The client's close was the last thing it sent, and it reported one onClose. */
async function assertEnd(run: ClientRun, peer: RawPeer, context: string): Promise<void> {
  await peer.waitForTcpClose(3000);
  await delay(20);
  assert.equal(run.closes.length, 1, `${context}: onClose is called exactly once`);
  assert.deepEqual(peer.framesAfterClose.map(describeFrame), [], `${context}: nothing is sent after the close frame`);
  assert.equal(peer.violation, undefined, `${context}: ${peer.violation?.message}`);
  assert.equal(run.client.readyState, ReadyState.CLOSED);
  // Section 5.3: a fresh, unpredictable masking key per frame. Two equal random 32-bit
  // keys among a few dozen frames would happen about once in a million connections.
  const frames = [...peer.frames, ...peer.framesAfterClose];
  if (frames.length <= 64) {
    const keys = new Set(frames.map((frame) => Buffer.from(frame.maskKey).toString("hex")));
    assert.equal(keys.size, frames.length, `${context}: every frame has its own masking key`);
  }
}

async function runCase(engine: EngineName, server: RawServer, table: AutobahnCase): Promise<void> {
  const c: AutobahnCase = table.build ? { ...table, ...table.build() } : table;
  const context = `case ${c.id}`;
  const wait = c.waitMs ?? 2000;
  const { run, peer } = await openEcho(engine, server);
  const played = await play(peer, c.steps, context);
  const outcome = c.outcome;

  if (outcome.kind === "echo" || outcome.kind === "pongs") {
    const got: ClientEvent[] = [];
    if (outcome.kind === "echo") {
      for (let i = 0; i < (c.replies ?? []).length; i++) {
        try {
          got.push(await peer.nextEvent(wait));
        } catch (error) {
          const close = run.closes[0];
          const why = close ? `; the client closed with ${close.code} (${close.error?.code ?? "no error"}: ${close.reason})` : "";
          assert.fail(`${context}: after ${got.map(describeEvent).join(", ") || "nothing"}: ${(error as Error).message}${why}`);
        }
      }
      assertReplies(got, c.replies ?? [], context);
    } else {
      // At least the last ping's pong; any earlier ones in order (Autobahn accepts this).
      const last = outcome.pings[outcome.pings.length - 1]!;
      let index = -1;
      for (;;) {
        const event = await peer.nextEvent(wait);
        assert.equal(event.type, "pong", `${context}: only pongs are expected, got ${describeEvent(event)}`);
        const at = outcome.pings.findIndex((ping, i) => i > index && ping.equals(event.data));
        assert.ok(at > index, `${context}: pong ${describeEvent(event)} is not for a later ping than the one before`);
        index = at;
        if (event.data.equals(last)) break;
      }
    }
    // The server closes; the client must answer 1000 and nothing else, then TCP closes.
    await peer.sendClose(1000);
    const { close, before } = await peer.waitForClose(wait);
    assertReplies(before, [], `${context}: nothing more before the close answer`);
    assert.equal(close.code, 1000, `${context}: the client answers the server's close 1000 with 1000`);
    peer.closeTcp();
    const event = await run.closed(3000);
    assert.equal(event.error, undefined, `${context}: ${event.error?.code} ${event.error?.message}`);
    assert.deepEqual({ code: event.code, wasClean: event.wasClean }, { code: 1000, wasClean: true }, context);
    assert.ok(run.messages.every((m) => m.state === ReadyState.OPEN), `${context}: messages are delivered only while open`);
    await assertEnd(run, peer, context);
    return;
  }

  if (outcome.kind === "fail") {
    const { close, before } = played.close ?? (await peer.waitForClose(wait));
    assertReplies(before, c.replies ?? [], `${context}: before the client's close frame`);
    const delivered = (c.replies ?? []).filter((r) => r.type !== "pong").length;
    assert.equal(run.messages.length, delivered, `${context}: no message after the offending frame reaches the application`);
    assert.equal(
      close.code,
      outcome.closeCode,
      `${context}: the client's close code (reason ${JSON.stringify(close.reason.toString("utf8"))})`,
    );
    assert.ok(close.payload.length <= 125, `${context}: the close frame is a valid control frame`);
    // Like Autobahn's server: answer the close (unless ours already went first), then end TCP.
    const serverClosedFirst = c.steps.some((s) => "send" in s && s.send.some((f) => f.opcode === 8 && !f.rsv));
    if (!serverClosedFirst) await peer.sendClose(close.code ?? 1000);
    peer.closeTcp();
    const event = await run.closed(3000);
    assert.ok(event.error instanceof WebSocketError, `${context}: onClose carries the error`);
    assert.deepEqual(
      { code: event.code, wasClean: event.wasClean, error: event.error.code, closeCode: event.error.closeCode },
      { code: outcome.closeCode, wasClean: false, error: outcome.error, closeCode: outcome.closeCode },
      `${context}: onClose (${event.error.message})`,
    );
    await assertEnd(run, peer, context);
    return;
  }

  // "answer": the server's close is in the steps.
  const { close, before } = await peer.waitForClose(wait);
  assertReplies(before, c.replies ?? [], `${context}: before the client's close answer`);
  assert.ok(
    outcome.answers.includes(close.code),
    `${context}: the client answers with ${outcome.answers.map((a) => a ?? "no code").join(" or ")}, got ${close.code ?? "no code"}`,
  );
  assert.equal(close.reason.length <= 123, true);
  peer.closeTcp();
  const event = await run.closed(3000);
  assert.equal(event.error, undefined, `${context}: ${event.error?.code} ${event.error?.message}`);
  assert.equal(event.code, outcome.code, `${context}: onClose reports the server's code`);
  if (outcome.reason !== undefined) assert.equal(event.reason, outcome.reason, `${context}: onClose reports the server's reason`);
  assert.equal(event.wasClean, true, `${context}: clean`);
  const echoed = (c.replies ?? []).filter((r) => r.type !== "pong").length;
  assert.equal(run.messages.length, echoed, `${context}: no message is delivered after the close frame`);
  await assertEnd(run, peer, context);
}

/** 9.7/9.8: one message at a time, the next when its echo is back (Autobahn's latency test). */
async function runRoundTrips(engine: EngineName, server: RawServer, c: RoundTripCase): Promise<void> {
  const { run, peer } = await openEcho(engine, server);
  const payload = c.binary ? repeatTo("\xfe", c.size) : repeatTo("*", c.size);
  const frame = encodeFrame(c.binary ? binaryFrame(payload) : textFrame(payload));
  for (let i = 0; i < c.count; i++) {
    await peer.sendRaw(frame);
    const event = await peer.nextEvent(5000);
    if (event.type !== (c.binary ? "binary" : "text") || !event.data.equals(payload)) {
      assert.fail(`case ${c.id}: round trip ${i + 1}: expected ${c.binary ? "binary" : "text"} of ${c.size} bytes, got ${describeEvent(event)}`);
    }
  }
  await peer.sendClose(1000);
  const { close, before } = await peer.waitForClose();
  assertReplies(before, [], `case ${c.id}`);
  assert.equal(close.code, 1000);
  peer.closeTcp();
  const event = await run.closed(3000);
  assert.deepEqual({ code: event.code, wasClean: event.wasClean }, { code: 1000, wasClean: true });
  await assertEnd(run, peer, `case ${c.id}`);
}

// --- the suites --------------------------------------------------------------------------

function suite(engine: EngineName, title: string, cases: AutobahnCase[], timeoutMs = 10_000): void {
  describe(title, function () {
    this.timeout(timeoutMs);
    let server: RawServer;
    beforeEach(async () => {
      server = await RawServer.listen();
    });
    afterEach(async () => {
      await server.close();
    });
    for (const c of cases) {
      it(`${c.id} ${c.title}`, () => runCase(engine, server, c));
    }
  });
}

for (const engine of ENGINES) describe(`the client against a scripted raw-TCP server [${engine}]`, function () {
  useEngine(engine);

  describe("Autobahn|Testsuite client cases (the client as echo agent, against a scripted server)", () => {
    suite(engine, "1 Framing (text and binary messages of 0 to 65536 bytes)", SECTION_1);
    suite(engine, "2 Pings/Pongs", SECTION_2);
    suite(engine, "3 Reserved bits", SECTION_3);
    suite(engine, "4 Opcodes", SECTION_4);
    suite(engine, "5 Fragmentation", SECTION_5);
    suite(engine, "6 UTF-8 handling (6.1 to 6.4)", SECTION_6_FIXED);
    suite(engine, "6 UTF-8 handling (6.5 to 6.23: the decoder table, one message each)", SECTION_6_TABLE);
    suite(engine, "7 Close handling", SECTION_7);
    // Measured on the 2-core development machine: all of section 9 (54 cases, up to 16 MiB
    // messages and 65536-fragment messages, plus the 12,000 round trips) takes about 6 s on
    // Node and 25 s inside XS (9.1.6's 16 MiB text echo about 2 s; 15 s when text was
    // decoded and encoded in JavaScript, which the 60 s bound still allows). The suite stays
    // well under its 15 minutes, so every case always runs on both engines.
    suite(engine, "9 Limits/Performance", SECTION_9, 60_000);

    describe("9 Limits/Performance: round trips", function () {
      this.timeout(60_000);
      let server: RawServer;
      beforeEach(async () => {
        server = await RawServer.listen();
      });
      afterEach(async () => {
        await server.close();
      });
      for (const c of ROUND_TRIPS) {
        it(`${c.id} ${c.title}`, () => runRoundTrips(engine, server, c));
      }
    });
  });

  // --- the client's own close on failure (beyond Autobahn) ---------------------------------

  describe("the client's own close when it fails the connection", function () {
    this.timeout(10_000);
    let server: RawServer;
    beforeEach(async () => {
      server = await RawServer.listen();
    });
    afterEach(async () => {
      await server.close();
    });

    async function open(limits: Record<string, number> = {}): Promise<{ run: ClientRun; peer: RawPeer }> {
      const run = await startClient(engine, { url: server.url(), limits: { ...ECHO_LIMITS, ...limits }, echo: true });
      const peer = await server.nextConnection();
      await peer.acceptHandshake();
      await run.opened();
      return { run, peer };
    }

    it("reports 1002, the error and wasClean false when the server answers its close", async () => {
      const { run, peer } = await open();
      await peer.sendFrame({ opcode: 3 });
      const { close } = await peer.waitForClose();
      assert.equal(close.code, 1002);
      await peer.sendClose(1002);
      peer.closeTcp();
      const event = await run.closed();
      assert.equal(event.code, 1002);
      assert.equal(event.wasClean, false, "a failed connection is never clean");
      assert.ok(event.error instanceof WebSocketError);
      assert.equal(event.error.code, ErrorCode.RESERVED_OPCODE);
      assert.equal(event.error.closeCode, 1002);
      await assertEnd(run, peer, "reserved opcode");
    });

    it("reports 1007 when the server drops TCP instead of answering its close", async () => {
      const { run, peer } = await open();
      await peer.sendFrame(textFrame(bytes("\xff")));
      const { close } = await peer.waitForClose();
      assert.equal(close.code, 1007);
      peer.destroy();
      const event = await run.closed();
      assert.deepEqual(
        { code: event.code, wasClean: event.wasClean, error: event.error?.code, closeCode: event.error?.closeCode },
        { code: 1007, wasClean: false, error: ErrorCode.INVALID_UTF8, closeCode: 1007 },
      );
    });

    it("drops TCP itself at closeTimeoutMs when the server never answers its close", async () => {
      const { run, peer } = await open({ closeTimeoutMs: 300 });
      await peer.sendFrame({ opcode: 0, payload: "no message to continue" });
      const started = performance.now();
      const { close } = await peer.waitForClose();
      assert.equal(close.code, 1002);
      await peer.waitForClientEnd(2000);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 1500, `TCP dropped after ${Math.round(elapsed)} ms`);
      const event = await run.closed();
      assert.deepEqual(
        { code: event.code, wasClean: event.wasClean, error: event.error?.code },
        { code: 1002, wasClean: false, error: ErrorCode.UNEXPECTED_CONTINUATION },
      );
    });

    it("fails with 1009 on the header of a frame over maxFrameBytes, before its payload arrives", async () => {
      const { run, peer } = await open({ maxMessageBytes: 1024, maxFrameBytes: 1024 });
      await peer.sendRaw(frameHead(2, 2000)); // the payload never comes
      const { close } = await peer.waitForClose(1000);
      assert.equal(close.code, 1009);
      peer.closeTcp();
      const event = await run.closed();
      assert.deepEqual(
        { code: event.code, wasClean: event.wasClean, error: event.error?.code, closeCode: event.error?.closeCode },
        { code: 1009, wasClean: false, error: ErrorCode.FRAME_TOO_BIG, closeCode: 1009 },
      );
    });

    it("fails with 1009 when fragments add up past maxMessageBytes, before buffering the excess", async () => {
      const { run, peer } = await open({ maxMessageBytes: 1024, maxFrameBytes: 1024 });
      await peer.sendFrame(binaryFrame(Buffer.alloc(600), false));
      await peer.sendRaw(Buffer.from([0x80, 126, 600 >> 8, 600 & 0xff])); // final fragment's header only
      const { close } = await peer.waitForClose(1000);
      assert.equal(close.code, 1009);
      peer.closeTcp();
      const event = await run.closed();
      assert.deepEqual(
        { code: event.code, wasClean: event.wasClean, error: event.error?.code },
        { code: 1009, wasClean: false, error: ErrorCode.MESSAGE_TOO_BIG },
      );
    });

    it("accepts a message of exactly maxMessageBytes", async () => {
      const { run, peer } = await open({ maxMessageBytes: 1024, maxFrameBytes: 1024 });
      await peer.sendFrame(binaryFrame(repeatTo(BINARY_PATTERN, 1024)));
      const echo = await peer.nextEvent();
      assert.ok(echo.type === "binary" && echo.data.equals(repeatTo(BINARY_PATTERN, 1024)));
      assert.equal(run.closes.length, 0);
    });

    it("fails with 1002 on a masked frame from the server (RFC 6455 section 5.1)", async () => {
      const { run, peer } = await open();
      await peer.sendFrame({ ...textFrame(HELLO), mask: Uint8Array.from([1, 2, 3, 4]) });
      const { close, before } = await peer.waitForClose();
      assertReplies(before, [], "masked frame");
      assert.equal(close.code, 1002);
      peer.closeTcp();
      const event = await run.closed();
      assert.equal(event.error?.code, ErrorCode.MASKED_FRAME);
      assert.equal(run.messages.length, 0);
    });
  });
});
