/**
 * Firmware updates end to end (issue 14, docs/ota.md), on both engines: the device as users
 * run it (dist/hosts/node/device.js, its firmware on the desktop chip, booting from the update
 * slot it was told to), the companion server offering signed images (in this process, or as
 * its own process where the test kills it).
 *
 * - A -> B: the image flows, is verified, the device restarts into it, hello reports B, and B
 *   confirms itself once its connection proves stable; a factory reset (--factory-reset) then
 *   keeps B: the chip's slots and the update's records are not settings;
 * - a flipped byte, a wrong key, a truncated image and a downgrade are each refused with their
 *   code, and the device stays on A, connected;
 * - a server killed mid-transfer and started again: the transfer resumes from its offset;
 * - a B that crashes at boot, or never reaches its server, is rolled back to A, and A's hello
 *   says so (and B is not taken again);
 * - a device SIGKILLed mid-write boots A, then resumes from its last checkpoint.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { CompanionEvent, CompanionServer } from "../../server/companion.js";
import type { SigningKey } from "../../hosts/node/firmware-keys.js";
import { FIRMWARE_VERSION } from "../../src/device/device.js";
import { Child } from "../support/child-process.js";
import { DeviceWorld } from "../support/device-world.js";
import { ENGINES, useEngine } from "../support/engines.js";
import { parseImage } from "../../server/ota-image.js";
import { flipPayloadByte, imageBytes, patchedFirmware, testKey, truncate, writeImage } from "../support/ota.js";

type Hello = Extract<CompanionEvent, { event: "hello" }>;
type Ota = Extract<CompanionEvent, { event: "ota" }>;

const A = FIRMWARE_VERSION;
const B = "0.2.0";
/** The device's module that the broken Bs change. */
const DEVICE_MODULE = "src/device/device.js";

for (const engine of ENGINES) describe(`firmware updates [${engine}]`, function () {
  useEngine(engine);
  this.timeout(90_000);
  let world: DeviceWorld;
  let folder: string;
  let key: SigningKey;
  const children: Child[] = [];

  beforeEach(() => {
    // The device's update key is the test's signing key; a trial confirmed by a stable connection soon.
    world = new DeviceWorld("moorline-ota-", engine, ["--telemetry-interval-ms", "1000", "--stable-ms", "500"]);
    folder = world.folder;
    key = testKey(folder);
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill();
    await world.cleanup();
  });

  const server = (options: Parameters<DeviceWorld["server"]>[0] = {}) => world.server(options);
  const device = (url: string, ...args: string[]) => world.device(url, "--ota-keys", join(folder, "keys"), ...args);

  const image = (name: string, bytes: Buffer) => ({ image: parseImage(bytes), path: writeImage(folder, name, bytes) });
  const hellos = (s: CompanionServer): Hello[] => s.history.filter((e): e is Hello => e.event === "hello");
  const otaOf = (hello: Hello): Record<string, unknown> | undefined => (hello.ota ?? undefined) as Record<string, unknown> | undefined;

  it("A -> B: the signed image flows, the device restarts into it, hello reports B, B confirms itself and stays through a factory reset", async function () {
    const s = await server({ ota: image("b.img", imageBytes({ version: B, key })) });
    const d = device(s.url);
    const first = await s.waitFor("hello", () => true, 20_000);
    assert.equal(first.firmware, A);
    assert.ok((first.capabilities as string[]).includes("ota_offer"));
    await s.waitFor("ota", (e) => e.state === "installed", 30_000);
    const next = await s.waitFor("hello", (e) => e.firmware === B, 30_000);
    assert.equal(next.reset, "software");
    assert.equal(next.rebootReason, "ota_update");
    // On trial until its connection proves stable, then confirmed.
    await d.waitFor("ota_confirmed", () => true, 20_000);
    assert.ok(d.events("chip_boot").some((l) => l.firmware === B && l.slot === "a"), "booted from slot a");
    assert.equal(s.history.filter((e) => e.event === "ota" && (e as Ota).state === "offered").length, 1, "B is not offered to B");
    // A factory reset erases settings, not the update: the chip still boots B from its slot.
    assert.equal(await d.stop(), 0);
    const reset = device(s.url, "--factory-reset");
    const afterReset = await s.waitFor("hello", (e) => e.reset === "power_on" && e.firmware === B, 20_000);
    assert.equal(otaOf(afterReset)?.state, "updated");
    assert.ok(reset.events("chip_boot").some((l) => l.firmware === B && l.slot === "a"));
  });

  it("a flipped byte, a wrong key, a truncated image and a downgrade are each refused with their code; the device stays on A, connected", async function () {
    const s = await server();
    const d = device(s.url);
    const hello = await s.waitFor("hello", () => true, 20_000);
    const good = imageBytes({ version: B, key });
    const cases: Array<[string, Buffer, string]> = [
      ["flipped.img", flipPayloadByte(good), "wrong_hash"],
      ["other-key.img", imageBytes({ version: B, key: testKey(folder, "other-keys") }), "bad_signature"],
      ["truncated.img", truncate(good), "truncated"],
      ["older.img", imageBytes({ version: "0.0.9", key }), "downgrade"],
    ];
    for (const [name, bytes, code] of cases) {
      const path = writeImage(folder, name, bytes);
      s.execute(`ota ${path}`);
      const refused = await s.waitFor("ota", (e) => e.state === "refused" && e.code === code, 30_000).catch(() => {
        throw new Error(`${name}: no refusal with ${code}; ota events: ${JSON.stringify(s.history.filter((e) => e.event === "ota").map((e) => [(e as Ota).state, (e as Ota).code]))}`);
      });
      assert.equal(refused.conn, hello.conn, `${name}: refused on the same connection`);
      await d.waitFor("ota_refused", (l) => l.code === code, 5000);
    }
    // Still A, still on its first connection, still answering.
    const [ping] = s.send(`#${hello.conn}`, "ping");
    const reply = await s.waitFor("reply", (e) => e.id === ping!.id, 5000);
    assert.equal(reply.ok, true);
    assert.equal(hellos(s).length, 1, "no restart, no reconnect");
    assert.deepEqual(d.events("chip_reset"), []);
    assert.ok(!s.history.some((e) => e.event === "close"), "the connection never closed");
  });

  it("a server killed mid-transfer and started again: the transfer resumes from its offset, not from zero", async function () {
    const path = writeImage(folder, "b.img", imageBytes({ version: B, key }));
    const serverArgs = (port: number) => ["dist/server/cli.js", "--port", String(port), "--json", "--ota", path, "--ota-rate", "200000"];
    const first = new Child(process.execPath, serverArgs(0));
    children.push(first);
    const url = (await first.line(/"event":"listening","url":"(ws:\/\/[^"]+)"/, 10_000, "the server's URL"))[1]!;
    const port = Number(new URL(url).port);
    device(url);
    const progress = await first.line(/"event":"ota".*"state":"progress".*"offset":(\d+)/, 30_000, "progress past a tenth");
    first.kill("SIGKILL");
    await first.waitForExit(5000);
    const sentBefore = Number(progress[1]);
    assert.ok(sentBefore > 0);

    const second = new Child(process.execPath, serverArgs(port));
    children.push(second);
    const accepted = await second.line(/"event":"ota".*"state":"accepted".*"offset":(\d+)/, 30_000, "the device's acceptance of the offer");
    const resumedAt = Number(accepted[1]);
    assert.ok(resumedAt >= sentBefore, `resumed at ${resumedAt}, at least the ${sentBefore} bytes the first server saw written`);
    await second.line(/"event":"hello".*"firmware":"0\.2\.0"/, 60_000, "hello from B");
  });

  it("a B that crashes at boot is rolled back to A, whose hello says so; B is not taken again", async function () {
    const root = patchedFirmware(folder, "broken", { [DEVICE_MODULE]: (text) => `throw new Error("B crashes at boot");\n${text}` });
    const s = await server({ ota: image("b.img", imageBytes({ version: B, key, root })) });
    const d = device(s.url);
    await s.waitFor("ota", (e) => e.state === "installed", 30_000);
    const back = await s.waitFor("hello", (e) => e.firmware === A && e.reset === "panic", 40_000);
    const ota = otaOf(back);
    assert.equal(ota?.state, "rolled_back");
    assert.equal(ota?.version, B);
    assert.equal(ota?.reason, "panic");
    assert.match(String(ota?.detail), /B crashes/, "the crash, in a detail of at most 120 characters");
    await s.waitFor("ota", (e) => e.state === "rolled_back" && e.reason === "panic", 5000);
    // The server still offers B: the device refuses the very image it rolled back.
    await s.waitFor("ota", (e) => e.state === "refused" && e.code === "rolled_back", 10_000);
    assert.ok(d.events("chip_rollback").some((l) => l.version === B && l.reason === "panic"));
  });

  it("a B that never reaches its server rolls itself back at its deadline; A's hello says so", async function () {
    const root = patchedFirmware(folder, "lost", { [DEVICE_MODULE]: (text) => text.replace("        this.supervisor.start();\n", "") });
    const s = await server({ ota: image("b.img", imageBytes({ version: B, key, root })) });
    const d = device(s.url, "--ota-confirm-ms", "3000");
    await s.waitFor("ota", (e) => e.state === "installed", 30_000);
    await d.waitFor("ota_trial", (l) => l.version === B, 20_000);
    const back = await s.waitFor("hello", (e) => e.firmware === A && (e.boots as number) > 1, 40_000);
    assert.equal(back.reset, "software");
    assert.equal(back.rebootReason, "ota_rollback");
    const ota = otaOf(back);
    assert.equal(ota?.state, "rolled_back");
    assert.equal(ota?.reason, "not_confirmed");
    assert.ok(hellos(s).every((e) => e.firmware === A), "B never said hello");
  });

  it("a device SIGKILLed mid-write boots A, then resumes from its last checkpoint", async function () {
    const s = await server({ ota: image("b.img", imageBytes({ version: B, key })), otaRate: 150_000 });
    const first = device(s.url);
    await s.waitFor("ota", (e) => e.state === "progress" && (e.percent ?? 0) >= 30, 30_000);
    await first.powerCut();
    const second = device(s.url);
    const hello = await s.waitFor("hello", (e) => e.reset === "killed", 20_000);
    assert.equal(hello.firmware, A, "the power cut mid-write leaves A to boot");
    assert.equal(otaOf(hello)?.state, "paused");
    const accepted = await s.waitFor("ota", (e) => e.state === "accepted" && e.conn === hello.conn, 20_000);
    assert.ok((accepted.offset ?? 0) >= 64 * 1024, `resumed at ${accepted.offset}, a checkpoint past the start`);
    await s.waitFor("hello", (e) => e.firmware === B, 60_000);
    assert.ok(second.events("ota_resume").length === 1);
  });
});
