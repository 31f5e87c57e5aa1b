/**
 * Firmware updates beside provisioning in the whole device (src/device/device.ts on a virtual
 * clock, FakeChip): a factory reset erases settings, not an update. The records of src/ota (a
 * transfer's checkpoint, the image on trial) and the firmware store's slots belong to the
 * chip, as the ESP32's OTA partitions and otadata do, so an image on trial still confirms
 * itself at its server after a factory reset, and a transfer still resumes from its
 * checkpoint. The desktop's --factory-reset is tests/integration/ota.test.ts.
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureSigningKey, verifyP256, type SigningKey } from "../../hosts/node/firmware-keys.js";
import { encodeChunk } from "../../src/ota/protocol.js";
import { OTA_STORAGE_DOMAIN, OtaRecordKey } from "../../src/ota/records.js";
import { DEFAULT_CHECKPOINT_BYTES } from "../../src/ota/updater.js";
import { FakeChip, type Json } from "../support/fake-chip.js";
import { RamFirmwareStore, signedManifest } from "../support/ota.js";

const STABLE_MS = 5000;

describe("firmware updates and the factory reset (virtual clock)", function () {
  let folder: string;
  let key: SigningKey;

  before(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-device-ota-"));
    key = ensureSigningKey(join(folder, "keys"));
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  /** A chip whose store holds `capacity` bytes, with `key` built into its firmware. */
  function chipWithSlot(capacity = 64 * 1024): { chip: FakeChip; store: RamFirmwareStore } {
    const chip = new FakeChip();
    const store = new RamFirmwareStore(capacity);
    chip.firmware = { store, verify: verifyP256 };
    return { chip, store };
  }

  const offerOf = (payload: Uint8Array, id: number): Json => ({ type: "ota_offer", id, ...signedManifest(payload, key) });

  it("an image on trial still confirms itself at its server after a factory reset, which leaves the trial's record", function () {
    const { chip, store } = chipWithSlot();
    store.pending = true;
    const trial = { version: "0.2.0", sha256: "c".repeat(64), from: "0.1.0" };
    chip.storage.set(OTA_STORAGE_DOMAIN, OtaRecordKey.TRIAL, JSON.stringify(trial));
    const run = chip.boot({ firmwareVersion: "0.2.0", otaPublicKey: key.base64, stableMs: STABLE_MS });
    const sent = run.open();
    assert.deepEqual(sent()[0]!.ota, { state: "trial", version: "0.2.0", from: "0.1.0" });

    run.send({ type: "factory_reset", id: 1, confirm: true });
    run.clock.advance(0);
    assert.equal(run.events("factory_reset").length, 1);
    assert.deepEqual(JSON.parse(chip.storage.get(OTA_STORAGE_DOMAIN, OtaRecordKey.TRIAL)!), trial, "not a setting: kept");
    assert.ok(!store.calls.includes("rollback"));

    // The connection proves stable (a server message after stableMs): the image is confirmed.
    run.clock.advance(STABLE_MS);
    run.send({ type: "ping", id: 2 });
    assert.equal(run.events("ota_confirmed").length, 1);
    assert.ok(store.calls.includes("markValid"));
    run.send({ type: "status", id: 3 });
    const status = sent().find((m) => m.type === "reply" && m.id === 3)!.result as Json;
    assert.equal((status.ota as Json).state, "updated");
  });

  it("a transfer resumes from its checkpoint after a factory reset and a power cut", function () {
    const { chip, store } = chipWithSlot(256 * 1024);
    const payload = randomFillSync(new Uint8Array(150_000));
    const run = chip.boot({ otaPublicKey: key.base64 });
    const sent = run.open();
    sent();
    run.send(offerOf(payload, 1));
    assert.equal((sent()[0]!.result as Json).offset, 0);
    run.clock.advance(0);
    // Past the first checkpoint: what a reboot resumes from.
    let offset = 0;
    while (offset < DEFAULT_CHECKPOINT_BYTES + 8192) {
      const cue = sent().filter((m) => m.type === "ota").at(-1)!;
      assert.equal(cue.state, "downloading");
      offset = cue.offset as number;
      run.sendBinary(encodeChunk(offset, payload.subarray(offset, offset + 4096)));
    }
    run.send({ type: "factory_reset", id: 2, confirm: true });
    run.clock.advance(0);
    assert.equal(run.events("factory_reset").length, 1);

    // Power cut: the next boot has the checkpoint, and the slot still holds those bytes.
    const next = chip.boot({ otaPublicKey: key.base64 });
    const fromNext = next.open();
    const hello = fromNext()[0]!;
    assert.deepEqual(hello.ota, { state: "paused", version: "0.2.0", offset: DEFAULT_CHECKPOINT_BYTES, size: payload.length });
    next.send(offerOf(payload, 3));
    assert.equal((fromNext()[0]!.result as Json).offset, DEFAULT_CHECKPOINT_BYTES, "resumed, not from zero");
    next.clock.advance(0);
    for (;;) {
      const cue = fromNext().filter((m) => m.type === "ota").at(-1)!;
      if (cue.state !== "downloading") {
        assert.equal(cue.state, "installed");
        break;
      }
      const at = cue.offset as number;
      next.sendBinary(encodeChunk(at, payload.subarray(at, at + 4096)));
    }
    assert.equal(store.activated?.size, payload.length);
  });
});
