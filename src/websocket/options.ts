/**
 * Up-front validation of the client's options: every bad value is reported at construction
 * with an error naming it, never discovered later in the middle of a connection. Built on
 * the project's one set of option checks (src/shared/options.ts); the TLS option has its own
 * module (tls-options.ts), shared with the build configuration.
 */
import {
  DEFAULT_LIMITS,
  MAX_CONTROL_PAYLOAD,
  MAX_LIMIT_BYTES,
  MAX_TIMEOUT_MS,
  type Limits,
} from "./constants.js";
import { invalidOption } from "../shared/errors.js";
import type { NetHost, Utf8Codec } from "../shared/host.js";
import {
  checkCallbacks,
  checkFunction,
  checkInteger,
  checkKnownKeys,
  checkMethods,
  checkObject,
} from "../shared/options.js";
import { portableUtf8 } from "./utf8.js";

/**
 * Smallest accepted value of each limit. A frame or message limit below a control frame's
 * payload (125 bytes) would reject legal pings; the send buffer must hold a close frame
 * (131 bytes on the wire) with room to spare; a 101 response is rarely under 130 bytes.
 */
const MINIMUM: Readonly<Limits> = Object.freeze({
  maxMessageBytes: MAX_CONTROL_PAYLOAD,
  maxFrameBytes: MAX_CONTROL_PAYLOAD,
  maxBufferedBytes: 256,
  maxHandshakeBytes: 256,
  handshakeTimeoutMs: 1,
  closeTimeoutMs: 1,
});

const LIMIT_NAMES = Object.freeze(Object.keys(DEFAULT_LIMITS) as Array<keyof Limits>);

/**
 * The client's limits: `partial` merged over DEFAULT_LIMITS, each value validated.
 * maxFrameBytes defaults to the resolved maxMessageBytes (raising only the message limit
 * must not leave single-frame messages capped at the default frame size) and may not
 * exceed it.
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
  return limits;
}

/** Checks that the host gives what the client calls. */
export function validateHost(host: unknown): NetHost {
  const given = checkObject("host", host);
  checkFunction("host.tcp", given.tcp, "a TCP socket constructor");
  checkMethods("host.timers", given.timers, ["set", "clear", "now"]);
  checkFunction("host.random", given.random);
  checkCallbacks(given, ["sha1", "log"], "host.");
  return host as NetHost;
}

/** host.utf8, when given, must have both functions; absent, the portable codec is used. */
export function checkUtf8Codec(codec: unknown): Utf8Codec {
  if (codec === undefined) return portableUtf8;
  checkMethods("host.utf8", codec, ["encode", "decode"]);
  return codec as Utf8Codec;
}

// Former names, for src/device (supervisor.ts, wifi.ts) until it imports the ones above:
// remove them when it does.
/** @deprecated resolveClientLimits. */
export const resolveLimits = resolveClientLimits;
/** @deprecated checkCallbacks of src/shared/options.ts. */
export const validateCallbacks = checkCallbacks;
