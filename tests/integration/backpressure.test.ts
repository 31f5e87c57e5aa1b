/**
 * Flow control end to end, on both engines (issue 17): a server that floods the device with
 * requests while it reads nothing gets every reply all the same. Before the fix the device
 * read everything, answered into its 16 KiB send buffer, and refused (counted as dropped,
 * but lost) every reply that did not fit: about 14,000 of 50,000. Now the client stops
 * reading while its send queue is over limits.readPauseBytes (src/device/device.ts sets it so
 * a whole reply always fits), TCP's window closes on the server, and nothing is lost.
 */
import assert from "node:assert/strict";
import { startDeviceOn, type EngineDevice } from "../support/on-engine.js";
import { ENGINES, useEngine } from "../support/engines.js";
import { RawServer, type RawPeer } from "../support/raw-server.js";
import { delay, within } from "../support/wait.js";

const REQUESTS = 50_000;
/** How long the server reads nothing, ms: long enough for the device to answer all it can. */
const STALL_MS = 4_000;

/** The ids of the replies the server has read so far (each counted once), and any duplicate. */
function replies(peer: RawPeer, seen: Set<number>, from: number): { next: number; duplicates: number[] } {
  const duplicates: number[] = [];
  let at = from;
  for (; at < peer.frames.length; at++) {
    const frame = peer.frames[at]!;
    if (frame.opcode !== 1) continue;
    const message = JSON.parse(frame.payload.toString("utf8")) as { type: string; id?: number };
    if (message.type !== "reply") continue;
    if (seen.has(message.id!)) duplicates.push(message.id!);
    seen.add(message.id!);
  }
  return { next: at, duplicates };
}

for (const engine of ENGINES) describe(`flow control: a server that floods and reads nothing (integration) [${engine}]`, function () {
  useEngine(engine);
  this.timeout(120_000);

  let server: RawServer;
  let device: EngineDevice | undefined;
  beforeEach(async function () {
    server = await RawServer.listen();
  });
  afterEach(async function () {
    await device?.stop().catch(() => undefined);
    device = undefined;
    await server.close();
  });

  it(`answers all of ${REQUESTS.toLocaleString("en")} requests sent while the server reads nothing for ${STALL_MS / 1000} s`, async function () {
    device = await startDeviceOn(engine, { url: server.url(), config: { telemetryIntervalMs: 60_000 } });
    const peer = await server.nextConnection(10_000);
    await peer.acceptHandshake();
    const hello = await peer.nextEvent(10_000);
    assert.equal(hello.type, "text");

    const heapBefore = device.xsEngine ? await device.xsEngine.heap() : undefined;
    peer.socket.pause(); // the server reads nothing: the device's writes back up
    const flood = Buffer.concat(
      Array.from({ length: REQUESTS }, (_, id) => encodeText(JSON.stringify({ type: "ping", id }))),
    );
    const sent = peer.sendRaw(flood); // resolves once TCP has taken it all
    await delay(STALL_MS);
    const heapDuringStall = device.xsEngine ? await device.xsEngine.heap() : undefined;
    peer.socket.resume();
    await within(sent, 60_000, "the server's 50,000 requests to be taken by TCP");

    const seen = new Set<number>();
    let cursor = 0;
    const duplicates: number[] = [];
    // Until every reply is in, or none has come for 5 s (a lost reply never will).
    let lastProgress = Date.now();
    while (seen.size < REQUESTS && Date.now() - lastProgress < 5_000) {
      const before = seen.size;
      const result = replies(peer, seen, cursor);
      cursor = result.next;
      duplicates.push(...result.duplicates);
      if (seen.size > before) lastProgress = Date.now();
      await delay(50);
    }
    const status = await device.status();
    const missing = REQUESTS - seen.size;
    assert.equal(missing, 0, `${missing} requests never answered; app counters ${JSON.stringify(status.app.counters)}`);
    assert.deepEqual(duplicates, [], "no request answered twice");
    assert.equal(status.app.counters.repliesDropped, 0, "no reply refused for want of send buffer");
    assert.equal(status.supervisor.state, "open", "the connection stayed up");
    if (heapBefore && heapDuringStall) {
      // Bounded while stalled: the unread requests wait in TCP and in Node's bounded socket
      // queue, not in XS (which holds at most one 64 KiB chunk and the 16 KiB send queue).
      const grown = heapDuringStall.allocate - heapBefore.allocate;
      assert.ok(grown <= 1024 * 1024, `XS took ${grown} more bytes from the system during the stall`);
      const slots = heapDuringStall.currentHeapCount - heapBefore.currentHeapCount;
      assert.ok(slots <= 5000, `${slots} more live slots in XS during the stall`);
    }
  });
});

/** A server's unmasked text frame (RFC 6455 section 5.2). */
function encodeText(text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const head = payload.length < 126 ? Buffer.of(0x81, payload.length) : Buffer.of(0x81, 126, payload.length >> 8, payload.length & 0xff);
  return Buffer.concat([head, payload]);
}
