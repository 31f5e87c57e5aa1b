/**
 * The echo agent: one WebSocket connection that sends every message it receives back
 * unchanged (text as text, binary as binary) until the connection closes. It is the client
 * shape Autobahn|Testsuite's fuzzing server drives (one test case per connection), and a
 * quick way to check the client against any server. Portable: the platform comes in
 * through `host`; hosts/node/echo-agent.ts is the command line around it.
 *
 * Backpressure: when send() refuses a message because the send buffer is full
 * (ERR_BUFFER_FULL), the agent keeps that one message and sends it at onDrain. It keeps at
 * most one such message: a further message arriving before the buffer drained would make
 * the backlog grow with the peer's sending rate, so the agent fails the connection with
 * 1008 (policy violation) instead, saying so in the reason. With AUTOBAHN_LIMITS the send
 * buffer holds a whole 16 MiB message, so a peer that waits for each echo (as every
 * Autobahn case does) never gets there.
 */
import { CloseCode, type Limits } from "./constants.js";
import { ErrorCode, WebSocketError } from "../shared/errors.js";
import type { Log, NetHost } from "../shared/host.js";
import { WebSocketClient, type ClientTlsOptions, type CloseEvent } from "./client.js";

const MiB = 1024 * 1024;

/** The connection opened, and then closed (with any close code). */
export const EXIT_CLOSED = 0;
/** The connection never opened: connect or handshake failure. */
export const EXIT_NOT_OPENED = 1;

/**
 * Limits for Autobahn|Testsuite's client cases (sections 1-7, 9 and 10), whose largest
 * messages and frames are 16 MiB (cases 9.1.6 and 9.2.6). The send buffer holds one such
 * message as a frame (payload plus at most 14 header bytes, RFC 6455 section 5.2) plus room
 * for pongs and a close frame, so a 16 MiB echo is accepted in one send(); the next message
 * is read only once the queue is down to 32 KiB, so its echo always fits too.
 */
export const AUTOBAHN_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 16 * MiB,
  maxFrameBytes: 16 * MiB,
  maxBufferedBytes: 16 * MiB + 64 * 1024,
  readPauseBytes: 32 * 1024,
  maxHandshakeBytes: 8 * 1024,
  handshakeTimeoutMs: 10_000,
  closeTimeoutMs: 5_000,
});

export interface EchoAgentOptions {
  /** ws:// URL to connect to (for Autobahn: ws://127.0.0.1:9001/runCase?case=N&agent=NAME). */
  url: string;
  host: NetHost;
  /** Limits for the client; the client's ESP32-sized defaults fill the rest. */
  limits?: Partial<Limits>;
  /** wss:// only: the CA to trust, public key pins, or no verification (the client's tls option). */
  tls?: ClientTlsOptions;
  /** The agent's own events (open, close, echo backlog); defaults to host.log. */
  log?: Log;
  /**
   * Called once when the agent is done: EXIT_CLOSED (0) after a connection that opened
   * and then closed, whatever the close code (the fuzzing server fails connections on
   * purpose); EXIT_NOT_OPENED (1) when it never opened, `reason` being the error message.
   */
  onExit: (code: number, reason: string) => void;
}

export interface EchoAgent {
  readonly client: WebSocketClient;
  /** Messages echoed so far. */
  readonly echoed: number;
  /** Closes the connection (1001, going away); onExit follows when it has closed. */
  stop(): void;
}

/**
 * Starts the agent. Throws (synchronously) what the client's constructor throws for a bad
 * URL or bad limits (WebSocketError ERR_INVALID_URL / ERR_INVALID_OPTION); every later
 * outcome arrives at onExit.
 */
export function startEchoAgent(options: EchoAgentOptions): EchoAgent {
  const log = options.log ?? options.host.log;
  let opened = false;
  let echoed = 0;
  /** The one message send() refused for a full buffer, waiting for onDrain. */
  let pending: string | Uint8Array | undefined;

  const echo = (data: string | Uint8Array): void => {
    // Once closing, send() refuses with ERR_INVALID_STATE, dropped below: nothing more goes out.
    try {
      client.send(data);
      echoed++;
    } catch (error) {
      if (error instanceof WebSocketError && error.code === ErrorCode.BUFFER_FULL) {
        if (client.bufferedAmount === 0) {
          // Refused with an empty buffer: this message alone is over maxBufferedBytes and
          // no drain will ever make room (limits smaller than the message limit).
          log?.("warn", "echo_too_big", { length: data.length });
          client.close(CloseCode.MESSAGE_TOO_BIG, "message too big for the echo's send buffer");
          return;
        }
        pending = data;
        log?.("debug", "echo_waiting_for_drain", { bufferedAmount: client.bufferedAmount });
      } else if (error instanceof WebSocketError && error.code === ErrorCode.INVALID_STATE) {
        // Closing (the peer's close frame came, or stop() was called): drop, as the peer will.
      } else {
        throw error;
      }
    }
  };

  const client = new WebSocketClient({
    url: options.url,
    host: options.host,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    onOpen: (protocol) => {
      opened = true;
      log?.("info", "echo_open", { url: options.url, protocol });
    },
    onMessage: (data) => {
      if (pending !== undefined) {
        // A second message while one is still waiting: refuse to grow the backlog.
        log?.("warn", "echo_backlog_full", { bytes: client.bufferedAmount });
        client.close(CloseCode.POLICY_VIOLATION, "echo backlog full: the peer sends faster than it reads");
        pending = undefined;
        return;
      }
      echo(data);
    },
    onDrain: () => {
      if (pending === undefined) return;
      const data = pending;
      pending = undefined;
      echo(data);
    },
    onClose: (event: CloseEvent) => {
      pending = undefined;
      log?.(opened ? "info" : "warn", "echo_closed", {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        echoed,
      });
      if (opened) {
        options.onExit(EXIT_CLOSED, `closed with ${event.code}${event.reason ? ` (${event.reason})` : ""}`);
      } else {
        options.onExit(EXIT_NOT_OPENED, event.error?.message ?? (event.reason || "the connection never opened"));
      }
    },
  });

  return {
    client,
    get echoed() {
      return echoed;
    },
    stop() {
      client.close(CloseCode.GOING_AWAY, "echo agent stopping");
    },
  };
}
