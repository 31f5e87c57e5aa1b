/**
 * The companion server (server/companion.ts, server/cli.ts) against devices played by a
 * plain `ws` client that follows docs/protocol.md: in-process through its API, then as the
 * child process users run (`node dist/server/cli.js`). What is asserted is what a device
 * sees on the wire (acks, requests, pongs, close codes, HTTP status) and what the server
 * reports (events, JSON lines, exit status).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeHost } from "../../hosts/node/host.js";
import { WebSocketClient } from "../../src/websocket/client.js";
import { CommandError, CompanionServer, GARBAGE_DEPTH, start, type CompanionOptions } from "../../server/companion.js";
import { node, type Child } from "../support/child-process.js";
import { delay, within } from "../support/wait.js";
import { WsDevice } from "../support/ws-device.js";
import { testCertificates } from "../support/certs.js";

const CLI = "dist/server/cli.js";
/** How long "nothing arrives" is watched for, ms: many loopback round trips. */
const QUIET_MS = 300;

describe("companion server (server/companion.ts)", function () {
  let server: CompanionServer | undefined;
  const devices: WsDevice[] = [];

  async function serve(options: CompanionOptions = {}): Promise<CompanionServer> {
    server = await start({ port: 0, shutdownTimeoutMs: 500, ...options });
    return server;
  }

  async function device(name = "sim-1", boot = "b1"): Promise<WsDevice> {
    const d = new WsDevice(server!.url, { device: name, boot });
    devices.push(d);
    await within(d.opened, 2000, "the device's connection to open");
    await server!.waitFor("hello", (e) => e.device === name, 2000);
    return d;
  }

  afterEach(async function () {
    for (const d of devices.splice(0)) d.terminate();
    await server?.close();
    server = undefined;
  });

  it("listens on 127.0.0.1 by default and reports its URL", async function () {
    const s = await serve();
    assert.match(s.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(s.url, `ws://127.0.0.1:${s.port}/`);
    const listening = await s.waitFor("listening");
    assert.equal(listening.url, s.url);
  });

  it("logs each device's hello: device id, firmware, boot, capabilities", async function () {
    const s = await serve();
    await device("sim-7", "b7");
    const hello = await s.waitFor("hello");
    assert.equal(hello.device, "sim-7");
    assert.equal(hello.firmware, "0.1.0");
    assert.equal(hello.boot, "b7");
    assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config"]);
    assert.equal(hello.reset, null, "a device that does not say why it restarted");
    assert.deepEqual(
      s.devices().map((d) => [d.device, d.firmware]),
      [["sim-7", "0.1.0"]],
    );
  });

  it("acks telemetry cumulatively, counting duplicates and gaps per (device, boot)", async function () {
    const s = await serve();
    const d = await device();
    for (const seq of [1, 2, 3, 2, 6]) d.telemetry(seq);
    await d.waitForType("ack", (m) => m.seq === 6);
    assert.deepEqual(
      d.ofType("ack").map((m) => [m.boot, m.seq]),
      [["b1", 1], ["b1", 2], ["b1", 3], ["b1", 3], ["b1", 6]],
      "each record is acked up to the highest seq heard, a duplicate included",
    );
    const events = s.history.filter((e) => e.event === "telemetry");
    assert.deepEqual(
      events.map((e) => (e.event === "telemetry" ? [e.seq, e.outcome, e.duplicates, e.gaps, e.missed] : [])),
      [
        [1, "first", 0, 0, 0],
        [2, "next", 0, 0, 0],
        [3, "next", 0, 0, 0],
        [2, "duplicate", 1, 0, 0],
        [6, "gap", 1, 1, 2],
      ],
    );
    const record = s.telemetry.get("sim-1", "b1");
    assert.equal(record?.highestSeq, 6);
    assert.equal(record?.duplicates, 1);
  });

  it("recognises resends after a reconnect as duplicates of the same (device, boot)", async function () {
    const s = await serve();
    const first = await device();
    first.telemetry(1);
    first.telemetry(2);
    await first.waitForType("ack", (m) => m.seq === 2);
    first.terminate();
    await s.waitFor("close");
    const again = await device();
    again.telemetry(2); // never acked, as far as this device knows
    again.telemetry(3);
    await again.waitForType("ack", (m) => m.seq === 3);
    const last = s.history.filter((e) => e.event === "telemetry").slice(-2);
    assert.deepEqual(
      last.map((e) => (e.event === "telemetry" ? e.outcome : "")),
      ["duplicate", "next"],
    );
  });

  it("refuses telemetry with a bad seq or boot, without acking it", async function () {
    const s = await serve();
    const d = await device();
    d.send({ type: "telemetry", boot: "b1", seq: -1, data: {} });
    d.send({ type: "telemetry", seq: 1, data: {} });
    await s.waitFor("bad_message", (e) => /boot/.test(e.reason));
    assert.ok(s.history.some((e) => e.event === "bad_message" && /seq/.test(e.reason)));
    assert.equal(d.ofType("ack").length, 0);
  });

  it("sends a command to one device and matches its reply, with the round-trip time", async function () {
    const s = await serve();
    const one = await device("sim-1");
    const two = await device("sim-2");
    const sent = s.send("sim-1", "echo hello there");
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.device, "sim-1");
    const request = await one.waitForType("echo");
    assert.deepEqual(request, { type: "echo", id: sent[0]!.id, payload: "hello there" });
    const reply = await s.waitFor("reply", (e) => e.id === sent[0]!.id);
    assert.equal(reply.ok, true);
    assert.equal(reply.matched, true);
    assert.equal(reply.request, "echo");
    assert.deepEqual(reply.result, { payload: "hello there" });
    assert.equal(typeof reply.rttMs, "number");
    assert.ok(reply.rttMs! >= 0 && reply.rttMs! < 2000, `rtt ${reply.rttMs}`);
    await delay(50);
    assert.equal(two.ofType("echo").length, 0, "the other device got nothing");
  });

  it("sends a command to every device without a target, each with its own id", async function () {
    const s = await serve();
    await device("sim-1");
    await device("sim-2");
    const sent = s.send(undefined, "ping");
    assert.deepEqual(sent.map((r) => r.device).sort(), ["sim-1", "sim-2"]);
    assert.notEqual(sent[0]!.id, sent[1]!.id);
    for (const r of sent) {
      const reply = await s.waitFor("reply", (e) => e.id === r.id && e.device === r.device);
      assert.deepEqual(reply.result, { pong: true, uptimeMs: 1234 });
    }
  });

  it("builds status, config get and config set requests (a value is JSON when it parses)", async function () {
    const s = await serve();
    const d = await device();
    s.send("sim-1", "status");
    s.send("sim-1", "config get");
    s.send("sim-1", "config get telemetryIntervalMs");
    s.send("sim-1", "config set telemetryIntervalMs 500");
    s.send("sim-1", "config set name fast one");
    s.send("sim-1", 'config set tags ["a",1]');
    await d.waitFor((r) => (r.json as { key?: string }).key === "tags", 2000, "the last config request");
    const requests = d.received.map((r) => r.json as Record<string, unknown>).filter((m) => m.type !== "ack");
    assert.deepEqual(
      requests.map(({ id: _id, ...rest }) => rest),
      [
        { type: "status" },
        { type: "config", action: "get" },
        { type: "config", action: "get", key: "telemetryIntervalMs" },
        { type: "config", action: "set", key: "telemetryIntervalMs", value: 500 },
        { type: "config", action: "set", key: "name", value: "fast one" },
        { type: "config", action: "set", key: "tags", value: ["a", 1] },
      ],
    );
    const reply = await s.waitFor("reply", (e) => e.request === "config" && JSON.stringify(e.result) === '{"telemetryIntervalMs":500}');
    assert.equal(reply.matched, true);
  });

  it("sends raw JSON requests of any type, adding an id only when missing", async function () {
    const s = await serve();
    const d = await device();
    const [added] = s.send("sim-1", 'send {"type":"led","on":true}');
    const [kept] = s.send("sim-1", 'send {"type":"led","id":"mine","on":false}');
    assert.equal(kept!.id, "mine");
    assert.deepEqual(await d.waitForType("led", (m) => m.on === true), { type: "led", id: added!.id, on: true });
    assert.deepEqual(await d.waitForType("led", (m) => m.on === false), { type: "led", id: "mine", on: false });
    const reply = await s.waitFor("reply", (e) => e.id === "mine");
    assert.equal(reply.ok, false);
    assert.deepEqual((reply.error as { code: string }).code, "unknown_type");
  });

  it("sends JSON that is not a request, and raw text, as they are", async function () {
    const s = await serve();
    const d = await device();
    s.send("sim-1", "send [1,2,3]");
    s.send("sim-1", "raw not json at all");
    await d.waitFor((r) => r.text === "not json at all", 2000, "the raw text");
    assert.ok(d.received.some((r) => r.text === "[1,2,3]"));
    // The device echoes the array back: not in the envelope, so reported as unreadable.
    await s.waitFor("unreadable", (e) => e.text === "[1,2,3]");
  });

  it("refuses bad commands with CommandError from send(), and as a command_error event from execute()", async function () {
    const s = await serve();
    await device();
    assert.throws(() => s.send(undefined, "frobnicate"), (e: unknown) => e instanceof CommandError && /unknown command "frobnicate"/.test(e.message));
    assert.throws(() => s.send("nobody", "ping"), /no device "nobody" is connected \(connected: sim-1\)/);
    assert.throws(() => s.send(undefined, "close 1005"), /close code must be/);
    assert.throws(() => s.send(undefined, "send {oops"), /send needs JSON/);
    assert.deepEqual(s.execute("@nobody ping"), []);
    const error = await s.waitFor("command_error");
    assert.equal(error.command, "@nobody ping");
    assert.match(error.message, /no device "nobody"/);
  });

  it("reports a request left unanswered when its connection closes", async function () {
    const s = await serve();
    const d = new WsDevice(s.url, { answer: false });
    devices.push(d);
    await s.waitFor("hello");
    const [sent] = s.send(undefined, "status");
    await d.waitForType("status");
    d.socket.close(1000);
    const lost = await s.waitFor("no_reply");
    assert.equal(lost.id, sent!.id);
    assert.equal(lost.reason, "closed");
  });

  it("reports a request unanswered after requestTimeoutMs", async function () {
    const s = await serve({ requestTimeoutMs: 100 });
    const d = new WsDevice(s.url, { answer: false });
    devices.push(d);
    await s.waitFor("hello");
    const [sent] = s.send(undefined, "ping");
    const lost = await s.waitFor("no_reply", () => true, 2000);
    assert.deepEqual([lost.id, lost.reason], [sent!.id, "timeout"]);
    d.send({ type: "reply", id: sent!.id, result: {} });
    const late = await s.waitFor("reply");
    assert.equal(late.matched, false);
    assert.equal(late.rttMs, null);
  });

  it("reports what it cannot read: not JSON, no type, binary; and the device's error messages", async function () {
    const s = await serve();
    const d = await device();
    d.send("hello?");
    d.send({ no: "type" });
    d.socket.send(Buffer.from([1, 2, 3]));
    d.send({ type: "error", error: { code: "bad_json", message: "not JSON" } });
    await s.waitFor("device_error");
    const unreadable = s.history.filter((e) => e.event === "unreadable").map((e) => (e.event === "unreadable" ? e.reason : ""));
    assert.equal(unreadable.length, 3, unreadable.join("; "));
    assert.match(unreadable[0]!, /^not JSON/);
    assert.equal(unreadable[1], "not an object with a string type");
    assert.equal(unreadable[2], "binary message");
  });

  it("falls silent toward a muted device: no pong, no ack, no request, until unmute (terminal: mute, unmute)", async function () {
    const s = await serve();
    const d = await device();
    d.socket.ping();
    await within(waitForPongs(d, 1), 2000, "a pong");
    s.send(undefined, "mute");
    assert.deepEqual(s.devices().map((info) => info.muted), [true]);
    const heard = d.received.length;
    d.socket.ping();
    d.telemetry(1);
    assert.throws(() => s.send(undefined, "status"), (error: unknown) => error instanceof CommandError && /sim-1 is muted/.test(error.message));
    assert.throws(() => s.send("sim-1", "raw hi"), /muted/);
    assert.throws(() => s.send("sim-1", "garbage"), /muted/);
    await s.waitFor("telemetry", (e) => e.seq === 1);
    await delay(QUIET_MS);
    assert.equal(d.pongs, 1, "no pong while muted");
    assert.equal(d.received.length, heard, "nothing at all while muted");
    assert.equal((await s.waitFor("telemetry", (e) => e.seq === 1)).acked, null, "the server still hears it, and says so");
    assert.ok(s.history.some((e) => e.event === "ping" && !e.answered));

    s.send(undefined, "unmute");
    d.socket.ping();
    await within(waitForPongs(d, 2), 2000, "a pong after unmute");
    d.telemetry(2);
    assert.equal((await d.waitForType("ack")).seq, 2);
    const [request] = s.send("sim-1", "status");
    await s.waitFor("reply", (e) => e.id === request!.id);
  });

  it("mutes the connections open now, not the device's next one: a reconnect is heard again", async function () {
    const s = await serve();
    assert.throws(() => s.send(undefined, "mute"), /no device is connected/, "nothing is remembered for connections to come");
    const first = await device("sim-1");
    s.send("sim-1", "mute");
    first.terminate(); // what the device's heartbeat does with a silent link
    await s.waitFor("close");
    const second = new WsDevice(s.url, { device: "sim-1" });
    devices.push(second);
    await s.waitFor("hello", (e) => e.conn === 2, 2000);
    assert.deepEqual(s.devices().map((info) => [info.conn, info.muted]), [[2, false]]);
    second.socket.ping();
    await within(waitForPongs(second, 1), 2000, "a pong on the new connection");
  });

  it("--no-pong leaves pings unanswered but still acks and sends requests", async function () {
    const s = await serve({ noPong: true });
    const d = await device();
    d.socket.ping();
    d.telemetry(1);
    assert.equal((await d.waitForType("ack")).seq, 1);
    const [request] = s.send("sim-1", "ping");
    await s.waitFor("reply", (e) => e.id === request!.id);
    assert.equal(d.pongs, 0);
    assert.deepEqual(s.devices().map((info) => info.muted), [false], "not muted: only pongs are withheld");
  });

  it("stops and resumes acks (terminal: acks off, acks on)", async function () {
    const s = await serve();
    const d = await device();
    s.send(undefined, "acks off");
    d.telemetry(1);
    await s.waitFor("telemetry", (e) => e.seq === 1);
    await delay(QUIET_MS);
    assert.equal(d.ofType("ack").length, 0);
    assert.equal((await s.waitFor("telemetry")).acked, null);
    s.send("sim-1", "acks on");
    d.telemetry(2);
    assert.equal((await d.waitForType("ack")).seq, 2);
  });

  it("closes with a given code and reason, or drops TCP with no close frame (terminal: close, drop)", async function () {
    const s = await serve();
    const one = await device("sim-1");
    const two = await device("sim-2");
    s.send("sim-1", "close 4001 going for maintenance");
    assert.deepEqual(await within(one.closed, 2000, "sim-1's close"), { code: 4001, reason: "going for maintenance" });
    s.send("#2", "drop");
    assert.equal((await within(two.closed, 2000, "sim-2's close")).code, 1006, "no close frame: 1006 on the device");
    const drop = await s.waitFor("drop");
    assert.equal(drop.device, "sim-2");
  });

  it("sends garbage on command: every message one the device must reject", async function () {
    const s = await serve();
    const d = await device();
    s.send(undefined, "garbage");
    await s.waitFor("reply", (e) => (e.error as { code?: string } | undefined)?.code === "bad_request");
    assert.deepEqual(
      s.history.filter((e) => e.event === "device_error").map((e) => (e.event === "device_error" ? (e.error as { code: string }).code : "")),
      ["bad_json", "too_deep", "too_large"],
    );
    assert.ok(s.history.some((e) => e.event === "reply" && e.matched && (e.error as { code?: string } | undefined)?.code === "unknown_type"));
    assert.equal(d.received.filter((r) => r.json === undefined).length, 1);
  });

  it("changes its misbehaviour at run time (setMisbehaviour): refuse upgrades, then accept again", async function () {
    const s = await serve();
    s.setMisbehaviour({ rejectStatus: 503 });
    const refused = new WsDevice(s.url);
    devices.push(refused);
    await within(refused.closed, 2000, "the refused connection to end");
    assert.equal(refused.rejectedStatus, 503);
    s.setMisbehaviour({ rejectStatus: undefined, closeAfterMs: 0, closeCode: 1013 });
    const closed = new WsDevice(s.url);
    devices.push(closed);
    assert.equal((await within(closed.closed, 2000, "the close")).code, 1013);
    assert.throws(() => s.setMisbehaviour({ closeCode: 1005 }), /closeCode must be/);
  });

  it("closes every connection with 1001 on close()", async function () {
    const s = await serve();
    const d = await device();
    await s.close();
    assert.equal((await within(d.closed, 1000, "the device's close")).code, 1001);
    assert.ok(s.history.some((e) => e.event === "closed"));
  });

  it("answers plain HTTP with 426 Upgrade Required", async function () {
    const s = await serve();
    const status = await within(
      new Promise<number | undefined>((resolve, reject) => {
        httpRequest(`http://127.0.0.1:${s.port}/`, (response) => {
          response.resume();
          resolve(response.statusCode);
        })
          .on("error", reject)
          .end();
      }),
      2000,
      "the HTTP response",
    );
    assert.equal(status, 426);
  });

  it("validates its options, naming the bad value", function () {
    assert.throws(() => new CompanionServer({ closeCode: 1006 }), /closeCode must be .* got 1006/);
    assert.throws(() => new CompanionServer({ rejectStatus: 101 }), /rejectStatus must be .* got 101/);
    assert.throws(() => new CompanionServer({ dropAfterMs: -1 }), /dropAfterMs must be .* got -1/);
    assert.throws(() => new CompanionServer({ port: 70000 }), /port must be .* got 70000/);
    assert.throws(() => new CompanionServer({ closeReason: "x".repeat(124) }), /124 bytes/);
  });
});

function waitForPongs(d: WsDevice, count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => (d.pongs >= count ? resolve() : setTimeout(check, 5));
    check();
  });
}

/** One JSON line of the CLI's --json output. */
type JsonLine = Record<string, unknown> & { event: string };

/** The CLI as a child process, with its JSON lines parsed. */
class CliServer {
  readonly child: Child;
  url = "";

  constructor(args: string[]) {
    this.child = node(CLI, ["--port", "0", "--json", ...args]);
  }

  async listening(): Promise<string> {
    const match = await this.child.line(/"event":"listening".*"url":"(wss?:\/\/[^"]+)"/, 5000, "the listening line");
    this.url = match[1]!;
    return this.url;
  }

  events(): JsonLine[] {
    return this.child.stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as JsonLine);
  }

  async event(name: string, where: (e: JsonLine) => boolean = () => true, ms = 3000): Promise<JsonLine> {
    const end = Date.now() + ms;
    for (;;) {
      const found = this.events().find((e) => e.event === name && where(e));
      if (found) return found;
      if (Date.now() > end) throw new Error(`timed out waiting for a ${name} line; stdout: ${this.child.stdout.slice(-500)}`);
      await delay(5);
    }
  }
}

describe("companion server command line (server/cli.ts, child process)", function () {
  const children: Child[] = [];
  const devices: WsDevice[] = [];

  function cli(args: string[] = []): CliServer {
    const server = new CliServer(args);
    children.push(server.child);
    return server;
  }

  function connect(url: string, name = "sim-1"): WsDevice {
    const d = new WsDevice(url, { device: name });
    devices.push(d);
    return d;
  }

  afterEach(function () {
    for (const d of devices.splice(0)) d.terminate();
    for (const child of children.splice(0)) child.kill();
  });

  it("logs hello and telemetry as JSON lines, acks, runs commands from stdin, and exits 0 on SIGTERM", async function () {
    const server = cli(["--stdin"]);
    const url = await server.listening();
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    const d = connect(url);
    const hello = await server.event("hello");
    assert.equal(hello.device, "sim-1");
    assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config"]);
    assert.match(String(hello.t), /^\d{4}-\d\d-\d\dT/);

    d.telemetry(1);
    d.telemetry(1);
    assert.equal((await d.waitForType("ack")).seq, 1);
    const duplicate = await server.event("telemetry", (e) => e.outcome === "duplicate");
    assert.equal(duplicate.duplicates, 1);

    server.child.process.stdin!.write("@sim-1 echo from the terminal\n");
    const request = await d.waitForType("echo");
    assert.equal(request.payload, "from the terminal");
    const reply = await server.event("reply");
    assert.equal(reply.id, request.id);
    assert.equal(reply.matched, true);
    assert.deepEqual(reply.result, { payload: "from the terminal" });
    assert.equal(typeof reply.rttMs, "number");

    server.child.process.stdin!.write("@nobody ping\n");
    assert.match(String((await server.event("command_error")).message), /no device "nobody"/);

    server.child.process.kill("SIGTERM");
    assert.deepEqual(await server.child.waitForExit(3000), { code: 0, signal: null });
    assert.equal((await within(d.closed, 1000, "the device's close")).code, 1001);
    assert.equal(server.events().at(-1)?.event, "closed");
    assert.equal(server.child.stderr, "");
  });

  it("prints readable lines without --json: 'listening on <url>' first, then time, device, event", async function () {
    const child = node(CLI, ["--port", "0"]);
    children.push(child);
    const url = (await child.line(/^listening on (ws:\/\/127\.0\.0\.1:\d+\/)$/, 5000, "the listening line"))[1]!;
    connect(url, "sim-9");
    const line = await child.line(/ sim-9 hello /, 3000, "the hello line");
    assert.match(line.input!, /^\d\d:\d\d:\d\d\.\d{3} sim-9 hello firmware=0\.1\.0 boot=b1 capabilities=echo,ping,status,config$/);
    assert.doesNotMatch(child.stdout, /\u001b\[/, "no colour when stdout is not a terminal");
    child.process.kill("SIGINT");
    assert.equal((await child.waitForExit(3000)).code, 0);
  });

  it("quits, closing with 1001, when its command input ends", async function () {
    const server = cli(["--stdin"]);
    const d = connect(await server.listening());
    await server.event("hello");
    server.child.process.stdin!.end();
    assert.deepEqual(await server.child.waitForExit(3000), { code: 0, signal: null });
    assert.equal((await within(d.closed, 1000, "the device's close")).code, 1001);
  });

  describe("misbehaves on demand", function () {
    it("--reject-status 503: refuses the upgrade with HTTP 503", async function () {
      const server = cli(["--reject-status", "503"]);
      const d = connect(await server.listening());
      await within(d.closed, 2000, "the refused connection to end");
      assert.equal(d.rejectedStatus, 503);
      assert.equal((await server.event("reject")).status, 503);
    });

    it("--close-after-ms N --close-code C --close-reason R: closes with that code and reason", async function () {
      const server = cli(["--close-after-ms", "50", "--close-code", "4002", "--close-reason", "try later"]);
      const d = connect(await server.listening());
      const started = Date.now();
      assert.deepEqual(await within(d.closed, 2000, "the close"), { code: 4002, reason: "try later" });
      assert.ok(Date.now() - started >= 40, "not before N ms");
    });

    it("--drop-after-ms N: destroys TCP with no close frame (the device sees 1006)", async function () {
      const server = cli(["--drop-after-ms", "50"]);
      const d = connect(await server.listening());
      assert.equal((await within(d.closed, 2000, "the drop")).code, 1006);
      assert.equal((await server.event("drop")).why, "--drop-after-ms");
    });

    it("--no-pong: never answers a ping", async function () {
      const server = cli(["--no-pong"]);
      const d = connect(await server.listening());
      await within(d.opened, 2000, "open");
      d.socket.ping();
      d.socket.ping();
      await server.event("ping", (e) => e.answered === false);
      await delay(QUIET_MS);
      assert.equal(d.pongs, 0);
    });

    it("--no-ack: never acks telemetry", async function () {
      const server = cli(["--no-ack"]);
      const d = connect(await server.listening());
      await server.event("hello");
      d.telemetry(1);
      d.telemetry(2);
      const logged = await server.event("telemetry", (e) => e.seq === 2);
      assert.equal(logged.acked, null);
      await delay(QUIET_MS);
      assert.equal(d.ofType("ack").length, 0);
    });

    it("--garbage: after the hello, sends not-JSON, too deep, too large, an unknown type and a bad request", async function () {
      const server = cli(["--garbage"]);
      const d = connect(await server.listening());
      await d.waitFor((r) => (r.json as { action?: string } | undefined)?.action === "explode", 2000, "the bad request");
      const [notJson, deep, large, unknown, bad] = d.received.map((r) => r);
      assert.equal(notJson!.json, undefined, "first: not JSON");
      let depth = 0;
      for (let v = (deep!.json as { deep: unknown }).deep; Array.isArray(v); v = v[0]) depth++;
      assert.equal(depth, GARBAGE_DEPTH, "second: nested far deeper than the device's 16");
      assert.ok(Buffer.byteLength(large!.text) > 8192, "third: longer than the device's 8192-byte JSON limit");
      assert.equal((unknown!.json as { type: string }).type, "no_such_type");
      assert.equal(typeof (unknown!.json as { id: unknown }).id, "number");
      assert.deepEqual(bad!.json, { type: "config", id: (bad!.json as { id: number }).id, action: "explode" });
      // The device's answers are logged, the replies matched to the garbage requests.
      await server.event("reply", (e) => (e.error as { code?: string })?.code === "bad_request");
      const logged = server.events();
      assert.deepEqual(
        logged.filter((e) => e.event === "device_error").map((e) => (e.error as { code: string }).code),
        ["bad_json", "too_deep", "too_large"],
      );
      assert.ok(logged.some((e) => e.event === "reply" && e.matched === true && (e.error as { code?: string })?.code === "unknown_type"));
    });
  });

  it("exits 1 when it cannot listen (port in use)", async function () {
    const taken = await start({ port: 0 });
    try {
      const child = node(CLI, ["--port", String(taken.port)]);
      children.push(child);
      assert.equal((await child.waitForExit(5000)).code, 1);
      assert.match(child.stderr, new RegExp(`^companion: cannot listen on 127\\.0\\.0\\.1:${taken.port}: .*EADDRINUSE`));
    } finally {
      await taken.close();
    }
  });

  describe("exits 2 for bad arguments, saying what is wrong", function () {
    const cases: Array<[string[], RegExp]> = [
      [["--port", "70000"], /--port must be an integer from 0 to 65535, got 70000/],
      [["--close-code", "4000"], /--close-code and --close-reason go with --close-after-ms/],
      [["--close-after-ms", "0", "--close-code", "1005"], /--close-code must be one a close frame may carry/],
      [["--reject-status", "101"], /--reject-status must be an integer from 200 to 599/],
      [["--bogus"], /unknown option --bogus/],
      [["stray"], /unexpected argument "stray"/],
    ];
    for (const [args, message] of cases) {
      it(args.join(" "), async function () {
        const child = node(CLI, args);
        children.push(child);
        assert.deepEqual(await child.waitForExit(5000), { code: 2, signal: null });
        assert.match(child.stderr, message);
        assert.match(child.stderr, /Try 'npm run server -- --help'/);
      });
    }
  });

  it("--help prints the options and the commands, and exits 0", async function () {
    const child = node(CLI, ["--help"]);
    children.push(child);
    assert.equal((await child.waitForExit(5000)).code, 0);
    for (const word of ["--port N", "--json", "--stdin", "--no-pong", "--garbage", "--reject-status S", "config set <key> <value>", "@<device>"]) {
      assert.ok(child.stdout.includes(word), `help mentions ${word}`);
    }
  });
});

describe("companion server over TLS (--tls, --cert/--key; CompanionOptions.tls)", function () {
  this.timeout(20_000);
  const children: Child[] = [];
  let folder: string;

  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-companion-tls-"))));
  afterEach(function () {
    for (const child of children.splice(0)) child.kill();
    rmSync(folder, { recursive: true, force: true });
  });

  /** A WebSocket client on the Node host that opens `url` trusting `ca`; resolves with the protocol or the close. */
  function connectWss(url: string, ca: string): Promise<{ opened: boolean; error?: string }> {
    return new Promise((resolve) => {
      const client: WebSocketClient = new WebSocketClient({
        url,
        host: createNodeHost({ logLevel: "silent" }),
        tls: { ca },
        onOpen: () => {
          resolve({ opened: true });
          client.close(1000);
        },
        onClose: (event) => resolve({ opened: false, ...(event.error ? { error: event.error.code } : {}) }),
      });
    });
  }

  it("serves wss:// with the certificate given, and says so in its URL", async function () {
    const { ca, good } = testCertificates();
    const server = await start({ port: 0, tls: good });
    try {
      assert.equal(server.url, `wss://127.0.0.1:${server.port}/`);
      assert.deepEqual(await within(connectWss(server.url, ca.cert), 5000, "the client"), { opened: true });
      await server.waitFor("connect");
      assert.deepEqual(await within(connectWss(server.url, testCertificates().otherCa.cert), 5000, "the client"), {
        opened: false,
        error: "ERR_TLS_UNKNOWN_CA",
      });
    } finally {
      await server.close();
    }
  });

  it("reports a client that does not speak TLS as a tls_error event", async function () {
    const server = await start({ port: 0, tls: testCertificates().good });
    try {
      const { connect } = await import("node:net");
      const socket = connect(server.port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      socket.on("error", () => {});
      const event = await server.waitFor("tls_error", () => true, 5000);
      assert.match(event.remote, /^127\.0\.0\.1:\d+$/);
      assert.match(event.message, /http request|wrong version/i);
      socket.destroy();
    } finally {
      await server.close();
    }
  });

  it("refuses a key that does not go with its certificate, naming the problem", function () {
    const { good, wrongHost } = testCertificates();
    assert.throws(() => new CompanionServer({ tls: { cert: good.cert, key: wrongHost.key } }), {
      name: "TypeError",
      message: /the TLS certificate and key cannot be used: key values mismatch/,
    });
  });

  it("--tls: makes a local CA on first use, names it, and serves wss:// that a device trusting the CA reaches", async function () {
    const tlsDir = join(folder, "tls");
    const server = new CliServer(["--tls", "--tls-dir", tlsDir]);
    children.push(server.child);
    const url = await server.listening();
    assert.match(url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
    const tlsLine = JSON.parse(server.child.stdout.split("\n").find((line) => line.includes('"event":"tls"'))!) as Record<string, unknown>;
    assert.equal(tlsLine.ca, join(tlsDir, "ca.pem"));
    assert.equal(tlsLine.created, true);
    assert.ok(existsSync(join(tlsDir, "ca-key.pem")) && existsSync(join(tlsDir, "server.pem")) && existsSync(join(tlsDir, "server-key.pem")));

    const device = node("dist/hosts/node/device.js", [
      "--url", url, "--no-wifi", "--ca", join(tlsDir, "ca.pem"), "--storage", join(folder, "device.json"),
    ]);
    children.push(device);
    const hello = await server.event("hello", () => true, 10_000);
    assert.equal(hello.device, "sim-1");
  });

  it("--tls again: reuses the CA, so devices given it before still trust the server", async function () {
    const tlsDir = join(folder, "tls");
    const first = new CliServer(["--tls", "--tls-dir", tlsDir]);
    children.push(first.child);
    await first.listening();
    first.child.kill();
    const ca = readFileSync(join(tlsDir, "ca.pem"), "utf8");
    const second = node(CLI, ["--port", "0", "--tls", "--tls-dir", tlsDir]);
    children.push(second);
    const [, url] = await second.line(/^listening on (wss:\/\/\S+)$/, 10_000, "the listening line");
    assert.match(second.stdout, new RegExp(`^TLS: local CA at ${join(tlsDir, "ca.pem").replace(/[.]/g, "\\.")}; devices trust this server with --ca `, "m"));
    assert.deepEqual(await within(connectWss(url!, ca), 5000, "the client"), { opened: true });
  });

  it("--cert FILE --key FILE: serves that certificate", async function () {
    const { ca, good } = testCertificates();
    writeFileSync(join(folder, "cert.pem"), good.cert);
    writeFileSync(join(folder, "key.pem"), good.key);
    const server = new CliServer(["--cert", join(folder, "cert.pem"), "--key", join(folder, "key.pem")]);
    children.push(server.child);
    const url = await server.listening();
    assert.deepEqual(await within(connectWss(url, ca.cert), 5000, "the client"), { opened: true });
  });

  for (const [args, message] of [
    [["--cert", "a.pem"], /--cert and --key go together/],
    [["--cert", "a.pem", "--key", "b.pem", "--tls"], /--cert\/--key replace the local CA/],
    [["--cert", "/nonexistent/a.pem", "--key", "/nonexistent/b.pem"], /--cert \/nonexistent\/a\.pem: no such file/],
  ] as Array<[string[], RegExp]>) {
    it(`exits 2 for ${args.join(" ")}`, async function () {
      const child = node(CLI, args);
      children.push(child);
      assert.equal((await child.waitForExit(5000)).code, 2);
      assert.match(child.stderr, message);
    });
  }
});
