/**
 * The echo agent (src/websocket/echo-agent.ts), one layer alone: an in-memory socket plays the server
 * and a virtual clock drives the deadlines. The agent as a real process, against real
 * servers, is in tests/integration/echo-agent.test.ts.
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";

import { CloseCode, DEFAULT_LIMITS, type Limits } from "../../src/websocket/constants.js";
import { AUTOBAHN_LIMITS, EXIT_CLOSED, EXIT_NOT_OPENED, startEchoAgent, type EchoAgent } from "../../src/websocket/echo-agent.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import type { NetHost } from "../../src/shared/host.js";
import { ReadyState } from "../../src/websocket/client.js";
import { closePayload, parseClientFrames, parseRequest, switchingProtocols, type ClientFrame } from "../support/client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { OP, closeBody, serverFrame } from "../support/frames.js";
import { VirtualClock } from "../support/virtual-clock.js";

const MiB = 1024 * 1024;

interface Harness {
  agent: EchoAgent;
  socket: FakeTcpSocket;
  clock: VirtualClock;
  exits: Array<[number, string]>;
}

function start(limits?: Partial<Limits>): Harness {
  const clock = new VirtualClock();
  const { tcp, sockets } = fakeTcp();
  const host: NetHost = { tcp, timers: clock, random: (into) => randomFillSync(into) };
  const exits: Array<[number, string]> = [];
  const agent = startEchoAgent({
    url: "ws://127.0.0.1:9001/runCase?case=1&agent=moorline",
    host,
    ...(limits ? { limits } : {}),
    onExit: (code, reason) => exits.push([code, reason]),
  });
  return { agent, socket: sockets[0]!, clock, exits };
}

/** Connects TCP and answers the handshake. */
function open(limits?: Partial<Limits>): Harness {
  const h = start(limits);
  h.socket.connect();
  h.socket.receive(switchingProtocols(parseRequest(h.socket.takeWritten())));
  assert.equal(h.agent.client.readyState, ReadyState.OPEN);
  return h;
}

function sent(h: Harness): ClientFrame[] {
  return parseClientFrames(h.socket.takeWritten());
}

const text = (frame: ClientFrame) => new TextDecoder().decode(frame.payload);

describe("echo agent", () => {
  describe("echoing", () => {
    it("sends text back as text and binary back as binary", () => {
      const h = open();
      h.socket.receive(serverFrame({ opcode: OP.TEXT, payload: "h\u00e9llo" }));
      h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: [0, 1, 255] }));
      h.socket.receive(serverFrame({ opcode: OP.TEXT, payload: "" }));
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.fin]),
        [
          [OP.TEXT, true],
          [OP.BINARY, true],
          [OP.TEXT, true],
        ],
      );
      assert.equal(text(frames[0]!), "h\u00e9llo");
      assert.deepEqual([...frames[1]!.payload], [0, 1, 255]);
      assert.equal(frames[2]!.payload.length, 0);
      assert.equal(h.agent.echoed, 3);
    });

    it("sends a fragmented message back as one message", () => {
      const h = open();
      h.socket.receive(serverFrame({ opcode: OP.TEXT, payload: "frag", fin: false }));
      h.socket.receive(serverFrame({ opcode: OP.PING, payload: "p" }));
      h.socket.receive(serverFrame({ opcode: OP.CONTINUATION, payload: "ment" }));
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => [f.opcode, text(f)]),
        [
          [OP.PONG, "p"],
          [OP.TEXT, "fragment"],
        ],
      );
    });

    it("echoes a 16 MiB message in one piece with AUTOBAHN_LIMITS", () => {
      const h = open(AUTOBAHN_LIMITS);
      const payload = new Uint8Array(16 * MiB);
      for (let i = 0; i < payload.length; i += 4096) payload[i] = (i >> 12) & 0xff;
      h.socket.receive(serverFrame({ opcode: OP.BINARY, payload }));
      // The fake socket takes 1 MiB per onWritable; the rest waits in the client's buffer.
      const chunks: Uint8Array[] = [h.socket.takeWritten()];
      for (let i = 0; i < 32 && h.agent.client.bufferedAmount > 0; i++) {
        h.socket.drain();
        chunks.push(h.socket.takeWritten());
      }
      assert.equal(h.agent.client.bufferedAmount, 0);
      const frames = parseClientFrames(Buffer.concat(chunks));
      assert.equal(frames.length, 1);
      assert.equal(frames[0]!.opcode, OP.BINARY);
      assert.ok(Buffer.from(frames[0]!.payload).equals(Buffer.from(payload)));
    });
  });

  describe("exit codes", () => {
    it("exits 0 once a connection that opened has closed", () => {
      const h = open();
      h.socket.receive(serverFrame({ opcode: OP.CLOSE, payload: closeBody(1000, "done") }));
      assert.deepEqual(h.exits, [], "not before TCP has closed");
      h.socket.fail("peer closed the connection");
      assert.deepEqual(h.exits, [[EXIT_CLOSED, "closed with 1000 (done)"]]);
    });

    it("exits 0 whatever the close code, also when the client failed the connection", () => {
      const h = open();
      h.socket.receive(serverFrame({ opcode: 0x3 })); // reserved opcode: the client fails with 1002
      const close = sent(h).find((f) => f.opcode === OP.CLOSE);
      assert.equal(closePayload(close!.payload).code, CloseCode.PROTOCOL_ERROR);
      h.socket.fail("peer closed the connection");
      assert.equal(h.exits.length, 1);
      assert.equal(h.exits[0]![0], EXIT_CLOSED);
    });

    it("exits 1 with the error's message when the connection is refused", () => {
      const h = start();
      h.socket.fail("connection refused (127.0.0.1:9001)");
      assert.equal(h.exits.length, 1);
      assert.equal(h.exits[0]![0], EXIT_NOT_OPENED);
      assert.match(h.exits[0]![1], /connection refused \(127\.0\.0\.1:9001\)/);
    });

    it("exits 1 when the handshake does not complete within handshakeTimeoutMs", () => {
      const h = start({ handshakeTimeoutMs: 500 });
      h.socket.connect();
      h.clock.advance(499);
      assert.deepEqual(h.exits, []);
      h.clock.advance(1);
      assert.equal(h.exits.length, 1);
      assert.equal(h.exits[0]![0], EXIT_NOT_OPENED);
      assert.match(h.exits[0]![1], /handshakeTimeoutMs \(500 ms\)/);
    });

    it("throws at start for a URL it cannot use", () => {
      const { tcp } = fakeTcp();
      assert.throws(
        () =>
          startEchoAgent({
            url: "http://127.0.0.1/",
            host: { tcp, timers: new VirtualClock(), random: (into) => randomFillSync(into) },
            onExit: () => assert.fail("no exit for a bad URL"),
          }),
        (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_URL,
      );
    });
  });

  describe("backpressure", () => {
    /** A client whose socket takes nothing until the test drains it. */
    function blocked(limits: Partial<Limits>): Harness {
      const h = open(limits);
      h.socket.drain(0);
      return h;
    }

    it("keeps one message that does not fit the send buffer and sends it at onDrain", () => {
      const h = blocked({ maxMessageBytes: 1000, maxBufferedBytes: 1024 });
      h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: new Uint8Array(600).fill(1) }));
      h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: new Uint8Array(600).fill(2) }));
      assert.equal(h.agent.echoed, 1, "the second waits");
      h.socket.drain(MiB);
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => [f.opcode, f.payload.length, f.payload[0]]),
        [
          [OP.BINARY, 600, 1],
          [OP.BINARY, 600, 2],
        ],
        "in order",
      );
      assert.equal(h.agent.echoed, 2);
      assert.equal(h.agent.client.readyState, ReadyState.OPEN);
    });

    it("reads the next message only once the echo before it has drained: a fast peer gets every echo", () => {
      const h = blocked({ maxMessageBytes: 1000, maxBufferedBytes: 1024 });
      for (const fill of [1, 2, 3]) {
        h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: new Uint8Array(600).fill(fill) }));
      }
      assert.equal(h.agent.echoed, 1, "reading paused after the first echo (readPauseBytes: a quarter of the buffer)");
      h.socket.drain(MiB);
      const frames = sent(h);
      assert.deepEqual(frames.map((f) => [f.opcode, f.payload[0]]), [[OP.BINARY, 1], [OP.BINARY, 2], [OP.BINARY, 3]]);
    });

    it("fails with 1008 rather than hold a second message back when flow control is off (readPauseBytes = maxBufferedBytes)", () => {
      const h = blocked({ maxMessageBytes: 1000, maxBufferedBytes: 1024, readPauseBytes: 1024 });
      for (const fill of [1, 2, 3]) {
        h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: new Uint8Array(600).fill(fill) }));
      }
      h.socket.drain(MiB);
      const frames = sent(h);
      assert.deepEqual(
        frames.map((f) => f.opcode),
        [OP.BINARY, OP.CLOSE],
        "the waiting message is dropped, with the close that says why",
      );
      assert.equal(closePayload(frames[1]!.payload).code, CloseCode.POLICY_VIOLATION);
      assert.match(closePayload(frames[1]!.payload).reason, /echo backlog full/);
    });

    it("fails with 1009 a message that alone is larger than the send buffer", () => {
      const h = open({ maxMessageBytes: 2000, maxBufferedBytes: 1024 });
      h.socket.receive(serverFrame({ opcode: OP.BINARY, payload: new Uint8Array(1500) }));
      const frames = sent(h);
      assert.deepEqual(frames.map((f) => f.opcode), [OP.CLOSE]);
      assert.equal(closePayload(frames[0]!.payload).code, CloseCode.MESSAGE_TOO_BIG);
    });
  });

  it("stop() closes with 1001 (going away)", () => {
    const h = open();
    h.agent.stop();
    const frames = sent(h);
    assert.deepEqual(frames.map((f) => f.opcode), [OP.CLOSE]);
    assert.equal(closePayload(frames[0]!.payload).code, CloseCode.GOING_AWAY);
  });

  it("AUTOBAHN_LIMITS take 16 MiB messages and frames, with room to echo one", () => {
    assert.equal(AUTOBAHN_LIMITS.maxMessageBytes, 16 * MiB);
    assert.equal(AUTOBAHN_LIMITS.maxFrameBytes, 16 * MiB);
    assert.ok(AUTOBAHN_LIMITS.maxBufferedBytes >= 16 * MiB + 14, "a 16 MiB payload plus the largest client header");
    assert.ok(AUTOBAHN_LIMITS.maxMessageBytes > DEFAULT_LIMITS.maxMessageBytes);
  });
});
