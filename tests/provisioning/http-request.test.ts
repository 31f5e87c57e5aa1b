/**
 * The portal's HTTP request parser (src/provisioning/http-request.ts): requests split at
 * every byte boundary give the same result as whole; each strictness rule and each bound
 * ends in its error status, as early as the offending byte; what comes after a request is
 * ignored.
 */
import assert from "node:assert/strict";
import {
  DEFAULT_HTTP_REQUEST_LIMITS,
  HttpRequestParser,
  resolveHttpRequestLimits,
  type HttpParseResult,
  type HttpRequestLimits,
} from "../../src/provisioning/http-request.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function parse(text: string | Uint8Array, limits: Partial<HttpRequestLimits> = {}): HttpParseResult {
  const parser = new HttpRequestParser(resolveHttpRequestLimits(limits));
  return parser.push(typeof text === "string" ? bytes(text) : text);
}

/** Feeds `text` split at `at`, returning the first result that is not "more". */
function parseSplit(text: string, at: number): HttpParseResult {
  const parser = new HttpRequestParser(DEFAULT_HTTP_REQUEST_LIMITS);
  const all = bytes(text);
  const first = parser.push(all.subarray(0, at));
  if (first.kind !== "more") return first;
  return parser.push(all.subarray(at));
}

function status(result: HttpParseResult): number | "more" | "request" {
  if (result.kind === "error") return result.error.status;
  return result.kind;
}

const FORM_POST =
  "POST /save HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
  "Origin: HTTP://192.168.4.1\r\nContent-Length: 24\r\n\r\nssid=home&password=abcd";

describe("HttpRequestParser", () => {
  it("reads a GET: method, path, query, version, host (lower-cased), no body", () => {
    const result = parse("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: Example.COM:8081\r\nAccept: */*\r\n\r\n");
    assert.equal(result.kind, "request");
    if (result.kind !== "request") return;
    const request = result.request;
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/a/b");
    assert.equal(request.query, "x=1&y=2");
    assert.equal(request.minorVersion, 1);
    assert.equal(request.host, "example.com:8081");
    assert.equal(request.body.length, 0);
  });

  it("reads a form POST with its body, content type and origin", () => {
    const result = parse(FORM_POST + "d");
    assert.equal(result.kind, "request");
    if (result.kind !== "request") return;
    assert.equal(new TextDecoder().decode(result.request.body), "ssid=home&password=abcdd");
    assert.equal(result.request.contentType, "application/x-www-form-urlencoded");
    assert.equal(result.request.origin, "http://192.168.4.1");
  });

  it("gives the same request whatever the chunking, split at every byte", () => {
    const text = FORM_POST + "d";
    for (let at = 0; at <= text.length; at++) {
      const result = parseSplit(text, at);
      assert.equal(result.kind, "request", `split at ${at}`);
      if (result.kind === "request") assert.equal(result.request.body.length, 24, `split at ${at}`);
    }
  });

  it("says more until the request is whole, and then reports it once; what follows is ignored", () => {
    const parser = new HttpRequestParser(DEFAULT_HTTP_REQUEST_LIMITS);
    assert.equal(parser.received, 0);
    assert.equal(parser.push(bytes("GET / HTTP/1.1\r\nHost: a\r\n")).kind, "more");
    assert.ok(parser.received > 0);
    assert.equal(parser.push(bytes("\r\nGET /again HTTP/1.1\r\n\r\n")).kind, "request");
    assert.equal(parser.push(bytes("more garbage\r\n\r\n")).kind, "more");
  });

  it("accepts HTTP/1.0 without Host, and the absolute form of a target", () => {
    assert.equal(status(parse("GET / HTTP/1.0\r\n\r\n")), "request");
    const result = parse("GET http://connectivitycheck.gstatic.com/generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n");
    assert.equal(result.kind, "request");
    if (result.kind === "request") assert.equal(result.request.path, "/generate_204");
  });

  describe("refuses what is not HTTP/1.1 as RFC 9112 writes it", () => {
    const cases: Array<[string, string, number, RegExp]> = [
      ["a bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400, /bare LF/],
      ["a CR not followed by LF", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, /CR not followed by LF/],
      ["a control byte", "GET /\u0001 HTTP/1.1\r\n\r\n", 400, /control byte 0x01/],
      ["a NUL in a field", "GET / HTTP/1.1\r\nHost: a\u0000b\r\n\r\n", 400, /control byte 0x00/],
      ["two spaces", "GET  / HTTP/1.1\r\n\r\n", 400, /is not "METHOD \/path HTTP\/1.1"/],
      ["a method that is not a token", "G(T / HTTP/1.1\r\n\r\n", 400, /method "G\(T" is not a token/],
      ["a version that is not HTTP/x.y", "GET / HTTX/1.1\r\n\r\n", 400, /not HTTP\/x\.y/],
      ["HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505, /HTTP\/2\.0 is not served here/],
      ["a target that is not a path", "GET example.com HTTP/1.1\r\n\r\n", 400, /not a path/],
      ["a fragment", "GET /#x HTTP/1.1\r\n\r\n", 400, /fragment/],
      ["a byte beyond ASCII in the target", "GET /\u00e9 HTTP/1.1\r\n\r\n", 400, /not visible ASCII/],
      ["a folded field", "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, /obsolete line folding/],
      ["a space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, /field name "Host " is not a token/],
      ["a field without a colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400, /without a colon/],
      ["no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400, /without Host/],
      ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, /more than one Host/],
      ["Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501, /Transfer-Encoding is not supported/],
      ["Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, /both/],
      ["a Content-Length that is not a number", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, /is not a number of bytes/],
      ["two different Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, /two different/],
      ["a POST without a length", "POST /save HTTP/1.1\r\nHost: a\r\n\r\n", 411, /needs Content-Length/],
    ];
    for (const [what, text, code, message] of cases) {
      it(`${what}: ${code}`, () => {
        const result = parse(text);
        assert.equal(result.kind, "error");
        if (result.kind !== "error") return;
        assert.equal(result.error.status, code);
        assert.match(result.error.message, message);
      });
    }

    it("two equal Content-Lengths are one", () => {
      assert.equal(status(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")), "request");
    });
  });

  describe("bounds", () => {
    it("a request line over maxRequestLineBytes: 414, before the line ends", () => {
      const result = parse("GET /" + "a".repeat(2000), { maxRequestLineBytes: 1024 });
      assert.equal(status(result), 414);
    });

    it("a head over maxHeadBytes: 431, before it ends", () => {
      const head = "GET / HTTP/1.1\r\nHost: a\r\n" + "X-Filler: " + "b".repeat(3000);
      assert.equal(status(parse(head, { maxHeadBytes: 2048 })), 431);
    });

    it("a head of exactly maxHeadBytes passes", () => {
      const start = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
      const text = start + "c".repeat(256 - start.length - 4) + "\r\n\r\n";
      assert.equal(text.length, 256);
      assert.equal(status(parse(text, { maxHeadBytes: 256, maxRequestLineBytes: 64 })), "request");
      assert.equal(status(parse(text, { maxHeadBytes: 255, maxRequestLineBytes: 64 })), 431);
    });

    it("more than maxFields fields: 431", () => {
      const fields = Array.from({ length: 40 }, (_, i) => `X-${i}: ${i}\r\n`).join("");
      assert.equal(status(parse(`GET / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`, { maxFields: 32 })), 431);
    });

    it("a body announced over maxBodyBytes: 413, without reading it", () => {
      const result = parse("POST /save HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000\r\n\r\n");
      assert.equal(status(result), 413);
      if (result.kind === "error") assert.match(result.error.message, /10000000 bytes is more than the 2048 accepted/);
    });

    it("a body of exactly maxBodyBytes passes", () => {
      const body = "z".repeat(2048);
      assert.equal(status(parse(`POST /save HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`)), "request");
    });

    it("limits are checked, naming the bad one", () => {
      assert.throws(() => resolveHttpRequestLimits({ maxHeadBytes: 10 }), /option limits\.maxHeadBytes must be an integer from 64 to 65536 \(bytes\)/);
      assert.throws(() => resolveHttpRequestLimits({ maxRequestLineBytes: 5000 }), /limits\.maxRequestLineBytes/);
    });
  });

  it("quotes a hostile request line shortened and cleaned", () => {
    const result = parse(`GET /${"<script>".repeat(20)} HTTP/1.1 extra\r\n`);
    assert.equal(result.kind, "error");
    if (result.kind !== "error") return;
    assert.ok(result.error.message.length < 120, result.error.message);
    assert.match(result.error.message, /\.\.\."/);
  });
});
