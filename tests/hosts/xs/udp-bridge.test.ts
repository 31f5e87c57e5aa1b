/**
 * The Node side of the XS host's UDP sockets, lookups and wall clock (hosts/xs/udp-bridge.ts),
 * driven with the bridge's own wire format but without a worker: what it delivers for a
 * datagram, that a flood waits for XS at most MAX_PENDING_DATAGRAMS deep, and the clock
 * commands. The whole path through XS is tested by tests/integration/ntp.test.ts [xs].
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";

import { NodeWallClock } from "../../../hosts/node/wall-clock.js";
import { MAX_PENDING_DATAGRAMS, UdpBridge } from "../../../hosts/xs/udp-bridge.js";
import { ANSWER_OK, Command, Delivery, Post, Reader, Writer } from "../../../hosts/xs/xs-side/protocol.js";
import { delay, until } from "../../support/wait.js";

interface Queued {
  kind: number;
  write: (writer: Writer) => void | false;
}

function body(fill: (writer: Writer) => void): Reader {
  const writer = new Writer(64);
  fill(writer);
  return new Reader(new Uint8Array(writer.take()));
}

describe("the XS host's UDP bridge, Node side (hosts/xs/udp-bridge.ts)", function () {
  it("opens a socket for XS, delivers each datagram with its sender, and holds at most MAX_PENDING_DATAGRAMS for XS", async function () {
    const queued: Queued[] = [];
    const bridge = new UdpBridge((kind, write) => queued.push({ kind, write }), new NodeWallClock());
    const peer = createSocket("udp4");
    try {
      const answer = bridge.command(Command.UDP_OPEN, body((w) => { w.u32(7); w.u16(0); w.bytes(Buffer.from("127.0.0.1")); }));
      assert.deepEqual([...answer!], [ANSWER_OK]);
      await new Promise<void>((resolve) => peer.bind(0, "127.0.0.1", () => resolve()));
      // XS sends a datagram to the peer: the peer learns the socket's port.
      const first = new Promise<number>((resolve) => peer.once("message", (_m, from) => resolve(from.port)));
      bridge.post(Post.UDP_SEND, body((w) => { w.u32(7); w.u16(peer.address().port); w.prefixed(Buffer.from("127.0.0.1")); w.bytes(Uint8Array.of(1)); }));
      const port = await first;
      for (let i = 0; i < 3 * MAX_PENDING_DATAGRAMS; i++) peer.send(Buffer.from(`d${i}`), port, "127.0.0.1");
      await until(() => queued.length >= MAX_PENDING_DATAGRAMS, 5000, "deliveries");
      await delay(200);
      assert.equal(queued.length, MAX_PENDING_DATAGRAMS, "a flood waits at most this deep; the rest is dropped");
      // The first delivery, as XS reads it.
      const writer = new Writer(64);
      assert.notEqual(queued[0]!.write(writer), false);
      const reader = new Reader(new Uint8Array(writer.take()));
      assert.equal(queued[0]!.kind, Delivery.UDP_MESSAGE);
      assert.equal(reader.u32(), 7);
      assert.equal(reader.u16(), peer.address().port);
      assert.equal(Buffer.from(reader.prefixed()).toString(), "127.0.0.1");
      assert.equal(Buffer.from(reader.rest()).toString(), "d0");
      // Delivered ones make room again.
      for (const entry of queued.splice(0)) entry.write(new Writer(64));
      peer.send(Buffer.from("after"), port, "127.0.0.1");
      await until(() => queued.length === 1, 5000, "the next datagram");
      // Once XS closed the socket, what was queued is skipped.
      bridge.post(Post.UDP_CLOSE, body((w) => w.u32(7)));
      assert.equal(queued[0]!.write(new Writer(64)), false);
    } finally {
      peer.close();
      bridge.close();
    }
  });

  it("answers CLOCK_GET with the device's clock and whether the system keeps it, and sets it on CLOCK_SET", function () {
    const clock = new NodeWallClock({ unset: true });
    const bridge = new UdpBridge(() => {}, clock);
    const read = () => {
      const reader = new Reader(bridge.command(Command.CLOCK_GET, body(() => {}))!);
      assert.equal(reader.u8(), ANSWER_OK);
      return { now: reader.f64(), systemSynced: reader.u8() };
    };
    const before = read();
    assert.ok(before.now < 10_000);
    assert.equal(before.systemSynced, 0);
    bridge.post(Post.CLOCK_SET, body((w) => w.f64(Date.UTC(2030, 0, 1))));
    assert.ok(Math.abs(read().now - Date.UTC(2030, 0, 1)) < 1000);
  });

  it("rethrows NodeUdpSocket's refusal of a bad address, for XS to throw from its constructor", function () {
    const bridge = new UdpBridge(() => {}, new NodeWallClock());
    assert.throws(() => bridge.command(Command.UDP_OPEN, body((w) => { w.u32(1); w.u16(0); w.bytes(Buffer.from("example.com")); })), { name: "TypeError" });
    assert.equal(bridge.command(999, body(() => {})), undefined, "not one of its kinds");
    bridge.close();
  });
});
