/**
 * src/device/device.ts, the composition, on a virtual clock with an in-memory TCP (no
 * server): where each setting's value comes from at start (explicit flags, storage, build
 * config), and what it logs about attempts that never connected. The device against real
 * servers is tests/integration/device.test.ts.
 */
import assert from "node:assert/strict";

import { AUTH_TOKEN_STORAGE } from "../../src/auth/credentials.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { Device, type DeviceOptions } from "../../src/device/device.js";
import { SETTINGS_STORAGE } from "../../src/device/settings.js";
import type { DeviceHost, LogLevel } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { parseClientFrames, parseRequest, switchingProtocols } from "../support/client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { serverFrame } from "../support/frames.js";
import { NO_WIFI } from "../support/no-wifi.js";
import { VirtualClock } from "../support/virtual-clock.js";

interface LogLine {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

function device(config: Record<string, unknown>, options: Partial<DeviceOptions> = {}, storage = new MemoryStorage()) {
  const clock = new VirtualClock();
  const logs: LogLine[] = [];
  const { tcp, sockets } = fakeTcp();
  const host: DeviceHost = {
    tcp,
    timers: clock,
    random: (into) => into.fill(0x42),
    wifi: NO_WIFI,
    storage,
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
  };
  const made = new Device({ host, config: parseDeviceConfig({ url: "ws://127.0.0.1:8080/", ...config }), ...options });
  return {
    device: made,
    clock,
    logs,
    sockets,
    events: (name: string) => logs.filter((line) => line.event === name),
  };
}

/** Storage holding what a server's `config set telemetryIntervalMs 2000` left behind. */
function storedInterval(ms: number): MemoryStorage {
  const storage = new MemoryStorage();
  storage.set(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key, JSON.stringify({ telemetryIntervalMs: ms }));
  return storage;
}

describe("Device", function () {
  describe("where telemetryIntervalMs comes from at start", function () {
    it("a stored value (a server's config set) wins over the build config, in one log line", function () {
      const d = device({ telemetryIntervalMs: "7000" }, {}, storedInterval(2000));
      assert.equal(d.device.settings.get("telemetryIntervalMs"), 2000);
      assert.deepEqual(d.events("setting_stored").map((line) => line.fields), [
        { key: "telemetryIntervalMs", value: 2000, build: 7000 },
      ]);
    });

    it("a value the user gave explicitly at start (explicitSettings) wins over the stored one, in one log line", function () {
      const d = device({ telemetryIntervalMs: "7000" }, { explicitSettings: ["url", "telemetryIntervalMs"] }, storedInterval(2000));
      assert.equal(d.device.settings.get("telemetryIntervalMs"), 7000);
      assert.deepEqual(d.events("setting_explicit").map((line) => line.fields), [
        { key: "telemetryIntervalMs", value: 7000, stored: 2000 },
      ]);
      assert.deepEqual(d.events("setting_stored"), []);
      d.device.start();
      assert.equal(d.events("app_started")[0]?.fields.telemetryIntervalMs, 7000, "telemetry runs at the explicit interval");
      d.device.stop();
    });

    it("explicitSettings that are not settings change nothing", function () {
      const d = device({}, { explicitSettings: ["url", "deviceId"] }, storedInterval(2000));
      assert.equal(d.device.settings.get("telemetryIntervalMs"), 2000);
    });
  });

  describe("who the device says it is: its id and token in the handshake (src/auth/credentials.ts)", function () {
    const BUILT = "built-in-token-AAAA";
    const STORED = "provisioned-token-BBBB";
    const withStored = (token: string): MemoryStorage => {
      const storage = new MemoryStorage();
      storage.set(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key, token);
      return storage;
    };
    /** The handshake request's headers of the device's first attempt. */
    function handshakeHeaders(d: ReturnType<typeof device>): Map<string, string> {
      d.device.start();
      const socket = d.sockets[0]!;
      socket.connect();
      const headers = parseRequest(socket.takeWritten()).headers;
      d.device.stop();
      return headers;
    }

    it("sends the build config's token and the device id", function () {
      const d = device({ deviceId: "pump-7", authToken: BUILT });
      const headers = handshakeHeaders(d);
      assert.equal(headers.get("authorization"), `Bearer ${BUILT}`);
      assert.equal(headers.get("moorline-device"), "pump-7");
      assert.deepEqual(d.events("auth_token").map((line) => line.fields), [{ source: "config" }]);
    });

    it("a token stored by provisioning wins over the build config's, and the log says so without either", function () {
      const d = device({ authToken: BUILT }, {}, withStored(STORED));
      assert.equal(handshakeHeaders(d).get("authorization"), `Bearer ${STORED}`);
      assert.deepEqual(d.events("auth_token").map((line) => line.fields), [{ source: "stored", overrides: ["config"] }]);
    });

    it("one given explicitly at start (--auth-token) wins over the stored one, for this run", function () {
      const d = device({ authToken: BUILT }, { explicitSettings: ["authToken"] }, withStored(STORED));
      assert.equal(handshakeHeaders(d).get("authorization"), `Bearer ${BUILT}`);
      assert.deepEqual(d.events("auth_token").map((line) => line.fields), [{ source: "explicit", overrides: ["stored"] }]);
    });

    it("no token anywhere: no Authorization header, the device id all the same", function () {
      const d = device({ deviceId: "pump-8" });
      const headers = handshakeHeaders(d);
      assert.equal(headers.has("authorization"), false);
      assert.equal(headers.get("moorline-device"), "pump-8");
      assert.deepEqual(d.events("auth_token").map((line) => line.fields), [{ source: "none" }]);
    });

    it("a corrupt stored token is ignored with a warning that does not quote it; the build's is used", function () {
      const d = device({ authToken: BUILT }, {}, withStored("not a token\u0001 SECRETPART"));
      assert.equal(handshakeHeaders(d).get("authorization"), `Bearer ${BUILT}`);
      const warning = d.events("auth_token_stored_invalid");
      assert.equal(warning.length, 1);
      assert.equal(warning[0]!.fields.domain, "auth");
      assert.equal(warning[0]!.fields.key, "token");
      assert.ok(!JSON.stringify(d.logs).includes("SECRETPART"), "the stored value is not logged");
    });

    it("status says where the token came from and how often it was refused, never the token", function () {
      const d = device({ authToken: BUILT });
      d.device.start();
      const socket = d.sockets[0]!;
      socket.connect();
      socket.receive(new TextEncoder().encode("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"));
      assert.equal(d.events("ws_unauthorized").length, 1);
      while (d.sockets.length === 1) d.clock.advance(1000);
      const next = d.sockets[1]!;
      next.connect();
      next.receive(switchingProtocols(parseRequest(next.takeWritten())));
      next.takeWritten();
      next.receive(serverFrame({ opcode: 1, payload: JSON.stringify({ type: "status", id: 1 }) }));
      const [reply] = parseClientFrames(next.takeWritten()).map((frame) => JSON.parse(Buffer.from(frame.payload).toString("utf8")) as Record<string, unknown>);
      assert.deepEqual((reply!.result as Record<string, unknown>).auth, { token: "config", refused: 1 });
      assert.ok(!JSON.stringify(reply).includes(BUILT));
      d.device.stop();
    });
  });

  describe("logs", function () {
    it("app_disconnected only when a connection that opened closes, never for a failed attempt", function () {
      const d = device({});
      d.device.start();
      for (let attempt = 0; attempt < 3; attempt++) {
        const socket: FakeTcpSocket = d.sockets[d.sockets.length - 1]!;
        socket.fail("connection refused");
        // The backoff wait, then the next attempt's socket.
        while (d.sockets.length === attempt + 1) d.clock.advance(10);
      }
      assert.equal(d.events("ws_backoff").length, 3, "three attempts failed");
      assert.deepEqual(d.events("app_disconnected"), [], "none of them had connected");
      d.device.stop();
    });
  });

  describe("reporters: the parts that add fields to hello and status", function () {
    /** Opens the device's connection on the fake socket; returns what the device sends as JSON. */
    function open(d: ReturnType<typeof device>): () => Array<Record<string, unknown>> {
      d.device.start();
      const socket = d.sockets[d.sockets.length - 1]!;
      socket.connect();
      socket.receive(switchingProtocols(parseRequest(socket.takeWritten())));
      return () =>
        parseClientFrames(socket.takeWritten()).map((frame) => JSON.parse(Buffer.from(frame.payload).toString("utf8")));
    }

    it("hello and status carry each reporter's fields; the device's own fields and earlier reporters win a clash", function () {
      const d = device({});
      // The device's own reporters (the clock, src/time/device-time.ts; health, src/health/) come first: their fields win.
      d.device.addReporter({ hello: () => ({ update: "idle", device: "impostor", time: 1 }), status: () => ({ update: { slot: "ota_0" } }) });
      d.device.addReporter({ hello: () => ({ update: "later", reset: "power_on", flavour: "late" }) });
      const sent = open(d);
      const [hello] = sent();
      assert.equal(hello!.type, "hello");
      assert.notEqual(hello!.device, "impostor", "the device's own field is not overridden");
      assert.equal(hello!.update, "idle", "the first reporter's field wins");
      assert.equal(hello!.time, null, "the clock's reporter came first: an untrusted clock's time is null");
      assert.equal(hello!.reset, "unknown", "health's reporter came first: a host without a reset reason");
      assert.equal(hello!.flavour, "late", "a later reporter's own field is there");

      const socket = d.sockets[d.sockets.length - 1]!;
      socket.receive(serverFrame({ opcode: 1, payload: JSON.stringify({ type: "status", id: 1 }) }));
      const [reply] = sent();
      const result = reply!.result as Record<string, unknown>;
      assert.deepEqual(result.update, { slot: "ota_0" });
      assert.equal((result.clock as Record<string, unknown>).trusted, false);
      assert.equal(result.link, "open", "the link's own reporter is still there");
      d.device.stop();
    });

    it("a reporter that throws adds nothing, is logged, and hello still goes out", function () {
      const d = device({});
      d.device.addReporter({
        hello: () => {
          throw new Error("sensor gone");
        },
      });
      const [hello] = open(d)();
      assert.equal(hello!.type, "hello");
      assert.equal(d.events("report_failed").length, 1);
      d.device.stop();
    });
  });
});
