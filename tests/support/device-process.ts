/**
 * The simulated device as a user runs it (node dist/hosts/node/device.js), in a process group
 * of its own, so a test can cut its power: SIGKILL to the whole group, as pulling the plug
 * stops everything at once. Its JSON log lines are collected and can be waited for.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { REPO_ROOT } from "./child-process.js";
import { deferred, within } from "./wait.js";

export interface DeviceLogLine {
  t: string;
  level: string;
  event: string;
  [field: string]: unknown;
}

export class DeviceProcess {
  readonly process: ChildProcess;
  readonly lines: DeviceLogLine[] = [];
  stderr = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = "";
  private waiters: Array<() => void> = [];
  private gone = false;

  constructor(args: readonly string[]) {
    this.process = spawn(process.execPath, ["dist/hosts/node/device.js", "--log-format", "json", ...args], {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const exited = deferred<{ code: number | null; signal: NodeJS.Signals | null }>();
    this.exited = exited.promise;
    this.process.stdout!.setEncoding("utf8").on("data", (text: string) => {
      const parts = (this.partial + text).split("\n");
      this.partial = parts.pop()!;
      for (const part of parts) {
        if (!part.startsWith("{")) continue;
        try {
          this.lines.push(JSON.parse(part) as DeviceLogLine);
        } catch {
          // not a log line
        }
      }
      this.notify();
    });
    this.process.stderr!.setEncoding("utf8").on("data", (text: string) => (this.stderr += text));
    this.process.on("close", (code, signal) => {
      this.gone = true;
      exited.resolve({ code, signal });
      this.notify();
    });
  }

  /** The log lines of `event` so far. */
  events(event: string): DeviceLogLine[] {
    return this.lines.filter((line) => line.event === event);
  }

  /** The first log line of `event` (seen or to come) that `match` accepts. */
  async waitFor(event: string, match: (line: DeviceLogLine) => boolean = () => true, ms = 10_000): Promise<DeviceLogLine> {
    return within(
      new Promise<DeviceLogLine>((resolve, reject) => {
        const check = (): void => {
          const found = this.lines.find((line) => line.event === event && match(line));
          if (found) return resolve(found);
          if (this.gone) return reject(new Error(`the device exited before ${event}; stderr: ${this.stderr}`));
          this.waiters.push(check);
        };
        check();
      }),
      ms,
      `the device's ${event} (last events: ${this.lines.slice(-8).map((line) => line.event).join(", ")}; stderr: ${this.stderr.slice(-300)})`,
    );
  }

  /** A power cut: SIGKILL to the whole process group, then the process is gone. */
  async powerCut(): Promise<void> {
    this.signalGroup("SIGKILL");
    await within(this.exited, 5000, "the device to die");
  }

  /** Ctrl-C: a clean stop; resolves with the exit code. */
  async stop(): Promise<number | null> {
    this.process.kill("SIGTERM");
    return (await within(this.exited, 10_000, "the device to stop")).code;
  }

  /**
   * Ctrl-C in `npm start`'s terminal: SIGINT to the device, and at once npm start's own
   * SIGTERM. Still one clean stop; resolves with the exit code.
   */
  async stopTwice(): Promise<number | null> {
    this.process.kill("SIGINT");
    this.process.kill("SIGTERM");
    return (await within(this.exited, 10_000, "the device to stop")).code;
  }

  /** For afterEach: nothing of it may survive the test. */
  kill(): void {
    if (!this.gone) this.signalGroup("SIGKILL");
  }

  private signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.process.pid!, signal);
    } catch {
      // already gone
    }
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
