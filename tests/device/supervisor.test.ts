/**
 * The connection supervisor alone: a virtual clock drives every delay and deadline, and a
 * fake client factory records what the supervisor asked of each client and lets the test
 * play the connection (open, messages, pongs, close): tests/support/supervisor-harness.ts.
 * Its heartbeat is in heartbeat.test.ts; the same supervisor against real servers and
 * processes is in tests/integration/supervisor.test.ts.
 */
import assert from "node:assert/strict";

import { createJsonLog } from "../../hosts/node/host.js";
import { DEFAULT_BACKOFF } from "../../src/device/backoff.js";
import { CloseCode } from "../../src/websocket/constants.js";
import { ErrorCode, handshakeError, WebSocketError } from "../../src/shared/errors.js";
import {
  ConnectionSupervisor,
  DEFAULT_HEARTBEAT,
  DEFAULT_STABLE_MS,
  SupervisorState,
  type ClientLike,
} from "../../src/device/supervisor.js";
import { fakeTcp } from "../support/fake-tcp.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { assertOptionError, FakeClient, harness, NO_TCP, TOP, topDelay, URL } from "../support/supervisor-harness.js";

describe("ConnectionSupervisor", function () {
  describe("options", function () {
    it("does not connect until start()", function () {
      const h = harness({}, false);
      assert.equal(h.supervisor.state, SupervisorState.STOPPED);
      assert.equal(h.clients.length, 0);
      assert.equal(h.clock.size, 0);
    });

    it("exports the documented defaults", function () {
      assert.deepEqual({ ...DEFAULT_HEARTBEAT }, { intervalMs: 20_000, timeoutMs: 10_000 });
      assert.equal(DEFAULT_STABLE_MS, 30_000);
    });

    it("reports a bad URL from the constructor, never retrying it", function () {
      for (const url of ["http://device.example/", "ws://", "ws://host:99999/", "ws://host/#frag", "not a url"]) {
        assert.throws(
          () => harness({ url }, false),
          (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_URL,
          url,
        );
      }
      assert.throws(() => harness({ url: 42 as unknown as string }, false), /option url must be a string/);
    });

    it("refuses wss:// on a host without TLS, but not with a host that has it or a custom client", function () {
      const host = harness({}, false).host;
      assert.throws(
        () => new ConnectionSupervisor({ url: "wss://device.example/", host }),
        (error: unknown) => error instanceof WebSocketError && error.code === ErrorCode.INVALID_URL && /TLS/.test(error.message),
      );
      new ConnectionSupervisor({ url: "wss://device.example/", host: { ...host, tls: host.tcp } });
      const h = harness({ url: "wss://device.example/" });
      assert.equal(h.client.options.url, "wss://device.example/");
    });

    it("gives every client its TLS options, and checks them once, up front", function () {
      const pin = Buffer.alloc(32, 9).toString("base64");
      const tls = { ca: "-----BEGIN CERTIFICATE-----", pins: [pin] };
      const h = harness({ url: "wss://device.example/", client: { tls } });
      assert.deepEqual(h.client.options.tls, tls);
      h.client.closed();
      h.clock.advance(DEFAULT_BACKOFF.capMs);
      assert.equal(h.clients.length, 2);
      assert.deepEqual(h.clients[1]!.options.tls, tls, "the retry verifies the same way");
      assertOptionError({ url: "ws://device.example/", client: { tls: { insecure: true } } }, "client.tls");
      assertOptionError({ url: "wss://device.example/", client: { tls: { pins: ["short"] } } }, "client.tls.pins");
      assertOptionError({ url: "wss://device.example/", client: { tls: { pins: [pin], insecure: true } } }, "client.tls.insecure");
    });

    it("names each bad option", function () {
      assertOptionError({ host: undefined }, "host");
      assertOptionError({ host: { timers: new VirtualClock(), random: () => {} } }, "host.tcp");
      assertOptionError({ backoff: { baseMs: -5 } }, "backoff.baseMs");
      assertOptionError({ backoff: { capMs: 10 } }, "backoff.capMs");
      assertOptionError({ backoff: "fast" as unknown as object }, "backoff");
      assertOptionError({ stableMs: 0 }, "stableMs");
      assertOptionError({ stableMs: 1.5 }, "stableMs");
      assertOptionError({ heartbeat: { intervalMs: 0 } }, "heartbeat.intervalMs");
      assertOptionError({ heartbeat: { timeoutMs: "10s" as unknown as number } }, "heartbeat.timeoutMs");
      assertOptionError({ heartbeat: { everyMs: 5 } as unknown as object }, "heartbeat.everyMs");
      assertOptionError({ heartbeat: true as unknown as false }, "heartbeat");
      assertOptionError({ networkUp: "yes" as unknown as boolean }, "networkUp");
      assertOptionError({ onOpen: 5 as unknown as () => void }, "onOpen");
      assertOptionError({ createClient: "ws" as unknown as () => ClientLike }, "createClient");
      assertOptionError({ client: { limits: { maxMessageBytes: 1 } } }, "limits.maxMessageBytes");
      assertOptionError({ client: { protocols: "not a token" } }, "protocols");
      assertOptionError({ client: { headers: { "X-Token": "a\r\nInjected: yes" } } }, 'headers["X-Token"]');
      assertOptionError({ client: { onOpen: () => {} } as unknown as object }, "client.onOpen");
      assertOptionError({ heartbaet: false }, "heartbaet");
    });

    it("accepts heartbeat: false and partial heartbeats", function () {
      harness({ heartbeat: false }, false);
      harness({ heartbeat: { intervalMs: 5 } }, false);
    });
  });

  describe("creating clients", function () {
    it("passes the URL, the host, the client options and its own callbacks", function () {
      const h = harness({ client: { protocols: ["chat.v2"], headers: { Authorization: "Bearer t" }, limits: { maxMessageBytes: 4096 } } });
      assert.equal(h.supervisor.state, SupervisorState.CONNECTING);
      const options = h.client.options;
      assert.equal(options.url, URL);
      assert.equal(options.host, h.host);
      assert.deepEqual(options.protocols, ["chat.v2"]);
      assert.deepEqual(options.headers, { Authorization: "Bearer t" });
      assert.deepEqual(options.limits, { maxMessageBytes: 4096 });
      for (const name of ["onOpen", "onMessage", "onPing", "onPong", "onClose"] as const) {
        assert.equal(typeof options[name], "function", name);
      }
    });

    it("makes a real WebSocketClient by default, over the host's TCP", function () {
      const clock = new VirtualClock();
      const { tcp, sockets } = fakeTcp();
      const supervisor = new ConnectionSupervisor({ url: URL, host: { tcp, timers: clock, random: (into) => into.fill(7) } });
      supervisor.start();
      assert.equal(sockets.length, 1);
      assert.equal(sockets[0]!.options.host, "device.example");
      assert.equal(sockets[0]!.options.port, 8080);
      // The refused connection is retried after a backoff delay.
      sockets[0]!.fail("connection refused");
      assert.equal(supervisor.state, SupervisorState.BACKOFF);
      assert.equal(supervisor.stats.lastClose?.code, CloseCode.ABNORMAL);
      supervisor.stop();
      assert.equal(clock.size, 0);
    });

    it("treats a client factory that throws as a failed attempt: logged, retried after backoff", function () {
      let calls = 0;
      const h = harness({
        createClient: () => {
          calls++;
          throw new Error("no free sockets");
        },
      });
      assert.equal(calls, 1);
      assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
      assert.equal(h.closes.length, 1);
      assert.equal(h.closes[0]!.event.error?.code, ErrorCode.CONNECT_FAILED);
      assert.match(h.closes[0]!.event.reason, /no free sockets/);
      assert.equal(h.closes[0]!.retryInMs, topDelay(0));
      assert.equal(h.events("ws_connect_error").length, 1);
      h.clock.advance(topDelay(0));
      assert.equal(calls, 2);
      h.supervisor.stop();
    });

    it("copes with a client that reports its close from inside its constructor", function () {
      const h = harness({
        createClient: (options) => {
          const client = new FakeClient(options);
          client.refuse();
          return client;
        },
      });
      assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
      assert.equal(h.closes.length, 1);
      assert.equal(h.supervisor.send("x"), false);
      h.supervisor.stop();
      assert.equal(h.clock.size, 0);
    });
  });

  describe("backoff", function () {
    it("waits backoffDelay(0) after a refused attempt, then tries again", function () {
      const h = harness();
      h.client.refuse();
      assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
      assert.equal(h.closes[0]!.retryInMs, 999);
      h.clock.advance(998);
      assert.equal(h.clients.length, 1, "no attempt before the delay is over");
      h.clock.advance(1);
      assert.equal(h.clients.length, 2);
      assert.equal(h.supervisor.state, SupervisorState.CONNECTING);
    });

    it("doubles the window with each consecutive failure up to the cap, forever", function () {
      const h = harness();
      const delays: number[] = [];
      for (let attempt = 0; attempt < 200; attempt++) {
        h.client.refuse();
        const retry = h.closes[h.closes.length - 1]!.retryInMs!;
        delays.push(retry);
        assert.equal(h.supervisor.stats.consecutiveFailures, attempt + 1);
        assert.equal(h.clock.size, 1, "one timer: the backoff wait");
        h.clock.advance(retry);
        assert.equal(h.clients.length, attempt + 2, `attempt ${attempt + 2} made`);
      }
      assert.deepEqual(delays.slice(0, 8), [999, 1_999, 3_999, 7_999, 15_999, 31_999, 59_999, 59_999]);
      assert.ok(delays.every((delay) => delay <= DEFAULT_BACKOFF.capMs));
      assert.equal(delays[199], 59_999);
      const logged = h.events("ws_backoff");
      assert.equal(logged.length, 200);
      assert.deepEqual(
        [logged[0]!.fields.delayMs, logged[0]!.fields.attempt, logged[2]!.fields.delayMs, logged[2]!.fields.attempt],
        [999, 0, 3_999, 2],
      );
    });


    it("draws the delay from the host's random source (full jitter), never below minMs", function () {
      const h = harness();
      h.random = 0.5;
      h.client.refuse();
      assert.equal(h.closes[0]!.retryInMs, 500);
      h.clock.advance(500);
      h.random = 0;
      h.client.refuse();
      assert.equal(h.closes[1]!.retryInMs, DEFAULT_BACKOFF.minMs, "a zero draw still waits minMs");
    });

    it("waits at the long end after the server refuses the credentials (ERR_UNAUTHORIZED), and says so", function () {
      const h = harness({ backoff: { baseMs: 1_000, capMs: 60_000 } });
      const refuse = (status: number) =>
        h.client.closed({ reason: `server answered ${status}`, error: handshakeError(ErrorCode.UNAUTHORIZED, `server answered ${status}`, status) });
      h.random = 0;
      refuse(401);
      assert.equal(h.closes[0]!.retryInMs, 30_000, "not the first window's second: half the cap at least");
      h.clock.advance(29_999);
      assert.equal(h.clients.length, 1, "no attempt before the delay is over");
      h.clock.advance(1);
      assert.equal(h.clients.length, 2);
      h.random = TOP;
      refuse(403);
      assert.equal(h.closes[1]!.retryInMs, 60_000, "the cap itself at the top of the draw");
      h.clock.advance(60_000);
      assert.equal(h.supervisor.stats.unauthorized, 2);
      assert.deepEqual(
        h.events("ws_unauthorized").map((e) => e.fields),
        [
          { status: 401, delayMs: 30_000, refusals: 1 },
          { status: 403, delayMs: 60_000, refusals: 2 },
        ],
      );
      assert.equal(h.events("ws_backoff")[0]!.fields.error, ErrorCode.UNAUTHORIZED);
      // Any other failure next: the window has grown with the refusals (2 failures so far).
      h.client.refuse();
      assert.equal(h.closes[2]!.retryInMs, 3_999);
      assert.equal(h.supervisor.stats.consecutiveFailures, 3);
    });

    it("counts a connection that opens and closes before stableMs as a failure (no tight loop)", function () {
      const h = harness();
      // The server accepts and closes at once, each time with a clean 1000.
      for (let i = 0; i < 6; i++) {
        h.client.open();
        h.clock.advance(10);
        h.client.closed({ code: CloseCode.NORMAL, reason: "bye", wasClean: true });
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      assert.deepEqual(
        h.closes.map((c) => c.retryInMs),
        [999, 1_999, 3_999, 7_999, 15_999, 31_999],
      );
      assert.equal(h.supervisor.stats.connects, 6);
      assert.equal(h.supervisor.stats.reconnects, 5);
      assert.deepEqual(h.supervisor.stats.lastClose, { code: 1000, reason: "bye" });
    });

    it("resets the backoff when the server still sends messages stableMs after the opening", function () {
      const h = harness({ heartbeat: false });
      for (let i = 0; i < 3; i++) {
        h.client.refuse();
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      assert.equal(h.supervisor.stats.consecutiveFailures, 3);
      h.client.open();
      h.clock.advance(DEFAULT_STABLE_MS - 1);
      h.client.message("early");
      assert.equal(h.supervisor.stats.consecutiveFailures, 3, "a message before stableMs proves nothing yet");
      h.clock.advance(1);
      assert.equal(h.supervisor.stats.consecutiveFailures, 3, "time alone does not count");
      h.client.message("still talking");
      assert.equal(h.supervisor.stats.consecutiveFailures, 0, "stable: reset");
      assert.equal(h.events("ws_backoff_reset").length, 1);
      assert.equal(h.clock.size, 0, "with the heartbeat off, no timer while open");
      // Even a clean close of a long-lived connection is followed by a (first-window) wait.
      h.client.closed({ code: CloseCode.NORMAL, reason: "", wasClean: true });
      assert.equal(h.closes[h.closes.length - 1]!.retryInMs, 999);
    });

    it("lets the delays grow against a server that accepts and then says nothing (dead-link detection is not stability)", function () {
      // The defaults: the heartbeat declares the link dead 20 s + 10 s after the opening,
      // exactly stableMs. Counting that time as stable kept the backoff at attempt 0 forever.
      assert.equal(DEFAULT_HEARTBEAT.intervalMs + DEFAULT_HEARTBEAT.timeoutMs, DEFAULT_STABLE_MS);
      const h = harness({ heartbeat: undefined });
      for (let i = 0; i < 6; i++) {
        h.client.open();
        h.clock.advance(DEFAULT_STABLE_MS);
        assert.equal(h.supervisor.state, SupervisorState.BACKOFF, `connection ${i + 1} declared dead`);
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      assert.equal(h.supervisor.stats.heartbeatTimeouts, 6);
      assert.deepEqual(h.events("ws_backoff").map((e) => e.fields.attempt), [0, 1, 2, 3, 4, 5]);
      assert.deepEqual(h.closes.map((c) => c.retryInMs), [999, 1_999, 3_999, 7_999, 15_999, 31_999]);
      assert.deepEqual(h.events("ws_backoff_reset"), []);
    });

    it("lets them grow against a server that speaks only before stableMs, then goes silent", function () {
      // stableMs shorter than the dead-link detection: the early message is not enough.
      const h = harness({ heartbeat: undefined, stableMs: 5_000 });
      for (let i = 0; i < 4; i++) {
        h.client.open();
        h.clock.advance(100);
        h.client.message("welcome");
        h.clock.advance(DEFAULT_HEARTBEAT.intervalMs + DEFAULT_HEARTBEAT.timeoutMs);
        assert.equal(h.supervisor.state, SupervisorState.BACKOFF, `connection ${i + 1} declared dead`);
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      assert.deepEqual(h.events("ws_backoff").map((e) => e.fields.attempt), [0, 1, 2, 3]);
    });

    it("after a stable connection dies of the heartbeat, starts again from the first window", function () {
      const h = harness({ heartbeat: undefined });
      for (let i = 0; i < 3; i++) {
        h.client.refuse();
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      h.client.open();
      for (let t = 0; t < 40_000; t += 5_000) {
        h.clock.advance(5_000);
        h.client.message("telemetry ack");
      }
      assert.equal(h.supervisor.stats.consecutiveFailures, 0, "stable since the message at 30 s");
      h.clock.advance(30_000); // then silence: the ping at 60 s goes unanswered
      assert.equal(h.supervisor.stats.heartbeatTimeouts, 1);
      assert.deepEqual(h.events("ws_backoff").map((e) => e.fields.attempt), [0, 1, 2, 0]);
      assert.equal(h.closes[h.closes.length - 1]!.retryInMs, 999);
    });

    it("counts connects and reconnects", function () {
      const h = harness({ heartbeat: false });
      h.client.open();
      assert.deepEqual([h.supervisor.stats.connects, h.supervisor.stats.reconnects], [1, 0]);
      h.client.closed({ code: 1001 });
      h.clock.advance(999);
      h.client.open();
      assert.deepEqual([h.supervisor.stats.connects, h.supervisor.stats.reconnects], [2, 1]);
    });
  });

  describe("network", function () {
    it("waits for the network when started without it, then connects at once", function () {
      const h = harness({ networkUp: false });
      assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
      assert.equal(h.clients.length, 0);
      assert.equal(h.clock.size, 0);
      h.clock.advance(60_000);
      assert.equal(h.clients.length, 0);
      h.supervisor.setNetwork(true);
      assert.equal(h.clients.length, 1, "an attempt at once");
      assert.equal(h.supervisor.state, SupervisorState.CONNECTING);
    });

    it("terminates an open connection at once when the network goes down", function () {
      const h = harness();
      h.client.open();
      h.supervisor.setNetwork(false);
      assert.equal(h.client.terminations.length, 1);
      const error = h.client.terminations[0]!;
      assert.ok(error instanceof WebSocketError);
      assert.equal(error.code, ErrorCode.NETWORK_DOWN);
      assert.match(error.message, /network down/);
      assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
      assert.equal(h.closes[0]!.retryInMs, undefined);
      assert.equal(h.closes[0]!.event.error?.code, ErrorCode.NETWORK_DOWN);
      assert.equal(h.clock.size, 0, "no heartbeat, no retry");
      assert.equal(h.supervisor.send("x"), false);
      h.clock.advance(600_000);
      assert.equal(h.clients.length, 1, "nothing attempted while the network is down");
    });

    it("reconnects at once when the network comes back, without waiting out the backoff", function () {
      const h = harness();
      for (let i = 0; i < 5; i++) {
        h.client.refuse();
        h.clock.advance(h.closes[h.closes.length - 1]!.retryInMs!);
      }
      h.client.refuse();
      assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
      h.supervisor.setNetwork(false);
      assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
      assert.equal(h.clock.size, 0, "the retry timer is cancelled");
      const before = h.clients.length;
      h.supervisor.setNetwork(true);
      assert.equal(h.clients.length, before + 1);
      assert.equal(h.clock.now(), 1_999 + 999 + 3_999 + 7_999 + 15_999, "no time passed");
    });

    it("terminates an attempt under way when the network goes down", function () {
      const h = harness();
      h.supervisor.setNetwork(false);
      assert.equal(h.client.terminations[0]?.code, ErrorCode.NETWORK_DOWN);
      assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
    });

    it("does not count a network-down close as a failure", function () {
      const h = harness();
      h.client.refuse();
      h.clock.advance(999);
      assert.equal(h.supervisor.stats.consecutiveFailures, 1);
      h.client.open();
      h.supervisor.setNetwork(false);
      h.supervisor.setNetwork(true);
      assert.equal(h.supervisor.stats.consecutiveFailures, 1);
      h.client.refuse();
      assert.equal(h.closes[h.closes.length - 1]!.retryInMs, 1_999, "the window continues from 1 failure");
    });

    it("ignores a repeated report of the same network state", function () {
      const h = harness();
      h.supervisor.setNetwork(true);
      assert.equal(h.clients.length, 1);
      h.supervisor.setNetwork(false);
      h.supervisor.setNetwork(false);
      assert.equal(h.clients[0]!.terminations.length, 1);
    });

    it("records the network state while stopped, and uses it at start", function () {
      const h = harness({}, false);
      h.supervisor.setNetwork(false);
      h.supervisor.start();
      assert.equal(h.supervisor.state, SupervisorState.WAITING_FOR_NETWORK);
      h.supervisor.stop();
      h.supervisor.setNetwork(true);
      assert.equal(h.clients.length, 0, "stopped: setNetwork(true) attempts nothing");
    });

    it("refuses a non-boolean", function () {
      const h = harness();
      assert.throws(() => h.supervisor.setNetwork("up" as unknown as boolean), (e: unknown) => e instanceof WebSocketError && e.code === ErrorCode.INVALID_ARGUMENT);
    });
  });

  describe("stop", function () {
    it("closes an open connection with 1001 and reports stopped when it has closed", function () {
      const h = harness();
      h.client.open();
      let stopped = 0;
      h.supervisor.stop(() => stopped++);
      assert.deepEqual(h.client.closeCalls, [{ code: 1001, reason: "stopping" }]);
      assert.equal(h.supervisor.state, SupervisorState.STOPPING);
      assert.equal(stopped, 0, "not before the connection has closed");
      assert.equal(h.clock.size, 0, "no heartbeat while stopping");
      assert.equal(h.supervisor.send("late"), false);
      h.client.closed({ code: 1001, reason: "stopping", wasClean: true });
      assert.equal(stopped, 1);
      assert.equal(h.supervisor.state, SupervisorState.STOPPED);
      assert.equal(h.closes[0]!.retryInMs, undefined);
      assert.equal(h.clock.size, 0);
      h.clock.advance(3_600_000);
      assert.equal(h.clients.length, 1, "no attempt after stop");
    });

    it("terminates an attempt under way and reports stopped before returning", function () {
      const h = harness();
      let stopped = 0;
      h.supervisor.stop(() => stopped++);
      assert.equal(h.client.terminations.length, 1);
      assert.equal(stopped, 1);
      assert.equal(h.supervisor.state, SupervisorState.STOPPED);
      assert.equal(h.clock.size, 0);
      assert.deepEqual(h.states, ["connecting", "stopped"]);
    });

    it("cancels the backoff wait", function () {
      const h = harness();
      h.client.refuse();
      assert.equal(h.clock.size, 1);
      let stopped = 0;
      h.supervisor.stop(() => stopped++);
      assert.equal(stopped, 1);
      assert.equal(h.clock.size, 0);
      h.clock.advance(3_600_000);
      assert.equal(h.clients.length, 1);
    });

    it("reports stopped at once when waiting for the network, or never started", function () {
      for (const h of [harness({ networkUp: false }), harness({}, false)]) {
        let stopped = 0;
        h.supervisor.stop(() => stopped++);
        assert.equal(stopped, 1);
        assert.equal(h.supervisor.state, SupervisorState.STOPPED);
        assert.equal(h.clock.size, 0);
      }
    });

    it("calls every onStopped once when stop() is called again while stopping", function () {
      const h = harness();
      h.client.open();
      const calls: string[] = [];
      h.supervisor.stop(() => calls.push("first"));
      h.supervisor.stop(() => calls.push("second"));
      h.client.closed({ code: 1001, wasClean: true });
      assert.deepEqual(calls, ["first", "second"]);
      h.supervisor.stop(() => calls.push("third"));
      assert.deepEqual(calls, ["first", "second", "third"]);
    });

    it("finishes at once when the network goes down while stopping", function () {
      const h = harness();
      h.client.open();
      let stopped = 0;
      h.supervisor.stop(() => stopped++);
      h.supervisor.setNetwork(false);
      assert.equal(stopped, 1);
      assert.equal(h.supervisor.state, SupervisorState.STOPPED);
    });

    it("refuses start() while stopping, and starts afresh once stopped", function () {
      const h = harness();
      h.client.open();
      h.supervisor.stop();
      assert.throws(() => h.supervisor.start(), (e: unknown) => e instanceof WebSocketError && e.code === ErrorCode.INVALID_STATE);
      h.client.closed({ code: 1001, wasClean: true });
      h.supervisor.start();
      assert.equal(h.clients.length, 2);
      assert.equal(h.supervisor.state, SupervisorState.CONNECTING);
      h.supervisor.start();
      assert.equal(h.clients.length, 2, "start() when started does nothing");
    });

    it("can be called from the application's callbacks without leaving a retry behind", function () {
      const h = harness();
      h.supervisor.stop();
      const supervisor = new ConnectionSupervisor({
        url: URL,
        host: h.host,
        createClient: (options) => {
          const client = new FakeClient(options);
          h.clients.push(client);
          return client;
        },
        onClose: () => supervisor.stop(),
      });
      supervisor.start();
      h.client.refuse();
      assert.equal(supervisor.state, SupervisorState.STOPPED);
      assert.equal(h.clock.size, 0);

      const viaState = new ConnectionSupervisor({
        url: URL,
        host: h.host,
        createClient: (options) => {
          const client = new FakeClient(options);
          h.clients.push(client);
          return client;
        },
        onState: (state) => {
          if (state === SupervisorState.BACKOFF) viaState.stop();
        },
      });
      viaState.start();
      h.client.refuse();
      assert.equal(viaState.state, SupervisorState.STOPPED);
      assert.equal(h.clock.size, 0);
    });

    it("drops a client that never reports its close (stop never hangs on it)", function () {
      const made: FakeClient[] = [];
      const h = harness({
        createClient: (options) => {
          const client = new FakeClient(options);
          client.terminate = (error) => void client.terminations.push(error); // never calls onClose
          made.push(client);
          return client;
        },
      });
      let stopped = 0;
      h.supervisor.stop(() => stopped++);
      assert.equal(made[0]!.terminations.length, 1);
      assert.equal(stopped, 1);
      assert.equal(h.supervisor.state, SupervisorState.STOPPED);
      assert.equal(h.closes.length, 1, "the supervisor reported the close itself");
      made[0]!.closed({ code: 1006 }); // late: ignored
      assert.equal(h.closes.length, 1);
    });

    it("refuses an onStopped that is not a function", function () {
      const h = harness();
      assert.throws(() => h.supervisor.stop(5 as unknown as () => void), (e: unknown) => e instanceof WebSocketError && e.code === ErrorCode.INVALID_ARGUMENT);
    });
  });

  describe("send", function () {
    it("sends on the open connection", function () {
      const h = harness();
      h.client.open();
      assert.equal(h.supervisor.send("hello"), true);
      assert.equal(h.supervisor.send(new Uint8Array([1, 2])), true);
      assert.deepEqual(h.client.sent, ["hello", new Uint8Array([1, 2])]);
    });

    it("returns false when no connection is open, without throwing", function () {
      const h = harness({}, false);
      assert.equal(h.supervisor.send("x"), false, "stopped");
      h.supervisor.start();
      assert.equal(h.supervisor.send("x"), false, "connecting");
      h.client.refuse();
      assert.equal(h.supervisor.send("x"), false, "backoff");
    });

    it("returns false when the client's send buffer is full or it is closing", function () {
      const h = harness();
      h.client.open();
      h.client.sendError = new WebSocketError(ErrorCode.BUFFER_FULL, "full");
      assert.equal(h.supervisor.send("x"), false);
      h.client.sendError = new WebSocketError(ErrorCode.INVALID_STATE, "closing");
      assert.equal(h.supervisor.send("x"), false);
    });

    it("throws for a value that is neither a string nor bytes (a programming error)", function () {
      const h = harness();
      h.client.open();
      assert.throws(() => h.supervisor.send({ a: 1 } as unknown as string), (e: unknown) => e instanceof WebSocketError && e.code === ErrorCode.INVALID_ARGUMENT);
    });
  });

  describe("callbacks and state", function () {
    it("reports each state change once, through a typical life", function () {
      const h = harness({ heartbeat: false });
      h.client.open("chat.v2");
      h.client.message("m1");
      h.client.closed({ code: 1012, reason: "restart" });
      h.clock.advance(999);
      h.client.open();
      h.supervisor.stop();
      h.client.closed({ code: 1001, wasClean: true });
      assert.deepEqual(h.states, ["connecting", "open", "backoff", "connecting", "open", "stopping", "stopped"]);
      assert.deepEqual(h.opens, ["chat.v2", ""]);
      assert.deepEqual(h.messages, ["m1"]);
      assert.deepEqual(h.closes.map((c) => [c.event.code, c.retryInMs]), [[1012, 999], [1001, undefined]]);
    });

    it("ignores events from a client it has replaced", function () {
      const h = harness();
      const first = h.client;
      first.open();
      h.supervisor.setNetwork(false);
      h.supervisor.setNetwork(true);
      first.message("stale");
      first.closed({ code: 1000 });
      assert.deepEqual(h.messages, []);
      assert.equal(h.closes.length, 1);
      assert.equal(h.supervisor.state, SupervisorState.CONNECTING);
    });

    it("keeps going when onState or onClose throws, logging it", function () {
      const h = harness({
        onState: () => {
          throw new Error("buggy onState");
        },
        onClose: () => {
          throw new Error("buggy onClose");
        },
      });
      h.client.refuse();
      assert.equal(h.supervisor.state, SupervisorState.BACKOFF);
      h.clock.advance(999);
      assert.equal(h.clients.length, 2);
      const failures = h.events("supervisor_callback_failed").map((e) => e.fields.callback);
      assert.ok(failures.includes("onState") && failures.includes("onClose"), String(failures));
    });

    it("gives statistics as a snapshot", function () {
      const h = harness();
      h.client.refuse();
      const stats = h.supervisor.stats;
      h.clock.advance(999);
      h.client.closed({ code: 1000, reason: "later" });
      assert.equal(stats.consecutiveFailures, 1);
      assert.equal(stats.lastClose?.code, 1006);
      assert.equal(h.supervisor.stats.consecutiveFailures, 2);
    });
  });

  describe("logging", function () {
    it("prints one JSON line per event on the Node host", function () {
      const lines: string[] = [];
      const clock = new VirtualClock();
      const clients: FakeClient[] = [];
      const supervisor = new ConnectionSupervisor({
        url: URL,
        host: { tcp: NO_TCP, timers: clock, random: (into) => into.fill(0xff), log: createJsonLog({ write: (line) => lines.push(line) }, "debug") },
        heartbeat: { intervalMs: 100, timeoutMs: 50 },
        createClient: (options) => {
          const client = new FakeClient(options);
          clients.push(client);
          return client;
        },
      });
      supervisor.start();
      clients[0]!.open();
      clock.advance(150);
      supervisor.stop();
      assert.ok(lines.length > 0);
      const records = lines.map((line) => {
        assert.ok(line.endsWith("\n") && !line.slice(0, -1).includes("\n"), "one line per event");
        return JSON.parse(line) as Record<string, unknown>;
      });
      const timeout = records.find((r) => r.event === "ws_heartbeat_timeout");
      assert.deepEqual([timeout?.level, timeout?.timeoutMs, timeout?.intervalMs], ["warn", 50, 100]);
      const backoff = records.find((r) => r.event === "ws_backoff");
      assert.deepEqual([backoff?.delayMs, backoff?.attempt], [999, 0]);
      assert.ok(records.some((r) => r.event === "ws_stopped"));
    });
  });
});
