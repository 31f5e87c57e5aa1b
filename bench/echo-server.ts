/**
 * The bench's server, a `ws` WebSocketServer on 127.0.0.1 in its own process (so the client
 * measured and the server do not share an event loop; the machine has 2 cores).
 *
 *   node dist/bench/echo-server.js [--mode echo|ack] [--port N]
 *
 * - echo: every message goes back as it came (text as text, binary as binary). A connection
 *   to the path /pause is never read (ws.pause()): the bench fills it to measure memory per
 *   message in flight.
 * - ack: the device protocol's telemetry acknowledgement ({"type":"ack","boot","seq"}) for
 *   every telemetry record, for the fleet run; everything else is ignored.
 *
 * It prints one JSON line per event on stdout: {"event":"listening","port":N} once it
 * listens, {"event":"first-message","msSinceListening":x,"msSinceConnection":y} at the first
 * message it receives (the reconnect figure: x in all, y from accepting that connection), and answers "cpu" on stdin with {"event":"cpu","userMs","systemMs",
 * "connections"}.
 */
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { WebSocketServer, type RawData } from "ws";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "echo" },
    port: { type: "string", default: "0" },
  },
});
const mode = values.mode as string;
if (mode !== "echo" && mode !== "ack") throw new Error(`--mode must be echo or ack, got ${mode}`);

const print = (record: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(record)}\n`);
};

const wss = new WebSocketServer({
  host: "127.0.0.1",
  port: Number(values.port),
  // The fleet opens 10,000 connections within seconds.
  backlog: 4096,
  perMessageDeflate: false,
  maxPayload: 64 * 1024 * 1024,
  clientTracking: true,
});
let listenedAt = 0;
let firstMessageSeen = false;

wss.on("listening", () => {
  listenedAt = performance.now();
  print({ event: "listening", port: (wss.address() as { port: number }).port });
});
wss.on("error", (error) => {
  print({ event: "error", message: error.message });
  process.exit(1);
});

wss.on("connection", (socket, request) => {
  const connectedAt = performance.now();
  socket.on("error", () => {});
  if (mode === "echo" && request.url === "/pause") {
    socket.pause();
    return;
  }
  socket.on("message", (data: RawData, isBinary: boolean) => {
    if (!firstMessageSeen) {
      firstMessageSeen = true;
      const now = performance.now();
      print({ event: "first-message", msSinceListening: now - listenedAt, msSinceConnection: now - connectedAt });
    }
    if (mode === "echo") {
      socket.send(data as Buffer, { binary: isBinary });
      return;
    }
    if (isBinary) return;
    let message: { type?: unknown; boot?: unknown; seq?: unknown };
    try {
      message = JSON.parse(String(data)) as typeof message;
    } catch {
      return;
    }
    if (message.type === "telemetry") {
      socket.send(JSON.stringify({ type: "ack", boot: message.boot, seq: message.seq }));
    }
  });
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "cpu") {
    const usage = process.cpuUsage();
    print({ event: "cpu", userMs: usage.user / 1000, systemMs: usage.system / 1000, connections: wss.clients.size });
  }
});
// The bench ends us by closing stdin (or killing us).
process.stdin.on("end", () => process.exit(0));
