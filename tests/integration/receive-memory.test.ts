/**
 * Memory while the client receives, end to end on both engines (issue 17): a server sends a
 * message as 1,500 one-byte fragments, each arriving in a 64 KiB read together with
 * unsolicited pongs. What the client holds must follow maxMessageBytes, not the bytes on the
 * wire (before the fix every fragment kept its whole read alive: ~94 MiB on Node, 64 MiB
 * more in XS).
 *
 * The client is the echo agent's (src/websocket/echo-agent.ts, ESP32 default limits), which
 * ignores pongs, so nothing but the receiver works per pong. Measured after a full garbage
 * collection: on Node, the bytes of ArrayBuffers alive in this process (the agent runs
 * here); in XS (a worker of its own), the bytes of chunk space XS has taken from the system
 * (meter.allocate, a high-water mark) and the live slots (meter.currentHeapCount).
 */
import assert from "node:assert/strict";
import { XsEngine } from "../../hosts/xs/engine.js";
import { createNodeHost } from "../../hosts/node/host.js";
import { DEFAULT_LIMITS } from "../../src/websocket/constants.js";
import { startEchoAgent } from "../../src/websocket/echo-agent.js";
import { ENGINES, useEngine } from "../support/engines.js";
import { formatBytes, liveArrayBufferBytes } from "../support/memory.js";
import { encodeFrame, RawServer, repeatTo, type RawPeer } from "../support/raw-server.js";

/** 125-byte pongs after a one-byte fragment: 3 + 516 * 127 = 65,535 bytes, one 64 KiB read. */
const PONGS_PER_READ = 516;
const PONG = encodeFrame({ opcode: 0xa, payload: repeatTo("pong", 125) });
const FRAGMENTS = 1500;

/** One write of 64 KiB: a one-byte fragment (`byte`), then pongs. */
function largeWrite(opcode: number, fin: boolean, byte: number): Buffer {
  const parts = [encodeFrame({ fin, opcode, payload: Uint8Array.of(byte) })];
  for (let i = 0; i < PONGS_PER_READ; i++) parts.push(PONG);
  return Buffer.concat(parts);
}

/** Waits until the client has parsed everything sent so far: it answers a ping in order. */
async function barrier(peer: RawPeer, what: string): Promise<void> {
  await peer.sendFrame({ opcode: 0x9, payload: what });
  const event = await peer.nextEvent(20_000);
  assert.deepEqual(event, { type: "pong", data: Buffer.from(what) }, `the client's answer to the ping "${what}"`);
}

for (const engine of ENGINES) describe(`memory while receiving a fragmented message (integration) [${engine}]`, function () {
  useEngine(engine);
  this.timeout(60_000);

  let server: RawServer;
  let xs: XsEngine | undefined;
  let stopAgent: (() => void) | undefined;
  beforeEach(async function () {
    server = await RawServer.listen();
    if (engine === "xs") xs = await XsEngine.start({ log: () => {} });
  });
  afterEach(async function () {
    stopAgent?.();
    stopAgent = undefined;
    await server.close();
    await xs?.close();
    xs?.check();
    xs = undefined;
  });

  /** The echo agent connected to the raw server, on this engine. */
  async function connectAgent(): Promise<RawPeer> {
    const url = server.url();
    if (xs) {
      await xs.startProgram("echo-agent", { url }, () => {});
    } else {
      const agent = startEchoAgent({ url, host: createNodeHost({ logLevel: "silent" }), onExit: () => {} });
      stopAgent = () => agent.client.terminate();
    }
    const peer = await server.nextConnection();
    await peer.acceptHandshake();
    return peer;
  }

  it("holds 1,500 one-byte fragments, each in a 64 KiB read full of pongs, in about maxMessageBytes", async function () {
    const peer = await connectAgent();
    await barrier(peer, "open");
    const before = xs ? await xs.heap() : undefined;
    const arrayBuffersBefore = xs ? 0 : liveArrayBufferBytes();

    for (let i = 0; i < FRAGMENTS; i++) await peer.sendRaw(largeWrite(i === 0 ? 0x2 : 0x0, false, i & 0xff));
    await barrier(peer, "all fragments in");
    const wire = `${formatBytes(FRAGMENTS * 65535)} on the wire`;
    // The message buffer (at most maxMessageBytes) and slack for the engine's allocator.
    const bound = DEFAULT_LIMITS.maxMessageBytes + 1024 * 1024;
    if (xs) {
      const after = await xs.heap();
      const grown = after.allocate - before!.allocate;
      assert.ok(grown <= bound, `XS took ${formatBytes(grown)} more from the system after ${FRAGMENTS} fragments (${wire})`);
      // One buffer, not one object per fragment.
      const slots = after.currentHeapCount - before!.currentHeapCount;
      assert.ok(slots <= 100, `${slots} more live slots in XS after ${FRAGMENTS} fragments`);
    } else {
      const grown = liveArrayBufferBytes() - arrayBuffersBefore;
      assert.ok(grown <= bound, `${formatBytes(grown)} more ArrayBuffers held after ${FRAGMENTS} fragments (${wire})`);
    }

    // The message is whole and right: the agent sends it back.
    await peer.sendRaw(largeWrite(0x0, true, FRAGMENTS & 0xff));
    const echo = await peer.nextEvent(20_000);
    assert.equal(echo.type, "binary");
    const data = (echo as { data: Buffer }).data;
    assert.equal(data.length, FRAGMENTS + 1);
    assert.ok(data.every((byte, i) => byte === (i & 0xff)), "the bytes in order");
  });
});
