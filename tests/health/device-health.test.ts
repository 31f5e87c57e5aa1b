/**
 * Health in the whole device (src/device/device.ts) on a virtual clock with an in-memory TCP:
 * boots in a row over one storage, a fake chip for the reset reason and restart. The reboot
 * request, the outbox surviving a power cut (records resent under their first boot after the
 * next hello), safe mode entered and left. The same with real processes, on both engines, is
 * tests/integration/health.test.ts.
 */
import assert from "node:assert/strict";

import { REBOOT_DELAY_MS } from "../../src/health/device-health.js";
import { OUTBOX_STORAGE_DOMAIN } from "../../src/health/outbox-store.js";
import { closePayload, parseClientFrames } from "../support/client-frames.js";
import { FakeChip, type Json } from "../support/fake-chip.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomFillSync } from "node:crypto";
import { ensureSigningKey, verifyP256 } from "../../hosts/node/firmware-keys.js";
import { encodeChunk } from "../../src/ota/protocol.js";
import { RamFirmwareStore, signedManifest } from "../support/ota.js";

describe("the device's health (virtual clock)", function () {
  describe("the reboot request", function () {
    it("replies, closes its connection with 1001, restarts; the next hello says software and the reason", function () {
      const chip = new FakeChip();
      const run = chip.boot();
      const sent = run.open();
      assert.deepEqual(sent()[0], {
        type: "hello", device: "device", firmware: "0.1.0", boot: "01010101",
        capabilities: ["echo", "ping", "status", "config", "reboot", "led", "wifi", "server", "factory_reset"],
        // The clock's fields (src/time): this fake host's clock is not trusted.
        time: null, clock: { trusted: false, source: null },
        reset: "power_on", boots: 1, safeMode: false,
      });
      run.send({ type: "reboot", id: 5, reason: "config update" });
      assert.deepEqual(sent(), [{ type: "reply", id: 5, result: { rebooting: true, reason: "config update", safeMode: false, inMs: REBOOT_DELAY_MS } }]);
      assert.equal(chip.restarts, 0, "the reply goes out first");
      run.clock.advance(REBOOT_DELAY_MS);
      const close = parseClientFrames(run.socket().takeWritten()).find((frame) => frame.opcode === 8);
      assert.equal(close && closePayload(close.payload).code, 1001, "the connection is closed, going away");
      run.clock.advance(5000); // the server never answers the close: restarted all the same
      assert.equal(chip.restarts, 1);

      const next = chip.boot();
      const hello = next.open()()[0]!;
      assert.equal(hello.boot, "02020202");
      assert.equal(hello.reset, "software");
      assert.equal(hello.rebootReason, "config update");
      assert.equal(hello.boots, 2);
      run.send({ type: "reboot", id: 6 });
      assert.equal(chip.restarts, 1, "a run that has restarted does nothing more");
    });

    it("checks its fields, and answers unsupported where the platform cannot restart", function () {
      const chip = new FakeChip();
      const run = chip.boot();
      const sent = run.open();
      sent();
      run.send({ type: "reboot", id: 1, reason: 42 });
      run.send({ type: "reboot", id: 2, reason: "x".repeat(65) });
      run.send({ type: "reboot", id: 3, safeMode: "yes" });
      assert.deepEqual(sent().map((reply) => (reply.error as Json).code), ["bad_request", "bad_request", "bad_request"]);
      chip.canRestart = false;
      const simulator = chip.boot();
      const fromSimulator = simulator.open();
      fromSimulator();
      simulator.send({ type: "reboot", id: 4 });
      const [reply] = fromSimulator();
      assert.equal((reply!.error as Json).code, "unsupported");
      assert.match(String((reply!.error as Json).message), /cannot restart/);
    });
  });

  describe("the durable outbox", function () {
    it("after a power cut, resends the stored records under their first boot, after the new hello and before new records", function () {
      const chip = new FakeChip();
      const first = chip.boot();
      const fromFirst = first.open();
      fromFirst();
      first.clock.advance(5000); // records 1..5 sent, never acknowledged
      assert.deepEqual(fromFirst().map((m) => m.seq), [1, 2, 3, 4, 5]);
      assert.ok(chip.storage.keys(OUTBOX_STORAGE_DOMAIN).length > 0, "written within the flush interval");
      // Power cut: no stop, no flush. Record 5 was made less than outboxFlushMs (2 s) before it.

      const second = chip.boot();
      const sent = second.open();
      const messages = sent();
      assert.equal(messages[0]!.type, "hello");
      assert.equal(messages[0]!.reset, "panic");
      assert.deepEqual(
        messages.slice(1).map((m) => [m.boot, m.seq]),
        [["01010101", 1], ["01010101", 2], ["01010101", 3], ["01010101", 4]],
        "every record older than the flush interval, under the first boot's id",
      );
      const restored = second.events("outbox_restored")[0]!.fields;
      assert.equal(restored.records, 4);
      assert.equal(restored.lostAtMost, 3, "a run that was not stopped: up to 2 s of records at 1 a second");

      second.clock.advance(1000);
      assert.deepEqual(sent().map((m) => [m.boot, m.seq]), [["02020202", 1]], "then this boot's own");
      second.send({ type: "ack", boot: "01010101", seq: 4 });
      second.send({ type: "ack", boot: "02020202", seq: 1 });
      assert.equal(second.events("telemetry_acked")[0]!.fields.boot, "01010101");
      assert.deepEqual(chip.storage.keys(OUTBOX_STORAGE_DOMAIN), [], "acknowledged: gone from storage too");
      second.send({ type: "status", id: 9 });
      const status = sent().find((m) => m.type === "reply")!.result as Json;
      assert.deepEqual(status.outbox, { size: 0, bytes: 0, dropped: 0 });
      assert.equal((status.outboxStore as Json).restored, 4);
    });

    it("writes everything at a clean stop: nothing is lost", function () {
      const chip = new FakeChip();
      const first = chip.boot();
      first.open()();
      first.clock.advance(3500);
      first.device.stop();
      chip.nextReset = "power_on";
      const second = chip.boot();
      const messages = second.open()();
      assert.deepEqual(messages.slice(1).map((m) => m.seq), [1, 2, 3]);
      assert.equal(second.events("outbox_restored")[0]!.fields.lostAtMost, 0);
    });
  });

  describe("safe mode", function () {
    /** Five boots that crash before their connection proves stable. */
    function crashFiveTimes(chip: FakeChip): void {
      for (let i = 0; i < 5; i++) {
        const run = chip.boot({ stableMs: 30_000 });
        run.open()();
        run.clock.advance(10_000); // up, telemetry unacknowledged, then a crash
      }
    }

    it("follows five boots without a stable connection: no user handlers, no telemetry, the stored outbox left alone", function () {
      const chip = new FakeChip();
      crashFiveTimes(chip);
      const stored = chip.storage.keys(OUTBOX_STORAGE_DOMAIN).length;
      assert.ok(stored > 0);
      const safe = chip.boot({ stableMs: 30_000, faults: true });
      assert.ok(safe.events("safe_mode").length === 1);
      const sent = safe.open();
      const hello = sent()[0]!;
      assert.equal(hello.safeMode, true);
      assert.equal(hello.reset, "panic");
      assert.equal(hello.boots, 6);
      assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config", "reboot", "wifi", "server", "factory_reset"], "no led, no fault; provisioning stays");
      safe.clock.advance(20_000);
      assert.deepEqual(sent(), [], "no telemetry, and nothing resent");
      safe.send({ type: "led", id: 1 });
      assert.equal(((sent()[0]!.error) as Json).code, "unknown_type");
      safe.send({ type: "status", id: 2 });
      const status = sent()[0]!.result as Json;
      assert.equal(status.safeMode, true);
      assert.equal(status.failedBoots, 5);
      assert.equal(status.safeModeCause, "failed_boots");
      assert.equal(chip.storage.keys(OUTBOX_STORAGE_DOMAIN).length, stored, "the records wait for normal mode");
    });

    it("ends after a stable connection: the device restarts into normal mode and resends what was stored", function () {
      const chip = new FakeChip();
      crashFiveTimes(chip);
      const safe = chip.boot({ stableMs: 30_000 });
      safe.open()();
      safe.clock.advance(29_000);
      safe.send({ type: "ping", id: 1 });
      assert.equal(chip.restarts, 0, "not stable yet");
      safe.clock.advance(2000);
      safe.send({ type: "ping", id: 2 });
      assert.equal(safe.events("safe_mode_exit").length, 1);
      safe.clock.advance(5000);
      assert.equal(chip.restarts, 1);
      const normal = chip.boot({ stableMs: 30_000 });
      const messages = normal.open()();
      assert.equal(messages[0]!.safeMode, false);
      assert.equal(messages[0]!.rebootReason, "safe_mode_exit");
      assert.ok(messages.length > 1, "the records stored before safe mode go out now");
      assert.deepEqual(messages[0]!.capabilities, ["echo", "ping", "status", "config", "reboot", "led", "wifi", "server", "factory_reset"]);
    });

    it("ends on the server's command (reboot), whatever the count", function () {
      const chip = new FakeChip();
      crashFiveTimes(chip);
      const safe = chip.boot();
      const sent = safe.open();
      sent();
      safe.send({ type: "reboot", id: 1, reason: "leave safe mode" });
      safe.clock.advance(5000);
      assert.equal(chip.restarts, 1);
      assert.equal(chip.boot().open()()[0]!.safeMode, false);
    });

    it("can be asked for: reboot with safeMode true", function () {
      const chip = new FakeChip();
      const run = chip.boot();
      run.open()();
      run.send({ type: "reboot", id: 1, reason: "update", safeMode: true });
      run.clock.advance(5000);
      const hello = chip.boot().open()()[0]!;
      assert.equal(hello.safeMode, true);
      assert.equal(hello.rebootReason, "update");
    });

    it("takes a firmware update, and its exit after a stable connection waits for the transfer to end", function () {
      const folder = mkdtempSync(join(tmpdir(), "moorline-safe-ota-"));
      try {
        const key = ensureSigningKey(folder);
        const chip = new FakeChip();
        crashFiveTimes(chip);
        const store = new RamFirmwareStore();
        chip.firmware = { store, verify: verifyP256 };
        const safe = chip.boot({ stableMs: 30_000, otaPublicKey: key.base64 });
        const sent = safe.open();
        const hello = sent()[0]!;
        assert.equal(hello.safeMode, true);
        assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config", "reboot", "wifi", "server", "factory_reset", "ota_offer"], "updates, even in safe mode");
        const payload = randomFillSync(new Uint8Array(5000));
        safe.send({ type: "ota_offer", id: 1, ...signedManifest(payload, key) });
        assert.deepEqual(sent()[0]!.result, { accepted: true, offset: 0, chunkBytes: 4096, size: 5000 });
        safe.sendBinary(encodeChunk(0, payload.subarray(0, 4096)));
        // Stable: safe mode would restart now, cutting the update short; it waits.
        safe.clock.advance(29_000);
        safe.send({ type: "ping", id: 2 });
        safe.clock.advance(2000);
        safe.send({ type: "ping", id: 3 });
        safe.clock.advance(1000);
        assert.equal(safe.events("safe_mode_exit_deferred").length, 1);
        assert.equal(chip.restarts, 0);
        safe.sendBinary(encodeChunk(4096, payload.subarray(4096)));
        safe.clock.advance(5000);
        assert.equal(chip.restarts, 1, "one restart: into the new image");
        assert.deepEqual(safe.events("reboot").map((l) => l.fields.reason), ["ota_update"]);
        assert.ok(store.activated);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it("leaves safe mode once a refused transfer ends, if its connection proved stable meanwhile", function () {
      const folder = mkdtempSync(join(tmpdir(), "moorline-safe-ota-"));
      try {
        const key = ensureSigningKey(folder);
        const chip = new FakeChip();
        crashFiveTimes(chip);
        chip.firmware = { store: new RamFirmwareStore(), verify: verifyP256 };
        const safe = chip.boot({ stableMs: 30_000, otaPublicKey: key.base64 });
        const sent = safe.open();
        sent();
        const payload = randomFillSync(new Uint8Array(100));
        // Signed, but not the payload's hash: refused once the last byte is in.
        safe.send({ type: "ota_offer", id: 1, ...signedManifest(payload, key, { sha256: "0".repeat(64) }) });
        safe.clock.advance(29_000);
        safe.send({ type: "ping", id: 2 });
        safe.clock.advance(2000);
        safe.send({ type: "ping", id: 3 });
        assert.equal(safe.events("safe_mode_exit_deferred").length, 1);
        assert.equal(chip.restarts, 0);
        safe.sendBinary(encodeChunk(0, payload));
        assert.equal(sent().find((m) => m.type === "ota" && m.state === "failed")!.code, "wrong_hash");
        assert.equal(safe.events("safe_mode_exit").length, 1, "the deferred exit, now");
        safe.clock.advance(5000);
        assert.equal(chip.restarts, 1);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });
});
