/**
 * Storage over a JSON file, on real files under the OS's temporary folder: created on the
 * first write, read back by a new instance, written atomically (a failed write leaves the old
 * file and the values in memory as they were), a corrupt file reported once and replaced, and
 * the ESP32's NVS limits enforced so the desktop fails where the chip would.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Log } from "../../../src/shared/host.js";
import { loadNetworks, saveNetwork } from "../../../src/device/wifi.js";
import { FileStorage } from "../../../hosts/node/file-storage.js";

describe("FileStorage", () => {
  let folder: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-storage-"));
  });
  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  const capture = () => {
    const events: Array<{ level: string; event: string; fields: Record<string, unknown> }> = [];
    const log: Log = (level, event, fields) => events.push({ level, event, fields: fields ?? {} });
    return { events, log };
  };
  const invalid = (pattern: RegExp) => (error: Error & { code?: string }) => {
    assert.equal(error.code, "ERR_INVALID_ARGUMENT");
    assert.match(error.message, pattern);
    return true;
  };

  describe("persistence", () => {
    it("starts empty without a file and creates it (and its folder) on the first write", () => {
      const path = join(folder, "nested", "device", "storage.json");
      const storage = new FileStorage(path);
      assert.equal(storage.get("wifi", "networks"), undefined);
      assert.equal(existsSync(path), false, "reading creates nothing");
      storage.set("wifi", "networks", "[]");
      assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { wifi: { networks: "[]" } });
    });

    it("is read back by a new instance (the device restarting)", () => {
      const path = join(folder, "storage.json");
      const first = new FileStorage(path);
      first.set("wifi", "networks", "[1]");
      first.set("app", "interval", "5000");
      const second = new FileStorage(path);
      assert.equal(second.get("wifi", "networks"), "[1]");
      assert.equal(second.get("app", "interval"), "5000");
      assert.deepEqual(second.keys("app"), ["interval"]);
    });

    it("deletes a key, and a domain left empty, from the file", () => {
      const path = join(folder, "storage.json");
      const storage = new FileStorage(path);
      storage.set("app", "a", "1");
      storage.set("app", "b", "2");
      storage.delete("app", "a");
      assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { app: { b: "2" } });
      storage.delete("app", "b");
      assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), {});
      storage.delete("app", "never-set");
      assert.equal(new FileStorage(path).get("app", "b"), undefined);
    });

    it("deleting what is not there writes nothing", () => {
      const path = join(folder, "storage.json");
      new FileStorage(path).delete("app", "missing");
      assert.equal(existsSync(path), false);
    });

    it("keeps WiFi networks saved across restarts", () => {
      const path = join(folder, "storage.json");
      saveNetwork(new FileStorage(path), { ssid: "home", password: "pw-1" });
      saveNetwork(new FileStorage(path), { ssid: "office", password: "pw-2" });
      assert.deepEqual(loadNetworks({ ssid: "cfg" }, new FileStorage(path)), [
        { ssid: "cfg", password: "" },
        { ssid: "office", password: "pw-2" },
        { ssid: "home", password: "pw-1" },
      ]);
    });

    it("keeps the file private to its owner (it holds WiFi passwords)", function () {
      if (process.platform === "win32") this.skip();
      const path = join(folder, "storage.json");
      new FileStorage(path).set("wifi", "networks", "[]");
      assert.equal(statSync(path).mode & 0o777, 0o600);
    });
  });

  describe("atomic writes", () => {
    it("leaves no temporary file behind", () => {
      const path = join(folder, "storage.json");
      const storage = new FileStorage(path);
      for (let i = 0; i < 20; i++) storage.set("app", `k${i}`, String(i));
      assert.deepEqual(readdirSync(folder), ["storage.json"]);
    });

    it("when the new file cannot be written, the old file and the values in memory stay as they were", () => {
      // A 250-character name is legal, but the temporary file beside it (the name plus a
      // suffix) exceeds the 255-byte name limit, so every write fails before the rename
      // (this holds for root too, unlike a read-only folder).
      const path = join(folder, "s".repeat(250));
      const original = JSON.stringify({ wifi: { networks: "old" } });
      writeFileSync(path, original);
      const storage = new FileStorage(path);
      assert.equal(storage.get("wifi", "networks"), "old");
      assert.throws(() => storage.set("wifi", "networks", "new"), /cannot write storage file .*s{250}/);
      assert.throws(() => storage.set("wifi", "other", "x"), /cannot write storage file/);
      assert.throws(() => storage.delete("wifi", "networks"), /cannot write storage file/);
      assert.equal(readFileSync(path, "utf8"), original, "the old file is intact");
      assert.equal(storage.get("wifi", "networks"), "old", "memory matches the file");
      assert.equal(storage.get("wifi", "other"), undefined);
      assert.deepEqual(readdirSync(folder), ["s".repeat(250)], "no temporary file left");
    });

    it("replaces the file in one step: a reader sees the old content or the new, whole", () => {
      const path = join(folder, "storage.json");
      const storage = new FileStorage(path);
      const big = "x".repeat(3_000);
      for (let i = 0; i < 30; i++) {
        storage.set("app", `k${i % 5}`, big + i);
        // Every read of the file parses: never a half-written document.
        const parsed = JSON.parse(readFileSync(path, "utf8")) as { app: Record<string, string> };
        assert.equal(parsed.app[`k${i % 5}`], big + i);
      }
    });
  });

  describe("a corrupt file", () => {
    for (const [name, text] of [
      ["truncated JSON", '{"wifi": {"networks": "[{\\"ssid'],
      ["not an object", "[1, 2]"],
      ["a domain that is not an object", '{"wifi": "networks"}'],
      ["a value that is not a string", '{"wifi": {"networks": 5}}'],
      ["an empty file", ""],
    ] as const) {
      it(`(${name}): starts empty, warns once, and is replaced by the first write`, () => {
        const path = join(folder, "storage.json");
        writeFileSync(path, text);
        const { events, log } = capture();
        const storage = new FileStorage(path, { log });
        assert.equal(storage.get("wifi", "networks"), undefined);
        storage.get("wifi", "networks");
        assert.deepEqual(events.map((e) => [e.level, e.event, e.fields.path]), [["warn", "storage_file_corrupt", path]]);
        storage.set("app", "k", "v");
        assert.deepEqual(JSON.parse(readFileSync(path, "utf8")), { app: { k: "v" } });
        const { events: later, log: laterLog } = capture();
        new FileStorage(path, { log: laterLog });
        assert.deepEqual(later, [], "the rewritten file is sound");
      });
    }

    it("cut short (a file system that lost its tail): keeps every value whose line is whole, warns, and carries on", () => {
      const path = join(folder, "storage.json");
      const writer = new FileStorage(path);
      writer.set("settings", "values", '{"telemetryIntervalMs":2000}');
      writer.set("outbox", "s0", 'm1 1 b1 1 x\n1 abc {"seq":1,"note":"a \\"quoted\\" word"}');
      writer.set("outbox", "s1", "m1 2 b1 1 y\n2 def {}");
      writer.set("wifi", "networks", "[]");
      const whole = readFileSync(path, "utf8");
      // Cut in the middle of outbox/s1's line.
      writeFileSync(path, whole.slice(0, whole.indexOf("m1 2 b1") + 6));
      const { events, log } = capture();
      const storage = new FileStorage(path, { log });
      assert.equal(storage.get("settings", "values"), '{"telemetryIntervalMs":2000}');
      assert.equal(storage.get("outbox", "s0"), 'm1 1 b1 1 x\n1 abc {"seq":1,"note":"a \\"quoted\\" word"}');
      assert.equal(storage.get("outbox", "s1"), undefined, "its line was cut");
      assert.equal(storage.get("wifi", "networks"), undefined, "after the cut");
      assert.deepEqual(events.map((e) => [e.event, e.fields.action]), [["storage_file_corrupt", "kept the 2 values whose lines were whole"]]);
      storage.set("wifi", "networks", "[]");
      assert.deepEqual(Object.keys(JSON.parse(readFileSync(path, "utf8"))), ["settings", "outbox", "wifi"], "rewritten whole");
    });

    it("that cannot be read at all (a folder) throws a clear error instead of discarding it", () => {
      const path = join(folder, "storage.json");
      mkdirSync(path);
      assert.throws(() => new FileStorage(path), /cannot read storage file .*storage\.json/);
    });
  });

  describe("the ESP32's NVS limits", () => {
    let storage: FileStorage;
    beforeEach(() => {
      storage = new FileStorage(join(folder, "storage.json"));
    });

    it("accepts domain and key names of up to 15 characters", () => {
      storage.set("d".repeat(15), "k".repeat(15), "v");
      assert.equal(storage.get("d".repeat(15), "k".repeat(15)), "v");
    });

    it("refuses longer names, naming them and the limit", () => {
      assert.throws(() => storage.set("wifi", "saved_networks_x", "[]"), invalid(/storage key "saved_networks_x" is 16 characters; NVS allows at most 15/));
      assert.throws(() => storage.set("application_conf", "k", "v"), invalid(/storage domain "application_conf" is 16 characters; NVS allows at most 15/));
      assert.throws(() => storage.get("wifi", "saved_networks_x"), invalid(/at most 15/));
      assert.throws(() => storage.delete("wifi", "saved_networks_x"), invalid(/at most 15/));
    });

    it("refuses empty and non-ASCII names", () => {
      assert.throws(() => storage.set("", "k", "v"), invalid(/storage domain must be a non-empty string/));
      assert.throws(() => storage.set("wifi", "", "v"), invalid(/storage key must be a non-empty string/));
      assert.throws(() => storage.set("wifi", "réseau", "v"), invalid(/must be printable ASCII/));
    });

    it("accepts a value of 3999 UTF-8 bytes (4000 with NVS's NUL) and refuses one byte more", () => {
      storage.set("app", "big", "a".repeat(3_999));
      assert.equal(storage.get("app", "big")!.length, 3_999);
      assert.throws(
        () => storage.set("app", "big", "a".repeat(4_000)),
        invalid(/storage value of app\/big is 4000 bytes; NVS stores at most 3999 \(4000 with its terminating NUL\)/),
      );
    });

    it("counts the value in UTF-8 bytes, not characters", () => {
      assert.throws(() => storage.set("app", "big", "é".repeat(2_000)), invalid(/is 4000 bytes/));
      storage.set("app", "big", "é".repeat(1_999));
    });

    it("refuses a NUL inside a value (the chip would cut the string there)", () => {
      assert.throws(() => storage.set("app", "k", "a\u0000b"), invalid(/contains a NUL character/));
    });

    it("refuses a value that is not a string", () => {
      assert.throws(() => storage.set("app", "k", 5 as unknown as string), invalid(/must be a string, got number/));
    });

    it("never quotes the refused value (it may be a password)", () => {
      assert.throws(() => storage.set("wifi", "networks", "hunter2".repeat(600)), (error: Error) => {
        assert.ok(!error.message.includes("hunter2"));
        return true;
      });
    });

    it("a refused write changes neither memory nor the file", () => {
      storage.set("app", "k", "kept");
      assert.throws(() => storage.set("app", "k", "a".repeat(5_000)));
      assert.equal(storage.get("app", "k"), "kept");
      assert.equal(new FileStorage(join(folder, "storage.json")).get("app", "k"), "kept");
    });
  });
});
