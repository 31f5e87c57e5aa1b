/**
 * src/health/health.ts: the boot record across boots (each boot a new Health over the same
 * storage, as a chip reads its NVS after a reset): the boot counter, the reset reason, safe
 * mode after failed boots and its end, requested reboots, clean stops, a damaged record.
 */
import assert from "node:assert/strict";
import { Health, HEALTH_STORAGE, SAFE_MODE_EXIT_REASON } from "../../src/health/health.js";
import { espResetReason, RESET_REASONS, ResetReason } from "../../src/health/reset-reason.js";
import type { LogLevel, SystemHost } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";

interface Logged {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

/** Boots in a row over one storage; `reset` is what the platform says each time. */
function chip(safeModeAfterBoots = 5) {
  const storage = new MemoryStorage();
  const logs: Logged[] = [];
  let reset = "power_on";
  /** null: a platform without a reset reason. */
  const boot = (given?: SystemHost | null): Health =>
    new Health({ storage, system: given === null ? undefined : (given ?? { resetReason: () => reset }), log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }), safeModeAfterBoots });
  return {
    storage,
    logs,
    boot,
    setReset: (value: string) => (reset = value),
    events: (name: string) => logs.filter((line) => line.event === name),
  };
}

describe("Health", function () {
  it("counts boots and reports the platform's reset reason in hello and status", function () {
    const c = chip();
    const first = c.boot();
    assert.deepEqual(first.hello(), { reset: "power_on", boots: 1, safeMode: false });
    c.setReset("watchdog");
    const second = c.boot();
    assert.deepEqual(second.hello(), { reset: "watchdog", boots: 2, safeMode: false });
    assert.deepEqual(second.status(), { reset: "watchdog", boots: 2, safeMode: false, failedBoots: 1, safeModeAfterBoots: 5 });
    assert.deepEqual(c.events("health_boot").map((l) => l.fields.boots), [1, 2]);
  });

  it("the very first boot (no record yet) had no previous run to lose anything; a boot after one that never ended cleanly did", function () {
    const c = chip();
    assert.equal(c.boot().previousRunClean, true, "nothing came before the first boot");
    assert.equal(c.boot().previousRunClean, false, "the first run was never stopped");
  });

  it("says unknown when the platform cannot tell, or its answer fails", function () {
    const c = chip();
    assert.equal(c.boot(null).reset, "unknown");
    const failing = c.boot({ resetReason: () => { throw new Error("no register"); } });
    assert.equal(failing.reset, "unknown");
    assert.equal(c.events("reset_reason_unavailable").length, 1);
  });

  describe("safe mode", function () {
    it("starts after safeModeAfterBoots boots in a row without a stable connection", function () {
      const c = chip(5);
      for (let i = 1; i <= 5; i++) {
        c.setReset(i === 1 ? "power_on" : "panic");
        const health = c.boot();
        assert.equal(health.safeMode, false, `boot ${i}`);
        // A crash: the run ends without stopped() or connectionStable().
      }
      c.setReset("panic");
      const safe = c.boot();
      assert.equal(safe.safeMode, true);
      assert.equal(safe.safeModeCause, "failed_boots");
      assert.deepEqual(safe.hello(), { reset: "panic", boots: 6, safeMode: true });
      assert.equal(c.events("safe_mode").length, 1);
      assert.equal(c.events("safe_mode")[0]!.fields.failedBoots, 5);
    });

    it("does not start while boots keep reaching the server", function () {
      const c = chip(3);
      for (let i = 0; i < 10; i++) {
        const health = c.boot();
        assert.equal(health.safeMode, false);
        if (i % 2 === 0) health.connectionStable();
      }
    });

    it("ends with a stable connection: connectionStable() says so, once, and the next boot is normal", function () {
      const c = chip(2);
      c.boot();
      c.boot();
      const safe = c.boot();
      assert.equal(safe.safeMode, true);
      assert.equal(safe.connectionStable(), true, "time to restart into normal mode");
      assert.equal(safe.connectionStable(), false, "once");
      safe.restarting(SAFE_MODE_EXIT_REASON, false);
      c.setReset("software");
      const next = c.boot();
      assert.equal(next.safeMode, false);
      assert.deepEqual(next.hello(), { reset: "software", boots: 4, safeMode: false, rebootReason: "safe_mode_exit" });
    });

    it("stays on while the safe boots themselves fail (no network): each one counts", function () {
      const c = chip(2);
      for (let i = 0; i < 6; i++) c.boot();
      assert.equal(c.boot().safeMode, true);
      assert.equal(c.boot().failedBefore, 7);
    });

    it("is never entered with safeModeAfterBoots 0", function () {
      const c = chip(0);
      for (let i = 0; i < 20; i++) assert.equal(c.boot().safeMode, false);
    });

    it("can be asked for by the server (reboot with safeMode): it lasts until the next restart, not until a stable connection", function () {
      const c = chip(5);
      c.boot().restarting("update firmware", true);
      const safe = c.boot();
      assert.equal(safe.safeMode, true);
      assert.equal(safe.safeModeCause, "requested");
      assert.equal(safe.rebootReason, "update firmware");
      assert.equal(safe.connectionStable(), false, "a stable connection does not end what the server asked for");
      // Power cycled: the request was for one boot.
      assert.equal(c.boot().safeMode, false);
    });

    it("is left by a reboot request: the next boot is normal whatever the count", function () {
      const c = chip(1);
      c.boot();
      const safe = c.boot();
      assert.equal(safe.safeMode, true);
      safe.restarting("leave safe mode", false);
      assert.equal(c.boot().safeMode, false);
    });
  });

  describe("how a run ends", function () {
    it("a clean stop (the desktop's Ctrl-C) does not count as a failed boot, and says the run ended cleanly", function () {
      const c = chip(2);
      for (let i = 0; i < 5; i++) {
        const health = c.boot();
        assert.equal(health.safeMode, false, `boot ${i + 1}`);
        health.stopped();
      }
      assert.equal(c.boot().previousRunClean, true);
      assert.equal(c.boot().previousRunClean, false, "the one before was not stopped");
    });

    it("a requested reboot records its reason for the next boot only", function () {
      const c = chip();
      c.boot().restarting("config update", false);
      const next = c.boot();
      assert.equal(next.rebootReason, "config update");
      assert.equal(next.previousRunClean, true);
      assert.equal(c.boot().rebootReason, undefined);
    });

    it("a stable connection resets the count before a crash", function () {
      const c = chip(2);
      c.boot();
      c.boot().connectionStable();
      assert.equal(c.boot().failedBefore, 0);
    });
  });

  it("starts counting afresh from a damaged boot record, logged, and overwrites it", function () {
    const c = chip();
    for (const damaged of ["{not json", '{"boots":"many","failed":0,"clean":true}', "[1,2]", '{"boots":3,"failed":-1,"clean":false}']) {
      c.storage.set(HEALTH_STORAGE.domain, HEALTH_STORAGE.key, damaged);
      const health = c.boot();
      assert.equal(health.boots, 1, damaged);
      assert.equal(health.safeMode, false);
    }
    assert.equal(c.events("health_record_corrupt").length, 4);
    assert.equal(c.boot().boots, 2, "the record was rewritten whole");
  });

  it("keeps the device up when storage refuses to write", function () {
    const logs: string[] = [];
    const storage = new MemoryStorage();
    storage.set = () => {
      throw new Error("NVS full");
    };
    const health = new Health({ storage, log: (_level, event) => logs.push(event), safeModeAfterBoots: 5 });
    assert.equal(health.boots, 1);
    health.connectionStable();
    health.stopped();
    assert.equal(logs.filter((event) => event === "health_record_not_saved").length, 3, "at boot, when stable, at the stop");
  });
});

describe("reset reasons", function () {
  it("name ESP-IDF's esp_reset_reason_t numbers as the SDK's resetReason module lists them", function () {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(espResetReason),
      ["unknown", "power_on", "external", "software", "panic", "interrupt_watchdog", "watchdog", "other_watchdog", "deep_sleep", "brownout", "sdio"],
    );
    for (const bad of [-1, 11, 1.5, "1", undefined, null]) assert.equal(espResetReason(bad), "unknown");
    assert.ok(RESET_REASONS.includes(ResetReason.KILLED), "the desktop's own");
  });
});
