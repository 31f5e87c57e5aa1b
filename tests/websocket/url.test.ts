/** src/websocket/url.ts: which ws:// and wss:// URLs the client accepts, and what it says about the rest. */
import assert from "node:assert/strict";

import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { parseWebSocketUrl } from "../../src/websocket/url.js";

/** Asserts the URL is refused with ERR_INVALID_URL, the URL quoted and the problem named. */
function assertRejected(url: string, problem: RegExp): WebSocketError {
  let caught: unknown;
  try {
    parseWebSocketUrl(url);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WebSocketError, `expected a WebSocketError for ${JSON.stringify(url)}`);
  assert.equal(caught.code, ErrorCode.INVALID_URL);
  assert.equal(caught.closeCode, undefined);
  assert.match(caught.message, /^invalid WebSocket URL /);
  assert.match(caught.message, problem);
  return caught;
}

describe("parseWebSocketUrl", () => {
  describe("accepts", () => {
    it("ws://host: port 80, resource /, Host without port", () => {
      assert.deepEqual(parseWebSocketUrl("ws://example.com"), {
        secure: false,
        host: "example.com",
        port: 80,
        resource: "/",
        hostHeader: "example.com",
      });
    });

    it("wss://host/path: secure, port 443", () => {
      assert.deepEqual(parseWebSocketUrl("wss://example.com/chat"), {
        secure: true,
        host: "example.com",
        port: 443,
        resource: "/chat",
        hostHeader: "example.com",
      });
    });

    it("the scheme in any case, and lower-cases the host name", () => {
      const url = parseWebSocketUrl("WSS://Device-7.Example.COM/Path");
      assert.equal(url.secure, true);
      assert.equal(url.host, "device-7.example.com");
      assert.equal(url.hostHeader, "device-7.example.com");
      assert.equal(url.resource, "/Path", "the path keeps its case");
      assert.equal(parseWebSocketUrl("Ws://h/").secure, false);
    });

    it("an explicit port, which then appears in the Host header", () => {
      const url = parseWebSocketUrl("ws://example.com:8080/socket");
      assert.equal(url.port, 8080);
      assert.equal(url.hostHeader, "example.com:8080");
    });

    it("the default port written out, left out of the Host header (RFC 6455 section 4.1)", () => {
      assert.equal(parseWebSocketUrl("ws://h:80/").hostHeader, "h");
      assert.equal(parseWebSocketUrl("wss://h:443/").hostHeader, "h");
      assert.equal(parseWebSocketUrl("ws://h:443/").hostHeader, "h:443");
      assert.equal(parseWebSocketUrl("wss://h:80/").hostHeader, "h:80");
    });

    it('":" with an empty port as the default port (RFC 3986 section 3.2.3)', () => {
      const url = parseWebSocketUrl("ws://example.com:/x");
      assert.equal(url.port, 80);
      assert.equal(url.hostHeader, "example.com");
      assert.equal(parseWebSocketUrl("wss://example.com:").port, 443);
    });

    it("ports 1 and 65535, and leading zeros", () => {
      assert.equal(parseWebSocketUrl("ws://h:1/").port, 1);
      assert.equal(parseWebSocketUrl("ws://h:65535/").port, 65535);
      assert.equal(parseWebSocketUrl("ws://h:08080/").port, 8080);
    });

    it("path and query kept exactly as given, percent-encoding included", () => {
      const url = parseWebSocketUrl("ws://h/a%20b/c;p?x=1&y=%2F&z=A+B");
      assert.equal(url.resource, "/a%20b/c;p?x=1&y=%2F&z=A+B");
    });

    it('a query without a path: resource "/?query"', () => {
      assert.equal(parseWebSocketUrl("ws://h?token=abc").resource, "/?token=abc");
      assert.equal(parseWebSocketUrl("ws://h:9000?x").resource, "/?x");
      assert.equal(parseWebSocketUrl("ws://h:9000?x").port, 9000);
    });

    it("the Autobahn|Testsuite case URL shape", () => {
      const url = parseWebSocketUrl("ws://127.0.0.1:9001/runCase?case=12&agent=moorline");
      assert.equal(url.host, "127.0.0.1");
      assert.equal(url.port, 9001);
      assert.equal(url.resource, "/runCase?case=12&agent=moorline");
      assert.equal(url.hostHeader, "127.0.0.1:9001");
    });

    it("an IPv4 address", () => {
      const url = parseWebSocketUrl("ws://192.168.4.1/");
      assert.equal(url.host, "192.168.4.1");
      assert.equal(url.hostHeader, "192.168.4.1");
    });

    it("an IPv6 address in brackets: host without them, Host header with them", () => {
      const url = parseWebSocketUrl("ws://[::1]:9001/x");
      assert.equal(url.host, "::1");
      assert.equal(url.port, 9001);
      assert.equal(url.hostHeader, "[::1]:9001");
      assert.equal(url.resource, "/x");
      assert.equal(parseWebSocketUrl("wss://[::1]").hostHeader, "[::1]");
    });

    it("IPv6 in its full, compressed and IPv4-suffixed forms, lower-cased", () => {
      assert.equal(parseWebSocketUrl("ws://[2001:DB8::A]/").host, "2001:db8::a");
      assert.equal(parseWebSocketUrl("ws://[1:2:3:4:5:6:7:8]/").host, "1:2:3:4:5:6:7:8");
      assert.equal(parseWebSocketUrl("ws://[::]/").host, "::");
      assert.equal(parseWebSocketUrl("ws://[fe80::]/").host, "fe80::");
      assert.equal(parseWebSocketUrl("ws://[::ffff:192.0.2.1]/").host, "::ffff:192.0.2.1");
      assert.equal(parseWebSocketUrl("ws://[1:2:3:4:5:6:1.2.3.4]/").host, "1:2:3:4:5:6:1.2.3.4");
    });

    it("host names with digits, hyphens, underscores and a trailing dot", () => {
      assert.equal(parseWebSocketUrl("ws://my_device-01.local./").host, "my_device-01.local.");
      assert.equal(parseWebSocketUrl("ws://xn--bcher-kva.example/").host, "xn--bcher-kva.example");
    });
  });

  describe("rejects, with ERR_INVALID_URL and the URL quoted", () => {
    it("quotes the URL in the message", () => {
      const error = assertRejected("http://example.com/", /scheme "http"/);
      assert.ok(error.message.includes('"http://example.com/"'), error.message);
    });

    it("a host name whose last label is a number, which WHATWG URL parsers read as an IPv4 address (found by fuzzing)", () => {
      for (const url of ["ws://a.0/", "ws://example.123/", "ws://host.0x1f/", "ws://host.0X/", "ws://a.1./"]) {
        assertRejected(url, /is not a valid IPv4 address \(four numbers 0\.\.255\): a host whose last label is a number is read as one/);
      }
      assert.equal(parseWebSocketUrl("ws://a1.b2c/").host, "a1.b2c");
      assert.equal(parseWebSocketUrl("ws://0x.example/").host, "0x.example");
    });

    it("escapes DEL and the C1 controls in the quoted URL, as JSON does the C0 ones (found by fuzzing)", () => {
      const error = assertRejected("\u007fws://h\u0085/\u0001", /control character 0x7f at index 0/);
      assert.ok(error.message.startsWith('invalid WebSocket URL "\\u007fws://h\\u0085/\\u0001"'), error.message);
      assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(error.message), JSON.stringify(error.message));
      const quoted = assertRejected("\u0080", /contains non-ASCII character "\\u0080" at index 0/);
      assert.ok(!/[\u0080-\u009f]/.test(quoted.message), JSON.stringify(quoted.message));
    });

    it("http:// and https://, suggesting ws:// and wss://", () => {
      assertRejected("http://example.com/", /use ws:\/\//);
      assertRejected("HTTPS://example.com/", /scheme "https".*use wss:\/\//);
    });

    it("any other scheme", () => {
      assertRejected("ftp://example.com/", /scheme "ftp" is not supported: expected ws:\/\/ or wss:\/\//);
      assertRejected("wsx://example.com/", /scheme "wsx" is not supported/);
    });

    it("no scheme at all", () => {
      assertRejected("example.com/chat", /has no scheme/);
      assertRejected("//example.com/chat", /has no scheme/);
      assertRejected(":80", /has no scheme/);
      assertRejected("", /has no scheme/);
      assertRejected("localhost:8080", /has no scheme/);
      assertRejected("example.com:8080/chat", /has no scheme/);
    });

    it("a missing host", () => {
      assertRejected("ws:example.com", /missing host/);
      assertRejected("ws:/example.com", /missing host/);
      assertRejected("ws://", /missing host/);
      assertRejected("ws:///path", /missing host/);
      assertRejected("ws://:8080/", /missing host/);
      assertRejected("ws://?q", /missing host/);
    });

    it("userinfo, without echoing the password", () => {
      const error = assertRejected("ws://alice:s3cret@example.com/", /userinfo.*Authorization/);
      assert.ok(!error.message.includes("s3cret"), error.message);
      assert.ok(!error.message.includes("alice"), error.message);
      assert.ok(error.message.includes('"ws://***@example.com/"'), error.message);
      assertRejected("ws://@example.com/", /userinfo/);
    });

    it("a fragment (RFC 6455 section 3)", () => {
      assertRejected("ws://example.com/chat#top", /fragment.*RFC 6455 section 3/);
      assertRejected("ws://example.com#", /fragment/);
    });

    it("spaces and control characters, naming where", () => {
      assertRejected("ws://example.com/a b", /contains a space at index 18/);
      assertRejected(" ws://example.com/", /contains a space at index 0/);
      assertRejected("ws://example.com/\r\nX-Injected: 1", /control character 0x0d at index 17/);
      assertRejected("ws://example.com/\n", /control character 0x0a/);
      assertRejected("ws://example.com/\t", /control character 0x09/);
      assertRejected("ws://example.com/\u0000", /control character 0x00/);
      assertRejected("ws://example.com/\u007f", /control character 0x7f/);
    });

    it("control characters are escaped in the quoted URL", () => {
      const error = assertRejected("ws://h/\r\n", /control character/);
      assert.ok(error.message.includes('"ws://h/\\r\\n"'), error.message);
      assert.ok(!/[\r\n]/.test(error.message));
    });

    it("non-ASCII characters, asking for percent-encoding", () => {
      assertRejected("ws://example.com/café", /non-ASCII character "é" at index 20: percent-encode/);
      assertRejected("ws://bücher.example/", /non-ASCII.*punycode/);
      assertRejected("ws://example.com/\u00a0", /non-ASCII/);
    });

    it("a port that is not a number", () => {
      assertRejected("ws://h:http/", /port "http" is not a number/);
      assertRejected("ws://h:-1/", /port "-1" is not a number/);
      assertRejected("ws://h:80a/", /port "80a" is not a number/);
      assertRejected("ws://h:1:2/", /port "1:2" is not a number/);
      assertRejected("ws://h:+80/", /port "\+80" is not a number/);
    });

    it("a port outside 1..65535", () => {
      assertRejected("ws://h:0/", /port 0 is not in 1\.\.65535/);
      assertRejected("ws://h:65536/", /port 65536 is not in 1\.\.65535/);
      assertRejected("ws://h:99999999999999999999/", /is not in 1\.\.65535/);
    });

    it("host names with characters a resolver cannot use", () => {
      assertRejected("ws://exa$mple.com/", /host contains "\$"/);
      assertRejected("ws://a,b/", /host contains ","/);
      assertRejected("ws://h%41/", /percent-encoded host names are not supported/);
      assertRejected("ws://a[b]/", /host contains "\["/);
    });

    it("numeric hosts that are not valid IPv4 addresses", () => {
      assertRejected("ws://256.1.1.1/", /"256\.1\.1\.1" is not a valid IPv4 address/);
      assertRejected("ws://1.2.3/", /not a valid IPv4 address/);
      assertRejected("ws://1.2.3.4.5/", /not a valid IPv4 address/);
      assertRejected("ws://010.0.0.1/", /not a valid IPv4 address/);
      assertRejected("ws://1..2.3/", /not a valid IPv4 address/);
    });

    it("malformed IPv6 literals", () => {
      assertRejected("ws://[::1/", /no closing "\]"/);
      assertRejected("ws://[::1]x/", /unexpected "x" after the IPv6 address/);
      assertRejected("ws://[1:2:3]/", /\[1:2:3\] is not a valid IPv6 address/);
      assertRejected("ws://[1:2:3:4:5:6:7:8:9]/", /not a valid IPv6 address/);
      assertRejected("ws://[1::2::3]/", /not a valid IPv6 address/);
      assertRejected("ws://[12345::1]/", /not a valid IPv6 address/);
      assertRejected("ws://[::g]/", /not a valid IPv6 address/);
      assertRejected("ws://[1:2:3:4:5:6:7:1.2.3.4]/", /not a valid IPv6 address/);
      assertRejected("ws://[::1.2.3.4:5]/", /not a valid IPv6 address/);
      assertRejected("ws://[]/", /not a valid IPv6 address/);
      assertRejected("ws://[fe80::1%25eth0]/", /zone identifiers/);
      assertRejected("ws://[v1.fe]/", /IPvFuture/);
    });

    it("a value that is not a string", () => {
      for (const value of [undefined, null, 42, {}]) {
        assert.throws(
          () => parseWebSocketUrl(value as unknown as string),
          (error: unknown) =>
            error instanceof WebSocketError &&
            error.code === ErrorCode.INVALID_URL &&
            /expected a string/.test(error.message),
        );
      }
    });

    it("shortens a very long URL in the message", () => {
      const error = assertRejected("http://h/" + "a".repeat(1000), /scheme "http"/);
      assert.ok(error.message.length < 250, `${error.message.length} characters`);
      assert.ok(error.message.includes("..."));
    });
  });
});
