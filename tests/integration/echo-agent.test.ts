/**
 * The echo agent as users (and Autobahn|Testsuite) run it: a real child process,
 * `node dist/hosts/node/echo-agent.js [options] <url>`, against a real `ws` server that
 * sends messages, checks the echoes and closes. Exit codes: 0 opened then closed, 1 never
 * opened, 2 bad arguments.
 *
 * On both engines (tests/support/engines.ts): the agent on Node, and with --engine xs the
 * same compiled agent inside the XS engine, with the same output and exit codes.
 */
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { WebSocketServer, type WebSocket as ServerSocket, type RawData } from "ws";
import { node } from "../support/child-process.js";
import { ENGINES, engineArgs } from "../support/engines.js";
import { closedPort, listenLoopback, within } from "../support/wait.js";

const AGENT = "dist/hosts/node/echo-agent.js";
const MiB = 1024 * 1024;

/** What the driving server sends; each must come back unchanged, with the same type. */
const SCRIPT: Array<string | Buffer> = [
  "hello",
  "",
  "h\u00e9llo w\u00f6rld \u20ac \u{1F30D}",
  Buffer.from([0, 1, 2, 254, 255]),
  Buffer.alloc(0),
  Buffer.alloc(100 * 1024, 0xa5),
  "x".repeat(70_000),
  // Over the client's ESP32-sized default (16 KiB): the agent raises its limits.
  Buffer.alloc(2 * MiB, 0x3c),
];

function toBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
}

/**
 * Sends SCRIPT one message at a time, checking each echo, then closes with `closeCode`.
 * Resolves with what went wrong, or "ok".
 */
function drive(socket: ServerSocket, closeCode: number): Promise<string> {
  return new Promise((resolve) => {
    let index = 0;
    const next = () => {
      if (index === SCRIPT.length) {
        socket.close(closeCode, "done");
        resolve("ok");
        return;
      }
      const message = SCRIPT[index]!;
      socket.send(message, { binary: typeof message !== "string" });
    };
    socket.on("message", (data, isBinary) => {
      const sent = SCRIPT[index]!;
      const wasText = typeof sent === "string";
      if (isBinary === wasText) return resolve(`message ${index}: sent ${wasText ? "text" : "binary"}, echo was not`);
      if (!toBuffer(data).equals(Buffer.from(sent))) return resolve(`message ${index}: echo differs`);
      index++;
      next();
    });
    socket.on("close", () => resolve(index === SCRIPT.length ? "ok" : `closed after ${index} echoes`));
    next();
  });
}

for (const engine of ENGINES) describe(`echo agent (hosts/node/echo-agent.ts, integration) [${engine}]`, function () {
  /** The agent's command line on this engine. */
  const run = (args: string[]) => node(AGENT, [...engineArgs(engine), ...args]);

  let wss: WebSocketServer;
  let url: string;
  let onConnection: (socket: ServerSocket) => void;

  before(async function () {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 16 * MiB });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    const address = wss.address();
    url = `ws://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/runCase?case=1&agent=moorline`;
    wss.on("connection", (socket) => {
      socket.on("error", () => {});
      onConnection(socket);
    });
  });

  after(async function () {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it("echoes text as text and binary as binary, up to 2 MiB, then exits 0 when the server closes", async function () {
    let verdict: Promise<string> | undefined;
    onConnection = (socket) => (verdict = drive(socket, 1000));
    const agent = run([url]);
    const exit = await agent.waitForExit(10_000, "the agent to exit");
    assert.ok(verdict, "the agent connected");
    assert.equal(await within(verdict, 1000, "the verdict"), "ok");
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${agent.stderr}`);
    assert.equal(agent.stderr, "");
  });

  it("exits 0 whatever the close code (the fuzzing server fails connections on purpose)", async function () {
    onConnection = (socket) => socket.close(4001, "case over");
    const agent = run([url]);
    assert.deepEqual(await agent.waitForExit(5000), { code: 0, signal: null });
  });

  it("logs JSON lines to stderr with --verbose", async function () {
    onConnection = (socket) => socket.close(1000);
    const agent = run(["--verbose", url]);
    assert.equal((await agent.waitForExit(5000)).code, 0);
    const events = agent.stderr
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { event: string; level: string; t: string });
    assert.ok(events.some((record) => record.event === "echo_open"), agent.stderr);
    assert.ok(events.some((record) => record.event === "echo_closed"), agent.stderr);
  });

  it("refuses, with 1009, a message over --max-message-bytes, and still exits 0", async function () {
    let closed: Promise<number> | undefined;
    onConnection = (socket) => {
      closed = new Promise((resolve) => socket.on("close", (code) => resolve(code)));
      socket.send(Buffer.alloc(2048));
    };
    const agent = run(["--max-message-bytes", "1024", url]);
    assert.equal((await agent.waitForExit(5000)).code, 0);
    assert.equal(await within(closed!, 2000, "the server's close"), 1009);
  });

  it("exits 1 with a clear message when the connection is refused", async function () {
    const port = await closedPort();
    const agent = run([`ws://127.0.0.1:${port}/`]);
    assert.deepEqual(await agent.waitForExit(5000), { code: 1, signal: null });
    assert.match(agent.stderr, new RegExp(`^echo-agent: could not connect to 127\\.0\\.0\\.1:${port}: connection refused\\n$`));
  });

  it("exits 1 when the server never answers the handshake within --handshake-timeout-ms", async function () {
    const accepted: Socket[] = [];
    const silent = createServer((socket) => {
      accepted.push(socket);
      socket.on("error", () => {});
    });
    const port = await listenLoopback(silent);
    try {
      const agent = run(["--handshake-timeout-ms", "200", `ws://127.0.0.1:${port}/`]);
      assert.equal((await agent.waitForExit(5000)).code, 1);
      assert.match(agent.stderr, /^echo-agent: no handshake response from 127\.0\.0\.1:\d+ within handshakeTimeoutMs \(200 ms\)\n$/);
    } finally {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  describe("exits 2 for bad arguments, saying what is wrong", function () {
    const cases: Array<[string, string[], RegExp]> = [
      ["no URL", [], /missing the server URL/],
      ["two URLs", ["ws://127.0.0.1:1/", "ws://127.0.0.1:2/"], /unexpected argument "ws:\/\/127\.0\.0\.1:2\/"/],
      ["an unknown option", ["--frobnicate", "ws://127.0.0.1:1/"], /unknown option --frobnicate\./],
      ["a number that is not one", ["--max-message-bytes", "12k", "ws://127.0.0.1:1/"], /--max-message-bytes must be an integer from 0 to \d+ \(bytes\), got "12k"/],
      // The client's own check, named by the flag the user typed, not the client's option.
      ["a limit the client refuses", ["--max-message-bytes", "10", "ws://127.0.0.1:1/"], /: --max-message-bytes must be an integer from 125 to/],
      ["a URL of another scheme", ["http://127.0.0.1:1/"], /http/],
    ];
    for (const [what, args, message] of cases) {
      it(what, async function () {
        const agent = run(args);
        assert.deepEqual(await agent.waitForExit(5000), { code: 2, signal: null });
        assert.match(agent.stderr, message);
        // One line: what is wrong, then where the help is.
        assert.match(agent.stderr, /^echo-agent: [^\n]*\. Try 'npm run -s echo-agent -- --help'\.\n$/);
        assert.doesNotMatch(agent.stderr, /limits\./);
      });
    }

    it("--help prints the usage, every option once, and exits 0", async function () {
      const agent = run(["--help"]);
      assert.deepEqual(await agent.waitForExit(5000), { code: 0, signal: null });
      assert.match(agent.stdout, /^Usage: npm run -s echo-agent -- \[options\] <url>/);
      const options = [...agent.stdout.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((match) => match[1]);
      assert.deepEqual(options, [
        "--max-message-bytes", "--max-frame-bytes", "--max-buffered-bytes", "--max-handshake-bytes", "--handshake-timeout-ms",
        "--close-timeout-ms", "--autobahn", "--verbose", "--ca", "--pin", "--insecure", "--engine", "--help",
      ]);
    });
  });
});
