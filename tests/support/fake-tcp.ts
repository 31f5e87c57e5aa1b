/**
 * An in-memory TCP socket for unit tests of one layer (the client's state machine):
 * the test plays the server by reading what the client wrote and pushing bytes back.
 * Integration tests use real sockets instead (hosts/node).
 */
import type { TcpSocket, TcpSocketConstructor, TcpSocketOptions } from "../../src/shared/host.js";

export class FakeTcpSocket implements TcpSocket {
  readonly options: TcpSocketOptions;
  /** Everything the client wrote, in order. */
  written: Uint8Array[] = [];
  closed = false;
  /** Space reported to the client by the next onWritable. */
  space = 1 << 20;
  private inbox: Uint8Array[] = [];
  private spent = 0;

  constructor(options: TcpSocketOptions) {
    this.options = options;
  }

  // --- the client's side ---
  read(count?: number): Uint8Array | undefined {
    if (this.inbox.length === 0) return undefined;
    const all = concat(this.inbox);
    const n = count === undefined ? all.length : Math.min(count, all.length);
    this.inbox = n < all.length ? [all.subarray(n)] : [];
    return all.subarray(0, n);
  }
  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error("write after close");
    if (this.spent + bytes.length > this.space) throw new Error("write past the reported space");
    this.spent += bytes.length;
    this.written.push(bytes.slice());
  }
  close(): void {
    this.closed = true;
  }

  // --- the test's side (the "server") ---
  /** The TCP connection is established: report writable space. */
  connect(): void {
    this.spent = 0;
    this.options.onWritable?.(this.space);
  }
  /** More space opened up (the network drained our buffer). */
  drain(space = this.space): void {
    this.space = space;
    this.spent = 0;
    this.options.onWritable?.(space);
  }
  /** Bytes arrive from the server. */
  receive(bytes: Uint8Array): void {
    this.inbox.push(bytes);
    this.options.onReadable?.(this.inbox.reduce((n, b) => n + b.length, 0));
  }
  /** The connection fails or the server closes it. */
  fail(message = "connection reset"): void {
    this.options.onError?.(message);
  }
  /** All bytes written so far, joined, and forgotten. */
  takeWritten(): Uint8Array {
    const all = concat(this.written);
    this.written = [];
    return all;
  }
}

/** A TcpSocketConstructor that records every socket it creates. */
export function fakeTcp(): { tcp: TcpSocketConstructor; sockets: FakeTcpSocket[] } {
  const sockets: FakeTcpSocket[] = [];
  class Recorded extends FakeTcpSocket {
    constructor(options: TcpSocketOptions) {
      super(options);
      sockets.push(this);
    }
  }
  return { tcp: Recorded, sockets };
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
