/**
 * src/websocket/handshake.ts: the opening handshake of RFC 6455 section 4.1 as pure functions: the
 * request bytes, option validation, the incremental response parser (any chunking) and the
 * checks on the server's 101. The same code against a scripted TCP server is tested
 * through the client in tests/websocket/client-handshake.test.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

import { DEFAULT_LIMITS } from "../../src/websocket/constants.js";
import { ErrorCode, HandshakeError, WebSocketError, type ErrorCodeValue } from "../../src/shared/errors.js";
import {
  HandshakeResponseParser,
  encodeHandshakeRequest,
  expectedAccept,
  makeHandshakeKey,
  validateHandshakeResponse,
  validateHeaders,
  validateProtocols,
  type HttpResponseHead,
  type ParseResult,
} from "../../src/websocket/handshake.js";
import { sha1 } from "../../src/websocket/sha1.js";
import { parseWebSocketUrl } from "../../src/websocket/url.js";

const latin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));
const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1");
const nodeSha1 = (bytes: Uint8Array): Uint8Array =>
  new Uint8Array(createHash("sha1").update(bytes).digest());

/** RFC 6455 section 1.3's example key and the Accept value it yields. */
const RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/** RFC_ACCEPT as a regular expression source. */
const RFC_ACCEPT_RE = RFC_ACCEPT.replace(/[+=]/g, "\\$&");

/** Runs `action`, asserting it throws a HandshakeError with `code` and a message matching. */
function assertHandshakeError(
  action: () => unknown,
  code: ErrorCodeValue,
  message: RegExp,
): HandshakeError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HandshakeError, `expected a HandshakeError, got ${String(caught)}`);
  assert.ok(caught instanceof WebSocketError);
  assert.equal(caught.code, code);
  assert.equal(caught.closeCode, undefined, "the connection never opened: no close code");
  assert.match(caught.message, message);
  return caught;
}

/** Asserts an ERR_INVALID_OPTION WebSocketError whose message matches. */
function assertInvalidOption(action: () => unknown, message: RegExp): WebSocketError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WebSocketError, `expected a WebSocketError, got ${String(caught)}`);
  assert.ok(!(caught instanceof HandshakeError));
  assert.equal(caught.code, ErrorCode.INVALID_OPTION);
  assert.match(caught.message, message);
  return caught;
}

/** Feeds `chunks` to a fresh parser until it finishes; returns the result and chunks unfed. */
function feed(
  chunks: Uint8Array[],
  maxBytes: number = DEFAULT_LIMITS.maxHandshakeBytes,
): { head: HttpResponseHead; rest: Uint8Array; unfed: Uint8Array[] } {
  const parser = new HandshakeResponseParser(maxBytes);
  for (let i = 0; i < chunks.length; i++) {
    const result: ParseResult = parser.push(chunks[i]!);
    if (result.done) return { head: result.head, rest: result.rest, unfed: chunks.slice(i + 1) };
  }
  throw new Error("the parser never finished");
}

/** Parses a complete response given as text. */
function parse(response: string): HttpResponseHead {
  return feed([latin1(response)]).head;
}

/** Every way to cut `bytes` in two, plus one byte at a time. */
function chunkings(bytes: Uint8Array): Uint8Array[][] {
  const all: Uint8Array[][] = [];
  for (let cut = 1; cut < bytes.length; cut++) all.push([bytes.slice(0, cut), bytes.slice(cut)]);
  all.push(Array.from(bytes, (b) => new Uint8Array([b])));
  return all;
}

const concat = (parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** A valid 101 for RFC_KEY, with `extra` header lines. */
function switching(...extra: string[]): string {
  return [
    "HTTP/1.1 101 Switching Protocols",
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Accept: ${RFC_ACCEPT}`,
    ...extra,
    "",
    "",
  ].join("\r\n");
}

/** The same response with the header `name` removed (or replaced by `replacement`). */
function without(response: string, name: string, ...replacement: string[]): string {
  const lines = response.split("\r\n");
  const index = lines.findIndex((line) => line.toLowerCase().startsWith(name.toLowerCase() + ":"));
  assert.ok(index > 0, `no ${name} header to remove`);
  lines.splice(index, 1, ...replacement);
  return lines.join("\r\n");
}

const expected = (protocols: string[] = []) => ({ accept: RFC_ACCEPT, protocols });

/** Parses `response` and validates it against RFC_KEY with `protocols` offered. */
const check = (response: string, protocols: string[] = []) =>
  validateHandshakeResponse(parse(response), expected(protocols));

describe("handshake", () => {
  describe("makeHandshakeKey", () => {
    it("is 16 bytes from the random source, base64: 24 characters (section 4.1, item 7)", () => {
      const requested: number[] = [];
      const key = makeHandshakeKey((into) => {
        requested.push(into.length);
        into.forEach((_, i) => (into[i] = i));
      });
      assert.deepEqual(requested, [16]);
      assert.equal(key, "AAECAwQFBgcICQoLDA0ODw==");
      assert.equal(key.length, 24);
    });

    it("is fresh for each call, as the random source is", () => {
      let seed = 0;
      const counter = (into: Uint8Array) => into.fill(++seed);
      assert.notEqual(makeHandshakeKey(counter), makeHandshakeKey(counter));
    });
  });

  describe("expectedAccept", () => {
    it("gives RFC 6455's example: base64(SHA-1(key + GUID))", () => {
      assert.equal(expectedAccept(RFC_KEY, sha1), RFC_ACCEPT);
    });

    it("gives the same with a native SHA-1", () => {
      assert.equal(expectedAccept(RFC_KEY, nodeSha1), RFC_ACCEPT);
    });

    it("hashes exactly the ASCII bytes of key + GUID", () => {
      let hashed = "";
      expectedAccept("abc", (bytes) => {
        hashed = text(bytes);
        return new Uint8Array(20);
      });
      assert.equal(hashed, "abc258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    });
  });

  describe("encodeHandshakeRequest", () => {
    const request = {
      url: parseWebSocketUrl("ws://example.com:8080/chat?room=1"),
      key: RFC_KEY,
      protocols: [] as string[],
      headers: [] as Array<[string, string]>,
    };

    it("writes the request line, the section 4.1 headers in order, and a blank line", () => {
      assert.equal(
        text(encodeHandshakeRequest(request)),
        "GET /chat?room=1 HTTP/1.1\r\n" +
          "Host: example.com:8080\r\n" +
          "Upgrade: websocket\r\n" +
          "Connection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${RFC_KEY}\r\n` +
          "Sec-WebSocket-Version: 13\r\n" +
          "\r\n",
      );
    });

    it("offers subprotocols in one header, in order of preference", () => {
      const bytes = encodeHandshakeRequest({ ...request, protocols: ["mqtt", "json.v2"] });
      assert.match(
        text(bytes),
        /Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt, json\.v2\r\n\r\n$/,
      );
    });

    it("appends extra headers after the client's own, as given", () => {
      const bytes = encodeHandshakeRequest({
        ...request,
        protocols: ["chat"],
        headers: [
          ["Authorization", "Bearer abc.def"],
          ["X-Device", "esp32-\u00e9"],
        ],
      });
      assert.match(
        text(bytes),
        /Sec-WebSocket-Protocol: chat\r\nAuthorization: Bearer abc\.def\r\nX-Device: esp32-\u00e9\r\n\r\n$/,
      );
      assert.equal(bytes[bytes.length - 5], 0xe9, "a latin1 character is one byte");
    });

    it("uses the Host header without the default port, and brackets for IPv6", () => {
      const url = parseWebSocketUrl("ws://[::1]/");
      const bytes = encodeHandshakeRequest({ ...request, url });
      assert.match(text(bytes), /^GET \/ HTTP\/1\.1\r\nHost: \[::1\]\r\n/);
    });
  });

  describe("validateHeaders", () => {
    it("gives no headers for undefined", () => {
      assert.deepEqual(validateHeaders(undefined), []);
    });

    it("accepts a plain object or an array of pairs, and returns pairs", () => {
      assert.deepEqual(validateHeaders({ Authorization: "Bearer t", "X-Id": "7" }), [
        ["Authorization", "Bearer t"],
        ["X-Id", "7"],
      ]);
      assert.deepEqual(
        validateHeaders([
          ["Cookie", "a=1"],
          ["Cookie", "b=2"],
        ]),
        [
          ["Cookie", "a=1"],
          ["Cookie", "b=2"],
        ],
      );
    });

    it("accepts tab, latin1 (obs-text) and empty values, and every token character in names", () => {
      assert.deepEqual(validateHeaders({ "!#$%&'*+-.^_`|~09azAZ": "a\tb \u00ff" }), [
        ["!#$%&'*+-.^_`|~09azAZ", "a\tb \u00ff"],
      ]);
      assert.deepEqual(validateHeaders({ "X-Empty": "" }), [["X-Empty", ""]]);
    });

    it("rejects names that are not HTTP tokens, naming them", () => {
      assertInvalidOption(
        () => validateHeaders({ "X Token": "1" }),
        /option headers\["X Token"\] must be named by an HTTP token/,
      );
      assertInvalidOption(() => validateHeaders({ "X-A:b": "1" }), /headers\["X-A:b"\].*HTTP token/);
      assertInvalidOption(() => validateHeaders({ "": "1" }), /headers\[""\].*HTTP token/);
      assertInvalidOption(() => validateHeaders({ "X-\u00e9": "1" }), /HTTP token/);
      assertInvalidOption(() => validateHeaders([["X\r\nEvil", "1"]]), /HTTP token/);
    });

    it("rejects values with CR, LF, NUL or other controls (header injection), without showing them", () => {
      const cases: Array<[string, RegExp]> = [
        ["secret-token\r\nX-Evil: 1", /CR \(0x0d\) at index 12/],
        ["secret-token\n", /LF \(0x0a\) at index 12/],
        ["secret-token\u0000", /NUL \(0x00\) at index 12/],
        ["secret-token\u001b[31m", /control character 0x1b at index 12/],
        ["secret-token\u007f", /control character 0x7f at index 12/],
      ];
      for (const [value, where] of cases) {
        const error = assertInvalidOption(
          () => validateHeaders({ Authorization: value }),
          /option headers\["Authorization"\] must be a value without CR, LF, NUL or other control characters/,
        );
        assert.match(error.message, where);
        assert.ok(!error.message.includes("secret"), `the value leaked: ${error.message}`);
      }
    });

    it("rejects characters beyond latin1, naming the code point", () => {
      const error = assertInvalidOption(
        () => validateHeaders([["X-Name", "caf\u00e9 \u20ac"]]),
        /headers\["X-Name"\] must be a latin1 value.*U\+20AC at index 5/,
      );
      assert.ok(!error.message.includes("caf"));
    });

    it("rejects every header the client sets itself, in any case", () => {
      const managed = [
        "Host",
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept",
        "Content-Length",
        "Transfer-Encoding",
      ];
      for (const name of managed) {
        for (const spelling of [name, name.toLowerCase(), name.toUpperCase()]) {
          assertInvalidOption(
            () => validateHeaders({ [spelling]: "x" }),
            new RegExp(`headers\\["${spelling}"\\] must be left out: the client sets ${spelling} itself`),
          );
        }
      }
      assertInvalidOption(
        () => validateHeaders({ "sec-websocket-protocol": "chat" }),
        /use the protocols option/,
      );
    });

    it("rejects values that are not strings and entries that are not pairs", () => {
      assertInvalidOption(
        () => validateHeaders({ "X-Count": 5 } as unknown as Record<string, string>),
        /option headers\["X-Count"\] must be a string, got 5/,
      );
      const bad = [["X-A", "1"], ["X-B"], "X-C: 1", ["X-D", 4], ["X-E", "1", "2"]];
      for (let i = 1; i < bad.length; i++) {
        assertInvalidOption(
          () => validateHeaders([bad[0], bad[i]] as unknown as Array<[string, string]>),
          /option headers\[1\] must be a \[name, value\] pair of strings/,
        );
      }
    });

    it("rejects something that is neither an object nor an array", () => {
      for (const value of ["Authorization: x", 42, null]) {
        assertInvalidOption(
          () => validateHeaders(value as unknown as Record<string, string>),
          /option headers must be an object or an array of \[name, value\] pairs/,
        );
      }
    });
  });

  describe("validateProtocols", () => {
    it("gives no protocols for undefined or an empty array", () => {
      assert.deepEqual(validateProtocols(undefined), []);
      assert.deepEqual(validateProtocols([]), []);
    });

    it("accepts one string or an array, keeping the order", () => {
      assert.deepEqual(validateProtocols("chat"), ["chat"]);
      assert.deepEqual(validateProtocols(["v2.json", "v1.json", "mqtt"]), ["v2.json", "v1.json", "mqtt"]);
    });

    it("rejects values that are not tokens, naming them", () => {
      assertInvalidOption(
        () => validateProtocols("a b"),
        /option protocols must be an HTTP token.*got "a b"/,
      );
      assertInvalidOption(
        () => validateProtocols(["chat", "a,b"]),
        /option protocols\[1\] must be an HTTP token.*got "a,b"/,
      );
      assertInvalidOption(() => validateProtocols(["", "x"]), /protocols\[0\].*got ""/);
      assertInvalidOption(() => validateProtocols(["ch\u00e4t"]), /protocols\[0\].*HTTP token/);
      assertInvalidOption(() => validateProtocols(["x\r\n"]), /protocols\[0\].*HTTP token/);
    });

    it("rejects duplicates (section 4.1, item 10), but not names that differ in case", () => {
      assertInvalidOption(
        () => validateProtocols(["a", "b", "a"]),
        /option protocols\[2\] must be unique.*got "a"/,
      );
      assert.deepEqual(validateProtocols(["chat", "Chat"]), ["chat", "Chat"]);
    });

    it("rejects entries and values of the wrong type", () => {
      assertInvalidOption(() => validateProtocols([7] as unknown as string[]), /protocols\[0\].*got 7/);
      assertInvalidOption(
        () => validateProtocols(42 as unknown as string),
        /option protocols must be a string or an array of strings, got 42/,
      );
    });
  });

  describe("HandshakeResponseParser", () => {
    const frames = latin1("\x81\x05hello\x89\x00");

    it("parses a head: status, reason, lower-cased names, trimmed values", () => {
      const head = parse(
        "HTTP/1.1 101 Switching Protocols\r\n" +
          "Upgrade:websocket\r\n" +
          "CONNECTION:   Upgrade  \r\n" +
          "Sec-WebSocket-Accept: \t" + RFC_ACCEPT + "\t\r\n" +
          "X-Empty:\r\n" +
          "\r\n",
      );
      assert.equal(head.status, 101);
      assert.equal(head.reason, "Switching Protocols");
      assert.deepEqual(
        [...head.headers],
        [
          ["upgrade", "websocket"],
          ["connection", "Upgrade"],
          ["sec-websocket-accept", RFC_ACCEPT],
          ["x-empty", ""],
        ],
      );
    });

    it("joins repeated headers with \", \" in order (RFC 7230 section 3.2.2)", () => {
      const head = parse("HTTP/1.1 101 OK\r\nX-A: 1\r\nx-a: 2\r\nX-B: b\r\nX-A:3\r\n\r\n");
      assert.equal(head.headers.get("x-a"), "1, 2, 3");
      assert.equal(head.headers.get("x-b"), "b");
    });

    it("keeps latin1 (obs-text) bytes of values and reasons as characters", () => {
      const head = parse("HTTP/1.1 404 Nicht gef\u00fcnden\r\nX-Name: \u00e9t\u00e9\r\n\r\n");
      assert.equal(head.reason, "Nicht gef\u00fcnden");
      assert.equal(head.headers.get("x-name"), "\u00e9t\u00e9");
    });

    it("accepts HTTP/1.0 and a missing or empty reason phrase", () => {
      assert.equal(parse("HTTP/1.0 101 Switching Protocols\r\n\r\n").status, 101);
      const bare = parse("HTTP/1.1 101\r\n\r\n");
      assert.equal(bare.status, 101);
      assert.equal(bare.reason, "");
      assert.equal(parse("HTTP/1.1 101 \r\n\r\n").reason, "");
    });

    it("returns the bytes after the head as rest: the server's first frames", () => {
      const { head, rest } = feed([concat([latin1(switching()), frames])]);
      assert.equal(head.status, 101);
      assert.deepEqual(rest, frames);
    });

    it("returns an empty rest when the chunk ends with the head", () => {
      const { rest } = feed([latin1(switching())]);
      assert.equal(rest.length, 0);
    });

    it("gives the same head and rest for every chunking, down to one byte at a time", () => {
      const response = concat([latin1(switching("Sec-WebSocket-Protocol: chat")), frames]);
      const whole = feed([response]);
      for (const chunks of chunkings(response)) {
        const { head, rest, unfed } = feed(chunks);
        assert.deepEqual(head, whole.head, `cut into ${chunks.map((c) => c.length).join("+")}`);
        // The caller hands rest, then the chunks that came after, to the frame parser.
        assert.deepEqual(concat([rest, ...unfed]), frames);
      }
    });

    it("answers done: false until CRLF CRLF has arrived", () => {
      const parser = new HandshakeResponseParser(1024);
      for (const part of ["HTTP/1.1 101 OK\r", "\n", "A: b\r\n", "\r"]) {
        assert.deepEqual(parser.push(latin1(part)), { done: false });
      }
      assert.equal(parser.push(latin1("\n")).done, true);
    });

    it("accepts an empty chunk at any time", () => {
      const parser = new HandshakeResponseParser(1024);
      assert.deepEqual(parser.push(new Uint8Array(0)), { done: false });
      parser.push(latin1("HTTP/1.1 101 OK\r\n"));
      assert.deepEqual(parser.push(new Uint8Array(0)), { done: false });
      assert.equal(parser.push(latin1("\r\n")).done, true);
    });

    it("does not keep a reference to the caller's chunks between pushes", () => {
      const parser = new HandshakeResponseParser(1024);
      const first = latin1("HTTP/1.1 101 OK\r\nX-A: 1");
      parser.push(first);
      first.fill(0x21); // the caller reuses its buffer
      const result = parser.push(latin1("23\r\n\r\n"));
      assert.ok(result.done);
      assert.equal(result.head.headers.get("x-a"), "123");
    });

    describe("size bound (maxHandshakeBytes)", () => {
      /** A head of exactly `size` bytes, CRLF CRLF included. */
      function headOfSize(size: number): string {
        const start = "HTTP/1.1 101 OK\r\nX-Pad: ";
        const head = start + "p".repeat(size - start.length - 4) + "\r\n\r\n";
        assert.equal(head.length, size);
        return head;
      }

      it("accepts a head of exactly maxBytes, with frames after it", () => {
        const response = concat([latin1(headOfSize(256)), frames]);
        for (const chunks of [[response], ...chunkings(response)]) {
          const { head, rest, unfed } = feed(chunks, 256);
          assert.equal(head.status, 101);
          assert.deepEqual(concat([rest, ...unfed]), frames);
        }
      });

      it("fails with ERR_HANDSHAKE_TOO_LARGE once maxBytes arrived without the end", () => {
        const response = latin1(headOfSize(257));
        const parser = new HandshakeResponseParser(256);
        for (let i = 0; i < 255; i++) {
          assert.deepEqual(parser.push(response.subarray(i, i + 1)), { done: false }, `byte ${i}`);
        }
        const error = assertHandshakeError(
          () => parser.push(response.subarray(255, 256)),
          ErrorCode.HANDSHAKE_TOO_LARGE,
          /server's response head exceeds maxHandshakeBytes \(256 bytes\)/,
        );
        assert.match(error.message, /it begins "HTTP\/1\.1 101 OK"/);
        assert.equal(error.status, undefined);
      });

      it("fails at once on one large chunk, whatever its size", () => {
        const huge = concat([latin1("HTTP/1.1 200 OK\r\nX-Pad: "), new Uint8Array(1 << 20).fill(0x61)]);
        assertHandshakeError(
          () => new HandshakeResponseParser(4096).push(huge),
          ErrorCode.HANDSHAKE_TOO_LARGE,
          /exceeds maxHandshakeBytes \(4096 bytes\)/,
        );
      });

      it("rejects a maxBytes that is not a positive integer", () => {
        for (const bad of [0, -1, 1.5, NaN]) {
          assert.throws(
            () => new HandshakeResponseParser(bad),
            (error: unknown) =>
              error instanceof WebSocketError && error.code === ErrorCode.INVALID_ARGUMENT,
          );
        }
      });
    });

    describe("malformed responses (ERR_HANDSHAKE_MALFORMED)", () => {
      /**
       * Asserts `response` is refused with `message` when fed whole, and with
       * `chunkedMessage` in every chunking (a response refused at its first bytes can only
       * quote what had arrived).
       */
      function assertMalformed(
        response: string,
        message: RegExp,
        chunkedMessage: RegExp = message,
      ): HandshakeError {
        const bytes = latin1(response);
        const whole = assertHandshakeError(
          () => new HandshakeResponseParser(4096).push(bytes),
          ErrorCode.HANDSHAKE_MALFORMED,
          message,
        );
        for (const chunks of chunkings(bytes)) {
          const parser = new HandshakeResponseParser(4096);
          assertHandshakeError(
            () => chunks.forEach((chunk) => parser.push(chunk)),
            ErrorCode.HANDSHAKE_MALFORMED,
            chunkedMessage,
          );
        }
        return whole;
      }

      it("garbage instead of HTTP, quoted, and refused at the first byte", () => {
        const parser = new HandshakeResponseParser(4096);
        assertHandshakeError(
          () => parser.push(latin1("hello there, this is not HTTP")),
          ErrorCode.HANDSHAKE_MALFORMED,
          /^server's response is not HTTP\/1\.x: it begins "hello there, this is not HTTP"$/,
        );
        assertMalformed(
          "SSH-2.0-OpenSSH_9.2\r\n",
          /^server's response is not HTTP\/1\.x: it begins "SSH-2\.0-OpenSSH_9\.2"$/,
          /^server's response is not HTTP\/1\.x: it begins "S/,
        );
      });

      it("another HTTP version", () => {
        assertMalformed(
          "HTTP/2 101\r\n\r\n",
          /not HTTP\/1\.x: it begins "HTTP\/2 101"$/,
          /not HTTP\/1\.x: it begins "HTTP\/2/,
        );
        assertMalformed("HTTP/1\r\n\r\n", /not HTTP\/1\.x: it begins "HTTP\/1"/);
      });

      it("binary garbage, with non-printable bytes escaped and the quote shortened", () => {
        const garbage = "\u0000\u0001\u00ff\"\\" + "x".repeat(200);
        const error = assertMalformed(
          garbage,
          /not HTTP\/1\.x: it begins "\\x00\\x01\\xff\\"\\\\x+\.\.\."$/,
          /not HTTP\/1\.x: it begins "\\x00/,
        );
        assert.ok(error.message.length < 150, error.message);
        assert.ok(!/[\u0000-\u001f\u007f-\uffff]/.test(error.message), "no raw bytes in the message");
      });

      it("a TLS record, with a hint that the server may want wss://", () => {
        const alert = String.fromCharCode(0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46);
        assertMalformed(
          alert,
          /it begins "\\x15\\x03\\x03\\x00\\x02\\x02F" \(a TLS record: is this a wss:\/\/ server\?\)$/,
          /not HTTP\/1\.x: it begins "\\x15.*" \(a TLS record: is this a wss:\/\/ server\?\)$/,
        );
      });

      it("a status line that is not HTTP-version SP 3DIGIT [SP reason]", () => {
        const bad = [
          "HTTP/1.1 1011 Switching",
          "HTTP/1.1 10 Switching",
          "HTTP/1.1 abc OK",
          "HTTP/1.1  101 OK",
          "HTTP/1.1\t101 OK",
          "HTTP/1.1 101\tOK",
          "HTTP/1.x 101 OK",
          "HTTP/1.11 101 OK",
          "HTTP/1.1",
        ];
        for (const line of bad) {
          // As quoted: the tab escaped; then as a regular expression: "." and "\" escaped.
          const quoted = line.replace("\t", "\\x09").replace(/[.\\]/g, "\\$&");
          assertMalformed(
            `${line}\r\nUpgrade: websocket\r\n\r\n`,
            new RegExp(
              `server's status line "${quoted}" is not "HTTP/1\\.1 <3-digit status> <reason>"`,
            ),
          );
        }
      });

      it("a header line without a colon", () => {
        assertMalformed(
          "HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
          /header line without a colon: "Upgrade websocket"/,
        );
      });

      it("whitespace between a header name and its colon", () => {
        assertMalformed(
          "HTTP/1.1 101 OK\r\nUpgrade : websocket\r\n\r\n",
          /name is not an HTTP token: "Upgrade : websocket"/,
        );
      });

      it("an empty header name, or one with characters outside tokens", () => {
        assertMalformed("HTTP/1.1 101 OK\r\n: websocket\r\n\r\n", /not an HTTP token: ": websocket"/);
        assertMalformed(
          "HTTP/1.1 101 OK\r\nUp\u00e4grade: websocket\r\n\r\n",
          /not an HTTP token: "Up\\xe4grade: websocket"/,
        );
      });

      it("obsolete line folding (RFC 7230 section 3.2.4)", () => {
        assertMalformed(
          "HTTP/1.1 101 OK\r\nX-Long: part one\r\n  part two\r\n\r\n",
          /folded header line \(obsolete line folding, RFC 7230 section 3\.2\.4\): "  part two"/,
        );
        assertMalformed("HTTP/1.1 101 OK\r\n\tX-A: 1\r\n\r\n", /folded header line/);
      });

      it("bare LF line endings: strict, although RFC 7230 section 3.5 allows leniency", () => {
        assertMalformed(
          "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n",
          /a line ending in a bare LF instead of CRLF; it begins "HTTP\/1\.1 101 Switching Protocols"/,
        );
        assertMalformed("HTTP/1.1 101 OK\r\nUpgrade: websocket\n\r\n", /bare LF/);
        assertMalformed("HTTP/1.1 101 OK\r\n\n", /bare LF/);
      });

      it("a bare CR", () => {
        assertMalformed("HTTP/1.1 101 OK\rUpgrade: websocket\r\n\r\n", /a CR not followed by LF/);
        assertMalformed("HTTP/1.1 101 OK\r\n\r\r\n", /a CR not followed by LF/);
      });

      it("control bytes in the head", () => {
        assertMalformed("HTTP/1.1 101 OK\r\nX-A: a\u0000b\r\n\r\n", /control byte 0x00/);
        assertMalformed("HTTP/1.1 101 O\u001bK\r\n\r\n", /control byte 0x1b/);
        assertMalformed("HTTP/1.1 101 OK\r\nX-A: \u007f\r\n\r\n", /control byte 0x7f/);
      });

      it("sets status on a header error when the status line was valid", () => {
        const error = assertMalformed("HTTP/1.1 404 Not Found\r\nbroken\r\n\r\n", /without a colon/);
        assert.equal(error.status, 404);
      });
    });

    describe("after it finished", () => {
      it("refuses more bytes once the head is parsed", () => {
        const parser = new HandshakeResponseParser(1024);
        parser.push(latin1(switching()));
        assert.throws(
          () => parser.push(frames),
          (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_STATE,
        );
      });

      it("refuses more bytes after an error", () => {
        const parser = new HandshakeResponseParser(1024);
        assert.throws(() => parser.push(latin1("garbage")), HandshakeError);
        assert.throws(
          () => parser.push(latin1(switching())),
          (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_STATE,
        );
      });
    });
  });

  describe("validateHandshakeResponse", () => {
    it("accepts a valid 101 and reports no subprotocol", () => {
      assert.deepEqual(validateHandshakeResponse(parse(switching()), expected()), { protocol: "" });
    });

    it("accepts the values' documented case-insensitivity and Connection lists", () => {
      const response = without(
        without(switching(), "Upgrade", "upgrade: WebSocket"),
        "Connection",
        "connection: keep-alive, UPGRADE",
      );
      assert.deepEqual(validateHandshakeResponse(parse(response), expected()), { protocol: "" });
      const split = without(switching(), "Connection", "Connection: keep-alive", "Connection: Upgrade");
      assert.deepEqual(validateHandshakeResponse(parse(split), expected()), { protocol: "" });
    });

    it("returns the subprotocol the server selected from those offered", () => {
      const head = parse(switching("Sec-WebSocket-Protocol: v1.json"));
      assert.deepEqual(validateHandshakeResponse(head, expected(["v2.json", "v1.json"])), {
        protocol: "v1.json",
      });
    });

    it("accepts no subprotocol when some were offered (the server chose none)", () => {
      assert.deepEqual(validateHandshakeResponse(parse(switching()), expected(["chat"])), {
        protocol: "",
      });
    });

    it("accepts an empty Sec-WebSocket-Extensions header", () => {
      const head = parse(switching("Sec-WebSocket-Extensions: "));
      assert.deepEqual(validateHandshakeResponse(head, expected()), { protocol: "" });
    });

    describe("status other than 101 (ERR_HANDSHAKE_STATUS, error.status set)", () => {
      function assertStatus(
        response: string,
        status: number,
        message: RegExp,
        code: ErrorCodeValue = ErrorCode.HANDSHAKE_STATUS,
      ): HandshakeError {
        const error = assertHandshakeError(
          () => validateHandshakeResponse(parse(response), expected()),
          code,
          message,
        );
        assert.equal(error.status, status);
        return error;
      }

      it("404 Not Found", () => {
        assertStatus(
          "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
          404,
          /^server answered 404 Not Found, expected 101 Switching Protocols$/,
        );
      });

      it("200 OK from a plain web server", () => {
        assertStatus("HTTP/1.1 200 OK\r\n\r\n", 200, /^server answered 200 OK, expected 101/);
      });

      it("a status without a reason phrase", () => {
        assertStatus("HTTP/1.1 500\r\n\r\n", 500, /^server answered 500, expected 101 Switching Protocols$/);
      });

      it("a redirect, with its Location, which the client does not follow", () => {
        for (const status of [301, 302, 307, 308]) {
          assertStatus(
            `HTTP/1.1 ${status} Moved\r\nLocation: wss://new.example.com/ws\r\n\r\n`,
            status,
            new RegExp(
              `^server answered ${status} Moved \\(Location: wss://new\\.example\\.com/ws\\), ` +
                `expected 101 Switching Protocols; the client does not follow redirects`,
            ),
          );
        }
        assertStatus(
          "HTTP/1.1 302 Found\r\n\r\n",
          302,
          /302 Found \(no Location header\).*does not follow redirects/,
        );
      });

      it("401 and 403: ERR_UNAUTHORIZED, pointing at the credentials", () => {
        assertStatus(
          'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\n\r\n',
          401,
          new RegExp(
            "^server answered 401 Unauthorized, expected 101 Switching Protocols; " +
              "the server requires authentication: pass credentials in the headers option",
          ),
          ErrorCode.UNAUTHORIZED,
        );
        assertStatus(
          "HTTP/1.1 403 Forbidden\r\n\r\n",
          403,
          /^server answered 403 Forbidden, expected 101 Switching Protocols; the server refuses these credentials/,
          ErrorCode.UNAUTHORIZED,
        );
        assertStatus(
          "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
          407,
          /requires authentication \(by a proxy\)/,
        );
      });

      it("426, naming the versions the server wants", () => {
        assertStatus(
          "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 8, 7\r\n\r\n",
          426,
          /426 Upgrade Required.*\(Sec-WebSocket-Version: 8, 7\), the client speaks version 13/,
        );
      });

      it("503 and 429 with Retry-After", () => {
        assertStatus(
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n\r\n",
          503,
          /^server answered 503 Service Unavailable, expected 101 Switching Protocols; Retry-After: 120$/,
        );
        assertStatus("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n", 429, /; Retry-After: 5$/);
      });

      it("escapes what the server sent in the reason and Location", () => {
        const error = assertStatus(
          "HTTP/1.1 302 F\u00f6und\r\nLocation: /x\u00ff\r\n\r\n",
          302,
          /302 F\\xf6und \(Location: \/x\\xff\)/,
        );
        assert.ok(!/[\u0080-\uffff]/.test(error.message));
      });

      it("is checked before anything else, so a 404 is reported as a 404", () => {
        assertStatus("HTTP/1.1 404 Not Found\r\nSec-WebSocket-Extensions: x\r\n\r\n", 404, /404 Not Found/);
      });
    });

    describe("HTTP version", () => {
      it("refuses a 101 over HTTP/1.0 (protocol switching is HTTP/1.1, RFC 7230 section 6.7)", () => {
        const error = assertHandshakeError(
          () => check(switching().replace("HTTP/1.1 101", "HTTP/1.0 101")),
          ErrorCode.HANDSHAKE_MALFORMED,
          /^server answered 101 over HTTP\/1\.0; switching protocols needs HTTP\/1\.1$/,
        );
        assert.equal(error.status, 101);
      });

      it("reports a non-101 answer over HTTP/1.0 by its status", () => {
        const error = assertHandshakeError(
          () => check("HTTP/1.0 404 Not Found\r\n\r\n"),
          ErrorCode.HANDSHAKE_STATUS,
          /404 Not Found/,
        );
        assert.equal(error.status, 404);
      });
    });

    describe("Upgrade (ERR_HANDSHAKE_UPGRADE)", () => {
      it("missing", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(parse(without(switching(), "Upgrade")), expected()),
          ErrorCode.HANDSHAKE_UPGRADE,
          /^server's 101 response has no Upgrade header, expected Upgrade: websocket$/,
        );
      });

      it("another value", () => {
        for (const value of ["h2c", "websocket2", "web socket", "websocket, h2c"]) {
          const error = assertHandshakeError(
            () => check(without(switching(), "Upgrade", `Upgrade: ${value}`)),
            ErrorCode.HANDSHAKE_UPGRADE,
            new RegExp(`has Upgrade: "${value}", expected Upgrade: websocket`),
          );
          assert.equal(error.status, 101);
        }
      });
    });

    describe("Connection (ERR_HANDSHAKE_CONNECTION)", () => {
      it("missing", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(parse(without(switching(), "Connection")), expected()),
          ErrorCode.HANDSHAKE_CONNECTION,
          /^server's 101 response has no Connection header, expected Connection: Upgrade$/,
        );
      });

      it("without the upgrade token (a token, not a substring)", () => {
        for (const value of ["keep-alive", "upgrades", "up grade", "keep-alive upgrade"]) {
          assertHandshakeError(
            () => check(without(switching(), "Connection", `Connection: ${value}`)),
            ErrorCode.HANDSHAKE_CONNECTION,
            new RegExp(`has Connection: "${value}", expected Connection: Upgrade`),
          );
        }
      });
    });

    describe("Sec-WebSocket-Accept (ERR_HANDSHAKE_ACCEPT)", () => {
      it("missing", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(parse(without(switching(), "Sec-WebSocket-Accept")), expected()),
          ErrorCode.HANDSHAKE_ACCEPT,
          new RegExp(`^server's Sec-WebSocket-Accept is missing, expected "${RFC_ACCEPT_RE}"`),
        );
      });

      it("wrong, showing what came and what was expected", () => {
        const wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assertHandshakeError(
          () => check(without(switching(), "Sec-WebSocket-Accept", `Sec-WebSocket-Accept: ${wrong}`)),
          ErrorCode.HANDSHAKE_ACCEPT,
          new RegExp(`is "${wrong}", expected "${RFC_ACCEPT_RE}"`),
        );
      });

      it("compared exactly: base64 is case-sensitive", () => {
        const lower = RFC_ACCEPT.toLowerCase();
        assertHandshakeError(
          () => check(without(switching(), "Sec-WebSocket-Accept", `Sec-WebSocket-Accept: ${lower}`)),
          ErrorCode.HANDSHAKE_ACCEPT,
          new RegExp(`Sec-WebSocket-Accept is "${RFC_ACCEPT.toLowerCase().replace(/[+=]/g, "\\$&")}"`),
        );
      });

      it("sent twice, even with the right value (joined, it no longer matches)", () => {
        assertHandshakeError(
          () => check(switching(`Sec-WebSocket-Accept: ${RFC_ACCEPT}`)),
          ErrorCode.HANDSHAKE_ACCEPT,
          new RegExp(`Sec-WebSocket-Accept is "${RFC_ACCEPT_RE}, ${RFC_ACCEPT_RE}", expected`),
        );
      });
    });

    describe("Sec-WebSocket-Protocol (ERR_HANDSHAKE_PROTOCOL)", () => {
      const selecting = (value: string) => parse(switching(`Sec-WebSocket-Protocol: ${value}`));

      it("a subprotocol when none was offered", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(selecting("chat"), expected()),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /^server selected subprotocol "chat", but none was offered$/,
        );
      });

      it("one that was not offered, or differs in case", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(selecting("mqtt"), expected(["v1.json", "v2.json"])),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /^server selected subprotocol "mqtt", which is not one of those offered \(v1\.json, v2\.json\)$/,
        );
        assertHandshakeError(
          () => validateHandshakeResponse(selecting("CHAT"), expected(["chat"])),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /"CHAT", which is not one of those offered/,
        );
      });

      it("more than one, in one header or repeated", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(selecting("a, b"), expected(["a", "b"])),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /^server selected more than one subprotocol \("a, b"\)/,
        );
        const repeated = parse(switching("Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: a"));
        assertHandshakeError(
          () => validateHandshakeResponse(repeated, expected(["a"])),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /more than one subprotocol/,
        );
      });

      it("an empty value", () => {
        assertHandshakeError(
          () => validateHandshakeResponse(selecting(""), expected(["chat"])),
          ErrorCode.HANDSHAKE_PROTOCOL,
          /subprotocol "", which is not one of those offered \(chat\)/,
        );
      });
    });

    describe("Sec-WebSocket-Extensions (ERR_HANDSHAKE_EXTENSION)", () => {
      it("any extension, since the client offers none", () => {
        const error = assertHandshakeError(
          () =>
            validateHandshakeResponse(
              parse(switching("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")),
              expected(),
            ),
          ErrorCode.HANDSHAKE_EXTENSION,
          new RegExp(
            '^server accepted extension "permessage-deflate; client_max_window_bits", ' +
              "but the client offered none$",
          ),
        );
        assert.equal(error.status, 101);
      });
    });
  });
});
