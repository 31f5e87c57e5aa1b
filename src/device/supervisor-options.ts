/**
 * The connection supervisor's options (src/device/supervisor.ts) and their validation, up
 * front: everything a connection attempt would only discover later (the URL, the host, the
 * client's protocols, headers, limits and TLS options, a wss:// URL on a host without TLS)
 * is reported once, at construction, with an error naming it, never retried forever.
 */
import { resolveBackoff, type BackoffPolicy } from "./backoff.js";
import { resolveHeartbeat, type HeartbeatOptions } from "./heartbeat.js";
import type { SupervisorStateValue } from "./supervisor.js";
import { ErrorCode, WebSocketError, invalidOption } from "../shared/errors.js";
import type { NetHost } from "../shared/host.js";
import {
  checkBoolean,
  checkCallbacks,
  checkKnownKeys,
  MAX_TIMEOUT_MS,
  checkObject,
  optionalInteger,
} from "../shared/options.js";
import type { CloseEvent, WebSocketClient, WebSocketClientOptions } from "../websocket/client.js";
import { resolveTls } from "../websocket/tls-options.js";
import { validateHeaders, validateProtocols } from "../websocket/handshake.js";
import { resolveClientLimits, validateHost } from "../websocket/options.js";
import { parseWebSocketUrl, type WebSocketUrl } from "../websocket/url.js";

/**
 * A connection on which the server is still sending messages this long after it opened
 * resets the backoff, ms.
 */
export const DEFAULT_STABLE_MS = 30_000;

/** What the supervisor needs of a client: the WebSocketClient API (a fake in unit tests). */
export type ClientLike = Pick<
  WebSocketClient,
  "send" | "ping" | "close" | "terminate" | "readyState" | "bufferedAmount"
>;
export type ClientFactory = (options: WebSocketClientOptions) => ClientLike;

/** The options the supervisor passes on to each client. */
export type SupervisedClientOptions = Pick<WebSocketClientOptions, "protocols" | "headers" | "limits" | "tls">;

export interface SupervisorOptions {
  url: string;
  host: NetHost;
  /** Passed to each WebSocketClient: protocols, headers, limits, tls. */
  client?: SupervisedClientOptions;
  backoff?: Partial<BackoffPolicy>;
  /** A message from the server this long (ms) or more after the opening resets the backoff. */
  stableMs?: number;
  /** false turns liveness checks off (default on). */
  heartbeat?: Partial<HeartbeatOptions> | false;
  /** Whether the network is up at start (default true); see setNetwork(). */
  networkUp?: boolean;
  /** Makes clients; defaults to `new WebSocketClient(options)`. */
  createClient?: ClientFactory;
  /** A connection opened (after the handshake). */
  onOpen?: (protocol: string) => void;
  /** A message arrived on the current connection. */
  onMessage?: (data: string | Uint8Array) => void;
  /**
   * A connection (or attempt) ended. `retryInMs` is the delay before the next attempt, or
   * undefined when none is scheduled (stopped, or waiting for the network).
   */
  onClose?: (event: CloseEvent, retryInMs: number | undefined) => void;
  /** The supervisor's state changed. */
  onState?: (state: SupervisorStateValue) => void;
  /** The open connection proved stable (a message stableMs or more after it opened); once per connection. */
  onStable?: () => void;
}

/** The options, checked, with the defaults filled in. */
export interface CheckedSupervisorOptions {
  url: string;
  host: NetHost;
  client: SupervisedClientOptions;
  policy: BackoffPolicy;
  stableMs: number;
  /** undefined: the heartbeat is off. */
  heartbeat: HeartbeatOptions | undefined;
  networkUp: boolean;
}

const CALLBACKS = Object.freeze(["createClient", "onOpen", "onMessage", "onClose", "onState", "onStable"] as const);
const OPTION_NAMES = Object.freeze([
  "url",
  "host",
  "client",
  "backoff",
  "stableMs",
  "heartbeat",
  "networkUp",
  ...CALLBACKS,
] as const);
const CLIENT_OPTION_NAMES = Object.freeze(["protocols", "headers", "limits", "tls"] as const);

/** Validates a supervisor's options; errors name the bad one. */
export function checkSupervisorOptions(options: SupervisorOptions): CheckedSupervisorOptions {
  const given = checkObject("options", options);
  // Top-level keys are named as the caller spelled them (checkKnownKeys would prefix them).
  for (const key of Object.keys(given)) {
    if (!(OPTION_NAMES as readonly string[]).includes(key)) {
      throw invalidOption(key, `one of ${OPTION_NAMES.join(", ")} (unknown option)`, given[key]);
    }
  }
  if (typeof options.url !== "string") throw invalidOption("url", "a string", options.url);
  const url = parseWebSocketUrl(options.url);
  const host = validateHost(options.host);
  checkCallbacks(given, CALLBACKS);
  checkTlsHost(options.url, url, host, options.createClient !== undefined);
  return {
    url: options.url,
    host,
    client: checkClientOptions(options.client, url),
    policy: resolveBackoff(options.backoff, "backoff"),
    stableMs: optionalInteger("stableMs", options.stableMs, DEFAULT_STABLE_MS, 1, MAX_TIMEOUT_MS, "milliseconds"),
    heartbeat: resolveHeartbeat(options.heartbeat),
    networkUp: options.networkUp === undefined ? true : checkBoolean("networkUp", options.networkUp),
  };
}

/** wss:// needs TLS from the host (or a client factory of the caller's, which may bring its own). */
function checkTlsHost(text: string, url: WebSocketUrl, host: NetHost, customClient: boolean): void {
  if (url.secure && !customClient && host.tls === undefined) {
    throw new WebSocketError(ErrorCode.INVALID_URL, `${text}: wss:// needs a host with TLS support, and this host has none`);
  }
}

/**
 * A new URL for a running supervisor (setUrl), checked as the constructor checks its `url`:
 * a WebSocket URL, TLS on the host for wss://, and the client's TLS options fitting it (they
 * need wss://). Throws the same errors; returns the URL.
 */
export function checkNewUrl(text: unknown, checked: Pick<CheckedSupervisorOptions, "host" | "client">, customClient: boolean): string {
  if (typeof text !== "string") throw invalidOption("url", "a string", text);
  const url = parseWebSocketUrl(text);
  checkTlsHost(text, url, checked.host, customClient);
  resolveTls(checked.client.tls, url, "client.tls");
  return text;
}

/** Validates the per-client options up front, so no attempt ever fails on them. */
function checkClientOptions(value: unknown, url: WebSocketUrl): SupervisedClientOptions {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption("client", "an object with protocols, headers, limits or tls", value);
  }
  checkKnownKeys("client", value as Record<string, unknown>, CLIENT_OPTION_NAMES);
  const options = value as SupervisedClientOptions;
  validateProtocols(options.protocols);
  validateHeaders(options.headers);
  resolveClientLimits(options.limits);
  resolveTls(options.tls, url, "client.tls");
  return options;
}
