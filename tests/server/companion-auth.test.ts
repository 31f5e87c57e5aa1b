/**
 * Only the right devices get in: the companion server (server/companion.ts) with a device
 * registry, against real WebSocket clients on loopback that say who they are in the opening
 * handshake (Moorline-Device, Authorization: Bearer). What is asserted is what a client sees
 * (101, or 401 with the same bytes whatever was wrong; 429; close codes 4001, 4003, 1008) and
 * what the server reports. Attackers connect from 127.0.0.2, good devices from 127.0.0.1: the
 * server tells them apart by address, as it would two hosts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { IncomingHttpHeaders } from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { DEFAULT_AUTH_LIMITS } from "../../server/auth.js";
import { CLOSE_REPLACED, CLOSE_REVOKED, start, type CompanionOptions, type CompanionServer } from "../../server/companion.js";
import { formatHuman } from "../../server/format.js";
import { DeviceRegistry } from "../../server/registry.js";
import { deferred, until, within } from "../support/wait.js";

const ATTACKER = "127.0.0.2";

interface Refused {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Admitted {
  socket: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
  messages: Array<Record<string, unknown>>;
}

interface Who {
  id?: string;
  token?: string;
  localAddress?: string;
  /** Send a hello naming this id on open (default: the id). */
  hello?: string | false;
}

/** One WebSocket attempt: admitted (open, hello sent), or refused (the HTTP answer). */
function attempt(url: string, who: Who): Promise<Admitted | Refused> {
  const headers: Record<string, string> = {};
  if (who.id !== undefined) headers["Moorline-Device"] = who.id;
  if (who.token !== undefined) headers.Authorization = `Bearer ${who.token}`;
  const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000, ...(who.localAddress ? { localAddress: who.localAddress } : {}) });
  const closed = deferred<{ code: number; reason: string }>();
  const messages: Array<Record<string, unknown>> = [];
  socket.on("close", (code, reason) => closed.resolve({ code, reason: reason.toString() }));
  socket.on("message", (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  socket.on("error", () => {});
  return new Promise((resolve, reject) => {
    socket.on("open", () => {
      const hello = who.hello ?? who.id;
      if (hello) socket.send(JSON.stringify({ type: "hello", device: hello, firmware: "0.1.0", boot: "b1", capabilities: [] }));
      resolve({ socket, closed: closed.promise, messages });
    });
    socket.on("unexpected-response", (_request, response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        socket.terminate();
      });
    });
    socket.on("error", (error) => reject(error));
  });
}

function isRefused(result: Admitted | Refused): result is Refused {
  return "status" in result;
}

describe("companion server with a device registry (--devices)", function () {
  this.timeout(30_000);
  let folder: string;
  let registry: DeviceRegistry;
  let tokens: Record<string, string>;
  let server: CompanionServer | undefined;
  const sockets: WebSocket[] = [];

  beforeEach(async () => {
    folder = mkdtempSync(join(tmpdir(), "moorline-companion-auth-"));
    registry = DeviceRegistry.open(join(folder, "devices.json"), { create: true });
    tokens = { "sim-1": await registry.add("sim-1"), "sim-2": await registry.add("sim-2") };
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate();
    await server?.close();
    server = undefined;
    rmSync(folder, { recursive: true, force: true });
  });

  async function serve(options: CompanionOptions = {}): Promise<CompanionServer> {
    server = await start({ port: 0, shutdownTimeoutMs: 500, registry, registryCheckMs: 100, ...options });
    return server;
  }

  async function admitted(who: Who): Promise<Admitted> {
    const result = await attempt(server!.url, who);
    assert.ok(!isRefused(result), `admitted, got ${isRefused(result) ? result.status : ""}`);
    sockets.push(result.socket);
    return result;
  }

  async function refused(who: Who): Promise<Refused> {
    const result = await attempt(server!.url, who);
    if (!isRefused(result)) {
      sockets.push(result.socket);
      assert.fail("refused");
    }
    return result;
  }

  it("says once, after listening, that only registered devices are admitted", async function () {
    const s = await serve();
    const auth = await s.waitFor("auth");
    assert.deepEqual({ ...auth, t: undefined }, { t: undefined, event: "auth", mode: "registry", file: registry.path, devices: 2, cleartext: false });
    assert.match(formatHuman(auth, false), /only the 2 registered in .*devices\.json are admitted, each with its token$/);
    // Listening beyond this machine without TLS, the line warns that tokens travel in clear.
    assert.match(formatHuman({ ...auth, cleartext: true } as typeof auth, false), /WARNING: over plain ws:\/\/ beyond this machine, tokens cross the network unencrypted \(use --tls\)$/);
  });

  it("without a registry, says in one line that anyone is admitted (development mode)", async function () {
    server = await start({ port: 0, shutdownTimeoutMs: 500 });
    const auth = await server.waitFor("auth");
    assert.equal(auth.mode, "open");
    const line = formatHuman(auth, false);
    assert.match(line, /development mode .*any device that connects is admitted/);
    assert.ok(!line.includes("\n"));
  });

  it("admits the right token for the id: the connection is that device's from the start", async function () {
    const s = await serve();
    await admitted({ id: "sim-1", token: tokens["sim-1"] });
    const connect = await s.waitFor("connect");
    assert.equal(connect.device, "sim-1", "known before any hello");
    await s.waitFor("hello", (e) => e.device === "sim-1");
    assert.deepEqual(s.devices().map((d) => [d.device, d.authenticated]), [["sim-1", true]]);
  });

  it("refuses a wrong token, a missing one, another device's, an unknown id and no id alike: the same 401", async function () {
    const s = await serve();
    const cases: Array<[Who, string]> = [
      [{ id: "sim-1", token: "not-the-token" }, "wrong_token"],
      [{ id: "sim-1" }, "no_token"],
      [{ id: "sim-1", token: tokens["sim-2"] }, "wrong_token"],
      [{ id: "sim-9", token: tokens["sim-1"] }, "unknown_device"],
      [{ token: tokens["sim-1"] }, "no_device_id"],
    ];
    const answers: Refused[] = [];
    for (const [who] of cases) answers.push(await refused(who));
    for (const answer of answers) {
      assert.equal(answer.status, 401);
      assert.equal(answer.headers["www-authenticate"], 'Bearer realm="moorline"');
      assert.equal(answer.body, "401 Unauthorized\n", "nothing about which part was wrong");
    }
    const events = s.history.filter((e) => e.event === "auth_refused");
    assert.deepEqual(
      events.map((e) => (e.event === "auth_refused" ? [e.reason, e.device] : [])),
      cases.map(([who, reason]) => [reason, who.id ?? null]),
      "the log says what was wrong",
    );
    const logged = JSON.stringify(s.history);
    for (const token of Object.values(tokens)) assert.ok(!logged.includes(token), "no token in the server's events");
    assert.deepEqual(s.devices(), []);
  });

  it("refuses a device removed from the registry by another process, and closes its live connection with 4003", async function () {
    const s = await serve();
    const live = await admitted({ id: "sim-2", token: tokens["sim-2"] });
    await s.waitFor("hello", (e) => e.device === "sim-2");
    assert.equal(DeviceRegistry.open(registry.path).remove("sim-2"), true);
    assert.deepEqual(await within(live.closed, 5000, "the revoked connection to close"), { code: CLOSE_REVOKED, reason: "device no longer registered" });
    const reloaded = await s.waitFor("registry");
    assert.deepEqual(reloaded.revoked, ["sim-2"]);
    const again = await refused({ id: "sim-2", token: tokens["sim-2"] });
    assert.equal(again.status, 401);
    // The other device is untouched.
    await admitted({ id: "sim-1", token: tokens["sim-1"] });
  });

  it("closes with 1008 a connection whose hello names another device than the one it proved", async function () {
    const s = await serve();
    const liar = await admitted({ id: "sim-1", token: tokens["sim-1"], hello: "sim-2" });
    assert.deepEqual(await within(liar.closed, 5000, "the close"), { code: 1008, reason: "hello names another device than the one authenticated" });
    const bad = await s.waitFor("bad_message");
    assert.equal(bad.device, "sim-1");
  });

  describe("one live connection per device id", function () {
    it("a second authenticated connection replaces the first, closed with 4001", async function () {
      const s = await serve();
      const first = await admitted({ id: "sim-1", token: tokens["sim-1"] });
      await s.waitFor("hello");
      const second = await admitted({ id: "sim-1", token: tokens["sim-1"] });
      assert.deepEqual(await within(first.closed, 5000, "the first connection's close"), { code: CLOSE_REPLACED, reason: "replaced by a newer connection" });
      await until(() => s.devices().length === 1, 2000, "one connection left");
      const [request] = s.send("sim-1", "ping");
      await until(() => second.messages.some((m) => m.id === request!.id), 2000, "the request to reach the new connection");
      assert.equal(first.messages.filter((m) => m.type === "ping").length, 0);
    });

    it("a stale half-open connection that never answers the close is destroyed, never blocking the device's return", async function () {
      const s = await serve();
      // A raw client that completes the handshake, then reads nothing and answers nothing:
      // the device's side of a link that died without a FIN.
      const stale = net.connect({ host: "127.0.0.1", port: s.port });
      stale.on("error", () => {});
      const key = Buffer.alloc(16, 7).toString("base64");
      stale.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
          `Sec-WebSocket-Version: 13\r\nMoorline-Device: sim-1\r\nAuthorization: Bearer ${tokens["sim-1"]}\r\n\r\n`,
      );
      try {
        const connect = await s.waitFor("connect", (e) => e.device === "sim-1");
        stale.pause();
        const fresh = await admitted({ id: "sim-1", token: tokens["sim-1"] });
        const dropped = await s.waitFor("drop", (e) => e.conn === connect.conn, 6000);
        assert.equal(dropped.why, "replaced");
        await s.waitFor("close", (e) => e.conn === connect.conn, 2000);
        await s.waitFor("hello", (e) => e.device === "sim-1");
        assert.deepEqual(s.devices().map((d) => d.device), ["sim-1"]);
        assert.equal(fresh.socket.readyState, WebSocket.OPEN);
      } finally {
        stale.destroy();
      }
    });

    it("in development mode too, by the id of the hello", async function () {
      server = await start({ port: 0, shutdownTimeoutMs: 500 });
      const first = await admitted({ id: "sim-1" });
      await server.waitFor("hello");
      await admitted({ id: "sim-1" });
      assert.equal((await within(first.closed, 5000, "the first connection's close")).code, CLOSE_REPLACED);
    });
  });

  describe("an impostor with a stolen id but no token", function () {
    it("cannot displace the real device, even hammering its id until it is locked out", async function () {
      const s = await serve({ authLimits: { slowStepMs: 10, maxDelayMs: 40 } });
      const real = await admitted({ id: "sim-1", token: tokens["sim-1"] });
      await s.waitFor("hello");
      const answers: number[] = [];
      for (let i = 0; i < DEFAULT_AUTH_LIMITS.refuseAfter + 5; i++) {
        answers.push((await refused({ id: "sim-1", token: i % 2 === 0 ? undefined : "guess", localAddress: ATTACKER })).status);
      }
      assert.ok(answers.slice(0, DEFAULT_AUTH_LIMITS.refuseAfter).every((status) => status === 401), answers.join(","));
      assert.ok(answers.slice(DEFAULT_AUTH_LIMITS.refuseAfter).every((status) => status === 429), "then locked out");
      assert.ok(s.history.some((e) => e.event === "auth_lockout"), "the lockout is logged");
      assert.equal(real.socket.readyState, WebSocket.OPEN, "the real device's connection stayed");
      assert.ok(!s.history.some((e) => e.event === "closing" || e.event === "close"), "nothing was closed");
      // The real device comes back (a reboot): from its own address it is admitted, lockout or not.
      real.socket.terminate();
      await s.waitFor("close");
      await admitted({ id: "sim-1", token: tokens["sim-1"] });
      assert.deepEqual(s.devices().map((d) => d.device), ["sim-1"]);
    });
  });

  describe("1,000 bad attempts in a burst", function () {
    it("are slowed, then refused at once without checking; good devices get in meanwhile; memory stays bounded", async function () {
      const maxTracked = 64;
      // Shorter delays than the defaults (250 ms doubling to 5 s), so the test takes seconds.
      const s = await serve({ authLimits: { maxTracked, slowStepMs: 20, maxDelayMs: 200 } });
      const one = (i: number): Promise<number> =>
        attempt(s.url, { id: `bogus-${i}`, token: `guess${i}`, localAddress: ATTACKER }).then((result) => {
          if (isRefused(result)) return result.status;
          sockets.push(result.socket);
          return 101;
        });
      // Ten waves of 100 attempts at once, each wave as soon as the last was answered.
      const burst = (async () => {
        const statuses: number[] = [];
        for (let wave = 0; wave < 10; wave++) {
          statuses.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => one(wave * 100 + i)))));
        }
        return statuses;
      })();
      // A good device, during the burst: admitted within a few seconds.
      await s.waitFor("auth_refused");
      const started = Date.now();
      const good = await admitted({ id: "sim-2", token: tokens["sim-2"] });
      const waitedMs = Date.now() - started;
      const statuses = await within(burst, 60_000, "the burst to be answered");
      const count = (status: number) => statuses.filter((s) => s === status).length;
      assert.equal(count(101), 0, "none admitted");
      assert.equal(count(401) + count(429) + count(503), 1000, `every attempt answered: ${JSON.stringify({ 401: count(401), 429: count(429), 503: count(503) })}`);
      // Each 401 cost a token check (scrypt); the rest were refused without one.
      const limits = DEFAULT_AUTH_LIMITS;
      assert.ok(count(401) <= limits.refuseAfter + limits.maxPerAddress, `at most ${limits.refuseAfter + limits.maxPerAddress} checked, got ${count(401)}`);
      const refusals = s.history.filter((e) => e.event === "auth_refused");
      assert.ok(refusals.some((e) => e.event === "auth_refused" && e.delayMs > 0), "the later 401s were slowed");
      assert.ok(s.history.some((e) => e.event === "auth_lockout" && e.key === "address" && e.value === ATTACKER));
      const summaries = s.history.filter((e) => e.event === "auth_refused_many");
      assert.ok(summaries.length >= 1, "the quick refusals are summed up, not logged one by one");
      assert.ok(refusals.length + summaries.length < 100, `${refusals.length + summaries.length} log events for 1000 attempts`);
      const tracked = s.authTracked()!;
      assert.ok(tracked.addresses <= maxTracked && tracked.devices <= maxTracked, JSON.stringify(tracked));
      assert.ok(waitedMs < 10_000, `the good device waited ${waitedMs} ms`);
      // And the server still talks to it.
      const [request] = s.send("sim-2", "ping");
      await until(() => good.messages.some((m) => m.id === request!.id), 3000, "a request to reach the good device");
      // Another good device, after the burst.
      await admitted({ id: "sim-1", token: tokens["sim-1"] });
    });
  });
});
