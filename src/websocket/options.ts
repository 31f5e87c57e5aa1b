/**
 * The client's options and their up-front validation: every bad value is reported at
 * construction with an error naming it, never discovered later in the middle of a
 * connection. Built on the project's one set of option checks (src/shared/options.ts); the
 * TLS option has its own module (tls-options.ts), shared with the build configuration.
 */
import {
  DEFAULT_LIMITS,
  DEFAULT_MASK_KEYS_PER_DRAW,
  MAX_CONTROL_PAYLOAD,
  MAX_LIMIT_BYTES,
  MAX_MASK_KEYS_PER_DRAW,
  MAX_TIMEOUT_MS,
  type Limits,
} from "./constants.js";
import { ErrorCode, invalidOption, WebSocketError } from "../shared/errors.js";
import type { NetHost, TcpSocketConstructor, TlsOptions, Utf8Codec } from "../shared/host.js";
import {
  checkCallbacks,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkMethods,
  checkObject,
  optionalInteger,
} from "../shared/options.js";
import { validateHeaders, validateProtocols } from "./handshake.js";
import { resolveTls, type ClientTlsOptions } from "./tls-options.js";
import { parseWebSocketUrl, type WebSocketUrl } from "./url.js";
import { portableUtf8 } from "./utf8.js";

export interface CloseEvent {
  /**
   * The close code: the peer's (1005 when its close frame had none), the one we sent when
   * we failed the connection (1002, 1007, 1009, 1011), or 1006 when the connection ended
   * without a close frame from the peer (lost, handshake failed, close deadline passed).
   */
  code: number;
  /** The peer's reason, or a description of why the connection ended. */
  reason: string;
  /** True when close frames went both ways (RFC 6455 section 7.1.4) and nothing failed. */
  wasClean: boolean;
  /** The error that ended the connection, when one did. */
  error?: WebSocketError;
  /**
   * Bytes accepted by send()/ping() that never reached the socket (frame bytes, as
   * bufferedAmount counts them): reported so nothing accepted is dropped silently.
   */
  unsentBytes: number;
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
  /**
   * For wss:// only: the CA to trust, public key pins, or (explicitly) no verification.
   * The server name (SNI, hostname check) is the URL's host.
   */
  tls?: ClientTlsOptions;
  /** The handshake succeeded; `protocol` is the selected subprotocol or "". */
  onOpen?: (protocol: string) => void;
  /** A complete message: a string for text, a Uint8Array for binary. */
  onMessage?: (data: string | Uint8Array) => void;
  /** A ping arrived (already answered with a pong). */
  onPing?: (payload: Uint8Array) => void;
  /** A pong arrived. */
  onPong?: (payload: Uint8Array) => void;
  /** bufferedAmount went down to 0 after the socket had to be waited for. */
  onDrain?: () => void;
  /**
   * Called exactly once, when the connection is closed for whatever reason. A callback
   * that throws (other than onClose) fails the connection with 1011, the thrown value
   * reported here as error.cause.
   */
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

const CALLBACKS = Object.freeze(["onOpen", "onMessage", "onPing", "onPong", "onDrain", "onClose"] as const);

/** The client's options, validated and resolved: what a connection is made from. */
export interface ResolvedClientOptions {
  url: WebSocketUrl;
  host: NetHost;
  /** The host's native UTF-8 codec, or the portable one. */
  utf8: Utf8Codec;
  limits: Limits;
  /** Subprotocols to offer, in order. */
  protocols: string[];
  /** Extra request headers as [name, value] pairs. */
  headers: Array<[string, string]>;
  /** What the host's TLS socket gets, for wss:// only. */
  tls: TlsOptions | undefined;
  /** The host's socket for the URL's scheme: TCP, or TLS for wss:// (never a downgrade). */
  tcp: TcpSocketConstructor;
}

/**
 * Validates every option of the client, throwing a WebSocketError (ERR_INVALID_OPTION, or
 * ERR_INVALID_URL for the URL and for wss:// on a host without TLS) that names the bad value.
 */
export function resolveClientOptions(options: WebSocketClientOptions): ResolvedClientOptions {
  checkObject("options", options);
  if (typeof options.url !== "string") throw invalidOption("url", "a string", options.url);
  const url = parseWebSocketUrl(options.url);
  const host = validateHost(options.host);
  const utf8 = checkUtf8Codec(host.utf8);
  const limits = resolveClientLimits(options.limits);
  const protocols = validateProtocols(options.protocols);
  const headers = validateHeaders(options.headers);
  checkCallbacks(options as unknown as Record<string, unknown>, CALLBACKS);
  const tls = resolveTls(options.tls, url);
  // TLS is the host's: never silently downgrade wss:// to ws://.
  const tcp = url.secure ? host.tls : host.tcp;
  if (!tcp) {
    throw new WebSocketError(
      ErrorCode.INVALID_URL,
      `${options.url}: wss:// needs a host with TLS support, and this host has none`,
    );
  }
  return { url, host, utf8, limits, protocols, headers, tls, tcp };
}

/**
 * Smallest accepted value of each limit. A frame or message limit below a control frame's
 * payload (125 bytes) would reject legal pings; the send buffer must hold a close frame
 * (131 bytes on the wire) with room to spare; a 101 response is rarely under 130 bytes.
 */
const MINIMUM: Readonly<Limits> = Object.freeze({
  maxMessageBytes: MAX_CONTROL_PAYLOAD,
  maxFrameBytes: MAX_CONTROL_PAYLOAD,
  maxBufferedBytes: 256,
  readPauseBytes: 0,
  maxHandshakeBytes: 256,
  handshakeTimeoutMs: 1,
  closeTimeoutMs: 1,
});

const LIMIT_NAMES = Object.freeze(Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>);

/**
 * The client's limits: `partial` merged over DEFAULT_LIMITS, each value validated.
 * maxFrameBytes defaults to the resolved maxMessageBytes (raising only the message limit
 * must not leave single-frame messages capped at the default frame size) and may not
 * exceed it; likewise readPauseBytes defaults to a quarter of the resolved maxBufferedBytes
 * and may not exceed it.
 */
export function resolveClientLimits(partial: unknown): Limits {
  if (partial === undefined) return { ...DEFAULT_LIMITS };
  const given = checkObject("limits", partial);
  checkKnownKeys("limits", given, LIMIT_NAMES);
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const name of LIMIT_NAMES) {
    const value = given[name];
    if (value === undefined) continue;
    limits[name] = name.endsWith("Ms")
      ? checkInteger(`limits.${name}`, value, MINIMUM[name], MAX_TIMEOUT_MS, "milliseconds")
      : checkInteger(`limits.${name}`, value, MINIMUM[name], MAX_LIMIT_BYTES, "bytes");
  }
  if (given.maxFrameBytes === undefined) {
    limits.maxFrameBytes = limits.maxMessageBytes;
  } else if (limits.maxFrameBytes > limits.maxMessageBytes) {
    throw invalidOption(
      "limits.maxFrameBytes",
      `at most limits.maxMessageBytes (${limits.maxMessageBytes})`,
      limits.maxFrameBytes,
    );
  }
  if (given.readPauseBytes === undefined) {
    if (given.maxBufferedBytes !== undefined) limits.readPauseBytes = Math.floor(limits.maxBufferedBytes / 4);
  } else if (limits.readPauseBytes > limits.maxBufferedBytes) {
    throw invalidOption(
      "limits.readPauseBytes",
      `at most limits.maxBufferedBytes (${limits.maxBufferedBytes})`,
      limits.readPauseBytes,
    );
  }
  return limits;
}

/** Checks that the host gives what the client calls. */
export function validateHost(host: unknown): NetHost {
  const given = checkObject("host", host);
  checkFunction("host.tcp", given.tcp, "a TCP socket constructor");
  checkMethods("host.timers", given.timers, ["set", "clear", "now"]);
  checkFunction("host.random", given.random);
  optionalInteger("host.maskKeysPerDraw", given.maskKeysPerDraw, DEFAULT_MASK_KEYS_PER_DRAW, 1, MAX_MASK_KEYS_PER_DRAW);
  checkCallbacks(given, ["sha1", "log"], "host.");
  return host as NetHost;
}

/** host.utf8, when given, must have both functions; absent, the portable codec is used. */
export function checkUtf8Codec(codec: unknown): Utf8Codec {
  if (codec === undefined) return portableUtf8;
  checkMethods("host.utf8", codec, ["encode", "decode"]);
  return codec as Utf8Codec;
}
