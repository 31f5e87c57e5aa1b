/**
 * The bench's client inside XS (program "bench-client", run by bench/driver-xs.ts): our
 * WebSocket client over the XS host, doing the client comparison's tasks (bench/tasks.ts)
 * the way bench/driver.ts does them on Node, with the application's loop inside XS too (the
 * next message goes out from the echo's callback, not from Node). Times are XS's clock
 * (hosts/xs/xs-side/bridge.ts now(): Node's monotonic clock at each delivery, advanced by the
 * wall clock within it), so each figure includes the desktop XS host's bridge.
 *
 * Node starts a task with a "run" call (its payload as the call's bytes: UTF-8 for text);
 * the task's result comes back as a "result" event.
 */
import type { Limits } from "../../src/websocket/constants.js";
import { WebSocketClient } from "../../src/websocket/client.js";
import { now, powers } from "../../hosts/xs/xs-side/bridge.js";
import { createXsNetHost } from "../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../hosts/xs/xs-side/programs.js";

/** The tasks of bench/tasks.ts this program runs (the memory ones are Node's alone). */
type XsTask =
  | { figure: "connect"; count: number; warmup: number }
  | { figure: "rtt"; count: number; warmup: number; kind: "text" | "binary" }
  | { figure: "throughput"; count: number; warmup: number; window: number; kind: "text" | "binary" };

registerProgram("bench-client", (options, emit) => {
  const host = createXsNetHost("silent");
  const url = options.url as string;
  const limits = options.limits as unknown as Partial<Limits>;
  /** The connection the message tasks share, and where its messages go. */
  let shared: WebSocketClient | undefined;
  let onMessage: () => void = () => {};

  const fail = (message: string) => emit({ event: "failed", message });
  const open = (opened: (client: WebSocketClient) => void, closed?: () => void): WebSocketClient => {
    const client: WebSocketClient = new WebSocketClient({
      url,
      host,
      limits,
      onOpen: () => opened(client),
      onMessage: () => onMessage(),
      onClose: (event) => {
        if (closed) closed();
        else if (event.code !== 1000) fail(`the connection closed: ${event.code} ${event.reason}`);
      },
    });
    return client;
  };

  const connect = (task: XsTask & { figure: "connect" }) => {
    const samples: number[] = [];
    let done = 0;
    const next = () => {
      if (done === task.warmup + task.count) return emit({ event: "result", samples });
      const start = now();
      open(
        (opened) => {
          if (done >= task.warmup) samples.push(now() - start);
          opened.close();
        },
        () => {
          done++;
          next();
        },
      );
    };
    next();
  };

  const withShared = (run: (link: WebSocketClient) => void) => {
    if (shared) return run(shared);
    shared = open((opened) => run(opened));
  };

  const rtt = (task: XsTask & { figure: "rtt" }, message: string | Uint8Array) =>
    withShared((link) => {
      const samples: number[] = [];
      let done = 0;
      let sentAt = now();
      onMessage = () => {
        const ms = now() - sentAt;
        if (done >= task.warmup) samples.push(ms);
        if (++done === task.warmup + task.count) return emit({ event: "result", samples });
        sentAt = now();
        link.send(message);
      };
      link.send(message);
    });

  const throughput = (task: XsTask & { figure: "throughput" }, message: string | Uint8Array) =>
    withShared((link) => {
      const burst = (count: number, then: (elapsedMs: number) => void) => {
        let sent = 0;
        let received = 0;
        const start = now();
        onMessage = () => {
          if (++received === count) return then(now() - start);
          if (sent < count) {
            sent++;
            link.send(message);
          }
        };
        while (sent < Math.min(task.window, count)) {
          sent++;
          link.send(message);
        }
      };
      const measure = () => burst(task.count, (elapsedMs) => emit({ event: "result", elapsedMs }));
      if (task.warmup > 0) burst(task.warmup, measure);
      else measure();
    });

  return {
    call(op, args, bytes) {
      if (op !== "run") throw new Error(`bench-client: unknown call ${JSON.stringify(op)}`);
      const task = args.task as unknown as XsTask;
      if (task.figure === "connect") return connect(task);
      const message = task.kind === "text" ? powers.decode(bytes) : bytes.slice();
      if (task.figure === "rtt") return rtt(task, message);
      if (task.figure === "throughput") return throughput(task, message);
      throw new Error(`bench-client: no task ${JSON.stringify((task as { figure: Json }).figure)}`);
    },
  };
});
