/**
 * What the Node host's plain and TLS sockets share: the ECMA-419 `embedded:io/socket/tcp`
 * contract over a Node stream socket (`net.Socket`, or the `tls.TLSSocket` that extends it).
 * Writes are bounded by the space reported through onWritable (the client's own bounded
 * queue holds whatever does not fit), received bytes wait in a bounded queue until read,
 * and the end of the connection is reported once, after the bytes that came before it.
 *
 * A subclass opens the stream and says when it is ready for application bytes (TCP
 * connected; TLS established and verified) by calling opened(); it may explain failures
 * its own way (explain()) and fail the connection itself (fail()).
 */
import type { Socket } from "node:net";
import { takeBytes } from "../../src/shared/byte-queue.js";
import type { TcpSocket, TcpSocketOptions, TlsErrorCodeValue } from "../../src/shared/host.js";

/**
 * Bytes the socket accepts before write() refuses, counting bytes Node has not yet handed
 * to the kernel (socket.writableLength). 64 KiB is a few TCP windows on loopback and keeps
 * the desktop behaving like the chip, whose lwIP send buffer is a few KiB: a sender that
 * ignores onWritable fails here too, instead of growing Node's buffer without bound.
 */
export const WRITE_HIGH_WATER_BYTES = 64 * 1024;

/**
 * Received bytes the host keeps for a reader that has not read them yet. Past this the
 * socket is paused (TCP flow control then slows the peer) and resumed once the reader has
 * taken the queue below it, so memory stays bounded whatever the peer sends. One Node read
 * is at most 64 KiB, so the queue peaks below this plus 64 KiB.
 */
export const READ_HIGH_WATER_BYTES = 256 * 1024;

/**
 * After close() (or the peer's FIN), how long handing the last written bytes and our FIN to
 * the kernel may take before the socket is destroyed, milliseconds: only a peer that has
 * stopped reading makes it take long. The timer is unref'd: it never keeps the process alive by itself.
 */
export const CLOSE_GRACE_MS = 2_000;

/** Host-specific tuning of the Node sockets; the defaults are the constants above. */
export interface NodeTcpTuning {
  writeHighWaterBytes?: number;
  readHighWaterBytes?: number;
  closeGraceMs?: number;
}

/** Why a connection ended, as onError reports it. */
export interface SocketFailure {
  /**
   * Short and human, without the address ("connection refused"): whoever reports it says
   * where (the client: "could not connect to 127.0.0.1:1234: connection refused").
   */
  message: string;
  /** Which TLS check failed, for TLS sockets. */
  code?: TlsErrorCodeValue;
}

/** What ended the stream: a Node error, the peer's FIN ("end") or the socket closing ("close"). */
export type SocketEnding = NodeJS.ErrnoException | "end" | "close";

/** Checks host and port as every Node socket needs them, before anything is opened. */
export function checkAddress(options: TcpSocketOptions): void {
  const { host, port } = options;
  if (typeof host !== "string" || host === "") {
    throw new TypeError(`TCP host must be a non-empty string, got ${String(host)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`TCP port must be an integer 1..65535, got ${String(port)}`);
  }
}

/**
 * Lifecycle: connecting -> open (first onWritable) -> lost (onError, once) or closed
 * (close(), after which nothing is reported).
 */
export abstract class NodeStreamSocket implements TcpSocket {
  protected readonly socket: Socket;
  protected readonly options: TcpSocketOptions;
  private readonly writeHighWater: number;
  private readonly readHighWater: number;
  private readonly closeGraceMs: number;
  /** Received chunks not yet read, oldest first, and their total length in bytes. */
  private queue: Uint8Array[] = [];
  private queued = 0;
  /** Open for application bytes: onWritable has been called. */
  protected connected = false;
  /** close() was called: no callback fires any more. */
  protected closed = false;
  /** The connection ended (error, reset, FIN); onError is due or done. */
  protected lost = false;
  /** onError's arguments, held back while received bytes remain unread. */
  private pendingError: SocketFailure | undefined;
  private errorReported = false;
  private paused = false;
  /** The space the caller may assume: last reported, minus what it wrote since. */
  private promised = 0;
  /** Destroys a socket whose graceful end takes too long (unref'd). */
  private graceTimer: NodeJS.Timeout | undefined;
  /** Writes of this turn wait (socket.cork()) until its end (uncork, process.nextTick). */
  private corked = false;

  /**
   * `socket` was just created and is connecting (allowHalfOpen: after the peer's FIN our
   * side stays writable until onError has been reported, so a reply to bytes still queued,
   * the peer's close frame, can go out; then we end our side ourselves).
   */
  protected constructor(options: TcpSocketOptions & NodeTcpTuning, socket: Socket) {
    this.options = options;
    this.socket = socket;
    this.writeHighWater = options.writeHighWaterBytes ?? WRITE_HIGH_WATER_BYTES;
    this.readHighWater = options.readHighWaterBytes ?? READ_HIGH_WATER_BYTES;
    this.closeGraceMs = options.closeGraceMs ?? CLOSE_GRACE_MS;
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    // An 'error' listener must stay attached for the socket's whole life (also after
    // close()), or Node turns a late error into an uncaught exception.
    socket.on("error", (error: NodeJS.ErrnoException) => this.ended(error));
    socket.on("end", () => this.ended("end"));
    socket.on("close", () => {
      clearTimeout(this.graceTimer);
      this.ended("close");
    });
  }

  read(count?: number): Uint8Array | undefined {
    if (this.closed || this.queued === 0) return undefined;
    const wanted = count === undefined ? this.queued : Math.min(Math.floor(count), this.queued);
    if (!(wanted > 0)) return undefined;
    const out = takeBytes(this.queue, wanted);
    this.queued -= wanted;
    if (this.paused && this.queued < this.readHighWater) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.queued === 0 && this.pendingError !== undefined) {
      // The connection ended while bytes were still queued: report it now that the
      // reader has them all, but not from inside its read() call.
      setImmediate(() => this.reportError());
    }
    return out;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error("write after close()");
    if (!this.connected) throw new Error("write before the connection is open (wait for onWritable)");
    // The connection is gone and onError is reported: there is nobody to send to, and the
    // loss is already the caller's news. (Between the peer's FIN and onError, writes still
    // go out: the peer may be waiting for our close frame.)
    if (this.socket.destroyed || this.socket.writableEnded) return;
    const space = this.space();
    if (bytes.length > space) {
      throw new RangeError(
        `write of ${bytes.length} bytes exceeds the writable space (${space} bytes); wait for onWritable`,
      );
    }
    if (bytes.length === 0) return;
    this.promised = Math.max(0, this.promised - bytes.length);
    // The writes of one turn of the event loop (the answers to every message of a chunk
    // received) go to the kernel together, in one writev, when the turn's work is done.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    // The callback runs once Node has handed these bytes to the kernel (never from inside
    // this call): space has opened up again.
    this.socket.write(bytes, this.afterWrite);
  }

  /** The end of the turn that wrote: what it wrote goes to the kernel. */
  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    const socket = this.socket;
    if (!this.connected) {
      // Still connecting (or, for TLS, still in the handshake): nothing was written,
      // abandon the attempt.
      socket.destroy();
      return;
    }
    // Read (and discard) whatever still comes, so a paused socket does not stall.
    socket.resume();
    // end() hands what was written (a close frame, typically) to the kernel, then FIN;
    // once that is done ('finish') the kernel delivers the rest on its own, so the socket
    // is released without waiting for the peer's FIN: the client only closes after the
    // closing handshake or when it has given up on the peer. The grace timer bounds a
    // peer that stopped reading (the kernel then cannot take our bytes).
    if (!socket.writableEnded) socket.end(() => socket.destroy());
    else if (socket.writableFinished) socket.destroy();
    this.destroyAfterGrace();
  }

  /**
   * The connection is ready for application bytes: the first onWritable, with the full
   * space (ECMA-419: the first onWritable means "connected").
   */
  protected opened(): void {
    if (this.closed || this.lost || this.connected) return;
    this.connected = true;
    if (this.options.nodelay) this.socket.setNoDelay(true);
    this.promised = this.space();
    this.options.onWritable?.(this.promised);
  }

  /** The message (and TLS code) onError reports for how the stream ended. */
  protected explain(ending: SocketEnding): SocketFailure {
    if (ending === "end") return { message: "peer closed the connection" };
    if (ending === "close") return { message: this.connected ? "connection closed" : "connection failed" };
    return { message: describeError(ending) };
  }

  /**
   * The connection is over: onError follows once the reader has taken the bytes that came
   * before the end (a peer's close frame is usually followed at once by its FIN). Only the
   * first failure counts.
   */
  protected fail(failure: SocketFailure): void {
    if (this.lost) return;
    this.lost = true;
    if (this.closed) return;
    this.pendingError = failure;
    if (this.queued === 0) this.reportError();
  }

  private ended(ending: SocketEnding): void {
    if (this.lost) return;
    this.fail(this.explain(ending));
  }

  /**
   * Reports space when it exceeds what the caller was last told minus what it wrote since.
   * Node's 'drain' event cannot be used for this: it comes only after a write that crossed
   * Node's own high-water mark, so a caller waiting for room for a frame larger than the
   * space left after a small write would wait forever.
   */
  private readonly afterWrite = (): void => {
    // A failed write also calls back (before 'error' is emitted): report nothing then.
    if (this.closed || this.lost || this.socket.destroyed) return;
    const space = this.space();
    if (space <= this.promised) return;
    this.promised = space;
    this.options.onWritable?.(space);
  };

  /**
   * A peer that never reads or never closes its side must not hold the socket (and the
   * process) open: destroy it after the grace period. Unref'd, so it never keeps the
   * process alive on its own; while the socket lives the process does, and it fires.
   */
  private destroyAfterGrace(): void {
    if (this.graceTimer !== undefined || this.socket.destroyed) return;
    const socket = this.socket;
    this.graceTimer = setTimeout(() => socket.destroy(), this.closeGraceMs);
    this.graceTimer.unref();
  }

  /** Bytes write() accepts now. */
  private space(): number {
    return Math.max(0, this.writeHighWater - this.socket.writableLength);
  }

  private received(chunk: Buffer): void {
    if (this.closed || this.lost) return;
    // A plain Uint8Array view (no copy): src/ must never come to rely on Buffer methods.
    this.queue.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
    this.queued += chunk.length;
    if (this.queued >= this.readHighWater && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.options.onReadable?.(this.queued);
  }

  private reportError(): void {
    if (this.errorReported || this.closed || this.pendingError === undefined) return;
    this.errorReported = true;
    this.queue = [];
    this.queued = 0;
    const { message, code } = this.pendingError;
    // After the peer's FIN: send what was written (a reply to its close frame, say), then
    // our FIN; bounded by the grace period. After an error the socket is already destroyed.
    const socket = this.socket;
    if (!socket.destroyed && !socket.writableEnded) socket.end(() => socket.destroy());
    this.destroyAfterGrace();
    if (code === undefined) this.options.onError?.(message);
    else this.options.onError?.(message, code);
  }
}

/**
 * A short, human message for a Node socket error, without the address: the client that
 * reports it names the host and port once ("could not connect to 127.0.0.1:1234: connection
 * refused"), so saying them here too would repeat them.
 */
export function describeError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "EPIPE":
      return "connection reset by peer";
    case "ETIMEDOUT":
      return "connection timed out";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
      return "cannot resolve the host name";
    case "EHOSTUNREACH":
      return "host unreachable";
    case "ENETUNREACH":
      return "network unreachable";
    case "EADDRNOTAVAIL":
      return "address not available";
    default:
      // Node's own text ("connect EHOSTDOWN 10.0.0.2:80") names the address again.
      return error.code ? `${error.syscall ?? "socket"} failed (${error.code})` : error.message;
  }
}
