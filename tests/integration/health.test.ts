/**
 * What survives what, with real processes on both engines: the device as users run it
 * (dist/hosts/node/device.js, its firmware on the desktop chip), the companion server in this
 * process. SIGKILL of the device's process group is the power cut; SIGTERM the clean stop.
 *
 * - a power cut loses at most the last flush interval's telemetry: everything older arrives,
 *   after the restart, under the first boot's id;
 * - storage cut mid-write (a file cut short, half a record) is skipped with log lines, the rest
 *   delivered, the device carries on;
 * - five crashes at boot lead to safe mode, and a stable connection out of it;
 * - a handler that never returns trips the watchdog, and the next hello says so;
 * - a reboot request's reason is in the next hello.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CompanionEvent, CompanionServer } from "../../server/companion.js";
import { DeviceWorld } from "../support/device-world.js";
import { ENGINES, useEngine } from "../support/engines.js";
import { until } from "../support/wait.js";

type Hello = Extract<CompanionEvent, { event: "hello" }>;
type Telemetry = Extract<CompanionEvent, { event: "telemetry" }>;

/** The outbox's default flush interval (src/health/outbox-store.ts), ms. */
const FLUSH_MS = 2000;
/** Slack for timers that fire late on a loaded machine, ms. */
const SLACK_MS = 1000;

for (const engine of ENGINES) describe(`what survives what [${engine}]`, function () {
  useEngine(engine);
  this.timeout(60_000);
  let world: DeviceWorld;
  let folder: string;

  beforeEach(() => {
    world = new DeviceWorld("moorline-health-", engine);
    folder = world.folder;
  });
  afterEach(() => world.cleanup());

  const server = (options: Parameters<DeviceWorld["server"]>[0] = {}) => world.server(options);
  const device = (url: string, ...args: string[]) => world.device(url, ...args);

  const hellos = (s: CompanionServer): Hello[] => s.history.filter((e): e is Hello => e.event === "hello");
  const telemetry = (s: CompanionServer): Telemetry[] => s.history.filter((e): e is Telemetry => e.event === "telemetry");

  it("a stop asked twice at once (Ctrl-C under npm start: SIGINT, then SIGTERM) is still a clean stop: the next boot says power_on", async function () {
    const s = await server();
    const first = device(s.url);
    await s.waitFor("hello", () => true, 15_000);
    assert.equal(await first.stopTwice(), 0);
    const second = device(s.url);
    await until(() => hellos(s).length === 2, 15_000, "the second hello");
    assert.equal(hellos(s)[1]!.reset, "power_on", "not killed: the chip stopped cleanly");
    await second.stop();
  });

  it("a power cut loses at most the last flush interval: every older record arrives after the restart, under the first boot's id", async function () {
    const silent = await server({ noAck: true });
    const receivedAt = new Map<number, number>();
    silent.events.on("telemetry", (e: Telemetry) => receivedAt.set(e.seq, Date.now()));
    const first = device(silent.url, "--telemetry-interval-ms", "1000");
    const firstHello = await silent.waitFor("hello", () => true, 15_000);
    assert.equal(firstHello.reset, "power_on");
    await until(() => receivedAt.size >= 6, 15_000, "six records the server does not acknowledge");
    await first.powerCut();
    const cutAt = Date.now();
    const firstBoot = firstHello.boot as string;
    // Records made more than a flush interval (and some slack) before the cut were stored.
    const mustSurvive = [...receivedAt].filter(([, at]) => at < cutAt - FLUSH_MS - SLACK_MS).map(([seq]) => seq).sort((a, b) => a - b);
    assert.ok(mustSurvive.length >= 3, `records old enough to have been stored: ${mustSurvive}`);

    const acking = await server();
    const second = device(acking.url, "--telemetry-interval-ms", "1000");
    const hello = await acking.waitFor("hello", () => true, 15_000);
    assert.equal(hello.reset, "killed", "the desktop's power cut");
    assert.notEqual(hello.boot, firstBoot);
    await until(
      () => mustSurvive.every((seq) => telemetry(acking).some((e) => e.boot === firstBoot && e.seq === seq)),
      10_000,
      `records ${mustSurvive} of boot ${firstBoot}`,
    );
    // After the new hello, before the new boot's own records.
    const order = acking.history.filter((e) => e.event === "hello" || e.event === "telemetry");
    const firstNew = order.findIndex((e) => e.event === "telemetry" && e.boot === hello.boot);
    const lastOld = order.map((e) => e.event === "telemetry" && e.boot === firstBoot).lastIndexOf(true);
    assert.ok(order[0]!.event === "hello" && (firstNew < 0 || lastOld < firstNew), "old records between the hello and the new ones");
    const restored = await second.waitFor("outbox_restored");
    assert.ok((restored.records as number) >= mustSurvive.length);
    assert.ok((restored.lostAtMost as number) >= 1, "the loss is bounded and said");
    // Acknowledged: storage is empty again, the next boot resends nothing.
    await until(() => second.events("telemetry_acked").some((l) => l.boot === firstBoot), 5000, "the old boot's ack");
    assert.equal(await second.stop(), 0);
    const outbox = (JSON.parse(readFileSync(join(folder, "device.json"), "utf8")) as Record<string, Record<string, string>>).outbox ?? {};
    for (const value of Object.values(outbox)) assert.doesNotMatch(value, new RegExp(` ${firstBoot} `), "no record of the first boot left");
  });

  it("storage cut mid-write (a file cut short, half a record) is skipped record by record, logged; the rest arrives and the device carries on", async function () {
    const silent = await server({ noAck: true });
    const first = device(silent.url, "--telemetry-interval-ms", "1000", "--outbox-flush-ms", "100");
    const firstHello = await silent.waitFor("hello", () => true, 15_000);
    await until(() => telemetry(silent).length >= 6, 15_000, "six records");
    assert.equal(await first.stop(), 0, "a clean stop: everything stored");
    const path = join(folder, "device.json");
    const stored = JSON.parse(readFileSync(path, "utf8")) as Record<string, Record<string, string>>;
    const slots = Object.keys(stored.outbox!).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
    assert.ok(slots.length >= 4, `one slot per record at this pace: ${slots}`);
    const seqOf = (slot: string): number[] => stored.outbox![slot]!.split("\n").slice(1).map((line) => Number(line.split(" ")[0]));
    // Half a record: the first slot's value cut in the middle of its record.
    const halved = slots[0]!;
    const lostToHalf = seqOf(halved);
    stored.outbox![halved] = stored.outbox![halved]!.slice(0, -12);
    const text = JSON.stringify(stored, null, 2) + "\n";
    // The file cut short in the middle of the third slot's line: it and what follows are lost.
    const cutSlot = slots[2]!;
    const cutAt = text.indexOf(`"${cutSlot}": "`) + 20;
    writeFileSync(path, text.slice(0, cutAt));
    const lostToCut = slots.slice(2).flatMap(seqOf);
    const kept = slots.slice(1, 2).flatMap(seqOf);

    const acking = await server();
    const second = device(acking.url, "--telemetry-interval-ms", "1000");
    await second.waitFor("storage_file_corrupt", () => true, 15_000);
    const corrupt = await second.waitFor("outbox_record_corrupt");
    assert.equal(corrupt.boot, firstHello.boot);
    await acking.waitFor("hello", () => true, 15_000);
    const oldBoot = firstHello.boot as string;
    await until(() => kept.every((seq) => telemetry(acking).some((e) => e.boot === oldBoot && e.seq === seq)), 10_000, `records ${kept}`);
    for (const seq of [...lostToHalf, ...lostToCut]) {
      assert.ok(!telemetry(acking).some((e) => e.boot === oldBoot && e.seq === seq), `record ${seq} was damaged, not resent`);
    }
    // Not stuck: this boot's records flow and are acknowledged.
    await until(() => second.events("telemetry_acked").some((l) => l.boot === undefined && (l.seq as number) >= 2), 10_000, "this boot's records acknowledged");
    assert.equal(hellos(acking)[0]!.reset, "power_on", "after a clean stop");
  });

  it("five crashes at boot lead to safe mode; a stable connection leads out of it", async function () {
    const s = await server();
    // Every normal boot crashes at once: the server asks for it at each hello, five times.
    let crashes = 0;
    s.events.on("hello", (e: Hello) => {
      if (e.safeMode === false && crashes < 5) {
        crashes++;
        s.send(`#${e.conn}`, 'send {"type":"fault","kind":"crash"}');
      }
    });
    device(s.url, "--faults", "--stable-ms", "1500", "--heartbeat-interval-ms", "500", "--telemetry-interval-ms", "60000");
    const safe = await s.waitFor("hello", (e) => e.safeMode === true, 40_000);
    assert.equal(crashes, 5);
    assert.equal(safe.reset, "panic");
    assert.equal(safe.boots, 6);
    assert.deepEqual(
      safe.capabilities,
      ["echo", "ping", "status", "config", "reboot", "wifi", "server", "factory_reset", "ota_offer"],
      "no user handlers (not even fault); provisioning stays, and updates, which fix what crashes",
    );
    const [status] = s.send(`#${safe.conn}`, "status");
    const reply = await s.waitFor("reply", (e) => e.id === status!.id);
    assert.equal((reply.result as Record<string, unknown>).safeModeCause, "failed_boots");
    // Stable for 1.5 s (a pong proves it): the device restarts into normal mode.
    const normal = await s.waitFor("hello", (e) => e.safeMode === false && (e.boots as number) === 7, 20_000);
    assert.equal(normal.reset, "software");
    assert.equal(normal.rebootReason, "safe_mode_exit");
    assert.ok((normal.capabilities as string[]).includes("fault"));
  });

  it("a handler that never returns trips the watchdog: the device restarts and the next hello says watchdog", async function () {
    const s = await server();
    device(s.url, "--faults", "--watchdog-ms", "1500");
    const hello = await s.waitFor("hello", () => true, 15_000);
    s.send(`#${hello.conn}`, 'send {"type":"fault","kind":"hang"}');
    const next = await s.waitFor("hello", (e) => e.conn !== hello.conn, 20_000);
    assert.equal(next.reset, "watchdog");
    assert.equal(next.boots, 2);
  });

  it("a reboot request: the reply, a clean close, and the reason in the next hello", async function () {
    const s = await server();
    const d = device(s.url);
    const hello = await s.waitFor("hello", () => true, 15_000);
    const [sent] = s.send(`#${hello.conn}`, "reboot new settings");
    const reply = await s.waitFor("reply", (e) => e.id === sent!.id);
    assert.deepEqual(reply.result, { rebooting: true, reason: "new settings", safeMode: false, inMs: 100 });
    const close = await s.waitFor("close", (e) => e.conn === hello.conn, 5000);
    assert.equal(close.code, 1001);
    const next = await s.waitFor("hello", (e) => e.conn !== hello.conn, 15_000);
    assert.equal(next.reset, "software");
    assert.equal(next.rebootReason, "new settings");
    assert.equal(next.boots, 2);
    assert.ok(d.events("chip_reset").some((l) => l.reason === "software"));
  });
});
