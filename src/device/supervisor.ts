/**
 * The connection supervisor: keeps one WebSocket connection up forever. Reconnects with
 * exponential backoff and full jitter (src/device/backoff.ts), resets the backoff once a
 * connection has proved stable (below), reconnects at once when the network comes back, and
 * detects a dead peer (half-open TCP) with the heartbeat (src/device/heartbeat.ts): if neither
 * a pong nor any other frame arrives within heartbeat.timeoutMs of a ping, the connection is
 * terminated and replaced.
 *
 * Lifecycle (SupervisorState):
 *
 *   STOPPED     --start()-->              CONNECTING (or WAITING_FOR_NETWORK when it is down)
 *   CONNECTING  --handshake done-->       OPEN
 *   CONNECTING  --attempt failed-->       BACKOFF
 *   OPEN        --connection ended-->     BACKOFF (the heartbeat ends a silent one)
 *   BACKOFF     --delay over-->           CONNECTING
 *   any running --setNetwork(false)-->    WAITING_FOR_NETWORK (the connection terminated)
 *   WAITING_FOR_NETWORK --setNetwork(true)--> CONNECTING, at once
 *   OPEN        --stop()-->               STOPPING --closed--> STOPPED
 *   any other   --stop()-->               STOPPED, at once
 *
 * A refusal of the credentials (ERR_UNAUTHORIZED: HTTP 401 or 403) waits at the long end
 * instead, [backoff.capMs / 2, backoff.capMs] (30 to 60 s by default), and is logged as
 * ws_unauthorized: retrying a refused token sooner cannot help.
 *
 * Never a tight loop: every ended connection or failed attempt, whatever the server did
 * (refused, answered 503, accepted and closed at once, closed with 1000, accepted and then
 * said nothing), is followed by a backoff delay of at least backoff.minMs, and the delays
 * grow until a connection proves stable: a message from the server arrives stableMs or more
 * after the connection opened. Time alone does not count: a server that accepts and then
 * says nothing is caught by the heartbeat after intervalMs + timeoutMs (30 s by default,
 * as long as stableMs), and that dead connection must not pass for a stable one. Only the
 * network coming back skips the wait.
 *
 * One timer at most at any moment (the backoff wait, or while open the heartbeat's next
 * ping or deadline): an ESP32 has few to spare, and one timer per connection cannot leak.
 *
 * Callbacks: the application's onOpen and onMessage run inside the client's callbacks, so
 * one that throws fails that connection with 1011 (the client's rule) and the supervisor
 * reconnects. onState, onClose and stop()'s onStopped are the supervisor's own: a throw
 * there is logged (supervisor_callback_failed) and the supervisor carries on. Callbacks may
 * call stop(), setNetwork() and send(): the supervisor's state is settled before any runs.
 */
import { backoffDelay, randomUnit, unauthorizedDelay, type BackoffPolicy } from "./backoff.js";
import { HEARTBEAT_DEAD, Heartbeat, type HeartbeatOptions } from "./heartbeat.js";
import {
  checkNewUrl,
  checkSupervisorOptions,
  type ClientFactory,
  type ClientLike,
  type SupervisedClientOptions,
  type SupervisorOptions,
} from "./supervisor-options.js";
import { CloseCode } from "../websocket/constants.js";
import { ErrorCode, WebSocketError, invalidArgument, invalidState } from "../shared/errors.js";
import type { LogLevel, NetHost, TimerId } from "../shared/host.js";
import { WebSocketClient, type CloseEvent, type WebSocketClientOptions } from "../websocket/client.js";

export const SupervisorState = Object.freeze({
  /** Not started, or stopped. */
  STOPPED: "stopped",
  /** Started, but the network is down: nothing is attempted. */
  WAITING_FOR_NETWORK: "waiting_for_network",
  /** A connection attempt is under way. */
  CONNECTING: "connecting",
  /** Connected. */
  OPEN: "open",
  /** Waiting out a backoff delay before the next attempt. */
  BACKOFF: "backoff",
  /** stop() was called while a connection was open: closing it. */
  STOPPING: "stopping",
} as const);
export type SupervisorStateValue = (typeof SupervisorState)[keyof typeof SupervisorState];

export { DEFAULT_HEARTBEAT, resolveHeartbeat, type HeartbeatOptions } from "./heartbeat.js";
export {
  DEFAULT_STABLE_MS,
  type ClientFactory,
  type ClientLike,
  type SupervisedClientOptions,
  type SupervisorOptions,
} from "./supervisor-options.js";

export interface SupervisorStats {
  /** Connections that opened, in total. */
  connects: number;
  /** Connections that opened after the first. */
  reconnects: number;
  /**
   * Attempts that failed since the last stable connection. A connection that ended without
   * proving stable counts as failed (a server that accepts and closes at once, or accepts and
   * says nothing until the heartbeat gives up, is failing); one ended by setNetwork(false)
   * does not. It is the exponent of the next backoff delay.
   */
  consecutiveFailures: number;
  /** Round-trip time of the last answered heartbeat ping, ms; undefined before any. */
  lastRttMs: number | undefined;
  /** Code and reason of the last close. */
  lastClose: { code: number; reason: string } | undefined;
  /** Connections declared dead by the heartbeat. */
  heartbeatTimeouts: number;
  /** Attempts whose credentials the server refused (ERR_UNAUTHORIZED: HTTP 401 or 403). */
  unauthorized: number;
}

/** The close sent by stop(): the device is going away (RFC 6455 section 7.4.1). */
const STOP_REASON = "stopping";

const defaultFactory: ClientFactory = (options) => new WebSocketClient(options);

export class ConnectionSupervisor {
  private serverUrl: string;
  private readonly host: NetHost;
  private readonly clientOptions: SupervisedClientOptions;
  private readonly policy: BackoffPolicy;
  private readonly stableMs: number;
  private readonly heartbeat: Heartbeat | undefined;
  private readonly createClient: ClientFactory;
  private readonly callbacks: SupervisorOptions;

  private current: SupervisorStateValue = SupervisorState.STOPPED;
  private networkUp: boolean;
  /** The live client, once its factory returned (undefined while none, or during its constructor). */
  private client: ClientLike | undefined;
  /**
   * Numbers each client made; `live` is the one whose events count, 0 when none. A late
   * event of a replaced client (a fake's, or one reported after terminate()) is ignored.
   */
  private generation = 0;
  private live = 0;
  /** The supervisor's one timer: the backoff wait, or the open connection's next check. */
  private timer: TimerId | undefined;
  /** Delay of the pending backoff wait, ms (reported as retryInMs). */
  private retryDelay = 0;
  /** Consecutive ended attempts since the last stable connection: the backoff exponent. */
  private failures = 0;
  private stopWaiters: Array<() => void> = [];

  /** When the open connection opened, host.timers.now() milliseconds. */
  private openedAt = 0;
  /** The open connection proved stable: a message came stableMs or more after its opening. */
  private stable = false;
  /** onStable was called for the open connection. */
  private lasting = false;

  private readonly counters: SupervisorStats = {
    connects: 0,
    reconnects: 0,
    consecutiveFailures: 0,
    lastRttMs: undefined,
    lastClose: undefined,
    heartbeatTimeouts: 0,
    unauthorized: 0,
  };

  /** Bound once: the timer callback allocates nothing per arm. */
  private readonly onTimer = (): void => this.timerFired();
  /** Bound once: the heartbeat's ping, through the live client. */
  private readonly sendPing = (payload: Uint8Array): boolean => {
    const client = this.client;
    if (!client) return false;
    try {
      client.ping(payload);
      return true;
    } catch {
      return false;
    }
  };

  /**
   * Validates options (src/device/supervisor-options.ts: errors name the bad one); does not
   * connect until start().
   */
  constructor(options: SupervisorOptions) {
    const checked = checkSupervisorOptions(options);
    this.serverUrl = checked.url;
    this.host = checked.host;
    this.clientOptions = checked.client;
    this.policy = checked.policy;
    this.stableMs = checked.stableMs;
    this.heartbeat = checked.heartbeat ? new Heartbeat(checked.heartbeat) : undefined;
    this.networkUp = checked.networkUp;
    this.createClient = options.createClient ?? defaultFactory;
    this.callbacks = options;
  }

  /**
   * Starts connecting (when the network is up). Does nothing when already started; throws
   * ERR_INVALID_STATE while a stop() is still closing the connection (wait for onStopped).
   * After a completed stop() it starts afresh (the statistics carry on).
   */
  start(): void {
    if (this.current === SupervisorState.STOPPING) {
      throw invalidState("start() while stop() is closing the connection: wait for its onStopped");
    }
    if (this.current !== SupervisorState.STOPPED) return;
    this.log("info", "ws_supervisor_start", { url: this.serverUrl, networkUp: this.networkUp });
    if (this.networkUp) this.connect();
    else this.setState(SupervisorState.WAITING_FOR_NETWORK);
  }

  /**
   * Stops for good: cancels any pending retry, closes an open connection with 1001 (going
   * away) and calls `onStopped` once it is closed (at once when nothing was open). Bounded
   * by the client's closeTimeoutMs: never hangs.
   *
   * "At once" means synchronously, before stop() returns: when nothing was open (stopped,
   * waiting for the network, in backoff) and when a connection attempt was under way (it is
   * terminated, its onClose reported first). When a connection was open, the state is
   * STOPPING until the client reports it closed; a second stop() meanwhile adds its
   * onStopped to the wait. No timer of the supervisor remains once stop() has returned.
   */
  stop(onStopped?: () => void): void {
    if (onStopped !== undefined && typeof onStopped !== "function") {
      throw invalidArgument(`stop() takes a function or nothing, got ${typeof onStopped}`);
    }
    if (onStopped) this.stopWaiters.push(onStopped);
    this.clearTimer();
    switch (this.current) {
      case SupervisorState.STOPPING:
        return;
      case SupervisorState.OPEN: {
        this.log("info", "ws_stopping", { code: CloseCode.GOING_AWAY });
        // onState may have changed things (a stop() or setNetwork(false) inside it).
        if (!this.setState(SupervisorState.STOPPING)) return;
        const client = this.client;
        if (!client) {
          this.dropClient(undefined);
          return;
        }
        try {
          client.close(CloseCode.GOING_AWAY, STOP_REASON);
        } catch {
          // A client that cannot close (already failing) is dropped: stop must not hang.
          this.dropClient(undefined);
        }
        return;
      }
      case SupervisorState.CONNECTING:
        // Nothing worth a closing handshake yet: abandon the attempt (its onClose follows
        // synchronously and, seeing STOPPING, ends in STOPPED).
        this.current = SupervisorState.STOPPING;
        this.dropClient(undefined);
        return;
      default:
        this.setState(SupervisorState.STOPPED);
        this.finishStop();
    }
  }

  /**
   * The network went up or down. Down: the current connection is terminated at once (its
   * TCP is useless) and no attempt is made. Up: an attempt starts at once, without waiting
   * out the backoff.
   *
   * Down while a connection is open or connecting terminates it with ERR_NETWORK_DOWN
   * (onClose reports it, with retryInMs undefined); the ended connection does not count as
   * a failure for the backoff. Reporting the same state twice does nothing.
   */
  setNetwork(up: boolean): void {
    if (typeof up !== "boolean") throw invalidArgument(`setNetwork() takes a boolean, got ${typeof up}`);
    if (up === this.networkUp) return;
    this.networkUp = up;
    this.log("info", "ws_network", { up });
    if (up) {
      if (this.current === SupervisorState.WAITING_FOR_NETWORK) this.connect();
      return;
    }
    switch (this.current) {
      case SupervisorState.BACKOFF:
        this.clearTimer();
        this.setState(SupervisorState.WAITING_FOR_NETWORK);
        return;
      case SupervisorState.CONNECTING:
      case SupervisorState.OPEN:
      case SupervisorState.STOPPING:
        this.clearTimer();
        this.dropClient(
          new WebSocketError(ErrorCode.NETWORK_DOWN, "network down: connection dropped until the network is back"),
        );
        return;
      default:
        // STOPPED and WAITING_FOR_NETWORK: nothing runs.
        return;
    }
  }

  /** The server connected to (the URL given, or the last setUrl()). */
  get url(): string {
    return this.serverUrl;
  }

  /**
   * Points the supervisor at another server (provisioning: a URL a user typed, or a server's
   * request). The URL is checked as the constructor's is (with the client's TLS options,
   * which need wss://): a bad one throws and changes nothing. An open connection is closed
   * with 1001 (what was sent before still goes out first), an attempt under way is dropped,
   * a backoff wait is cut short; the next attempt goes to the new URL, and the backoff
   * starts afresh: the new server owes nothing to the old one's failures.
   */
  setUrl(url: string): void {
    this.serverUrl = checkNewUrl(url, { host: this.host, client: this.clientOptions }, this.createClient !== defaultFactory);
    this.failures = 0;
    this.log("info", "ws_url_changed", { url });
    switch (this.current) {
      case SupervisorState.OPEN: {
        const client = this.client;
        try {
          client?.close(CloseCode.GOING_AWAY, "server changed");
        } catch {
          this.dropClient(undefined);
        }
        return;
      }
      case SupervisorState.CONNECTING:
        this.dropClient(new WebSocketError(ErrorCode.CONNECT_FAILED, "server changed: attempt abandoned"));
        return;
      case SupervisorState.BACKOFF:
        this.clearTimer();
        this.connect();
        return;
      default:
        // Stopped, stopping or waiting for the network: the next attempt uses the new URL.
        return;
    }
  }

  /**
   * Sends a message on the open connection. Returns false (and sends nothing) when no
   * connection is open or its send buffer is full: the caller keeps what must be delivered.
   * Throws only for a bad argument (neither a string nor a Uint8Array).
   */
  send(data: string | Uint8Array): boolean {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw invalidArgument(`send() takes a string or a Uint8Array, got ${typeof data}`);
    }
    const client = this.client;
    if (this.current !== SupervisorState.OPEN || !client) return false;
    try {
      client.send(data);
      return true;
    } catch (error) {
      // Full buffer, or a connection that started closing before its onClose arrived.
      if (error instanceof WebSocketError && (error.code === ErrorCode.BUFFER_FULL || error.code === ErrorCode.INVALID_STATE)) {
        return false;
      }
      throw error;
    }
  }

  get state(): SupervisorStateValue {
    return this.current;
  }

  /** A snapshot (a fresh object per read; later events do not change it). */
  get stats(): Readonly<SupervisorStats> {
    const stats = { ...this.counters, consecutiveFailures: this.failures };
    if (stats.lastClose) stats.lastClose = { ...stats.lastClose };
    return stats;
  }

  // --- connecting ---

  private connect(): void {
    if (!this.setState(SupervisorState.CONNECTING)) return; // onState stopped us
    const generation = ++this.generation;
    this.live = generation;
    const options: WebSocketClientOptions = {
      url: this.serverUrl,
      host: this.host,
      onOpen: (protocol) => this.clientOpened(generation, protocol),
      onMessage: (data) => {
        if (generation !== this.live) return;
        this.messageArrived();
        this.callbacks.onMessage?.(data);
      },
      onPing: () => {
        if (generation === this.live) this.heartbeat?.frameArrived();
      },
      onPong: (payload) => {
        if (generation === this.live) this.pongArrived(payload);
      },
      onClose: (event) => this.clientClosed(generation, event),
    };
    if (this.clientOptions.protocols !== undefined) options.protocols = this.clientOptions.protocols;
    if (this.clientOptions.headers !== undefined) options.headers = this.clientOptions.headers;
    if (this.clientOptions.limits !== undefined) options.limits = this.clientOptions.limits;
    if (this.clientOptions.tls !== undefined) options.tls = this.clientOptions.tls;
    let client: ClientLike;
    try {
      client = this.createClient(options);
    } catch (thrown) {
      // Only transient trouble gets here with the default client (no free socket, say):
      // the configuration was validated up front. Counted and retried like a refusal.
      if (generation !== this.live) return; // it reported its own close before throwing
      const error = thrown instanceof WebSocketError
        ? thrown
        : new WebSocketError(ErrorCode.CONNECT_FAILED, `creating the client failed: ${messageOf(thrown)}`);
      this.log("error", "ws_connect_error", { code: error.code, message: error.message });
      this.clientClosed(generation, { code: CloseCode.ABNORMAL, reason: error.message, wasClean: false, error, unsentBytes: 0 });
      return;
    }
    // A client whose host failed inside its constructor has reported its close already.
    if (generation === this.live) this.client = client;
  }

  private clientOpened(generation: number, protocol: string): void {
    if (generation !== this.live || this.current !== SupervisorState.CONNECTING) return;
    const now = this.host.timers.now();
    this.openedAt = now;
    this.stable = false;
    this.lasting = false;
    this.heartbeat?.begin(now);
    this.counters.connects++;
    if (this.counters.connects > 1) this.counters.reconnects++;
    if (!this.setState(SupervisorState.OPEN) || generation !== this.live) return;
    this.schedule(now);
    // Unguarded: a throwing onOpen fails this connection with 1011 (the client's rule).
    this.callbacks.onOpen?.(protocol);
  }

  // --- an ended connection or attempt ---

  private clientClosed(generation: number, event: CloseEvent): void {
    if (generation !== this.live) return;
    this.live = 0;
    this.client = undefined;
    this.clearTimer();
    this.heartbeat?.end();
    this.counters.lastClose = { code: event.code, reason: event.reason };
    const error = event.error;

    if (this.current === SupervisorState.STOPPING || this.current === SupervisorState.STOPPED) {
      this.setState(SupervisorState.STOPPED);
      this.notifyClose(event, undefined);
      this.finishStop();
      return;
    }
    if (!this.networkUp) {
      this.setState(SupervisorState.WAITING_FOR_NETWORK);
      this.notifyClose(event, undefined);
      return;
    }
    // A connection that ended without proving stable counts as a failure, as does an attempt
    // that never opened: the window doubles. (A stable one reset `failures` to 0 and waits
    // out the first window: even a clean 1000 from a long-lived connection is not followed
    // by an instant retry, so a server closing everything at once cannot cause a storm.)
    const attempt = this.failures;
    // Refused credentials wait at the long end of the policy: the next attempts would be
    // refused too, until the token is fixed (backoff.ts, unauthorizedDelay).
    const unauthorized = error?.code === ErrorCode.UNAUTHORIZED;
    const delay = unauthorized
      ? unauthorizedDelay(this.policy, randomUnit(this.host.random))
      : backoffDelay(attempt, this.policy, randomUnit(this.host.random));
    this.failures = attempt + 1;
    this.retryDelay = delay;
    if (unauthorized) {
      this.counters.unauthorized++;
      this.log("warn", "ws_unauthorized", { status: (error as { status?: number }).status ?? null, delayMs: delay, refusals: this.counters.unauthorized });
    }
    this.log("info", "ws_backoff", {
      delayMs: delay,
      attempt,
      code: event.code,
      reason: event.reason,
      ...(error ? { error: error.code } : {}),
    });
    this.timer = this.host.timers.set(this.onTimer, delay);
    this.setState(SupervisorState.BACKOFF);
    // onState may have stopped us or taken the network down: report what now holds.
    this.notifyClose(event, this.current === SupervisorState.BACKOFF ? this.retryDelay : undefined);
  }

  /**
   * Ends the live client at once. The real client reports onClose synchronously from
   * terminate(); a client that does not is treated as closed all the same (its late
   * onClose is ignored), so no caller ever waits on a client that went quiet.
   */
  private dropClient(error: WebSocketError | undefined): void {
    const generation = this.live;
    if (generation === 0) {
      // Nothing live (say, stop() from inside the client's constructor): settle the state.
      if (this.current === SupervisorState.STOPPING) {
        this.setState(SupervisorState.STOPPED);
        this.finishStop();
      }
      return;
    }
    const client = this.client;
    const unsentBytes = client ? safeBufferedAmount(client) : 0;
    try {
      client?.terminate(error);
    } catch {
      // Nothing more can be done with it.
    }
    if (generation === this.live) {
      const reason = error?.message ?? "terminated by the supervisor";
      const event: CloseEvent = { code: CloseCode.ABNORMAL, reason, wasClean: false, unsentBytes };
      if (error) event.error = error;
      this.clientClosed(generation, event);
    }
  }

  private finishStop(): void {
    this.log("info", "ws_stopped", {});
    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const waiter of waiters) this.guard("onStopped", waiter);
  }

  // --- the open connection: the heartbeat's timer, the stable mark ---

  private timerFired(): void {
    this.timer = undefined;
    if (this.current === SupervisorState.BACKOFF) {
      this.connect();
    } else if (this.current === SupervisorState.OPEN) {
      this.schedule(this.host.timers.now());
    }
  }

  /** Does what the heartbeat has due at `now` and arms the timer for its next ping or deadline. */
  private schedule(now: number): void {
    const heartbeat = this.heartbeat;
    if (!heartbeat) return;
    const next = heartbeat.check(now, this.sendPing);
    if (next === HEARTBEAT_DEAD) {
      this.heartbeatTimedOut(heartbeat.options);
      return;
    }
    this.timer = this.host.timers.set(this.onTimer, next - now);
  }

  private heartbeatTimedOut(heartbeat: Readonly<HeartbeatOptions>): void {
    this.counters.heartbeatTimeouts++;
    this.log("warn", "ws_heartbeat_timeout", {
      intervalMs: heartbeat.intervalMs,
      timeoutMs: heartbeat.timeoutMs,
      heartbeatTimeouts: this.counters.heartbeatTimeouts,
    });
    this.dropClient(
      new WebSocketError(
        ErrorCode.HEARTBEAT_TIMEOUT,
        `no frame from the server within heartbeat.timeoutMs (${heartbeat.timeoutMs} ms) of a ping: connection presumed dead`,
      ),
    );
  }

  /**
   * A message from the server: a sign of life for the heartbeat and, stableMs or more after
   * the opening, the proof that this connection is stable: the backoff starts afresh.
   */
  private messageArrived(): void {
    this.heartbeat?.frameArrived();
    if (this.stable || this.host.timers.now() - this.openedAt < this.stableMs) return;
    this.stable = true;
    if (this.failures !== 0) this.log("debug", "ws_backoff_reset", { stableMs: this.stableMs, failures: this.failures });
    this.failures = 0;
    this.provedLasting();
  }

  private pongArrived(payload: Uint8Array): void {
    const rtt = this.heartbeat?.pongArrived(payload, this.host.timers.now());
    if (rtt === undefined) return; // unsolicited, or an older ping's
    this.counters.lastRttMs = rtt;
    this.log("debug", "ws_rtt", { rttMs: rtt });
    this.provedLasting();
  }

  /**
   * onStable, once per connection: the server answered (a message, or a pong to our ping)
   * stableMs or more after the opening, so this connection lasted. A pong is enough here
   * (src/health: a device in safe mode sends no telemetry and may get no message), though
   * only a message resets the backoff (messageArrived).
   */
  private provedLasting(): void {
    if (this.lasting || this.host.timers.now() - this.openedAt < this.stableMs) return;
    this.lasting = true;
    const onStable = this.callbacks.onStable;
    if (onStable) this.guard("onStable", onStable);
  }

  // --- helpers ---

  private clearTimer(): void {
    if (this.timer !== undefined) {
      this.host.timers.clear(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Moves to `state` and tells onState. Returns whether `state` still holds afterwards:
   * onState may call stop() or setNetwork(), and the caller must then not go on.
   */
  private setState(state: SupervisorStateValue): boolean {
    if (state === this.current) return true;
    this.current = state;
    this.log("debug", "ws_supervisor_state", { state });
    const onState = this.callbacks.onState;
    if (onState) this.guard("onState", () => onState(state));
    return this.current === state;
  }

  private notifyClose(event: CloseEvent, retryInMs: number | undefined): void {
    const onClose = this.callbacks.onClose;
    if (onClose) this.guard("onClose", () => onClose(event, retryInMs));
  }

  /** Runs an application callback whose throw must not break the supervisor's state. */
  private guard(name: string, callback: () => void): void {
    try {
      callback();
    } catch (thrown) {
      this.log("error", "supervisor_callback_failed", { callback: name, message: messageOf(thrown) });
    }
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.host.log?.(level, event, fields);
  }
}

/** The server refused the device's credentials: ERR_UNAUTHORIZED (MQTT), or HTTP 401 to the handshake. */

function safeBufferedAmount(client: ClientLike): number {
  try {
    return client.bufferedAmount;
  } catch {
    return 0;
  }
}

function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
