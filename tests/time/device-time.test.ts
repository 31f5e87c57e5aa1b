/**
 * src/time/device-time.ts inside the whole device (src/device/device.ts), on a virtual clock
 * with in-memory TCP and UDP: wss:// held back until NTP answers (one clock_wait line naming
 * the servers), ws:// at once, the fallback of clockFallbackMs and its end, and the clock's
 * fields in hello, status and telemetry as the server receives them.
 */
import assert from "node:assert/strict";

import { parseDeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import { TlsErrorCode, type DeviceHost, type LogLevel, type WallClock } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { SOURCE_DATE_MS } from "../../src/time/clock.js";
import { parseClientFrames, parseRequest, switchingProtocols } from "../support/client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "../support/fake-tcp.js";
import { fakeUdpNet } from "../support/fake-udp.js";
import { serverFrame } from "../support/frames.js";
import { ntpAnswer } from "../support/ntp.js";
import { NO_WIFI } from "../support/no-wifi.js";
import { VirtualClock } from "../support/virtual-clock.js";

const TRUE_TIME = Date.UTC(2027, 1, 2, 3, 4, 5);


function device(config: Record<string, unknown>, wall?: (timers: VirtualClock) => WallClock) {
  const timers = new VirtualClock();
  const logs: Array<{ level: LogLevel; event: string; fields: Record<string, unknown> }> = [];
  const { tcp, sockets } = fakeTcp();
  const net = fakeUdpNet(timers);
  net.names.set("ntp.example", "10.0.0.1");
  const host: DeviceHost = {
    tcp,
    tls: tcp,
    udp: net.udp,
    resolve: net.resolve,
    timers,
    random: (into) => into.fill(0x42),
    wifi: NO_WIFI,
    storage: new MemoryStorage(),
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
    ...(wall ? { wallClock: wall(timers) } : {}),
  };
  const made = new Device({ host, config: parseDeviceConfig({ url: "wss://server.example/", ntp: "ntp.example", ...config }) });
  /**
   * The NTP server answers the request under way, its clock reading TRUE_TIME at virtual time
   * 0, the answer having taken as long to come back as the request took to reach it.
   */
  const ntpAnswers = (): void => {
    const socket = net.sockets[net.sockets.length - 1]!;
    const request = socket.sent[socket.sent.length - 1]!;
    const atServer = TRUE_TIME + (request.at! + timers.now()) / 2;
    socket.deliver(new Uint8Array(ntpAnswer(Buffer.from(request.bytes), { timeMs: atServer })), request.address, request.port);
  };
  /** Opens the WebSocket on the last TCP socket; returns a reader of the messages the device sent. */
  const open = (): { socket: FakeTcpSocket; sent: () => Array<Record<string, unknown>> } => {
    const socket = sockets[sockets.length - 1]!;
    socket.connect();
    socket.receive(switchingProtocols(parseRequest(socket.takeWritten())));
    return { socket, sent: () => parseClientFrames(socket.takeWritten()).map((frame) => JSON.parse(Buffer.from(frame.payload).toString("utf8"))) };
  };
  return { device: made, timers, logs, sockets, net, ntpAnswers, open, events: (name: string) => logs.filter((l) => l.event === name).map((l) => l.fields) };
}

describe("time on the device (src/time/device-time.ts in src/device/device.ts)", function () {
  it("does not attempt wss:// before NTP answers: one clock_wait line naming the servers, no socket, link waiting_for_clock", function () {
    const d = device({ ntp: "ntp.example,192.168.1.1:1123" });
    d.device.start();
    d.timers.advance(0);
    assert.equal(d.sockets.length, 0, "no TCP connection attempted");
    assert.deepEqual(d.events("clock_wait"), [
      {
        servers: ["ntp.example:123", "192.168.1.1:1123"],
        reads: new Date(SOURCE_DATE_MS).toISOString(),
        hint: "wss:// waits until an NTP server gives the time: certificate dates cannot be checked before",
      },
    ]);
    // Minutes of failed NTP rounds: still one clock_wait line, still no attempt.
    d.timers.advance(10 * 60_000);
    assert.equal(d.events("clock_wait").length, 1);
    assert.equal(d.sockets.length, 0);
    assert.ok(d.events("ntp_failed").length >= 2);
    assert.equal(d.device.supervisor.state, "waiting_for_network");
    d.device.stop();
  });

  it("connects wss:// as soon as NTP answers, and says the time in hello and status", function () {
    const d = device({});
    d.device.start();
    d.timers.advance(0);
    d.ntpAnswers();
    assert.equal(d.events("clock_synced").length, 1);
    assert.equal(d.sockets.length, 1, "the attempt starts at once");
    const { socket, sent } = d.open();
    const [hello] = sent();
    assert.equal(hello!.type, "hello");
    assert.equal(hello!.time, TRUE_TIME);
    assert.deepEqual(hello!.clock, { trusted: true, source: "ntp" });
    d.timers.advance(1000);
    socket.receive(serverFrame({ opcode: 1, payload: JSON.stringify({ type: "status", id: 1 }) }));
    const status = sent()[0]!.result as Record<string, unknown>;
    assert.equal(status.time, TRUE_TIME + 1000);
    const clock = status.clock as Record<string, unknown>;
    assert.equal(clock.trusted, true);
    assert.equal(clock.source, "ntp");
    assert.equal(clock.since, TRUE_TIME);
    assert.equal(clock.lastSync, TRUE_TIME);
    assert.equal(clock.offsetMs, TRUE_TIME - SOURCE_DATE_MS, "from the build time it was restored to, to the true time");
    assert.equal(clock.server, "ntp.example:123");
    assert.deepEqual(clock.ntp, { servers: ["ntp.example:123"], requests: 1, answers: 1, ignored: 0, rejected: 0, kisses: 0, timeouts: 0 });
    assert.equal(status.link, "open");
    d.device.stop();
  });

  it("stamps each telemetry record with the time it was made, null while the clock is not trusted", function () {
    const d = device({ url: "ws://server.example/", telemetryIntervalMs: "1000" });
    d.device.start();
    d.timers.advance(0);
    const { sent } = d.open();
    const [hello] = sent();
    assert.equal(hello!.time, null);
    assert.deepEqual(hello!.clock, { trusted: false, source: null });
    d.timers.advance(1000);
    d.ntpAnswers();
    d.timers.advance(1000);
    const records = sent().filter((message) => message.type === "telemetry");
    assert.deepEqual(records.map((record) => record.time), [null, TRUE_TIME + 2000]);
    d.device.stop();
  });

  it("connects ws:// at once: no clock is needed to check", function () {
    const d = device({ url: "ws://server.example/" });
    d.device.start();
    assert.equal(d.sockets.length, 1);
    assert.equal(d.events("clock_wait").length, 0);
    d.device.stop();
  });

  it("reports the link as waiting_for_clock in the composition's status fields while held back", function () {
    const held = device({});
    held.device.start();
    // A status read through the composition's reporter, as the status request would.
    const fields = (held.device as unknown as { report(kind: string): Record<string, unknown> }).report("status");
    assert.equal(fields.link, "waiting_for_clock");
    assert.equal((fields.clock as Record<string, unknown>).fallback, false);
    held.device.stop();
  });

  it("trusts a platform clock kept in sync by its system: no SNTP, wss:// at once", function () {
    const d = device({}, () => ({ now: () => TRUE_TIME, set: () => assert.fail("a system clock is not set"), systemSynced: true }));
    d.device.start();
    assert.equal(d.sockets.length, 1);
    assert.equal(d.net.lookups.length, 0, "no NTP");
    d.device.stop();
  });

  it("says plainly when no NTP server is configured", function () {
    const d = device({ ntp: "" });
    d.device.start();
    assert.equal(d.events("ntp_not_configured").length, 1);
    assert.match(d.events("clock_wait")[0]!.hint as string, /no NTP server can be asked \(config ntp\)/);
    d.device.stop();
  });

  describe("the fallback (config clockFallbackMs)", function () {
    it("attempts wss:// after clockFallbackMs without a trusted clock, and waits again when the certificate is newer than the clock's bound", function () {
      const d = device({ clockFallbackMs: "30000", ntp: "nowhere.example" });
      d.device.start();
      d.timers.advance(29_999);
      assert.equal(d.sockets.length, 0);
      assert.equal(d.events("clock_wait")[0]!.fallbackMs, 30_000);
      d.timers.advance(1);
      assert.equal(d.events("clock_fallback").length, 1);
      assert.equal(d.sockets.length, 1, "attempted with the untrusted clock");
      // The host's TLS finds the certificate not yet valid by the device's (lower-bound) clock.
      d.sockets[0]!.options.onError?.("certificate is not valid before ...", TlsErrorCode.TLS_CERT_NOT_YET_VALID);
      assert.equal(d.events("clock_fallback_ended").length, 1);
      assert.equal(d.device.supervisor.state, "waiting_for_network", "held back again, not retrying in a loop");
      d.timers.advance(29_999);
      assert.equal(d.sockets.length, 1);
      d.timers.advance(1);
      assert.equal(d.sockets.length, 2, "the next fallback, clockFallbackMs later");
      d.device.stop();
    });

    it("keeps a connection made under the fallback, and ends the fallback's timer once NTP answers", function () {
      const d = device({ clockFallbackMs: "5000" });
      d.device.start();
      d.timers.advance(5000);
      assert.equal(d.sockets.length, 1);
      d.open();
      d.ntpAnswers();
      assert.equal(d.device.supervisor.state, "open");
      d.device.stop();
    });

    it("is off by default: wss:// waits however long NTP takes", function () {
      const d = device({ ntp: "nowhere.example" });
      d.device.start();
      d.timers.advance(86_400_000);
      assert.equal(d.sockets.length, 0);
      assert.equal(d.events("clock_fallback").length, 0);
      d.device.stop();
    });
  });

  it("stops SNTP with the device: no timer or socket is left", function () {
    const d = device({ ntp: "nowhere.example" });
    d.device.start();
    d.timers.advance(5000);
    d.device.stop();
    assert.equal(d.timers.size, 0);
    assert.ok(d.net.sockets.every((socket) => socket.closed));
  });
});
