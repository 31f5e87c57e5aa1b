/**
 * Retry policy: exponential backoff with full jitter, as a pure function. The caller gives
 * the attempt number and a random number and does the waiting (the shape of FreeRTOS's
 * backoffAlgorithm). Full jitter spreads a fleet's reconnects after a server restart: every
 * device draws its delay uniformly from the whole window, instead of all retrying at the
 * same doubling instants (the "thundering herd" that knocks a restarted server over again).
 */
import { invalidOption } from "../shared/errors.js";
import type { RandomSource } from "../shared/host.js";
import { checkInteger, checkKnownKeys, MAX_TIMEOUT_MS } from "../shared/options.js";

export interface BackoffPolicy {
  /** Upper bound of the first retry's delay, milliseconds. */
  baseMs: number;
  /** No delay exceeds this, milliseconds. */
  capMs: number;
  /**
   * No delay is shorter than this, milliseconds: full jitter can draw ~0, and a retry loop
   * must never spin, whatever the peer does.
   */
  minMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 1_000, capMs: 60_000, minMs: 100 });

/**
 * Largest exponent used. baseMs >= 1 and capMs <= MAX_TIMEOUT_MS (86 400 000 < 2^27), so
 * from attempt 27 on the window is the cap anyway; 2^31 * MAX_TIMEOUT_MS is still an exact,
 * finite double, so clamping here can never overflow to Infinity or lose the cap.
 */
const MAX_EXPONENT = 31;

/**
 * The delay before retry number `attempt` (0 for the first retry), in milliseconds:
 * max(minMs, floor(random * min(capMs, baseMs * 2^attempt))). `random` is in [0, 1).
 * Never overflows for large attempts (the exponent is clamped), never NaN.
 *
 * Out-of-contract inputs are made harmless rather than thrown at, because a retry loop must
 * never die on its own arithmetic: an attempt that is negative, fractional or NaN counts as
 * its floor (NaN and negatives as 0); a random that is NaN or below 0 counts as 0, and one
 * of 1 or more as the largest value below 1. The result is always an integer in
 * [minMs, capMs] for a policy that resolveBackoff accepts.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: number): number {
  const exponent = attempt > 0 ? (attempt < MAX_EXPONENT ? Math.floor(attempt) : MAX_EXPONENT) : 0;
  const grown = policy.baseMs * 2 ** exponent;
  const window = grown < policy.capMs ? grown : policy.capMs;
  // `random >= 0` is false for NaN too.
  const unit = random >= 0 ? (random < 1 ? random : ONE_MINUS_EPSILON) : 0;
  const jittered = Math.floor(unit * window);
  if (jittered < policy.minMs) return policy.minMs;
  return jittered < policy.capMs ? jittered : policy.capMs;
}

/**
 * The delay after the server refused the credentials (ERR_UNAUTHORIZED), in milliseconds:
 * drawn uniformly from the long end of the policy, [capMs / 2, capMs]. A token that was
 * refused stays refused until someone registers or fixes it, which takes a person minutes,
 * not the first retries' second: retrying sooner only loads the server (and its lockout of
 * repeated failures would then refuse the device for longer). Jitter still spreads a fleet
 * whose tokens were all revoked at once. Same input rules as backoffDelay.
 */
export function unauthorizedDelay(policy: BackoffPolicy, random: number): number {
  const unit = random >= 0 ? (random < 1 ? random : ONE_MINUS_EPSILON) : 0;
  const half = Math.ceil(policy.capMs / 2);
  const delay = half + Math.floor(unit * (policy.capMs - half + 1));
  return delay < policy.minMs ? policy.minMs : delay;
}

/** The largest double below 1. */
const ONE_MINUS_EPSILON = 1 - 2 ** -53;

const POLICY_KEYS = Object.freeze(["baseMs", "capMs", "minMs"] as const);

/**
 * Validates a partial policy merged over DEFAULT_BACKOFF; errors (invalidOption from
 * src/shared/errors.ts) name the option as `${name}.baseMs` etc. Requires integers with
 * 0 <= minMs <= baseMs <= capMs <= MAX_TIMEOUT_MS and baseMs >= 1.
 *
 * `defaults` (added; optional, DEFAULT_BACKOFF when absent) lets another user of the policy
 * (the WiFi manager retries on a slower scale) merge over its own defaults.
 */
export function resolveBackoff(
  partial: unknown,
  name: string,
  defaults: Readonly<BackoffPolicy> = DEFAULT_BACKOFF,
): BackoffPolicy {
  const policy: BackoffPolicy = { baseMs: defaults.baseMs, capMs: defaults.capMs, minMs: defaults.minMs };
  if (partial !== undefined) {
    if (typeof partial !== "object" || partial === null || Array.isArray(partial)) {
      throw invalidOption(name, "an object with baseMs, capMs and minMs", partial);
    }
    const given = partial as Record<string, unknown>;
    checkKnownKeys(name, given, POLICY_KEYS);
    for (const key of POLICY_KEYS) {
      const value = given[key];
      if (value === undefined) continue;
      policy[key] = checkInteger(`${name}.${key}`, value, key === "baseMs" ? 1 : 0, MAX_TIMEOUT_MS, "milliseconds");
    }
  }
  // The order constraints, checked on the merged policy. The error names the value the
  // caller gave, compared with the one it clashes with (possibly a default).
  const gave = (key: string): boolean =>
    partial !== undefined && (partial as Record<string, unknown>)[key] !== undefined;
  if (policy.minMs > policy.baseMs) {
    throw gave("minMs")
      ? invalidOption(`${name}.minMs`, `at most ${name}.baseMs (${policy.baseMs})`, policy.minMs)
      : invalidOption(`${name}.baseMs`, `at least ${name}.minMs (${policy.minMs})`, policy.baseMs);
  }
  if (policy.baseMs > policy.capMs) {
    throw gave("capMs")
      ? invalidOption(`${name}.capMs`, `at least ${name}.baseMs (${policy.baseMs})`, policy.capMs)
      : invalidOption(`${name}.baseMs`, `at most ${name}.capMs (${policy.capMs})`, policy.baseMs);
  }
  return policy;
}

/** 2^32: four random bytes as an unsigned integer, scaled into [0, 1). */
const TWO_TO_32 = 4_294_967_296;

/**
 * A uniform number in [0, 1) from the host's random source (32 bits of it).
 * The 4-byte buffer is made per call (once per retry) rather than kept at module level:
 * on Moddable, objects made while a module is preloaded into flash are read-only.
 */
export function randomUnit(random: RandomSource): number {
  const scratch = new Uint8Array(4);
  random(scratch);
  const value = scratch[0]! * 16_777_216 + ((scratch[1]! << 16) | (scratch[2]! << 8) | scratch[3]!);
  return value / TWO_TO_32;
}

