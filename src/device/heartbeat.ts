/**
 * The heartbeat: detects a dead peer (a half-open TCP connection, a server that went silent)
 * on an open WebSocket connection. A ping (RFC 6455 section 5.5.2) goes out every intervalMs;
 * if no frame at all (its pong, a message, a ping of the server's) arrives within timeoutMs
 * of it, the connection is declared dead. The pong of the last ping also gives the
 * round-trip time.
 *
 * Pure bookkeeping over the caller's clock: check() says what is due, sends the ping through
 * the caller and returns when to look again, so the connection supervisor
 * (src/device/supervisor.ts) keeps its one timer.
 */
import { invalidOption } from "../shared/errors.js";
import { checkKnownKeys, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";

export interface HeartbeatOptions {
  /**
   * A ping goes out this often while connected, ms (default 20000): periodic rather than
   * after silence, so the round-trip time stays fresh even on a busy connection.
   */
  intervalMs: number;
  /** The connection is declared dead when nothing arrives this long after a ping, ms (default 10000). */
  timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: Readonly<HeartbeatOptions> = Object.freeze({ intervalMs: 20_000, timeoutMs: 10_000 });

const HEARTBEAT_KEYS = Object.freeze(["intervalMs", "timeoutMs"] as const);

/** Validates the heartbeat option: false (off), undefined (defaults) or a partial object. */
export function resolveHeartbeat(value: unknown): HeartbeatOptions | undefined {
  if (value === false) return undefined;
  if (value === undefined) return { ...DEFAULT_HEARTBEAT };
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption("heartbeat", "false or an object with intervalMs and timeoutMs", value);
  }
  const given = value as Record<string, unknown>;
  checkKnownKeys("heartbeat", given, HEARTBEAT_KEYS);
  const d = DEFAULT_HEARTBEAT;
  return {
    intervalMs: optionalInteger("heartbeat.intervalMs", given.intervalMs, d.intervalMs, 1, MAX_TIMEOUT_MS, "milliseconds"),
    timeoutMs: optionalInteger("heartbeat.timeoutMs", given.timeoutMs, d.timeoutMs, 1, MAX_TIMEOUT_MS, "milliseconds"),
  };
}

/** What check() returns when the outstanding ping went unanswered past its deadline. */
export const HEARTBEAT_DEAD = -1;

/** One connection's heartbeat at a time: begin() at each opening. Times in the caller's ms. */
export class Heartbeat {
  readonly options: Readonly<HeartbeatOptions>;
  /** When the last ping went out (the connection's opening before the first). */
  private lastPingAt = 0;
  /** Deadline of the outstanding ping, -1 when none (a frame arrived, or none sent). */
  private deadline = -1;
  /** Counts pings; the decimal digits are the ping's payload, so its pong is recognised. */
  private count = 0;
  /** Payload of the last ping sent, until its pong arrives (then undefined). */
  private payload: Uint8Array | undefined;
  private sentAt = 0;

  constructor(options: Readonly<HeartbeatOptions>) {
    this.options = options;
  }

  /** A connection opened at `now`: the first ping is due intervalMs later. */
  begin(now: number): void {
    this.lastPingAt = now;
    this.deadline = -1;
    this.payload = undefined;
  }

  /** The connection ended: a pong still on its way is not the answer to anything. */
  end(): void {
    this.payload = undefined;
  }

  /** Any frame is a sign of life: it answers the outstanding ping, if any. */
  frameArrived(): void {
    this.deadline = -1;
  }

  /**
   * A pong arrived at `now`: a sign of life, and the round-trip time (ms) when it answers
   * the last ping sent; undefined for an unsolicited pong or an older ping's.
   */
  pongArrived(payload: Uint8Array, now: number): number | undefined {
    this.frameArrived();
    const expected = this.payload;
    if (!expected || !sameBytes(payload, expected)) return undefined;
    this.payload = undefined;
    return now - this.sentAt;
  }

  /**
   * Does what is due at `now`: returns HEARTBEAT_DEAD when the outstanding ping went
   * unanswered past its deadline; otherwise sends a ping through `ping` when one is due
   * (`ping` returns false when it could not: the deadline runs all the same) and returns
   * the time of the next check.
   */
  check(now: number, ping: (payload: Uint8Array) => boolean): number {
    if (this.deadline >= 0) return now >= this.deadline ? HEARTBEAT_DEAD : this.deadline;
    const due = this.lastPingAt + this.options.intervalMs;
    if (now < due) return due;
    this.lastPingAt = now;
    this.count = this.count >= 0x7fffffff ? 1 : this.count + 1;
    const payload = decimalAscii(this.count);
    if (ping(payload)) {
      this.payload = payload;
      this.sentAt = now;
    } else {
      // The send buffer is full (the link is not draining) or the client is closing: the
      // deadline still runs, so a connection that has gone quiet is still caught.
      this.payload = undefined;
    }
    this.deadline = now + this.options.timeoutMs;
    return this.deadline;
  }
}

/** The digits of a positive integer as ASCII bytes: a ping payload a human can read in a capture. */
function decimalAscii(value: number): Uint8Array {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const bytes = new Uint8Array(digits);
  for (let i = digits - 1, rest = value; i >= 0; i--, rest = Math.floor(rest / 10)) {
    bytes[i] = 0x30 + (rest % 10);
  }
  return bytes;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
