/**
 * src/device/handlers.ts: the requests the device answers itself (echo, ping, status,
 * config), through the JSON loop as a server sees them (tests/support/device-app.ts).
 */
import assert from "node:assert/strict";
import { DeviceApp } from "../../src/device/app.js";
import { DEVICE_SETTINGS, Settings } from "../../src/device/settings.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { harness, onlyReply, type Message } from "../support/device-app.js";
import { VirtualClock } from "../support/virtual-clock.js";

describe("built-in request handlers", () => {
  it("echo replies with the same payload", () => {
    const h = harness();
    const payload = { text: "hi", list: [1, 2.5, null, true], nested: { deep: ["x"] } };
    const reply = onlyReply(h.feed({ type: "echo", id: 7, payload }), 7);
    assert.deepEqual(reply, { type: "reply", id: 7, result: { payload } });
  });

  it("echo of a null payload is still an echo", () => {
    const h = harness();
    assert.deepEqual(onlyReply(h.feed({ type: "echo", id: "a", payload: null }), "a").result, { payload: null });
  });

  it("ping answers pong and the uptime since construction", () => {
    const h = harness();
    h.clock.advance(1234);
    const reply = onlyReply(h.feed({ type: "ping", id: 1 }), 1);
    assert.deepEqual(reply.result, { pong: true, uptimeMs: 1234 });
  });

  it("uptime counts from construction, not from the clock's origin", () => {
    const clock = new VirtualClock();
    clock.advance(50_000);
    const sent: string[] = [];
    const app = new DeviceApp({
      identity: { deviceId: "d", firmware: "1", bootId: "b" },
      timers: clock,
      send: (text) => sent.push(text) > 0,
      settings: new Settings({ storage: new MemoryStorage(), specs: DEVICE_SETTINGS }),
    });
    clock.advance(10.75); // Node's clock has fractions of a millisecond
    app.receive('{"type":"ping","id":1}');
    assert.equal((JSON.parse(sent[0]).result as Message).uptimeMs, 10);
    assert.equal(app.uptimeMs(), 10);
  });

  it("status reports uptime, memory, counters, outbox, telemetry seq and the composition's fields", () => {
    const h = harness({
      status: () => ({ rssi: -61, reconnects: 2, lastRttMs: 35, wifi: "connected", link: "open", messagesIn: -1 }),
    });
    h.app.start();
    h.clock.advance(10_000); // one telemetry record, not connected: held in the outbox
    h.feed("not json");
    const result = onlyReply(h.feed({ type: "status", id: "s" }), "s").result as Message;
    assert.equal(result.uptimeMs, 10_000);
    assert.equal(result.freeMemory, 81234);
    assert.equal(result.messagesIn, 2);
    assert.equal(result.messagesOut, 1); // the error for "not json"
    assert.equal(result.dropped, 0);
    assert.deepEqual(result.outbox, { size: 1, bytes: (result.outbox as Message).bytes, dropped: 0 });
    assert.equal(result.telemetrySeq, 1);
    assert.equal(result.rssi, -61);
    assert.equal(result.reconnects, 2);
    assert.equal(result.lastRttMs, 35);
    assert.equal(result.wifi, "connected");
    assert.equal(result.link, "open");
  });

  it("status leaves freeMemory out when the host does not know it", () => {
    const h = harness({ freeMemory: () => undefined });
    const result = onlyReply(h.feed({ type: "status", id: 1 }), 1).result as Message;
    assert.equal("freeMemory" in result, false);
  });

  describe("config", () => {
    it("get returns every setting, or one", () => {
      const h = harness();
      assert.deepEqual(onlyReply(h.feed({ type: "config", id: 1, action: "get" }), 1).result, {
        telemetryIntervalMs: 10_000,
      });
      assert.deepEqual(
        onlyReply(h.feed({ type: "config", id: 2, action: "get", key: "telemetryIntervalMs" }), 2).result,
        { telemetryIntervalMs: 10_000 },
      );
    });

    it("set validates, persists (a new Settings over the same storage sees it) and replies the new value", () => {
      const h = harness();
      const reply = onlyReply(
        h.feed({ type: "config", id: 3, action: "set", key: "telemetryIntervalMs", value: 2000 }),
        3,
      );
      assert.deepEqual(reply.result, { telemetryIntervalMs: 2000 });
      const fresh = new Settings({ storage: h.storage, specs: DEVICE_SETTINGS });
      assert.equal(fresh.get("telemetryIntervalMs"), 2000);
    });

    it("set of telemetryIntervalMs re-arms the telemetry timer at once", () => {
      const h = harness();
      h.app.start();
      h.app.connected();
      h.take();
      h.clock.advance(3000);
      h.feed({ type: "config", id: 1, action: "set", key: "telemetryIntervalMs", value: 2000 });
      h.clock.advance(1999); // t = 4999: the old 10 s timer is gone, the new one is not due
      assert.deepEqual(h.take(), []);
      h.clock.advance(1); // t = 5000
      assert.deepEqual(h.take().map((m) => [m.type, m.uptimeMs]), [["telemetry", 5000]]);
      h.clock.advance(2000);
      assert.deepEqual(h.take().map((m) => [m.type, m.uptimeMs]), [["telemetry", 7000]]);
      assert.equal(h.clock.size, 1, "one telemetry timer, no leftovers");
    });

    it("a telemetryIntervalMs from storage is used from the start", () => {
      const storage = new MemoryStorage();
      new Settings({ storage, specs: DEVICE_SETTINGS }).set("telemetryIntervalMs", 1500);
      const h = harness({}, storage);
      h.app.start();
      h.app.connected();
      h.take();
      h.clock.advance(1500);
      assert.deepEqual(h.take().map((m) => m.seq), [1]);
    });
  });
});

