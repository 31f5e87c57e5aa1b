// One device connection as the companion server tracks it, and small helpers for reading what devices send.
import { WebSocket, type RawData } from "ws";
import type { RequestId } from "./events.js";


/** A request the server sent: where to, and the id its reply will carry. */
export interface SentRequest {
  conn: number;
  device: string | null;
  id: RequestId;
}

export interface Pending {
  type: string;
  sentAt: number;
  timer: NodeJS.Timeout;
}

/** One device's WebSocket connection and what the server knows about it. */
export class Connection {
  device: string | null = null;
  firmware: unknown = null;
  boot: unknown = null;
  capabilities: unknown = null;
  messagesIn = 0;
  messagesOut = 0;
  garbageSent = false;
  /** Set once the close is over; no event about this connection follows `close`. */
  ended = false;
  readonly openedAt = Date.now();
  /** Unanswered requests by id; Map order is send order, so the first is the oldest. */
  readonly pending = new Map<RequestId, Pending>();
  readonly timers = new Set<NodeJS.Timeout>();
  readonly closed: Promise<void>;
  markClosed!: () => void;

  /**
   * Silenced by the terminal's `mute`: nothing at all goes to this device (no pong, no ack,
   * no request), so its heartbeat finds the link dead and replaces it. What it sends is
   * still read and reported. The next connection starts unmuted.
   */
  muted = false;

  /** Whether `device` was authenticated in the handshake (with a registry), not just said in hello. */
  authenticated = false;

  constructor(
    readonly conn: number,
    readonly socket: WebSocket,
    readonly remote: string,
    readonly path: string,
    /** Pings go unanswered (--no-pong), on this connection only. */
    public noPong: boolean,
    public acks: boolean,
  ) {
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** A timer that dies with the connection. */
  after(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      action();
    }, ms);
    this.timers.add(timer);
  }
}

export function asText(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Waits for `promise` to settle, or `ms`, whichever comes first; never rejects. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isRequestId(value: unknown): value is RequestId {
  return (typeof value === "string" && value.length >= 1 && value.length <= 64) || Number.isSafeInteger(value);
}
