/**
 * src/device/settings.ts: a schema of settings, validated on every set(), persisted as one JSON
 * object, with stored values over build config over defaults, and corrupt storage survived.
 */
import assert from "node:assert/strict";
import { RequestError, WebSocketError } from "../../src/shared/errors.js";
import type { LogLevel } from "../../src/shared/host.js";
import {
  DEVICE_SETTINGS,
  MAX_STORED_SETTINGS_BYTES,
  SETTINGS_STORAGE,
  Settings,
  type SettingSpecs,
} from "../../src/device/settings.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";

const SPECS = {
  telemetryIntervalMs: DEVICE_SETTINGS.telemetryIntervalMs,
  ledOn: { type: "boolean", default: false, description: "the status LED is lit" },
  label: { type: "string", maxLength: 8, default: "", description: "a name shown to people" },
} as const satisfies SettingSpecs;

interface LogLine {
  level: LogLevel;
  event: string;
  fields?: Record<string, unknown>;
}

/** MemoryStorage (NVS's limits) that counts writes and can fail them, as a full NVS does. */
class TestStorage extends MemoryStorage {
  writes = 0;
  failWrites = false;
  override set(domain: string, key: string, value: string): void {
    if (this.failWrites) throw new Error("storage full");
    super.set(domain, key, value);
    this.writes++;
  }
}

function setup(initial?: Record<string, unknown>, storage = new TestStorage()) {
  const logs: LogLine[] = [];
  const settings = new Settings({
    storage,
    specs: SPECS,
    initial,
    log: (level, event, fields) => logs.push({ level, event, fields }),
  });
  return { settings, storage, logs };
}

function badRequest(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RequestError, `a RequestError, got ${String(error)}`);
    assert.equal(error.code, "bad_request");
    assert.match(error.message, pattern);
    return true;
  };
}

describe("Settings", () => {
  describe("DEVICE_SETTINGS", () => {
    it("has telemetryIntervalMs: an integer from 1 s to 1 day, 10 s by default", () => {
      assert.deepEqual(
        { ...DEVICE_SETTINGS.telemetryIntervalMs, description: undefined },
        { type: "integer", min: 1000, max: 86_400_000, default: 10_000, description: undefined },
      );
      assert.ok(DEVICE_SETTINGS.telemetryIntervalMs.description.length > 0);
    });
  });

  describe("values", () => {
    it("start at the defaults", () => {
      const { settings } = setup();
      assert.deepEqual(settings.all(), { telemetryIntervalMs: 10_000, ledOn: false, label: "" });
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
    });

    it("set() returns the value and get() sees it", () => {
      const { settings } = setup();
      assert.equal(settings.set("telemetryIntervalMs", 5000), 5000);
      assert.equal(settings.set("ledOn", true), true);
      assert.equal(settings.set("label", "kitchen"), "kitchen");
      assert.deepEqual(settings.all(), { telemetryIntervalMs: 5000, ledOn: true, label: "kitchen" });
    });

    it("all() is a copy", () => {
      const { settings } = setup();
      settings.all().telemetryIntervalMs = 1;
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
    });

    it("an unknown key is a bad_request naming the key", () => {
      const { settings } = setup();
      assert.throws(() => settings.get("volume"), badRequest(/unknown setting "volume"/));
      assert.throws(() => settings.set("volume", 3), badRequest(/unknown setting "volume"/));
      assert.throws(() => settings.get("__proto__"), badRequest(/unknown setting/));
      assert.throws(() => settings.get("toString"), badRequest(/unknown setting/));
    });
  });

  describe("validation: a bad_request naming the key and the constraint", () => {
    const cases: [string, unknown, RegExp][] = [
      ["telemetryIntervalMs", 999, /telemetryIntervalMs must be an integer from 1000 to 86400000, got 999/],
      ["telemetryIntervalMs", 86_400_001, /from 1000 to 86400000/],
      ["telemetryIntervalMs", 1500.5, /must be an integer/],
      ["telemetryIntervalMs", "5000", /must be an integer.*got "5000"/],
      ["telemetryIntervalMs", null, /must be an integer/],
      ["telemetryIntervalMs", NaN, /must be an integer/],
      ["ledOn", "true", /ledOn must be true or false/],
      ["ledOn", 1, /ledOn must be true or false/],
      ["label", "much too long", /label must be a string of at most 8 characters/],
      ["label", 12, /label must be a string/],
    ];
    for (const [key, value, pattern] of cases) {
      it(`${key} = ${JSON.stringify(value) ?? String(value)}`, () => {
        const { settings, storage } = setup();
        const before = settings.get(key);
        assert.throws(() => settings.set(key, value), badRequest(pattern));
        assert.equal(settings.get(key), before);
        assert.equal(storage.writes, 0);
      });
    }

    it("accepts both ends of a range", () => {
      const { settings } = setup();
      assert.equal(settings.set("telemetryIntervalMs", 1000), 1000);
      assert.equal(settings.set("telemetryIntervalMs", 86_400_000), 86_400_000);
    });
  });

  describe("persistence", () => {
    it("stores one JSON object under settings/values holding only what was set", () => {
      const { settings, storage } = setup();
      settings.set("telemetryIntervalMs", 2000);
      settings.set("label", "hall");
      assert.equal(SETTINGS_STORAGE.domain, "settings");
      assert.equal(SETTINGS_STORAGE.key, "values");
      assert.deepEqual(JSON.parse(storage.get("settings", "values") as string), {
        telemetryIntervalMs: 2000,
        label: "hall",
      });
      assert.deepEqual(storage.keys("settings"), ["values"]);
    });

    it("a new Settings over the same storage sees the stored values", () => {
      const { settings, storage } = setup();
      settings.set("telemetryIntervalMs", 2000);
      const again = setup(undefined, storage).settings;
      assert.equal(again.get("telemetryIntervalMs"), 2000);
      assert.equal(again.get("ledOn"), false);
    });

    it("when storage fails, the error propagates and nothing changes", () => {
      const { settings, storage } = setup();
      const heard: unknown[] = [];
      settings.onChange((key) => heard.push(key));
      storage.failWrites = true;
      assert.throws(() => settings.set("telemetryIntervalMs", 2000), /storage full/);
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
      assert.deepEqual(heard, []);
    });

    it("refuses a value that would make the stored object exceed what NVS holds (3999 bytes)", () => {
      assert.equal(MAX_STORED_SETTINGS_BYTES, 3999);
      const storage = new TestStorage();
      const specs = {
        a: { type: "string", maxLength: 3000, default: "", description: "a" },
        b: { type: "string", maxLength: 3000, default: "", description: "b" },
      } as const satisfies SettingSpecs;
      const settings = new Settings({ storage, specs });
      settings.set("a", "x".repeat(2500));
      assert.throws(() => settings.set("b", "y".repeat(2500)), badRequest(/b: .*more than the 3999/));
      assert.equal(settings.get("b"), "");
    });
  });

  describe("precedence: stored > build config > default", () => {
    it("the build config overrides the default", () => {
      const { settings } = setup({ telemetryIntervalMs: 30_000, ledOn: true });
      assert.equal(settings.get("telemetryIntervalMs"), 30_000);
      assert.equal(settings.get("ledOn"), true);
      assert.equal(settings.get("label"), "");
    });

    it("a stored value overrides the build config", () => {
      const storage = new TestStorage();
      setup(undefined, storage).settings.set("telemetryIntervalMs", 2000);
      const { settings } = setup({ telemetryIntervalMs: 30_000 }, storage);
      assert.equal(settings.get("telemetryIntervalMs"), 2000);
    });

    it("reads mcconfig's command-line strings per the schema", () => {
      const { settings } = setup({ telemetryIntervalMs: "5000", ledOn: "true", label: "42" });
      assert.equal(settings.get("telemetryIntervalMs"), 5000);
      assert.equal(settings.get("ledOn"), true);
      assert.equal(settings.get("label"), "42");
      assert.equal(setup({ ledOn: "0" }).settings.get("ledOn"), false);
    });

    it("ignores a build-config value that does not fit, with a log line naming the key", () => {
      const { settings, logs } = setup({ telemetryIntervalMs: "fast", ledOn: "maybe" });
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
      assert.equal(settings.get("ledOn"), false);
      const keys = logs.filter((l) => l.event === "setting_config_ignored").map((l) => l.fields?.key);
      assert.deepEqual(keys, ["telemetryIntervalMs", "ledOn"]);
    });

    it("takes an undefined build-config value as not configured, silently", () => {
      const { settings, logs } = setup({ telemetryIntervalMs: undefined });
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
      assert.deepEqual(logs, []);
    });

    it("ignores build-config keys outside the schema without logging them (they may be secrets)", () => {
      const { logs } = setup({ ssid: "home", password: "hunter2" });
      assert.equal(JSON.stringify(logs).includes("hunter2"), false);
      assert.deepEqual(logs, []);
    });
  });

  describe("corrupt storage is ignored with a log line", () => {
    for (const text of ["not json", "[1,2]", "42", "null", '"text"', "{", "x".repeat(5000)]) {
      it(`stored ${JSON.stringify(text.slice(0, 12))}: defaults, one settings_corrupt line`, () => {
        const storage = new TestStorage();
        // Planted behind the storage's checks: a file host could hand back anything.
        storage.get = (domain, key) => (domain === "settings" && key === "values" ? text : undefined);
        const { settings, logs } = setup({ ledOn: true }, storage);
        assert.deepEqual(settings.all(), { telemetryIntervalMs: 10_000, ledOn: true, label: "" });
        assert.deepEqual(logs.map((l) => l.event), ["settings_corrupt"]);
      });
    }

    it("a stored value that no longer fits the schema is ignored on its own", () => {
      const storage = new TestStorage();
      storage.set("settings", "values", JSON.stringify({ telemetryIntervalMs: 5, ledOn: true, gone: 1 }));
      const { settings, logs } = setup(undefined, storage);
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
      assert.equal(settings.get("ledOn"), true);
      assert.deepEqual(
        logs.map((l) => [l.event, l.fields?.key]),
        [["setting_stored_ignored", "telemetryIntervalMs"], ["setting_stored_ignored", "gone"]],
      );
    });

    it("a set() afterwards rewrites the object with valid values only", () => {
      const storage = new TestStorage();
      storage.set("settings", "values", JSON.stringify({ telemetryIntervalMs: 5, ledOn: true }));
      setup(undefined, storage).settings.set("label", "a");
      assert.deepEqual(JSON.parse(storage.get("settings", "values") as string), { ledOn: true, label: "a" });
    });

    it("a storage that throws on read leaves the defaults", () => {
      const storage = new TestStorage();
      storage.get = () => { throw new Error("nvs broken"); };
      const { settings, logs } = setup(undefined, storage);
      assert.equal(settings.get("telemetryIntervalMs"), 10_000);
      assert.deepEqual(logs.map((l) => l.event), ["settings_read_failed"]);
    });
  });

  describe("onChange", () => {
    it("tells listeners the key, the new value and the previous one, only on a change", () => {
      const { settings } = setup();
      const heard: unknown[] = [];
      settings.onChange((key, value, previous) => heard.push([key, value, previous]));
      settings.set("telemetryIntervalMs", 2000);
      settings.set("telemetryIntervalMs", 2000);
      settings.set("ledOn", true);
      assert.deepEqual(heard, [["telemetryIntervalMs", 2000, 10_000], ["ledOn", true, false]]);
    });

    it("unsubscribes", () => {
      const { settings } = setup();
      let calls = 0;
      const off = settings.onChange(() => calls++);
      settings.set("ledOn", true);
      off();
      settings.set("ledOn", false);
      assert.equal(calls, 1);
    });

    it("a listener that throws is logged; the value is set and other listeners still hear", () => {
      const { settings, logs } = setup();
      let heard = 0;
      settings.onChange(() => { throw new Error("boom"); });
      settings.onChange(() => heard++);
      assert.equal(settings.set("ledOn", true), true);
      assert.equal(heard, 1);
      assert.ok(logs.some((l) => l.event === "settings_listener_failed"));
    });

    it("never logs a string setting's value", () => {
      const { settings, logs } = setup();
      settings.set("label", "secret1");
      assert.equal(JSON.stringify(logs).includes("secret1"), false);
      assert.ok(logs.some((l) => l.event === "setting_changed" && l.fields?.key === "label"));
    });
  });

  describe("the schema itself is checked at construction", () => {
    const bad: [string, SettingSpecs, RegExp][] = [
      ["a default outside the range", { n: { type: "integer", min: 1, max: 5, default: 9, description: "" } }, /specs\.n\.default/],
      ["min above max", { n: { type: "integer", min: 5, max: 1, default: 3, description: "" } }, /specs\.n\.min\/max/],
      ["a default too long", { s: { type: "string", maxLength: 2, default: "abc", description: "" } }, /specs\.s\.default/],
      ["an unknown type", { x: { type: "float", default: 1, description: "" } as unknown as SettingSpecs[string] }, /specs\.x\.type/],
    ];
    for (const [what, specs, pattern] of bad) {
      it(`refuses ${what}`, () => {
        assert.throws(
          () => new Settings({ storage: new TestStorage(), specs }),
          (error: unknown) => error instanceof WebSocketError && error.code === "ERR_INVALID_OPTION" && pattern.test(error.message),
        );
      });
    }
  });
});
