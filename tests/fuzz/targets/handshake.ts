/**
 * Fuzz target: the opening handshake's reader (src/websocket/handshake.ts: the incremental
 * HandshakeResponseParser and validateHandshakeResponse, RFC 6455 section 4.1). Whatever a
 * server answers, in any chunking: the outcome is the same (the same head and the same bytes
 * after it, or the same error code); the only error is a HandshakeError with an
 * ERR_HANDSHAKE_* code, whose message shows the server's bytes escaped (no control
 * character reaches a log); the parser never holds more than maxHandshakeBytes; and a valid
 * 101 (headers in any case and order, with optional whitespace, a selected subprotocol,
 * frames right behind it) is accepted with its subprotocol and its trailing bytes intact.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { HandshakeError } from "../../../src/shared/errors.js";
import { HandshakeResponseParser, validateHandshakeResponse } from "../../../src/websocket/handshake.js";
import { chunkings, toHex, type FuzzTarget } from "../target.js";

const MAX_BYTES = 512;
/** The accept value for the key "dGhlIHNhbXBsZSBub25jZQ==" (RFC 6455 section 1.3's example). */
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const OFFERED = ["chat", "v2.json"];

type Outcome =
  | { ok: true; status: number; headers: Array<[string, string]>; protocol: string | undefined; rest: string; validation: string }
  | { ok: false; code: string };

function read(chunks: readonly Uint8Array[], whole: Uint8Array): Outcome | undefined {
  const parser = new HandshakeResponseParser(MAX_BYTES);
  const held = parser as unknown as { buffer?: Uint8Array };
  let consumed = 0;
  for (const chunk of chunks) {
    let result: ReturnType<HandshakeResponseParser["push"]>;
    try {
      result = parser.push(chunk);
    } catch (error) {
      return failure(error);
    }
    assert.ok((held.buffer?.length ?? 0) <= MAX_BYTES, `the parser holds ${held.buffer?.length} bytes`);
    consumed += chunk.length;
    if (!result.done) continue;
    // The bytes after the head: the rest of this chunk, then everything not yet pushed.
    const rest = toHex(result.rest) + toHex(whole.subarray(consumed));
    let validation = "accepted";
    let protocol: string | undefined;
    try {
      protocol = validateHandshakeResponse(result.head, { accept: ACCEPT, protocols: OFFERED }).protocol;
    } catch (error) {
      validation = (failure(error) as { code: string }).code;
    }
    return { ok: true, status: result.head.status, headers: [...result.head.headers], protocol, rest, validation };
  }
  return undefined; // still waiting for the end of the head
}

function failure(error: unknown): Outcome {
  assert.ok(error instanceof HandshakeError, `threw ${String(error)}`);
  // A refusal of the credentials (401, 403) is its own code, so the device waits long (src/shared/errors.ts).
  if (error.code === "ERR_UNAUTHORIZED") assert.ok(error.status === 401 || error.status === 403, `ERR_UNAUTHORIZED for ${error.status}`);
  else assert.match(error.code, /^ERR_HANDSHAKE_/);
  assert.ok(!/[\u0000-\u001f\u007f]/.test(error.message), `a raw control character in ${JSON.stringify(error.message)}`);
  return { ok: false, code: error.code };
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const ows = fc.constantFrom("", " ", "\t", "  ");
const caseOf = (name: string) => fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(""));
const header = (name: string, value: fc.Arbitrary<string>) => fc.tuple(caseOf(name), ows, value, ows).map(([n, a, v, b]) => `${n}:${a}${v}${b}`);

/** A 101 a strict client must accept (protocols offered: chat, v2.json), frames right behind it. */
export const validHandshakes = fc
  .record({
    reason: fc.constantFrom("Switching Protocols", "OK", "", "whatever it says"),
    protocol: fc.option(fc.constantFrom(...OFFERED), { nil: undefined }),
    extra: fc.array(fc.tuple(token, fc.stringMatching(/^[ -~]{0,20}$/)).map(([n, v]) => `X-${n}: ${v.trim()}`), { maxLength: 4 }),
    connection: fc.constantFrom("Upgrade", "upgrade", "keep-alive, Upgrade", "UPGRADE"),
    trailing: fc.uint8Array({ maxLength: 40 }),
  })
  .chain((r) =>
    fc
      .tuple(
        header("Upgrade", fc.constantFrom("websocket", "WebSocket")),
        header("Connection", fc.constant(r.connection)),
        header("Sec-WebSocket-Accept", fc.constant(ACCEPT)),
        r.protocol === undefined ? fc.constant(undefined) : header("Sec-WebSocket-Protocol", fc.constant(r.protocol)),
      )
      .chain((lines) => fc.shuffledSubarray([...lines.filter((l): l is string => l !== undefined), ...r.extra], { minLength: lines.filter((l) => l !== undefined).length + r.extra.length }))
      .map((lines) => {
        const head = new TextEncoder().encode(`HTTP/1.1 101${r.reason === "" ? "" : " " + r.reason}\r\n${lines.join("\r\n")}\r\n\r\n`);
        const out = new Uint8Array(head.length + r.trailing.length);
        out.set(head, 0);
        out.set(r.trailing, head.length);
        return out;
      }),
  );

const other = fc
  .tuple(
    fc.constantFrom("HTTP/1.1 ", "HTTP/1.0 ", "HTTP/2 ", "http/1.1 ", "HTTP/1.1"),
    fc.constantFrom("101", "200", "301", "302", "401", "404", "426", "503", "1011", "99"),
    fc.array(fc.oneof(header("Location", fc.constant("ws://elsewhere/")), header("Retry-After", fc.constant("5")), fc.string({ maxLength: 20 }), header("Sec-WebSocket-Extensions", fc.constant("permessage-deflate"))), { maxLength: 4 }),
  )
  .map(([version, status, lines]) => new TextEncoder().encode(`${version}${status} x\r\n${lines.join("\r\n")}\r\n\r\n`));

export const handshakeTarget: FuzzTarget = {
  name: "handshake",
  about: "src/websocket/handshake.ts (HandshakeResponseParser, validateHandshakeResponse), any chunking",
  inputs: fc.oneof({ weight: 3, arbitrary: validHandshakes }, { weight: 2, arbitrary: other }),
  maxBytes: 1024,
  check(bytes) {
    let first: Outcome | undefined | null = null;
    for (const [way, chunks] of chunkings(bytes, 700)) {
      const outcome = read(chunks, bytes);
      if (first === null) first = outcome;
      else assert.deepEqual(outcome, first, `fed ${way}`);
    }
    if (first && first.ok && first.status === 101 && first.validation === "accepted") {
      // Accepted: it really is a 101 with the offered protocol (or none) and nothing lost after it.
      assert.ok(first.protocol === "" || OFFERED.includes(first.protocol!), `protocol ${first.protocol}`);
      const end = findHeadEnd(bytes);
      assert.equal(first.rest, toHex(bytes.subarray(end)), "the bytes after the head");
    }
  },
};

function findHeadEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i - 3] === 13 && bytes[i - 2] === 10 && bytes[i - 1] === 13 && bytes[i] === 10) return i + 1;
  }
  return -1;
}
