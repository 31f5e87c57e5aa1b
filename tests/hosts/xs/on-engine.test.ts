/**
 * tests/support/on-engine.ts: one test source for both engines. The same client and device
 * scenarios run on Node and inside XS against real servers on 127.0.0.1 and must look the
 * same to the test: same events, same error classes and codes, same state getters.
 */
import assert from "node:assert/strict";
import { WebSocketServer, type RawData, type WebSocket as ServerSocket } from "ws";
import { ErrorCode, WebSocketError } from "../../../src/shared/errors.js";
import { ReadyState, type CloseEvent } from "../../../src/websocket/client.js";
import { start, type CompanionServer } from "../../../server/companion.js";
import { closeSharedXsEngine, ENGINES, sharedXsEngine, type EngineName } from "../../support/engines.js";
import {
  createClientOn,
  createSupervisorOn,
  startDeviceOn,
  type EngineClient,
  type EngineClientOptions,
} from "../../support/on-engine.js";
import { closedPort, deferred, delay, until, within } from "../../support/wait.js";

const MiB = 1024 * 1024;

function asBytes(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
}

interface Session {
  client: EngineClient;
  opened: Promise<string>;
  closed: Promise<CloseEvent>;
  messages: Array<string | Uint8Array>;
}

async function connect(engine: EngineName, options: EngineClientOptions): Promise<Session> {
  const opened = deferred<string>();
  const closed = deferred<CloseEvent>();
  opened.promise.catch(() => {});
  const messages: Array<string | Uint8Array> = [];
  const client = await createClientOn(engine, {
    onOpen: (protocol) => opened.resolve(protocol),
    onMessage: (data) => messages.push(data),
    onClose: (event) => {
      closed.resolve(event);
      if (!opened.settled) opened.reject(new Error(`closed before open: ${event.code}`));
    },
    ...options,
  });
  return { client, opened: opened.promise, closed: closed.promise, messages };
}

for (const engine of ENGINES) {
  describe(`one test source on both engines: the client on ${engine}`, function () {
    this.timeout(10_000);
    let wss: WebSocketServer;
    let url: string;
    let onConnection: (socket: ServerSocket) => void;

    before(async function () {
      wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (offered) => (offered.has("v2") ? "v2" : false) });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      wss.on("connection", (socket) => {
        socket.on("error", () => {});
        onConnection(socket);
      });
    });

    beforeEach(function () {
      onConnection = (socket) => socket.on("message", (data, isBinary) => socket.send(asBytes(data), { binary: isBinary }));
    });

    after(async function () {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (engine === "xs") await closeSharedXsEngine();
    });

    it("opens with the selected subprotocol, echoes text and binary, and closes cleanly", async function () {
      const session = await connect(engine, { url, protocols: ["v1", "v2"], limits: { maxMessageBytes: 2 * MiB, maxBufferedBytes: 3 * MiB } });
      assert.equal(await within(session.opened, 2000, "open"), "v2");
      assert.equal(session.client.readyState, ReadyState.OPEN);
      assert.equal(session.client.protocol, "v2");
      const big = new Uint8Array(MiB).map((_, i) => (i * 7) & 0xff);
      await session.client.send("h\u00e9llo \u{1F30D}");
      await session.client.send(big);
      await until(() => session.messages.length === 2, 5000, "both echoes");
      assert.equal(session.messages[0], "h\u00e9llo \u{1F30D}");
      assert.ok(session.messages[1] instanceof Uint8Array && Buffer.from(session.messages[1]).equals(Buffer.from(big)));
      await session.client.close(4000, "bye");
      const event = await within(session.closed, 2000, "close");
      assert.deepEqual({ code: event.code, reason: event.reason, wasClean: event.wasClean }, { code: 4000, reason: "bye", wasClean: true });
      assert.equal(session.client.readyState, ReadyState.CLOSED);
    });

    it("sends a lone surrogate as U+FFFD and keeps a leading byte-order mark, byte for byte", async function () {
      // The engines' native codecs differ here (XS's TextEncoder writes a lone surrogate as
      // ED A0 80, which is not UTF-8; its TextDecoder drops a leading BOM): the host's codec
      // must give what the portable one gives.
      const received = deferred<Buffer>();
      onConnection = (socket) =>
        socket.on("message", (data) => {
          received.resolve(asBytes(data));
          socket.send(Buffer.from([0xef, 0xbb, 0xbf, 0x68, 0x69]), { binary: false });
        });
      const session = await connect(engine, { url });
      await within(session.opened, 2000, "open");
      await session.client.send("a\ud800b");
      assert.deepEqual([...(await within(received.promise, 2000, "the text"))], [0x61, 0xef, 0xbf, 0xbd, 0x62]);
      await until(() => session.messages.length === 1, 2000, "the server's text");
      assert.equal(session.messages[0], "\ufeffhi");
      await session.client.close();
    });

    it("sends a fragmented message that the server receives as one", async function () {
      const received = deferred<string>();
      onConnection = (socket) => socket.on("message", (data) => received.resolve(asBytes(data).toString("utf8")));
      const session = await connect(engine, { url });
      await within(session.opened, 2000, "open");
      await session.client.send("frag", { more: true });
      await session.client.send("mented");
      assert.equal(await within(received.promise, 2000, "the message"), "fragmented");
      await session.client.close();
    });

    it("refuses to buffer past maxBufferedBytes with ERR_BUFFER_FULL, queuing nothing", async function () {
      onConnection = () => {};
      const session = await connect(engine, { url, limits: { maxMessageBytes: 2 * MiB, maxBufferedBytes: MiB + 64 * 1024 } });
      await within(session.opened, 2000, "open");
      await session.client.send(new Uint8Array(MiB));
      const waiting = session.client.bufferedAmount;
      assert.ok(waiting > 0, "part of the message waits for the socket");
      await assert.rejects(session.client.send(new Uint8Array(MiB)), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, ErrorCode.BUFFER_FULL);
        return true;
      });
      // On XS the socket may have taken more between the two calls: never more buffered.
      assert.ok(session.client.bufferedAmount <= waiting, "a refused send queues nothing");
      await session.client.terminate();
    });

    it("reports a refused connection with ERR_CONNECT_FAILED", async function () {
      const port = await closedPort();
      const session = await connect(engine, { url: `ws://127.0.0.1:${port}/` });
      const event = await within(session.closed, 5000, "close");
      assert.equal(event.code, 1006);
      assert.ok(event.error instanceof WebSocketError);
      assert.equal(event.error.code, ErrorCode.CONNECT_FAILED);
      assert.match(event.error.message, new RegExp(`could not connect to 127\\.0\\.0\\.1:${port}: connection refused$`));
    });

    it("rejects a bad URL with the constructor's ERR_INVALID_URL", async function () {
      await assert.rejects(createClientOn(engine, { url: "http://127.0.0.1/" }), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, ErrorCode.INVALID_URL);
        return true;
      });
    });

    it("rejects a call in the wrong state with ERR_INVALID_STATE", async function () {
      const session = await connect(engine, { url });
      await within(session.opened, 2000, "open");
      await session.client.close();
      await assert.rejects(session.client.send("late"), { code: ErrorCode.INVALID_STATE });
      await within(session.closed, 2000, "close");
    });
  });

  describe(`one test source on both engines: the device on ${engine}`, function () {
    this.timeout(15_000);
    let server: CompanionServer;

    beforeEach(async function () {
      server = await start({ port: 0 });
    });
    afterEach(async function () {
      await server.close();
    });

    it("joins WiFi, says hello, and sends telemetry that the server acknowledges", async function () {
      const device = await startDeviceOn(engine, { url: server.url, config: { telemetryIntervalMs: 1000 } });
      try {
        const hello = await server.waitFor("hello", () => true, 8000);
        assert.equal(hello.device, "it-1");
        await server.waitFor("telemetry", (e) => e.seq === 2, 8000);
        await until(() => device.logs.some((l) => l.event === "telemetry_acked" && l.fields.seq === 2), 5000, "the second ack");
        const status = await device.status();
        assert.equal(status.supervisor.state, "open");
        assert.equal(status.supervisor.stats.connects, 1);
        assert.equal(status.wifi?.state, "online");
      } finally {
        await device.stop();
      }
      assert.ok(device.logs.some((l) => l.event === "device_stopped"));
    });

    it("drops the connection when WiFi is lost and comes back when it returns", async function () {
      const device = await startDeviceOn(engine, { url: server.url, config: { backoffBaseMs: 100, backoffCapMs: 500 } });
      try {
        await server.waitFor("hello", () => true, 8000);
        device.wifi.dropLink();
        await until(() => device.logs.some((l) => l.event === "ws_network" && l.fields.up === false), 5000, "the network down");
        assert.equal((await device.status()).supervisor.state, "waiting_for_network");
        device.wifi.restore();
        await server.waitFor("hello", (e) => e.conn === 2, 8000);
        assert.equal((await device.status()).supervisor.stats.reconnects, 1);
      } finally {
        await device.stop();
      }
    });
  });
}

for (const engine of ENGINES) {
  describe(`one test source on both engines: the supervisor on ${engine}`, function () {
    this.timeout(10_000);
    let wss: WebSocketServer;
    let url: string;
    const closes: Array<{ code: number; reason: string }> = [];

    before(async function () {
      wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      wss.on("connection", (socket) => {
        socket.on("error", () => {});
        socket.on("message", (data, isBinary) => socket.send(asBytes(data), { binary: isBinary }));
        socket.on("close", (code, reason) => closes.push({ code, reason: reason.toString() }));
      });
    });

    after(async function () {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (engine === "xs") await closeSharedXsEngine();
    });

    it("connects, carries messages, measures the heartbeat, and stops with 1001", async function () {
      const messages: Array<string | Uint8Array> = [];
      const logs: string[] = [];
      const supervisor = await createSupervisorOn(engine, {
        url,
        heartbeat: { intervalMs: 100, timeoutMs: 1000 },
        onMessage: (data) => messages.push(data),
        log: (_level, event) => logs.push(event),
        logLevel: "info",
      });
      await supervisor.start();
      await until(() => supervisor.state === "open", 3000, "open");
      assert.equal(await supervisor.send("hi"), true);
      await supervisor.send(new Uint8Array([1, 2]));
      await until(() => messages.length === 2, 3000, "the echoes");
      assert.deepEqual([messages[0], [...(messages[1] as Uint8Array)]], ["hi", [1, 2]]);
      // Stats change without an event (a pong): refresh() reads them afresh on XS.
      for (let i = 0; supervisor.stats.lastRttMs === undefined; i++) {
        assert.ok(i < 150, "a heartbeat round trip within 3 s");
        await delay(20);
        await supervisor.refresh();
      }
      assert.ok(supervisor.stats.lastRttMs! >= 0);
      await supervisor.stop();
      assert.equal(supervisor.state, "stopped");
      await until(() => closes.length > 0, 3000, "the server's close");
      assert.equal(closes.at(-1)!.code, 1001);
      assert.ok(logs.includes("ws_open"), "the supervisor's log reaches the test");
    });

    it("retries a refused connection with backoff, never in a tight loop", async function () {
      const port = await closedPort();
      const attempts: number[] = [];
      const supervisor = await createSupervisorOn(engine, {
        url: `ws://127.0.0.1:${port}/`,
        backoff: { baseMs: 50, capMs: 200, minMs: 50 },
        onAttempt: (at) => attempts.push(at),
      });
      await supervisor.start();
      await until(() => attempts.length >= 4, 5000, "four attempts");
      await supervisor.stop();
      for (let i = 1; i < attempts.length; i++) {
        assert.ok(attempts[i]! - attempts[i - 1]! >= 49, `attempts ${attempts[i]! - attempts[i - 1]!} ms apart`);
      }
      assert.ok(supervisor.stats.consecutiveFailures >= 3);
    });
  });
}

if (ENGINES.includes("xs")) describe("the shared XS engine", function () {
  it("is one worker for every client of a file, replaced once closed", async function () {
    const first = await sharedXsEngine();
    assert.equal(await sharedXsEngine(), first);
    await closeSharedXsEngine();
    const second = await sharedXsEngine();
    assert.notEqual(second, first);
    await closeSharedXsEngine();
  });
});
