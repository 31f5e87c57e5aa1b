/**
 * What the bench asks a client driver to do, and what the driver answers. The same JSON
 * spec drives the Node driver (bench/driver.ts: our client and the `ws` client) and the
 * Python driver (bench/driver.py: the `websockets` client), one task at a time, over one
 * connection to the bench's echo server for the message tasks.
 */

/**
 * moorline: our client on the Node host; moorline-xs: the same client inside the XS engine,
 * through the desktop XS host (bench/driver-xs.ts); ws; Python's websockets.
 */
export type ClientName = "moorline" | "moorline-xs" | "ws" | "websockets";
/** The clients bench/driver.ts runs. */
export type NodeClientName = "moorline" | "ws";
export type Kind = "text" | "binary";

export const CLIENTS: readonly ClientName[] = ["moorline", "moorline-xs", "ws", "websockets"];

const MiB = 1024 * 1024;

/**
 * Our client's limits in the bench: the ESP32 defaults (16 KiB) would refuse the 1 MB
 * messages; the send buffer holds the largest pipelined window (4 x 1 MiB) with room.
 */
export const BENCH_LIMITS = {
  maxMessageBytes: 2 * MiB,
  maxFrameBytes: 2 * MiB,
  maxBufferedBytes: 24 * MiB,
};
/** The reference every ratio is taken against. */
export const REFERENCE: ClientName = "ws";

export type Task =
  /** Tc: from creating the client to its open event, `count` connections one after the other. */
  | { figure: "connect"; count: number; warmup: number }
  /** D: one message out, wait for its echo, repeat (each round trip timed). */
  | { figure: "rtt"; size: number; kind: Kind; count: number; warmup: number }
  /** R: `count` echoes with up to `window` messages out at once (first send to last echo). */
  | { figure: "throughput"; size: number; kind: Kind; count: number; window: number; warmup: number }
  /** Memory per open connection: `count` clients open at once (Node drivers only, --expose-gc). */
  | { figure: "memory-connection"; count: number }
  /**
   * Memory per message in flight: to a server that stopped reading (path /pause), once the
   * kernel's buffers are full, `count` more messages of `size` bytes (Node drivers only).
   */
  | { figure: "memory-inflight"; size: number; count: number };

export interface DriverSpec {
  client: ClientName;
  /** The echo server, ws://127.0.0.1:PORT/ (the driver appends "pause" for memory-inflight). */
  url: string;
  tasks: Task[];
}

export interface TaskResult {
  task: Task;
  /** connect, rtt: each operation's time, ms. */
  samples?: number[];
  /** throughput: first send to last echo, ms. */
  elapsedMs?: number;
  /** throughput: CPU time the client's process used meanwhile (user + system), ms. */
  cpuMs?: number;
  /** memory-*: bytes per connection or per message (V8 heap + external memory). */
  bytesEach?: number;
  /** Set when the task could not run (a client that cannot do it). */
  skipped?: string;
}

/** A text payload of `size` bytes (ASCII: the common case for JSON, one byte per character). */
export function textPayload(size: number): string {
  const unit = "moorline bench {\"seq\":12345,\"temp\":21.5} ";
  return unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
}

/** A binary payload of `size` bytes, a fixed pseudo-random pattern (xorshift32). */
export function binaryPayload(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}
