/**
 * src/ota/updater.ts on a virtual clock, with a store in RAM and real P-256 signatures: what
 * an offer is refused for (each code), how the image flows (one chunk at a time, each answered
 * with the next offset), what a bad image is refused for after it flowed, checkpoints and
 * resuming (within a boot, and after a reboot with the bytes hashed again), and the new
 * image's trial (confirmed, given up at its deadline, failed self-check, reported after a
 * rollback).
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSigningKey, verifyP256, type SigningKey } from "../../hosts/node/firmware-keys.js";
import { RequestError } from "../../src/shared/errors.js";
import type { LogLevel } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { encodeChunk, OtaRefusal } from "../../src/ota/protocol.js";
import { OTA_STORAGE_DOMAIN } from "../../src/ota/records.js";
import { REHASH_SLICE_BYTES } from "../../src/ota/transfer.js";
import { OTA_STALL_MS, Updater, type UpdaterOptions } from "../../src/ota/updater.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { RamFirmwareStore, signedManifest } from "../support/ota.js";

const CHUNK = 1000;

interface Image {
  manifest: string;
  signature: string;
  payload: Uint8Array;
}

describe("the updater (src/ota/updater.ts)", function () {
  let folder: string;
  let key: SigningKey;
  let other: SigningKey;
  let clock: VirtualClock;
  let storage: MemoryStorage;
  let store: RamFirmwareStore;
  let sent: Array<Record<string, unknown>>;
  let logs: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }>;
  let restarts: Array<{ reason: string; before: (() => void) | undefined }>;
  let idle: number;

  before(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-updater-"));
    key = ensureSigningKey(join(folder, "keys"));
    other = ensureSigningKey(join(folder, "other"));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));
  beforeEach(() => {
    clock = new VirtualClock();
    storage = new MemoryStorage();
    store = new RamFirmwareStore();
    sent = [];
    logs = [];
    restarts = [];
    idle = 0;
  });

  function updater(options: Partial<UpdaterOptions> = {}): Updater {
    return new Updater({
      firmware: { store, verify: verifyP256 },
      storage,
      timers: clock,
      log: (level, event, fields = {}) => logs.push({ level, event, fields }),
      version: "0.1.0",
      publicKey: key.raw,
      allowDowngrade: false,
      confirmMs: 10_000,
      chunkBytes: CHUNK,
      checkpointBytes: 4096,
      send: (text) => (sent.push(JSON.parse(text) as Record<string, unknown>), true),
      restart: (reason, before) => (restarts.push({ reason, before }), true),
      onIdle: () => idle++,
      ...options,
    });
  }

  function image(fields: Record<string, unknown> = {}, signer: SigningKey = key, payload = randomFillSync(new Uint8Array(10_500))): Image {
    return { ...signedManifest(payload, signer, fields), payload };
  }

  /** The offer's reply: its result, or the RequestError's code. */
  async function offer(u: Updater, img: Image): Promise<Record<string, unknown> | string> {
    const handler = u.handler;
    try {
      const params = handler.parse!({ type: "ota_offer", id: 1, manifest: img.manifest, signature: img.signature });
      return await handler.handle(params, { id: 1, type: "ota_offer", now: () => clock.now() });
    } catch (error) {
      if (error instanceof RequestError) return error.code;
      throw error;
    }
  }

  /** Sends chunks as the device asks for them, until it stops asking or `until` bytes. */
  function flow(u: Updater, img: Image, from: number, until = img.payload.length): void {
    let offset = from;
    while (offset < until) {
      const data = img.payload.subarray(offset, Math.min(offset + CHUNK, until));
      assert.equal(u.receiveBinary(encodeChunk(offset, data)), true);
      const last = sent.at(-1)!;
      if (last.state !== "downloading") return;
      // A chunk that moved nothing on (the updater is not taking chunks): fail, not loop.
      assert.ok((last.offset as number) > offset, `the chunk at ${offset} was not taken`);
      offset = last.offset as number;
    }
  }

  const record = (key: string) => {
    const text = storage.get(OTA_STORAGE_DOMAIN, key);
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  };

  it("takes a signed newer image chunk by chunk, checks it, makes it the one to boot and restarts", async function () {
    const u = updater();
    const img = image();
    assert.deepEqual(await offer(u, img), { accepted: true, offset: 0, chunkBytes: CHUNK, size: img.payload.length });
    assert.equal(u.busy, true);
    assert.equal(sent.length, 0, "the reply goes first");
    clock.advance(0);
    assert.deepEqual(sent, [{ type: "ota", state: "downloading", version: "0.2.0", offset: 0, size: img.payload.length }], "then the cue for the first chunk");
    flow(u, img, 0);
    assert.deepEqual(store.slot.subarray(0, img.payload.length), img.payload);
    assert.deepEqual(store.activated, { version: "0.2.0", size: img.payload.length, sha256: createHash("sha256").update(img.payload).digest("hex") });
    assert.deepEqual(sent.at(-1), { type: "ota", state: "installed", version: "0.2.0", size: img.payload.length });
    assert.deepEqual(restarts.map((r) => r.reason), ["ota_update"]);
    assert.deepEqual(record("trial"), { version: "0.2.0", sha256: JSON.parse(img.manifest).sha256, from: "0.1.0" });
    assert.equal(record("transfer"), undefined, "the transfer record is gone");
    // Each chunk was answered with the next offset: one in flight.
    const offsets = sent.filter((m) => m.state === "downloading").map((m) => m.offset);
    assert.deepEqual(offsets, Array.from({ length: 11 }, (_, i) => i * CHUNK));
  });

  it("refuses offers before a byte flows, each with its own code", async function () {
    const cases: Array<[string, Partial<UpdaterOptions>, Image, string]> = [
      ["another key", {}, image({}, other), OtaRefusal.BAD_SIGNATURE],
      ["a changed manifest", {}, { ...image(), manifest: image().manifest.replace('"0.2.0"', '"0.3.0"') }, OtaRefusal.BAD_SIGNATURE],
      ["no key built in", { publicKey: undefined }, image(), OtaRefusal.NO_KEY],
      ["a manifest of another format", {}, image({ format: "moorline-image/9" }), OtaRefusal.BAD_MANIFEST],
      ["another target", {}, image({ target: "esp32" }), OtaRefusal.WRONG_TARGET],
      ["the same version", {}, image({ version: "0.1.0" }), OtaRefusal.SAME_VERSION],
      ["an older version", {}, image({ version: "0.0.9" }), OtaRefusal.DOWNGRADE],
      ["a larger image than the slot", {}, image({}, key, new Uint8Array(70 * 1024)), OtaRefusal.TOO_LARGE],
      ["the application's policy", { policy: () => "low_battery" }, image(), "low_battery"],
      ["a policy that returns no code", { policy: () => "Battery: 3%" }, image(), "declined"],
    ];
    for (const [what, options, img, code] of cases) {
      const u = updater(options);
      assert.equal(await offer(u, img), code, what);
      assert.ok(logs.some((l) => l.event === "ota_refused" && l.fields.code === code), `${what}: logged`);
      assert.equal(store.calls.filter((c) => c.startsWith("open")).length, 0, `${what}: nothing written`);
    }
    const refused = logs.find((l) => l.fields.code === OtaRefusal.BAD_SIGNATURE)!;
    assert.equal(refused.fields.key, other.id, "the other key is named");
    assert.equal(refused.fields.expected, key.id);
  });

  it("takes an older image when the build allows downgrades; answers a malformed offer with bad_request", async function () {
    assert.deepEqual(await offer(updater({ allowDowngrade: true }), image({ version: "0.0.9" })), { accepted: true, offset: 0, chunkBytes: CHUNK, size: 10_500 });
    const u = updater();
    for (const signature of ["", "not base64", Buffer.alloc(63).toString("base64")]) {
      assert.equal(await offer(u, { ...image(), signature }), "bad_request");
    }
    assert.equal(await offer(u, { ...image(), manifest: "" }), "bad_request");
  });

  it("refuses an image whose bytes do not hash to the manifest's, after the last chunk; nothing is activated", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    const flipped = { ...img, payload: img.payload.slice() };
    flipped.payload[5000] ^= 1;
    flow(u, flipped, 0);
    assert.equal(store.activated, undefined);
    assert.deepEqual(restarts, []);
    assert.equal(sent.at(-1)!.state, "failed");
    assert.equal(sent.at(-1)!.code, OtaRefusal.WRONG_HASH);
    assert.ok(store.calls.includes("cancel"));
    assert.equal(u.busy, false);
    assert.equal(idle, 1, "what waited for the transfer may go on");
  });

  it("refuses an image that ends early (a chunk without bytes), runs past its size, or comes in chunks larger than asked", async function () {
    const img = image();
    const cases: Array<[string, (u: Updater) => void, string]> = [
      ["the end at 3000", (u) => u.receiveBinary(encodeChunk(3000, new Uint8Array(0))), OtaRefusal.TRUNCATED],
      ["a chunk past the size", (u) => u.receiveBinary(encodeChunk(3000, new Uint8Array(CHUNK))), OtaRefusal.TOO_LARGE],
      ["a chunk of 1001 bytes", (u) => u.receiveBinary(encodeChunk(3000, new Uint8Array(CHUNK + 1))), OtaRefusal.TOO_LARGE],
    ];
    for (const [what, act, code] of cases) {
      sent = [];
      const u = updater();
      await offer(u, what === "a chunk past the size" ? image({ size: 3500, sha256: "b".repeat(64) }) : img);
      flow(u, img, 0, 3000);
      act(u);
      assert.equal(sent.at(-1)!.code, code, what);
      assert.equal(store.activated, undefined, what);
    }
  });

  it("answers a chunk at another offset with where it is, and leaves other binary messages to the echo", async function () {
    const u = updater();
    const img = image();
    assert.equal(u.receiveBinary(Uint8Array.of(1, 2, 3)), false, "not a chunk: echoed");
    assert.equal(u.receiveBinary(encodeChunk(0, img.payload.subarray(0, 10))), true, "a chunk with no transfer: dropped, logged");
    await offer(u, img);
    flow(u, img, 0, 2000);
    assert.equal(u.receiveBinary(encodeChunk(5000, img.payload.subarray(5000, 6000))), true);
    assert.deepEqual(sent.at(-1), { type: "ota", state: "downloading", version: "0.2.0", offset: 2000, size: 10_500 });
    assert.ok(logs.some((l) => l.event === "ota_chunk_out_of_order" && l.fields.expected === 2000));
    flow(u, img, 2000);
    assert.ok(store.activated, "the rest flowed as usual");
  });

  it("checkpoints every checkpointBytes and when the link drops, at a block boundary; resumes in the same boot at the exact offset", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    assert.deepEqual(record("transfer"), { version: "0.2.0", size: 10_500, sha256: JSON.parse(img.manifest).sha256, offset: 0 });
    flow(u, img, 0, 5000);
    assert.equal(record("transfer")!.offset, 4096, "past 4 KiB: a checkpoint at the block boundary");
    u.disconnected();
    assert.equal(u.busy, false);
    assert.equal(idle, 1);
    assert.deepEqual(u.hello(), { ota: { state: "paused", version: "0.2.0", offset: 5000, size: 10_500 } });
    assert.equal(record("transfer")!.offset, 4096);
    u.connected();
    assert.deepEqual(await offer(u, img), { accepted: true, offset: 5000, chunkBytes: CHUNK, size: 10_500 });
    flow(u, img, 5000);
    assert.ok(store.activated);
  });

  it("after a reboot, resumes at the checkpoint: the bytes before it are read back (a chunk at a time) and hashed again", async function () {
    const img = image({}, key, randomFillSync(new Uint8Array(40_000)));
    const first = updater();
    await offer(first, img);
    flow(first, img, 0, 30_000);
    assert.equal(record("transfer")!.offset, 28_672, "the last checkpoint: 7 x 4 KiB");
    // Power cut: no disconnected(), a new updater over the same storage and slot.
    sent = [];
    const second = updater();
    assert.deepEqual(second.hello(), { ota: { state: "paused", version: "0.2.0", offset: 28_672, size: 40_000 } });
    assert.deepEqual(await offer(second, img), { accepted: true, offset: 28_672, chunkBytes: CHUNK, size: 40_000 });
    assert.equal(sent.length, 0, "the cue comes after the reply, once what the slot holds is hashed again");
    clock.advance(0);
    assert.deepEqual(sent.at(-1), { type: "ota", state: "downloading", version: "0.2.0", offset: 28_672, size: 40_000 });
    assert.ok(store.calls.includes("open 40000 28672"));
    assert.ok(store.largestRead <= CHUNK, `read back ${store.largestRead} bytes at a time at most`);
    flow(second, img, 28_672);
    assert.ok(store.activated, "the hash over what was read back and what came after matches");
  });

  it("a link that drops while the slot is hashed again after a reboot: paused, no cue sent, resumed at the next offer", async function () {
    // More than REHASH_SLICE_BYTES already written: reading it back takes more than one turn.
    store = new RamFirmwareStore(256 * 1024);
    const img = image({}, key, randomFillSync(new Uint8Array(200_000)));
    const first = updater();
    await offer(first, img);
    clock.advance(0);
    flow(first, img, 0, 150_000);
    const at = record("transfer")!.offset as number;
    assert.ok(at > REHASH_SLICE_BYTES, `checkpointed at ${at}`);
    sent = [];
    logs = [];
    const second = updater();
    second.connected();
    assert.deepEqual(await offer(second, img), { accepted: true, offset: at, chunkBytes: CHUNK, size: 200_000 });
    second.disconnected();
    assert.equal(second.busy, true, "still preparing: the slot is being read back");
    clock.advance(0);
    clock.advance(0);
    clock.advance(0);
    assert.deepEqual(sent, [], "no cue over a link that is gone");
    assert.equal(second.busy, false);
    assert.ok(logs.some((l) => l.event === "ota_paused" && l.fields.why === "disconnected" && l.fields.offset === at));
    assert.equal(idle, 1, "what waited for the transfer may go on");
    second.connected();
    assert.deepEqual(await offer(second, img), { accepted: true, offset: at, chunkBytes: CHUNK, size: 200_000 });
    clock.advance(0);
    flow(second, img, at);
    assert.ok(store.activated);
  });

  it("a device that stops mid-transfer checkpoints it and lets nothing go on (no onIdle)", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    flow(u, img, 0, 5000);
    u.stop();
    assert.equal(u.busy, false);
    assert.equal(record("transfer")!.offset, 4096, "checkpointed at the block boundary before where it stopped");
    assert.ok(logs.some((l) => l.event === "ota_paused" && l.fields.why === "stopped"));
    assert.equal(idle, 0);
  });

  it("starts again from zero when another image is offered than the one paused", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    flow(u, img, 0, 6000);
    u.disconnected();
    const next = image({ version: "0.3.0" });
    assert.deepEqual(await offer(updater(), next), { accepted: true, offset: 0, chunkBytes: CHUNK, size: 10_500 });
    assert.equal(record("transfer")!.version, "0.3.0");
    assert.equal(record("transfer")!.offset, 0);
  });

  it("pauses a transfer that stalls (nothing for OTA_STALL_MS while connected)", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    flow(u, img, 0, 2000);
    clock.advance(OTA_STALL_MS);
    assert.equal(u.busy, false);
    assert.ok(logs.some((l) => l.event === "ota_paused"));
    assert.equal(idle, 1);
  });

  it("stops a write failure with write_failed; the device carries on", async function () {
    const u = updater();
    const img = image();
    await offer(u, img);
    store.failWrites = true;
    u.receiveBinary(encodeChunk(0, img.payload.subarray(0, CHUNK)));
    assert.equal(sent.at(-1)!.code, OtaRefusal.WRITE_FAILED);
    assert.equal(u.busy, false);
  });

  describe("the new image's trial", function () {
    const trial = { version: "0.2.0", sha256: "c".repeat(64), from: "0.1.0" };

    it("is confirmed once its connection proves stable and the self-check passes; hello says so", function () {
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify(trial));
      store.pending = true;
      const u = updater({ version: "0.2.0" });
      u.start();
      assert.deepEqual(u.hello(), { ota: { state: "trial", version: "0.2.0", from: "0.1.0" } });
      clock.advance(5000);
      u.connectionStable();
      assert.deepEqual(store.calls, ["markValid"]);
      assert.deepEqual(u.hello(), { ota: { state: "updated", version: "0.2.0", from: "0.1.0" } });
      assert.equal(record("trial"), undefined);
      clock.advance(10_000);
      assert.deepEqual(restarts, [], "no rollback after the confirmation");
    });

    it("refuses other images while on trial (unconfirmed)", async function () {
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify(trial));
      store.pending = true;
      assert.equal(await offer(updater({ version: "0.2.0" }), image({ version: "0.3.0" })), OtaRefusal.UNCONFIRMED);
    });

    it("rolls itself back when not confirmed within confirmMs: why goes into the trial record for the previous image", function () {
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify(trial));
      store.pending = true;
      const u = updater({ version: "0.2.0" });
      u.start();
      clock.advance(10_000);
      assert.deepEqual(restarts.map((r) => r.reason), ["ota_rollback"]);
      assert.deepEqual(store.calls, [], "the store rolls back last, just before the restart");
      restarts[0]!.before!();
      assert.deepEqual(store.calls, ["rollback"]);
      assert.equal(record("trial")!.reason, "not_confirmed");
      u.connectionStable();
      assert.deepEqual(store.calls, ["rollback"], "too late to confirm");
    });

    it("rolls back when the application's self-check fails", function () {
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify(trial));
      store.pending = true;
      const u = updater({ version: "0.2.0", selfCheck: () => "no sensor" });
      u.start();
      u.connectionStable();
      assert.deepEqual(restarts.map((r) => r.reason), ["ota_rollback"]);
      assert.equal(record("trial")!.reason, "self_check_failed");
      assert.equal(record("trial")!.detail, "no sensor");
    });

    it("after a rollback, the previous image reports it with why, and refuses that image again", async function () {
      const img = image();
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify({ ...trial, sha256: JSON.parse(img.manifest).sha256 }));
      store.rollbackInfo = { reason: "panic", detail: "uncaught exception: boom" };
      const u = updater({ version: "0.1.0" });
      assert.deepEqual(u.hello(), { ota: { state: "rolled_back", version: "0.2.0", from: "0.1.0", reason: "panic", detail: "uncaught exception: boom" } });
      assert.ok(logs.some((l) => l.event === "ota_rolled_back" && l.level === "error"));
      assert.equal(record("trial"), undefined);
      assert.equal(await offer(u, img), OtaRefusal.ROLLED_BACK);
      assert.deepEqual(await offer(u, image({ version: "0.2.1" })), { accepted: true, offset: 0, chunkBytes: CHUNK, size: 10_500 });
    });

    it("a rollback the image chose itself is reported with its own reason", function () {
      storage.set(OTA_STORAGE_DOMAIN, "trial", JSON.stringify({ ...trial, reason: "not_confirmed", detail: "no stable connection" }));
      store.rollbackInfo = { reason: "software" };
      const u = updater({ version: "0.1.0" });
      assert.equal((u.hello().ota as Record<string, unknown>).reason, "not_confirmed");
    });
  });
});
