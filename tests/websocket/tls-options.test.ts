/**
 * src/websocket/tls-options.ts, the one validator of TLS settings: the client's `tls`
 * option and the build configuration's ca, pins and insecure keys get the same rules and
 * errors that name the option as the caller spells it.
 */
import assert from "node:assert/strict";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import {
  checkCa,
  checkPins,
  checkTlsSettings,
  MAX_CA_LENGTH,
  MAX_TLS_PINS,
  resolveTls,
  TLS_PIN,
} from "../../src/websocket/tls-options.js";
import { parseWebSocketUrl } from "../../src/websocket/url.js";

const WSS = parseWebSocketUrl("wss://iot.example:8443/");
const WS = parseWebSocketUrl("ws://iot.example/");
const PIN = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
const OTHER_PIN = "Ip8lu3bJj4a9x+3nY5jpQl3Zf2dl8Gm/QJbqQa3kxWQ=";

/** Asserts an ERR_INVALID_OPTION error whose message matches. */
function refused(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof WebSocketError, String(error));
    assert.equal(error.code, ErrorCode.INVALID_OPTION);
    assert.match(error.message, message);
    return true;
  });
}

describe("tls-options", () => {
  describe("resolveTls (the client's tls option)", () => {
    it("gives wss:// the URL's host as the server name, and ws:// nothing", () => {
      assert.deepEqual(resolveTls(undefined, WSS), { serverName: "iot.example" });
      assert.equal(resolveTls(undefined, WS), undefined);
    });

    it("passes ca, pins and insecure on to the host's TLS socket", () => {
      assert.deepEqual(resolveTls({ ca: "my-ca", pins: [PIN, OTHER_PIN] }, WSS), { serverName: "iot.example", ca: "my-ca", pins: [PIN, OTHER_PIN] });
      assert.deepEqual(resolveTls({ insecure: true }, WSS), { serverName: "iot.example", insecure: true });
      assert.deepEqual(resolveTls({ insecure: false, pins: [PIN] }, WSS), { serverName: "iot.example", pins: [PIN], insecure: false });
    });

    it("refuses any tls option for ws://, naming it as the caller does", () => {
      refused(() => resolveTls({}, WS), /^option tls must be absent for a ws:\/\/ URL \(TLS settings need a wss:\/\/ url\)/);
      refused(() => resolveTls({ insecure: false }, WS, "client.tls"), /^option client\.tls must be absent for a ws:\/\/ URL/);
    });

    it("refuses what is not an object of ca, pins and insecure", () => {
      refused(() => resolveTls("insecure", WSS), /^option tls must be an object, got "insecure"/);
      refused(() => resolveTls([PIN], WSS), /^option tls must be an object/);
      refused(() => resolveTls({ cert: "x" }, WSS, "client.tls"), /^option client\.tls\.cert must be one of ca, pins, insecure \(unknown option\)/);
      refused(() => resolveTls({ insecure: "yes" }, WSS), /^option tls\.insecure must be true or false, got "yes"/);
    });

    it("refuses insecure together with pins: a pin is a check", () => {
      refused(() => resolveTls({ pins: [PIN], insecure: true }, WSS), /^option tls\.insecure must be false when tls\.pins are given \(a pin is a check\)/);
    });
  });

  describe("checkPins", () => {
    it(`accepts 1 to ${MAX_TLS_PINS} base64 SHA-256 digests`, () => {
      assert.deepEqual(checkPins("pins", [PIN]), [PIN]);
      assert.deepEqual(checkPins("pins", Array(MAX_TLS_PINS).fill(PIN)).length, MAX_TLS_PINS);
      assert.ok(TLS_PIN.test(PIN) && !TLS_PIN.test(PIN.slice(1)) && !TLS_PIN.test(`${PIN.slice(0, -1)}A`));
    });

    it("refuses an empty list, too many, and anything but pins, quoting the bad pin", () => {
      refused(() => checkPins("tls.pins", []), /^option tls\.pins must be up to 8 pins, in a non-empty array, got an array of length 0/);
      refused(() => checkPins("config.pins", Array(MAX_TLS_PINS + 1).fill(PIN), "comma-separated"), /^option config\.pins must be up to 8 pins, comma-separated/);
      refused(() => checkPins("tls.pins", PIN), /must be up to 8 pins/);
      refused(() => checkPins("tls.pins", [PIN, "sha256/abc"]), /^option tls\.pins must be base64 SHA-256 digests \(44 characters ending in =\), got "sha256\/abc"/);
      refused(() => checkPins("tls.pins", [42]), /got 42/);
    });
  });

  describe("checkCa", () => {
    it(`accepts PEM text or a resource name up to ${MAX_CA_LENGTH} characters`, () => {
      assert.equal(checkCa("ca", "server-ca"), "server-ca");
      assert.equal(checkCa("ca", "x".repeat(MAX_CA_LENGTH)).length, MAX_CA_LENGTH);
    });

    it("refuses an empty or too long CA without quoting it, and anything but a string", () => {
      refused(() => checkCa("tls.ca", ""), /^option tls\.ca must be PEM text or a resource name, not empty and at most 524288 characters, got "0 characters"$/);
      refused(() => checkCa("tls.ca", "-----BEGIN".padEnd(MAX_CA_LENGTH + 1, "A")), /got "524289 characters"$/);
      refused(() => checkCa("tls.ca", 42), /got 42$/);
    });
  });

  describe("checkTlsSettings (also the build configuration's keys)", () => {
    it("returns the socket's options for wss://, each setting optional", () => {
      assert.deepEqual(checkTlsSettings("config", {}, WSS), { serverName: "iot.example" });
      assert.deepEqual(checkTlsSettings("config", { ca: "my-ca", pins: [PIN] }, WSS), { serverName: "iot.example", ca: "my-ca", pins: [PIN] });
    });

    it("refuses each setting for ws://, naming the first one set, and accepts none", () => {
      assert.equal(checkTlsSettings("config", {}, WS), undefined);
      assert.equal(checkTlsSettings("config", { insecure: false }, WS), undefined, "false is no setting");
      refused(() => checkTlsSettings("config", { ca: "my-ca" }, WS), /^option config\.ca must be absent for a ws:\/\/ URL \(TLS settings need a wss:\/\/ url\), got "a CA"/);
      refused(() => checkTlsSettings("config", { pins: [PIN] }, WS), /^option config\.pins must be absent for a ws:\/\/ URL/);
      refused(() => checkTlsSettings("config", { insecure: true }, WS), /^option config\.insecure must be absent for a ws:\/\/ URL/);
    });

    it("checks each value before the URL, so a bad value is named as such", () => {
      refused(() => checkTlsSettings("config", { pins: ["nope"] }, WS), /^option config\.pins must be base64 SHA-256 digests/);
    });
  });
});
