/**
 * src/device/heartbeat.ts: the pings that find a dead peer, through the connection
 * supervisor on a virtual clock with a fake client (tests/support/supervisor-harness.ts),
 * and the heartbeat's option.
 */
import assert from "node:assert/strict";

import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import { DEFAULT_HEARTBEAT, resolveHeartbeat } from "../../src/device/heartbeat.js";
import { SupervisorState } from "../../src/device/supervisor.js";
import { harness } from "../support/supervisor-harness.js";

describe("heartbeat", function () {
  describe("resolveHeartbeat (the option)", function () {
    it("is off with false, the defaults without a value, and merges a partial object", function () {
      assert.equal(resolveHeartbeat(false), undefined);
      assert.deepEqual(resolveHeartbeat(undefined), { intervalMs: 20_000, timeoutMs: 10_000 });
      assert.deepEqual(resolveHeartbeat({ timeoutMs: 500 }), { intervalMs: 20_000, timeoutMs: 500 });
      assert.ok(Object.isFrozen(DEFAULT_HEARTBEAT), "a constant table, frozen (preloaded in flash on the ESP32)");
    });

    it("names the bad value, with its unit", function () {
      for (const [value, pattern] of [
        [{ intervalMs: 0 }, /^option heartbeat\.intervalMs must be an integer from 1 to 86400000 \(milliseconds\), got 0$/],
        [{ timeoutMs: 1.5 }, /^option heartbeat\.timeoutMs must be an integer from 1 to 86400000 \(milliseconds\), got 1\.5$/],
        [{ everyMs: 5 }, /^option heartbeat\.everyMs must be one of intervalMs, timeoutMs \(unknown option\)/],
        [true, /^option heartbeat must be false or an object with intervalMs and timeoutMs, got true$/],
      ] as const) {
        assert.throws(
          () => resolveHeartbeat(value),
          (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_OPTION && pattern.test(error.message),
          JSON.stringify(value),
        );
      }
    });
  });

  const HB = { intervalMs: 20_000, timeoutMs: 10_000 };

  it("pings after intervalMs without a frame, with a payload that identifies the ping", function () {
    const h = harness({ heartbeat: HB });
    h.client.open();
    h.clock.advance(19_999);
    assert.deepEqual(h.client.pings, []);
    h.clock.advance(1);
    assert.deepEqual(h.client.pings, ["1"]);
    h.client.pong("1");
    h.clock.advance(20_000);
    assert.deepEqual(h.client.pings, ["1", "2"]);
  });

  it("measures the round-trip time from the matching pong", function () {
    const h = harness({ heartbeat: HB });
    assert.equal(h.supervisor.stats.lastRttMs, undefined);
    h.client.open();
    h.clock.advance(20_000);
    h.clock.advance(37);
    h.client.pong("1");
    assert.equal(h.supervisor.stats.lastRttMs, 37);
    // A second pong with the same payload (a duplicate) does not measure again.
    h.clock.advance(100);
    h.client.pong("1");
    assert.equal(h.supervisor.stats.lastRttMs, 37);
  });

  it("takes an unsolicited pong as a sign of life, but not as a round trip", function () {
    const h = harness({ heartbeat: HB });
    h.client.open();
    h.clock.advance(20_000);
    h.clock.advance(5);
    h.client.pong("not ours");
    assert.equal(h.supervisor.stats.lastRttMs, undefined);
    h.clock.advance(HB.timeoutMs);
    assert.equal(h.supervisor.stats.heartbeatTimeouts, 0);
    assert.equal(h.supervisor.state, SupervisorState.OPEN);
  });

  it("pings every intervalMs even while messages keep arriving, so the RTT stays fresh", function () {
    const h = harness({ heartbeat: HB });
    h.client.open();
    for (let i = 0; i < 20; i++) {
      h.clock.advance(5_000);
      h.client.message(`telemetry ${i}`);
    }
    // 100 s connected: a ping at 20, 40, 60, 80 and 100 s.
    assert.equal(h.client.pings.length, 5);
    assert.equal(h.messages.length, 20);
    assert.equal(h.supervisor.stats.heartbeatTimeouts, 0, "messages are signs of life: no ping went unanswered");
  });

  it("declares the connection dead when nothing arrives within timeoutMs of a ping", function () {
    const h = harness({ heartbeat: HB });
    h.client.open();
    h.clock.advance(HB.intervalMs);
    assert.equal(h.client.pings.length, 1);
    h.clock.advance(HB.timeoutMs - 1);
    assert.equal(h.supervisor.state, SupervisorState.OPEN, "not a millisecond early");
    h.clock.advance(1);
    assert.equal(h.supervisor.stats.heartbeatTimeouts, 1);
    const error = h.client.terminations[0]!;
    assert.ok(error instanceof WebSocketError);
    assert.equal(error.code, ErrorCode.HEARTBEAT_TIMEOUT);
    assert.match(error.message, /10000 ms/);
    assert.equal(h.closes[0]!.event.error?.code, ErrorCode.HEARTBEAT_TIMEOUT);
    const logged = h.events("ws_heartbeat_timeout");
    assert.equal(logged.length, 1);
    assert.equal(logged[0]!.level, "warn");
    assert.equal(logged[0]!.fields.timeoutMs, 10_000);
    // Replaced through the backoff.
    assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
    h.clock.advance(h.closes[0]!.retryInMs!);
    assert.equal(h.clients.length, 2);
  });

  it("accepts any frame after the ping as life: a message, or a ping from the server", function () {
    for (const answer of ["message", "ping"] as const) {
      const h = harness({ heartbeat: HB });
      h.client.open();
      h.clock.advance(HB.intervalMs + 9_000);
      if (answer === "message") h.client.message("late but alive");
      else h.client.serverPing();
      h.clock.advance(1_000);
      assert.equal(h.supervisor.state, SupervisorState.OPEN, answer);
      // The next ping comes intervalMs after that frame.
      h.clock.advance(HB.intervalMs - 1);
      assert.equal(h.client.pings.length, 2, answer);
      assert.equal(h.supervisor.stats.heartbeatTimeouts, 0, answer);
    }
  });

  it("still runs the deadline when the ping cannot be queued (send buffer full)", function () {
    const h = harness({ heartbeat: HB });
    h.client.open();
    h.client.pingError = new WebSocketError(ErrorCode.BUFFER_FULL, "full");
    h.clock.advance(HB.intervalMs + HB.timeoutMs);
    assert.equal(h.supervisor.stats.heartbeatTimeouts, 1);
  });

  it("is on by default with the documented interval and timeout", function () {
    const h = harness({ heartbeat: undefined });
    h.client.open();
    h.clock.advance(DEFAULT_HEARTBEAT.intervalMs);
    assert.equal(h.client.pings.length, 1);
    h.clock.advance(DEFAULT_HEARTBEAT.timeoutMs);
    assert.equal(h.supervisor.stats.heartbeatTimeouts, 1);
  });

  it("sends nothing when off", function () {
    const h = harness({ heartbeat: false });
    h.client.open();
    h.clock.advance(3_600_000);
    assert.deepEqual(h.client.pings, []);
    assert.equal(h.supervisor.state, SupervisorState.OPEN);
    assert.equal(h.clock.size, 0);
  });

  it("keeps one timer at most, and none after the connection closed", function () {
    const h = harness({ heartbeat: { intervalMs: 1_000, timeoutMs: 500 } });
    h.client.open();
    for (let t = 0; t < 40_000; t += 250) {
      h.clock.advance(250);
      assert.ok(h.clock.size <= 1, `at ${h.clock.now()} ms: ${h.clock.size} timers`);
      const pings = h.client.pings;
      if (pings.length > 0 && t % 1_000 === 0) h.client.pong(pings[pings.length - 1]!);
    }
    h.supervisor.stop();
    assert.equal(h.clock.size, 0);
  });
});
