/**
 * Secrets stay secret: the WiFi password and the auth token never appear in the device's
 * log, in what it sends a server (status and config replies included), or in an error
 * message, whatever goes wrong. The whole device (src/device/device.ts) runs on the Node host with
 * a distinctive password and token, meets every failure a field device meets (a wrong WiFi
 * password, no server, a server refusing the token, one reflecting it back, a certificate
 * from an unknown CA) and a working companion server that asks for status and config; then
 * every log line (as printed, at debug level), every event and message the servers saw
 * except the one header the token is for, and every error is searched for the secrets. The
 * device's command line is searched the same way, on both engines (tests/support/engines.ts):
 * with --engine xs the same firmware runs inside XS, its TLS done by the Node side.
 *
 * With a device registry (server/registry.ts) the token has two more places to leak from: the
 * server (its events, its log lines, its registry file, which holds only a hash) and `npm
 * start`, which registers its simulated device and stores the token in the device's storage:
 * each is searched too, and so is a device whose token came from storage (provisioning).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";

import { createJsonLog, createNodeHost } from "../../hosts/node/host.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { start, type CompanionServer } from "../../server/companion.js";
import { formatHuman } from "../../server/format.js";
import { DeviceRegistry } from "../../server/registry.js";
import { AUTH_TOKEN_STORAGE, saveAuthToken } from "../../src/auth/credentials.js";
import { FileStorage } from "../../hosts/node/file-storage.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import type { DeviceHost } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { testCertificates } from "../support/certs.js";
import { node } from "../support/child-process.js";
import { ENGINES, engineArgs } from "../support/engines.js";
import { startTlsEchoServer } from "../support/tls-server.js";
import { closedPort, delay, until, within } from "../support/wait.js";

const PASSWORD = "pw-Q7mZ3x9Lk2vB8nR4";
const TOKEN = "tok-H5wJ1cY6pT0sD3fG9aE2";
/** The secrets and distinctive pieces of them, so a cut or re-encoded copy is caught too. */
const NEEDLES = [
  PASSWORD,
  TOKEN,
  "Q7mZ3x9Lk2vB8nR4",
  "H5wJ1cY6pT0sD3fG9aE2",
  "Q7mZ3x9L",
  "H5wJ1cY6",
  Buffer.from(PASSWORD).toString("base64").slice(0, 16),
  Buffer.from(TOKEN).toString("base64").slice(0, 16),
];
const SSID = "lab-net";

/** Fails naming where a secret showed up, and the text around it. */
function assertNoSecret(where: string, text: string): void {
  for (const needle of NEEDLES) {
    const at = text.indexOf(needle);
    if (at >= 0) assert.fail(`a secret appears in ${where}: ...${text.slice(Math.max(0, at - 80), at + needle.length + 20)}...`);
  }
}

/** The device in this process, printing its log as JSON lines (debug level) into `lines`. */
function secretDevice(url: string, options: { accessPointPassword?: string; extra?: Record<string, unknown>; storage?: MemoryStorage } = {}) {
  const net = createNodeHost({ logLevel: "silent" });
  const lines: string[] = [];
  const wifi = new SimWifi({
    timers: net.timers,
    accessPoints: [{ ssid: SSID, password: options.accessPointPassword ?? PASSWORD }],
    connectDelayMs: 10,
    gotIPDelayMs: 10,
    failDelayMs: 10,
  });
  const host: DeviceHost = {
    ...net,
    wifi,
    storage: options.storage ?? new MemoryStorage(),
    log: createJsonLog({ write: (line: string) => lines.push(line) }, "debug"),
  };
  const config = parseDeviceConfig({
    url,
    deviceId: "secret-1",
    ssid: SSID,
    password: PASSWORD,
    authToken: TOKEN,
    telemetryIntervalMs: 1000,
    backoffBaseMs: 100,
    backoffCapMs: 300,
    ...options.extra,
  });
  const device = new Device({ host, config });
  return { device, lines, wifi };
}

/** Stops the device, then searches its log, its link stats and whatever else was captured. */
async function stopAndSearch(d: ReturnType<typeof secretDevice>, extra: Record<string, string> = {}): Promise<void> {
  await within(new Promise<void>((resolve) => d.device.stop(resolve)), 8000, "the device to stop");
  d.wifi.close();
  assert.ok(d.lines.length > 5, "the device logged what happened");
  d.lines.forEach((line, i) => assertNoSecret(`log line ${i + 1}`, line));
  assertNoSecret("the supervisor's stats (lastClose: the last error)", JSON.stringify(d.device.supervisor.stats));
  for (const [where, text] of Object.entries(extra)) assertNoSecret(where, text);
}

function events(lines: string[], name: string): Array<Record<string, unknown>> {
  return lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((record) => record.event === name);
}

/**
 * A WebSocket server that checks the bearer token: 401 for anything else. "reflect" makes
 * it a careless one that quotes the token it got in its status line and body; "revoke"
 * accepts the connection and closes it with a reason quoting the token.
 */
async function startTokenServer(mode: "refuse" | "reflect" | "revoke") {
  const reflect = mode === "reflect";
  const authorizations: string[] = [];
  const http: Server = createServer((_request, response) => response.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true });
  http.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const given = request.headers.authorization ?? "";
    authorizations.push(given);
    if (mode === "revoke") {
      wss.handleUpgrade(request, socket, head, (ws) => ws.close(4001, `token ${given.slice(7)} revoked`));
      return;
    }
    const reason = reflect ? `Unauthorized (${given})` : "Unauthorized";
    const body = reflect ? `token ${given.slice(7)} is not valid\n` : "bad token\n";
    socket.end(`HTTP/1.1 401 ${reason}\r\nWWW-Authenticate: Bearer\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    authorizations,
    close: async () => {
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe("secrets: the WiFi password and the auth token never leave the device's hands", function () {
  this.timeout(30_000);

  it("a wrong WiFi password: the failures name the network, never the password", async function () {
    const d = secretDevice(`ws://127.0.0.1:${await closedPort()}/`, { accessPointPassword: "the-access-points-own" });
    d.device.start();
    await until(() => events(d.lines, "wifi_wrong_password").length >= 2, 8000, "two refused WiFi attempts");
    assert.equal(events(d.lines, "wifi_wrong_password")[0]!.ssid, SSID);
    await stopAndSearch(d);
  });

  it("no server at the URL: every retry's error is clean", async function () {
    const d = secretDevice(`ws://127.0.0.1:${await closedPort()}/`);
    d.device.start();
    await until(() => events(d.lines, "ws_backoff").length >= 3, 8000, "three refused connections");
    assert.equal(events(d.lines, "ws_backoff")[0]!.error, "ERR_CONNECT_FAILED");
    await stopAndSearch(d);
  });

  it("a server refusing the token with 401: the token went to it in the header, and nowhere else", async function () {
    const server = await startTokenServer("refuse");
    try {
      const d = secretDevice(server.url);
      d.device.start();
      await until(() => events(d.lines, "ws_backoff").length >= 2, 8000, "two refused handshakes");
      const backoff = events(d.lines, "ws_backoff")[0]!;
      assert.equal(backoff.error, "ERR_UNAUTHORIZED");
      assert.match(String(backoff.reason), /server answered 401 Unauthorized.*requires authentication/);
      assert.equal(server.authorizations[0], `Bearer ${TOKEN}`, "the token is sent where it belongs");
      await stopAndSearch(d);
    } finally {
      await server.close();
    }
  });

  it("a careless server quoting the token back in its 401: the device does not repeat it", async function () {
    const server = await startTokenServer("reflect");
    try {
      const d = secretDevice(server.url);
      d.device.start();
      await until(() => events(d.lines, "ws_backoff").length >= 2, 8000, "two refused handshakes");
      const reason = String(events(d.lines, "ws_backoff")[0]!.reason);
      assert.match(reason, /server answered 401 Unauthorized \(Bearer <redacted>\), expected 101/, "the rest of what it said is kept");
      await stopAndSearch(d);
    } finally {
      await server.close();
    }
  });

  it("a server closing with a reason that quotes the token: the reason is kept, the token hidden", async function () {
    const server = await startTokenServer("revoke");
    try {
      const d = secretDevice(server.url);
      d.device.start();
      await until(() => events(d.lines, "ws_backoff").length >= 2, 8000, "two closed connections");
      const closed = events(d.lines, "ws_closed")[0]!;
      assert.equal(closed.code, 4001);
      assert.equal(closed.reason, "token <redacted> revoked");
      await stopAndSearch(d);
    } finally {
      await server.close();
    }
  });

  it("a wss:// server whose certificate comes from an unknown CA", async function () {
    const certs = testCertificates();
    const server = await startTlsEchoServer(certs.unknownCa);
    try {
      const d = secretDevice(server.url, { extra: { ca: certs.ca.cert } });
      d.device.start();
      await until(() => events(d.lines, "ws_backoff").length >= 2, 8000, "two refused TLS connections");
      assert.equal(events(d.lines, "ws_backoff")[0]!.error, "ERR_TLS_UNKNOWN_CA");
      assert.equal(server.requests, 0, "not even the handshake (and its token) reached the server");
      await stopAndSearch(d);
    } finally {
      await server.close();
    }
  });

  it("a token stored by provisioning (auth/token), refused with 401: sent where it belongs, logged nowhere", async function () {
    const server = await startTokenServer("reflect");
    try {
      const storage = new MemoryStorage();
      saveAuthToken(storage, TOKEN);
      const d = secretDevice(server.url, { storage, extra: { authToken: "" } });
      d.device.start();
      await until(() => events(d.lines, "ws_unauthorized").length >= 2, 8000, "two refused handshakes");
      assert.equal(events(d.lines, "auth_token")[0]!.source, "stored");
      assert.equal(server.authorizations[0], `Bearer ${TOKEN}`);
      await stopAndSearch(d);
    } finally {
      await server.close();
    }
  });

  describe("with the companion server and a device registry", function () {
    let folder: string;
    let server: CompanionServer;
    beforeEach(async () => {
      folder = mkdtempSync(join(tmpdir(), "moorline-secrets-registry-"));
      const registry = DeviceRegistry.open(join(folder, "devices.json"), { create: true });
      await registry.add("secret-1", { token: TOKEN });
      server = await start({ port: 0, registry });
    });
    afterEach(async () => {
      await server.close();
      rmSync(folder, { recursive: true, force: true });
    });

    /** The server's events as it prints them (--json and readable), and its registry file. */
    function serverText(): Record<string, string> {
      return {
        "the server's events (--json)": JSON.stringify(server.history),
        "the server's readable log": server.history.map((event) => formatHuman(event, false)).join("\n"),
        "the registry file": readFileSync(join(folder, "devices.json"), "utf8"),
      };
    }

    it("admitted: neither the device nor the server shows the token anywhere, and the file holds only its hash", async function () {
      const d = secretDevice(server.url);
      d.device.start();
      await server.waitFor("hello", (e) => e.device === "secret-1", 8000);
      const [request] = server.send("secret-1", "status");
      const status = await server.waitFor("reply", (e) => e.id === request!.id, 5000);
      assert.deepEqual((status.result as Record<string, unknown>).auth, { token: "config", refused: 0 });
      await stopAndSearch(d, serverText());
    });

    it("refused (a wrong token, then the right one as another device's): the refusals log no token", async function () {
      const wrong = secretDevice(server.url, { extra: { authToken: `${TOKEN}x` } });
      const borrowed = secretDevice(server.url, { extra: { deviceId: "secret-2" } });
      wrong.device.start();
      borrowed.device.start();
      await server.waitFor("auth_refused", (e) => e.device === "secret-1", 8000);
      await server.waitFor("auth_refused", (e) => e.device === "secret-2", 8000);
      await until(() => [wrong, borrowed].every((d) => events(d.lines, "ws_unauthorized").length >= 1), 8000, "both devices told");
      await stopAndSearch(wrong, serverText());
      await stopAndSearch(borrowed);
    });
  });

  describe("with the companion server", function () {
    let server: CompanionServer;
    beforeEach(async () => {
      server = await start({ port: 0 });
    });
    afterEach(async () => {
      await server.close();
    });

    it("status and config replies, telemetry and every other message hold neither secret", async function () {
      const d = secretDevice(server.url);
      d.device.start();
      await server.waitFor("hello", () => true, 8000);
      await server.waitFor("telemetry", () => true, 5000);
      const replies = [];
      for (const command of ["status", "config get", "config get password", "config get authToken", "config set password 1", "ping"]) {
        const [request] = server.send("secret-1", command);
        replies.push(await server.waitFor("reply", (e) => e.id === request!.id, 5000));
      }
      const status = replies[0]!;
      assert.equal(status.ok, true);
      assert.equal((status.result as Record<string, unknown>).ssid, SSID, "the status names the network");
      await stopAndSearch(d, {
        "the companion server's events (every message it received)": JSON.stringify(server.history),
        "the replies": JSON.stringify(replies),
      });
    });
  });

  for (const engine of ENGINES) {
    describe(`the device's command line (hosts/node/device.ts) [${engine}]`, function () {
      let folder: string;
      beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-secrets-"))));
      afterEach(() => rmSync(folder, { recursive: true, force: true }));

      it("prints neither secret at debug level, while WiFi refuses the password and no server answers", async function () {
        const url = `ws://127.0.0.1:${await closedPort()}/`;
        const common = ["--url", url, "--log-level", "debug", "--backoff-base-ms", "100", "--backoff-cap-ms", "300"];
        // The simulated access point has its own password: this one is refused.
        const wifi = node("dist/hosts/node/device.js", [...engineArgs(engine), ...common, "--ssid", "moorline-sim", "--password", PASSWORD, "--auth-token", TOKEN, "--storage", join(folder, "a.json")]);
        const link = node("dist/hosts/node/device.js", [...engineArgs(engine), ...common, "--no-wifi", "--auth-token", TOKEN, "--storage", join(folder, "b.json")]);
        try {
          await wifi.line(/"event":"wifi_wrong_password"/, 10_000, "a refused WiFi password");
          await link.line(/"event":"ws_backoff"/, 10_000, "a refused connection");
          await delay(300);
        } finally {
          for (const child of [wifi, link]) {
            child.kill("SIGTERM");
            await child.waitForExit(5000);
          }
        }
        for (const [name, child] of [["WiFi", wifi], ["link", link]] as const) {
          assertNoSecret(`the ${name} device's stdout`, child.stdout);
          assertNoSecret(`the ${name} device's stderr`, child.stderr);
        }
      });

      it("prints neither secret at debug level, while a server quotes the token back and a wss:// server's CA is unknown", async function () {
        const careless = await startTokenServer("reflect");
        const certs = testCertificates();
        const unknownCa = await startTlsEchoServer(certs.unknownCa);
        const caFile = join(folder, "ca.pem");
        writeFileSync(caFile, certs.ca.cert);
        const common = ["--log-level", "debug", "--backoff-base-ms", "100", "--backoff-cap-ms", "300", "--no-wifi", "--auth-token", TOKEN];
        const reflected = node("dist/hosts/node/device.js", [...engineArgs(engine), ...common, "--url", careless.url, "--storage", join(folder, "c.json")]);
        const tls = node("dist/hosts/node/device.js", [...engineArgs(engine), ...common, "--url", unknownCa.url, "--ca", caFile, "--storage", join(folder, "d.json")]);
        try {
          await reflected.line(/"event":"ws_backoff".*ERR_UNAUTHORIZED/, 10_000, "a 401 quoting the token");
          await tls.line(/"event":"ws_backoff".*ERR_TLS_UNKNOWN_CA/, 10_000, "a certificate from an unknown CA refused");
          await delay(300);
        } finally {
          for (const child of [reflected, tls]) {
            child.kill("SIGTERM");
            await child.waitForExit(5000);
          }
          await careless.close();
          await unknownCa.close();
        }
        assert.equal(careless.authorizations[0], `Bearer ${TOKEN}`, "the token went where it belongs");
        assert.equal(unknownCa.requests, 0, "not even the handshake (and its token) reached the refused server");
        assert.match(reflected.stdout, /Bearer <redacted>/);
        for (const [name, child] of [["careless server's", reflected], ["TLS", tls]] as const) {
          assertNoSecret(`the ${name} device's stdout`, child.stdout);
          assertNoSecret(`the ${name} device's stderr`, child.stderr);
        }
      });

      it("npm start: registers the device and stores its token, and prints it nowhere", async function () {
        const storage = join(folder, "sim.json");
        const port = await closedPort();
        const child = node("dist/hosts/node/start.js", ["--port", String(port), "--", ...engineArgs(engine), "--storage", storage, "--log-level", "debug"]);
        try {
          await child.line(/\[server\].*hello/, 20_000, "the device's hello at the server");
          child.process.stdin!.write("status\n");
          await child.line(/\[server\].*uptimeMs/, 10_000, "the status reply");
        } finally {
          child.kill("SIGINT");
          await child.waitForExit(8000).catch(() => child.kill());
        }
        const token = new FileStorage(storage).get(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key);
        assert.ok(token !== undefined && token.length >= 40, "the token is in the device's storage");
        assert.match(child.stdout, /Only registered devices are admitted: device sim-1 registered in .*devices\.json/);
        for (const text of [child.stdout, child.stderr, readFileSync(join(folder, "devices.json"), "utf8")]) {
          assert.ok(!text.includes(token!) && !text.includes(token!.slice(0, 12)), "the token is printed nowhere, nor in the registry file");
        }
      });

      it("does not quote a password or token it refuses", async function () {
        const long = `${PASSWORD}${"x".repeat(60)}`;
        const child = node("dist/hosts/node/device.js", [...engineArgs(engine), "--password", long, "--auth-token", TOKEN.repeat(60)]);
        const exit = await child.waitForExit(5000);
        assert.equal(exit.code, 2);
        assert.match(child.stderr, /^device: --password must be a string of at most 64 characters, got "\(hidden\)"/);
        assertNoSecret("the usage error", child.stderr + child.stdout);
      });
    });
  }
});
