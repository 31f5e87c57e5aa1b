/**
 * The opening handshake (RFC 6455 section 4) of src/websocket/client.ts against a scripted raw-TCP
 * server: the request the client sends, and every way a server can answer other than a
 * valid 101. A failed attempt must end in exactly one onClose with a HandshakeError that
 * says what came back, code 1006 and wasClean false.
 *
 * On both engines (tests/support/engines.ts): the client on the Node host, and the same
 * compiled client inside the XS engine (tests/support/on-engine.ts), with the same assertions.
 */
import assert from "node:assert/strict";
import { ErrorCode, HandshakeError, type ErrorCodeValue } from "../../src/shared/errors.js";
import { ReadyState, type CloseEvent } from "../../src/websocket/client.js";
import { ENGINES, useEngine } from "../support/engines.js";
import {
  RawServer,
  acceptFor,
  encodeFrame,
  closePayload,
  startClient,
  type ClientRun,
  type RawPeer,
} from "../support/raw-server.js";

/** Milliseconds to wait after onClose to be sure it is not called a second time. */
const SETTLE_MS = 50;

const settle = (ms = SETTLE_MS): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

for (const engine of ENGINES) describe(`WebSocketClient opening handshake against a raw TCP server [${engine}]`, function () {
  this.timeout(10_000);
  useEngine(engine);
  let server: RawServer;

  beforeEach(async () => {
    server = await RawServer.listen();
  });
  afterEach(async () => {
    await server.close();
  });

  /** Connects a client and returns it with its server-side peer, the request read. */
  async function connect(
    options: Partial<Parameters<typeof startClient>[1]> = {},
  ): Promise<{ run: ClientRun; peer: RawPeer }> {
    const run = await startClient(engine, { url: server.url("/socket"), ...options });
    const peer = await server.nextConnection();
    await peer.request();
    return { run, peer };
  }

  /**
   * The attempt failed the way a user should see it: one onClose, HandshakeError with
   * `code` (and `status`), 1006, not clean, a message matching `says`; the client closed
   * TCP and never sent a frame.
   */
  async function assertHandshakeFailed(
    run: ClientRun,
    peer: RawPeer,
    expected: { code: ErrorCodeValue; status?: number; says: RegExp[] },
    timeoutMs = 2000,
  ): Promise<CloseEvent> {
    const event = await run.closed(timeoutMs);
    await settle();
    assert.equal(run.closes.length, 1, "onClose is called exactly once");
    assert.equal(run.opens.length, 0, "onOpen is never called");
    assert.ok(event.error instanceof HandshakeError, `error is a HandshakeError, got ${String(event.error)}`);
    assert.equal(event.error.code, expected.code, `error.code (message: ${event.error.message})`);
    assert.equal(event.error.status, expected.status, "error.status: the HTTP status that came back, when one did");
    assert.equal(event.error.closeCode, undefined, "no close code: the connection never opened");
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
    for (const pattern of expected.says) {
      assert.match(event.error.message, pattern, "the message says what came back");
    }
    assert.equal(run.client.readyState, ReadyState.CLOSED);
    await peer.waitForTcpClose(2000);
    assert.equal(peer.frames.length, 0, "no frame is sent on a failed handshake");
    assert.equal(peer.violation, undefined);
    return event;
  }

  describe("the request (section 4.1)", () => {
    it("has the request line with path and query, Host with port, Upgrade, Connection and Version 13", async () => {
      await startClient(engine, { url: server.url("/chat/room?id=7&x=y") });
      const peer = await server.nextConnection();
      const request = await peer.request();
      assert.equal(request.requestLine, "GET /chat/room?id=7&x=y HTTP/1.1");
      assert.equal(request.headers.get("host"), `127.0.0.1:${server.port}`);
      assert.equal(request.headers.get("upgrade")?.toLowerCase(), "websocket");
      assert.ok(
        (request.headers.get("connection") ?? "").toLowerCase().split(/\s*,\s*/).includes("upgrade"),
        `Connection includes Upgrade: ${request.headers.get("connection")}`,
      );
      assert.equal(request.headers.get("sec-websocket-version"), "13");
      assert.equal(request.headers.has("sec-websocket-protocol"), false, "no protocol offered when none given");
      assert.equal(request.headers.has("sec-websocket-extensions"), false, "no extension is offered");
    });

    it("uses \"/\" as the resource when the URL has no path", async () => {
      await startClient(engine, { url: `ws://127.0.0.1:${server.port}` });
      const request = await (await server.nextConnection()).request();
      assert.equal(request.requestLine, "GET / HTTP/1.1");
    });

    it("sends a fresh 16-byte base64 Sec-WebSocket-Key per attempt", async () => {
      await startClient(engine, { url: server.url() });
      const first = await (await server.nextConnection()).request();
      await startClient(engine, { url: server.url() });
      const second = await (await server.nextConnection()).request();
      const keys = [first, second].map((request) => request.headers.get("sec-websocket-key") ?? "");
      for (const key of keys) {
        assert.match(key, /^[A-Za-z0-9+/]{22}==$/, `key ${key} is base64 of 16 bytes`);
        assert.equal(Buffer.from(key, "base64").length, 16);
      }
      assert.notEqual(keys[0], keys[1], "two attempts use different keys");
    });

    it("sends custom headers as given", async () => {
      await startClient(engine, {
        url: server.url(),
        headers: { Authorization: "Bearer abc.def", "X-Device-Id": "dev-0042" },
      });
      const request = await (await server.nextConnection()).request();
      assert.deepEqual(
        request.rawHeaders.filter(([name]) => /^(authorization|x-device-id)$/i.test(name)),
        [
          ["Authorization", "Bearer abc.def"],
          ["X-Device-Id", "dev-0042"],
        ],
      );
    });

    it("accepts custom headers as an array of pairs", async () => {
      await startClient(engine, { url: server.url(), headers: [["X-Token", "t1"]] });
      const request = await (await server.nextConnection()).request();
      assert.equal(request.headers.get("x-token"), "t1");
    });

    it("offers subprotocols in Sec-WebSocket-Protocol, in order", async () => {
      await startClient(engine, { url: server.url(), protocols: ["chat.v2", "json"] });
      const request = await (await server.nextConnection()).request();
      assert.deepEqual(request.headers.get("sec-websocket-protocol")?.split(/\s*,\s*/), ["chat.v2", "json"]);
    });

    it("sends nothing more until the server answers", async () => {
      const { peer } = await connect();
      await settle(100);
      assert.equal(peer.violation, undefined);
    });
  });

  describe("a valid 101", () => {
    it("opens, reporting the subprotocol the server selected", async () => {
      const { run, peer } = await connect({ protocols: ["chat.v2", "json"] });
      await peer.acceptHandshake({ protocol: "json" });
      assert.equal(await run.opened(), "json");
      assert.equal(run.client.protocol, "json");
      assert.equal(run.client.readyState, ReadyState.OPEN);
    });

    it("opens with protocol \"\" when the server selects none of those offered", async () => {
      const { run, peer } = await connect({ protocols: ["chat.v2"] });
      await peer.acceptHandshake();
      assert.equal(await run.opened(), "");
      assert.equal(run.client.protocol, "");
    });

    it("compares Upgrade and Connection case-insensitively and finds the upgrade token in a list", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { Upgrade: "WebSocket", Connection: "keep-alive, UPGRADE" } });
      assert.equal(await run.opened(), "");
    });

    it("reads a 101 delivered one byte at a time", async () => {
      const { run, peer } = await connect();
      const request = await peer.request();
      const key = request.headers.get("sec-websocket-key")!;
      await peer.sendRaw(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${acceptFor(key)}\r\n\r\n`,
        { chopSize: 1 },
      );
      assert.equal(await run.opened(), "");
    });

    it("processes the server's first frames that arrive in the same TCP segment as the 101", async () => {
      const { run, peer } = await connect();
      const frames = Buffer.concat([
        encodeFrame({ opcode: 1, payload: "first" }),
        encodeFrame({ opcode: 9, payload: "are you there" }),
        encodeFrame({ opcode: 2, payload: Buffer.from([0, 1, 2, 255]) }),
      ]);
      await peer.acceptHandshake({ trailing: frames });
      await run.opened();
      const pong = await peer.nextEvent();
      assert.deepEqual(pong, { type: "pong", data: Buffer.from("are you there") });
      assert.deepEqual(
        run.messages.map((message) => message.data),
        ["first", new Uint8Array([0, 1, 2, 255])],
      );
    });

    it("processes a close frame that arrives in the same TCP segment as the 101", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({
        trailing: encodeFrame({ opcode: 8, payload: closePayload(1001, "restarting") }),
      });
      const { close } = await peer.waitForClose();
      assert.equal(close.code, 1001);
      peer.closeTcp();
      const event = await run.closed();
      assert.equal(run.opens.length, 1);
      assert.deepEqual(
        { code: event.code, reason: event.reason, wasClean: event.wasClean, error: event.error },
        { code: 1001, reason: "restarting", wasClean: true, error: undefined },
      );
    });
  });

  describe("a response that is not a valid 101 fails the attempt", () => {
    it("401 Unauthorized: ERR_UNAUTHORIZED", async () => {
      const { run, peer } = await connect({ headers: { Authorization: "Bearer expired" } });
      await peer.respond(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n",
      );
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.UNAUTHORIZED,
        status: 401,
        says: [/401/, /Unauthorized/],
      });
    });

    it("404 Not Found", async () => {
      const { run, peer } = await connect();
      await peer.respond("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found");
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.HANDSHAKE_STATUS,
        status: 404,
        says: [/404/, /Not Found/],
      });
    });

    it("503 Service Unavailable", async () => {
      const { run, peer } = await connect();
      await peer.respond("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n");
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.HANDSHAKE_STATUS,
        status: 503,
        says: [/503/, /Service Unavailable/],
      });
    });

    it("302 redirect: the message includes the Location", async () => {
      const { run, peer } = await connect();
      await peer.respond(
        "HTTP/1.1 302 Found\r\nLocation: ws://elsewhere.example:9000/new-path?x=1\r\nContent-Length: 0\r\n\r\n",
      );
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.HANDSHAKE_STATUS,
        status: 302,
        says: [/302/, /ws:\/\/elsewhere\.example:9000\/new-path\?x=1/],
      });
    });

    it("200 OK (a plain web server) is not an upgrade", async () => {
      const { run, peer } = await connect();
      await peer.respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_STATUS, status: 200, says: [/200/] });
    });

    it("garbage bytes (\"hello world\\r\\n\\r\\n\")", async () => {
      const { run, peer } = await connect();
      await peer.respond("hello world\r\n\r\n");
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.HANDSHAKE_MALFORMED,
        says: [/hello world/],
      });
    });

    it("binary garbage that never ends a header block fails without waiting for the deadline", async () => {
      const { run, peer } = await connect({ limits: { maxHandshakeBytes: 512, handshakeTimeoutMs: 5000 } });
      await peer.respond(Buffer.alloc(600, 0xfe));
      const event = await run.closed(1500);
      assert.ok(event.error instanceof HandshakeError);
      assert.ok(
        [ErrorCode.HANDSHAKE_MALFORMED, ErrorCode.HANDSHAKE_TOO_LARGE].includes(event.error.code as never),
        `not HTTP, or over the bound: ${event.error.code} ${event.error.message}`,
      );
      assert.equal(event.code, 1006);
      await peer.waitForTcpClose();
    });

    it("a header block over maxHandshakeBytes fails as soon as the bound is passed", async () => {
      const { run, peer } = await connect({ limits: { maxHandshakeBytes: 1024, handshakeTimeoutMs: 5000 } });
      let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
      while (head.length < 2048) head += `X-Filler-${head.length}: ${"a".repeat(60)}\r\n`;
      // Never terminated by an empty line: the client must not wait for the end.
      await peer.respond(head);
      const started = performance.now();
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_TOO_LARGE, says: [/1024/] }, 1500);
      assert.ok(performance.now() - started < 1500);
    });

    it("a server that never answers fails at handshakeTimeoutMs", async () => {
      const started = performance.now();
      const { run, peer } = await connect({ limits: { handshakeTimeoutMs: 300 } });
      const event = await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_TIMEOUT, says: [/300 ms/] });
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 290 && elapsed < 1500, `failed after ${Math.round(elapsed)} ms`);
      assert.equal(event.error?.code, ErrorCode.HANDSHAKE_TIMEOUT);
    });

    it("a server that answers half a status line and stalls fails at handshakeTimeoutMs", async () => {
      const { run, peer } = await connect({ limits: { handshakeTimeoutMs: 300 } });
      await peer.respond("HTTP/1.1 101 Switch");
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_TIMEOUT, says: [/300 ms/] });
    });

    it("the server closing TCP before answering", async () => {
      const { run, peer } = await connect();
      peer.closeTcp();
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_CLOSED, says: [/closed/] });
    });

    it("the server closing TCP in the middle of the response", async () => {
      const { run, peer } = await connect();
      await peer.respond("HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs");
      peer.closeTcp();
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_CLOSED, says: [/closed/] });
    });

    it("the server resetting TCP during the handshake", async () => {
      const { run, peer } = await connect();
      peer.socket.resetAndDestroy();
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_CLOSED, says: [] });
    });

    it("a wrong Sec-WebSocket-Accept", async () => {
      const { run, peer } = await connect();
      const wrong = acceptFor("AAAAAAAAAAAAAAAAAAAAAA==");
      await peer.acceptHandshake({ accept: wrong });
      await assertHandshakeFailed(run, peer, {
        code: ErrorCode.HANDSHAKE_ACCEPT,
        status: 101,
        says: [new RegExp(wrong.replace(/[+/=]/g, "\\$&"))],
      });
    });

    it("a missing Sec-WebSocket-Accept", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { "Sec-WebSocket-Accept": undefined } });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_ACCEPT, status: 101, says: [/Sec-WebSocket-Accept/i] });
    });

    it("a missing Upgrade header", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { Upgrade: undefined } });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_UPGRADE, status: 101, says: [/Upgrade/i] });
    });

    it("an Upgrade to something else", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { Upgrade: "h2c" } });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_UPGRADE, status: 101, says: [/h2c/] });
    });

    it("a missing Connection header", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { Connection: undefined } });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_CONNECTION, status: 101, says: [/Connection/i] });
    });

    it("a Connection header without the upgrade token", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ headers: { Connection: "keep-alive" } });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_CONNECTION, status: 101, says: [/keep-alive/] });
    });

    it("a subprotocol that was not offered", async () => {
      const { run, peer } = await connect({ protocols: ["chat.v2"] });
      await peer.acceptHandshake({ protocol: "superchat" });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_PROTOCOL, status: 101, says: [/superchat/] });
    });

    it("a subprotocol when none was offered", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ protocol: "chat.v2" });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_PROTOCOL, status: 101, says: [/chat\.v2/] });
    });

    it("more than one subprotocol selected", async () => {
      const { run, peer } = await connect({ protocols: ["a", "b"] });
      await peer.acceptHandshake({ protocol: "a, b" });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_PROTOCOL, status: 101, says: [] });
    });

    it("an extension that was not offered", async () => {
      const { run, peer } = await connect();
      await peer.acceptHandshake({ extensions: "permessage-deflate; server_no_context_takeover" });
      await assertHandshakeFailed(run, peer, { code: ErrorCode.HANDSHAKE_EXTENSION, status: 101, says: [/permessage-deflate/] });
    });
  });

  it("close() while connecting abandons the attempt with one onClose (1006)", async () => {
    const { run, peer } = await connect();
    await run.client.close();
    const event = await run.closed();
    await settle();
    assert.equal(run.closes.length, 1);
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
    await peer.waitForTcpClose();
    assert.equal(run.opens.length, 0);
  });
});
