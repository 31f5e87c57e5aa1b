/**
 * A pseudo-terminal pair made by socat, for tests of serial ports: what one end's user writes,
 * the other end's reads. Killing socat is the USB cable pulled; starting it again with the
 * same link names is the board plugged back in. Tests that need socat fail when CI is set and
 * it is missing (.ci/run installs it), and are skipped with a message otherwise.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, constants, existsSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { until, within } from "./wait.js";

const MISSING_SOCAT = "socat is missing: apt-get install socat";
/** socat starts, and exits when told to, within this, ms. */
const SOCAT_MS = 5_000;

function hasSocat(): boolean {
  return spawnSync("socat", ["-V"], { stdio: "ignore" }).error === undefined;
}

/** For a before() hook: fails under CI without socat, skips the tests otherwise. */
export function needSocat(context: Mocha.Context): void {
  if (hasSocat()) return;
  if (process.env.CI) throw new Error(MISSING_SOCAT);
  console.log(`      (skipped: ${MISSING_SOCAT})`);
  context.skip();
}

/** A pty pair: `dev` is one end (the port under test), `peer` the other. */
export class PtyPair {
  readonly dev: string;
  readonly peer: string;
  private socat: ChildProcess | undefined;
  private peerFd: number | undefined;

  constructor(readonly dir: string) {
    this.dev = join(dir, "dev");
    this.peer = join(dir, "peer");
  }

  /** Starts socat; with `openPeer` (default) opens the peer end for write(). */
  async start(options: { openPeer?: boolean } = {}): Promise<void> {
    const socat = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${this.dev}`, `pty,raw,echo=0,link=${this.peer}`], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.socat = socat;
    let log = "";
    socat.stderr!.setEncoding("utf8").on("data", (text: string) => (log += text));
    await until(() => /starting data transfer loop/.test(log) || socat.exitCode !== null, SOCAT_MS, `socat to start (its log: ${log})`);
    assert.ok(existsSync(this.dev) && existsSync(this.peer), `socat made no links; its log: ${log}`);
    if (options.openPeer ?? true) this.peerFd = openSync(this.peer, constants.O_RDWR | constants.O_NOCTTY);
  }

  /** Writes on the peer end, in one go. */
  write(data: string | Uint8Array): void {
    assert.ok(this.peerFd !== undefined, "the pty pair is not started (or its peer not opened)");
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let done = 0;
    while (done < bytes.length) done += writeSync(this.peerFd, bytes, done);
  }

  /** Ends socat (the cable is pulled): both ptys close and the links go. */
  async stop(): Promise<void> {
    if (this.peerFd !== undefined) closeSync(this.peerFd);
    this.peerFd = undefined;
    const socat = this.socat;
    this.socat = undefined;
    if (!socat || socat.exitCode !== null || socat.signalCode !== null) return;
    const exited = new Promise((resolve) => socat.once("exit", resolve));
    socat.kill("SIGTERM");
    await within(exited, SOCAT_MS, "socat to exit");
  }
}
