/**
 * src/auth/credentials.ts: what a device id and a bearer token may be, where provisioning
 * stores the token, which token wins at start, and the handshake headers they make. Errors
 * and log lines never show a token.
 */
import assert from "node:assert/strict";

import {
  AUTH_TOKEN_STORAGE,
  chooseAuthToken,
  checkAuthToken,
  clearAuthToken,
  credentialHeaders,
  DEVICE_ID_HEADER,
  isAuthToken,
  isDeviceId,
  isLoopbackHost,
  MAX_AUTH_TOKEN_CHARS,
  saveAuthToken,
  warnCleartextToken,
} from "../../src/auth/credentials.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { ErrorCode } from "../../src/shared/errors.js";
import type { LogLevel, Storage } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";

const SECRET = "s3cr3t-Token_value.~+/";

describe("device credentials (src/auth/credentials.ts)", function () {
  describe("isDeviceId", function () {
    it("accepts 1 to 64 letters, digits and ._:-", function () {
      for (const id of ["a", "sim-1", "esp32-a1:b2.c3_d4", "x".repeat(64)]) assert.equal(isDeviceId(id), true, id);
    });

    it("refuses anything else: empty, too long, spaces, slashes, control characters, non-strings", function () {
      for (const id of ["", "x".repeat(65), "a b", "a/b", "a\r\nb", "é", 7, null, undefined]) {
        assert.equal(isDeviceId(id), false, JSON.stringify(id));
      }
    });
  });

  describe("isAuthToken and checkAuthToken (RFC 6750 b64token)", function () {
    it("accepts what may follow 'Bearer ': letters, digits, -._~+/ then = padding", function () {
      for (const token of ["a", SECRET, "abc==", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "t".repeat(MAX_AUTH_TOKEN_CHARS)]) {
        assert.equal(isAuthToken(token), true, token);
      }
    });

    it("refuses empty, too long, spaces, = inside, commas, quotes, control characters, non-strings", function () {
      for (const token of ["", "t".repeat(MAX_AUTH_TOKEN_CHARS + 1), "a b", "a=b", "a,b", '"a"', "a\r\nX-Evil: 1", "tök", 5, null]) {
        assert.equal(isAuthToken(token), false, JSON.stringify(token));
      }
    });

    it("checkAuthToken returns a token or \"\", and its error hides the value", function () {
      assert.equal(checkAuthToken("config.authToken", ""), "");
      assert.equal(checkAuthToken("config.authToken", SECRET), SECRET);
      assert.throws(
        () => checkAuthToken("config.authToken", `${SECRET} with space`),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, ErrorCode.INVALID_OPTION);
          assert.match(error.message, /^option config\.authToken must be "" \(none\) or a bearer token: .*RFC 6750.*, got "\(hidden\)"$/);
          assert.ok(!error.message.includes("s3cr3t"));
          return true;
        },
      );
    });

    it("the build config refuses a token that could not be sent, without quoting it", function () {
      assert.throws(() => parseDeviceConfig({ authToken: "two words-s3cr3t" }), (error: Error) => {
        assert.match(error.message, /config\.authToken/);
        assert.ok(!error.message.includes("s3cr3t"));
        return true;
      });
      assert.equal(parseDeviceConfig({ authToken: SECRET }).authToken, SECRET);
    });
  });

  describe("storage (provisioning's side)", function () {
    it("saveAuthToken keeps the token under auth/token; clearAuthToken forgets it", function () {
      const storage = new MemoryStorage();
      saveAuthToken(storage, SECRET);
      assert.deepEqual(AUTH_TOKEN_STORAGE, { domain: "auth", key: "token" });
      assert.equal(storage.get("auth", "token"), SECRET);
      clearAuthToken(storage);
      assert.equal(storage.get("auth", "token"), undefined);
    });

    it("saveAuthToken refuses what is not a token, without quoting it, and stores nothing", function () {
      const storage = new MemoryStorage();
      assert.throws(() => saveAuthToken(storage, "bad token s3cr3t"), (error: Error & { code?: string }) => {
        assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
        assert.ok(!error.message.includes("s3cr3t"));
        return true;
      });
      assert.equal(storage.get("auth", "token"), undefined);
    });
  });

  describe("chooseAuthToken: explicit, then stored, then the build config", function () {
    function choose(configToken: string, explicit: boolean, stored: string | undefined, storage?: Storage) {
      const logs: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }> = [];
      const store = storage ?? new MemoryStorage();
      if (stored !== undefined) store.set("auth", "token", stored);
      const choice = chooseAuthToken({ configToken, explicit, storage: store, log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }) });
      assert.ok(!JSON.stringify(logs).includes("tok-"), "no token in the log");
      return { choice, logs };
    }

    it("follows the order, naming what each choice overrides", function () {
      const cases: Array<[string, boolean, string | undefined, string, string, unknown]> = [
        ["tok-config", false, undefined, "tok-config", "config", undefined],
        ["tok-config", false, "tok-stored", "tok-stored", "stored", ["config"]],
        ["", false, "tok-stored", "tok-stored", "stored", undefined],
        ["tok-flag", true, "tok-stored", "tok-flag", "explicit", ["stored"]],
        ["tok-flag", true, undefined, "tok-flag", "explicit", undefined],
        ["", true, "tok-stored", "", "explicit", ["stored"]],
        ["", false, undefined, "", "none", undefined],
      ];
      for (const [configToken, explicit, stored, token, source, overrides] of cases) {
        const { choice, logs } = choose(configToken, explicit, stored);
        const what = JSON.stringify({ configToken, explicit, stored });
        assert.deepEqual(choice, { token, source }, what);
        assert.deepEqual(logs, [{ level: "info", event: "auth_token", fields: overrides ? { source, overrides } : { source } }], what);
      }
    });

    it("a storage that cannot be read: a warning, and the build config's token", function () {
      const broken: Storage = {
        get: () => {
          throw new Error("flash read failed");
        },
        set: () => {},
        delete: () => {},
      };
      const { choice, logs } = choose("tok-config", false, undefined, broken);
      assert.deepEqual(choice, { token: "tok-config", source: "config" });
      assert.equal(logs[0]!.event, "auth_token_unreadable");
      assert.equal(logs[0]!.level, "warn");
    });
  });

  describe("warnCleartextToken", function () {
    it("warns once when a token would cross a network over ws://, naming the host, never the token", function () {
      const warnings: Array<[LogLevel, string, Record<string, unknown> | undefined]> = [];
      const log = (level: LogLevel, event: string, fields?: Record<string, unknown>) => warnings.push([level, event, fields]);
      warnCleartextToken({ secure: false, host: "iot.example" }, SECRET, log);
      assert.equal(warnings.length, 1);
      assert.deepEqual(warnings[0]!.slice(0, 2), ["warn", "auth_token_cleartext"]);
      assert.equal(warnings[0]![2]!.host, "iot.example");
      assert.ok(!JSON.stringify(warnings).includes(SECRET));
      warnCleartextToken({ secure: true, host: "iot.example" }, SECRET, log);
      warnCleartextToken({ secure: false, host: "iot.example" }, "", log);
      for (const host of ["127.0.0.1", "127.9.8.7", "::1", "localhost"]) warnCleartextToken({ secure: false, host }, SECRET, log);
      assert.equal(warnings.length, 1, "not over wss://, not without a token, not to this machine");
    });

    it("isLoopbackHost", function () {
      assert.deepEqual(["127.0.0.1", "::1", "localhost", "192.168.1.2", "0.0.0.0", "::", "localhost.example", "127.0.0.1.example"].map(isLoopbackHost), [true, true, true, false, false, false, false, false]);
    });
  });

  describe("credentialHeaders", function () {
    it("Authorization with the token, then the device id; no Authorization without a token", function () {
      assert.equal(DEVICE_ID_HEADER, "Moorline-Device");
      assert.deepEqual(credentialHeaders("sim-1", "abc"), [
        ["Authorization", "Bearer abc"],
        ["Moorline-Device", "sim-1"],
      ]);
      assert.deepEqual(credentialHeaders("sim-1", ""), [["Moorline-Device", "sim-1"]]);
    });
  });
});
