/**
 * The desktop chip's firmware images (hosts/node/firmware.ts, firmware-store.ts,
 * firmware-archive.ts): the boot choice as ESP-IDF's rollback keeps it (new -> pending ->
 * valid; a trial that ends is rolled back with why; a clean stop tries it again), the update
 * slot written and read back by offset, and the image's archive of modules.
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_IN_FIRMWARE, ChipMemory, endTrial, selectFirmware, suspendTrial } from "../../../hosts/node/firmware.js";
import { firmwareFiles, NODE_ENTRY, packFirmware, readArchive, unpackFirmware } from "../../../hosts/node/firmware-archive.js";
import { NodeFirmwareStore } from "../../../hosts/node/firmware-store.js";
import type { Log } from "../../../src/shared/host.js";
import { DIST_ROOT } from "../../support/ota.js";

describe("the desktop chip's firmware images (hosts/node/firmware*.ts)", function () {
  let folder: string;
  let logs: Array<[string, Record<string, unknown>]>;
  const log: Log = (_level, event, fields = {}) => logs.push([event, fields]);
  let statePath: string;
  let slotsPath: string;
  /** A real desktop image's payload, packed once. */
  let archive: Uint8Array;

  before(() => (archive = packFirmware(DIST_ROOT)));
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-firmware-"));
    logs = [];
    statePath = join(folder, "d.chip.json");
    slotsPath = join(folder, "d.slots");
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const store = () => new NodeFirmwareStore({ statePath, slotsPath, log });
  const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

  /** Writes `payload` through the store as the updater would and activates it. */
  function install(payload: Uint8Array, version: string): void {
    const s = store();
    s.open(payload.length, 0);
    for (let at = 0; at < payload.length; at += 4096) s.write(at, payload.subarray(at, at + 4096));
    s.activate({ version, size: payload.length, sha256: sha(payload) });
  }

  it("boots the built-in image on a first start", function () {
    const memory = new ChipMemory(statePath, log);
    assert.equal(selectFirmware(memory, slotsPath, { reason: "power_on" }, log), BUILT_IN_FIRMWARE);
    assert.deepEqual(store().running(), { pending: false });
  });

  it("boots an activated image on trial from its slot's folder; confirmed, it stays through any reset", function () {
    install(archive, "0.2.0");
    const memory = new ChipMemory(statePath, log);
    const image = selectFirmware(memory, slotsPath, { reason: "software" }, log);
    assert.equal(image.slot, "a");
    assert.equal(image.version, "0.2.0");
    assert.equal(fileURLToPath(image.nodeEntry), join(slotsPath, "a", NODE_ENTRY));
    assert.ok(existsSync(join(slotsPath, "a", "src", "device", "device.js")));
    assert.equal(readFileSync(join(slotsPath, "a", "package.json"), "utf8"), '{"type":"module"}\n', "ES modules wherever the folder is");
    assert.deepEqual(store().running(), { pending: true });
    store().markValid();
    assert.equal(selectFirmware(memory, slotsPath, { reason: "panic" }, log).slot, "a", "a valid image is not rolled back");
    assert.ok(!logs.some(([event]) => event === "chip_rollback"));
  });

  it("rolls a trial back when its run ends unconfirmed, recording why; the next update goes to the other slot", function () {
    install(archive, "0.2.0");
    const memory = new ChipMemory(statePath, log);
    selectFirmware(memory, slotsPath, { reason: "software" }, log);
    const back = selectFirmware(memory, slotsPath, { reason: "panic", detail: "uncaught exception: boom" }, log);
    assert.equal(back, BUILT_IN_FIRMWARE);
    assert.deepEqual(store().running(), { pending: false, rollback: { reason: "panic", detail: "uncaught exception: boom" } });
    assert.ok(logs.some(([event, fields]) => event === "chip_rollback" && fields.version === "0.2.0" && fields.to === "built-in"));
    // From the built-in image, again slot a; from slot a, slot b.
    install(archive, "0.3.0");
    selectFirmware(memory, slotsPath, { reason: "software" }, log);
    store().markValid();
    install(archive, "0.4.0");
    assert.equal(selectFirmware(memory, slotsPath, { reason: "software" }, log).slot, "b");
    assert.equal(selectFirmware(memory, slotsPath, { reason: "watchdog" }, log).slot, "a", "back to the image it replaced");
  });

  it("a trial the firmware gives up on, or a power cut, rolls back; a clean stop tries it again", function () {
    const memory = new ChipMemory(statePath, log);
    install(archive, "0.2.0");
    selectFirmware(memory, slotsPath, { reason: "software" }, log);
    suspendTrial(memory);
    assert.equal(selectFirmware(memory, slotsPath, { reason: "power_on" }, log).slot, "a", "tried again after a clean stop");
    store().rollback();
    assert.equal(selectFirmware(memory, slotsPath, { reason: "software" }, log), BUILT_IN_FIRMWARE);
    install(archive, "0.3.0");
    selectFirmware(memory, slotsPath, { reason: "software" }, log);
    endTrial(memory, { reason: "killed" }, log);
    assert.equal(store().running().rollback?.reason, "killed");
  });

  it("does not boot a slot whose payload changed after it was installed: the previous image boots", function () {
    install(archive, "0.2.0");
    const payload = join(slotsPath, "a.bin");
    const bytes = readFileSync(payload);
    bytes[100] ^= 1;
    writeFileSync(payload, bytes);
    const memory = new ChipMemory(statePath, log);
    assert.equal(selectFirmware(memory, slotsPath, { reason: "software" }, log), BUILT_IN_FIRMWARE);
    assert.equal(store().running().rollback?.reason, "corrupt_image");
  });

  it("the slot: written by offset, read back, resumed with what an earlier boot wrote, activated only whole", function () {
    const payload = randomFillSync(new Uint8Array(10_000));
    let s = store();
    s.open(payload.length, 0);
    s.write(0, payload.subarray(0, 8192));
    s = store();
    assert.throws(() => s.write(0, payload), /open\(\) first/);
    s.open(payload.length, 8192);
    assert.deepEqual(s.read(4096, 100), payload.subarray(4096, 4196));
    assert.throws(() => s.write(8192, new Uint8Array(2000)), /past the image/);
    s.write(8192, payload.subarray(8192));
    assert.throws(() => store().open(payload.length, 20_000), /fewer than/);
    s = store();
    s.open(payload.length, 4096);
    s.write(4096, payload.subarray(4096, 5000));
    assert.throws(() => s.activate({ version: "0.2.0", size: payload.length + 1, sha256: sha(payload) }), /holds 10000 bytes/);
  });

  it("packs the firmware, the XS side and the Node worker's imports, nothing of the chip itself", function () {
    const files = firmwareFiles(DIST_ROOT);
    for (const file of [NODE_ENTRY, "src/device/device.js", "hosts/xs/xs-side/device.js", "hosts/node/firmware-store.js", "hosts/node/device-host.js"]) {
      assert.ok(files.includes(file), `${file} is in the image`);
    }
    for (const file of ["hosts/node/chip.js", "hosts/node/device.js", "hosts/xs/engine.js", "server/companion.js"]) {
      assert.ok(!files.includes(file), `${file} is the chip's, not the firmware's`);
    }
    const entries = readArchive(archive);
    assert.deepEqual([...entries.keys()], files);
    assert.deepEqual(Buffer.from(entries.get("src/device/device.js")!), readFileSync(join(DIST_ROOT, "src/device/device.js")));
  });

  it("refuses an archive that is not one, or has a path out of its folder; unpacks atomically", function () {
    assert.throws(() => readArchive(Uint8Array.of(1, 2, 3)), /no MLFW/);
    const root = join(folder, "evil");
    mkdirSync(join(root, "hosts", "node"), { recursive: true });
    writeFileSync(join(root, NODE_ENTRY), "");
    assert.throws(() => packFirmware(root, ["../escape.js"]), /plain relative path/);
    const good = packFirmware(root, [NODE_ENTRY]);
    const bad = Buffer.from(good);
    bad.write("..", 7, "latin1"); // the first path's first two characters
    assert.throws(() => readArchive(bad), /not a plain relative/);
    assert.throws(() => readArchive(good.subarray(0, 10)), /cut short/);
    unpackFirmware(good, join(folder, "out"));
    assert.ok(existsSync(join(folder, "out", NODE_ENTRY)));
    assert.ok(!existsSync(`${join(folder, "out")}.unpacking-${process.pid}`));
  });
});
