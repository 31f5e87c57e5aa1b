/**
 * The bench's child processes: the server (echo-server.ts), the client drivers (driver.ts,
 * driver-xs.ts, driver.py) and the fleet (fleet.ts). Each speaks JSON lines on stdout; every wait on one is
 * bounded, and a child that fails is reported with the end of its stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { DriverSpec, TaskResult } from "./tasks.js";

/** dist/bench, where the compiled bench is; the repository is two levels up. */
const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(HERE, "..", "..");
/** Debian's Python, which has python3-websockets (a pyenv or venv python may not). */
export const PYTHON = "/usr/bin/python3";

/**
 * Runs `command` with the open-file limit raised to the hard limit (the fleet holds 10,000
 * sockets; the server as many), through sh's ulimit: Node cannot set its own rlimits.
 */
function spawnRaised(command: string, args: readonly string[]): ChildProcess {
  return spawn("/bin/sh", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', command, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** A child printing JSON lines: each line is handed to waiters, stderr kept for errors. */
class JsonChild {
  readonly child: ChildProcess;
  readonly records: Record<string, unknown>[] = [];
  private stderr = "";
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  constructor(child: ChildProcess) {
    this.child = child;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        this.records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.stderr += `${line}\n`;
      }
      for (const waiter of [...this.waiters]) waiter();
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString("utf8")).slice(-4000);
    });
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    void this.exited.then(() => {
      for (const waiter of [...this.waiters]) waiter();
    });
  }

  get errors(): string {
    return this.stderr.trim();
  }

  /** The next record (from `from` on) that `match` accepts, within `ms`. */
  async waitFor(match: (record: Record<string, unknown>) => boolean, ms: number, what: string, from = 0): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.records.slice(from).find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`${what}: the process exited (${this.child.exitCode ?? this.child.signalCode}) first. ${this.errors}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${what}: nothing within ${ms} ms. ${this.errors}`);
      // Woken by the next line or the exit, or after a second at most.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.waiters.add(done);
      });
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

/** The bench's `ws` server in its own process. */
export class ServerProcess extends JsonChild {
  readonly port: number;

  private constructor(child: ChildProcess, port: number) {
    super(child);
    this.port = port;
  }

  static async start(mode: "echo" | "ack", port = 0): Promise<ServerProcess> {
    const child = spawnRaised(process.execPath, [join(HERE, "echo-server.js"), "--mode", mode, "--port", String(port)]);
    const probe = new JsonChild(child);
    const listening = await probe.waitFor((r) => r.event === "listening", 10_000, "the bench server to listen");
    const server = new ServerProcess(child, listening.port as number);
    server.records.push(...probe.records);
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  /** CPU time the server has used so far, s. */
  async cpuSeconds(): Promise<number> {
    const from = this.records.length;
    this.child.stdin!.write("cpu\n");
    const record = await this.waitFor((r) => r.event === "cpu", 5_000, "the server's CPU time", from);
    return ((record.userMs as number) + (record.systemMs as number)) / 1000;
  }

  async stop(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface DriverOptions {
  /** Write a V8 CPU profile of the driver into this directory (Node drivers only). */
  cpuProfileDir?: string;
  timeoutMs: number;
}

/** Runs one driver process over `spec`; its results, one per task. */
export async function runDriver(spec: DriverSpec, options: DriverOptions): Promise<TaskResult[]> {
  const json = JSON.stringify(spec);
  const child =
    spec.client === "websockets"
      ? spawn(PYTHON, [join(REPO_ROOT, "bench", "driver.py"), json], { stdio: ["ignore", "pipe", "pipe"] })
      : spec.client === "moorline-xs"
        ? spawn(process.execPath, [join(HERE, "driver-xs.js"), json], { stdio: ["ignore", "pipe", "pipe"] })
        : spawn(
          process.execPath,
          [
            "--expose-gc",
            ...(options.cpuProfileDir ? ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir] : []),
            join(HERE, "driver.js"),
            json,
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
  const driver = new JsonChild(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  const code = await driver.exited;
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`the ${spec.client} driver failed (exit ${code ?? child.signalCode}): ${driver.errors}`);
  }
  return driver.records as unknown as TaskResult[];
}

/** Starts the fleet process (fleet.ts) with its spec; its records arrive as it runs. */
export function startFleet(spec: Record<string, unknown>): JsonChild {
  return new JsonChild(spawnRaised(process.execPath, ["--expose-gc", join(HERE, "fleet.js"), JSON.stringify(spec)]));
}

export type { JsonChild };
