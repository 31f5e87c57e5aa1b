/**
 * One serial port kept open for as long as the monitor runs: opened at start (or waited for),
 * and when it goes away (USB unplugged, board re-enumerating after a reset, a pty closed),
 * polled for until it is back. The port itself is given as an opener, so this logic does not
 * care whether serialport or something else is behind it.
 *
 * States: "starting" (first open), "open", "waiting" (polling every RECONNECT_POLL_MS),
 * "stopped". Every timer is cleared on stop, so a stopped session keeps nothing alive.
 */
import type { EventEmitter } from "node:events";
import { stat } from "node:fs/promises";
import { classifyOpenError, explainOpenFailure, type OpenFailureKind } from "./ports.js";

/** How often a missing port is looked for, ms. */
export const RECONNECT_POLL_MS = 500;
/**
 * How long "permission denied" is taken for "not ready yet" while waiting, ms: a device node
 * is created root-only and udev gives it its group a moment later.
 */
export const PERMISSION_GRACE_MS = 3_000;

/** What the session needs of an open port (serialport's SerialPort has all of it). */
export interface SerialLink extends EventEmitter {
  close(callback?: (error?: Error | null) => void): void;
  pause(): unknown;
  resume(): unknown;
  /** Queues bytes for the device (npm run provision writes; the monitor only reads). */
  write(data: Uint8Array): unknown;
}

export type PortOpener = (path: string, baudRate: number) => Promise<SerialLink>;

export interface SessionEvents {
  /** Bytes from the device. */
  data(chunk: Uint8Array): void;
  /** The port closed or went away: whatever partial line is pending is complete now. */
  lost(): void;
  /** A line about the connection for the user (opened, gone, waiting, reconnected). */
  status(text: string): void;
  /** The port cannot be used (permission, not a serial port...); the monitor should exit 1. */
  fatal(text: string): void;
}

export type SessionState = "starting" | "open" | "waiting" | "stopped";

export class PortSession {
  private stateNow: SessionState = "starting";
  private port: SerialLink | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private everOpened = false;
  private deniedSince: number | undefined;
  private busyReported = false;

  constructor(
    readonly path: string,
    readonly baudRate: number,
    private readonly open: PortOpener,
    private readonly events: SessionEvents,
  ) {}

  get state(): SessionState {
    return this.stateNow;
  }

  /**
   * Opens the port. When it does not exist: with `wait`, starts waiting for it; without,
   * reports fatal. Any other failure (permission, busy, not a serial port) is fatal at start.
   */
  async start(wait: boolean): Promise<void> {
    let failure: { kind: OpenFailureKind; error: unknown } | undefined;
    try {
      this.attach(await this.open(this.path, this.baudRate));
      return;
    } catch (error) {
      failure = { kind: classifyOpenError(error, this.path), error };
    }
    if (this.stateNow === "stopped") return;
    if (failure.kind === "missing" && wait) {
      this.events.status(`waiting for ${this.path}...`);
      this.wait();
      return;
    }
    this.fail(failure.kind, failure.error);
  }

  /** Closes the port (if open) and stops every timer. */
  async stop(): Promise<void> {
    if (this.stateNow === "stopped") return;
    this.stateNow = "stopped";
    clearTimeout(this.pollTimer);
    clearInterval(this.watchTimer);
    const port = this.port;
    this.port = undefined;
    if (port) {
      port.removeAllListeners("close");
      port.removeAllListeners("data");
      await closeQuietly(port);
    }
  }

  /** Stops reading (the output is backed up); the OS buffers, then drops, what the device sends. */
  pause(): void {
    this.port?.pause();
  }

  resume(): void {
    this.port?.resume();
  }

  /** Writes to the device; false when no port is open now (gone, or not yet back). */
  write(data: Uint8Array): boolean {
    if (this.port === undefined || this.stateNow !== "open") return false;
    this.port.write(data);
    return true;
  }

  private attach(port: SerialLink): void {
    if (this.stateNow === "stopped") {
      void closeQuietly(port);
      return;
    }
    this.port = port;
    this.stateNow = "open";
    this.deniedSince = undefined;
    this.busyReported = false;
    this.events.status(this.everOpened ? `reconnected to ${this.path}` : `${this.path} open at ${this.baudRate} baud; Ctrl-C quits`);
    this.everOpened = true;
    port.on("data", (chunk: Uint8Array) => this.events.data(chunk));
    // serialport reports a hangup (unplugged, pty closed) as 'close' with a disconnect error,
    // and other read failures (EIO) as 'error': either way the port is gone for us.
    port.on("close", () => this.lost(port));
    port.on("error", () => this.lost(port));
    // Some drivers never hang up an unplugged port: its device node vanishing says it too.
    this.watchTimer = setInterval(() => {
      stat(this.path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") this.lost(port);
      });
    }, RECONNECT_POLL_MS);
  }

  private lost(port: SerialLink): void {
    if (this.port !== port || this.stateNow !== "open") return;
    clearInterval(this.watchTimer);
    this.port = undefined;
    port.removeAllListeners("data");
    port.removeAllListeners("close");
    // An 'error' may still come from the dying port: keep a listener so it is not thrown.
    port.removeAllListeners("error");
    port.on("error", () => {});
    void closeQuietly(port);
    this.events.lost();
    this.events.status(`port ${this.path} gone, waiting...`);
    this.wait();
  }

  private wait(): void {
    this.stateNow = "waiting";
    this.pollTimer = setTimeout(() => void this.poll(), RECONNECT_POLL_MS);
  }

  private async poll(): Promise<void> {
    if (this.stateNow !== "waiting") return;
    try {
      const port = await this.open(this.path, this.baudRate);
      this.attach(port);
      return;
    } catch (error) {
      if (this.stateNow !== "waiting") return;
      const kind = classifyOpenError(error, this.path);
      if (kind === "permission") {
        this.deniedSince ??= Date.now();
        if (Date.now() - this.deniedSince >= PERMISSION_GRACE_MS) return this.fail(kind, error);
      } else {
        this.deniedSince = undefined;
      }
      if (kind === "busy" && !this.busyReported) {
        this.busyReported = true;
        this.events.status(`${explainOpenFailure(kind, this.path, error)} Still trying.`);
      }
      // Anything else ("missing", a half-enumerated device) is the port not being back yet.
    }
    this.wait();
  }

  private fail(kind: OpenFailureKind, error: unknown): void {
    void this.stop();
    this.events.fatal(explainOpenFailure(kind, this.path, error));
  }
}

function closeQuietly(port: SerialLink): Promise<void> {
  return new Promise((resolve) => {
    try {
      port.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
