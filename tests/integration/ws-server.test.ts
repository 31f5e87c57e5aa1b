/**
 * The client against a real `ws` WebSocketServer on 127.0.0.1, plus the failures only real
 * peers produce: a server process killed mid-message, a server that accepts TCP and never
 * answers the handshake, a refused connection, and backpressure from a real socket.
 *
 * Every test runs on both engines (tests/support/engines.ts): the client on the Node host,
 * and the same compiled client inside the XS engine (hosts/xs), driven through
 * tests/support/on-engine.ts. Calls return promises (on XS they cross to the engine); the
 * assertions are the same.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type WebSocket as ServerSocket, type RawData } from "ws";
import { createClientOn, type EngineClient, type EngineClientOptions } from "../support/on-engine.js";
import type { Limits } from "../../src/websocket/constants.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { ReadyState, type CloseEvent } from "../../src/websocket/client.js";
import { node } from "../support/child-process.js";
import { ENGINES, useEngine, type EngineName } from "../support/engines.js";
import { closedPort, deferred, listenLoopback, until, within } from "../support/wait.js";

const MiB = 1024 * 1024;
/** Room for the 1 MiB cases (the defaults are sized for an ESP32). */
const LARGE: Partial<Limits> = { maxMessageBytes: 2 * MiB, maxBufferedBytes: 4 * MiB };

/** A client with its events collected as promises and lists. */
interface Session {
  client: EngineClient;
  opened: Promise<string>;
  closed: Promise<CloseEvent>;
  messages: Array<string | Uint8Array>;
  nextMessage(ms?: number): Promise<string | Uint8Array>;
}

async function connect(engine: EngineName, url: string, extra: Partial<EngineClientOptions> = {}): Promise<Session> {
  const opened = deferred<string>();
  const closed = deferred<CloseEvent>();
  const messages: Array<string | Uint8Array> = [];
  let taken = 0;
  const client = await createClientOn(engine, {
    url,
    onOpen: (protocol) => opened.resolve(protocol),
    onMessage: (data) => messages.push(data),
    onClose: (event) => {
      closed.resolve(event);
      if (!opened.settled) opened.reject(new Error(`closed before open: ${event.code} ${event.reason}`));
    },
    ...extra,
  });
  opened.promise.catch(() => {}); // tests that expect no open look at `closed`
  return {
    client,
    opened: opened.promise,
    closed: closed.promise,
    messages,
    async nextMessage(ms = 5000) {
      await until(() => messages.length > taken, ms, `message #${taken + 1}`);
      return messages[taken++]!;
    },
  };
}

function text(bytes: number): string {
  let out = "";
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  while (out.length < bytes) out += alphabet;
  return out.slice(0, bytes);
}

function binary(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

function asBytes(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
}

for (const engine of ENGINES) describe(`WebSocketClient against a real ws server (integration) [${engine}]`, function () {
  useEngine(engine);
  let wss: WebSocketServer;
  let url: string;
  /** What the server saw, per connection. */
  let seen: Array<{ socket: ServerSocket; request: IncomingMessage; messages: Array<{ data: Buffer; isBinary: boolean }>; close?: { code: number; reason: string } }>;
  /** Per-test server behaviour; the default echoes. */
  let onConnection: (socket: ServerSocket) => void;
  const sessions: Session[] = [];

  async function open(extra: Partial<EngineClientOptions> = {}, path = "/"): Promise<Session> {
    const session = await connect(engine, url + path.slice(1), extra);
    sessions.push(session);
    return session;
  }

  before(async function () {
    wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      maxPayload: 8 * MiB,
      handleProtocols: (offered) => (offered.has("chat.v2") ? "chat.v2" : false),
    });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const address = wss.address();
    url = `ws://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`;
    wss.on("connection", (socket, request) => {
      const record: (typeof seen)[number] = { socket, request, messages: [] };
      seen.push(record);
      socket.on("message", (data, isBinary) => record.messages.push({ data: asBytes(data), isBinary }));
      socket.on("close", (code, reason) => (record.close = { code, reason: reason.toString() }));
      socket.on("error", () => {});
      onConnection(socket);
    });
  });

  beforeEach(function () {
    seen = [];
    onConnection = (socket) =>
      socket.on("message", (data, isBinary) => socket.send(asBytes(data), { binary: isBinary }));
  });

  afterEach(async function () {
    for (const session of sessions.splice(0)) {
      if (session.client.readyState !== ReadyState.CLOSED) {
        await session.client.close().catch(() => {
          // already failing
        });
      }
    }
    for (const client of wss.clients) client.terminate();
  });

  after(async function () {
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  describe("echoes messages of every length class", function () {
    for (const size of [0, 1, 125, 126, 65535, 65536, MiB]) {
      it(`text of ${size} bytes`, async function () {
        const session = await open({ limits: LARGE });
        await within(session.opened, 2000, "open");
        const message = text(size);
        await session.client.send(message);
        const echo = await session.nextMessage();
        assert.equal(typeof echo, "string");
        assert.equal((echo as string).length, size);
        assert.ok(echo === message, "the echo equals what was sent");
        assert.equal(seen[0]!.messages[0]!.isBinary, false);
      });

      it(`binary of ${size} bytes`, async function () {
        const session = await open({ limits: LARGE });
        await within(session.opened, 2000, "open");
        const message = binary(size);
        await session.client.send(message);
        const echo = await session.nextMessage();
        assert.ok(echo instanceof Uint8Array);
        assert.equal(echo.length, size);
        assert.ok(Buffer.from(echo).equals(Buffer.from(message)), "the echo equals what was sent");
        assert.equal(seen[0]!.messages[0]!.isBinary, true);
      });
    }

    it("text with multi-byte UTF-8 characters", async function () {
      const session = await open();
      await within(session.opened, 2000, "open");
      const message = "h\u00e9llo w\u00f6rld \u20ac \u{1F30D}";
      await session.client.send(message);
      assert.equal(await session.nextMessage(), message);
      assert.equal(seen[0]!.messages[0]!.data.toString("utf8"), message);
    });
  });

  it("sends a fragmented message that the server receives as one", async function () {
    onConnection = () => {};
    const session = await open();
    await within(session.opened, 2000, "open");
    await session.client.send("frag", { more: true });
    await session.client.send("mented ", { more: true });
    await session.client.send("\u00e9cho");
    await session.client.send(new Uint8Array([1, 2]), { more: true });
    await session.client.send(new Uint8Array([3]));
    await until(() => seen[0]?.messages.length === 2, 2000, "two messages at the server");
    const [first, second] = seen[0]!.messages;
    assert.deepEqual({ text: first!.data.toString("utf8"), isBinary: first!.isBinary }, { text: "fragmented \u00e9cho", isBinary: false });
    assert.deepEqual({ bytes: [...second!.data], isBinary: second!.isBinary }, { bytes: [1, 2, 3], isBinary: true });
  });

  it("negotiates a subprotocol the server selects", async function () {
    const session = await open({ protocols: ["chat.v1", "chat.v2"] });
    assert.equal(await within(session.opened, 2000, "open"), "chat.v2");
    assert.equal(session.client.protocol, "chat.v2");
    assert.equal(seen[0]!.socket.protocol, "chat.v2");
    assert.equal(seen[0]!.request.headers["sec-websocket-protocol"], "chat.v1, chat.v2");
  });

  it("sends custom headers, the path and the query", async function () {
    const session = await open({ headers: { Authorization: "Bearer t0k3n", "X-Device": "esp32-01" } }, "/devices/01?fw=1.2");
    await within(session.opened, 2000, "open");
    const request = seen[0]!.request;
    assert.equal(request.headers.authorization, "Bearer t0k3n");
    assert.equal(request.headers["x-device"], "esp32-01");
    assert.equal(request.url, "/devices/01?fw=1.2");
    assert.equal(session.client.protocol, "");
  });

  it("reports a server-initiated close with its code and reason, cleanly", async function () {
    onConnection = (socket) => socket.close(4001, "server says bye");
    const session = await open();
    await within(session.opened, 2000, "open");
    const event = await within(session.closed, 3000, "onClose");
    assert.equal(event.code, 4001);
    assert.equal(event.reason, "server says bye");
    assert.equal(event.wasClean, true);
    assert.equal(event.error, undefined);
    await until(() => seen[0]!.close !== undefined, 2000, "the server to see the close");
    assert.equal(seen[0]!.close!.code, 4001, "the client answered with the same code");
  });

  it("closes with a code and reason that the server sees", async function () {
    const session = await open();
    await within(session.opened, 2000, "open");
    await session.client.close(1000, "bye");
    assert.equal(session.client.readyState, ReadyState.CLOSING);
    const event = await within(session.closed, 3000, "onClose");
    await until(() => seen[0]!.close !== undefined, 2000, "the server to see the close");
    assert.deepEqual(seen[0]!.close, { code: 1000, reason: "bye" });
    assert.equal(event.code, 1000);
    assert.equal(event.wasClean, true);
    assert.equal(session.client.readyState, ReadyState.CLOSED);
  });

  it("reports 1006 when the server process is killed in the middle of a message", async function () {
    const server = node("dist/tests/support/ws-kill-server.js");
    try {
      const [, port] = await server.line(/^listening (\d+)$/, 5000, "the kill server to listen");
      const session = await connect(engine, `ws://127.0.0.1:${port}/`, { limits: LARGE });
      await within(session.opened, 2000, "open");
      await server.line(/^half-sent$/, 2000, "half a frame to be sent");
      server.kill("SIGKILL");
      const event = await within(session.closed, 2000, "onClose after the kill");
      assert.equal(event.code, 1006);
      assert.equal(event.wasClean, false);
      assert.ok(event.error instanceof WebSocketError);
      assert.equal(event.error.code, ErrorCode.CONNECTION_LOST);
      assert.deepEqual(session.messages, [], "half a message is never delivered");
    } finally {
      server.kill();
      await server.waitForExit(5000);
    }
  });

  describe("failures before the connection opens", function () {
    let silent: Server;
    let accepted: Socket[];

    beforeEach(async function () {
      accepted = [];
      // Accepts TCP and never says a word.
      silent = createServer((socket) => {
        accepted.push(socket);
        socket.on("error", () => {});
        socket.resume(); // reads (and ignores) the request, so the client's FIN is seen
      });
    });

    afterEach(async function () {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => (silent.listening ? silent.close(() => resolve()) : resolve()));
    });

    it("gives up on a server that never answers the handshake (ERR_HANDSHAKE_TIMEOUT)", async function () {
      const port = await listenLoopback(silent);
      const started = performance.now();
      const session = await connect(engine, `ws://127.0.0.1:${port}/`, { limits: { handshakeTimeoutMs: 300 } });
      const event = await within(session.closed, 3000, "onClose");
      const elapsed = performance.now() - started;
      assert.equal(event.code, 1006);
      assert.equal(event.wasClean, false);
      assert.equal(event.error?.code, ErrorCode.HANDSHAKE_TIMEOUT);
      assert.ok(elapsed >= 290, `waited the deadline (${elapsed.toFixed(0)} ms)`);
      assert.equal(accepted.length, 1, "the TCP connection was made");
      await until(() => accepted[0]!.destroyed || accepted[0]!.readableEnded, 2000, "the socket to be closed");
    });

    it("reports a refused connection (ERR_CONNECT_FAILED)", async function () {
      const port = await closedPort();
      const session = await connect(engine, `ws://127.0.0.1:${port}/`);
      const event = await within(session.closed, 3000, "onClose");
      assert.equal(event.code, 1006);
      assert.equal(event.wasClean, false);
      assert.equal(event.error?.code, ErrorCode.CONNECT_FAILED);
      assert.match(event.error!.message, new RegExp(`could not connect to 127\\.0\\.0\\.1:${port}: connection refused$`));
    });
  });

  it("makes unsent bytes visible, refuses to buffer past the bound, and drains", async function () {
    onConnection = () => {};
    let drains = 0;
    const limits = { maxMessageBytes: 2 * MiB, maxBufferedBytes: MiB + 64 * 1024 };
    const session = await open({ limits, onDrain: () => drains++ });
    await within(session.opened, 2000, "open");
    await session.client.send(binary(MiB));
    const waiting = session.client.bufferedAmount;
    assert.ok(waiting > 0, "the socket takes at most 64 KiB at once, the rest waits");
    assert.ok(waiting <= limits.maxBufferedBytes);
    let before = waiting;
    // On XS the socket may take more between two calls (each crosses to the engine), so
    // bufferedAmount is read afresh by a refresh() queued back to back with the send: no
    // event runs in XS between the two. On Node nothing runs between the two calls.
    const reading =
      engine === "xs" ? session.client.refresh().then(() => void (before = session.client.bufferedAmount)) : Promise.resolve();
    const refused = session.client.send(binary(MiB));
    await reading;
    await assert.rejects(refused, (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.BUFFER_FULL);
    assert.ok(before > 0 && before <= waiting);
    assert.equal(session.client.bufferedAmount, before, "a refused send queues nothing");
    await until(() => drains > 0, 5000, "onDrain");
    assert.equal(session.client.bufferedAmount, 0);
    await session.client.send(binary(MiB)); // room again
    await until(() => seen[0]!.messages.length === 2, 5000, "both messages at the server");
    assert.deepEqual(seen[0]!.messages.map((m) => m.data.length), [MiB, MiB]);
  });
});
