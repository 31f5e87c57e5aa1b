/**
 * The Node host's UDP sockets, resolver and wall clock (hosts/node/udp.ts, wall-clock.ts),
 * against real sockets on 127.0.0.1: datagrams both ways with their sender, a port in use,
 * sends refused after close or to a name, lookups that succeed and fail, and a clock that
 * starts at 1970 when asked to.
 */
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";

import { nodeResolve, NodeUdpSocket, NodeWallClock } from "../../../hosts/node/host.js";
import { deferred, within } from "../../support/wait.js";

async function peer(): Promise<{ socket: Socket; port: number; received: Promise<{ bytes: Buffer; port: number }> }> {
  const socket = createSocket("udp4");
  const received = deferred<{ bytes: Buffer; port: number }>();
  socket.on("message", (bytes: Buffer, from) => received.resolve({ bytes, port: from.port }));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return { socket, port: socket.address().port, received: received.promise };
}

describe("Node host: UDP, name resolution and the wall clock (hosts/node/udp.ts, wall-clock.ts)", function () {
  const opened: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const socket of opened.splice(0)) socket.close();
  });

  it("sends a datagram and receives the answer with its sender's address and port", async function () {
    const server = await peer();
    opened.push(server.socket);
    const answer = deferred<{ bytes: Uint8Array; address: string; port: number }>();
    const socket = new NodeUdpSocket({ onMessage: (bytes, address, port) => answer.resolve({ bytes, address, port }) });
    opened.push(socket);
    socket.send("127.0.0.1", server.port, Uint8Array.of(1, 2, 3));
    const request = await within(server.received, 2000, "the datagram");
    assert.deepEqual([...request.bytes], [1, 2, 3]);
    server.socket.send(Buffer.from("pong"), request.port, "127.0.0.1");
    const got = await within(answer.promise, 2000, "the answer");
    assert.equal(Buffer.from(got.bytes).toString(), "pong");
    assert.ok(got.bytes instanceof Uint8Array && !Buffer.isBuffer(got.bytes), "a plain Uint8Array");
    assert.equal(got.address, "127.0.0.1");
    assert.equal(got.port, server.port);
  });

  it("binds the port it is given, and reports a port in use through onError, once", async function () {
    const taken = await peer();
    opened.push(taken.socket);
    const errors: string[] = [];
    const failed = deferred<void>();
    const socket = new NodeUdpSocket({
      port: taken.port,
      address: "127.0.0.1",
      onError: (message) => {
        errors.push(message ?? "");
        failed.resolve();
      },
    });
    opened.push(socket);
    await within(failed.promise, 2000, "onError");
    assert.deepEqual(errors, [`port ${taken.port} is in use`]);
    assert.throws(() => socket.send("127.0.0.1", taken.port, Uint8Array.of(1)), /failed/);
  });

  it("refuses a name where an address is due, a bad port, and a send after close()", function () {
    const socket = new NodeUdpSocket({});
    opened.push(socket);
    assert.throws(() => socket.send("localhost", 123, Uint8Array.of(1)), { name: "TypeError", message: /IP address literal \(resolve names first\)/ });
    assert.throws(() => socket.send("127.0.0.1", 0, Uint8Array.of(1)), { name: "RangeError" });
    socket.close();
    assert.throws(() => socket.send("127.0.0.1", 123, Uint8Array.of(1)), /send after close/);
    assert.throws(() => new NodeUdpSocket({ port: 70000 }), { name: "RangeError" });
    assert.throws(() => new NodeUdpSocket({ address: "example.com" }), { name: "TypeError" });
  });

  it("resolves names and literals later (never inside the call), and says why a name cannot be", async function () {
    const calls: string[] = [];
    const localhost = deferred<string | undefined>();
    nodeResolve("localhost", (address) => {
      calls.push("localhost");
      localhost.resolve(address);
    });
    const literal = deferred<string | undefined>();
    nodeResolve("127.0.0.1", (address) => literal.resolve(address));
    assert.deepEqual(calls, [], "not from inside resolve()");
    assert.equal(await within(localhost.promise, 5000, "localhost"), "127.0.0.1");
    assert.equal(await within(literal.promise, 5000, "the literal"), "127.0.0.1");
    const missing = deferred<[string | undefined, string | undefined]>();
    nodeResolve("no-such-host.invalid", (address, error) => missing.resolve([address, error]));
    assert.deepEqual(await within(missing.promise, 10_000, "a failed lookup"), [undefined, "cannot resolve the host name"]);
  });

  describe("NodeWallClock", function () {
    it("reads the OS clock and is trusted by default (source system)", function () {
      const clock = new NodeWallClock();
      assert.ok(Math.abs(clock.now() - Date.now()) <= 1);
      assert.equal(clock.systemSynced, true);
    });

    it("starts at 1970-01-01 with unset, as a chip's clock, untrusted; set() moves it, not the OS clock", function () {
      const clock = new NodeWallClock({ unset: true });
      assert.ok(clock.now() < 1000, String(clock.now()));
      assert.equal(clock.systemSynced, false);
      const target = Date.UTC(2030, 0, 1);
      clock.set(target);
      assert.ok(Math.abs(clock.now() - target) <= 1);
      assert.throws(() => clock.set(Number.NaN), { name: "RangeError" });
    });

    it("waits for NTP without starting at 1970 when only systemSynced is false (--ntp alone)", function () {
      const clock = new NodeWallClock({ systemSynced: false });
      assert.ok(Math.abs(clock.now() - Date.now()) <= 1);
      assert.equal(clock.systemSynced, false);
    });
  });
});
