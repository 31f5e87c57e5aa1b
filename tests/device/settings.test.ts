/**
 * src/device/settings.ts: a schema of settings, validated on every set(), persisted as one JSON
 * object, with explicit start values over stored values over build config over defaults (each
 * override logged), and corrupt storage survived.
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
        { type: "integer", min: 1000, max: 86_400_000, unit: "milliseconds", default: 10_000, description: undefined },
      );
      assert.ok(DEVICE_SETTINGS.telemetryIntervalMs.description.length > 0);
    });

    it("is frozen, as every constant table (on the ESP32 it lives in flash)", () => {
      assert.ok(Object.isFrozen(DEVICE_SETTINGS));
      assert.ok(Object.isFrozen(DEVICE_SETTINGS.telemetryIntervalMs));
      assert.ok(Object.isFrozen(SETTINGS_STORAGE));
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
      ["telemetryIntervalMs", 999, /^option telemetryIntervalMs must be an integer from 1000 to 86400000 \(milliseconds\), got 999$/],
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

  describe("precedence: stored > build config > default (at start: explicit > stored)", () => {
    it("the build config overrides the default", () => {
      const { settings } = setup({ telemetryIntervalMs: 30_000, ledOn: true });
      assert.equal(settings.get("telemetryIntervalMs"), 30_000);
      assert.equal(settings.get("ledOn"), true);
      assert.equal(settings.get("label"), "");
    });

    it("a stored value overrides the build config, saying so in one line per setting", () => {
      const storage = new TestStorage();
      const first = setup(undefined, storage).settings;
      first.set("telemetryIntervalMs", 2000);
      first.set("label", "secret2");
      const { settings, logs } = setup({ telemetryIntervalMs: 30_000 }, storage);
      assert.equal(settings.get("telemetryIntervalMs"), 2000);
      assert.equal(settings.get("label"), "secret2");
      assert.deepEqual(
        logs.map((l) => [l.level, l.event, l.fields]),
        [
          ["info", "setting_stored", { key: "telemetryIntervalMs", value: 2000, build: 30_000 }],
          ["info", "setting_stored", { key: "label" }],
        ],
        "a string setting's line names the key only",
      );
    });

    describe("a value given explicitly at start (a command-line flag)", () => {
      function stored(values: Record<string, unknown>): TestStorage {
        const storage = new TestStorage();
        storage.set(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key, JSON.stringify(values));
        return storage;
      }
      function withExplicit(initial: Record<string, unknown>, explicit: readonly string[], storage: TestStorage) {
        const logs: LogLine[] = [];
        const settings = new Settings({
          storage,
          specs: SPECS,
          initial,
          explicit,
          log: (level, event, fields) => logs.push({ level, event, fields }),
        });
        return { settings, logs };
      }

      it("a value given explicitly at start wins over a stored one, for this run, in one line", () => {
        const storage = stored({ telemetryIntervalMs: 2000 });
        const { settings, logs } = withExplicit({ telemetryIntervalMs: "7000" }, ["telemetryIntervalMs"], storage);
        assert.equal(settings.get("telemetryIntervalMs"), 7000);
        assert.deepEqual(
          logs.map((l) => [l.level, l.event, l.fields]),
          [["info", "setting_explicit", { key: "telemetryIntervalMs", value: 7000, stored: 2000 }]],
        );
        // The stored value stays stored: without the flag, the next start uses it again.
        assert.deepEqual(JSON.parse(storage.get(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key)!), { telemetryIntervalMs: 2000 });
        settings.set("ledOn", true);
        assert.deepEqual(JSON.parse(storage.get(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key)!), { telemetryIntervalMs: 2000, ledOn: true });
        assert.equal(setup({ telemetryIntervalMs: 7000 }, storage).settings.get("telemetryIntervalMs"), 2000);
      });

      it("a set() at run time still wins over the explicit value, and is stored", () => {
        const storage = stored({ telemetryIntervalMs: 2000 });
        const { settings } = withExplicit({ telemetryIntervalMs: 7000 }, ["telemetryIntervalMs"], storage);
        settings.set("telemetryIntervalMs", 3000);
        assert.equal(settings.get("telemetryIntervalMs"), 3000);
        assert.equal(setup(undefined, storage).settings.get("telemetryIntervalMs"), 3000);
      });

      it("only the keys named explicit: the others' stored values still win over the build config", () => {
        const storage = stored({ telemetryIntervalMs: 2000, ledOn: true });
        const { settings, logs } = withExplicit({ telemetryIntervalMs: 7000, ledOn: false }, ["telemetryIntervalMs", "url"], storage);
        assert.deepEqual([settings.get("telemetryIntervalMs"), settings.get("ledOn")], [7000, true]);
        assert.deepEqual(logs.map((l) => [l.event, l.fields?.key]), [["setting_explicit", "telemetryIntervalMs"], ["setting_stored", "ledOn"]]);
      });

      it("an explicit value that does not fit is ignored as any build value: the stored one applies", () => {
        const storage = stored({ telemetryIntervalMs: 2000 });
        const { settings, logs } = withExplicit({ telemetryIntervalMs: "fast" }, ["telemetryIntervalMs"], storage);
        assert.equal(settings.get("telemetryIntervalMs"), 2000);
        assert.deepEqual(logs.map((l) => l.event), ["setting_config_ignored", "setting_stored"]);
      });

      it("with nothing stored, an explicit value is simply the value, without a line", () => {
        const { settings, logs } = withExplicit({ telemetryIntervalMs: 7000 }, ["telemetryIntervalMs"], new TestStorage());
        assert.equal(settings.get("telemetryIntervalMs"), 7000);
        assert.deepEqual(logs, []);
      });

      it("refuses an explicit option that is not a bounded list of keys", () => {
        for (const [explicit, pattern] of [
          ["telemetryIntervalMs", /option explicit must be an array/],
          [new Array(65).fill("a"), /option explicit must be an array of at most 64 setting keys/],
          [[5], /option explicit\[0\] must be a string/],
        ] as const) {
          assert.throws(
            () => new Settings({ storage: new TestStorage(), specs: SPECS, explicit: explicit as unknown as string[] }),
            (error: unknown) => error instanceof WebSocketError && error.code === "ERR_INVALID_OPTION" && pattern.test(error.message),
          );
        }
      });
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
        [["setting_stored_ignored", "telemetryIntervalMs"], ["setting_stored", "ledOn"], ["setting_stored_ignored", "gone"]],
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
      ["min above max", { n: { type: "integer", min: 5, max: 1, default: 3, description: "" } }, /specs\.n\.max must be an integer from 5/],
      ["a fractional min", { n: { type: "integer", min: 0.5, max: 1, default: 1, description: "" } }, /specs\.n\.min must be an integer/],
      ["a negative maxLength", { s: { type: "string", maxLength: -1, default: "", description: "" } }, /specs\.s\.maxLength must be an integer from 0 to 3999 \(characters\)/],
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
