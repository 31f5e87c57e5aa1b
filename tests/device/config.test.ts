/**
 * The build configuration: what mcconfig's `key=value` (strings), the manifest's `config`
 * section (JSON values) or the desktop command line give.
 */
import assert from "node:assert/strict";

import { DEFAULT_DEVICE_CONFIG, parseDeviceConfig } from "../../src/device/config.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";

function rejects(raw: Record<string, unknown>, message: RegExp): WebSocketError {
  let caught: unknown;
  try {
    parseDeviceConfig(raw);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof WebSocketError, `expected a WebSocketError, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}

describe("parseDeviceConfig", () => {
  it("defaults everything: the companion server on this machine, no WiFi network", () => {
    assert.deepEqual(parseDeviceConfig({}), DEFAULT_DEVICE_CONFIG);
    assert.equal(DEFAULT_DEVICE_CONFIG.url, "ws://127.0.0.1:8080/");
  });

  it("reads numbers given as strings, as mcconfig passes them", () => {
    const config = parseDeviceConfig({ telemetryIntervalMs: "5000", heartbeatIntervalMs: "0", maxMessageBytes: "65536" });
    assert.equal(config.telemetryIntervalMs, 5000);
    assert.equal(config.heartbeatIntervalMs, 0, "0 turns the heartbeat off");
    assert.equal(config.maxMessageBytes, 65536);
  });

  it("reads numbers given as numbers, as the manifest's config section has them", () => {
    assert.equal(parseDeviceConfig({ backoffCapMs: 30_000 }).backoffCapMs, 30_000);
  });

  it("ignores keys it does not know (the SDK's own config keys share the object)", () => {
    assert.deepEqual(parseDeviceConfig({ file: { root: "/tmp" }, sntp: "pool.ntp.org" }), DEFAULT_DEVICE_CONFIG);
  });

  for (const [value, why] of [
    ["5e3", "exponent"],
    [" 5000", "space"],
    ["0x10", "hex"],
    ["-1", "negative"],
    ["999", "below the minimum"],
    [1000.5, "fraction"],
    [true, "boolean"],
  ] as const) {
    it(`refuses telemetryIntervalMs ${JSON.stringify(value)} (${why}), naming the key and the range`, () => {
      const error = rejects({ telemetryIntervalMs: value }, /option config\.telemetryIntervalMs must be an integer from 1000 to 86400000/);
      assert.equal(error.code, ErrorCode.INVALID_OPTION);
    });
  }

  it("refuses a URL that is not ws:// or wss://, saying what is wrong", () => {
    const error = rejects({ url: "http://example.com/" }, /http/);
    assert.equal(error.code, ErrorCode.INVALID_URL);
  });

  it("accepts wss:// (TLS is the host's business)", () => {
    assert.equal(parseDeviceConfig({ url: "wss://example.com/device" }).url, "wss://example.com/device");
  });

  it("refuses a device id with spaces or of more than 64 characters", () => {
    rejects({ deviceId: "my device" }, /config\.deviceId must be 1 to 64 letters/);
    rejects({ deviceId: "d".repeat(65) }, /config\.deviceId/);
    assert.equal(parseDeviceConfig({ deviceId: "esp32-a1:b2.c3_d4" }).deviceId, "esp32-a1:b2.c3_d4");
  });

  it("refuses an SSID over 32 characters and a password over 64, without showing the password", () => {
    rejects({ ssid: "s".repeat(33) }, /config\.ssid must be a string of at most 32 characters/);
    const secret = "p".repeat(65);
    const error = rejects({ password: secret }, /config\.password must be a string of at most 64 characters/);
    assert.ok(!error.message.includes(secret), "the password is not in the message");
  });

  it("never shows the auth token in an error", () => {
    const token = "t".repeat(2000);
    const error = rejects({ authToken: token }, /config\.authToken/);
    assert.ok(!error.message.includes("tttt"));
  });

  it("reads improvUrl, the Improv redirect URL: empty (none) or an http(s) URL in printable ASCII of at most 200 characters", () => {
    assert.equal(parseDeviceConfig({}).improvUrl, "");
    assert.equal(parseDeviceConfig({ improvUrl: "http://{address}/" }).improvUrl, "http://{address}/");
    assert.equal(parseDeviceConfig({ improvUrl: "https://example.org/devices" }).improvUrl, "https://example.org/devices");
    rejects({ improvUrl: "ftp://x/" }, /^option config\.improvUrl must be an http:\/\/ or https:\/\/ URL in printable ASCII without spaces, or "", got "ftp:\/\/x\/"$/);
    rejects({ improvUrl: "http://a b/" }, /config\.improvUrl must be an http/);
    rejects({ improvUrl: "http://caf\u00e9/" }, /config\.improvUrl must be an http/);
    rejects({ improvUrl: `http://${"x".repeat(200)}` }, /config\.improvUrl must be a string of at most 200 characters/);
  });

  it("refuses a backoff base above its cap", () => {
    rejects({ backoffBaseMs: "5000", backoffCapMs: "1000" }, /config\.backoffBaseMs must be at most config\.backoffCapMs \(1000\), got 5000/);
  });

  describe("TLS (wss://)", () => {
    const WSS = "wss://iot.example/device";
    const PIN_A = Buffer.alloc(32, 1).toString("base64");
    const PIN_B = Buffer.alloc(32, 2).toString("base64");
    const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    it("defaults to the host's trust store, no pins, verification on", () => {
      const config = parseDeviceConfig({ url: WSS });
      assert.equal(config.ca, "");
      assert.deepEqual(config.pins, []);
      assert.equal(config.insecure, false);
    });

    it("takes a CA as PEM text (desktop) or a resource name (Moddable): any non-empty string", () => {
      assert.equal(parseDeviceConfig({ url: WSS, ca: PEM }).ca, PEM);
      assert.equal(parseDeviceConfig({ url: WSS, ca: "server-ca" }).ca, "server-ca");
    });

    it("refuses a CA that is not a string, or is too long, without quoting it", () => {
      rejects({ url: WSS, ca: 42 }, /option config\.ca must be PEM text or a resource name/);
      const error = rejects({ url: WSS, ca: PEM.repeat(20_000) }, /option config\.ca .*at most 524288 characters, got "1\d+ characters"/);
      assert.ok(!error.message.includes("BEGIN"));
    });

    it("reads pins comma-separated, as mcconfig passes strings, or as a JSON array", () => {
      assert.deepEqual(parseDeviceConfig({ url: WSS, pins: `${PIN_A},${PIN_B}` }).pins, [PIN_A, PIN_B]);
      assert.deepEqual(parseDeviceConfig({ url: WSS, pins: ` ${PIN_A} , ${PIN_B} ` }).pins, [PIN_A, PIN_B], "spaces around commas");
      assert.deepEqual(parseDeviceConfig({ url: WSS, pins: [PIN_A] }).pins, [PIN_A]);
      assert.deepEqual(parseDeviceConfig({ url: WSS, pins: "" }).pins, [], "an empty string is no pin");
    });

    it("refuses a pin that is not a base64 SHA-256 digest, naming it", () => {
      rejects({ url: WSS, pins: "sha256/abc" }, /option config\.pins must be base64 SHA-256 digests .*got "sha256\/abc"/);
      rejects({ url: WSS, pins: `${PIN_A},` }, /config\.pins/);
      rejects({ url: WSS, pins: PIN_A.slice(0, 43) + "A" }, /config\.pins/);
      rejects({ url: WSS, pins: Array(9).fill(PIN_A) }, /option config\.pins must be up to 8/);
    });

    it('reads insecure as "true" or "false" (or a boolean), nothing else', () => {
      assert.equal(parseDeviceConfig({ url: WSS, insecure: "true" }).insecure, true);
      assert.equal(parseDeviceConfig({ url: WSS, insecure: "false" }).insecure, false);
      assert.equal(parseDeviceConfig({ url: WSS, insecure: true }).insecure, true);
      for (const value of ["yes", "1", "TRUE", 1]) rejects({ url: WSS, insecure: value }, /option config\.insecure must be "true" or "false"/);
    });

    it("refuses insecure together with pins: a pin is a check", () => {
      rejects({ url: WSS, insecure: "true", pins: PIN_A }, /option config\.insecure must be false when config\.pins are given/);
    });

    it("refuses TLS settings with a ws:// URL, where they would do nothing", () => {
      rejects({ url: "ws://iot.example/", ca: "server-ca" }, /option config\.ca must be absent for a ws:\/\/ URL \(TLS settings need a wss:\/\/ url/);
      rejects({ url: "ws://iot.example/", pins: PIN_A }, /option config\.pins must be absent for a ws:\/\/ URL/);
      rejects({ url: "ws://iot.example/", insecure: "true" }, /option config\.insecure must be absent for a ws:\/\/ URL/);
      // Their defaults are no settings at all.
      assert.equal(parseDeviceConfig({ url: "ws://iot.example/", ca: "", pins: "", insecure: "false" }).url, "ws://iot.example/");
    });
  });

  describe("time (ntp, ntpIntervalMs, clockFallbackMs, buildTime)", () => {
    it("defaults to the NTP Pool, hourly resync, no fallback, the source's date as build time", () => {
      const config = parseDeviceConfig({});
      assert.deepEqual(config.ntp, ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"]);
      assert.equal(config.ntpIntervalMs, 3_600_000);
      assert.equal(config.clockFallbackMs, 0);
      assert.equal(config.buildTime, 0);
    });

    it("reads ntp as mcconfig passes it (comma-separated host[:port]) and as a list (the desktop's --ntp)", () => {
      assert.deepEqual(parseDeviceConfig({ ntp: "time.example, 192.168.1.1:1123" }).ntp, ["time.example", "192.168.1.1:1123"]);
      assert.deepEqual(parseDeviceConfig({ ntp: ["a.example", "b.example:123"] }).ntp, ["a.example", "b.example:123"]);
      assert.deepEqual(parseDeviceConfig({ ntp: "" }).ntp, [], "empty: no NTP");
    });

    for (const [value, message] of [
      ["time.example:0", /config\.ntp must be host\[:port\] with a port from 1 to 65535, got "time\.example:0"/],
      ["time.example:http", /with a port from 1 to 65535/],
      ["[::1]:123", /IPv6 is not supported/],
      ["bad_host", /with a host name or an IPv4 address, got "bad_host"/],
      ["300.1.1.1", /with a host name or an IPv4 address/],
      ["a,,b", /got ""/],
      ["a,b,c,d,e,f,g,h,i", /at most 8 servers/],
    ] as const) {
      it(`refuses ntp ${JSON.stringify(value)}, naming the key and the entry`, () => {
        rejects({ ntp: value }, message);
      });
    }

    it("refuses an ntpIntervalMs below 15 s (RFC 4330 section 10) and a negative clockFallbackMs", () => {
      rejects({ ntpIntervalMs: "14999" }, /config\.ntpIntervalMs must be an integer from 15000 to 86400000/);
      rejects({ clockFallbackMs: "-1" }, /config\.clockFallbackMs must be an integer from 0/);
      assert.equal(parseDeviceConfig({ clockFallbackMs: "60000" }).clockFallbackMs, 60_000);
    });

    it("reads buildTime in UTC milliseconds, and refuses seconds given by mistake", () => {
      assert.equal(parseDeviceConfig({ buildTime: "1796576347915" }).buildTime, 1_796_576_347_915);
      rejects({ buildTime: "1796576347" }, /config\.buildTime must be 0, or UTC milliseconds since 1970 \(13 digits\) after 2020/);
    });
  });

  describe("the MQTT transport (transport, mqttPrefix, mqttUsername)", () => {
    it("defaults to the WebSocket transport, prefix moorline, the device id as user name", () => {
      const config = parseDeviceConfig({});
      assert.deepEqual([config.transport, config.mqttPrefix, config.mqttUsername], ["websocket", "moorline", ""]);
      const mqtt = parseDeviceConfig({ transport: "mqtt", mqttPrefix: "acme/fleet-2", mqttUsername: "dev-7", url: "wss://broker.example/mqtt" });
      assert.deepEqual([mqtt.transport, mqtt.mqttPrefix, mqtt.mqttUsername], ["mqtt", "acme/fleet-2", "dev-7"]);
    });

    it("refuses another transport, and a prefix with wildcards, $, empty levels or a leading slash", () => {
      rejects({ transport: "MQTT" }, /option config\.transport must be "websocket" or "mqtt", got "MQTT"/);
      for (const prefix of ["a/+", "a/#", "$SYS", "a//b", "/a", "a/", "", "a b", "x".repeat(65)]) {
        rejects({ mqttPrefix: prefix }, /option config\.mqttPrefix must be 1 to 64 characters of topic levels/);
      }
    });
  });
});
