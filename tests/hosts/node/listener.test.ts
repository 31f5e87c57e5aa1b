/**
 * The Node host's TCP listener (hosts/node/listener.ts): connections wait, paused, until
 * accept(); an accepted one is a TcpSocket with the host's contract; the queue is bounded; a
 * port in use is reported through onError.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import type { TcpSocket } from "../../../src/shared/host.js";
import { MAX_PENDING_CONNECTIONS, NodeTcpListener } from "../../../hosts/node/listener.js";
import { closedPort, delay, listenLoopback, until } from "../../support/wait.js";

function client(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.on("error", reject);
  });
}

describe("NodeTcpListener", function () {
  this.timeout(10_000);
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const step of cleanup.splice(0)) step();
  });

  it("tells of waiting connections; accept() gives each as a TcpSocket that reads and writes", async () => {
    const port = await closedPort();
    const counts: number[] = [];
    const listener = new NodeTcpListener({ port, address: "127.0.0.1", onReadable: (count) => counts.push(count) });
    cleanup.push(() => listener.close());
    assert.equal(listener.port, port);
    await delay(50);
    const peer = await client(port);
    cleanup.push(() => peer.destroy());
    await until(() => counts.length === 1, 2000, "onReadable");
    assert.deepEqual(counts, [1]);
    const received: Uint8Array[] = [];
    let space = 0;
    let socket: TcpSocket | undefined;
    socket = listener.accept({
      onReadable: () => received.push(socket!.read()!),
      onWritable: (count) => {
        space = count;
      },
    });
    assert.ok(socket !== undefined);
    assert.equal(listener.accept({}), undefined, "nobody else waits");
    await until(() => space > 0, 2000, "the first onWritable");
    socket.write(new TextEncoder().encode("hello"));
    const echoed = await new Promise<string>((resolve) => peer.once("data", (data: Buffer) => resolve(data.toString())));
    assert.equal(echoed, "hello");
    peer.write("back");
    await until(() => received.length > 0, 2000, "bytes from the peer");
    assert.equal(Buffer.from(received[0]!).toString(), "back");
    socket.close();
  });

  it("keeps at most MAX_PENDING_CONNECTIONS waiting, closing the rest", async () => {
    const port = await closedPort();
    const listener = new NodeTcpListener({ port, address: "127.0.0.1" });
    cleanup.push(() => listener.close());
    await delay(50);
    const peers = await Promise.all(Array.from({ length: MAX_PENDING_CONNECTIONS + 3 }, () => client(port)));
    cleanup.push(() => peers.forEach((p) => p.destroy()));
    const ended = peers.map((peer) => new Promise<boolean>((resolve) => {
      peer.on("close", () => resolve(true));
      setTimeout(() => resolve(false), 500);
    }));
    const closed = (await Promise.all(ended)).filter(Boolean).length;
    assert.equal(closed, 3);
    let accepted = 0;
    while (listener.accept({}) !== undefined) accepted++;
    assert.equal(accepted, MAX_PENDING_CONNECTIONS);
  });

  it("a connection that went away while it waited reports its end once accepted", async () => {
    const port = await closedPort();
    const listener = new NodeTcpListener({ port, address: "127.0.0.1" });
    cleanup.push(() => listener.close());
    await delay(50);
    const peer = await client(port);
    peer.destroy();
    await delay(100);
    const errors: string[] = [];
    const socket = listener.accept({ onError: (message) => errors.push(message ?? "") });
    assert.ok(socket !== undefined);
    await until(() => errors.length === 1, 2000, "onError");
    assert.equal(errors[0], "peer closed the connection");
  });

  it("reports a port in use through onError, naming it", async () => {
    const holder = createServer();
    const port = await listenLoopback(holder);
    cleanup.push(() => holder.close());
    const errors: string[] = [];
    const listener = new NodeTcpListener({ port, address: "127.0.0.1", onError: (message) => errors.push(message ?? "") });
    cleanup.push(() => listener.close());
    await until(() => errors.length === 1, 2000, "onError");
    assert.match(errors[0]!, new RegExp(`cannot listen on 127\\.0\\.0\\.1 port ${port}: the port is in use \\(EADDRINUSE\\)`));
  });

  it("refuses a bad port or address at once", () => {
    assert.throws(() => new NodeTcpListener({ port: 70000 }), /listener port must be an integer 0\.\.65535/);
    assert.throws(() => new NodeTcpListener({ port: 80, address: "localhost" }), /IP address literal/);
  });
});
