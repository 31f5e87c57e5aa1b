/**
 * Real processes for integration tests (peer servers, the echo agent): started with piped
 * stdio, read line by line with deadlines, and always reaped, so no test leaves a process
 * behind or waits without bound.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { deferred, within } from "./wait.js";

/** The repository's root, from dist/tests/support/ (where this file runs from). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Child {
  readonly process: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private waiters: Array<() => void> = [];

  constructor(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}) {
    this.process = spawn(command, args, {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ?? process.env,
    });
    const exited = deferred<Exit>();
    this.exited = exited.promise;
    this.process.stdout!.setEncoding("utf8").on("data", (text: string) => {
      this.stdout += text;
      this.notify();
    });
    this.process.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.stderr += text;
      this.notify();
    });
    this.process.stdin!.on("error", () => {});
    this.process.on("error", (error) => {
      this.stderr += `spawn failed: ${error.message}\n`;
      this.exit = { code: null, signal: null };
      exited.resolve(this.exit);
      this.notify();
    });
    // 'close' (not 'exit'): stdout and stderr are complete by then.
    this.process.on("close", (code, signal) => {
      this.exit = { code, signal };
      exited.resolve(this.exit);
      this.notify();
    });
  }

  /** Waits for a complete stdout line matching `pattern`; returns its match. */
  async line(pattern: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
    return within(
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const check = () => {
          for (const line of this.stdout.split("\n").slice(0, -1)) {
            const match = line.match(pattern);
            if (match) return resolve(match);
          }
          if (this.exit) {
            return reject(new Error(`process exited (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr}`));
          }
          this.waiters.push(check);
        };
        check();
      }),
      ms,
      `${what} (stdout so far: ${JSON.stringify(this.stdout.slice(-200))}, stderr: ${JSON.stringify(this.stderr.slice(-500))})`,
    );
  }

  /** Waits for the process to end, killing it (and failing) when it outlives `ms`. */
  async waitForExit(ms: number, what = "the process to exit"): Promise<Exit> {
    try {
      return await within(this.exited, ms, `${what} (stderr: ${JSON.stringify(this.stderr.slice(-500))})`);
    } catch (error) {
      this.kill();
      throw error;
    }
  }

  /** Ends the process for sure: closes its stdin, then SIGKILLs it if still running. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.process.stdin?.end();
    if (!this.exit && this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill(signal);
    }
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** Starts a Node script of this repository (a path under dist/) with the same Node binary. */
export function node(script: string, args: readonly string[] = []): Child {
  return new Child(process.execPath, [script, ...args]);
}

/** The JSON objects a process printed one a line on stdout so far (a device's log, a --json server's events). */
export function jsonLines(child: Child): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of child.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line still being written
    }
  }
  return out;
}
