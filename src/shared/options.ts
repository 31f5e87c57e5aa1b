/**
 * The one home of option validation: every option of every module (the client's limits, the
 * supervisor's heartbeat, the WiFi manager's timings, the outbox, the build config) is
 * checked with these, so a bad value always gets the same kind of error, naming the option
 * as the caller spelled it, what it must be (with its unit) and what it was.
 */
import { invalidArgument, invalidOption } from "./errors.js";

/** What an integer option counts, for the error message ("milliseconds", "bytes"...). */
export type Unit = "milliseconds" | "bytes" | "records" | "messages" | "attempts" | "characters" | "writes" | "";

/** The largest timeout any option accepts: one day, milliseconds. */
export const MAX_TIMEOUT_MS = 86_400_000;

/**
 * `value` as an integer in [min, max]; else an ERR_INVALID_OPTION error naming `name`, the
 * range with its `unit`, and the value given.
 */
export function checkInteger(name: string, value: unknown, min: number, max: number, unit: Unit = ""): number {
  if (!isIntegerIn(value, min, max)) throw invalidOption(name, integerRange(min, max, unit), value);
  return value;
}

/**
 * As checkInteger, for a function's argument rather than an option (a parser's bound, say):
 * an ERR_INVALID_ARGUMENT error.
 */
export function checkIntegerArgument(name: string, value: unknown, min: number, max: number, unit: Unit = ""): number {
  if (!isIntegerIn(value, min, max)) {
    throw invalidArgument(`${name} must be ${integerRange(min, max, unit)}, got ${String(value)}`);
  }
  return value;
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function integerRange(min: number, max: number, unit: Unit): string {
  return `an integer from ${min} to ${max}${unit === "" ? "" : ` (${unit})`}`;
}

/** As checkInteger, with `fallback` when the option was not given (undefined). */
export function optionalInteger(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  unit: Unit = "",
): number {
  return value === undefined ? fallback : checkInteger(name, value, min, max, unit);
}

/** `value` as a boolean; else an error naming `name`. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidOption(name, "true or false", value);
  return value;
}

/**
 * `value` as a string of at most `maxLength` characters. `secret` hides the value in the
 * error (a password, a token): the message then says "(hidden)".
 */
export function checkString(name: string, value: unknown, maxLength: number, secret = false): string {
  if (typeof value !== "string" || value.length > maxLength) {
    throw invalidOption(name, `a string of at most ${maxLength} characters`, secret ? "(hidden)" : value);
  }
  return value;
}

/** `value` as a plain object (not null, not an array); else an error naming `name`. */
export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidOption(name, "an object", value);
  }
  return value as Record<string, unknown>;
}

/** Every key of `given` must be one of `known`; the error names `${name}.${key}`. */
export function checkKnownKeys(name: string, given: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) {
      throw invalidOption(`${name}.${key}`, `one of ${known.join(", ")} (unknown option)`, given[key]);
    }
  }
}

/** `value` must be a function (`what` says which, for the error: "a TCP socket constructor"). */
export function checkFunction(name: string, value: unknown, what = "a function"): void {
  if (typeof value !== "function") throw invalidOption(name, what, value);
}

/**
 * Callbacks (or other optional functions) are optional, but when given they must be
 * functions; `prefix` goes before each name in the error ("host." for host.log).
 */
export function checkCallbacks(options: Record<string, unknown>, names: readonly string[], prefix = ""): void {
  for (const name of names) {
    const value = options[name];
    if (value !== undefined && typeof value !== "function") {
      throw invalidOption(prefix + name, "a function", value);
    }
  }
}

/** `value` must be an object with a function under each of `methods`. */
export function checkMethods(name: string, value: unknown, methods: readonly string[]): void {
  if (typeof value !== "object" || value === null) {
    throw invalidOption(name, `an object with ${methods.join(", ")}`, value);
  }
  const record = value as Record<string, unknown>;
  for (const method of methods) {
    if (typeof record[method] !== "function") {
      throw invalidOption(name, `an object with ${methods.join(", ")}`, value);
    }
  }
}
