/**
 * One XS engine in a child process: the `xsnap-worker` program that the @agoric/xsnap package
 * builds from Moddable's XS sources when it is installed, driven over its two pipes (file
 * descriptors 3 and 4) with netstrings.
 *
 * Why not @agoric/xsnap's own JavaScript API: it needs SES's lockdown() in the Node process
 * (`import '@endo/init'`), which freezes every built-in of that process, the test runner's
 * included, and it answers XS's synchronous calls through promises. The protocol is small
 * and documented in its C source (xsnap-worker.c), so this speaks it directly:
 *
 *   to XS:    "e" + JavaScript source   evaluate a script
 *             "?" + bytes               call globalThis.handleCommand(ArrayBuffer)
 *             "/" + bytes               the answer to XS's issueCommand
 *             "q"                       quit
 *   from XS:  "." + meter JSON + "\x01" + bytes   done (the reply, after the run loop)
 *             "!" + text                         an exception escaped (evaluate, handleCommand)
 *             "?" + bytes                        XS's issueCommand, waiting for "/"
 *
 * Requests go one at a time (XS runs one at a time); XS's calls are answered synchronously
 * by `onCommand` while a request is in flight. Every request is bounded by a watchdog, and a
 * worker that dies fails whatever was in flight or queued, with its exit status and the end
 * of its stderr.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

/** What xsnap reports with each reply (its meter, for the request that just ran). */
export interface MeterUsage {
  /** Slots (XS values, 16 bytes each on 64-bit) in use in the heap after the request. */
  currentHeapCount: number;
  /** Computation steps of the request (XS's meter; deterministic for the same inputs). */
  compute: number;
  /** Bytes of chunk space XS has allocated from the system so far. */
  allocate: number;
  timestamps: number[];
}

export interface XsnapReply {
  reply: Uint8Array;
  meter: MeterUsage;
}

/** xsnap-worker's exit codes (its xsnap-worker.c, @agoric/xsnap api.js). */
const EXIT_MESSAGES: Record<number, string> = {
  1: "bad argument usage",
  2: "I/O error",
  11: "not enough memory",
  12: "stack overflow",
  15: "unhandled exception",
  16: "property (key) name space exhausted",
  17: "too much computation",
};

/** Default bound on one request (a delivery or an evaluation), ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** After "q", how long the worker may take to exit before it is killed, ms. */
const QUIT_GRACE_MS = 2_000;
/** Lines of the worker's stderr kept for the report of its death. */
const STDERR_LINES_KEPT = 20;

/** The worker failed: it exited, was killed, or broke the protocol. */
export class XsnapWorkerError extends Error {
  /** It was killed because one request ran longer than requestTimeoutMs (an endless loop?). */
  readonly timedOut: boolean;
  constructor(message: string, timedOut = false) {
    super(message);
    this.name = "XsnapWorkerError";
    this.timedOut = timedOut;
  }
}

/** An exception escaped from XS during evaluate() or into handleCommand (xsnap's "!" reply). */
export class XsnapUncaughtError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XsnapUncaughtError";
  }
}

/** The xsnap-worker binary that `npm install` built inside node_modules/@agoric/xsnap. */
export function xsnapBinary(): string {
  const platform = process.platform === "linux" ? "lin" : process.platform === "darwin" ? "mac" : undefined;
  if (platform === undefined) throw new XsnapWorkerError(`xsnap runs on Linux and macOS only, not on ${process.platform}`);
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve("@agoric/xsnap"));
  } catch {
    throw new XsnapWorkerError("the @agoric/xsnap package is not installed (npm install)");
  }
  const binary = join(dirname(entry), "..", "xsnap-native", "xsnap", "build", "bin", platform, "release", "xsnap-worker");
  if (!existsSync(binary)) {
    throw new XsnapWorkerError(
      `${binary} is missing: @agoric/xsnap builds it when installed (npm install runs its postinstall; it needs make and a C compiler)`,
    );
  }
  return binary;
}

export interface XsnapWorkerOptions {
  /** Shown in errors and as the worker's argv[0]. */
  name?: string;
  /** Answers XS's issueCommand; called synchronously while a request is in flight. */
  onCommand(message: Uint8Array): Uint8Array;
  /** Where the worker's own output goes (XS print() is stdout), line by line; default stderr. */
  onOutput?(line: string, stream: "stdout" | "stderr"): void;
  /** Called once when the worker dies or is closed; `error` unless closed by close(). */
  onExit?(error: XsnapWorkerError | undefined): void;
  /** Longest one request may run, ms (default DEFAULT_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
}

interface Request {
  prefix: number;
  build: () => Uint8Array | string | undefined;
  onReply: ((reply: XsnapReply) => void) | undefined;
  resolve(reply: XsnapReply | undefined): void;
  reject(error: Error): void;
}

const QUERY = 0x3f; // ?
const ANSWER = 0x2f; // /
const OK = 0x2e; // .
const FAILED = 0x21; // !
const EVALUATE = 0x65; // e
const SNAPSHOT = 0x77; // w
const COLON = 0x3a;
const COMMA = 0x2c;
/** A netstring's length prefix: at most 9 digits (xsnap-worker reads "%9lu"). */
const MAX_PREFIX = 10;

export class XsnapWorker {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly toXs: Writable;
  private readonly options: XsnapWorkerOptions;
  private timeoutMs: number;
  private queue: Request[] = [];
  private current: Request | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Body length of the netstring being read; -1 while its prefix is still to come. */
  private expected = -1;
  private stderrTail: string[] = [];
  private failure: XsnapWorkerError | undefined;
  private closing = false;
  private ended = false;
  readonly exited: Promise<void>;

  constructor(options: XsnapWorkerOptions) {
    this.options = options;
    this.name = options.name ?? "moorline-xs";
    this.timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    // No metering limit (no -l): a 16 MiB message may take more than any fixed budget;
    // the watchdog bounds a request in time instead. The meter still counts.
    // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and
    // the worker must outlive the signal so the firmware can close its connection properly
    // (1001). It still ends with Node: a closed pipe ends its command loop.
    this.child = spawn(xsnapBinary(), [this.name], {
      stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"],
      detached: true,
    });
    const stdio = this.child.stdio as unknown as [null, Readable, Readable, Writable, Readable];
    this.toXs = stdio[3];
    this.toXs.on("error", () => {}); // a dead worker is reported by 'exit'
    stdio[4].on("data", (chunk: Buffer) => this.received(chunk));
    lines(stdio[1], (line) => this.output(line, "stdout"));
    lines(stdio[2], (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
      this.output(line, "stderr");
    });
    let resolveExited!: () => void;
    this.exited = new Promise((resolve) => (resolveExited = resolve));
    this.child.on("error", (error) => {
      this.fail(new XsnapWorkerError(`${this.name}: cannot start ${xsnapBinary()}: ${error.message}`));
      resolveExited();
    });
    this.child.on("exit", (code, signal) => {
      // stderr may still hold the worker's last words: give it a moment (bounded).
      setImmediate(() => {
        if (this.closing && (code === 0 || signal === "SIGKILL" || signal === "SIGTERM")) this.fail(undefined);
        else {
          const status = signal ? `signal ${signal}` : `exit code ${code}${EXIT_MESSAGES[code!] ? ` (${EXIT_MESSAGES[code!]})` : ""}`;
          const tail = this.stderrTail.length ? `; its stderr ended with:\n${this.stderrTail.join("\n")}` : "";
          this.fail(new XsnapWorkerError(`the XS worker ${this.name} died: ${status}${tail}`));
        }
        resolveExited();
      });
    });
  }

  /** The worker's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Why the worker is gone, once it is (undefined while it runs, and after close()). */
  get error(): XsnapWorkerError | undefined {
    return this.failure;
  }

  get alive(): boolean {
    return !this.ended;
  }

  /** Requests in flight or waiting. */
  get pending(): number {
    return this.queue.length + (this.current === undefined ? 0 : 1);
  }

  /**
   * Changes the bound on each request from the next one on, ms (the desktop chip's watchdog
   * tightens it once the firmware has loaded).
   */
  setRequestTimeout(ms: number): void {
    this.timeoutMs = ms;
  }

  /** Runs a script in XS's start compartment. */
  evaluate(code: string): Promise<XsnapReply> {
    return this.request(EVALUATE, () => code) as Promise<XsnapReply>;
  }

  /**
   * Writes a snapshot of the XS heap to `path` (xsnap's "w": a full collection first, then
   * every live slot and chunk); resolves with its size in bytes. `next`: ahead of every
   * request waiting (called from a delivery's onReply, it sees XS just as that delivery left it).
   */
  async writeSnapshot(path: string, { next = false }: { next?: boolean } = {}): Promise<number> {
    const reply = (await this.request(SNAPSHOT, () => path, undefined, next)) as XsnapReply;
    return Number(Buffer.from(reply.reply).toString("latin1"));
  }

  /**
   * Calls XS's handleCommand with the bytes `build` returns when the worker gets to this
   * request (so they are as fresh as possible), or skips it (resolving undefined) when
   * `build` returns undefined. `onReply` runs synchronously when the reply arrives, before
   * the next request is built, so what the reply asks for happens before anything later.
   */
  deliver(build: () => Uint8Array | undefined, onReply?: (reply: XsnapReply) => void): Promise<XsnapReply | undefined> {
    return this.request(QUERY, build, onReply);
  }

  /** Asks the worker to quit, then kills it if it lingers. Resolves once it has exited. */
  async close(): Promise<void> {
    if (this.ended) return;
    this.closing = true;
    // "q" is read between requests only: in the middle of one (XS may be waiting for the
    // answer to its own call) the worker is killed instead.
    if (this.current === undefined) this.writeNetstring(0x71 /* q */, new Uint8Array(0));
    else this.child.kill("SIGKILL");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), QUIT_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  /** Kills the worker at once. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (!this.ended) this.child.kill(signal);
  }

  private request(
    prefix: number,
    build: () => Uint8Array | string | undefined,
    onReply?: (reply: XsnapReply) => void,
    first = false,
  ): Promise<XsnapReply | undefined> {
    return new Promise((resolve, reject) => {
      if (this.ended) {
        reject(this.failure ?? new XsnapWorkerError(`the XS worker ${this.name} is closed`));
        return;
      }
      const request = { prefix, build, onReply, resolve, reject };
      if (first) this.queue.unshift(request);
      else this.queue.push(request);
      this.next();
    });
  }

  private next(): void {
    while (this.current === undefined && !this.ended && this.queue.length > 0) {
      const request = this.queue.shift()!;
      let payload: Uint8Array | string | undefined;
      try {
        payload = request.build();
      } catch (error) {
        request.reject(error as Error);
        continue;
      }
      if (payload === undefined) {
        request.resolve(undefined);
        continue;
      }
      this.current = request;
      this.writeNetstring(request.prefix, typeof payload === "string" ? Buffer.from(payload, "utf8") : payload);
      this.watchdog = setTimeout(() => {
        this.fail(
          new XsnapWorkerError(
            `the XS worker ${this.name} did not answer within ${this.timeoutMs} ms (a run that never ends: an endless loop in XS?); killed`,
            true,
          ),
        );
        this.child.kill("SIGKILL");
      }, this.timeoutMs);
      this.watchdog.unref();
    }
  }

  private writeNetstring(prefix: number, payload: Uint8Array): void {
    if (this.ended) return;
    this.toXs.cork();
    this.toXs.write(`${payload.length + 1}:${String.fromCharCode(prefix)}`, "latin1");
    if (payload.length > 0) this.toXs.write(payload);
    this.toXs.write(",");
    this.toXs.uncork();
  }

  // --- reading netstrings -------------------------------------------------------------

  private received(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    try {
      this.parse();
    } catch (error) {
      this.fail(new XsnapWorkerError(`the XS worker ${this.name} broke the protocol: ${(error as Error).message}`));
      this.child.kill("SIGKILL");
    }
  }

  private parse(): void {
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered === 0) return;
        const head = this.peek(Math.min(this.buffered, MAX_PREFIX + 1));
        const colon = head.indexOf(COLON);
        if (colon < 0) {
          if (head.length > MAX_PREFIX) throw new Error("netstring length prefix too long");
          return;
        }
        const digits = head.subarray(0, colon).toString("latin1");
        if (!/^[0-9]+$/.test(digits)) throw new Error(`bad netstring prefix ${JSON.stringify(digits)}`);
        this.take(colon + 1);
        this.expected = Number(digits);
      }
      if (this.buffered < this.expected + 1) return;
      const body = this.take(this.expected);
      if (this.take(1)[0] !== COMMA) throw new Error("netstring without its comma");
      this.expected = -1;
      this.message(body);
    }
  }

  /** The first `count` buffered bytes, without consuming them. */
  private peek(count: number): Buffer {
    if (this.chunks[0]!.length >= count) return this.chunks[0]!.subarray(0, count);
    return Buffer.concat(this.chunks).subarray(0, count);
  }

  /** Consumes `count` buffered bytes (at most one copy, only across chunks). */
  private take(count: number): Buffer {
    this.buffered -= count;
    const first = this.chunks[0];
    if (count === 0) return Buffer.alloc(0);
    if (first!.length >= count) {
      if (first!.length === count) this.chunks.shift();
      else this.chunks[0] = first!.subarray(count);
      return first!.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let offset = 0;
    while (offset < count) {
      const chunk = this.chunks[0]!;
      const piece = Math.min(chunk.length, count - offset);
      chunk.copy(out, offset, 0, piece);
      offset += piece;
      if (piece === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(piece);
    }
    return out;
  }

  private message(body: Buffer): void {
    const kind = body[0];
    if (kind === QUERY) {
      let answer: Uint8Array;
      try {
        answer = this.options.onCommand(new Uint8Array(body.buffer, body.byteOffset + 1, body.length - 1));
      } catch (error) {
        // onCommand must answer; a throw is a bug on the Node side: stop rather than hang XS.
        this.fail(new XsnapWorkerError(`answering XS's command failed: ${(error as Error).stack ?? String(error)}`));
        this.child.kill("SIGKILL");
        return;
      }
      this.writeNetstring(ANSWER, answer);
      return;
    }
    const request = this.current;
    if (request === undefined) throw new Error(`a reply (${String.fromCharCode(kind ?? 0)}) with no request in flight`);
    this.current = undefined;
    clearTimeout(this.watchdog);
    if (kind === OK) {
      const separator = body.indexOf(1, 1);
      const meter = (separator < 0 ? {} : JSON.parse(body.subarray(1, separator).toString("utf8"))) as MeterUsage;
      const bytes = body.subarray(separator < 0 ? 1 : separator + 1);
      const reply = { reply: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), meter };
      try {
        request.onReply?.(reply);
        request.resolve(reply);
      } catch (error) {
        request.reject(error as Error);
      }
    } else if (kind === FAILED) {
      request.reject(new XsnapUncaughtError(`uncaught exception in XS: ${body.subarray(1).toString("utf8")}`));
    } else {
      throw new Error(`unknown reply kind ${JSON.stringify(String.fromCharCode(kind ?? 0))}`);
    }
    this.next();
  }

  private output(line: string, stream: "stdout" | "stderr"): void {
    if (this.options.onOutput) this.options.onOutput(line, stream);
    else process.stderr.write(`[xs ${stream}] ${line}\n`);
  }

  /** Ends the worker's story: rejects what was in flight or queued, reports once. */
  private fail(error: XsnapWorkerError | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    clearTimeout(this.watchdog);
    const gone = error ?? new XsnapWorkerError(`the XS worker ${this.name} was closed`);
    const pending = [...(this.current ? [this.current] : []), ...this.queue];
    this.current = undefined;
    this.queue = [];
    for (const request of pending) request.reject(gone);
    this.options.onExit?.(error);
  }
}

/** Calls `onLine` for each line of `stream` (the last one even without its newline). */
function lines(stream: Readable, onLine: (line: string) => void): void {
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (text: string) => {
    const parts = (partial + text).split("\n");
    partial = parts.pop()!;
    for (const line of parts) onLine(line);
  });
  stream.on("end", () => {
    if (partial !== "") onLine(partial);
    partial = "";
  });
}
