/**
 * The Node host against real loopback TCP: the ECMA-419-shaped socket (connect, read,
 * bounded write, errors, graceful close, bounded receive queue), timers, randomness,
 * SHA-1 and the JSON-lines log.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { TcpSocketOptions } from "../../../src/shared/host.js";
import {
  createJsonLog,
  createNodeHost,
  NodeTcpSocket,
  NODE_RANDOM_POOL_BYTES,
  nodeRandom,
  nodeSha1,
  nodeTimers,
  nodeUtf8,
  READ_HIGH_WATER_BYTES,
  WRITE_HIGH_WATER_BYTES,
} from "../../../hosts/node/host.js";
import { decodeUtf8, encodeUtf8 } from "../../../src/websocket/utf8.js";
import { closedPort, deferred, delay, listenLoopback, until, within } from "../../support/wait.js";

const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes);

/** What a socket reported, in order. */
interface Recorder {
  events: string[];
  writable: number[];
  readable: number[];
  errors: (string | undefined)[];
}

function recordingOptions(
  port: number,
  extra: Partial<TcpSocketOptions> = {},
): { options: TcpSocketOptions; seen: Recorder } {
  const seen: Recorder = { events: [], writable: [], readable: [], errors: [] };
  const options: TcpSocketOptions = {
    host: "127.0.0.1",
    port,
    nodelay: true,
    onWritable: (count) => {
      seen.events.push(`writable ${count}`);
      seen.writable.push(count);
    },
    onReadable: (count) => {
      seen.events.push(`readable ${count}`);
      seen.readable.push(count);
    },
    onError: (message) => {
      seen.events.push(`error ${message}`);
      seen.errors.push(message);
    },
    ...extra,
  };
  return { options, seen };
}

describe("Node host (hosts/node/host.ts)", function () {
  describe("NodeTcpSocket", function () {
    let server: Server;
    let port: number;
    let peers: Socket[];
    let onPeer: (peer: Socket) => void;
    const sockets: NodeTcpSocket[] = [];

    beforeEach(async function () {
      peers = [];
      onPeer = () => {};
      server = createServer((peer) => {
        peers.push(peer);
        peer.on("error", () => {});
        onPeer(peer);
      });
      port = await listenLoopback(server);
    });

    afterEach(async function () {
      for (const socket of sockets.splice(0)) socket.close();
      for (const peer of peers) peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    function open(extra: Partial<TcpSocketOptions> = {}) {
      const { options, seen } = recordingOptions(port, extra);
      const socket = new NodeTcpSocket(options);
      sockets.push(socket);
      return { socket, seen };
    }

    it("signals the connection with onWritable, reporting the full write space", async function () {
      const { seen } = open();
      await until(() => seen.writable.length > 0, 2000, "onWritable");
      assert.deepEqual(seen.writable, [WRITE_HIGH_WATER_BYTES]);
      assert.deepEqual(seen.errors, []);
    });

    it("queues received bytes, reports the total with onReadable and reads them in parts", async function () {
      onPeer = (peer) => peer.write("hello world");
      const { socket, seen } = open();
      await until(() => seen.readable.length > 0, 2000, "onReadable");
      assert.equal(seen.readable[0], 11);
      const first = socket.read(5);
      assert.ok(first instanceof Uint8Array);
      assert.equal(Buffer.isBuffer(first), false, "a plain Uint8Array, so src/ never relies on Buffer");
      assert.equal(text(first), "hello");
      assert.equal(text(socket.read()), " world");
      assert.equal(socket.read(), undefined);
      assert.equal(socket.read(10), undefined);
    });

    it("joins chunks when a read spans them", async function () {
      onPeer = (peer) => {
        peer.write("ab");
        setTimeout(() => peer.write("cd"), 30);
      };
      const { socket, seen } = open();
      await until(() => seen.readable.includes(4), 2000, "both chunks");
      assert.deepEqual(seen.readable, [2, 4], "onReadable reports the total queued");
      assert.equal(text(socket.read(3)), "abc");
      assert.equal(text(socket.read(99)), "d");
      assert.equal(socket.read(), undefined);
    });

    it("sends written bytes in order", async function () {
      const received: Buffer[] = [];
      onPeer = (peer) => peer.on("data", (chunk: Buffer) => received.push(chunk));
      const { socket, seen } = open();
      await until(() => seen.writable.length > 0, 2000, "connection");
      socket.write(new TextEncoder().encode("one "));
      socket.write(new TextEncoder().encode("two"));
      await until(() => Buffer.concat(received).length === 7, 2000, "the peer to receive 7 bytes");
      assert.equal(Buffer.concat(received).toString(), "one two");
    });

    it("reports the space again after even a small write has gone out", async function () {
      // A writer that has 154 bytes out and a 65 536-byte frame to go waits for this.
      const { socket, seen } = open();
      await until(() => seen.writable.length > 0, 2000, "connection");
      socket.write(new Uint8Array(154));
      assert.deepEqual(seen.writable, [WRITE_HIGH_WATER_BYTES], "never from inside write()");
      await until(() => seen.writable.length > 1, 2000, "onWritable after the write");
      assert.deepEqual(seen.writable, [WRITE_HIGH_WATER_BYTES, WRITE_HIGH_WATER_BYTES]);
      socket.write(new Uint8Array(WRITE_HIGH_WATER_BYTES));
    });

    it("refuses a write larger than the free space, and writes before the connection opens", async function () {
      const { socket, seen } = open();
      assert.throws(() => socket.write(new Uint8Array(1)), /before the connection is open/);
      await until(() => seen.writable.length > 0, 2000, "connection");
      assert.throws(
        () => socket.write(new Uint8Array(WRITE_HIGH_WATER_BYTES + 1)),
        (error: Error) => error instanceof RangeError && /exceeds the writable space \(65536 bytes\)/.test(error.message),
      );
      socket.write(new Uint8Array(WRITE_HIGH_WATER_BYTES));
    });

    it("counts unsent bytes against the space, and reports space again once the peer reads", async function () {
      let received = 0;
      onPeer = (peer) => {
        peer.pause(); // a peer that does not read: the kernel's buffers fill up
        peer.on("data", (chunk: Buffer) => (received += chunk.length));
      };
      const { socket, seen } = open();
      await until(() => seen.writable.length > 0 && peers.length === 1, 2000, "connection");
      const chunk = new Uint8Array(WRITE_HIGH_WATER_BYTES);
      let accepted = 0;
      let refused: Error | undefined;
      // Loopback buffers hold a few MiB at most; 4096 x 64 KiB = 256 MiB bounds the loop.
      for (let i = 0; i < 4096 && !refused; i++) {
        try {
          socket.write(chunk);
          accepted += chunk.length;
        } catch (error) {
          refused = error as Error;
        }
        if (i % 16 === 15) await delay(1); // let the kernel take what it can
      }
      assert.ok(refused, "a write must be refused once unsent bytes use up the space");
      assert.match(refused.message, /exceeds the writable space/);
      const reportsBefore = seen.writable.length;
      peers[0]!.resume();
      await until(() => received === accepted, 10_000, `the peer to receive ${accepted} bytes`);
      await until(() => seen.writable.length > reportsBefore, 2000, "onWritable after the peer read");
      assert.equal(seen.writable.at(-1), WRITE_HIGH_WATER_BYTES);
      socket.write(chunk); // space is back
    });

    it("reports a refused connection once, leaving the address to the client (which names it)", async function () {
      const refusedPort = await closedPort();
      const { options, seen } = recordingOptions(refusedPort);
      sockets.push(new NodeTcpSocket(options));
      await until(() => seen.events.length > 0, 2000, "onError");
      await delay(50);
      assert.deepEqual(seen.events, ["error connection refused"]);
    });

    it("reports a connection reset by the peer", async function () {
      onPeer = (peer) => setTimeout(() => peer.resetAndDestroy(), 20);
      const { seen } = open();
      await until(() => seen.errors.length > 0, 2000, "onError");
      await delay(50);
      assert.deepEqual(seen.errors, ["connection reset by peer"]);
    });

    it("reports the peer's orderly close after the bytes it sent were read", async function () {
      onPeer = (peer) => peer.end("bye");
      const { socket, seen } = open({
        onReadable: (count) => {
          seen.events.push(`readable ${count}`);
          seen.events.push(`read ${text(socket.read())}`);
        },
      });
      await until(() => seen.errors.length > 0, 2000, "onError");
      await delay(50);
      assert.deepEqual(seen.events, [
        `writable ${WRITE_HIGH_WATER_BYTES}`,
        "readable 3",
        "read bye",
        "error peer closed the connection",
      ]);
    });

    it("holds the end back until a slow reader has taken the bytes before it", async function () {
      onPeer = (peer) => peer.end("last words");
      const { socket, seen } = open();
      await until(() => seen.readable.length > 0, 2000, "onReadable");
      await delay(50);
      assert.deepEqual(seen.errors, [], "no onError while bytes are unread");
      assert.equal(text(socket.read()), "last words");
      await until(() => seen.errors.length > 0, 2000, "onError after the read");
      assert.deepEqual(seen.errors, ["peer closed the connection"]);
    });

    it("can still answer between the peer's FIN and onError (a close frame's reply)", async function () {
      const fromClient = deferred<string>();
      onPeer = (peer) => {
        let got = "";
        peer.on("data", (chunk: Buffer) => (got += chunk.toString()));
        peer.on("end", () => fromClient.resolve(got));
        peer.end("close?");
      };
      const { socket, seen } = open();
      await until(() => seen.readable.length > 0, 2000, "onReadable");
      await delay(20); // the FIN has arrived by now; onError waits for the read
      assert.equal(text(socket.read()), "close?");
      socket.write(new TextEncoder().encode("close!"));
      assert.equal(await within(fromClient.promise, 2000, "the peer to see our reply and FIN"), "close!");
    });

    it("close() sends what was written, then ends, and reports nothing afterwards", async function () {
      const ended = deferred<number>();
      onPeer = (peer) => {
        let length = 0;
        peer.on("data", (chunk: Buffer) => (length += chunk.length));
        peer.on("end", () => {
          ended.resolve(length);
          peer.end();
        });
      };
      const { socket, seen } = open();
      await until(() => seen.writable.length > 0, 2000, "connection");
      socket.write(new Uint8Array(WRITE_HIGH_WATER_BYTES).fill(7));
      socket.close();
      assert.equal(await within(ended.promise, 2000, "the peer to see the end"), WRITE_HIGH_WATER_BYTES);
      await delay(50);
      assert.deepEqual(seen.events, [`writable ${WRITE_HIGH_WATER_BYTES}`]);
      assert.throws(() => socket.write(new Uint8Array(1)), /after close/);
      assert.equal(socket.read(), undefined);
      socket.close(); // harmless twice
    });

    it("close() while connecting abandons the attempt without a callback", async function () {
      const { socket, seen } = open();
      socket.close();
      await delay(100);
      assert.deepEqual(seen.events, []);
    });

    it("pauses a peer that sends more than the reader takes, and resumes when it reads", async function () {
      const total = 2 * 1024 * 1024;
      onPeer = (peer) => peer.end(Buffer.alloc(total, 1));
      let reading = false;
      let received = 0;
      const { socket, seen } = open({
        onReadable: (count) => {
          seen.readable.push(count);
          if (reading) received += socket.read()?.length ?? 0;
        },
      });
      await until(() => seen.readable.length > 0, 2000, "onReadable");
      // Let the peer push as much as it can while nobody reads.
      let last = -1;
      await until(
        () => {
          const now = seen.readable.at(-1)!;
          const stable = now === last;
          last = now;
          return stable;
        },
        5000,
        "the queue to stop growing",
      );
      await delay(50);
      const peak = Math.max(...seen.readable);
      assert.ok(peak >= READ_HIGH_WATER_BYTES, `queued ${peak} bytes before pausing`);
      assert.ok(peak < READ_HIGH_WATER_BYTES + 64 * 1024, `queue bounded, got ${peak} bytes`);
      assert.ok(peak < total);
      reading = true;
      received += socket.read()?.length ?? 0;
      await until(() => received === total, 5000, `all ${total} bytes`);
      await until(() => seen.errors.length > 0, 2000, "the end");
      assert.deepEqual(seen.errors, ["peer closed the connection"]);
    });
  });

  describe("timers", function () {
    it("fires a timer after its delay, and not one that was cleared", async function () {
      const fired: string[] = [];
      const start = nodeTimers.now();
      nodeTimers.set(() => fired.push("kept"), 20);
      const cancelled = nodeTimers.set(() => fired.push("cleared"), 10);
      nodeTimers.clear(cancelled);
      nodeTimers.clear(cancelled); // harmless twice
      await until(() => fired.length > 0, 2000, "the timer");
      await delay(20);
      assert.deepEqual(fired, ["kept"]);
      assert.ok(nodeTimers.now() - start >= 19, "now() advances in milliseconds");
    });
  });

  describe("utf8 (the native codec)", function () {
    it("encodes as the portable encoder does, lone surrogates as U+FFFD", function () {
      for (const text of ["", "héllo", "\u{1F600}", "a\uD800b", "\uDC00", "x\uD83D"]) {
        assert.deepEqual(Array.from(nodeUtf8.encode(text)), Array.from(encodeUtf8(text)), JSON.stringify(text));
      }
    });

    it("decodes as the portable decoder does, keeping a leading U+FEFF", function () {
      for (const text of ["", "héllo", "\u{1F600}", "\uFEFFstart", "\u0000"]) {
        const bytes = encodeUtf8(text);
        assert.equal(nodeUtf8.decode(bytes), decodeUtf8(bytes), JSON.stringify(text));
      }
      assert.equal(nodeUtf8.decode(new Uint8Array([0x58, 0x41, 0x42, 0x59]).subarray(1, 3)), "AB");
    });

    it("is the host's codec", function () {
      assert.equal(createNodeHost({ logLevel: "silent" }).utf8, nodeUtf8);
    });
  });

  describe("random and sha1", function () {
    it("fills buffers with fresh random bytes", function () {
      const a = new Uint8Array(16);
      const b = new Uint8Array(16);
      nodeRandom(a);
      nodeRandom(b);
      assert.notDeepEqual(a, b);
      assert.ok(a.some((byte) => byte !== 0));
    });

    it("hands each random byte out once, from its pool or straight from the OS for a large draw", function () {
      const draws = Array.from({ length: 600 }, () => {
        const keys = new Uint8Array(64);
        nodeRandom(keys);
        return Buffer.from(keys).toString("hex");
      });
      // 600 draws of 64 bytes span several refills of the 8 KiB pool: never the same bytes twice.
      assert.equal(new Set(draws).size, draws.length);
      const large = new Uint8Array(NODE_RANDOM_POOL_BYTES);
      nodeRandom(large);
      assert.ok(large.some((byte) => byte !== 0));
    });

    it("computes SHA-1 (FIPS 180-4 example 'abc')", function () {
      const digest = nodeSha1(new TextEncoder().encode("abc"));
      assert.equal(digest.length, 20);
      assert.equal(Buffer.from(digest).toString("hex"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    });
  });

  describe("log", function () {
    it("writes one JSON line per event at or above the minimum level", function () {
      const lines: string[] = [];
      const log = createJsonLog({ write: (line: string) => lines.push(line) }, "info");
      log("debug", "hidden");
      log("info", "open", { url: "ws://127.0.0.1/", bytes: new Uint8Array(300), event: "clash" });
      log("error", "failed", { error: Object.assign(new Error("boom"), { code: "ERR_X" }) });
      assert.equal(lines.length, 2);
      assert.ok(lines.every((line) => line.endsWith("\n") && !line.slice(0, -1).includes("\n")));
      const open = JSON.parse(lines[0]!);
      assert.match(open.t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(open.level, "info");
      assert.equal(open.event, "open");
      assert.equal(open.url, "ws://127.0.0.1/");
      assert.equal(open.bytes, "<300 bytes>");
      assert.equal(open._event, "clash");
      const failed = JSON.parse(lines[1]!);
      assert.deepEqual(failed.error, { name: "Error", code: "ERR_X", message: "boom" });
    });

    it("is absent from a host created with logLevel 'silent'", function () {
      assert.equal(createNodeHost({ logLevel: "silent" }).log, undefined);
      const lines: string[] = [];
      const host = createNodeHost({ logLevel: "debug", logStream: { write: (line: string) => lines.push(line) } });
      host.log!("debug", "shown");
      assert.equal(lines.length, 1);
    });
  });
});
