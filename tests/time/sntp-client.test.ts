/**
 * src/time/sntp-client.ts on a virtual clock, against in-memory UDP: which server is asked
 * when, what ends an exchange and what does not, the kiss-o'-death holds, the backoff between
 * failed rounds, the resync, and that one socket and one timer at most are ever held. The
 * client against real servers (chrony, hostile ones) is tests/integration/ntp.test.ts.
 */
import assert from "node:assert/strict";

import type { LogLevel } from "../../src/shared/host.js";
import { parseNtpServer } from "../../src/time/servers.js";
import {
  DEFAULT_SNTP_BACKOFF,
  DEFAULT_SNTP_INTERVAL_MS,
  DEFAULT_SNTP_TIMEOUT_MS,
  DENY_HOLD_MS,
  RATE_HOLD_MS,
  SntpClient,
  type SntpClientOptions,
  type SntpSample,
} from "../../src/time/sntp-client.js";
import { fakeUdpNet, type FakeUdpSocket } from "../support/fake-udp.js";
import { ntpAnswer, type AnswerFields } from "../support/ntp.js";
import { VirtualClock } from "../support/virtual-clock.js";

const BUILD = Date.UTC(2026, 11, 1);
const TRUE_TIME = Date.UTC(2026, 11, 6, 12, 0, 0);

interface LogLine {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

function setup(servers = ["a.example", "b.example:1123"], options: Partial<SntpClientOptions> = {}) {
  const clock = new VirtualClock();
  const net = fakeUdpNet(clock);
  net.names.set("a.example", "10.0.0.1");
  net.names.set("b.example", "10.0.0.2");
  const samples: SntpSample[] = [];
  const logs: LogLine[] = [];
  let randomByte = 0;
  const client = new SntpClient({
    servers: servers.map((entry) => parseNtpServer("ntp", entry)),
    udp: net.udp,
    resolve: net.resolve,
    timers: clock,
    // Varying bytes: each nonce differs; 0x80.. makes randomUnit() about 0.5.
    random: (into) => {
      for (let i = 0; i < into.length; i++) into[i] = (0x80 + randomByte++) & 0xff;
    },
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
    earliestMs: BUILD - 86_400_000,
    onSample: (sample) => samples.push(sample),
    ...options,
  });
  /** The socket of the exchange under way (after its lookup). */
  const socket = (): FakeUdpSocket => {
    const last = net.sockets[net.sockets.length - 1];
    assert.ok(last && !last.closed, "an exchange is under way");
    return last;
  };
  /** The server of the exchange under way answers its request. */
  const answer = (fields: AnswerFields = {}, from?: { address: string; port: number }): void => {
    const s = socket();
    const request = s.sent[s.sent.length - 1]!;
    const bytes = ntpAnswer(Buffer.from(request.bytes), { timeMs: TRUE_TIME + clock.now(), ...fields });
    s.deliver(new Uint8Array(bytes), from?.address ?? request.address, from?.port ?? request.port);
  };
  const events = (name: string) => logs.filter((line) => line.event === name).map((line) => line.fields);
  /** Advances in 100 ms steps until a request is out (at most `maxMs`). */
  const untilRequest = (maxMs: number): void => {
    for (let waited = 0; ; waited += 100) {
      const last = net.sockets[net.sockets.length - 1];
      if (last && !last.closed && last.sent.length > 0) return;
      assert.ok(waited < maxMs, `a request within ${maxMs} ms`);
      clock.advance(100);
    }
  };
  return { clock, net, client, samples, logs, socket, answer, events, untilRequest };
}

describe("SntpClient (src/time/sntp-client.ts)", function () {
  it("resolves the first server, sends one request to its port, and gives the answer's time", function () {
    const t = setup();
    t.client.start();
    assert.deepEqual(t.net.lookups, ["a.example"]);
    t.clock.advance(0);
    const request = t.socket().sent[0]!;
    assert.equal(request.address, "10.0.0.1");
    assert.equal(request.port, 123);
    assert.equal(request.bytes.length, 48);
    t.clock.advance(20);
    t.answer();
    assert.equal(t.samples.length, 1);
    const sample = t.samples[0]!;
    assert.equal(sample.server, "a.example:123");
    assert.equal(sample.address, "10.0.0.1");
    assert.equal(sample.monotonicMs, 20);
    assert.equal(sample.stratum, 2);
    // The server's time plus half the 20 ms round trip.
    assert.equal(sample.timeMs, TRUE_TIME + 20 + 10);
    assert.deepEqual(t.client.stats, { requests: 1, answers: 1, ignored: 0, rejected: 0, kisses: 0, timeouts: 0 });
    assert.ok(t.net.sockets[0]!.closed, "the exchange's socket is closed with the answer");
  });

  it("sends a fresh random nonce with every request", function () {
    const t = setup(["a.example"]);
    t.client.start();
    t.clock.advance(0);
    t.clock.advance(DEFAULT_SNTP_TIMEOUT_MS);
    t.untilRequest(DEFAULT_SNTP_BACKOFF.baseMs);
    const nonces = t.net.sockets.map((socket) => Buffer.from(socket.sent[0]!.bytes.subarray(40, 48)).toString("hex"));
    assert.equal(nonces.length, 2);
    assert.notEqual(nonces[0], nonces[1]);
  });

  describe("what an exchange ignores, and keeps waiting", function () {
    it("answers from another address or port, with a wrong origin, short, or of another mode", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      t.answer({}, { address: "10.9.9.9", port: 123 });
      t.answer({}, { address: "10.0.0.1", port: 124 });
      t.answer({ origin: "wrong" });
      t.answer({ length: 20 });
      t.answer({ mode: 3 });
      assert.equal(t.samples.length, 0);
      assert.equal(t.client.stats.ignored, 5);
      assert.deepEqual(t.events("ntp_ignored").map((fields) => fields.reason), ["wrong_peer", "wrong_peer", "origin_mismatch", "short", "mode"]);
      // The real answer still counts.
      t.answer();
      assert.equal(t.samples.length, 1);
    });
  });

  describe("failover", function () {
    it("asks the next server when the first does not answer within the timeout", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      t.clock.advance(DEFAULT_SNTP_TIMEOUT_MS - 1);
      assert.equal(t.net.lookups.length, 1, "still waiting");
      t.clock.advance(1);
      assert.deepEqual(t.events("ntp_failed")[0], { server: "a.example:123", reason: "timeout", detail: "no answer within 3000 ms" });
      assert.ok(t.net.sockets[0]!.closed);
      t.clock.advance(0);
      assert.equal(t.socket().sent[0]!.port, 1123, "b.example:1123");
      t.answer();
      assert.equal(t.samples[0]!.server, "b.example:1123");
      assert.equal(t.client.stats.timeouts, 1);
    });

    it("asks the next server at once when a name cannot be resolved or the socket cannot open", function () {
      const t = setup(["nowhere.example", "a.example", "b.example"]);
      t.net.failNextOpen = "no socket";
      t.client.start();
      t.clock.advance(0);
      assert.deepEqual(t.events("ntp_failed")[0], { server: "nowhere.example:123", reason: "resolve", detail: "cannot resolve the host name" });
      assert.deepEqual(t.events("ntp_failed")[1], { server: "a.example:123", reason: "socket", detail: "no socket" });
      t.answer();
      assert.equal(t.samples[0]!.server, "b.example:123");
      assert.equal(t.clock.now(), 0, "all at once, without waiting");
    });

    it("moves on at once when the server's own answer fails a check (stratum, leap, ancient time): rejected, not awaited", function () {
      for (const [fields, reason] of [
        [{ stratum: 16 }, "stratum"],
        [{ leap: 3 }, "unsynchronized"],
        [{ timeMs: Date.UTC(2016, 0, 1) }, "before_build_time"],
        [{ timeMs: 0 }, "transmit_zero"],
        [{ stratum: 0, referenceId: "XYZW" }, "kiss_other"],
      ] as const) {
        const t = setup();
        t.client.start();
        t.clock.advance(0);
        t.answer(fields);
        assert.equal(t.samples.length, 0, reason);
        assert.equal(t.events("ntp_failed")[0]!.reason, reason);
        assert.equal(t.client.stats.rejected, 1);
        t.clock.advance(0);
        assert.equal(t.socket().sent[0]!.address, "10.0.0.2", `${reason}: the next server at once`);
      }
    });

    it("starts the next exchange with the server that answered last", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      t.clock.advance(DEFAULT_SNTP_TIMEOUT_MS);
      t.clock.advance(0);
      t.answer();
      const before = t.net.lookups.length;
      t.untilRequest(DEFAULT_SNTP_INTERVAL_MS);
      assert.equal(t.net.lookups[before], "b.example");
    });
  });

  describe("kiss-o'-death (RFC 5905 section 7.4)", function () {
    it("RATE: that server is left alone for RATE_HOLD_MS, doubling at each RATE; the next one is asked", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      t.answer({ stratum: 0, referenceId: "RATE" });
      assert.deepEqual(t.events("ntp_kiss")[0], { server: "a.example:123", code: "RATE", holdMs: RATE_HOLD_MS });
      t.clock.advance(0);
      assert.equal(t.socket().sent[0]!.address, "10.0.0.2");
      t.answer({ stratum: 0, referenceId: "RATE" });
      // Both held: the next round waits for the first to be free again.
      const retry = t.events("ntp_retry")[0]!;
      assert.equal(retry.held, true);
      assert.equal(retry.delayMs, RATE_HOLD_MS);
      t.clock.advance(RATE_HOLD_MS);
      t.clock.advance(0);
      t.answer({ stratum: 0, referenceId: "RATE" });
      assert.equal(t.events("ntp_kiss")[2]!.holdMs, 2 * RATE_HOLD_MS, "a second RATE from a.example doubles its hold");
      assert.equal(t.client.stats.kisses, 3);
    });

    for (const code of ["DENY", "RSTR"]) {
      it(`${code}: that server is not asked again for DENY_HOLD_MS`, function () {
        const t = setup();
        t.client.start();
        t.clock.advance(0);
        t.answer({ stratum: 0, referenceId: code });
        assert.deepEqual(t.events("ntp_kiss")[0], { server: "a.example:123", code, holdMs: DENY_HOLD_MS });
        t.clock.advance(0);
        t.answer();
        // Resyncs go to b.example only, for a day.
        for (let hour = 0; hour < 23; hour++) {
          t.untilRequest(DEFAULT_SNTP_INTERVAL_MS);
          t.answer();
        }
        assert.ok(t.net.lookups.slice(1).every((name) => name === "b.example"), t.net.lookups.join(" "));
      });
    }

    it("never believes a kiss with a wrong origin (forged)", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      t.answer({ stratum: 0, referenceId: "DENY", origin: "wrong" });
      assert.equal(t.client.stats.kisses, 0);
      t.answer();
      assert.equal(t.samples[0]!.server, "a.example:123");
    });
  });

  describe("rounds that fail, and the resync", function () {
    it("waits a backoff delay (full jitter, growing) after every server failed, then starts again from the top", function () {
      const t = setup(["a.example"]);
      t.client.start();
      const delays: number[] = [];
      for (let round = 0; round < 6; round++) {
        t.clock.advance(0);
        t.clock.advance(DEFAULT_SNTP_TIMEOUT_MS);
        const retry = t.events("ntp_retry")[round]!;
        assert.equal(retry.attempt, round);
        delays.push(retry.delayMs as number);
        t.clock.advance(retry.delayMs as number);
      }
      const { baseMs, capMs, minMs } = DEFAULT_SNTP_BACKOFF;
      delays.forEach((delay, round) => {
        assert.ok(delay >= minMs && delay <= Math.min(capMs, baseMs * 2 ** round), `round ${round}: ${delay}`);
      });
      assert.ok(delays[5]! > delays[0]!, delays.join(","));
      // A success resets the backoff.
      t.clock.advance(0);
      t.answer();
      const retries = t.events("ntp_retry").length;
      t.untilRequest(DEFAULT_SNTP_INTERVAL_MS);
      t.clock.advance(DEFAULT_SNTP_TIMEOUT_MS);
      assert.equal(t.events("ntp_retry").length, retries + 1);
      assert.equal(t.events("ntp_retry").at(-1)!.attempt, 0);
    });

    it("asks again every intervalMs, less up to a tenth at random", function () {
      const t = setup(["a.example"], { intervalMs: 100_000 });
      t.client.start();
      t.clock.advance(0);
      t.answer();
      t.clock.advance(100_000);
      const at = t.net.lookupTimes[1]!;
      assert.ok(at >= 90_000 && at <= 100_000, `asked again at ${at} ms`);
    });

    it("holds one timer and one socket at most, whatever happens", function () {
      const t = setup(["a.example", "b.example", "nowhere.example"]);
      t.client.start();
      for (let step = 0; step < 200; step++) {
        assert.ok(t.clock.size <= 2, `timers: ${t.clock.size}`); // its own, and a lookup's answer
        assert.ok(t.net.sockets.filter((socket) => !socket.closed).length <= 1);
        t.clock.advance(500);
        if (step % 7 === 0 && t.net.sockets.some((socket) => !socket.closed)) t.answer();
      }
    });
  });

  describe("following the network", function () {
    it("stop() abandons the exchange (its late answer is ignored) and sends nothing until start()", function () {
      const t = setup();
      t.client.start();
      t.clock.advance(0);
      const socket = t.socket();
      t.client.stop();
      assert.ok(socket.closed);
      assert.equal(t.clock.size, 0, "no timer left");
      t.clock.advance(10 * DEFAULT_SNTP_INTERVAL_MS);
      assert.equal(t.net.lookups.length, 1);
      t.client.start();
      t.clock.advance(0);
      t.answer();
      assert.equal(t.samples.length, 1);
    });

    it("stop() during a lookup: its answer is ignored", function () {
      const t = setup();
      t.client.start();
      t.client.stop();
      t.clock.advance(0);
      assert.equal(t.net.sockets.length, 0);
    });

    it("a start() soon after a good answer waits out the interval instead of asking again", function () {
      const t = setup(["a.example"], { intervalMs: 100_000 });
      t.client.start();
      t.clock.advance(0);
      t.answer();
      t.client.stop();
      t.clock.advance(30_000);
      t.client.start();
      assert.equal(t.net.lookups.length, 1);
      t.clock.advance(70_000);
      assert.equal(t.net.lookups.length, 2);
    });
  });

  describe("options", function () {
    it("refuses no servers, a missing UDP constructor, and an interval below 15 s, naming the option", function () {
      assert.throws(() => setup([]), { code: "ERR_INVALID_OPTION", message: /servers/ });
      assert.throws(() => setup(["a.example"], { udp: undefined as never }), { code: "ERR_INVALID_OPTION", message: /udp/ });
      assert.throws(() => setup(["a.example"], { intervalMs: 14_999 }), { code: "ERR_INVALID_OPTION", message: /intervalMs must be an integer from 15000/ });
      assert.throws(() => setup(["a.example"], { backoff: { baseMs: 0 } }), { code: "ERR_INVALID_OPTION", message: /backoff\.baseMs/ });
    });
  });
});
