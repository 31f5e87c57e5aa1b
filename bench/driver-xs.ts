/**
 * The driver of our client inside XS ("moorline-xs"): runs a DriverSpec (bench/tasks.ts) with
 * the bench-client program (bench/xs/bench-client.ts) in the real XS engine, through the
 * desktop XS host (hosts/xs), in a process of its own, and prints one TaskResult per line on
 * stdout, as bench/driver.ts does for the Node clients. The memory tasks are Node's alone:
 * they are answered as skipped.
 *
 *   node dist/bench/driver-xs.js '<DriverSpec as JSON>'
 */
import { XsEngine } from "../hosts/xs/engine.js";
import { BENCH_LIMITS, binaryPayload, textPayload, type DriverSpec, type TaskResult } from "./tasks.js";

/** Where the program is, under dist/. */
const PROGRAM_ROOT = "bench/xs";
/** The longest one task may take, ms (a 1 MB pipelined run in XS takes seconds). */
const TASK_TIMEOUT_MS = 240_000;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "") as DriverSpec;
  const engine = await XsEngine.start({ log: () => {}, programRoots: [PROGRAM_ROOT], requestTimeoutMs: TASK_TIMEOUT_MS });
  let waiting: ((event: Record<string, unknown>) => void) | undefined;
  const handle = await engine.startProgram("bench-client", { url: spec.url, limits: BENCH_LIMITS }, (event) => waiting?.(event));
  try {
    for (const task of spec.tasks) {
      if (task.figure === "memory-connection" || task.figure === "memory-inflight") {
        process.stdout.write(`${JSON.stringify({ task, skipped: "measured in XS by the XS section" } satisfies TaskResult)}\n`);
        continue;
      }
      const bytes = task.figure === "connect" ? new Uint8Array(0) : task.kind === "text" ? new TextEncoder().encode(textPayload(task.size)) : binaryPayload(task.size);
      const outcome = new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${task.figure} took more than ${TASK_TIMEOUT_MS} ms in XS`)), TASK_TIMEOUT_MS);
        waiting = (event) => {
          if (event.event !== "result" && event.event !== "failed") return;
          clearTimeout(timer);
          if (event.event === "failed") reject(new Error(`in XS: ${String(event.message)}`));
          else resolve(event);
        };
      });
      await engine.call(handle, "run", { task }, bytes);
      const event = await outcome;
      const result: TaskResult = { task };
      if (event.samples !== undefined) result.samples = event.samples as number[];
      if (event.elapsedMs !== undefined) result.elapsedMs = event.elapsedMs as number;
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
    if (engine.failures.length > 0) throw engine.failures[0]!;
  } finally {
    await engine.close();
  }
  process.exit(0);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
