/**
 * src/time/clock.ts: the lower bounds at boot (build time, the saved time), trust from the
 * system or from an NTP answer, the correction applied, and saves bounded in number.
 */
import assert from "node:assert/strict";

import type { LogLevel, Storage, WallClock } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { CLOCK_STORAGE, ClockService, SOURCE_DATE_MS, type ClockOptions } from "../../src/time/clock.js";
import type { SntpSample } from "../../src/time/sntp-client.js";
import { VirtualClock } from "../support/virtual-clock.js";

const HOUR = 3_600_000;
const BUILD = Date.UTC(2027, 0, 10);
const NOW = Date.UTC(2027, 2, 1, 8, 0, 0);

/** A chip's clock: reads `start` at boot and runs on the virtual clock; records every set(). */
function chipClock(timers: VirtualClock, start = 0, systemSynced = false): WallClock & { sets: number[] } {
  let offset = start - timers.now();
  const sets: number[] = [];
  return {
    sets,
    now: () => timers.now() + offset,
    set(ms) {
      sets.push(ms);
      offset = ms - timers.now();
    },
    systemSynced,
  };
}

/** Storage that counts writes. */
class CountingStorage extends MemoryStorage {
  writes = 0;
  override set(domain: string, key: string, value: string): void {
    this.writes++;
    super.set(domain, key, value);
  }
}

function setup(options: Partial<ClockOptions> & { start?: number; systemSynced?: boolean; storage?: Storage } = {}) {
  const timers = new VirtualClock();
  const wall = chipClock(timers, options.start ?? 0, options.systemSynced ?? false);
  const logs: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }> = [];
  let trustedCalls = 0;
  const clock = new ClockService({
    wallClock: wall,
    timers,
    storage: options.storage ?? new CountingStorage(),
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
    buildTimeMs: BUILD,
    onTrusted: () => trustedCalls++,
    ...options,
  });
  const sample = (timeMs: number, server = "ntp.example:123"): SntpSample => ({
    timeMs,
    monotonicMs: timers.now(),
    server,
    address: "10.0.0.1",
    stratum: 2,
    delayMs: 12,
  });
  return { timers, wall, clock, logs, sample, trustedCalls: () => trustedCalls, events: (name: string) => logs.filter((l) => l.event === name) };
}

describe("ClockService (src/time/clock.ts)", function () {
  describe("at boot", function () {
    it("moves a clock reading 1970 forward to the build time, untrusted, and says so", function () {
      const t = setup();
      assert.deepEqual(t.wall.sets, [BUILD]);
      assert.equal(t.clock.trusted, false);
      assert.equal(t.clock.now(), undefined, "no time while untrusted");
      assert.equal(t.clock.reads(), BUILD);
      assert.deepEqual(t.events("clock_restored")[0]!.fields, {
        from: "build",
        time: new Date(BUILD).toISOString(),
        was: "1970-01-01T00:00:00.000Z",
        hint: "a lower bound only: not trusted until an NTP server answers",
      });
    });

    it("takes the later of the build time and the saved time as its lower bound", function () {
      const storage = new MemoryStorage();
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, String(NOW));
      const t = setup({ storage });
      assert.equal(t.clock.lowerBound, NOW);
      assert.deepEqual(t.wall.sets, [NOW]);
      assert.equal(t.events("clock_restored")[0]!.fields.from, "storage");
      // A saved time older than the build is no bound at all.
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, String(BUILD - 1000));
      assert.equal(setup({ storage }).clock.lowerBound, BUILD);
    });

    it("never uses less than the source's own date, whatever build time it is given", function () {
      const t = setup({ buildTimeMs: 0 });
      assert.equal(t.clock.lowerBound, SOURCE_DATE_MS);
    });

    it("leaves a clock that reads later than the bound alone (an ESP32's clock survives a soft restart)", function () {
      const t = setup({ start: NOW });
      assert.deepEqual(t.wall.sets, []);
      assert.equal(t.events("clock_restored").length, 0);
      assert.equal(t.clock.trusted, false, "but it is not trusted either");
    });

    it("ignores an unreadable saved time, with a warning", function () {
      const storage = new MemoryStorage();
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, "yesterday");
      const t = setup({ storage });
      assert.equal(t.clock.lowerBound, BUILD);
      assert.equal(t.events("clock_saved_invalid").length, 1);
    });

    it("trusts a platform that keeps its clock in sync itself (source system), without touching it", function () {
      const t = setup({ start: NOW, systemSynced: true });
      assert.equal(t.clock.trusted, true);
      assert.equal(t.clock.now(), NOW);
      assert.deepEqual(t.wall.sets, []);
      const state = t.clock.state();
      assert.equal(state.source, "system");
      assert.equal(state.since, NOW);
      assert.equal(state.lastSync, null);
    });
  });

  describe("an NTP answer", function () {
    it("sets the clock to it (plus the time since it arrived), trusts it, and reports the correction", function () {
      const t = setup();
      const sample = t.sample(NOW);
      t.timers.advance(40);
      t.clock.synced(sample);
      assert.equal(t.wall.sets.at(-1), NOW + 40);
      assert.equal(t.clock.trusted, true);
      assert.equal(t.clock.now(), NOW + 40);
      assert.deepEqual(t.clock.state(), {
        trusted: true,
        source: "ntp",
        since: NOW + 40,
        lastSync: NOW + 40,
        offsetMs: NOW - BUILD,
        server: "ntp.example:123",
        lowerBound: BUILD,
      });
      assert.equal(t.trustedCalls(), 1);
      const synced = t.events("clock_synced")[0]!;
      assert.equal(synced.level, "info");
      assert.equal(synced.fields.offsetMs, NOW - BUILD);
    });

    it("keeps `since` at the first answer; later answers update lastSync and the offset, quietly", function () {
      const t = setup();
      t.clock.synced(t.sample(NOW));
      t.timers.advance(HOUR);
      t.clock.synced(t.sample(NOW + HOUR + 250, "other.example:123"));
      const state = t.clock.state();
      assert.equal(state.since, NOW);
      assert.equal(state.lastSync, NOW + HOUR + 250);
      assert.equal(state.offsetMs, 250);
      assert.equal(state.server, "other.example:123");
      assert.equal(t.trustedCalls(), 1, "trusted once");
      assert.equal(t.events("clock_synced")[1]!.level, "debug");
    });
  });

  describe("saving the last good time (flash wear)", function () {
    it("saves at the first answer, then only when the clock has moved saveIntervalMs from the saved time", function () {
      const storage = new CountingStorage();
      const t = setup({ storage });
      t.clock.synced(t.sample(NOW));
      assert.equal(storage.writes, 1);
      assert.equal(storage.get(CLOCK_STORAGE.domain, CLOCK_STORAGE.key), String(NOW));
      // Resyncs every 10 minutes for a day: one write an hour.
      for (let i = 1; i <= 144; i++) {
        t.timers.advance(HOUR / 6);
        t.clock.synced(t.sample(NOW + (i * HOUR) / 6));
      }
      assert.equal(storage.writes, 1 + 24);
    });

    it("does not write at boot after boot (a device rebooting in a loop does not wear the flash)", function () {
      const storage = new CountingStorage();
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, String(NOW));
      storage.writes = 0;
      for (let boot = 0; boot < 50; boot++) {
        const t = setup({ storage, start: 0 });
        t.clock.synced(t.sample(NOW + boot * 60_000));
      }
      assert.equal(storage.writes, 0, "every boot within the hour of the saved time");
    });

    it("overwrites a saved time far from the truth (a clock once set wrong), and survives a failing storage", function () {
      const storage = new CountingStorage();
      storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, String(Date.UTC(2040, 0, 1)));
      const t = setup({ storage });
      t.clock.synced(t.sample(NOW));
      assert.equal(storage.get(CLOCK_STORAGE.domain, CLOCK_STORAGE.key), String(NOW));
      const failing = new MemoryStorage();
      failing.set = () => {
        throw new Error("NVS full");
      };
      const f = setup({ storage: failing });
      f.clock.synced(f.sample(NOW));
      assert.equal(f.clock.trusted, true);
      assert.equal(f.events("clock_save_failed")[0]!.fields.error, "NVS full");
    });
  });
});
