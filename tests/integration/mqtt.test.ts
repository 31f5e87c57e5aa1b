/**
 * The device on a real MQTT broker: Debian's mosquitto 2.0, started by each test on free
 * loopback ports (tests/support/mosquitto.ts), with mosquitto_sub and mosquitto_pub as the
 * other side. The device (src/device/device.ts with transport "mqtt") runs in this process or
 * as `npm run device`'s process, on both engines (tests/support/engines.ts).
 *
 * Cases: telemetry and requests end to end; the broker SIGKILLed and started again with its
 * persistence (no telemetry lost or gapped, QoS 1 resends with DUP); a power cut of the
 * device (SIGKILL) leaves the will on its status topic; wss:// with a certificate; refused
 * credentials (a clear error, the long backoff); a password file and the per-device ACL (a
 * device can neither read nor write another's topics); and a hostile peer that speaks
 * WebSocket but sends broken MQTT.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode } from "../../src/shared/errors.js";
import { node, type Child } from "../support/child-process.js";
import { testCertificates } from "../support/certs.js";
import { ENGINES, engineArgs, useEngine, type EngineName } from "../support/engines.js";
import { connack, decodeClientPackets, joined, publish, suback } from "../support/mqtt-packets.js";
import { BACKEND, Mosquitto, MqttWatcher, mqttPublish, requireMosquitto, retainedOn } from "../support/mosquitto.js";
import { startDeviceOn, type EngineDevice } from "../support/on-engine.js";
import { RawServer } from "../support/raw-server.js";
import { delay, until, within } from "../support/wait.js";

/** A device on `engine` speaking MQTT to `url`: telemetry every second, a short backoff. */
function mqttDevice(engine: EngineName, url: string, config: Record<string, unknown> = {}): Promise<EngineDevice> {
  return startDeviceOn(engine, {
    url,
    config: { transport: "mqtt", deviceId: "it-1", telemetryIntervalMs: 1000, backoffBaseMs: 100, backoffCapMs: 500, ...config },
  });
}

function stopDevice(device: EngineDevice): Promise<void> {
  return within(device.stop(), 8000, "the device to stop");
}

/** The seq of each telemetry record the watcher saw on `topic`, in arrival order. */
function seqsOn(watcher: MqttWatcher, topic: string): number[] {
  return watcher.json(topic).map((record) => record.seq as number);
}

/** The events of the device's log named `event`. */
function logged(device: EngineDevice, event: string): Array<Record<string, unknown>> {
  return device.logs.filter((line) => line.event === event).map((line) => line.fields);
}

const topics = (id: string) => ({
  telemetry: `moorline/${id}/telemetry`,
  req: `moorline/${id}/req`,
  reply: `moorline/${id}/reply`,
  status: `moorline/${id}/status`,
});

for (const engine of ENGINES) describe(`the device on an MQTT broker (mosquitto) [${engine}]`, function () {
  useEngine(engine);
  this.timeout(30_000);
  let broker: Mosquitto | undefined;
  let watcher: MqttWatcher | undefined;

  before(function () {
    requireMosquitto(this);
  });

  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
    await broker?.stop();
    broker = undefined;
  });

  it("publishes hello and telemetry, answers a request on req on reply, and leaves {\"online\":false} when stopped", async () => {
    broker = await Mosquitto.start();
    const t = topics("it-1");
    watcher = await MqttWatcher.start(broker, ["moorline/it-1/#"]);
    const device = await mqttDevice(engine, broker.wsUrl);
    try {
      await until(() => seqsOn(watcher!, t.telemetry).includes(2), 8000, "telemetry records 1 and 2 on the telemetry topic");
      assert.deepEqual(seqsOn(watcher, t.telemetry).slice(0, 2), [1, 2]);
      await until(() => logged(device, "telemetry_acked").some((f) => f.seq === 2), 3000, "the PUBACK of record 2 as its ack");
      const hello = JSON.parse(retainedOn(broker, t.status) ?? "null") as Record<string, unknown>;
      assert.equal(hello.type, "hello");
      assert.equal(hello.device, "it-1");
      assert.equal(hello.online, true);

      assert.equal(mqttPublish(broker, t.req, JSON.stringify({ type: "echo", id: "e-1", payload: { n: 1 } })).status, 0);
      assert.equal(mqttPublish(broker, t.req, JSON.stringify({ type: "status", id: 2 })).status, 0);
      await until(() => watcher!.json(t.reply).length >= 2, 5000, "two replies on the reply topic");
      const [echo, status] = watcher.json(t.reply);
      assert.deepEqual(echo, { type: "reply", id: "e-1", result: { payload: { n: 1 } } });
      const result = status!.result as Record<string, unknown>;
      assert.equal(result.transport, "mqtt");
      assert.equal(result.link, "open");
      assert.ok(watcher.messages.filter((m) => m.topic === t.reply).every((m) => m.qos === 1), "replies at QoS 1");
    } finally {
      await stopDevice(device);
    }
    assert.equal(retainedOn(broker, t.status), '{"online":false}', "a clean stop says offline, retained");
  });

  it("survives the broker's SIGKILL and restart with persistence: no telemetry lost or gapped, unacknowledged records resent with DUP", async () => {
    broker = await Mosquitto.start();
    const t = topics("it-1");
    // A back end with a persistent session: what arrives while it reconnects is kept for it.
    watcher = await MqttWatcher.start(broker, [t.telemetry], { sessionId: "backend-watch" });
    const device = await mqttDevice(engine, broker.wsUrl);
    try {
      await until(() => seqsOn(watcher!, t.telemetry).includes(2), 8000, "records 1 and 2");
      // Frozen, the broker takes bytes into its socket buffer but acknowledges nothing; then it dies.
      process.kill(broker.pid!, "SIGSTOP");
      await delay(2500);
      await broker.kill("SIGKILL");
      await delay(500);
      await broker.run();
      const last = Math.max(...seqsOn(watcher, t.telemetry));
      await until(() => seqsOn(watcher!, t.telemetry).includes(last + 4), 15_000, `records up to ${last + 4} after the restart`);
      const seen = new Set(seqsOn(watcher, t.telemetry));
      const top = Math.max(...seen);
      const missing = Array.from({ length: top }, (_, i) => i + 1).filter((seq) => !seen.has(seq));
      assert.deepEqual(missing, [], "every record from 1 on reached the back end");
      assert.ok(logged(device, "mqtt_resend").length >= 1, "records sent to the frozen broker were sent again");
      assert.match(broker.log, /Received PUBLISH from it-1 \(d1, q1, r0, m\d+, 'moorline\/it-1\/telemetry'/, "with DUP, as the broker saw them");
      const status = await device.status();
      assert.ok((status.supervisor.stats.reconnects as number) >= 1);
      await until(() => logged(device, "telemetry_acked").some((f) => f.unacked === 0 && (f.seq as number) >= last + 3), 5000, "the outbox emptied");
    } finally {
      await stopDevice(device);
    }
  });

  it("leaves its will, {\"online\":false} retained on its status topic, when its power is cut (SIGKILL of npm run device)", async () => {
    broker = await Mosquitto.start();
    const t = topics("cut-1");
    const dir = mkdtempSync(join(tmpdir(), "moorline-mqtt-"));
    let child: Child | undefined;
    try {
      child = node("dist/hosts/node/device.js", [
        "--transport", "mqtt", "--url", broker.wsUrl, "--device-id", "cut-1", "--no-wifi", "--telemetry-interval-ms", "1000",
        "--storage", join(dir, "cut-1.json"), "--log-format", "json", ...engineArgs(engine),
      ]);
      await child.line(/"event":"telemetry_acked"/, 15_000, "the device's first acknowledged record");
      assert.equal((JSON.parse(retainedOn(broker, t.status) ?? "{}") as { online?: unknown }).online, true);
      child.kill("SIGKILL");
      await child.waitForExit(5000);
      await until(() => retainedOn(broker!, t.status) === '{"online":false}', 8000, "the will on the status topic");
      // The broker's log reaches us through a pipe: its line about the cut may come a moment after the will.
      await until(() => /Client cut-1 closed its connection|Socket error on client cut-1|cut-1 disconnected/.test(broker!.log), 5000, "the broker's log of the cut connection");
    } finally {
      child?.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reaches a broker over wss:// with a certificate it verifies, and refuses one signed by a CA it does not know", async () => {
    const certs = testCertificates();
    broker = await Mosquitto.start({ tls: certs.good });
    const good = await mqttDevice(engine, broker.wssUrl, { ca: certs.ca.cert });
    try {
      await until(() => logged(good, "telemetry_acked").length >= 1, 10_000, "a record acknowledged over wss://");
    } finally {
      await stopDevice(good);
    }
    const doubtful = await mqttDevice(engine, broker.wssUrl, { ca: certs.otherCa.cert, deviceId: "it-2" });
    try {
      await until(() => logged(doubtful, "ws_backoff").length >= 1, 10_000, "a refused TLS connection");
      assert.equal(logged(doubtful, "ws_backoff")[0]!.error, ErrorCode.TLS_UNKNOWN_CA);
      assert.equal(logged(doubtful, "mqtt_open").length, 0);
    } finally {
      await stopDevice(doubtful);
    }
  });

  it("reports refused credentials as ERR_UNAUTHORIZED and waits the long backoff (never a tight loop); the right token gets in", async () => {
    broker = await Mosquitto.start({ devices: { "it-1": "right-token-0001" } });
    const wrong = await mqttDevice(engine, broker.wsUrl, { authToken: "wrong-token-0002", backoffCapMs: 2000 });
    try {
      await delay(3500);
      const refused = logged(wrong, "mqtt_refused");
      assert.ok(refused.length >= 1 && refused.length <= 4, `1 to 4 attempts in 3.5 s with a 2 s cap, got ${refused.length}`);
      assert.equal(refused[0]!.code, ErrorCode.UNAUTHORIZED);
      assert.equal(refused[0]!.returnCode, 5);
      const delays = logged(wrong, "ws_backoff").map((f) => f.delayMs as number);
      assert.ok(delays.every((ms) => ms >= 1000 && ms <= 2000), `every wait in the upper half of the 2 s cap: ${delays.join(", ")}`);
      assert.ok(!JSON.stringify(wrong.logs).includes("wrong-token-0002"), "the token is never logged");
    } finally {
      await stopDevice(wrong);
    }
    const right = await mqttDevice(engine, broker.wsUrl, { authToken: "right-token-0001" });
    try {
      await until(() => logged(right, "telemetry_acked").length >= 1, 8000, "the admitted device's first record acknowledged");
    } finally {
      await stopDevice(right);
    }
  });

  it("with a password file and the per-device ACL, another device can neither write into this one's topics nor read them", async () => {
    broker = await Mosquitto.start({ devices: { "dev-a": "token-a-123456", "dev-b": "token-b-654321" } });
    const a = topics("dev-a");
    const devB = { username: "dev-b", password: "token-b-654321" };
    watcher = await MqttWatcher.start(broker, ["moorline/#"], { credentials: BACKEND });
    const spy = await MqttWatcher.start(broker, ["moorline/dev-a/#"], { credentials: devB });
    const device = await mqttDevice(engine, broker.wsUrl, { deviceId: "dev-a", authToken: "token-a-123456" });
    try {
      await until(() => seqsOn(watcher!, a.telemetry).length >= 2, 8000, "dev-a's telemetry at the back end");
      // dev-b, a device with good credentials of its own, writes into dev-a's topics.
      assert.equal(mqttPublish(broker, a.req, JSON.stringify({ type: "status", id: "from-b" }), { credentials: devB, clientId: "dev-b" }).status, 0);
      assert.equal(mqttPublish(broker, a.telemetry, JSON.stringify({ type: "telemetry", boot: "forged", seq: 999 }), { credentials: devB }).status, 0);
      // The back end's request goes through: the control.
      assert.equal(mqttPublish(broker, a.req, JSON.stringify({ type: "ping", id: "from-backend" }), { credentials: BACKEND }).status, 0);
      await until(() => watcher!.json(a.reply).some((r) => r.id === "from-backend"), 5000, "the back end's reply");
      await delay(300);
      assert.deepEqual(watcher.json(a.reply).map((r) => r.id), ["from-backend"], "dev-b's request never reached dev-a");
      assert.ok(!seqsOn(watcher, a.telemetry).includes(999), "dev-b's forged record reached nobody");
      assert.deepEqual(logged(device, "app_request").map((f) => f.id), ["from-backend"]);
      assert.match(broker.log, /Denied PUBLISH from dev-b \(d0, q1, r0, m\d+, 'moorline\/dev-a\/req'/, "the broker refused it");
      assert.deepEqual(spy.messages, [], "dev-b, subscribed to moorline/dev-a/#, received nothing");
    } finally {
      await stopDevice(device);
      await spy.stop();
    }
  });

  it("fails the session on broken MQTT from a hostile WebSocket peer, closes with 1002, backs off and tries again", async () => {
    const server = await RawServer.listen();
    const device = await mqttDevice(engine, server.url("/mqtt"), { backoffBaseMs: 200, backoffCapMs: 400 });
    try {
      const hostile: Array<[string, Uint8Array, string]> = [
        ["a QoS 3 PUBLISH", joined(connack(0), Uint8Array.of(0x36, 5, 0, 1, 0x74, 0, 1)), ErrorCode.MQTT_MALFORMED],
        ["a PUBLISH before CONNACK", publish({ topic: "moorline/it-1/req", payload: "{}" }), ErrorCode.MQTT_UNEXPECTED],
        ["a second CONNACK", joined(connack(0), suback(65535, 1), connack(0)), ErrorCode.MQTT_UNEXPECTED],
        ["a five-byte Remaining Length", Uint8Array.of(0x20, 0xff, 0xff, 0xff, 0xff, 0x7f), ErrorCode.MQTT_MALFORMED],
      ];
      for (const [i, [what, bytes, code]] of hostile.entries()) {
        const peer = await server.nextConnection(5000);
        await peer.acceptHandshake({ protocol: "mqtt" });
        const connect = await peer.nextFrame(5000);
        assert.equal(decodeClientPackets(connect.payload)[0]!.type, "CONNECT", what);
        await peer.sendFrame({ opcode: 2, payload: bytes });
        const { close } = await peer.waitForClose(5000);
        assert.equal(close.code, 1002, `${what}: the device closes with 1002`);
        await peer.sendClose(1002);
        peer.closeTcp();
        await until(() => logged(device, "mqtt_fail").length >= i + 1, 3000, `${what} reported`);
        assert.equal(logged(device, "mqtt_fail").at(-1)!.code, code, what);
      }
      await until(() => logged(device, "ws_backoff").length >= hostile.length, 6000, "a backoff after each failure");
      assert.ok(logged(device, "ws_backoff").every((f) => (f.delayMs as number) >= 100), "never a tight loop");
      assert.equal(logged(device, "app_connected").length, 2, "only the sessions that got their CONNACK opened");
    } finally {
      await stopDevice(device);
      await server.close();
    }
  });
});
