/**
 * The RFC 6455 WebSocket client. STUB: the public API below is the contract; the
 * implementation is in progress.
 */
import type { Limits } from "./constants.js";
import type { WebSocketError } from "./errors.js";
import type { NetHost } from "./host.js";

export const ReadyState = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];

export interface CloseEvent {
  /**
   * The close code: the peer's (1005 when its close frame had none), the one we sent when
   * we failed the connection (1002, 1007, 1009), or 1006 when the connection ended without
   * a close frame (lost, handshake failed, close deadline passed).
   */
  code: number;
  /** The peer's reason, or a description of why we closed. */
  reason: string;
  /** True when close frames went both ways and TCP then closed (RFC 6455 section 7.1.4). */
  wasClean: boolean;
  /** The error that ended the connection, when one did. */
  error?: WebSocketError;
}

export interface WebSocketClientOptions {
  /** ws:// (or wss://, on a host that supports TLS) URL. */
  url: string;
  /** The platform: TCP, timers, randomness, SHA-1, log. */
  host: NetHost;
  /** Subprotocols to offer (Sec-WebSocket-Protocol). */
  protocols?: string | readonly string[];
  /** Extra request headers (an Authorization token, say). */
  headers?: Record<string, string> | ReadonlyArray<readonly [string, string]>;
  /** Any subset of the limits; the rest default to DEFAULT_LIMITS. */
  limits?: Partial<Limits>;
  /** The handshake succeeded; `protocol` is the selected subprotocol or "". */
  onOpen?: (protocol: string) => void;
  /** A complete message: a string for text, a Uint8Array for binary. */
  onMessage?: (data: string | Uint8Array) => void;
  /** A ping arrived (already answered with a pong). */
  onPing?: (payload: Uint8Array) => void;
  /** A pong arrived. */
  onPong?: (payload: Uint8Array) => void;
  /** bufferedAmount went down to 0: a good moment to send more. */
  onDrain?: () => void;
  /** Called exactly once, when the connection is closed for whatever reason. */
  onClose?: (event: CloseEvent) => void;
}

export interface SendOptions {
  /**
   * More fragments of this message follow (RFC 6455 section 5.4). The first fragment's
   * type (text or binary) is the message's; later fragments must be of the same type.
   * The message ends with a send() whose `more` is false or absent.
   */
  more?: boolean;
}

export class WebSocketClient {
  /**
   * Validates every option (throwing a WebSocketError ERR_INVALID_OPTION / ERR_INVALID_URL
   * that names the bad value) and starts connecting.
   */
  constructor(options: WebSocketClientOptions) {
    void options;
    throw new Error("not implemented");
  }
  get readyState(): ReadyStateValue {
    throw new Error("not implemented");
  }
  /** The subprotocol the server selected, "" before open or when none. */
  get protocol(): string {
    throw new Error("not implemented");
  }
  /** Bytes accepted by send()/ping() and not yet handed to the socket. */
  get bufferedAmount(): number {
    throw new Error("not implemented");
  }
  /**
   * Sends a text (string) or binary (Uint8Array) message or fragment. Throws
   * ERR_INVALID_STATE when not open, ERR_BUFFER_FULL when it would take bufferedAmount past
   * limits.maxBufferedBytes (nothing is queued then), ERR_INVALID_ARGUMENT for a fragment
   * whose type differs from the message it continues.
   */
  send(data: string | Uint8Array, options?: SendOptions): void {
    void data; void options;
    throw new Error("not implemented");
  }
  /** Sends a ping (payload up to 125 bytes). */
  ping(payload?: string | Uint8Array): void {
    void payload;
    throw new Error("not implemented");
  }
  /**
   * Starts the closing handshake. `code` is 1000 or 3000-4999 (default 1000); `reason` is
   * at most 123 UTF-8 bytes. Throws ERR_INVALID_ARGUMENT for others. While connecting,
   * abandons the attempt; when already closing or closed, does nothing.
   */
  close(code?: number, reason?: string): void {
    void code; void reason;
    throw new Error("not implemented");
  }
}
