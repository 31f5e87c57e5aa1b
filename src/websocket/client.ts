/**
 * The RFC 6455 WebSocket client: the connection's state machine, the opening handshake
 * (section 4), the receive path through the pure Receiver (section 5), and the closing
 * handshake (section 7). What it sends waits in its Sender (sender.ts: the bounded queue,
 * the coalesced pong, the mask keys); its options are typed and validated in options.ts. It
 * touches the platform only through the NetHost it is given.
 *
 * Lifecycle: CONNECTING -> OPEN -> CLOSING -> CLOSED, with onClose called exactly once at
 * the end whatever happened (refused, bad handshake, protocol error, lost connection,
 * clean close, deadline passed).
 *
 * Flow control: while bufferedAmount is above limits.readPauseBytes, the client reads
 * nothing from the socket (it stops between two messages, the rest of the chunk kept in
 * the Receiver) and goes on once the socket has taken the queue down to the mark. A peer
 * that sends faster than it reads is so slowed by TCP itself, and what the application
 * answers to each message finds room in the queue instead of ERR_BUFFER_FULL.
 */
import {
  CloseCode,
  MAX_CLOSE_REASON_BYTES,
  MAX_CONTROL_PAYLOAD,
  isValidCloseCode,
  type Limits,
} from "./constants.js";
import {
  ErrorCode,
  HandshakeError,
  WebSocketError,
  handshakeError,
  invalidArgument,
  invalidState,
} from "../shared/errors.js";
import {
  HandshakeResponseParser,
  encodeHandshakeRequest,
  expectedAccept,
  makeHandshakeKey,
  validateHandshakeResponse,
} from "./handshake.js";
import type { NetHost, TcpSocket, TimerId, TlsErrorCodeValue, Utf8Codec } from "../shared/host.js";
import { resolveClientOptions, type CloseEvent, type SendOptions, type WebSocketClientOptions } from "./options.js";
import { Receiver } from "./receiver.js";
import { redact, secretsOf } from "../shared/redact.js";
import { Sender } from "./sender.js";
import { sha1 as portableSha1 } from "./sha1.js";
import type { WebSocketUrl } from "./url.js";
import { utf8Length } from "./utf8.js";

// The client's API types, defined with their validation.
export type { CloseEvent, SendOptions, WebSocketClientOptions };
export type { ClientTlsOptions } from "./tls-options.js";
/** For src/device/supervisor.ts, which checks its client.tls up front: remove once it imports tls-options.js. */

export const ReadyState = Object.freeze({
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const);
export type ReadyStateValue = (typeof ReadyState)[keyof typeof ReadyState];

export class WebSocketClient {
  private readonly host: NetHost;
  private readonly limits: Limits;
  private readonly url: WebSocketUrl;
  private readonly callbacks: WebSocketClientOptions;
  /** The host's native UTF-8 codec, or the portable one. */
  private readonly utf8: Utf8Codec;

  private state: ReadyStateValue = ReadyState.CONNECTING;
  private socket: TcpSocket | undefined;
  private tcpConnected = false;
  private handshakeTimer: TimerId | undefined;
  private closeTimer: TimerId | undefined;
  private handshake: HandshakeResponseParser | undefined;
  private requestBytes: Uint8Array | undefined;
  private accept = "";
  private readonly offered: string[];
  /**
   * Words of our request headers' values (an Authorization token): never repeated in an
   * error or close reason, even when the server quotes them back.
   */
  private readonly secrets: string[];
  private selectedProtocol = "";
  private receiver: Receiver | undefined;
  /** bufferedAmount went over limits.readPauseBytes: the socket is not read until it drains. */
  private readingPaused = false;

  /** The send side: the queue of frames accepted and not yet written. */
  private readonly sender: Sender;

  // The close side.
  private closeSent = false;
  private closeReceived = false;
  private peerCode: number = CloseCode.NO_STATUS;
  private peerReason = "";
  private failure: WebSocketError | undefined;

  /**
   * Validates every option (throwing a WebSocketError ERR_INVALID_OPTION / ERR_INVALID_URL
   * that names the bad value) and starts connecting.
   */
  constructor(options: WebSocketClientOptions) {
    const { url, host, utf8, limits, protocols, headers, tls, tcp } = resolveClientOptions(options);
    this.url = url;
    this.host = host;
    this.utf8 = utf8;
    this.limits = limits;
    this.offered = protocols;
    this.secrets = secretsOf(headers.map((header) => header[1]));
    this.callbacks = options;
    this.sender = new Sender({
      host,
      utf8,
      maxBufferedBytes: limits.maxBufferedBytes,
    });
    if (tls?.insecure) {
      this.log("warn", "tls_insecure", {
        host: this.url.host,
        port: this.url.port,
        message: "certificate verification is OFF for this connection",
      });
    }

    const key = makeHandshakeKey(this.host.random);
    this.accept = expectedAccept(key, this.host.sha1 ?? portableSha1);
    this.requestBytes = encodeHandshakeRequest({
      url: this.url,
      key,
      protocols: this.offered,
      headers,
    });
    this.handshake = new HandshakeResponseParser(this.limits.maxHandshakeBytes);
    this.handshakeTimer = this.host.timers.set(() => this.onHandshakeTimeout(), this.limits.handshakeTimeoutMs);
    this.log("debug", "ws_connecting", { host: this.url.host, port: this.url.port });
    let socket: TcpSocket;
    try {
      socket = new tcp({
        host: this.url.host,
        port: this.url.port,
        nodelay: true,
        onReadable: (count) => this.onReadable(count),
        onWritable: (count) => this.onWritable(count),
        onError: (message, code) => this.onSocketError(message, code),
        ...(tls ? { tls } : {}),
      });
    } catch (error) {
      // Some hosts throw synchronously (a malformed address, no free sockets).
      this.host.timers.clear(this.handshakeTimer);
      throw handshakeError(ErrorCode.CONNECT_FAILED, `could not connect to ${this.where()}: ${messageOf(error)}`);
    }
    // A host that reported a failure from inside its constructor has already closed us.
    if (this.state === ReadyState.CLOSED) socket.close();
    else this.socket = socket;
  }

  get readyState(): ReadyStateValue {
    return this.state;
  }

  /** The subprotocol the server selected, "" before open or when none. */
  get protocol(): string {
    return this.selectedProtocol;
  }

  /** Frame bytes accepted by send()/ping() and not yet handed to the socket. */
  get bufferedAmount(): number {
    return this.sender.bufferedAmount;
  }

  /** The effective limits (defaults merged with the options). */
  get effectiveLimits(): Readonly<Limits> {
    return this.limits;
  }

  /**
   * Sends a text (string) or binary (Uint8Array) message or fragment. Throws
   * ERR_INVALID_STATE when not open, ERR_BUFFER_FULL when it would take bufferedAmount past
   * limits.maxBufferedBytes (nothing is queued then), ERR_INVALID_ARGUMENT for a fragment
   * whose type differs from the message it continues.
   */
  send(data: string | Uint8Array, options?: SendOptions): void {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw invalidArgument(`send() takes a string or a Uint8Array, got ${typeof data}`);
    }
    if (this.state !== ReadyState.OPEN || this.closeSent) this.requireOpen("send");
    this.sender.send(data, options?.more === true);
    // flush(), inline: this runs for every message.
    const socket = this.socket;
    if (socket && this.tcpConnected) this.sender.flush(socket);
  }

  /** Sends a ping (payload up to 125 bytes); the peer's pong arrives at onPong. */
  ping(payload: string | Uint8Array = new Uint8Array(0)): void {
    const bytes = typeof payload === "string" ? this.utf8.encode(payload) : payload;
    if (!(bytes instanceof Uint8Array) || bytes.length > MAX_CONTROL_PAYLOAD) {
      throw invalidArgument(`ping payload must be at most ${MAX_CONTROL_PAYLOAD} bytes`);
    }
    this.requireOpen("ping");
    this.sender.ping(bytes);
    this.flush();
  }

  /**
   * Starts the closing handshake. `code` is any code valid on the wire (section 7.4: 1000,
   * 1001 when the device goes away, 1002-1003, 1007-1014, 3000-4999; default 1000); `reason`
   * is at most 123 UTF-8 bytes. Throws ERR_INVALID_ARGUMENT for others. While connecting,
   * abandons the attempt (onClose gets 1006); when already closing or closed, does nothing.
   */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (typeof code !== "number" || !Number.isInteger(code) || !isValidCloseCode(code)) {
      throw invalidArgument(
        `close code must be 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 section 7.4), got ${String(code)}`,
      );
    }
    if (typeof reason !== "string" || utf8Length(reason) > MAX_CLOSE_REASON_BYTES) {
      throw invalidArgument(`close reason must be a string of at most ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes`);
    }
    if (this.state === ReadyState.CONNECTING) {
      this.finish(CloseCode.ABNORMAL, "closed before the connection was established", false, undefined);
      return;
    }
    if (this.state !== ReadyState.OPEN) return;
    this.startClosing(code, reason);
  }

  /**
   * Drops the connection at once, without a closing handshake: for a peer that stopped
   * answering (half-open TCP), where waiting for a close frame would only add closeTimeoutMs.
   * onClose gets 1006 and, when given, `error`. Does nothing once closed.
   */
  terminate(error?: WebSocketError): void {
    this.finish(CloseCode.ABNORMAL, error ? "" : "terminated by the application", false, error);
  }

  // --- the opening handshake ---

  private onWritable(count: number): void {
    if (this.state === ReadyState.CLOSED) return;
    this.sender.setWritable(count);
    if (!this.tcpConnected) {
      this.tcpConnected = true;
      const request = this.requestBytes!;
      this.requestBytes = undefined;
      // The request (a few hundred bytes) goes through the queue like any frame.
      this.sender.queueRequest(request);
    }
    this.flush();
    if (this.sender.takeDrained() && this.state === ReadyState.OPEN) this.call("onDrain");
    this.resumeReadingIfDrained();
  }

  /**
   * Reads and parses what the socket has: `count` bytes when the socket says how many (ECMA-419
   * onReadable: no second read() to learn that nothing is left), else until read() has none.
   * Bytes are left unread only while reading is paused, and resuming reads until none is left,
   * so `count` is always all there is.
   */
  private onReadable(count?: number): void {
    let left = count === undefined ? -1 : count;
    for (;;) {
      const socket = this.socket;
      if (this.state === ReadyState.CLOSED || !socket || this.readingPaused) return;
      const bytes = socket.read();
      if (!bytes || bytes.length === 0) return;
      if (this.state === ReadyState.CONNECTING) this.onHandshakeBytes(bytes);
      else this.receiver?.push(bytes);
      if (left >= 0 && (left -= bytes.length) <= 0) return;
    }
  }

  private onHandshakeBytes(bytes: Uint8Array): void {
    let rest: Uint8Array;
    try {
      const result = this.handshake!.push(bytes);
      if (!result.done) return;
      const accepted = validateHandshakeResponse(result.head, {
        accept: this.accept,
        protocols: this.offered,
      });
      this.selectedProtocol = accepted.protocol;
      rest = result.rest;
    } catch (thrown) {
      // The message may quote the server's status line and headers: no secret of ours in it.
      const error = this.withoutSecrets(asWebSocketError(thrown));
      this.finish(CloseCode.ABNORMAL, error.message, false, error);
      return;
    }
    this.handshake = undefined;
    this.host.timers.clear(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.state = ReadyState.OPEN;
    this.receiver = new Receiver(
      {
        onMessage: (data) => this.onReceiverMessage(data),
        onPing: (payload) => this.onReceiverPing(payload),
        onPong: (payload) => {
          if (!this.failure) this.call("onPong", payload);
        },
        onClose: (code, reason) => this.onReceiverClose(code, reason),
        onError: (error) => this.fail(error),
      },
      { maxMessageBytes: this.limits.maxMessageBytes, maxFrameBytes: this.limits.maxFrameBytes },
      // Called as methods: a host's codec may be a class instance.
      (bytes) => this.utf8.decode(bytes),
      this.utf8.decodeChecked ? (bytes) => this.utf8.decodeChecked!(bytes) : undefined,
    );
    this.log("info", "ws_open", { host: this.url.host, port: this.url.port, protocol: this.selectedProtocol });
    this.call("onOpen", this.selectedProtocol);
    // The server's first frames may have come in the same TCP segment as its 101.
    // (finish() drops the receiver if onOpen closed the connection.)
    if (rest.length > 0) this.receiver?.push(rest);
  }

  private onHandshakeTimeout(): void {
    this.handshakeTimer = undefined;
    if (this.state !== ReadyState.CONNECTING) return;
    const what = this.tcpConnected
      ? "no handshake response"
      : this.url.secure
        ? "no TLS connection"
        : "no TCP connection";
    this.finish(
      CloseCode.ABNORMAL,
      "",
      false,
      handshakeError(
        ErrorCode.HANDSHAKE_TIMEOUT,
        `${what} from ${this.where()} within handshakeTimeoutMs (${this.limits.handshakeTimeoutMs} ms)`,
      ),
    );
  }

  // --- receiving ---

  private onReceiverMessage(data: string | Uint8Array): void {
    // After we failed the connection, nothing more reaches the application.
    if (this.failure) return;
    // call("onMessage", data), without its rest arguments: this runs for every message.
    const onMessage = this.callbacks.onMessage;
    if (onMessage) {
      try {
        onMessage(data);
      } catch (thrown) {
        this.callbackFailed("onMessage", thrown);
      }
    }
    if (this.sender.bufferedAmount > this.limits.readPauseBytes) this.pauseReadingIfFull();
  }

  // --- flow control (limits.readPauseBytes) ---

  /**
   * After each message: when what is queued to send is over the mark, stop parsing (the
   * rest of the chunk waits in the Receiver) and stop reading the socket. The host then
   * keeps at most its own bounded buffer and TCP's window closes on the peer.
   */
  private pauseReadingIfFull(): void {
    if (this.readingPaused || this.sender.bufferedAmount <= this.limits.readPauseBytes) return;
    if (this.state === ReadyState.CLOSED || !this.receiver) return;
    this.readingPaused = true;
    this.receiver.pause();
    this.log("debug", "ws_read_paused", { bufferedAmount: this.sender.bufferedAmount });
  }

  /** The socket took the queue down to the mark: parse what was kept, then read again. */
  private resumeReadingIfDrained(): void {
    if (!this.readingPaused || this.sender.bufferedAmount > this.limits.readPauseBytes) return;
    this.readingPaused = false;
    this.log("debug", "ws_read_resumed", { bufferedAmount: this.sender.bufferedAmount });
    this.receiver?.resume();
    // A message parsed just now may have filled the queue again (readingPaused once more).
    // Otherwise the socket is read: it announces only bytes that arrive from now on.
    this.onReadable();
  }

  private onReceiverPing(payload: Uint8Array): void {
    if (this.failure) return;
    if (!this.closeSent) {
      // Section 5.5.3: answer with the same payload (one pong waits at most: sender.ts).
      this.sender.pong(payload);
      this.flush();
    }
    this.call("onPing", payload);
  }

  private onReceiverClose(code: number, peerReason: string): void {
    // The server's words go to the application, logs and status replies: none of our secrets.
    const reason = redact(peerReason, this.secrets);
    this.closeReceived = true;
    this.peerCode = code;
    this.peerReason = reason;
    if (this.failure) return;
    this.log("debug", "ws_close_received", { code, reason });
    if (!this.closeSent) {
      // Section 5.5.1: answer with a close frame; echoing the code is customary.
      // A close without a code (reported as 1005) is answered without one.
      this.sendClose(code === CloseCode.NO_STATUS ? undefined : code, "");
      this.state = ReadyState.CLOSING;
    }
    // Section 7.1.1: the server closes TCP first; wait for it within closeTimeoutMs.
    this.armCloseTimer();
  }

  // --- closing ---

  private startClosing(code: number, reason: string): void {
    this.state = ReadyState.CLOSING;
    this.sendClose(code, reason);
    this.armCloseTimer();
  }

  private sendClose(code: number | undefined, reason: string): void {
    this.closeSent = true;
    // The close frame always goes out, even past the send bound: it is at most 131 bytes.
    this.sender.close(code, reason);
    this.flush();
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== undefined) return;
    this.closeTimer = this.host.timers.set(() => this.onCloseTimeout(), this.limits.closeTimeoutMs);
  }

  private onCloseTimeout(): void {
    this.closeTimer = undefined;
    if (this.state === ReadyState.CLOSED) return;
    // When the close handshake completed but the server kept TCP open, this drops it.
    this.end(
      new WebSocketError(
        ErrorCode.CLOSE_TIMEOUT,
        `no close frame from ${this.where()} within closeTimeoutMs (${this.limits.closeTimeoutMs} ms)`,
      ),
    );
  }

  /**
   * An open or closing connection is over (TCP gone, or the close deadline passed): report
   * the failure, the completed close handshake, or else `incomplete` with 1006.
   */
  private end(incomplete: WebSocketError): void {
    if (this.failure) {
      const error = this.failure;
      this.finish(error.closeCode ?? CloseCode.INTERNAL_ERROR, error.message, false, error);
    } else if (this.closeReceived && this.closeSent) {
      this.finish(this.peerCode, this.peerReason, true, undefined);
    } else {
      this.finish(CloseCode.ABNORMAL, "", false, incomplete);
    }
  }

  /**
   * Fail the WebSocket Connection (section 7.1.7): queued data is dropped (a frame already
   * half-written is finished, so the close frame is readable), a close frame with the
   * error's code goes out, and TCP is dropped when the server closes or the deadline passes.
   */
  private fail(error: WebSocketError): void {
    if (this.failure || this.state === ReadyState.CLOSED) return;
    this.failure = error;
    this.log("warn", "ws_fail", { code: error.code, closeCode: error.closeCode, message: error.message });
    if (!this.closeSent) {
      this.sender.discardQueued();
      this.sendClose(error.closeCode ?? CloseCode.INTERNAL_ERROR, truncateReason(error.message));
    }
    this.state = ReadyState.CLOSING;
    this.armCloseTimer();
    // The queue was dropped: read on, to see the peer's close frame or the end of TCP.
    this.resumeReadingIfDrained();
  }

  private onSocketError(message: string | undefined, code: TlsErrorCodeValue | undefined): void {
    if (this.state === ReadyState.CLOSED) return;
    const detail = message ?? "connection closed";
    if (this.state === ReadyState.CONNECTING) {
      const error = code
        ? handshakeError(code, `TLS connection to ${this.where()} refused: ${detail}`)
        : this.tcpConnected
          ? handshakeError(ErrorCode.HANDSHAKE_CLOSED, `${this.where()} closed the connection during the handshake (${detail})`)
          : handshakeError(ErrorCode.CONNECT_FAILED, `could not connect to ${this.where()}: ${detail}`);
      this.finish(CloseCode.ABNORMAL, "", false, error);
    } else {
      this.end(
        new WebSocketError(
          ErrorCode.CONNECTION_LOST,
          `connection to ${this.where()} lost${this.closeSent ? " before the server answered the close" : ""}: ${detail}`,
        ),
      );
    }
  }

  /** The one way to CLOSED: release everything, then tell the application once. */
  private finish(code: number, reason: string, wasClean: boolean, error: WebSocketError | undefined): void {
    if (this.state === ReadyState.CLOSED) return;
    this.state = ReadyState.CLOSED;
    if (this.handshakeTimer !== undefined) this.host.timers.clear(this.handshakeTimer);
    if (this.closeTimer !== undefined) this.host.timers.clear(this.closeTimer);
    this.handshakeTimer = this.closeTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this.flushBeforeClose(socket);
    try {
      socket?.close();
    } catch {
      // Already closed by the peer: nothing left to release.
    }
    const unsentBytes = this.sender.release();
    this.receiver = undefined;
    this.handshake = undefined;
    this.requestBytes = undefined;
    const event: CloseEvent = { code, reason: reason || error?.message || "", wasClean, unsentBytes };
    if (error) event.error = error;
    this.log(wasClean ? "info" : "warn", "ws_closed", { code, reason: event.reason, wasClean, unsentBytes });
    try {
      this.callbacks.onClose?.(event);
    } catch (thrown) {
      // Nothing is left to fail: record it rather than break the host's event loop.
      this.log("error", "ws_callback_failed", { callback: "onClose", message: messageOf(thrown) });
    }
  }

  /** Our own close frame is worth a last write when the socket still takes bytes. */
  private flushBeforeClose(socket: TcpSocket | undefined): void {
    if (!socket || !this.closeSent || !this.tcpConnected) return;
    try {
      this.sender.flush(socket);
    } catch {
      // The socket is gone; the close frame cannot be delivered.
    }
  }

  // --- sending ---

  private requireOpen(what: string): void {
    if (this.state !== ReadyState.OPEN || this.closeSent) {
      const name = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"][this.state];
      throw invalidState(`${what}() needs an open connection; it is ${name}`);
    }
  }

  /** Hands the socket what it takes of the Sender's queue. */
  private flush(): void {
    const socket = this.socket;
    if (socket && this.tcpConnected) this.sender.flush(socket);
  }

  // --- helpers ---

  /** Calls an application callback; one that throws fails the connection with 1011. */
  private call<K extends "onOpen" | "onMessage" | "onPing" | "onPong" | "onDrain">(
    name: K,
    ...args: Parameters<NonNullable<WebSocketClientOptions[K]>>
  ): void {
    const callback = this.callbacks[name] as ((...a: unknown[]) => void) | undefined;
    if (!callback) return;
    try {
      callback(...args);
    } catch (thrown) {
      this.callbackFailed(name, thrown);
    }
  }

  /** An application callback threw: the connection fails with 1011. */
  private callbackFailed(name: string, thrown: unknown): void {
    const error = new WebSocketError(
      ErrorCode.CALLBACK_FAILED,
      `${name} threw: ${messageOf(thrown)}`,
      CloseCode.INTERNAL_ERROR,
    );
    (error as { cause?: unknown }).cause = thrown;
    this.fail(error);
  }

  /** `error` as it is, or the same error with our secrets hidden from its message. */
  private withoutSecrets(error: WebSocketError): WebSocketError {
    const message = redact(error.message, this.secrets);
    if (message === error.message) return error;
    return error instanceof HandshakeError
      ? new HandshakeError(error.code, message, error.status)
      : new WebSocketError(error.code, message, error.closeCode);
  }

  /** host:port for messages, IPv6 in brackets. */
  private where(): string {
    const host = this.url.host.includes(":") ? `[${this.url.host}]` : this.url.host;
    return `${host}:${this.url.port}`;
  }

  private log(level: "debug" | "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void {
    this.host.log?.(level, event, fields);
  }
}

function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}

function asWebSocketError(value: unknown): WebSocketError {
  if (value instanceof WebSocketError) return value;
  return handshakeError(ErrorCode.HANDSHAKE_MALFORMED, messageOf(value));
}

/** A close reason must fit a control frame: cut on a character boundary at 123 bytes. */
function truncateReason(message: string): string {
  let reason = message.length > MAX_CLOSE_REASON_BYTES ? message.slice(0, MAX_CLOSE_REASON_BYTES) : message;
  while (utf8Length(reason) > MAX_CLOSE_REASON_BYTES) reason = reason.slice(0, -1);
  return reason;
}
