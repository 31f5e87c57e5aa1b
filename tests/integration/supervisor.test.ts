/**
 * The supervisor against real peers on 127.0.0.1: a `ws` server process killed and
 * restarted on the same port, servers that refuse in every way a server can (accept and
 * close at once, with any close code; drop TCP right after accepting; answer 503 to the
 * upgrade; accept and then say nothing), a server that stops answering pings (half-open
 * detection), and stop() in each phase. On both engines (tests/support/engines.ts): on the Node
 * host, and the same compiled supervisor inside the XS engine, driven through
 * tests/support/on-engine.ts, its callbacks
 * stamped with the time they ran inside XS. Timing uses small policies (backoff base
 * 100 ms, cap 1000 ms) so the whole file runs in seconds; every wait is bounded. State and
 * statistics are read after a refresh() (on XS they change without an event: a pong, a
 * refused attempt).
 *
 * "No tight loop" is asserted the way a server operator would see it: every gap between two
 * attempts is at least backoff.minMs, the backoff attempt numbers keep growing (a connection
 * that closes at once never resets them), and the number of attempts in the window is
 * bounded.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { createJsonLog, createNodeHost } from "../../hosts/node/host.js";
import { createSupervisorOn, type EngineSupervisor, type EngineSupervisorOptions } from "../support/on-engine.js";
import type { BackoffPolicy } from "../../src/device/backoff.js";
import { ErrorCode, HandshakeError } from "../../src/shared/errors.js";
import { SupervisorState, type HeartbeatOptions } from "../../src/device/supervisor.js";
import type { CloseEvent } from "../../src/websocket/client.js";
import { Child } from "../support/child-process.js";
import { ENGINES, useEngine, type EngineName } from "../support/engines.js";
import { closedPort, delay, listenLoopback, until, within } from "../support/wait.js";

/** Small numbers so recovery happens within a test's few seconds. */
const BACKOFF: BackoffPolicy = { baseMs: 100, capMs: 1_000, minMs: 50 };
/** Node's timers may fire up to about a millisecond before performance.now() says they are due. */
const TIMER_SLACK_MS = 3;

/**
 * A `ws` echo server in its own process, so the test can SIGKILL it (the OS then resets its
 * connections, as when a server machine dies) and start it again on the same port. It prints
 * "listening <port>" and exits by itself when its stdin closes (the test went away).
 */
const ECHO_SERVER = `
import { WebSocketServer } from "ws";
const wss = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[1] ?? 0) });
wss.on("listening", () => process.stdout.write("listening " + wss.address().port + "\\n"));
wss.on("connection", (socket) => {
  socket.on("error", () => {});
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

function startEchoServer(port = 0): Child {
  return new Child(process.execPath, ["--input-type=module", "-e", ECHO_SERVER, String(port)]);
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (!child) return;
  child.kill();
  await child.waitForExit(5_000, "the echo server to exit").catch(() => child.kill("SIGKILL"));
}

/**
 * A `ws` server that accepts every upgrade and then says nothing: autoPong false (ws >= 8.23),
 * so our pings go unanswered, and no message ever: from the device's side, a peer that has
 * silently gone away.
 */
async function startSilentServer(): Promise<{ url: string; connections(): number; close(): Promise<void> }> {
  let connections = 0;
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: false });
  wss.on("connection", (socket) => {
    connections++;
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  return {
    url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`,
    connections: () => connections,
    close: async () => {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A supervisor on a real host with everything it reports recorded, timestamped. */
interface Run {
  supervisor: EngineSupervisor;
  /** performance.now() of each connection attempt (each client made; on XS, XS's clock: Node's). */
  attempts: number[];
  opens: number[];
  closes: Array<{ at: number; event: CloseEvent; retryInMs: number | undefined }>;
  messages: Array<string | Uint8Array>;
  /** The log as JSON lines, parsed: one JSON object per line. */
  log: Array<Record<string, unknown>>;
  logLines: string[];
}

const runs: EngineSupervisor[] = [];

async function supervise(engine: EngineName, url: string, extra: Partial<EngineSupervisorOptions> = {}): Promise<Run> {
  const logLines: string[] = [];
  const sink = { write: (line: string) => logLines.push(line) };
  // Node: the Node host's own JSON-line log. XS: the supervisor's log events, made inside
  // XS, written by the same JSON-line log (as the XS command lines print them).
  const logging: Partial<EngineSupervisorOptions> =
    engine === "node" ? { host: createNodeHost({ logStream: sink, logLevel: "info" }) } : { log: createJsonLog(sink, "info"), logLevel: "info" };
  const run: Run = {
    attempts: [],
    opens: [],
    closes: [],
    messages: [],
    logLines,
    get log() {
      return logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
  } as unknown as Run;
  run.supervisor = await createSupervisorOn(engine, {
    url,
    ...logging,
    backoff: BACKOFF,
    // Each client the supervisor makes is one connection attempt.
    onAttempt: (at) => run.attempts.push(at),
    onOpen: (_protocol, at) => run.opens.push(at),
    onClose: (event, retryInMs, at) => run.closes.push({ at, event, retryInMs }),
    onMessage: (data) => run.messages.push(data),
    ...extra,
  });
  runs.push(run.supervisor);
  await run.supervisor.start();
  return run;
}

/** until(), reading the supervisor's state and statistics afresh each time. */
async function untilFresh(supervisor: EngineSupervisor, predicate: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  for (;;) {
    await supervisor.refresh();
    if (predicate()) return;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(5);
  }
}

/** Gaps between consecutive attempts, ms. */
function gaps(times: number[]): number[] {
  return times.slice(1).map((time, i) => time - times[i]!);
}

/** Every gap at least minMs, the backoff attempt numbers 0, 1, 2, ... (never reset). */
function assertNoTightLoop(run: Run, windowMs: number): void {
  const attempts = run.attempts.length;
  assert.ok(attempts >= 2, `it kept retrying (${attempts} attempts)`);
  for (const gap of gaps(run.attempts)) {
    assert.ok(gap >= BACKOFF.minMs - TIMER_SLACK_MS, `attempts ${gap.toFixed(1)} ms apart: ${gaps(run.attempts).map((g) => g.toFixed(0))}`);
  }
  // Hard bound whatever the random draws: one attempt per minMs at the very most.
  assert.ok(attempts <= Math.ceil(windowMs / BACKOFF.minMs) + 1, `${attempts} attempts in ${windowMs} ms`);
  const backoffs = run.log.filter((entry) => entry.event === "ws_backoff");
  assert.deepEqual(
    backoffs.map((entry) => entry.attempt),
    backoffs.map((_, i) => i),
    "the backoff grows from attempt to attempt (a connection that closes at once does not reset it)",
  );
  for (const entry of backoffs) {
    const delayMs = entry.delayMs as number;
    assert.ok(delayMs >= BACKOFF.minMs && delayMs <= BACKOFF.capMs, `delayMs ${delayMs}`);
  }
}

/** How far off the next attempt must be for stopBetweenAttempts() to stop, ms. */
const STOP_MARGIN_MS = 100;

/**
 * Waits for a moment when no attempt is under way (each has ended) and the next one is not
 * due for STOP_MARGIN_MS: the supervisor is in backoff for a while yet.
 */
function betweenAttempts(run: Run): Promise<void> {
  return until(
    () => {
      const last = run.closes.at(-1);
      if (last === undefined || last.retryInMs === undefined || run.closes.length !== run.attempts.length) return false;
      return last.at + last.retryInMs - performance.now() > STOP_MARGIN_MS;
    },
    3_000,
    "a pause between two attempts",
  );
}

/**
 * Stops the supervisor between two attempts (betweenAttempts()), so that stop() abandons
 * none: every attempt made has ended, and what the server saw is complete (an attempt
 * abandoned under way may or may not have reached it). Resolves with the window, ms, from
 * the first attempt to the stop.
 */
async function stopBetweenAttempts(run: Run): Promise<number> {
  await betweenAttempts(run);
  const window = performance.now() - run.attempts[0]!;
  await stopped(run.supervisor);
  return window;
}

/** stop(), until onStopped; resolves with how long that took, ms. */
async function stopped(supervisor: EngineSupervisor, ms = 2_000): Promise<number> {
  const started = performance.now();
  await within(supervisor.stop(), ms, "onStopped");
  return performance.now() - started;
}

for (const engine of ENGINES) describe(`ConnectionSupervisor against real servers (integration) [${engine}]`, function () {
  this.timeout(10_000);
  useEngine(engine);

  afterEach(async function () {
    for (const supervisor of runs.splice(0)) {
      await supervisor.refresh().catch(() => {});
      if (supervisor.state !== SupervisorState.STOPPED) await stopped(supervisor, 7_000).catch(() => {});
    }
  });

  describe("a normal server", function () {
    let wss: WebSocketServer;
    let url: string;
    let connections: ServerSocket[];

    beforeEach(async function () {
      connections = [];
      wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      wss.on("connection", (socket) => {
        connections.push(socket);
        socket.on("error", () => {});
        socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
      });
    });

    afterEach(async function () {
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });

    it("connects, carries messages and measures the heartbeat's round-trip time", async function () {
      const run = await supervise(engine, url, { heartbeat: { intervalMs: 100, timeoutMs: 1_000 } });
      await until(() => run.supervisor.state === SupervisorState.OPEN, 2_000, "open");
      assert.equal(await run.supervisor.send("hello"), true);
      await until(() => run.messages.length === 1, 2_000, "the echo");
      assert.equal(run.messages[0], "hello");
      await run.supervisor.refresh();
      assert.equal(run.supervisor.stats.lastRttMs, undefined, "no ping while frames arrive");
      await untilFresh(run.supervisor, () => run.supervisor.stats.lastRttMs !== undefined, 2_000, "a measured round trip");
      const rtt = run.supervisor.stats.lastRttMs!;
      assert.ok(Number.isFinite(rtt) && rtt > 0 && rtt < 1_000, `RTT ${rtt} ms`);
      assert.equal(run.supervisor.stats.heartbeatTimeouts, 0);
      assert.equal(connections.length, 1);
    });

    it("stop() while connected closes with 1001 at once, and attempts nothing more", async function () {
      const run = await supervise(engine, url);
      await until(() => run.supervisor.state === SupervisorState.OPEN, 2_000, "open");
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        connections[0]!.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      const took = await stopped(run.supervisor);
      assert.ok(took < 500, `stop took ${took.toFixed(0)} ms`);
      assert.deepEqual(await within(closed, 2_000, "the server to see the close"), { code: 1001, reason: "stopping" });
      assert.equal(run.supervisor.state, SupervisorState.STOPPED);
      assert.equal(run.closes.length, 1);
      assert.equal(run.closes[0]!.event.code, 1001);
      assert.equal(run.closes[0]!.event.wasClean, true);
      assert.equal(run.closes[0]!.retryInMs, undefined);
      await delay(400);
      assert.equal(run.attempts.length, 1, "no attempt after stop");
      assert.equal(connections.length, 1);
      assert.equal(await run.supervisor.send("late"), false);
    });
  });

  it("recovers by itself when the server process is killed and restarted on the same port", async function () {
    let server: Child | undefined = startEchoServer();
    try {
      const [, port] = await server.line(/^listening (\d+)$/, 5_000, "the echo server to listen");
      const run = await supervise(engine, `ws://127.0.0.1:${port}/`, { heartbeat: { intervalMs: 200, timeoutMs: 500 } });
      await until(() => run.opens.length === 1, 2_000, "the first connection");

      server.kill("SIGKILL");
      await server.waitForExit(2_000, "the killed server to exit");
      await until(() => run.closes.length >= 1, 2_000, "the loss to be noticed");
      const lost = run.closes[0]!.event;
      assert.equal(lost.code, 1006);
      assert.equal(lost.error?.code, ErrorCode.CONNECTION_LOST);
      assert.equal(await run.supervisor.send("while down"), false);

      // Down for 1.5 s: the device keeps trying (refused), backing off.
      await delay(1_500);
      const refusedAttempts = run.attempts.length - 1;
      assert.ok(refusedAttempts >= 2, `${refusedAttempts} attempts while down`);
      assert.ok(run.closes.slice(1).every((close) => close.event.error?.code === ErrorCode.CONNECT_FAILED));
      await betweenAttempts(run);
      await run.supervisor.refresh();
      assert.equal(run.supervisor.state, SupervisorState.BACKOFF);

      server = startEchoServer(Number(port));
      await server.line(/^listening (\d+)$/, 5_000, "the restarted server to listen");
      const restartedAt = performance.now();
      await until(() => run.opens.length === 2, BACKOFF.capMs + 1_500, "the device to reconnect");
      const back = run.opens[1]! - restartedAt;
      assert.ok(back <= BACKOFF.capMs + 500, `back ${back.toFixed(0)} ms after the restart (cap ${BACKOFF.capMs} ms)`);
      await run.supervisor.refresh();
      assert.equal(run.supervisor.stats.reconnects, 1);

      assert.equal(await run.supervisor.send("after the restart"), true);
      await until(() => run.messages.includes("after the restart"), 2_000, "the echo after the restart");
      assertNoTightLoop(run, performance.now() - run.attempts[0]!);
    } finally {
      await stopChild(server);
    }
  });

  describe("never a tight loop, whatever the server does", function () {
    const WINDOW_MS = 2_000;

    it("a server that accepts and closes at once, with any code (1000 included)", async function () {
      const codes = [1000, 1001, 1011, 1012, 1013, 4000];
      let connections = 0;
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
      wss.on("connection", (socket) => {
        socket.on("error", () => {});
        socket.close(codes[connections++ % codes.length], "go away");
      });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      try {
        const run = await supervise(engine, `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
        await delay(WINDOW_MS);
        assertNoTightLoop(run, await stopBetweenAttempts(run));
        assert.equal(connections, run.attempts.length, "every attempt reached the server");
        assert.equal(run.opens.length, connections, "each one opened");
        const seen = run.closes.map((close) => close.event.code);
        assert.deepEqual(seen, codes.concat(codes).slice(0, seen.length), "each close reported with its code");
        assert.ok(run.closes.every((close) => close.event.wasClean));
        assert.equal(run.supervisor.stats.consecutiveFailures, run.closes.length);
      } finally {
        for (const socket of wss.clients) socket.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    });

    it("a server that accepts TCP and drops it at once", async function () {
      let connections = 0;
      const server: Server = createServer((socket: Socket) => {
        connections++;
        socket.destroy();
      });
      const port = await listenLoopback(server);
      try {
        const run = await supervise(engine, `ws://127.0.0.1:${port}/`);
        await delay(WINDOW_MS);
        assertNoTightLoop(run, await stopBetweenAttempts(run));
        assert.equal(connections, run.attempts.length);
        assert.equal(run.opens.length, 0);
        assert.ok(run.closes.every((close) => close.event.code === 1006 && close.event.error !== undefined));
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it("a server that answers 503 to the upgrade", async function () {
      let requests = 0;
      const wss = new WebSocketServer({
        host: "127.0.0.1",
        port: 0,
        verifyClient: (_info, callback) => {
          requests++;
          callback(false, 503, "Service Unavailable");
        },
      });
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      try {
        const run = await supervise(engine, `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
        await delay(WINDOW_MS);
        assertNoTightLoop(run, await stopBetweenAttempts(run));
        assert.equal(requests, run.attempts.length);
        for (const close of run.closes) {
          assert.ok(close.event.error instanceof HandshakeError, String(close.event.error));
          assert.equal(close.event.error.code, ErrorCode.HANDSHAKE_STATUS);
          assert.equal(close.event.error.status, 503);
        }
      } finally {
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    });

    it("a server that accepts the upgrade and then says nothing (no pongs, no data)", async function () {
      // The case, scaled down: the heartbeat declares the link dead interval +
      // timeout after the opening, exactly stableMs. That dead connection is not a stable
      // one: the backoff keeps growing instead of restarting at attempt 0 every time.
      const heartbeat: HeartbeatOptions = { intervalMs: 100, timeoutMs: 100 };
      const silent = await startSilentServer();
      try {
        const run = await supervise(engine, silent.url, { heartbeat, stableMs: heartbeat.intervalMs + heartbeat.timeoutMs });
        await until(() => run.closes.length >= 5, 6_000, "five connections declared dead");
        assertNoTightLoop(run, await stopBetweenAttempts(run));
        assert.equal(run.opens.length, silent.connections(), "each attempt opened");
        assert.ok(run.closes.every((close) => close.event.error?.code === ErrorCode.HEARTBEAT_TIMEOUT));
        const windows = run.log.filter((entry) => entry.event === "ws_backoff").map((entry) => entry.attempt as number);
        assert.ok(windows.length >= 5 && windows[4] === 4, `attempts ${windows}: the delays' window doubles each time`);
        await run.supervisor.refresh();
        assert.equal(run.supervisor.stats.consecutiveFailures, run.closes.length);
      } finally {
        await silent.close();
      }
    });

    it("nothing listening (connection refused)", async function () {
      const run = await supervise(engine, `ws://127.0.0.1:${await closedPort()}/`);
      await delay(1_000);
      assertNoTightLoop(run, await stopBetweenAttempts(run));
      assert.ok(run.closes.every((close) => close.event.error?.code === ErrorCode.CONNECT_FAILED));
    });
  });

  it("detects a server that stops answering pings, and replaces the connection", async function () {
    const heartbeat: HeartbeatOptions = { intervalMs: 200, timeoutMs: 300 };
    const silent = await startSilentServer();
    try {
      const run = await supervise(engine, silent.url, { heartbeat });
      await until(() => run.opens.length === 1, 2_000, "open");
      await until(() => run.closes.length === 1, 2_000, "the heartbeat to declare the connection dead");
      const detectedAfter = run.closes[0]!.at - run.opens[0]!;
      const bound = heartbeat.intervalMs + heartbeat.timeoutMs;
      assert.ok(
        detectedAfter >= bound - TIMER_SLACK_MS && detectedAfter <= bound + 200,
        `declared dead ${detectedAfter.toFixed(0)} ms after open (interval + timeout = ${bound} ms)`,
      );
      const event = run.closes[0]!.event;
      assert.equal(event.code, 1006);
      assert.equal(event.error?.code, ErrorCode.HEARTBEAT_TIMEOUT);
      assert.match(event.error!.message, /300 ms/);
      await run.supervisor.refresh();
      assert.equal(run.supervisor.stats.heartbeatTimeouts, 1);
      assert.equal(run.supervisor.stats.lastRttMs, undefined);
      const logged = run.log.find((entry) => entry.event === "ws_heartbeat_timeout");
      assert.deepEqual([logged?.level, logged?.timeoutMs], ["warn", 300]);

      await until(() => run.opens.length === 2, 2_000, "a replacement connection");
      assert.equal(silent.connections(), 2);
    } finally {
      await silent.close();
    }
  });

  it("stop() during the backoff wait ends at once, with no further attempt", async function () {
    const run = await supervise(engine, `ws://127.0.0.1:${await closedPort()}/`, { backoff: { baseMs: 1_000, capMs: 1_000, minMs: 500 } });
    await untilFresh(run.supervisor, () => run.supervisor.state === SupervisorState.BACKOFF, 2_000, "the first refusal");
    const took = await stopped(run.supervisor);
    assert.ok(took < 50, `stop took ${took.toFixed(0)} ms`);
    assert.equal(run.supervisor.state, SupervisorState.STOPPED);
    await delay(1_100);
    assert.equal(run.attempts.length, 1, "the pending retry was cancelled");
  });

  it("logs one JSON line per event", async function () {
    const run = await supervise(engine, `ws://127.0.0.1:${await closedPort()}/`);
    await until(() => run.closes.length >= 2, 2_000, "two refusals");
    await stopped(run.supervisor);
    for (const line of run.logLines) {
      assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1, `one line: ${JSON.stringify(line)}`);
    }
    const backoff = run.log.find((entry) => entry.event === "ws_backoff")!;
    assert.equal(backoff.level, "info");
    assert.equal(backoff.attempt, 0);
    assert.equal(typeof backoff.delayMs, "number");
    assert.equal(typeof backoff.t, "string");
  });
});
