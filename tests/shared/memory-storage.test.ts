/**
 * In-memory storage with the ESP32's NVS limits: what a test stores here would also fit on
 * the chip, and what would not fit fails here with an error naming the key and the limit.
 */
import assert from "node:assert/strict";
import {
  checkStorageName,
  checkStorageValue,
  MAX_STORAGE_VALUE_BYTES,
  MemoryStorage,
  NVS_MAX_NAME_CHARS,
  NVS_MAX_VALUE_BYTES,
} from "../../src/shared/memory-storage.js";

const invalid = (pattern: RegExp) => (error: Error & { code?: string }) => {
  assert.equal(error.code, "ERR_INVALID_ARGUMENT");
  assert.match(error.message, pattern);
  return true;
};

describe("MemoryStorage", () => {
  it("gets what was set, per domain and key, and undefined for what was not", () => {
    const storage = new MemoryStorage();
    storage.set("wifi", "networks", "[]");
    storage.set("app", "networks", "other");
    assert.equal(storage.get("wifi", "networks"), "[]");
    assert.equal(storage.get("app", "networks"), "other");
    assert.equal(storage.get("wifi", "missing"), undefined);
    assert.equal(storage.get("nothing", "here"), undefined);
  });

  it("replaces a value, deletes keys, lists keys", () => {
    const storage = new MemoryStorage();
    storage.set("app", "a", "1");
    storage.set("app", "a", "2");
    storage.set("app", "b", "3");
    assert.deepEqual(storage.keys("app"), ["a", "b"]);
    storage.delete("app", "a");
    storage.delete("app", "a");
    storage.delete("none", "a");
    assert.equal(storage.get("app", "a"), undefined);
    assert.deepEqual(storage.keys("app"), ["b"]);
    assert.deepEqual(storage.keys("none"), []);
  });

  it("enforces NVS's name limits on every operation", () => {
    const storage = new MemoryStorage();
    const long = "k".repeat(NVS_MAX_NAME_CHARS + 1);
    assert.throws(() => storage.set("app", long, "v"), invalid(/storage key "k{16}" is 16 characters; NVS allows at most 15/));
    assert.throws(() => storage.get(long, "k"), invalid(/storage domain .* at most 15/));
    assert.throws(() => storage.delete("app", long), invalid(/at most 15/));
    assert.throws(() => storage.set("app", "tab\there", "v"), invalid(/printable ASCII/));
    storage.set("d".repeat(15), "k".repeat(15), "fits");
  });

  it("enforces NVS's value limit: 4000 bytes with the terminating NUL", () => {
    assert.equal(NVS_MAX_VALUE_BYTES, 4_000);
    assert.equal(MAX_STORAGE_VALUE_BYTES, 3_999);
    const storage = new MemoryStorage();
    storage.set("app", "k", "a".repeat(3_999));
    assert.throws(() => storage.set("app", "k", "a".repeat(4_000)), invalid(/app\/k is 4000 bytes; NVS stores at most 3999/));
    assert.throws(() => storage.set("app", "k", "\u{1F600}".repeat(1_000)), invalid(/is 4000 bytes/));
    assert.throws(() => storage.set("app", "k", "nul\u0000inside"), invalid(/NUL/));
    assert.equal(storage.get("app", "k")!.length, 3_999, "a refused value leaves the old one");
  });

  it("exports its checks for other storages (the desktop's file storage uses them)", () => {
    assert.throws(() => checkStorageName("key", 7), invalid(/storage key must be a non-empty string, got number/));
    assert.throws(() => checkStorageValue("d", "k", undefined), invalid(/storage value of d\/k must be a string, got undefined/));
    checkStorageName("domain", "wifi");
    checkStorageValue("wifi", "networks", "[]");
  });
});
