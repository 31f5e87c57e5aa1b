/**
 * Interoperation with another implementation: Python's `websockets` (Debian
 * python3-websockets, 10.4, for the system /usr/bin/python3; a pyenv python3 earlier on
 * PATH would not have it). The peer is tests/support/python_echo_server.py.
 *
 * Both engines (tests/support/engines.ts): the client and the echo agent on Node, and the
 * same compiled modules inside XS (tests/support/on-engine.ts; echo-agent --engine xs).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createClientOn } from "../support/on-engine.js";
import { ReadyState, type CloseEvent } from "../../src/websocket/client.js";
import { Child, node } from "../support/child-process.js";
import { ENGINES, engineArgs, useEngine } from "../support/engines.js";
import { deferred, until, within } from "../support/wait.js";

const PYTHON = "/usr/bin/python3";
const SERVER_SCRIPT = "tests/support/python_echo_server.py";
const MISSING =
  `Python's websockets module is missing for ${PYTHON}: ` +
  "install the Debian package python3-websockets (apt-get install python3-websockets; .ci/run does)";
const MiB = 1024 * 1024;

function pythonWebsocketsVersion(): string | undefined {
  const probe = spawnSync(PYTHON, ["-c", "import websockets; print(websockets.__version__)"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** Starts the Python server in `mode` and resolves with it and its port. */
async function startPythonServer(mode: "echo" | "drive"): Promise<{ server: Child; port: number }> {
  const server = new Child(PYTHON, [SERVER_SCRIPT, mode]);
  try {
    const [, port] = await server.line(/^(\d+)$/, 10_000, `the Python ${mode} server's port`);
    return { server, port: Number(port) };
  } catch (error) {
    server.kill();
    throw error;
  }
}

async function stopPythonServer(server: Child | undefined): Promise<void> {
  if (!server) return;
  server.kill("SIGTERM");
  try {
    await server.waitForExit(5000, "the Python server to exit");
  } catch {
    server.kill("SIGKILL");
  }
}

for (const engine of ENGINES) describe(`interoperation with Python websockets (integration) [${engine}]`, function () {
  useEngine(engine);
  before(function () {
    const version = pythonWebsocketsVersion();
    if (version !== undefined) return;
    if (process.env.CI) throw new Error(MISSING);
    console.log(`      (skipped: ${MISSING})`);
    this.skip();
  });

  describe("the client against a Python echo server", function () {
    let server: Child | undefined;
    let port: number;

    before(async function () {
      ({ server, port } = await startPythonServer("echo"));
    });

    after(async function () {
      await stopPythonServer(server);
    });

    it("exchanges text, binary and fragmented messages, then closes cleanly", async function () {
      const opened = deferred<void>();
      const closed = deferred<CloseEvent>();
      const messages: Array<string | Uint8Array> = [];
      const client = await createClientOn(engine, {
        url: `ws://127.0.0.1:${port}/echo`,
        limits: { maxMessageBytes: 2 * MiB, maxBufferedBytes: 4 * MiB },
        onOpen: () => opened.resolve(),
        onMessage: (data) => messages.push(data),
        onClose: (event) => closed.resolve(event),
      });
      try {
        await within(opened.promise, 5000, "open");
        const big = new Uint8Array(MiB).map((_, i) => (i * 31) & 0xff);
        await client.send("hello from moorline");
        await client.send("h\u00e9llo \u{1F30D}");
        await client.send(new Uint8Array([0, 1, 2, 255]));
        await client.send("frag", { more: true });
        await client.send("mented");
        await client.send(new Uint8Array([9]), { more: true });
        await client.send(new Uint8Array([8, 7]));
        await client.send(big);
        await client.send("");
        await until(() => messages.length === 7, 10_000, "7 echoes");
        assert.deepEqual(messages.slice(0, 6), [
          "hello from moorline",
          "h\u00e9llo \u{1F30D}",
          new Uint8Array([0, 1, 2, 255]),
          "fragmented",
          new Uint8Array([9, 8, 7]),
          big,
        ]);
        assert.equal(messages[6], "");
        await client.close(1000, "bye");
        const event = await within(closed.promise, 5000, "onClose");
        assert.equal(event.code, 1000);
        assert.equal(event.reason, "bye", "websockets echoes the close frame it receives");
        assert.equal(event.wasClean, true);
      } finally {
        if (client.readyState !== ReadyState.CLOSED) await client.close().catch(() => {});
      }
    });
  });

  describe("the echo agent against a Python server that drives it", function () {
    let server: Child | undefined;

    afterEach(async function () {
      await stopPythonServer(server);
      server = undefined;
    });

    it("echoes every message the Python server sends, which checks them, and exits 0", async function () {
      let port: number;
      ({ server, port } = await startPythonServer("drive"));
      const agent = node("dist/hosts/node/echo-agent.js", [...engineArgs(engine), `ws://127.0.0.1:${port}/`]);
      const exit = await agent.waitForExit(10_000, "the echo agent to exit");
      const [verdictLine] = await server.line(/^\{.*\}$/, 2000, "the Python driver's verdict");
      const verdict = JSON.parse(verdictLine) as { ok: boolean; checked: number; error?: string };
      assert.deepEqual(verdict, { ok: true, checked: 10 });
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${agent.stderr}`);
    });
  });
});
