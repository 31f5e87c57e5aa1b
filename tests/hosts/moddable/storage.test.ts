/**
 * The Moddable host's storage (hosts/moddable/storage.ts) over a Preference shaped like the
 * SDK's: NVS's limits are enforced before the SDK sees a value, with the errors MemoryStorage
 * gives, so the simulator's file refuses what the chip's NVS would.
 */
import assert from "node:assert/strict";
import { PreferenceStorage, type PreferenceApi } from "../../../hosts/moddable/storage.js";

function fakePreference() {
  const values = new Map<string, unknown>();
  const calls: string[] = [];
  const api: PreferenceApi = {
    get(domain, key) {
      calls.push(`get ${domain}/${key}`);
      return values.get(`${domain}/${key}`);
    },
    set(domain, key, value) {
      calls.push(`set ${domain}/${key}`);
      values.set(`${domain}/${key}`, value);
    },
    delete(domain, key) {
      calls.push(`delete ${domain}/${key}`);
      values.delete(`${domain}/${key}`);
    },
  };
  return { api, values, calls };
}

const invalid = (pattern: RegExp) => (error: Error & { code?: string }) => {
  assert.equal(error.code, "ERR_INVALID_ARGUMENT");
  assert.match(error.message, pattern);
  return true;
};

describe("Moddable host storage (hosts/moddable/storage.ts)", function () {
  it("sets, gets and deletes string values through Preference", function () {
    const fake = fakePreference();
    const storage = new PreferenceStorage(fake.api);
    storage.set("settings", "values", '{"a":1}');
    assert.equal(storage.get("settings", "values"), '{"a":1}');
    storage.delete("settings", "values");
    assert.equal(storage.get("settings", "values"), undefined);
    assert.deepEqual(fake.calls, ["set settings/values", "get settings/values", "delete settings/values", "get settings/values"]);
  });

  it("reads a value that is not a string (another firmware's) as absent", function () {
    const fake = fakePreference();
    fake.values.set("wifi/networks", 42);
    fake.values.set("wifi/flag", true);
    const storage = new PreferenceStorage(fake.api);
    assert.equal(storage.get("wifi", "networks"), undefined);
    assert.equal(storage.get("wifi", "flag"), undefined);
  });

  it("refuses NVS-invalid names before the SDK sees them", function () {
    const fake = fakePreference();
    const storage = new PreferenceStorage(fake.api);
    assert.throws(() => storage.set("a-domain-too-long", "k", "v"), invalid(/storage domain "a-domain-too-long" is 17 characters; NVS allows at most 15/));
    assert.throws(() => storage.get("wifi", ""), invalid(/storage key must be a non-empty string/));
    assert.throws(() => storage.delete("wifi", "caf\u00e9"), invalid(/printable ASCII/));
    assert.deepEqual(fake.calls, []);
  });

  it("refuses a value NVS cannot hold, naming the key and never the value", function () {
    const fake = fakePreference();
    const storage = new PreferenceStorage(fake.api);
    const secret = "p".repeat(4000);
    assert.throws(
      () => storage.set("wifi", "networks", secret),
      (error: Error & { code?: string }) => invalid(/storage value of wifi\/networks is 4000 bytes; NVS stores at most 3999/)(error) && !error.message.includes("pppp"),
    );
    assert.throws(() => storage.set("wifi", "networks", "a\u0000b"), invalid(/contains a NUL/));
    assert.deepEqual(fake.calls, []);
  });
});
