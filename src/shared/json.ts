/**
 * Bounded JSON parsing for text that comes from the network. JSON.parse is recursive in
 * most engines, XS included: a message such as "[[[[...]]]]" ten thousand levels deep would
 * exhaust the native stack of an ESP32 task (a few KB) and abort the device, and a 1 MB
 * message would exhaust its heap. So the size is checked first, then the nesting depth is
 * measured in one linear pass that allocates nothing, and only then is JSON.parse called.
 * The same pass checks each number: engines differ on numbers they cannot hold (XS refuses
 * one written with 256 characters or more, V8 takes it; both turn 1e309 into Infinity, which
 * a reply would then send as null), so such numbers are refused here, the same way on every
 * engine. Never throws: every failure comes back as a result with a stable code
 * (docs/protocol.md).
 */
import { utf8Length } from "../websocket/utf8.js";

export interface JsonLimits {
  /** Largest accepted text, in UTF-8 bytes (what it took on the wire). */
  maxBytes: number;
  /**
   * Deepest accepted nesting of arrays and objects: a scalar has depth 0, `{}` and `[1]`
   * depth 1, `{"a":[1]}` depth 2.
   */
  maxDepth: number;
}

export type JsonErrorCode = "bad_json" | "too_large" | "too_deep";

export type JsonResult =
  | { ok: true; value: unknown }
  | { ok: false; code: JsonErrorCode; message: string };

/**
 * The engine's own JSON.parse message can quote the input (V8 does); it goes to the peer in
 * an error message, so it is cut to this many characters.
 */
const MAX_PARSE_MESSAGE_CHARS = 80;

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACKET = 0x5d; // ]
const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const MINUS = 0x2d; // -
const PLUS = 0x2b; // +
const DOT = 0x2e; // .
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

/**
 * Longest number accepted, characters as written: XS's JSON.parse fails ("number overflow")
 * on any number of 256 characters or more, whatever its value, where V8's accepts it; so a
 * longer one is refused on every engine. (Below this length, a number written without an
 * exponent is below 1e256: only one with an exponent can leave the range of a double.)
 */
export const MAX_NUMBER_CHARS = 255;

/**
 * Parses `text` as JSON within `limits`.
 *
 * Size: a UTF-8 encoding has at least as many bytes as the string has UTF-16 code units and
 * at most three times as many, so a string longer than maxBytes is refused without looking
 * at it, one at most maxBytes / 3 long is accepted without counting, and only the band in
 * between is measured exactly. Either way the scan that follows is bounded by maxBytes.
 */
export function parseJson(text: string, limits: JsonLimits): JsonResult {
  try {
    if (typeof text !== "string") {
      return { ok: false, code: "bad_json", message: "not JSON: not a text message" };
    }
    const { maxBytes, maxDepth } = limits;
    if (text.length > maxBytes) {
      return {
        ok: false,
        code: "too_large",
        message: `message of at least ${text.length} bytes exceeds maxJsonBytes (${maxBytes} bytes)`,
      };
    }
    if (text.length * 3 > maxBytes) {
      const bytes = utf8Length(text);
      if (bytes > maxBytes) {
        return {
          ok: false,
          code: "too_large",
          message: `message of ${bytes} bytes exceeds maxJsonBytes (${maxBytes} bytes)`,
        };
      }
    }
    const problem = scanJson(text, maxDepth, true);
    if (problem !== undefined) return problem;
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, code: "bad_json", message: `not JSON: ${clip(reason, MAX_PARSE_MESSAGE_CHARS)}` };
  }
}

/**
 * Does any point of `text` sit inside more than `maxDepth` open arrays or objects?
 * Counts brackets and braces outside strings; inside a string a backslash hides the next
 * code unit (so `"\""` does not end the string). It does not validate: malformed text that
 * passes is left to JSON.parse to reject. Stops at the first level too deep.
 */
export function nestingExceeds(text: string, maxDepth: number): boolean {
  return scanJson(text, maxDepth, false) !== undefined;
}

/**
 * The first problem of `text` that JSON.parse would not report the same way on every engine:
 * nesting deeper than `maxDepth` (too_deep), or a number longer than MAX_NUMBER_CHARS or
 * beyond the range of a double (bad_json; only when `numbers`). Brackets and numbers count only outside strings;
 * inside a string a backslash hides the next code unit (so `"\""` does not end the string). It
 * does not validate: malformed text that passes is left to JSON.parse to reject.
 */
function scanJson(text: string, maxDepth: number, numbers: boolean): Extract<JsonResult, { ok: false }> | undefined {
  let depth = 0;
  let inString = false;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    if (inString) {
      if (unit === BACKSLASH) i++;
      else if (unit === QUOTE) inString = false;
    } else if (unit === QUOTE) {
      inString = true;
    } else if (unit === OPEN_BRACKET || unit === OPEN_BRACE) {
      if (++depth > maxDepth) {
        return { ok: false, code: "too_deep", message: `nesting deeper than maxJsonDepth (${maxDepth} levels)` };
      }
    } else if (unit === CLOSE_BRACKET || unit === CLOSE_BRACE) {
      depth--;
    } else if (numbers && (unit === MINUS || (unit >= DIGIT_0 && unit <= DIGIT_9))) {
      // A number (RFC 8259 section 6): its characters are digits, - + . e E.
      const start = i;
      let exponent = false;
      for (; i + 1 < length; i++) {
        const next = text.charCodeAt(i + 1);
        if (next === LOWER_E || next === UPPER_E) exponent = true;
        else if (!((next >= DIGIT_0 && next <= DIGIT_9) || next === MINUS || next === PLUS || next === DOT)) break;
      }
      const chars = i + 1 - start;
      if (chars > MAX_NUMBER_CHARS) {
        return {
          ok: false,
          code: "bad_json",
          message: `a number of ${chars} characters (at most ${MAX_NUMBER_CHARS}): ${clip(text.slice(start, i + 1), 20)}`,
        };
      }
      if (exponent) {
        const value = Number(text.slice(start, i + 1));
        if (value === Infinity || value === -Infinity) {
          return {
            ok: false,
            code: "bad_json",
            message: `number ${clip(text.slice(start, i + 1), 40)} is beyond the range of a double (about 1.8e308)`,
          };
        }
      }
    }
  }
  return undefined;
}

/** `text` cut to at most `max` characters, with "..." marking the cut. */
export function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + "..." : text;
}

/**
 * `text` as a JSON object (not an array, not null), or undefined when it is not one: for
 * text we wrote ourselves and read back (storage, log lines), where anything else means it
 * was damaged. Not for text from the network: that is bounded first (parseJson).
 */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
