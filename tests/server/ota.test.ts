/**
 * The companion server's side of firmware updates (server/ota.ts) with peers of its own
 * making: whom it offers the image to, that it sends one chunk per cue of the device (none
 * before the first), what it reports per device, a file cut short ending with an empty chunk,
 * the rate limit; and the terminal's `ota` on a real server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readChunk } from "../../src/ota/protocol.js";
import { start, type CompanionEvent } from "../../server/companion.js";
import type { UnstampedEvent } from "../../server/events.js";
import { OtaService, type OtaPeer } from "../../server/ota.js";
import { parseImage } from "../../server/ota-image.js";
import { imageBytes, testKey, truncate, writeImage } from "../support/ota.js";

type Ota = Extract<UnstampedEvent, { event: "ota" }>;

describe("firmware updates on the companion server (server/ota.ts)", function () {
  let folder: string;
  let events: UnstampedEvent[];
  let requests: Array<{ peer: number; body: Record<string, unknown> }>;
  let chunks: Array<{ peer: number; offset: number; bytes: number }>;
  let image: ReturnType<typeof parseImage>;

  before(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-server-ota-"));
    image = parseImage(imageBytes({ version: "0.2.0", key: testKey(folder), payload: new Uint8Array(25_000).fill(7) }));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));
  beforeEach(() => {
    events = [];
    requests = [];
    chunks = [];
  });

  const peer = (conn: number, capabilities: unknown = ["echo", "ota_offer"]): OtaPeer => ({ conn, device: `dev-${conn}`, capabilities, open: true, muted: false });
  const service = (rate?: number) =>
    new OtaService({
      emit: (event) => events.push(event),
      request: (p, body) => (requests.push({ peer: p.conn, body }), requests.length),
      sendBinary: (p, bytes) => {
        const chunk = readChunk(bytes)!;
        chunks.push({ peer: p.conn, offset: chunk.offset, bytes: chunk.data.length });
      },
      rate,
    });
  const ota = (state: string) => events.filter((e): e is Ota => e.event === "ota" && e.state === state);

  it("offers the image to devices that take updates and run another version, once each", function () {
    const s = service();
    s.setImage({ image, path: "b.img" }, []);
    s.hello(peer(1), { firmware: "0.1.0" });
    s.hello(peer(2), { firmware: "0.2.0" });
    s.hello(peer(3, ["echo"]), { firmware: "0.1.0" });
    s.hello({ ...peer(4), muted: true }, { firmware: "0.1.0" });
    s.hello(peer(1), { firmware: "0.1.0" });
    assert.deepEqual(requests.map((r) => r.peer), [1]);
    assert.deepEqual(requests[0]!.body, { type: "ota_offer", manifest: image.manifestText, signature: image.signature });
    assert.deepEqual(ota("offered").map((e) => [e.conn, e.version, e.size]), [[1, "0.2.0", 25_000]]);
  });

  it("sends a chunk per cue of the device, none before the first, from the offset it names; reports tenths and the end", function () {
    const s = service();
    s.setImage({ image, path: "b.img" }, []);
    const p = peer(1);
    s.hello(p, { firmware: "0.1.0" });
    assert.equal(s.reply(p, { id: 1, result: { accepted: true, offset: 5000, chunkBytes: 4000, size: 25_000 } }), true);
    assert.deepEqual(ota("accepted").map((e) => e.offset), [5000]);
    assert.equal(chunks.length, 0, "nothing before the device asks");
    for (let offset = 5000; offset < 25_000; offset += 4000) s.message(p, { type: "ota", state: "downloading", offset });
    assert.deepEqual(chunks.map((c) => [c.offset, c.bytes]), [[5000, 4000], [9000, 4000], [13_000, 4000], [17_000, 4000], [21_000, 4000]]);
    assert.deepEqual(ota("progress").map((e) => e.percent), [36, 52, 68, 84], "each tenth passed, once");
    s.message(p, { type: "ota", state: "installed", version: "0.2.0" });
    assert.equal(ota("installed").length, 1);
    assert.equal(s.reply(p, { id: 99, result: {} }), false, "not an answer to an offer");
  });

  it("reports refusals (in the reply or after the transfer), pauses on a close, and the outcome a later hello tells", function () {
    const s = service();
    s.setImage({ image, path: "b.img" }, []);
    s.hello(peer(1), { firmware: "0.1.0" });
    s.reply(peer(1), { id: 1, error: { code: "downgrade", message: "older" } });
    s.hello(peer(2), { firmware: "0.1.0" });
    s.reply(peer(2), { id: 2, result: { accepted: true, offset: 0, chunkBytes: 4000 } });
    s.message(peer(2), { type: "ota", state: "downloading", offset: 0 });
    s.message(peer(2), { type: "ota", state: "failed", code: "wrong_hash", message: "not the manifest's" });
    s.hello(peer(3), { firmware: "0.1.0" });
    s.reply(peer(3), { id: 3, result: { accepted: true, offset: 0, chunkBytes: 4000 } });
    s.message(peer(3), { type: "ota", state: "downloading", offset: 8000 });
    s.closed(peer(3));
    assert.deepEqual(ota("refused").map((e) => [e.conn, e.code]), [[1, "downgrade"], [2, "wrong_hash"]]);
    assert.deepEqual(ota("paused").map((e) => [e.conn, e.offset]), [[3, 8000]]);
    s.hello(peer(4), { firmware: "0.1.0", ota: { state: "rolled_back", version: "0.2.0", reason: "panic", detail: "boom" } });
    s.hello(peer(5), { firmware: "0.2.0", ota: { state: "updated", version: "0.2.0", from: "0.1.0" } });
    assert.deepEqual(ota("rolled_back").map((e) => [e.conn, e.reason, e.detail]), [[4, "panic", "boom"]]);
    assert.deepEqual(ota("updated").map((e) => [e.conn, e.from]), [[5, "0.1.0"]]);
  });

  it("ends a file cut short with an empty chunk where its bytes end", function () {
    const s = service();
    const short = parseImage(truncate(imageBytes({ version: "0.2.0", key: testKey(folder), payload: new Uint8Array(10_000) }), 0.5));
    assert.deepEqual(short.problems, ["truncated: 5000 of the manifest's 10000 bytes"]);
    s.setImage({ image: short, path: "short.img" }, []);
    s.hello(peer(1), { firmware: "0.1.0" });
    s.reply(peer(1), { id: 1, result: { accepted: true, offset: 0, chunkBytes: 4000 } });
    for (const offset of [0, 4000, 5000]) s.message(peer(1), { type: "ota", state: "downloading", offset });
    assert.deepEqual(chunks.map((c) => [c.offset, c.bytes]), [[0, 4000], [4000, 1000], [5000, 0]]);
  });

  it("keeps to --ota-rate: the next chunk waits for its share of the second", async function () {
    const s = service(40_000);
    s.setImage({ image, path: "b.img" }, []);
    s.hello(peer(1), { firmware: "0.1.0" });
    s.reply(peer(1), { id: 1, result: { accepted: true, offset: 0, chunkBytes: 4000 } });
    s.message(peer(1), { type: "ota", state: "downloading", offset: 0 });
    s.message(peer(1), { type: "ota", state: "downloading", offset: 4000 });
    assert.equal(chunks.length, 1, "4000 bytes at 40,000 bytes/s: the next in 100 ms");
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(chunks.length, 2);
    s.close();
  });

  it("at the prompt: ota FILE offers, a file that is none is a command error, ota lists, ota off stops", async function () {
    const server = await start({ port: 0 });
    try {
      const path = writeImage(folder, "b.img", imageBytes({ version: "0.2.0", key: testKey(folder) }));
      server.execute(`ota ${join(folder, "missing.img")}`);
      server.execute(`ota ${join(folder, "keys", "ota-signing-key.pem")}`);
      server.execute("ota");
      server.execute(`ota ${path}`);
      server.execute("ota");
      server.execute("ota off");
      const errors = server.history.filter((e): e is Extract<CompanionEvent, { event: "command_error" }> => e.event === "command_error").map((e) => e.message);
      assert.match(errors[0]!, /missing\.img: no such file/);
      assert.match(errors[1]!, /not a moorline image file/);
      const status = server.history.filter((e): e is Extract<CompanionEvent, { event: "ota_status" }> => e.event === "ota_status");
      assert.deepEqual(status.map((e) => e.image?.version ?? null), [null, "0.2.0", null]);
    } finally {
      await server.close();
    }
  });
});
