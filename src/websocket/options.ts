/**
 * Up-front validation of the client's options: every bad value is reported at construction
 * with an error naming it, never discovered later in the middle of a connection.
 */
import {
  DEFAULT_LIMITS,
  MAX_CONTROL_PAYLOAD,
  MAX_LIMIT_BYTES,
  MAX_TIMEOUT_MS,
  type Limits,
} from "./constants.js";
import { invalidOption } from "../shared/errors.js";
import type { NetHost } from "../shared/host.js";

/**
 * Smallest accepted value of each limit. A frame or message limit below a control frame's
 * payload (125 bytes) would reject legal pings; the send buffer must hold a close frame
 * (131 bytes on the wire) with room to spare; a 101 response is rarely under 130 bytes.
 */
const MINIMUM: Limits = {
  maxMessageBytes: MAX_CONTROL_PAYLOAD,
  maxFrameBytes: MAX_CONTROL_PAYLOAD,
  maxBufferedBytes: 256,
  maxHandshakeBytes: 256,
  handshakeTimeoutMs: 1,
  closeTimeoutMs: 1,
};

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

/**
 * Merges `partial` over the defaults, validating each value. maxFrameBytes defaults to the
 * resolved maxMessageBytes (raising only the message limit must not leave single-frame
 * messages capped at the default frame size) and may not exceed it.
 */
export function resolveLimits(partial: unknown): Limits {
  if (partial === undefined) return { ...DEFAULT_LIMITS };
  if (typeof partial !== "object" || partial === null || Array.isArray(partial)) {
    throw invalidOption("limits", "an object", partial);
  }
  const given = partial as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(LIMIT_NAMES as string[]).includes(key)) {
      throw invalidOption(`limits.${key}`, `one of ${LIMIT_NAMES.join(", ")}`, key);
    }
  }
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const name of LIMIT_NAMES) {
    const value = given[name];
    if (value === undefined) continue;
    const max = name.endsWith("Ms") ? MAX_TIMEOUT_MS : MAX_LIMIT_BYTES;
    limits[name] = checkInteger(`limits.${name}`, value, MINIMUM[name], max);
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
  return limits;
}

/** Checks that the host gives what the client calls. */
export function validateHost(host: unknown): NetHost {
  if (typeof host !== "object" || host === null) throw invalidOption("host", "an object", host);
  const h = host as Record<string, unknown>;
  if (typeof h.tcp !== "function") throw invalidOption("host.tcp", "a TCP socket constructor", h.tcp);
  const timers = h.timers as Record<string, unknown> | undefined;
  if (
    typeof timers !== "object" ||
    timers === null ||
    typeof timers.set !== "function" ||
    typeof timers.clear !== "function" ||
    typeof timers.now !== "function"
  ) {
    throw invalidOption("host.timers", "an object with set, clear and now", timers);
  }
  if (typeof h.random !== "function") throw invalidOption("host.random", "a function", h.random);
  if (h.sha1 !== undefined && typeof h.sha1 !== "function") {
    throw invalidOption("host.sha1", "a function", h.sha1);
  }
  if (h.log !== undefined && typeof h.log !== "function") {
    throw invalidOption("host.log", "a function", h.log);
  }
  return host as NetHost;
}

/** Callbacks are optional, but when given they must be functions. */
export function validateCallbacks(options: Record<string, unknown>, names: readonly string[]): void {
  for (const name of names) {
    const value = options[name];
    if (value !== undefined && typeof value !== "function") {
      throw invalidOption(name, "a function", value);
    }
  }
}
