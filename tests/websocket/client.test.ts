/**
 * The client's state machine, one layer alone: an in-memory socket plays the server and a
 * virtual clock drives the deadlines. The same client against real servers is in
 * tests/integration/ and tests/websocket/client-handshake.test.ts.
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";

import { CloseCode, DEFAULT_LIMITS, Opcode } from "../../src/websocket/constants.js";
import { ErrorCode, HandshakeError, WebSocketError } from "../../src/shared/errors.js";
import type { NetHost } from "../../src/shared/host.js";
import {
  ReadyState,
  WebSocketClient,
  type CloseEvent,
  type WebSocketClientOptions,
} from "../../src/websocket/client.js";
import {
  closePayload,
  parseClientFrames,
  parseRequest,
  switchingProtocols,
  type ClientFrame,
} from "../support/client-frames.js";
import { concat, fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { VirtualClock } from "../support/virtual-clock.js";

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array | string = new Uint8Array(0), fin = true): Uint8Array {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  const length = bytes.length;
  const header = length < 126 ? [length] : length < 65536 ? [126, length >> 8, length & 0xff] : null;
  if (!header) throw new Error("test frames stay under 64 KiB");
  return new Uint8Array([(fin ? 0x80 : 0) | opcode, ...header, ...bytes]);
}

function closeFrame(code?: number, reason = ""): Uint8Array {
  if (code === undefined) return frame(Opcode.CLOSE);
  const text = new TextEncoder().encode(reason);
  return frame(Opcode.CLOSE, new Uint8Array([code >> 8, code & 0xff, ...text]));
}

interface Harness {
  client: WebSocketClient;
  socket: FakeTcpSocket;
  clock: VirtualClock;
  events: string[];
  messages: Array<string | Uint8Array>;
  closes: CloseEvent[];
  host: NetHost;
}

function start(options: Partial<WebSocketClientOptions> = {}): Harness {
  const clock = new VirtualClock();
  const { tcp, sockets } = fakeTcp();
  // options.host adds to the fake host (a native codec, say); the fake socket stays.
  const host: NetHost = { ...options.host, tcp, timers: clock, random: (into) => randomFillSync(into) };
  const events: string[] = [];
  const messages: Array<string | Uint8Array> = [];
  const closes: CloseEvent[] = [];
  const client = new WebSocketClient({
    url: "ws://device.example:8080/live?id=7",
    onOpen: (protocol) => events.push(`open:${protocol}`),
    onMessage: (data) => messages.push(data),
    onPing: () => events.push("ping"),
    onPong: () => events.push("pong"),
    onDrain: () => events.push("drain"),
    onClose: (event) => closes.push(event),
    ...options,
    host,
  });
  return { client, socket: sockets[0]!, clock, events, messages, closes, host };
}

/** Connects TCP and answers the handshake correctly. */
function open(options: Partial<WebSocketClientOptions> = {}, extra: string[] = []): Harness {
  const h = start(options);
  h.socket.connect();
  const request = parseRequest(h.socket.takeWritten());
  h.socket.receive(switchingProtocols(request, extra));
  assert.equal(h.client.readyState, ReadyState.OPEN);
  return h;
}

function sent(h: Harness): ClientFrame[] {
  return parseClientFrames(h.socket.takeWritten());
}

function onlyClose(h: Harness): CloseEvent {
  assert.equal(h.closes.length, 1, "onClose is called exactly once");
  return h.closes[0]!;
}

describe("WebSocketClient", () => {
  describe("options are validated at construction", () => {
    const clock = new VirtualClock();
    const host: NetHost = { tcp: fakeTcp().tcp, timers: clock, random: (into) => randomFillSync(into) };
    const cases: Array<[string, Partial<WebSocketClientOptions> & Record<string, unknown>, RegExp]> = [
      ["a url that is not a string", { url: 42 as unknown as string }, /option url must be a string/],
      ["a negative message limit", { limits: { maxMessageBytes: -1 } }, /limits\.maxMessageBytes must be an integer from 125/],
      ["a fractional timeout", { limits: { closeTimeoutMs: 1.5 } }, /limits\.closeTimeoutMs must be an integer/],
      ["an unknown limit", { limits: { maxMessages: 3 } as never }, /limits\.maxMessages must be one of maxMessageBytes/],
      [
        "a frame limit above the message limit",
        { limits: { maxMessageBytes: 1000, maxFrameBytes: 2000 } },
        /limits\.maxFrameBytes must be at most limits\.maxMessageBytes \(1000\), got 2000/,
      ],
      ["a host without timers", { host: { tcp: host.tcp, random: host.random } as never }, /host\.timers/],
      ["a host drawing no mask keys at a time", { host: { ...host, maskKeysPerDraw: 0 } }, /host\.maskKeysPerDraw must be an integer from 1 to 1024, got 0/],
      ["a host drawing too many mask keys at a time", { host: { ...host, maskKeysPerDraw: 4096 } }, /host\.maskKeysPerDraw must be an integer from 1 to 1024/],
      ["a callback that is not a function", { onMessage: "print" as never }, /option onMessage must be a function/],
    ];
    for (const [what, options, message] of cases) {
      it(`rejects ${what}`, () => {
        assert.throws(
          () => new WebSocketClient({ url: "ws://127.0.0.1/", host, ...options }),
          (error: unknown) =>
            error instanceof WebSocketError && error.code === ErrorCode.INVALID_OPTION && message.test(error.message),
        );
      });
    }

    it("rejects a bad URL with ERR_INVALID_URL", () => {
      assert.throws(
        () => new WebSocketClient({ url: "http://127.0.0.1/", host }),
        (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_URL,
      );
    });

    it("refuses wss:// on a host without TLS instead of downgrading", () => {
      assert.throws(
        () => new WebSocketClient({ url: "wss://127.0.0.1/", host }),
        (error: unknown) => error instanceof WebSocketError && /wss:\/\/ needs a host with TLS/.test(error.message),
      );
    });

    it("defaults every limit, and the frame limit to the message limit", () => {
      const client = new WebSocketClient({ url: "ws://127.0.0.1/", host, limits: { maxMessageBytes: 1 << 20 } });
      assert.deepEqual(client.effectiveLimits, { ...DEFAULT_LIMITS, maxMessageBytes: 1 << 20, maxFrameBytes: 1 << 20 });
      client.close();
    });
  });

  describe("opening handshake", () => {
    it("connects to the URL's host and port and sends the request once TCP is up", () => {
      const h = start({ protocols: ["v2.telemetry", "v1.telemetry"], headers: { Authorization: "Bearer t0k3n" } });
      assert.equal(h.socket.options.host, "device.example");
      assert.equal(h.socket.options.port, 8080);
      assert.equal(h.socket.written.length, 0, "nothing is written before the connection exists");
      h.socket.connect();
      const request = parseRequest(h.socket.takeWritten());
      assert.equal(request.requestLine, "GET /live?id=7 HTTP/1.1");
      assert.equal(request.headers.get("host"), "device.example:8080");
      assert.equal(request.headers.get("sec-websocket-protocol"), "v2.telemetry, v1.telemetry");
      assert.equal(request.headers.get("authorization"), "Bearer t0k3n");
      assert.equal(Buffer.from(request.headers.get("sec-websocket-key")!, "base64").length, 16);
    });

    it("opens with the subprotocol the server selected", () => {
      const h = open({ protocols: ["a", "b"] }, ["Sec-WebSocket-Protocol: b"]);
      assert.deepEqual(h.events, ["open:b"]);
      assert.equal(h.client.protocol, "b");
    });

    it("processes frames that arrive in the same chunk as the 101", () => {
      const h = start();
      h.socket.connect();
      const request = parseRequest(h.socket.takeWritten());
      const head = switchingProtocols(request);
      const first = frame(Opcode.TEXT, "hello");
      h.socket.receive(new Uint8Array([...head, ...first]));
      assert.deepEqual(h.messages, ["hello"]);
    });

    it("fails with ERR_HANDSHAKE_TIMEOUT when the server never answers, and releases everything", () => {
      const h = start({ limits: { handshakeTimeoutMs: 3000 } });
      h.socket.connect();
      h.clock.advance(2999);
      assert.equal(h.closes.length, 0);
      h.clock.advance(1);
      const event = onlyClose(h);
      assert.ok(event.error instanceof HandshakeError);
      assert.equal(event.error.code, ErrorCode.HANDSHAKE_TIMEOUT);
      assert.match(event.error.message, /no handshake response from device\.example:8080 within handshakeTimeoutMs \(3000 ms\)/);
      assert.equal(event.code, CloseCode.ABNORMAL);
      assert.equal(event.wasClean, false);
      assert.equal(h.socket.closed, true);
      assert.equal(h.clock.size, 0, "no timer is left behind");
      assert.equal(h.client.readyState, ReadyState.CLOSED);
    });

    it("reports a refused connection as ERR_CONNECT_FAILED", () => {
      const h = start();
      h.socket.fail("connection refused");
      const event = onlyClose(h);
      assert.equal(event.error?.code, ErrorCode.CONNECT_FAILED);
      assert.match(event.error!.message, /could not connect to device\.example:8080: connection refused/);
      assert.equal(h.clock.size, 0);
    });

    it("reports a server that hangs up mid-handshake as ERR_HANDSHAKE_CLOSED", () => {
      const h = start();
      h.socket.connect();
      h.socket.fail("peer closed the connection");
      assert.equal(onlyClose(h).error?.code, ErrorCode.HANDSHAKE_CLOSED);
    });

    it("reports a bad answer with the handshake's error", () => {
      const h = start();
      h.socket.connect();
      h.socket.receive(new TextEncoder().encode("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n"));
      const event = onlyClose(h);
      assert.ok(event.error instanceof HandshakeError);
      assert.equal(event.error.status, 503);
      assert.equal(h.socket.closed, true);
    });

    it("abandons the attempt when closed while connecting", () => {
      const h = start();
      h.client.close();
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.ABNORMAL);
      assert.equal(event.wasClean, false);
      assert.equal(h.socket.closed, true);
      assert.equal(h.clock.size, 0);
    });
  });

  describe("messages", () => {
    it("delivers text as strings and binary as bytes", () => {
      const h = open();
      h.socket.receive(new Uint8Array([...frame(Opcode.TEXT, "héllo"), ...frame(Opcode.BINARY, new Uint8Array([0, 255]))]));
      assert.deepEqual(h.messages, ["héllo", new Uint8Array([0, 255])]);
    });

    it("sends text and binary in masked frames with a fresh key each", () => {
      const h = open();
      h.client.send("héllo");
      h.client.send(new Uint8Array([1, 2, 3]));
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => [f.fin, f.opcode, Buffer.from(f.payload).toString("hex")]),
        [
          [true, Opcode.TEXT, Buffer.from("héllo").toString("hex")],
          [true, Opcode.BINARY, "010203"],
        ],
      );
      assert.notDeepEqual(frames[0]!.mask, frames[1]!.mask);
    });

    it("sends a fragmented message as a first frame and continuations", () => {
      const h = open();
      h.client.send("one ", { more: true });
      h.client.ping("between");
      h.client.send("two ", { more: true });
      h.client.send("three");
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => [f.fin, f.opcode, Buffer.from(f.payload).toString()]),
        [
          [false, Opcode.TEXT, "one "],
          [true, Opcode.PING, "between"],
          [false, Opcode.CONTINUATION, "two "],
          [true, Opcode.CONTINUATION, "three"],
        ],
      );
    });

    it("refuses a fragment of the other type", () => {
      const h = open();
      h.client.send("text ", { more: true });
      assert.throws(() => h.client.send(new Uint8Array(1)), { code: ErrorCode.INVALID_ARGUMENT });
    });

    it("refuses send before open and after close", () => {
      const h = start();
      assert.throws(() => h.client.send("early"), { code: ErrorCode.INVALID_STATE });
      const o = open();
      o.client.close();
      assert.throws(() => o.client.send("late"), { code: ErrorCode.INVALID_STATE, message: /it is CLOSING/ });
    });

    it("answers a ping with a pong carrying the same payload", () => {
      const h = open();
      h.socket.receive(frame(Opcode.PING, "are you there"));
      const [pong] = sent(h);
      assert.equal(pong!.opcode, Opcode.PONG);
      assert.equal(Buffer.from(pong!.payload).toString(), "are you there");
      assert.deepEqual(h.events, ["open:", "ping"]);
    });

    it("keeps only the newest pong while the socket cannot take it", () => {
      const h = open();
      h.socket.space = 0;
      h.socket.drain(0);
      for (let i = 0; i < 100; i++) h.socket.receive(frame(Opcode.PING, `ping ${i}`));
      assert.ok(h.client.bufferedAmount <= 6 + 7, "a single pong is waiting");
      h.socket.drain(1 << 16);
      const frames = sent(h);
      assert.deepEqual(frames.map((f) => Buffer.from(f.payload).toString()), ["ping 99"]);
    });
  });

  describe("backpressure", () => {
    it("makes waiting bytes visible, bounds them, and tells when they drained", () => {
      const h = open({ limits: { maxBufferedBytes: 1000 } });
      h.socket.drain(10);
      // A 300-byte payload takes 2 + 2 (16-bit length) + 4 (mask) + 300 = 308 bytes.
      h.client.send(new Uint8Array(300));
      assert.equal(h.client.bufferedAmount, 308 - 10);
      h.client.send(new Uint8Array(300));
      assert.equal(h.client.bufferedAmount, 2 * 308 - 10);
      assert.throws(() => h.client.send(new Uint8Array(400)), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, ErrorCode.BUFFER_FULL);
        assert.match(error.message, /limits\.maxBufferedBytes \(1000\)/);
        return true;
      });
      assert.equal(h.client.bufferedAmount, 2 * 308 - 10, "a refused message queues nothing");
      h.socket.drain(100_000);
      assert.equal(h.client.bufferedAmount, 0);
      assert.deepEqual(h.events, ["open:", "drain"]);
      assert.equal(sent(h).length, 2);
    });

    it("encodes text with the host's native codec, and still refuses before queueing", () => {
      const encoded: string[] = [];
      const native = {
        encode: (text: string) => {
          encoded.push(text);
          return new TextEncoder().encode(text);
        },
        decode: (bytes: Uint8Array) => `decoded:${new TextDecoder().decode(bytes)}`,
      };
      const n = open({ host: { utf8: native } as NetHost, limits: { maxBufferedBytes: 256 } });
      n.socket.receive(frame(Opcode.TEXT, "hé"));
      assert.deepEqual(n.messages, ["decoded:hé"]);
      n.socket.drain(0);
      n.client.send("é".repeat(60));
      assert.equal(n.client.bufferedAmount, 120 + 6);
      // 100 UTF-16 units could fit; their 200 UTF-8 bytes cannot: refused after encoding.
      assert.throws(() => n.client.send("é".repeat(100)), { code: ErrorCode.BUFFER_FULL });
      // 300 units cannot fit whatever their encoding: refused without encoding.
      assert.throws(() => n.client.send("a".repeat(300)), { code: ErrorCode.BUFFER_FULL });
      assert.deepEqual(encoded, ["é".repeat(60), "é".repeat(100)]);
      assert.equal(n.client.bufferedAmount, 120 + 6, "a refused message queues nothing");
    });

    it("rejects a host.utf8 without encode and decode", () => {
      const h = start();
      assert.throws(
        () => new WebSocketClient({ url: "ws://127.0.0.1/", host: { ...h.host, utf8: { encode: () => new Uint8Array(0) } as never } }),
        { code: ErrorCode.INVALID_OPTION, message: /host\.utf8/ },
      );
    });

    it("stops reading while bufferedAmount is over readPauseBytes, and reads on once the socket has drained it", () => {
      const echoes: string[] = [];
      const h = open({
        limits: { maxBufferedBytes: 4096, readPauseBytes: 100 },
        onMessage: (data) => {
          echoes.push(data as string);
          h.client.send(data);
        },
      });
      h.socket.drain(0); // the server reads nothing
      const text = (n: number) => `message ${n} `.padEnd(50, ".");
      // Five 50-byte messages in one read: each echo queues 56 bytes.
      h.socket.receive(concat([1, 2, 3, 4, 5].map((n) => frame(Opcode.TEXT, text(n)))));
      assert.deepEqual(echoes, [text(1), text(2)], "paused after the echo that took the queue past 100 bytes");
      assert.equal(h.client.bufferedAmount, 112);
      h.socket.receive(frame(Opcode.TEXT, text(6)));
      assert.equal(echoes.length, 2, "nothing more is read from the socket while paused");
      h.socket.drain(1000); // the server reads again
      assert.deepEqual(echoes, [1, 2, 3, 4, 5, 6].map(text), "the rest of the read, then the socket, in order");
      assert.deepEqual(
        sent(h).map((f) => new TextDecoder().decode(f.payload)),
        [1, 2, 3, 4, 5, 6].map(text),
      );
      assert.equal(h.client.bufferedAmount, 0);
    });

    it("defaults readPauseBytes to a quarter of maxBufferedBytes, and refuses one above it", () => {
      assert.equal(open({ limits: { maxBufferedBytes: 1000 } }).client.effectiveLimits.readPauseBytes, 250);
      assert.equal(open().client.effectiveLimits.readPauseBytes, 4096);
      const h = start();
      assert.throws(
        () => new WebSocketClient({ url: "ws://127.0.0.1/", host: h.host, limits: { maxBufferedBytes: 1000, readPauseBytes: 1001 } }),
        { code: ErrorCode.INVALID_OPTION, message: /limits\.readPauseBytes must be at most limits\.maxBufferedBytes \(1000\)/ },
      );
    });

    it("counts a string by its UTF-8 length", () => {
      const h = open({ limits: { maxBufferedBytes: 256 } });
      h.socket.drain(0);
      assert.throws(() => h.client.send("é".repeat(125)), { code: ErrorCode.BUFFER_FULL });
      h.client.send("é".repeat(60));
      assert.equal(h.client.bufferedAmount, 120 + 6);
    });
  });

  describe("closing handshake", () => {
    it("closes cleanly when the client starts it", () => {
      const h = open();
      h.client.close(1000, "bye");
      assert.equal(h.client.readyState, ReadyState.CLOSING);
      const [close] = sent(h);
      assert.equal(close!.opcode, Opcode.CLOSE);
      assert.deepEqual(closePayload(close!.payload), { code: 1000, reason: "bye" });
      h.socket.receive(closeFrame(1000, "bye"));
      assert.equal(h.closes.length, 0, "waits for the server to close TCP (section 7.1.1)");
      h.socket.fail("peer closed the connection");
      assert.deepEqual(onlyClose(h), { code: 1000, reason: "bye", wasClean: true, unsentBytes: 0 });
      assert.equal(h.clock.size, 0);
    });

    it("answers a server's close with the same code and reports it", () => {
      const h = open();
      h.socket.receive(closeFrame(4001, "maintenance"));
      const [answer] = sent(h);
      assert.deepEqual(closePayload(answer!.payload), { code: 4001, reason: "" });
      h.socket.fail();
      const event = onlyClose(h);
      assert.equal(event.code, 4001);
      assert.equal(event.reason, "maintenance");
      assert.equal(event.wasClean, true);
    });

    it("answers a close without a code with an empty close, and reports 1005", () => {
      const h = open();
      h.socket.receive(closeFrame());
      const [answer] = sent(h);
      assert.equal(answer!.payload.length, 0);
      h.socket.fail();
      assert.equal(onlyClose(h).code, CloseCode.NO_STATUS);
    });

    it("drops TCP after closeTimeoutMs when the server never answers the close", () => {
      const h = open({ limits: { closeTimeoutMs: 2000 } });
      h.client.close();
      h.clock.advance(2000);
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.ABNORMAL);
      assert.equal(event.wasClean, false);
      assert.equal(event.error?.code, ErrorCode.CLOSE_TIMEOUT);
      assert.equal(h.socket.closed, true);
    });

    it("drops TCP after closeTimeoutMs when the server answers but keeps TCP open", () => {
      const h = open({ limits: { closeTimeoutMs: 2000 } });
      h.client.close(3001);
      h.socket.receive(closeFrame(3001));
      h.clock.advance(2000);
      assert.deepEqual(onlyClose(h), { code: 3001, reason: "", wasClean: true, unsentBytes: 0 });
      assert.equal(h.socket.closed, true);
    });

    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 1000.5]) {
      it(`refuses close(${code})`, () => {
        const h = open();
        assert.throws(() => h.client.close(code), { code: ErrorCode.INVALID_ARGUMENT });
        assert.equal(h.client.readyState, ReadyState.OPEN);
      });
    }

    it("accepts 1001 for a device going away", () => {
      const h = open();
      h.client.close(1001, "rebooting");
      assert.deepEqual(closePayload(sent(h)[0]!.payload), { code: 1001, reason: "rebooting" });
    });

    it("refuses a reason over 123 UTF-8 bytes", () => {
      const h = open();
      h.client.close(1000, "é".repeat(61) + "a"); // 123 bytes: fine
      const k = open();
      assert.throws(() => k.client.close(1000, "é".repeat(62)), { code: ErrorCode.INVALID_ARGUMENT });
    });

    it("ignores close when already closing", () => {
      const h = open();
      h.client.close(4000);
      h.client.close(4001);
      assert.equal(sent(h).length, 1);
    });

    it("reports a lost connection as 1006", () => {
      const h = open();
      h.socket.fail("connection reset by peer");
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.ABNORMAL);
      assert.equal(event.error?.code, ErrorCode.CONNECTION_LOST);
      assert.match(event.error!.message, /connection reset by peer/);
    });
  });

  describe("failing the connection", () => {
    it("sends the error's close code, drops queued data, and reports what was not sent", () => {
      const h = open();
      h.socket.drain(0);
      h.client.send(new Uint8Array(100));
      h.socket.receive(new Uint8Array([0x81 | 0x40, 0])); // RSV1 without an extension
      assert.equal(h.client.readyState, ReadyState.CLOSING);
      h.socket.drain(1000);
      const [close] = sent(h);
      assert.equal(close!.opcode, Opcode.CLOSE);
      assert.equal(closePayload(close!.payload).code, CloseCode.PROTOCOL_ERROR);
      h.socket.fail();
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.PROTOCOL_ERROR);
      assert.equal(event.wasClean, false);
      assert.equal(event.error?.code, ErrorCode.RESERVED_BITS);
      assert.equal(event.unsentBytes, 106);
    });

    it("delivers nothing after the failure", () => {
      const h = open();
      h.socket.receive(new Uint8Array([0x83, 0, ...frame(Opcode.TEXT, "late")])); // opcode 3 is reserved
      assert.deepEqual(h.messages, []);
    });

    it("fails with 1011 when an application callback throws", () => {
      const h = open({
        onMessage: () => {
          throw new Error("handler bug");
        },
      });
      h.socket.receive(frame(Opcode.TEXT, "x"));
      const [close] = sent(h);
      assert.equal(closePayload(close!.payload).code, CloseCode.INTERNAL_ERROR);
      h.socket.fail();
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.INTERNAL_ERROR);
      assert.equal(event.error?.code, ErrorCode.CALLBACK_FAILED);
      assert.match(event.error!.message, /onMessage threw: handler bug/);
    });

    it("gives up waiting for the server after closeTimeoutMs", () => {
      const h = open({ limits: { closeTimeoutMs: 1000 } });
      h.socket.receive(new Uint8Array([0x88, 1, 0])); // 1-byte close payload
      h.clock.advance(1000);
      const event = onlyClose(h);
      assert.equal(event.code, CloseCode.PROTOCOL_ERROR);
      assert.equal(h.socket.closed, true);
      assert.equal(h.clock.size, 0);
    });
  });
});

describe("WebSocketClient.terminate", () => {
  it("drops TCP at once with 1006 and the given error, without a close frame", () => {
    const h = open();
    const error = new WebSocketError(ErrorCode.CONNECTION_LOST, "no pong within 10000 ms");
    h.client.terminate(error);
    assert.equal(h.socket.closed, true);
    assert.deepEqual(sent(h), []);
    const event = onlyClose(h);
    assert.equal(event.code, CloseCode.ABNORMAL);
    assert.equal(event.wasClean, false);
    assert.equal(event.error, error);
    assert.equal(h.clock.size, 0);
  });

  it("does nothing once closed", () => {
    const h = open();
    h.socket.fail();
    h.client.terminate();
    assert.equal(h.closes.length, 1);
  });
});

describe("WebSocketClient over TLS (wss://): what the client asks of the host's TLS socket", () => {
  const PIN = Buffer.alloc(32, 7).toString("base64");

  function tlsHost() {
    const clock = new VirtualClock();
    const plain = fakeTcp();
    const secure = fakeTcp();
    const logs: Array<{ level: string; event: string }> = [];
    const host: NetHost = {
      tcp: plain.tcp,
      tls: secure.tcp,
      timers: clock,
      random: (into) => randomFillSync(into),
      log: (level, event) => logs.push({ level, event }),
    };
    return { host, clock, plain: plain.sockets, secure: secure.sockets, logs };
  }

  it("opens a TLS socket with the URL's host as server name, and the CA and pins given", () => {
    const t = tlsHost();
    new WebSocketClient({ url: "wss://iot.example:8443/d", host: t.host, tls: { ca: "-----BEGIN CERTIFICATE-----", pins: [PIN] } });
    assert.equal(t.plain.length, 0, "never a plain socket for wss://");
    assert.deepEqual(t.secure[0]!.options.tls, { serverName: "iot.example", ca: "-----BEGIN CERTIFICATE-----", pins: [PIN] });
    assert.equal(t.secure[0]!.options.port, 8443);
  });

  it("verifies by default: no tls option still means a verified TLS socket", () => {
    const t = tlsHost();
    new WebSocketClient({ url: "wss://iot.example/", host: t.host });
    assert.deepEqual(t.secure[0]!.options.tls, { serverName: "iot.example" });
    assert.equal(t.secure[0]!.options.port, 443);
  });

  it("warns at every connect when verification is turned off", () => {
    const t = tlsHost();
    for (let i = 0; i < 3; i++) new WebSocketClient({ url: "wss://iot.example/", host: t.host, tls: { insecure: true } });
    assert.equal(t.logs.filter((l) => l.level === "warn" && l.event === "tls_insecure").length, 3);
  });

  it("reports each TLS failure the host names as a distinct HandshakeError", () => {
    for (const code of [ErrorCode.TLS_UNKNOWN_CA, ErrorCode.TLS_HOSTNAME_MISMATCH, ErrorCode.TLS_CERT_EXPIRED, ErrorCode.TLS_PIN_MISMATCH]) {
      const t = tlsHost();
      const closes: CloseEvent[] = [];
      new WebSocketClient({ url: "wss://iot.example/", host: t.host, onClose: (e) => closes.push(e) });
      t.secure[0]!.options.onError?.("certificate check failed", code);
      assert.equal(closes.length, 1);
      assert.ok(closes[0]!.error instanceof HandshakeError);
      assert.equal(closes[0]!.error.code, code);
      assert.match(closes[0]!.error.message, /TLS connection to iot\.example:443 refused: certificate check failed/);
      assert.equal(closes[0]!.code, CloseCode.ABNORMAL);
    }
  });

  it("says a TLS connection never came when the deadline passes before it", () => {
    const t = tlsHost();
    const closes: CloseEvent[] = [];
    new WebSocketClient({ url: "wss://iot.example/", host: t.host, limits: { handshakeTimeoutMs: 1000 }, onClose: (e) => closes.push(e) });
    t.clock.advance(1000);
    assert.equal(closes[0]!.error?.code, ErrorCode.HANDSHAKE_TIMEOUT);
    assert.match(closes[0]!.error!.message, /no TLS connection from iot\.example:443 within handshakeTimeoutMs \(1000 ms\)/);
  });

  it("refuses wss:// on a host without TLS, and TLS options on ws://, and bad pins", () => {
    const t = tlsHost();
    const { tls: _none, ...plainHost } = t.host;
    assert.throws(() => new WebSocketClient({ url: "wss://iot.example/", host: plainHost }), { code: ErrorCode.INVALID_URL, message: /needs a host with TLS support/ });
    assert.throws(() => new WebSocketClient({ url: "ws://iot.example/", host: t.host, tls: { insecure: true } }), { code: ErrorCode.INVALID_OPTION, message: /option tls must be absent for a ws:\/\/ URL/ });
    assert.throws(() => new WebSocketClient({ url: "wss://iot.example/", host: t.host, tls: { pins: ["abc"] } }), { code: ErrorCode.INVALID_OPTION, message: /tls\.pins/ });
    assert.throws(() => new WebSocketClient({ url: "wss://iot.example/", host: t.host, tls: { pins: [PIN], insecure: true } }), { code: ErrorCode.INVALID_OPTION, message: /tls\.insecure/ });
    assert.throws(() => new WebSocketClient({ url: "wss://iot.example/", host: t.host, tls: { cert: "x" } as never }), { code: ErrorCode.INVALID_OPTION, message: /tls\.cert/ });
  });
});

describe("WebSocketClient: the credentials in its headers never come back in its errors", () => {
  const TOKEN = "tok-7YvX2kQ9mB4nL8pW3sZ6";

  it("hides a token a server quotes in its refusal, and keeps the rest of what it said", () => {
    const h = start({ headers: { Authorization: `Bearer ${TOKEN}` } });
    h.socket.connect();
    h.socket.takeWritten();
    h.socket.receive(new TextEncoder().encode(`HTTP/1.1 401 Bad token ${TOKEN}\r\nContent-Length: 0\r\n\r\n`));
    const close = onlyClose(h);
    assert.ok(close.error instanceof HandshakeError);
    assert.equal(close.error.code, ErrorCode.UNAUTHORIZED);
    assert.equal(close.error.status, 401);
    assert.match(close.error.message, /^server answered 401 Bad token <redacted>, expected 101 Switching Protocols; the server requires authentication/);
    assert.equal(close.reason, close.error.message);
    assert.ok(!close.reason.includes("7YvX2kQ9"));
  });

  it("hides it in the server's close reason too", () => {
    const h = open({ headers: [["Authorization", `Bearer ${TOKEN}`]] });
    h.socket.receive(closeFrame(4001, `token ${TOKEN} revoked`));
    h.socket.fail();
    const close = onlyClose(h);
    assert.equal(close.code, 4001);
    assert.equal(close.reason, "token <redacted> revoked");
  });

  it("leaves a server's words alone when they hold nothing of ours", () => {
    const h = open({ headers: { Authorization: `Bearer ${TOKEN}` } });
    h.socket.receive(closeFrame(4001, "token revoked by the operator"));
    h.socket.fail();
    assert.equal(onlyClose(h).reason, "token revoked by the operator");
  });
});
