/**
 * The whole device (src/device/device.ts: WiFi, supervisor, JSON loop) against real servers: the
 * companion server in this process and as a child process that is killed and restarted,
 * `npm start`'s script, and Python's asyncio `websockets` echo server.
 *
 * Every test runs on both engines (tests/support/engines.ts): the device on the Node host,
 * and the same compiled device inside the XS engine (tests/support/on-engine.ts startDeviceOn;
 * the command lines with --engine xs). Its state is read with status(), as src/device/device.ts
 * knows it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { startDeviceOn, type EngineDevice } from "../support/on-engine.js";
import type { DeviceStatus } from "../../hosts/xs/run.js";
import { WebSocketServer } from "ws";
import { start, type CompanionEvent, type CompanionServer } from "../../server/companion.js";
import { jsonLines, node, REPO_ROOT, type Child } from "../support/child-process.js";
import { ENGINES, engineArgs, useEngine, type EngineName } from "../support/engines.js";
import { closedPort, delay, until, within } from "../support/wait.js";

/**
 * A running device (started) on `engine` over real TCP, a fast simulated WiFi (20 ms per
 * step, SIM_NETWORK's access point) and memory storage, deviceId "it-1"; every log event kept.
 */
function inProcessDevice(engine: EngineName, url: string, extra: Record<string, unknown> = {}): Promise<EngineDevice> {
  return startDeviceOn(engine, {
    url,
    config: { telemetryIntervalMs: 1000, backoffBaseMs: 100, backoffCapMs: 500, ...extra },
  });
}

/** Reads the device's status until `done` holds for it (or fails after `ms`); resolves with it. */
async function statusWhen(device: EngineDevice, done: (status: DeviceStatus) => boolean, ms: number, what: string): Promise<DeviceStatus> {
  const end = Date.now() + ms;
  for (;;) {
    const status = await device.status();
    if (done(status)) return status;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(5);
  }
}

function stopDevice(device: EngineDevice): Promise<void> {
  return within(device.stop(), 8000, "the device to stop");
}

/** The first event (already seen or to come) that matches (CompanionServer.waitFor). */
function event<E extends CompanionEvent["event"]>(
  server: CompanionServer,
  name: E,
  match: (e: Extract<CompanionEvent, { event: E }>) => boolean = () => true,
  ms = 5000,
): Promise<Extract<CompanionEvent, { event: E }>> {
  return server.waitFor(name, match, ms);
}

/** The JSON events a `--json` server child printed so far. */
const jsonEvents = jsonLines;

for (const engine of ENGINES) describe(`the device [${engine}]`, function () {
  useEngine(engine);

  describe("the device against the companion server (in process)", function () {
    this.timeout(20_000);
    let server: CompanionServer;

    beforeEach(async () => {
      server = await start({ port: 0 });
    });
    afterEach(async () => {
      await server.close();
    });

    it("joins WiFi, says hello, sends telemetry that the server acknowledges", async () => {
      const device = await inProcessDevice(engine, server.url);
      const logs = device.logs;
      try {
        const hello = await event(server, "hello");
        assert.equal(hello.device, "it-1");
        const telemetry = await event(server, "telemetry", (e) => e.seq === 2, 5000);
        assert.equal(telemetry.acked, 2);
        assert.deepEqual(
          logs.filter((l) => l.event === "wifi_state").map((l) => l.fields.state).slice(0, 3),
          ["connecting", "associated", "online"],
        );
        assert.ok(logs.some((l) => l.event === "ws_open"));
      } finally {
        await stopDevice(device);
      }
      const close = await event(server, "close");
      assert.equal(close.code, 1001, "a stopping device says it is going away");
    });

    it("answers the server's requests, and every bad input with its error code, and carries on", async () => {
      await server.close();
      server = await start({ port: 0, garbage: true });
      const device = await inProcessDevice(engine, server.url);
      try {
        const codes = new Set<unknown>();
        await until(
          () => {
            for (const e of server.history) {
              if (e.event === "device_error") codes.add((e.error as { code?: unknown }).code);
              if (e.event === "reply" && !e.ok) codes.add((e.error as { code?: unknown }).code);
            }
            return codes.size >= 5;
          },
          5000,
          "error answers to the garbage",
        );
        assert.deepEqual([...codes].sort(), ["bad_json", "bad_request", "too_deep", "too_large", "unknown_type"]);
        const [request] = server.send(undefined, "status");
        const reply = await event(server, "reply", (e) => e.id === request!.id);
        assert.equal(reply.ok, true);
        const result = reply.result as Record<string, unknown>;
        assert.equal(result.link, "open");
        assert.equal(result.wifi, "online");
        assert.equal(typeof result.uptimeMs, "number");
        assert.equal(result.reconnects, 0, "the garbage did not cost the connection");
      } finally {
        await stopDevice(device);
      }
    });

    it("drops the connection at once when WiFi is lost, and comes back when it returns", async () => {
      const device = await inProcessDevice(engine, server.url);
      const wifi = device.wifi;
      try {
        await event(server, "hello");
        const lostAt = Date.now();
        wifi.dropLink();
        await event(server, "close", () => true, 3000);
        assert.ok(Date.now() - lostAt < 1000, "the device does not wait for a timeout to drop a dead link");
        assert.equal((await device.status()).supervisor.state, "waiting_for_network");
        await delay(300);
        assert.equal(server.history.filter((e) => e.event === "connect").length, 1, "nothing is attempted without WiFi");
        wifi.restore();
        await event(server, "hello", (e) => e.conn === 2, 8000);
        assert.equal((await device.status()).supervisor.stats.reconnects, 1);
        assert.equal(device.logs.filter((l) => l.event === "app_disconnected").length, 1, "one connection ended");
      } finally {
        await stopDevice(device);
      }
    });

    it("replaces a connection whose server stops answering pings", async () => {
      await server.close();
      server = await start({ port: 0, noPong: true });
      const device = await inProcessDevice(engine, server.url, { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 300 });
      try {
        await event(server, "hello", (e) => e.conn === 2, 8000);
        assert.ok(device.logs.some((l) => l.event === "ws_heartbeat_timeout"));
        assert.ok(((await device.status()).supervisor.stats.heartbeatTimeouts as number) >= 1);
      } finally {
        await stopDevice(device);
      }
    });
  });

  describe("the companion server's mute (npm start's demo of the heartbeat)", function () {
    this.timeout(20_000);

    it("silences the server, so the device's heartbeat declares the link dead and replaces it; the new link is heard", async () => {
      const server = await start({ port: 0 });
      // Telemetry acks every second would keep a link alive whose pings go unanswered:
      // only a server that says nothing at all lets the heartbeat (1 s + 1.5 s) fire.
      const device = await inProcessDevice(engine, server.url, { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1500 });
      try {
        await event(server, "telemetry", (e) => e.conn === 1 && e.acked !== null, 5000);
        server.send(undefined, "mute");
        const close = await event(server, "close", (e) => e.conn === 1, 8000);
        assert.equal(close.code, 1006, "the device dropped the dead link (no close handshake with a silent peer)");
        assert.ok(device.logs.some((l) => l.event === "ws_heartbeat_timeout"), "the device's heartbeat did it");
        await event(server, "hello", (e) => e.conn === 2, 8000);
        const telemetry = await event(server, "telemetry", (e) => e.conn === 2 && e.acked !== null, 5000);
        assert.ok(telemetry.seq > 1, "the records held while muted are delivered on the new link");
      } finally {
        await stopDevice(device);
        await server.close();
      }
    });
  });

  describe("the device against servers that do not play along", function () {
    this.timeout(20_000);

    it("backs off further and further from a server that accepts and then says nothing", async () => {
      // No pong, no ack, no reply: the heartbeat declares each connection dead after
      // interval + timeout, which equals stableMs here, as it does by default (20 s + 10 s,
      // 30 s). Those dead connections must not count as stable: the attempt number grows.
      const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, autoPong: false });
      wss.on("connection", (socket) => socket.on("error", () => {}));
      await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
      const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
      const device = await inProcessDevice(engine, url, {
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 100,
        stableMs: 200,
        backoffBaseMs: 100,
        backoffCapMs: 5000,
      });
      try {
        const backoffs = () => device.logs.filter((l) => l.event === "ws_backoff");
        await until(() => backoffs().length >= 4, 10_000, "four connections declared dead");
        assert.deepEqual(backoffs().slice(0, 4).map((l) => [l.fields.attempt, l.fields.error]), [
          [0, "ERR_HEARTBEAT_TIMEOUT"],
          [1, "ERR_HEARTBEAT_TIMEOUT"],
          [2, "ERR_HEARTBEAT_TIMEOUT"],
          [3, "ERR_HEARTBEAT_TIMEOUT"],
        ]);
        assert.ok(device.logs.filter((l) => l.event === "app_disconnected").length >= 4, "each of them had opened");
      } finally {
        await stopDevice(device);
        for (const socket of wss.clients) socket.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    });

    it("logs app_disconnected only for connections that opened, not for refused attempts", async () => {
      const device = await inProcessDevice(engine, `ws://127.0.0.1:${await closedPort()}/`);
      try {
        await until(() => device.logs.filter((l) => l.event === "ws_backoff").length >= 3, 5_000, "three refused attempts");
        assert.deepEqual(device.logs.filter((l) => l.event === "app_disconnected"), []);
      } finally {
        await stopDevice(device);
      }
    });
  });

  describe("the device when its server is killed and restarted (real processes)", function () {
    this.timeout(30_000);
    let folder: string;
    const children: Child[] = [];

    beforeEach(() => {
      folder = mkdtempSync(join(tmpdir(), "moorline-device-"));
    });
    afterEach(() => {
      for (const child of children.splice(0)) child.kill();
      rmSync(folder, { recursive: true, force: true });
    });

    it("comes back by itself and delivers the telemetry it buffered, at least once, in order", async () => {
      const port = await closedPort();
      const serverArgs = ["--port", String(port), "--json"];
      const first = node("dist/server/cli.js", serverArgs);
      children.push(first);
      await first.line(/"event":"listening"/, 10_000, "the server to listen");
      const device = node("dist/hosts/node/device.js", [
        ...engineArgs(engine),
        "--url", `ws://127.0.0.1:${port}/`,
        "--no-wifi",
        "--telemetry-interval-ms", "1000",
        "--backoff-base-ms", "200",
        "--backoff-cap-ms", "1000",
        "--storage", join(folder, "device.json"),
      ]);
      children.push(device);
      await first.line(/"event":"telemetry".*"acked":3\b/, 10_000, "three acknowledged records");

      first.kill("SIGKILL");
      await first.waitForExit(5000);
      const acked = Math.max(
        ...jsonEvents(first).filter((e) => e.event === "telemetry").map((e) => e.acked as number),
      );
      // While the server is away, records pile up in the device's outbox.
      await delay(2500);

      const second = node("dist/server/cli.js", serverArgs);
      children.push(second);
      await second.line(/"event":"listening"/, 10_000, "the server to listen again");
      const restartedAt = Date.now();
      await second.line(/"event":"hello"/, 5000, "the device's hello after the restart");
      assert.ok(Date.now() - restartedAt < 1000 + 1500, "back within the backoff cap (1 s) plus slack");
      await until(
        () => jsonEvents(second).some((e) => e.event === "telemetry" && (e.seq as number) >= acked + 4),
        10_000,
        "the buffered records and new ones",
      );

      const firstSeqs = jsonEvents(first).filter((e) => e.event === "telemetry").map((e) => e.seq as number);
      const secondSeqs = jsonEvents(second).filter((e) => e.event === "telemetry").map((e) => e.seq as number);
      // Acknowledged records are never sent again; unacknowledged ones are, oldest first.
      assert.ok(secondSeqs.every((seq) => seq > acked), `resent only what was not acked (acked ${acked}): ${secondSeqs}`);
      assert.equal(secondSeqs[0], acked + 1, "the oldest unacknowledged record comes first");
      // No record accepted for delivery was lost: every number up to the newest arrived.
      const all = new Set([...firstSeqs, ...secondSeqs]);
      const newest = Math.max(...all);
      for (let seq = 1; seq <= newest; seq++) assert.ok(all.has(seq), `record ${seq} was delivered`);
      // Duplicates are only resends of records the first server had not acknowledged.
      for (const seq of secondSeqs) {
        if (firstSeqs.includes(seq)) assert.ok(seq > acked);
      }
    });
  });

  describe("npm start (hosts/node/start.ts)", function () {
    this.timeout(30_000);

    it("runs the companion server and a simulated device talking to it, and stops on Ctrl-C", async () => {
      const folder = mkdtempSync(join(tmpdir(), "moorline-start-"));
      const port = await closedPort();
      const child = spawn(
        process.execPath,
        [
          "dist/hosts/node/start.js", "--port", String(port),
          "--", ...engineArgs(engine), "--telemetry-interval-ms", "1000", "--storage", join(folder, "d.json"),
        ],
        { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
      );
      let output = "";
      child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
      child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      try {
        await until(() => /\[server\].*hello/i.test(output), 10_000, `the server to show the device's hello; output:\n${output}`);
        await until(() => /\[server\].*telemetry/i.test(output), 10_000, `telemetry in the terminal; output:\n${output}`);
        assert.match(output, /\[device\].*wifi_state.*online/);
        assert.match(output, /\[device\].*ws_open/);
        // A line typed in the terminal is a server command.
        child.stdin.write("status\n");
        await until(() => /\[server\].*uptimeMs/.test(output), 5000, `the status reply; output:\n${output}`);
        child.kill("SIGINT");
        assert.equal(await within(exited, 8000, "npm start to stop"), 0);
      } finally {
        child.kill("SIGKILL");
        rmSync(folder, { recursive: true, force: true });
      }
    });
  });

  describe("the device against Python's asyncio websockets echo server", function () {
    this.timeout(20_000);
    const python = "/usr/bin/python3";

    it("stays connected, ignores its own messages coming back, and never answers them", async function () {
      const probe = spawn(python, ["-c", "import websockets"], { stdio: "ignore" });
      const available = await new Promise<boolean>((resolve) => {
        probe.on("error", () => resolve(false));
        probe.on("close", (code) => resolve(code === 0));
      });
      if (!available) {
        if (process.env.CI) assert.fail("python3-websockets is missing: apt-get install python3-websockets");
        this.skip();
      }
      const echo = new (await import("../support/child-process.js")).Child(python, ["tests/support/python_echo_server.py"]);
      try {
        const [, port] = await echo.line(/^(\d+)$/, 10_000, "the Python server's port");
        const device = await inProcessDevice(engine, `ws://127.0.0.1:${port}/`, { telemetryIntervalMs: 1000 });
        try {
          const status = await statusWhen(
            device,
            ({ app }) => app.counters.telemetrySeq! >= 2 && app.counters.ignored! >= 3,
            8000,
            "echoes of hello and telemetry",
          );
          assert.equal(status.app.counters.errorsSent, 0, "no error replies to echoes: no loop");
          assert.equal(status.supervisor.stats.connects, 1);
          assert.ok(!device.logs.some((l) => l.event === "ws_backoff"));
        } finally {
          await stopDevice(device);
        }
      } finally {
        echo.kill();
      }
    });
  });
});
