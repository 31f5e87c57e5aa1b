/**
 * `echo-agent --engine xs`: the echo agent (src/websocket/echo-agent.ts) running inside the XS engine,
 * as a real child process against a real `ws` server on 127.0.0.1, with the Node agent's
 * output and exit codes: 0 opened then closed, 1 never opened, 2 bad arguments.
 */
import assert from "node:assert/strict";
import { WebSocketServer, type RawData } from "ws";
import { node } from "../../support/child-process.js";
import { closedPort } from "../../support/wait.js";

const AGENT = "dist/hosts/node/echo-agent.js";

/** Each must come back unchanged, with the same type (text or binary). */
const SCRIPT: Array<string | Buffer> = [
  "hello",
  "",
  "h\u00e9llo w\u00f6rld \u20ac \u{1F30D}",
  Buffer.from([0, 1, 2, 254, 255]),
  Buffer.alloc(100 * 1024, 0xa5),
  "x".repeat(70_000),
  Buffer.alloc(1024 * 1024, 0x3c),
];

function toBuffer(data: RawData): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
}

describe("echo-agent --engine xs (the agent inside XS, a real process)", function () {
  this.timeout(20_000);
  let wss: WebSocketServer;
  let url: string;
  let verdict: Promise<string>;

  before(async function () {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/`;
  });

  beforeEach(function () {
    verdict = new Promise((resolve) => {
      wss.once("connection", (socket) => {
        socket.on("error", () => {});
        let index = 0;
        const next = () => {
          if (index === SCRIPT.length) {
            socket.close(1000, "done");
            return resolve("ok");
          }
          socket.send(SCRIPT[index]!, { binary: typeof SCRIPT[index] !== "string" });
        };
        socket.on("message", (data, isBinary) => {
          const sent = SCRIPT[index]!;
          if (isBinary === (typeof sent === "string")) return resolve(`message ${index} came back as the other type`);
          if (!toBuffer(data).equals(Buffer.from(sent))) return resolve(`message ${index}: the echo differs`);
          index++;
          next();
        });
        socket.on("close", () => resolve(index === SCRIPT.length ? "ok" : `closed after ${index} echoes`));
        next();
      });
    });
  });

  after(async function () {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it("echoes text as text and binary as binary, up to 1 MiB, then exits 0 when the server closes", async function () {
    const agent = node(AGENT, ["--engine", "xs", url]);
    const exit = await agent.waitForExit(15_000);
    assert.equal(await verdict, "ok");
    assert.deepEqual(exit, { code: 0, signal: null }, agent.stderr);
    assert.equal(agent.stdout, "");
    assert.equal(agent.stderr, "");
  });

  it("logs the same JSON lines as on Node with --verbose", async function () {
    const agent = node(AGENT, ["--engine", "xs", "--verbose", url]);
    const exit = await agent.waitForExit(15_000);
    assert.equal(exit.code, 0, agent.stderr);
    const events = agent.stderr.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      events.map((e) => e.event).filter((e) => e === "echo_open" || e === "echo_closed"),
      ["echo_open", "echo_closed"],
    );
    const closed = events.find((e) => e.event === "echo_closed")!;
    assert.deepEqual([closed.code, closed.echoed, closed.wasClean], [1000, SCRIPT.length, true]);
    assert.match(String(events[0]!.t), /^\d{4}-\d\d-\d\dT/);
  });

  it("exits 1 with the Node agent's message when the connection is refused", async function () {
    const port = await closedPort();
    const agent = node(AGENT, ["--engine", "xs", `ws://127.0.0.1:${port}/`]);
    const exit = await agent.waitForExit(10_000);
    assert.equal(exit.code, 1);
    assert.equal(agent.stderr, `echo-agent: could not connect to 127.0.0.1:${port}: connection refused\n`);
  });

  it("exits 2 for a URL the client refuses (the error made inside XS)", async function () {
    const agent = node(AGENT, ["--engine", "xs", "http://127.0.0.1/"]);
    const exit = await agent.waitForExit(10_000);
    assert.equal(exit.code, 2);
    assert.match(agent.stderr, /^echo-agent: invalid WebSocket URL "http:\/\/127\.0\.0\.1\/": scheme "http" is not a WebSocket scheme/);
  });

  it("exits 2 for an engine it does not know", async function () {
    const agent = node(AGENT, ["--engine", "v8", url]);
    const exit = await agent.waitForExit(10_000);
    assert.equal(exit.code, 2);
    assert.match(agent.stderr, /--engine must be node or xs, got "v8"/);
  });
});
