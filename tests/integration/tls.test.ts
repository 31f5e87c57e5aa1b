/**
 * wss:// against real TLS WebSocket servers on 127.0.0.1 (https + `ws`) with certificates
 * made for this run (tests/support/certs.ts): what a device connecting to each kind of
 * server sees. Every refused certificate is a distinct error, no application byte reaches
 * a refused server, a TLS failure goes into the supervisor's backoff like any failed
 * attempt, and the echo agent's --ca works from the command line.
 *
 * The cases are data (CASES) and the assertions about them live in one place (expectOutcome),
 * apart from how a connection is made (an Engine). Each runs on both engines
 * (tests/support/engines.ts): the client on the Node host, and the same compiled client
 * inside the XS engine, whose TLS is done by the Node side of its bridge
 * (tests/support/on-engine.ts createClientOn); so do the echo agent's and the device's tests.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createNodeHost } from "../../hosts/node/host.js";
import { createClientOn, startDeviceOn, type EngineClient, type EngineDevice } from "../support/on-engine.js";
import { start as startCompanion, type CompanionServer } from "../../server/companion.js";
import { parseDeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import type { Limits } from "../../src/websocket/constants.js";
import { ErrorCode, type ErrorCodeValue } from "../../src/shared/errors.js";
import type { LogLevel } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { ConnectionSupervisor } from "../../src/device/supervisor.js";
import type { ClientTlsOptions, CloseEvent } from "../../src/websocket/client.js";
import { testCertificates, type TestCertificates } from "../support/certs.js";
import { node, REPO_ROOT } from "../support/child-process.js";
import { ENGINES as ENGINE_NAMES, engineArgs, useEngine, type EngineName } from "../support/engines.js";
import { startTlsEchoServer, type TlsEchoServer } from "../support/tls-server.js";
import { closedPort, deferred, listenLoopback, until, within } from "../support/wait.js";

// --- engines: how one connection attempt is made ------------------------------------------

/** What one connection attempt showed, in terms every engine can report. */
interface Outcome {
  /** The echo of the message sent once open, or undefined when it never opened. */
  echoed: string | undefined;
  close: CloseEvent;
  /** The client's log events, in order. */
  logs: Array<{ level: LogLevel; event: string }>;
}

interface Engine {
  name: EngineName;
  /**
   * Connects to `url`; once open, sends one text message and closes (1000) when its echo
   * comes back. Resolves with what happened once the client has closed.
   */
  attempt(url: string, tls: ClientTlsOptions | undefined, limits?: Partial<Limits>): Promise<Outcome>;
}

const MESSAGE = "hello over TLS";

/**
 * The client on `name`: on Node, a WebSocketClient over the Node host; on XS, the same client
 * in an XS worker (its callbacks and log events reach this side after the fact).
 */
function engineNamed(name: EngineName): Engine {
  return {
    name,
    async attempt(url, tls, limits) {
      const logs: Outcome["logs"] = [];
      let echoed: string | undefined;
      const done = deferred<Outcome>();
      // The callbacks act on the client once createClientOn has given it.
      const made = deferred<EngineClient>();
      const act = (action: (client: EngineClient) => Promise<void>) => void made.promise.then(action).catch((error) => done.reject(error));
      const client = await createClientOn(name, {
        url,
        ...(tls ? { tls } : {}),
        ...(limits ? { limits } : {}),
        log: (level: LogLevel, event: string) => void logs.push({ level, event }),
        onOpen: () => act((c) => c.send(MESSAGE)),
        onMessage: (data) => {
          echoed = typeof data === "string" ? data : `<${data.length} bytes>`;
          act((c) => c.close(1000));
        },
        onClose: (close) => done.resolve({ echoed, close, logs }),
      });
      made.resolve(client);
      return within(done.promise, 15_000, `the client to close (${url}, ${name})`);
    },
  };
}

/** The engines the cases run on: Node and XS, unless ENGINES narrows them. */
const ENGINES: readonly Engine[] = ENGINE_NAMES.map(engineNamed);

// --- the cases, and what a user must see in each ------------------------------------------

/** What the device must see. */
type Expected =
  | { opens: true; warns?: boolean }
  | { opens: false; code: ErrorCodeValue; message: RegExp };

interface Case {
  name: string;
  /** The certificate chain and key the server presents. */
  serve: (c: TestCertificates) => { cert: string; key: string };
  /** The client's tls option (undefined: the host's default trust store). */
  tls: (c: TestCertificates) => ClientTlsOptions | undefined;
  expected: Expected;
}

const CASES: readonly Case[] = [
  {
    name: "a certificate that chains to the given CA, for the host connected to",
    serve: (c) => c.good,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: { opens: true },
  },
  {
    name: "a certificate signed by a CA the device does not know",
    serve: (c) => c.unknownCa,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: {
      opens: false,
      code: ErrorCode.TLS_UNKNOWN_CA,
      message: /certificate for 127\.0\.0\.1 is signed by an unknown CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/,
    },
  },
  {
    name: "a certificate sent with its own (untrusted) CA in the chain",
    serve: (c) => ({ cert: c.unknownCa.cert + c.otherCa.cert, key: c.unknownCa.key }),
    tls: (c) => ({ ca: c.ca.cert }),
    expected: { opens: false, code: ErrorCode.TLS_UNKNOWN_CA, message: /signed by an unknown CA \(SELF_SIGNED_CERT_IN_CHAIN\)/ },
  },
  {
    name: "a local CA's certificate, checked against the host's default trust store (no CA given)",
    serve: (c) => c.good,
    tls: () => undefined,
    expected: { opens: false, code: ErrorCode.TLS_UNKNOWN_CA, message: /signed by an unknown CA/ },
  },
  {
    name: "a certificate for another host name",
    serve: (c) => c.wrongHost,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: {
      opens: false,
      code: ErrorCode.TLS_HOSTNAME_MISMATCH,
      message: /certificate is not valid for 127\.0\.0\.1: it names DNS:other\.example, IP Address:127\.0\.0\.2/,
    },
  },
  {
    name: "an expired certificate",
    serve: (c) => c.expired,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: { opens: false, code: ErrorCode.TLS_CERT_EXPIRED, message: /certificate for 127\.0\.0\.1 expired on \d{4}-\d\d-\d\dT[\d:]+Z \(CERT_HAS_EXPIRED\)/ },
  },
  {
    name: "a certificate not valid yet",
    serve: (c) => c.notYetValid,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: { opens: false, code: ErrorCode.TLS_CERT_NOT_YET_VALID, message: /is not valid before \d{4}-\d\d-\d\d/ },
  },
  {
    name: "a self-signed certificate",
    serve: (c) => c.selfSigned,
    tls: (c) => ({ ca: c.ca.cert }),
    expected: { opens: false, code: ErrorCode.TLS_SELF_SIGNED, message: /certificate for 127\.0\.0\.1 is self-signed/ },
  },
  {
    name: "a good certificate whose public key is pinned",
    serve: (c) => c.good,
    tls: (c) => ({ ca: c.ca.cert, pins: [c.otherCa.pin, c.goodPin] }),
    expected: { opens: true },
  },
  {
    name: "a good certificate whose public key is not the pinned one",
    serve: (c) => c.good,
    tls: (c) => ({ ca: c.ca.cert, pins: [c.otherCa.pin] }),
    expected: { opens: false, code: ErrorCode.TLS_PIN_MISMATCH, message: /public key of the certificate for 127\.0\.0\.1 \(pin [A-Za-z0-9+/]{43}=\) is not one of the pinned keys \(1 given\)/ },
  },
  {
    name: "a self-signed certificate, with verification turned off explicitly",
    serve: (c) => c.selfSigned,
    tls: () => ({ insecure: true }),
    expected: { opens: true, warns: true },
  },
];

/** The one place that says what each case must look like to a user, whatever the engine. */
function expectOutcome(outcome: Outcome, expected: Expected, server: TlsEchoServer): void {
  const { close } = outcome;
  const warnings = outcome.logs.filter((l) => l.level === "warn" && l.event === "tls_insecure").length;
  if (expected.opens) {
    assert.equal(close.error, undefined, `no error, got ${close.error?.message}`);
    assert.equal(outcome.echoed, MESSAGE, "the message came back over TLS");
    assert.equal(close.code, 1000);
    assert.equal(close.wasClean, true);
    assert.equal(warnings, expected.warns ? 1 : 0, "tls_insecure warnings");
    return;
  }
  assert.equal(outcome.echoed, undefined, "never opened");
  assert.equal(close.code, 1006);
  assert.equal(close.wasClean, false);
  assert.ok(close.error, "an error says why");
  assert.equal(close.error.name, "HandshakeError");
  assert.equal(close.error.code, expected.code, close.error.message);
  assert.match(close.error.message, new RegExp(`^TLS connection to 127\\.0\\.0\\.1:${server.port} refused: `));
  assert.match(close.error.message, expected.message);
  assert.equal(close.reason, close.error.message, "the close reason says it too");
  assert.equal(server.requests, 0, "not one HTTP request (no WebSocket handshake) reached the refused server");
}

// --- the tests ----------------------------------------------------------------------------

describe("wss:// against real TLS servers on 127.0.0.1 (certificates made for this run)", function () {
  this.timeout(30_000);
  let certs: TestCertificates;

  before(function () {
    certs = testCertificates();
  });

  for (const engine of ENGINES) {
    describe(`on ${engine.name}`, function () {
      useEngine(engine.name);
      let server: TlsEchoServer | undefined;
      afterEach(async function () {
        await server?.close();
        server = undefined;
      });

      for (const c of CASES) {
        const verdict = c.expected.opens ? "opens and echoes" : `is refused with ${c.expected.code}`;
        it(`${c.name}: ${verdict}`, async function () {
          server = await startTlsEchoServer(c.serve(certs));
          const outcome = await engine.attempt(server.url, c.tls(certs));
          expectOutcome(outcome, c.expected, server);
        });
      }

      it("warns at every connect while verification is off, not once per process", async function () {
        server = await startTlsEchoServer(certs.selfSigned);
        for (let i = 0; i < 3; i++) {
          const outcome = await engine.attempt(server.url, { insecure: true });
          expectOutcome(outcome, { opens: true, warns: true }, server);
        }
      });

      it("says no TLS connection came when a server accepts TCP and never answers the handshake", async function () {
        const silent = await startSilentServer();
        try {
          const outcome = await engine.attempt(`wss://127.0.0.1:${silent.port}/`, { ca: certs.ca.cert }, { handshakeTimeoutMs: 500 });
          assert.equal(outcome.close.error?.code, ErrorCode.HANDSHAKE_TIMEOUT);
          assert.match(outcome.close.error!.message, new RegExp(`no TLS connection from 127\\.0\\.0\\.1:${silent.port} within handshakeTimeoutMs \\(500 ms\\)`));
          assert.ok(silent.accepted() >= 1, "TCP did connect");
        } finally {
          await silent.close();
        }
      });

      it("says the server does not speak TLS when wss:// meets a plain ws:// server", async function () {
        const { WebSocketServer } = await import("ws");
        const plain = new WebSocketServer({ host: "127.0.0.1", port: 0 });
        await new Promise<void>((resolve) => plain.once("listening", () => resolve()));
        try {
          const port = (plain.address() as { port: number }).port;
          const outcome = await engine.attempt(`wss://127.0.0.1:${port}/`, { ca: certs.ca.cert });
          assert.equal(outcome.close.error?.code, ErrorCode.TLS_HANDSHAKE_FAILED);
          assert.match(outcome.close.error!.message, /TLS handshake with 127\.0\.0\.1 failed: the server does not speak TLS/);
        } finally {
          await new Promise<void>((resolve) => plain.close(() => resolve()));
        }
      });

      it("refuses a CA that is not PEM text when the client is made, in the TLS socket's words", async function () {
        // On XS the TLS socket's TypeError is thrown by Node and rethrown inside XS.
        server = await startTlsEchoServer(certs.good);
        await assert.rejects(createClientOn(engine.name, { url: server.url, tls: { ca: "not a certificate" } }), (error: Error & { code?: string }) => {
          assert.equal(error.name, "HandshakeError");
          assert.equal(error.code, ErrorCode.CONNECT_FAILED);
          assert.match(error.message, /^could not connect to 127\.0\.0\.1:\d+: tls\.ca must be PEM text \(-----BEGIN CERTIFICATE-----\.\.\.\) on the Node host$/);
          return true;
        });
        assert.equal(server.requests, 0);
      });

      it("reports a refused TCP connection as a connection failure, not a TLS one", async function () {
        const silent = await startSilentServer();
        const port = silent.port;
        await silent.close();
        const outcome = await engine.attempt(`wss://127.0.0.1:${port}/`, { ca: certs.ca.cert });
        assert.equal(outcome.close.error?.code, ErrorCode.CONNECT_FAILED);
        assert.match(outcome.close.error!.message, /connection refused/);
      });
    });
  }

  describe("the supervisor (Node host) against a server whose CA it does not know", function () {
    it("retries with growing backoff delays, each attempt refused the same way: never a tight loop", async function () {
      const server = await startTlsEchoServer(certs.unknownCa);
      const base = createNodeHost({ logLevel: "silent" });
      // The largest random draw: full jitter then waits the whole window, so growth shows.
      const host = { ...base, random: (into: Uint8Array) => void into.fill(0xff) };
      const closes: Array<{ at: number; error: string | undefined; retryInMs: number | undefined }> = [];
      const supervisor = new ConnectionSupervisor({
        url: server.url,
        host,
        client: { tls: { ca: certs.ca.cert } },
        backoff: { baseMs: 100, capMs: 800, minMs: 50 },
        onClose: (event, retryInMs) => closes.push({ at: Date.now(), error: event.error?.code, retryInMs }),
      });
      const started = Date.now();
      supervisor.start();
      try {
        await until(() => closes.length >= 5, 10_000, "five refused attempts");
      } finally {
        await new Promise<void>((resolve) => supervisor.stop(resolve));
        await server.close();
      }
      const attempts = closes.slice(0, 5);
      assert.deepEqual(attempts.map((c) => c.error), Array(5).fill(ErrorCode.TLS_UNKNOWN_CA));
      const delays = attempts.map((c) => c.retryInMs!);
      for (let i = 1; i < 4; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays grow: ${delays}`);
      assert.ok(delays.every((d) => d >= 50 && d <= 800), `within minMs and capMs: ${delays}`);
      assert.ok(delays[4]! >= 700, `the cap is reached: ${delays}`);
      // Each retry really waited its delay (a few ms of slack for timers).
      for (let i = 1; i < attempts.length; i++) {
        const waited = attempts[i]!.at - attempts[i - 1]!.at;
        assert.ok(waited >= delays[i - 1]! - 5, `attempt ${i + 1} came ${waited} ms after the last, its delay was ${delays[i - 1]}`);
      }
      assert.ok(Date.now() - started >= delays.slice(0, 4).reduce((a, b) => a + b, 0) - 20);
      assert.equal(server.requests, 0, "no attempt got as far as a WebSocket request");
    });
  });

  for (const engine of ENGINE_NAMES) {
    describe(`the echo agent's command line (hosts/node/echo-agent.ts) [${engine}]`, function () {
      let folder: string;
      let server: TlsEchoServer;

      beforeEach(async function () {
        folder = mkdtempSync(join(tmpdir(), "moorline-tls-"));
        // The agent exits 0 once a connection that opened has closed: greet it, then close.
        server = await startTlsEchoServer({
          ...certs.good,
          onConnection: (socket) => {
            socket.on("message", () => socket.close(1000, "done"));
            socket.send("echo this");
          },
        });
      });
      afterEach(async function () {
        await server.close();
        rmSync(folder, { recursive: true, force: true });
      });

      it("connects with --ca FILE and exits 0", async function () {
        const caFile = join(folder, "ca.pem");
        writeFileSync(caFile, certs.ca.cert);
        const agent = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), "--ca", caFile, server.url]);
        const exit = await agent.waitForExit(10_000, "the agent to finish");
        assert.equal(exit.code, 0, agent.stderr);
        assert.equal(server.requests, 1);
      });

      it("without --ca, exits 1 saying the certificate's CA is unknown", async function () {
        const agent = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), server.url]);
        const exit = await agent.waitForExit(10_000, "the agent to give up");
        assert.equal(exit.code, 1);
        assert.match(agent.stderr, /echo-agent: TLS connection to 127\.0\.0\.1:\d+ refused: certificate for 127\.0\.0\.1 is signed by an unknown CA/);
        assert.equal(server.requests, 0);
      });

      it("with --insecure, connects and warns on stderr that nothing was verified", async function () {
        const agent = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), "--insecure", server.url]);
        const exit = await agent.waitForExit(10_000, "the agent to finish");
        assert.equal(exit.code, 0, agent.stderr);
        assert.match(agent.stderr, /"level":"warn","event":"tls_insecure".*certificate verification is OFF/);
      });

      it("refuses an unreadable --ca file or a bad --pin before connecting (exit 2)", async function () {
        const missing = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), "--ca", join(folder, "nope.pem"), server.url]);
        assert.equal((await missing.waitForExit(10_000)).code, 2);
        assert.match(missing.stderr, /--ca: cannot read the CA file .*nope\.pem: no such file/);
        const notPem = join(folder, "not.pem");
        writeFileSync(notPem, "hello");
        const garbage = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), "--ca", notPem, server.url]);
        assert.equal((await garbage.waitForExit(10_000)).code, 2);
        assert.match(garbage.stderr, /holds no PEM certificate/);
        const pin = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), "--pin", "sha256/xyz", server.url]);
        assert.equal((await pin.waitForExit(10_000)).code, 2);
        assert.match(pin.stderr, /tls\.pins must be base64 SHA-256 digests/);
        assert.equal(server.requests, 0);
      });
    });
  }
});

describe("the whole device (src/device/device.ts) over wss://, its TLS settings from the build config", function () {
  this.timeout(20_000);
  let certs: TestCertificates;
  let server: CompanionServer;

  before(async function () {
    certs = testCertificates();
    server = await startCompanion({ port: 0, tls: certs.good });
  });
  after(async function () {
    await server.close();
  });

  /** The device on `engine` (simulated WiFi, 20 ms a step), started, with `raw` over its config. */
  function device(engine: EngineName, deviceId: string, raw: Record<string, unknown>): Promise<EngineDevice> {
    return startDeviceOn(engine, { url: server.url, config: { deviceId, backoffBaseMs: 100, backoffCapMs: 300, ...raw } });
  }

  async function stop(d: EngineDevice): Promise<void> {
    await within(d.stop(), 8000, "the device to stop");
  }

  for (const engine of ENGINE_NAMES) {
    describe(`[${engine}]`, function () {
      // A name of its own on each engine: the server's history holds the other's hello.
      const id = `tls-${engine}`;

      it("says hello over wss:// when given the server's CA (and the server's pin)", async function () {
        const d = await device(engine, id, { ca: certs.ca.cert, pins: `${certs.otherCa.pin},${certs.goodPin}` });
        try {
          const hello = await server.waitFor("hello", (e) => e.device === id, 8000);
          assert.equal(hello.device, id);
          assert.equal(d.logs.filter((l) => l.event === "tls_insecure").length, 0);
        } finally {
          await stop(d);
        }
      });

      it("keeps retrying, with the error of the check that failed, when the pin is not the server's", async function () {
        const d = await device(engine, `${id}-pin`, { ca: certs.ca.cert, pins: certs.otherCa.pin });
        try {
          await until(() => d.logs.filter((l) => l.event === "ws_backoff").length >= 2, 8000, "two refused attempts");
          const backoff = d.logs.find((l) => l.event === "ws_backoff")!;
          assert.equal(backoff.fields.error, ErrorCode.TLS_PIN_MISMATCH);
          assert.equal((await d.status()).supervisor.stats.connects, 0);
        } finally {
          await stop(d);
        }
      });

      it("takes --ca FILE on its command line (hosts/node/device.ts) and says hello over wss://", async function () {
        const folder = mkdtempSync(join(tmpdir(), "moorline-tls-device-"));
        const caFile = join(folder, "ca.pem");
        writeFileSync(caFile, certs.ca.cert);
        const cliId = `${id}-cli`;
        const child = node("dist/hosts/node/device.js", [
          ...engineArgs(engine),
          ...["--url", server.url, "--ca", caFile, "--no-wifi", "--device-id", cliId, "--storage", join(folder, "d.json")],
        ]);
        try {
          await server.waitFor("hello", (e) => e.device === cliId, 10_000);
          await child.line(/"event":"ws_open"/, 5000, "the device's ws_open line");
        } finally {
          child.kill("SIGTERM");
          await child.waitForExit(8000);
          rmSync(folder, { recursive: true, force: true });
        }
        assert.doesNotMatch(child.stdout, /tls_insecure/);
      });
    });
  }

  it("refuses TLS settings for a ws:// URL when built, not at each attempt", function () {
    const host = { ...createNodeHost({ logLevel: "silent" }), wifi: undefined as never, storage: new MemoryStorage(), log: () => {} };
    const config = { ...parseDeviceConfig({ url: "ws://127.0.0.1:1/" }), insecure: true };
    assert.throws(() => new Device({ host, config }), { code: ErrorCode.INVALID_OPTION, message: /option client\.tls must be absent for a ws:\/\/ URL/ });
  });
});

describe("npm start -- --tls (hosts/node/start.ts)", function () {
  this.timeout(30_000);

  it("runs the companion server on wss:// with a local CA made on first use, and the device verifying it", async function () {
    const folder = mkdtempSync(join(tmpdir(), "moorline-start-tls-"));
    const port = await closedPort();
    // In a folder of its own: the local CA goes to <cwd>/.moorline/tls/.
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, "dist/hosts/node/start.js"), "--port", String(port), "--tls", "--", "--telemetry-interval-ms", "1000", "--storage", join(folder, "d.json")],
      { cwd: folder, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
    );
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await until(() => /\[server\].*hello/.test(output), 15_000, `the device's hello over wss://; output:\n${output}`);
      const ca = join(folder, ".moorline", "tls", "ca.pem");
      assert.ok(output.includes(`[server] TLS: local CA created at ${ca}`), output);
      assert.ok(output.includes(`companion server at wss://127.0.0.1:${port}/, simulated device connected to it, checking the server's certificate against ${ca}.`), output);
      assert.match(output, /\[device\].*ws_open/);
      assert.doesNotMatch(output, /tls_insecure/);
      child.kill("SIGINT");
      assert.equal(await within(exited, 8000, "npm start to stop"), 0);
    } finally {
      child.kill("SIGKILL");
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

/** A TCP server that accepts connections and never sends a byte (nor a TLS handshake). */
async function startSilentServer(): Promise<{ port: number; accepted(): number; close(): Promise<void> }> {
  const peers: Socket[] = [];
  const server: Server = createServer((peer) => {
    peer.on("error", () => {});
    peers.push(peer);
  });
  const port = await listenLoopback(server);
  return {
    port,
    accepted: () => peers.length,
    close: async () => {
      for (const peer of peers) peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
