/**
 * The Node driver: runs a DriverSpec (bench/tasks.ts) with our client (src/websocket/client.ts over
 * the Node host) or the `ws` package's client, in a process of its own, and prints one
 * TaskResult per line on stdout.
 *
 *   node --expose-gc dist/bench/driver.js '<DriverSpec as JSON>'
 *
 * Both clients are used as an application would use them: callbacks, text delivered as a
 * string (ws gives a Buffer for text: it is decoded, as an application must), binary as
 * bytes. permessage-deflate is off everywhere (our client has none).
 */
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { createNodeHost } from "../hosts/node/host.js";
import type { NetHost } from "../src/shared/host.js";
import { WebSocketClient } from "../src/websocket/client.js";
import { BENCH_LIMITS, binaryPayload, textPayload, type DriverSpec, type Kind, type NodeClientName, type Task, type TaskResult } from "./tasks.js";

const MiB = 1024 * 1024;

/** One connection, whichever client is behind it. */
interface Connection {
  send(data: string | Uint8Array): void;
  close(): void;
  readonly bufferedAmount: number;
}

interface Handlers {
  onOpen(): void;
  onMessage(data: string | Uint8Array): void;
  onClose(): void;
}

type Connect = (url: string, handlers: Handlers) => Connection;

let nodeHost: NetHost | undefined;

const CONNECTORS: Record<NodeClientName, Connect> = {
  moorline(url, handlers) {
    nodeHost ??= createNodeHost({ logLevel: "silent" });
    const client = new WebSocketClient({
      url,
      host: nodeHost,
      limits: BENCH_LIMITS,
      onOpen: () => handlers.onOpen(),
      onMessage: (data) => handlers.onMessage(data),
      onClose: () => handlers.onClose(),
    });
    return {
      send: (data) => client.send(data),
      close: () => client.close(),
      get bufferedAmount() {
        return client.bufferedAmount;
      },
    };
  },
  ws(url, handlers) {
    const socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 * MiB });
    socket.on("open", () => handlers.onOpen());
    socket.on("message", (data: Buffer, isBinary: boolean) => handlers.onMessage(isBinary ? data : data.toString("utf8")));
    socket.on("close", () => handlers.onClose());
    socket.on("error", () => {});
    return {
      send: (data) => socket.send(data, { binary: typeof data !== "string" }),
      close: () => socket.close(),
      get bufferedAmount() {
        return socket.bufferedAmount;
      },
    };
  },
};

/** Opens a connection; resolves when it is open, with a way to wait for its close. */
function open(
  connect: Connect,
  url: string,
  onMessage: (data: string | Uint8Array) => void = () => {},
): Promise<{ connection: Connection; closed: Promise<void>; openMs: number }> {
  return new Promise((resolve, reject) => {
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    let opened = false;
    const start = performance.now();
    const connection = connect(url, {
      onOpen: () => {
        opened = true;
        resolve({ connection, closed, openMs: performance.now() - start });
      },
      onMessage: (data) => onMessage(data),
      onClose: () => {
        resolveClosed();
        if (!opened) reject(new Error(`could not connect to ${url}`));
      },
    });
  });
}

function payload(size: number, kind: Kind): string | Uint8Array {
  return kind === "text" ? textPayload(size) : binaryPayload(size);
}

function memoryNow(): number {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The connection the message tasks share, and where its echoes go. */
interface Echoes {
  connection: Connection;
  handler: (data: string | Uint8Array) => void;
}

async function runTask(connect: Connect, url: string, task: Task, echoes: () => Promise<Echoes>): Promise<TaskResult> {
  switch (task.figure) {
    case "connect": {
      const samples: number[] = [];
      for (let i = 0; i < task.warmup + task.count; i++) {
        const { connection, closed, openMs } = await open(connect, url);
        if (i >= task.warmup) samples.push(openMs);
        connection.close();
        await closed;
      }
      return { task, samples };
    }
    case "rtt": {
      const link = await echoes();
      const message = payload(task.size, task.kind);
      const samples: number[] = [];
      await new Promise<void>((resolve) => {
        let done = 0;
        let sentAt = 0;
        link.handler = () => {
          const ms = performance.now() - sentAt;
          if (done >= task.warmup) samples.push(ms);
          if (++done === task.warmup + task.count) return resolve();
          sentAt = performance.now();
          link.connection.send(message);
        };
        sentAt = performance.now();
        link.connection.send(message);
      });
      return { task, samples };
    }
    case "throughput": {
      const link = await echoes();
      const message = payload(task.size, task.kind);
      const burst = (count: number) =>
        new Promise<number>((resolve) => {
          let sent = 0;
          let received = 0;
          const start = performance.now();
          link.handler = () => {
            if (++received === count) return resolve(performance.now() - start);
            if (sent < count) {
              sent++;
              link.connection.send(message);
            }
          };
          while (sent < Math.min(task.window, count)) {
            sent++;
            link.connection.send(message);
          }
        });
      if (task.warmup > 0) await burst(task.warmup);
      const cpu0 = process.cpuUsage();
      const elapsedMs = await burst(task.count);
      const cpu = process.cpuUsage(cpu0);
      return { task, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000 };
    }
    case "memory-connection": {
      if (globalThis.gc === undefined) return { task, skipped: "needs node --expose-gc" };
      // One connection first, so the modules and the host are warm before the baseline.
      const first = await open(connect, url);
      const before = memoryNow();
      const opened = [];
      for (let i = 0; i < task.count; i++) opened.push(open(connect, url));
      const links = await Promise.all(opened);
      const after = memoryNow();
      for (const link of [first, ...links]) link.connection.close();
      await Promise.all([first, ...links].map((link) => link.closed));
      return { task, bytesEach: (after - before) / task.count };
    }
    case "memory-inflight": {
      if (globalThis.gc === undefined) return { task, skipped: "needs node --expose-gc" };
      const { connection } = await open(connect, `${url}pause`);
      // Fill the kernel's buffers (the server reads nothing) until bytes stay with the client.
      const filler = new Uint8Array(64 * 1024);
      for (let i = 0; i < 2048; i++) {
        connection.send(filler);
        await sleep(connection.bufferedAmount > 0 ? 5 : 0);
        if (connection.bufferedAmount > 0 && i > 16) break;
      }
      await sleep(50);
      const message = payload(task.size, "binary");
      const before = memoryNow();
      const queuedBefore = connection.bufferedAmount;
      for (let i = 0; i < task.count; i++) connection.send(message);
      const after = memoryNow();
      const queued = connection.bufferedAmount - queuedBefore;
      const result: TaskResult = { task, bytesEach: (after - before) / task.count };
      if (queued < task.count * task.size) result.skipped = `only ${queued} of ${task.count * task.size} bytes stayed queued`;
      return result;
    }
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "") as DriverSpec;
  if (spec.client !== "moorline" && spec.client !== "ws") throw new Error(`the ${spec.client} client has a driver of its own (bench/processes.ts)`);
  const connect = CONNECTORS[spec.client];
  let shared: Echoes | undefined;
  let sharedClosed: Promise<void> | undefined;
  const echoes = async (): Promise<Echoes> => {
    if (shared) return shared;
    const link: Echoes = { connection: undefined as unknown as Connection, handler: () => {} };
    const { connection, closed } = await open(connect, spec.url, (data) => link.handler(data));
    link.connection = connection;
    sharedClosed = closed;
    return (shared = link);
  };
  for (const task of spec.tasks) {
    const result = await runTask(connect, spec.url, task, echoes);
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  if (shared) {
    shared.connection.close();
    await Promise.race([sharedClosed, sleep(2000)]);
  }
  process.exit(0);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
