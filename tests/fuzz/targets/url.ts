/**
 * Fuzz target: the WebSocket URL parser (src/websocket/url.ts). Any text either parses or
 * throws a WebSocketError ERR_INVALID_URL whose message quotes the URL safely (no control
 * character); nothing else escapes. A URL it accepts is one the WHATWG URL parser (Node's
 * URL) accepts too, naming the same scheme, host and port; its request target is the URL's own
 * path and query, byte for byte, with nothing that could break the request line; its Host
 * header is host plus non-default port; and parsing what it produced gives the same answer.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { ErrorCode, WebSocketError } from "../../../src/shared/errors.js";
import { parseWebSocketUrl } from "../../../src/websocket/url.js";
import type { FuzzTarget } from "../target.js";

const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9_~-]{0,10}[a-zA-Z0-9])?$/);
const host = fc.oneof(
  fc.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join(".")),
  fc.tuple(fc.nat(300), fc.nat(300), fc.nat(255), fc.nat(255)).map((parts) => parts.join(".")),
  fc.ipV6().map((address) => `[${address}]`),
  fc.constantFrom("localhost", "127.0.0.1", "[::1]", "[::ffff:1.2.3.4]", "01.2.3.4", "1.2.3", "[fe80::1%25eth0]", "[v1.x]", "ex%41mple.com", "user@host", "", "a..b", "-a.b"),
  fc.string({ maxLength: 12 }),
);
const port = fc.oneof(fc.constant(""), fc.nat(70000).map((n) => `:${n}`), fc.constantFrom(":", ":0", ":080", ":65535", ":65536", ":-1", ":8a"));
const pathPart = fc.oneof(
  fc.constant(""),
  fc.array(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}$/), { maxLength: 4 }).map((segments) => "/" + segments.join("/")),
  fc.constantFrom("/a/../b", "/./x", "/%41%zz", "/a b", "/\\x", "/é", "/\u0000", "/#frag", "/?#"),
);
const query = fc.oneof(fc.constant(""), fc.stringMatching(/^\?[A-Za-z0-9=&%/?:@._~-]{0,16}$/));
const scheme = fc.oneof({ weight: 8, arbitrary: fc.constantFrom("ws://", "wss://", "WS://", "wSs://") }, { weight: 1, arbitrary: fc.constantFrom("http://", "ws:/", "ws:", "wss:///", "ftp://", "", "ws+x://", "1ws://") });

const urls = fc.tuple(scheme, host, port, pathPart, query).map((parts) => parts.join(""));

/** Valid URLs with the parts a parser must find in them. */
export const validUrls = fc
  .record({
    secure: fc.boolean(),
    host: fc.oneof(fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => [...l, "example"].join(".")), fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join(".")), fc.constant("::1")),
    port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    path: fc.array(fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{0,8}$/), { maxLength: 3 }).map((s) => (s.length ? "/" + s.join("/") : "")),
    query: fc.option(fc.stringMatching(/^[A-Za-z0-9=&]{0,10}$/), { nil: undefined }),
  })
  .map(({ secure, host, port, path, query }) => ({
    url: `${secure ? "wss" : "ws"}://${host.includes(":") ? `[${host}]` : host.toUpperCase()}${port === undefined ? "" : `:${port}`}${path}${query === undefined ? "" : `?${query}`}`,
    secure,
    host: host.toLowerCase(),
    port: port ?? (secure ? 443 : 80),
    resource: (path === "" ? "/" : path) + (query === undefined ? "" : `?${query}`),
  }));

export const urlTarget: FuzzTarget = {
  name: "url",
  about: "src/websocket/url.ts against the WHATWG URL parser (Node's URL)",
  inputs: fc.oneof({ weight: 6, arbitrary: urls }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) }).map((text) => new TextEncoder().encode(text)),
  maxBytes: 512,
  check(bytes) {
    const url = new TextDecoder().decode(bytes);
    let parsed: ReturnType<typeof parseWebSocketUrl>;
    try {
      parsed = parseWebSocketUrl(url);
    } catch (error) {
      assert.ok(error instanceof WebSocketError, `threw ${String(error)}`);
      assert.equal(error.code, ErrorCode.INVALID_URL);
      assert.ok(error.message.startsWith("invalid WebSocket URL"), error.message);
      assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(error.message), `a control character in ${JSON.stringify(error.message)}`);
      return;
    }
    const whatwg = new URL(url); // throws, and so fails the target, if WHATWG refuses it
    assert.equal(whatwg.protocol, parsed.secure ? "wss:" : "ws:");
    const bracketed = parsed.host.includes(":") ? `[${parsed.host}]` : parsed.host;
    // The same address: an IPv6 literal is kept as written ("::0"), WHATWG writes it shortest ("::").
    const canonical = parsed.host.includes(":") ? new URL(`ws://${bracketed}/`).hostname : bracketed;
    assert.equal(whatwg.hostname, canonical, "the host as WHATWG reads it");
    assert.equal(whatwg.port === "" ? (parsed.secure ? 443 : 80) : Number(whatwg.port), parsed.port, "the port");
    assert.ok(parsed.port >= 1 && parsed.port <= 65535);
    assert.ok(parsed.resource.startsWith("/"), `request target ${parsed.resource}`);
    assert.ok(!/[\u0000-\u0020\u007f-\uffff#]/.test(parsed.resource), `request target ${JSON.stringify(parsed.resource)}`);
    const afterAuthority = url.slice(url.indexOf("//") + 2).search(/[/?]/);
    const written = afterAuthority < 0 ? "" : url.slice(url.indexOf("//") + 2 + afterAuthority);
    assert.equal(parsed.resource, written.startsWith("?") ? "/" + written : written === "" ? "/" : written, "the path and query byte for byte");
    const defaultPort = parsed.secure ? 443 : 80;
    assert.equal(parsed.hostHeader, parsed.port === defaultPort ? bracketed : `${bracketed}:${parsed.port}`);
    const again = parseWebSocketUrl(`${parsed.secure ? "wss" : "ws"}://${parsed.hostHeader}${parsed.resource}`);
    assert.deepEqual(again, parsed, "parsing what it produced gives the same answer");
  },
};
