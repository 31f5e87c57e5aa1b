// Companion server options: the defaults, the Misbehaviour and CompanionOptions types, and their validation.
import { isValidCloseCode } from "../src/websocket/constants.js";
import type { AuthLimits } from "./auth.js";
import { checkCloseReason } from "./commands.js";
import type { DeviceRegistry } from "./registry.js";
import type { OfferedImage } from "./ota.js";

export const DEFAULT_HOST = "127.0.0.1";
/** The port `npm run server` listens on without --port; the device connects to it by default (src/device/config.ts). */
export const DEFAULT_PORT = 8080;
/**
 * Largest message accepted from a device, bytes; a larger one is failed with 1009 by `ws`.
 * Devices send at most maxJsonBytes (8 KiB by default): this is generous, not unbounded.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** A request unanswered for this long is reported (`no_reply`, timeout) and forgotten, ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Unanswered requests remembered per connection; beyond it the oldest is forgotten. */
export const DEFAULT_MAX_PENDING_REQUESTS = 256;
/** Events kept in `history` for waitFor(). */
export const DEFAULT_HISTORY_LENGTH = 1000;
/** close(): how long devices get to answer the 1001 close frame before TCP is destroyed, ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000;
/** Nesting of the garbage "too deep" message: well past the device's maxJsonDepth (default 16). */
export const GARBAGE_DEPTH = 64;
/** Length of the garbage "too large" message, bytes: past maxJsonBytes (default 8192), within the device's 16 KiB message limit. */
export const GARBAGE_LARGE_BYTES = 9216;
/**
 * Close code for a connection replaced by a newer one of the same device id (private use,
 * RFC 6455 section 7.4.2): a stale half-open link never keeps its device out.
 */
export const CLOSE_REPLACED = 4001;
/** Close code for a connection whose device was removed from the registry, or given a new token. */
export const CLOSE_REVOKED = 4003;
/** How often the registry file is looked at for changes made by another process (revoking live connections), ms. */
export const DEFAULT_REGISTRY_CHECK_MS = 2000;

/** The ways the server misbehaves on purpose, for tests. Each can change at run time (setMisbehaviour). */
export interface Misbehaviour {
  /** Destroy each connection's TCP this long after it opens, with no close frame, ms. */
  dropAfterMs?: number | undefined;
  /** Close each connection this long after it opens, ms, with closeCode and closeReason. */
  closeAfterMs?: number | undefined;
  /** Default 1000. */
  closeCode?: number | undefined;
  /** Default "". At most 123 bytes of UTF-8. */
  closeReason?: string | undefined;
  /** Do not answer the devices' pings (the server still acks and sends requests). */
  noPong?: boolean | undefined;
  /** After each hello, send what the device must reject (see sendGarbage). */
  garbage?: boolean | undefined;
  /** Refuse every WebSocket upgrade with this HTTP status (200-599, not 101). */
  rejectStatus?: number | undefined;
  /** Never acknowledge telemetry (each connection starts with acks off). */
  noAck?: boolean | undefined;
}

export interface CompanionOptions extends Misbehaviour {
  /** Default 127.0.0.1: the server is for a developer's desk; --host to expose it. */
  host?: string;
  /**
   * Serve wss:// (TLS) with this certificate chain (PEM: the server's certificate, then any
   * intermediates) and its private key (PEM). Default: plain ws://.
   */
  tls?: { cert: string; key: string };
  /** Default DEFAULT_PORT; 0 for any free port. */
  port?: number;
  /** (device, boot) pairs whose telemetry sequence is remembered. Default 1000. */
  maxBoots?: number;
  maxMessageBytes?: number;
  requestTimeoutMs?: number;
  maxPendingRequests?: number;
  historyLength?: number;
  shutdownTimeoutMs?: number;
  /**
   * Admit only the devices of this registry, each with its own token (server/auth.ts).
   * Default: none, anyone is admitted (development mode).
   */
  registry?: DeviceRegistry;
  /** With a registry: the limits on failed attempts (server/auth.ts, DEFAULT_AUTH_LIMITS). */
  authLimits?: Partial<AuthLimits>;
  /** With a registry: how often its file is looked at for changes, ms (default DEFAULT_REGISTRY_CHECK_MS). */
  registryCheckMs?: number;
  /**
   * A signed firmware image (server/ota-image.ts) to offer every device whose hello reports
   * another version (server/ota.ts); `ota FILE` at the prompt sets or replaces it.
   */
  ota?: OfferedImage;
  /** Bytes per second each firmware transfer may take; default: as fast as the device asks. */
  otaRate?: number;
}
export function checkMs(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > 86_400_000)) {
    throw new RangeError(`${name} must be an integer number of milliseconds from 0 to 86400000, got ${String(value)}`);
  }
}

export function checkPositive(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1)) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

/** Validates misbehaviour options up front, naming the bad value. */
export function checkMisbehaviour(options: Misbehaviour): void {
  checkMs("dropAfterMs", options.dropAfterMs);
  checkMs("closeAfterMs", options.closeAfterMs);
  if (options.closeCode !== undefined && !(Number.isInteger(options.closeCode) && isValidCloseCode(options.closeCode))) {
    throw new RangeError(`closeCode must be one a close frame may carry (1000-1003, 1007-1014, 3000-4999), got ${String(options.closeCode)}`);
  }
  if (options.closeReason !== undefined) {
    try {
      checkCloseReason(options.closeReason);
    } catch (error) {
      throw new RangeError(`closeReason: ${(error as Error).message}`);
    }
  }
  const status = options.rejectStatus;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) {
    throw new RangeError(`rejectStatus must be an HTTP status from 200 to 599, got ${String(status)}`);
  }
}
