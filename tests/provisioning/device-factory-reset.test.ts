/**
 * Provisioning in the whole device (src/device/device.ts) where it meets the other parts,
 * on a virtual clock with an in-memory TCP: a factory reset also erases the stored auth token
 * (the next handshake sends the build's) and the telemetry not acknowledged yet (in RAM and
 * the durable outbox), and keeps the boot record and the clock's last good time; a new name
 * reaches the handshake's Moorline-Device header as well as the hello.
 */
import assert from "node:assert/strict";

import { AUTH_TOKEN_STORAGE, DEVICE_ID_HEADER } from "../../src/auth/credentials.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import { HEALTH_STORAGE } from "../../src/health/health.js";
import { OUTBOX_STORAGE_DOMAIN } from "../../src/health/outbox-store.js";
import type { DeviceHost } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { CLOCK_STORAGE } from "../../src/time/clock.js";
import { parseClientFrames, parseRequest, switchingProtocols, type ParsedRequest } from "../support/client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { serverFrame } from "../support/frames.js";
import { NO_WIFI } from "../support/no-wifi.js";
import { VirtualClock } from "../support/virtual-clock.js";

type Json = Record<string, unknown>;

const STORED_TOKEN = "stored-token-1";
const LAST_GOOD = String(Date.UTC(2030, 0, 1));

function rig(config: Json = {}) {
  const clock = new VirtualClock();
  const storage = new MemoryStorage();
  storage.set(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key, STORED_TOKEN);
  storage.set(CLOCK_STORAGE.domain, CLOCK_STORAGE.key, LAST_GOOD);
  const events: Array<{ event: string; fields: Json }> = [];
  const { tcp, sockets } = fakeTcp();
  const host: DeviceHost = {
    tcp,
    timers: clock,
    random: (into) => into.fill(7),
    wifi: NO_WIFI,
    storage,
    log: (_level, event, fields) => void events.push({ event, fields: fields ?? {} }),
  };
  const device = new Device({
    host,
    config: parseDeviceConfig({ url: "ws://127.0.0.1:8080/", deviceId: "dev-1", telemetryIntervalMs: 1000, ...config }),
  });
  let socket: FakeTcpSocket | undefined;
  /** Accepts the device's latest connection: its handshake request. */
  const accept = (): ParsedRequest => {
    socket = sockets[sockets.length - 1]!;
    socket.connect();
    const request = parseRequest(socket.takeWritten());
    socket.receive(switchingProtocols(request));
    return request;
  };
  /** The JSON messages the device sent since the last call. */
  const sent = (): Json[] =>
    parseClientFrames(socket!.takeWritten())
      .filter((frame) => frame.opcode === 1)
      .map((frame) => JSON.parse(Buffer.from(frame.payload).toString("utf8")) as Json);
  const send = (message: Json): void => socket!.receive(serverFrame({ opcode: 1, payload: JSON.stringify(message) }));
  return { device, clock, storage, events, accept, sent, send, sockets, socket: () => socket! };
}

describe("provisioning in the device: what a factory reset reaches, and a new name", function () {
  it("a factory reset erases the stored token and the unacknowledged telemetry, and keeps the boot record and the clock's last good time", function () {
    const run = rig({ authToken: "build-token-1" });
    run.device.start();
    const first = run.accept();
    assert.equal(first.headers.get("authorization"), `Bearer ${STORED_TOKEN}`, "the stored token wins over the build's");
    run.clock.advance(3500); // three records, never acknowledged, stored by the outbox (flush 2 s)
    const before = run.sent().filter((m) => m.type === "telemetry");
    assert.equal(before.length, 3);
    assert.ok(run.storage.keys(OUTBOX_STORAGE_DOMAIN).length > 0, "the outbox wrote them");

    run.send({ type: "factory_reset", id: 9, confirm: true });
    assert.deepEqual(run.sent()[0], { type: "reply", id: 9, result: { reset: true } });
    run.clock.advance(0);
    assert.equal(run.storage.get(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key), undefined, "the token is erased");
    assert.deepEqual(run.storage.keys(OUTBOX_STORAGE_DOMAIN), [], "the durable outbox is emptied");
    assert.equal(run.storage.get(CLOCK_STORAGE.domain, CLOCK_STORAGE.key), LAST_GOOD, "the last good time stays");
    assert.notEqual(run.storage.get(HEALTH_STORAGE.domain, HEALTH_STORAGE.key), undefined, "the boot record stays");
    const discarded = run.events.find((e) => e.event === "telemetry_discarded");
    assert.deepEqual(discarded?.fields, { records: 3 });

    // The next connection: the build's token, and none of the records meant for the server of before.
    run.socket().fail("the server went away");
    run.clock.advance(60_000);
    const second = run.accept();
    assert.equal(second.headers.get("authorization"), "Bearer build-token-1");
    run.clock.advance(10);
    const after = run.sent();
    assert.equal(after[0]!.type, "hello");
    const resent = after.filter((m) => m.type === "telemetry").map((m) => m.seq as number);
    assert.ok(resent.every((seq) => seq > 3), `only new records (seq ${resent.join(", ")})`);
    run.send({ type: "status", id: 3 });
    const status = run.sent().find((m) => m.type === "reply" && m.id === 3)!.result as Json;
    assert.deepEqual(status.auth, { token: "config", refused: 0 }, "status says where the token comes from now");
  });

  it("without a build token, a factory reset leaves the handshake with no Authorization at all", function () {
    const run = rig();
    run.device.start();
    assert.equal(run.accept().headers.get("authorization"), `Bearer ${STORED_TOKEN}`);
    run.send({ type: "factory_reset", id: 1, confirm: true });
    run.clock.advance(0);
    run.socket().fail("the server went away");
    run.clock.advance(60_000);
    const request = run.accept();
    assert.equal(request.headers.get("authorization"), undefined);
    assert.equal(request.headers.get(DEVICE_ID_HEADER.toLowerCase()), "dev-1");
  });

  it("a new name from the server reaches the next handshake's Moorline-Device header and the hello, and is kept once it connected", function () {
    const run = rig();
    run.device.start();
    assert.equal(run.accept().headers.get(DEVICE_ID_HEADER.toLowerCase()), "dev-1");
    run.sent();
    run.send({ type: "server", id: 2, action: "set", name: "kitchen-2" });
    assert.deepEqual(run.sent()[0], { type: "reply", id: 2, result: { trying: { name: "kitchen-2" } } });
    const count = run.sockets.length;
    run.clock.advance(0); // the trial: the same server, reconnected under the new name
    run.socket().fail("closed by the server after the close handshake");
    run.clock.advance(5_000);
    assert.equal(run.sockets.length, count + 1, "one new connection");
    const request = run.accept();
    assert.equal(request.headers.get(DEVICE_ID_HEADER.toLowerCase()), "kitchen-2");
    run.clock.advance(10);
    assert.equal(run.sent()[0]!.device, "kitchen-2");
    assert.match(run.storage.get("provision", "server") ?? "", /"deviceId":"kitchen-2"/);
  });
});
