/**
 * UTF-8 (RFC 3629) without platform help: XS on a microcontroller has no TextEncoder global.
 *
 * Validation follows the well-formed byte sequence table of RFC 3629 section 4 (also The
 * Unicode Standard, table 3-7): the only thing that varies between lead bytes is the range
 * allowed for the FIRST continuation byte, which is how overlong forms (E0 80..9F,
 * F0 80..8F), UTF-16 surrogates (ED A0..BF) and code points above U+10FFFF (F4 90..BF) are
 * excluded. Lead bytes C0, C1 (always overlong) and F5..FF (above U+10FFFF, or the 5- and
 * 6-byte forms of the obsolete RFC 2279) never start a valid sequence. Plain range checks,
 * no tables: nothing is allocated per validator beyond four numbers.
 *
 * Validation is always this code (it fails at the first bad byte, which a whole-buffer
 * native check cannot do); a host may give a native encoder and decoder (NetHost.utf8),
 * and portableUtf8 below is what the client uses when it does not.
 */
import type { Utf8Codec } from "../shared/host.js";

/** Lowest and highest continuation byte (10xxxxxx). */
const CONT_MIN = 0x80;
const CONT_MAX = 0xbf;

/**
 * Incremental, fail-fast UTF-8 validator. Bytes may arrive split anywhere; update() returns
 * false as soon as the bytes seen so far can no longer be the prefix of valid UTF-8
 * (e.g. F4 90 fails at the second byte: above U+10FFFF; ED A0 fails: a surrogate;
 * E0 80 fails: overlong). Once invalid it stays invalid until reset().
 */
export class Utf8Validator {
  /** Continuation bytes still expected for the current sequence (0 at a boundary). */
  private needed = 0;
  /** Range allowed for the next continuation byte; narrower than 80..BF only for the first. */
  private low = CONT_MIN;
  private high = CONT_MAX;
  private failed = false;

  /** Back to the initial state (start of a new message). */
  reset(): void {
    this.needed = 0;
    this.low = CONT_MIN;
    this.high = CONT_MAX;
    this.failed = false;
  }

  /** Feeds bytes[start, end). Returns false when the input is invalid. */
  update(bytes: Uint8Array, start = 0, end: number = bytes.length): boolean {
    if (this.failed) return false;
    let needed = this.needed;
    let low = this.low;
    let high = this.high;
    let i = start;
    while (i < end) {
      let byte = bytes[i];
      if (needed === 0) {
        // Text is mostly ASCII: skip long runs of it four bytes at a time.
        if (byte < 0x80 && end - i >= ASCII_WORDS_MIN_BYTES) {
          i = skipAsciiWords(bytes, i, end);
          if (i === end) return this.atBoundary();
          byte = bytes[i];
        }
        // Shorter runs (and the bytes around the words) one at a time.
        while (byte < 0x80) {
          if (++i === end) return this.atBoundary();
          byte = bytes[i];
        }
        if (byte < 0xc2) {
          // 80..BF: a continuation byte with no lead; C0, C1: overlong 2-byte forms.
          this.failed = true;
          return false;
        } else if (byte < 0xe0) {
          needed = 1;
        } else if (byte < 0xf0) {
          needed = 2;
          if (byte === 0xe0) low = 0xa0; // below: overlong (< U+0800)
          else if (byte === 0xed) high = 0x9f; // above: surrogates U+D800..U+DFFF
        } else if (byte < 0xf5) {
          needed = 3;
          if (byte === 0xf0) low = 0x90; // below: overlong (< U+10000)
          else if (byte === 0xf4) high = 0x8f; // above: > U+10FFFF
        } else {
          // F5..FF: would encode > U+10FFFF, or are not UTF-8 at all.
          this.failed = true;
          return false;
        }
      } else {
        if (byte < low || byte > high) {
          this.failed = true;
          return false;
        }
        needed--;
        low = CONT_MIN;
        high = CONT_MAX;
      }
      i++;
    }
    this.needed = needed;
    this.low = low;
    this.high = high;
    return true;
  }

  /**
   * The input so far ends on a character boundary: the state is the initial one. The range of
   * the next continuation byte is reset too, not only `needed`: a lead byte seen in an earlier
   * update() (E0, ED, F0, F4) had narrowed it, and a stale range would refuse valid bytes of
   * the next character (found by fuzzing: F4 | 8F 9F A2 01 | F1 B0... failed at B0).
   */
  private atBoundary(): true {
    this.needed = 0;
    this.low = CONT_MIN;
    this.high = CONT_MAX;
    return true;
  }

  /** True when the input so far is valid and ends on a character boundary. */
  get complete(): boolean {
    return !this.failed && this.needed === 0;
  }
}

/**
 * Below this many bytes the byte loop is as fast as the word loop: making the Uint32Array
 * view (an allocation, a few XS slots) costs more than it saves.
 */
const ASCII_WORDS_MIN_BYTES = 32;

/**
 * Returns the index of the first byte of bytes[start, end) that may not be ASCII, checking
 * whole aligned 32-bit words (a word is ASCII when no byte has its top bit: w & 0x80808080,
 * whatever the byte order). It stops at the first word with a non-ASCII byte, or where
 * fewer than four bytes are left, and the caller's byte loop goes on from there: one test
 * per 4 (or 8) bytes instead of one per byte, on V8 and in XS alike.
 */
function skipAsciiWords(bytes: Uint8Array, start: number, end: number): number {
  let i = start;
  // Up to 3 bytes one at a time, to reach a 4-byte boundary of the underlying buffer.
  while (((bytes.byteOffset + i) & 3) !== 0) {
    if (bytes[i] >= 0x80) return i;
    i++;
  }
  const wordCount = (end - i) >> 2;
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset + i, wordCount);
  let w = 0;
  // Two words per test while there are two: fewer branches, fewer steps in XS.
  const pairs = wordCount - (wordCount & 1);
  while (w < pairs && ((words[w] | words[w + 1]) & 0x80808080) === 0) w += 2;
  while (w < wordCount && (words[w] & 0x80808080) === 0) w++;
  return i + (w << 2);
}

/** Whole-buffer validation. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  const validator = new Utf8Validator();
  return validator.update(bytes, 0, bytes.length) && validator.complete;
}

/** Encodes a JS string; lone surrogates become U+FFFD (EF BF BD), as TextEncoder does. */
export function encodeUtf8(text: string): Uint8Array {
  const bytes = new Uint8Array(utf8Length(text));
  encodeUtf8Into(text, bytes, 0);
  return bytes;
}

/**
 * Encodes `text` into `target` at `offset` (lone surrogates become U+FFFD) and returns the
 * offset after the last byte written. The caller sizes `target` with utf8Length(), so a
 * frame's header and its text share one allocation.
 *
 * The text is walked with for-of (by code point), not charCodeAt(i): XS keeps strings in
 * UTF-8, so charCodeAt(i) scans from the start each time and a loop over it is quadratic
 * (16 KiB of text took 80 ms on the desktop XS, seconds on the chip); the string iterator
 * keeps its place. A lone surrogate comes out of the iterator by itself.
 */
export function encodeUtf8Into(text: string, target: Uint8Array, offset: number): number {
  let at = offset;
  for (const character of text) {
    const point = character.codePointAt(0)!;
    if (point < 0x80) {
      target[at++] = point;
    } else if (point < 0x800) {
      target[at++] = 0xc0 | (point >> 6);
      target[at++] = 0x80 | (point & 0x3f);
    } else if (point < 0x10000) {
      if (point >= 0xd800 && point <= 0xdfff) {
        // A lone surrogate has no UTF-8 form (RFC 3629 section 3): U+FFFD instead.
        target[at++] = 0xef;
        target[at++] = 0xbf;
        target[at++] = 0xbd;
      } else {
        target[at++] = 0xe0 | (point >> 12);
        target[at++] = 0x80 | ((point >> 6) & 0x3f);
        target[at++] = 0x80 | (point & 0x3f);
      }
    } else {
      // U+10000..U+10FFFF (a surrogate pair in the string): 4 bytes.
      target[at++] = 0xf0 | (point >> 18);
      target[at++] = 0x80 | ((point >> 12) & 0x3f);
      target[at++] = 0x80 | ((point >> 6) & 0x3f);
      target[at++] = 0x80 | (point & 0x3f);
    }
  }
  return at;
}

/**
 * Number of bytes encodeUtf8(text) would produce, without allocating. Walks code points for
 * the reason encodeUtf8Into gives; a lone surrogate counts 3 bytes (U+FFFD).
 */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (const character of text) {
    const point = character.codePointAt(0)!;
    bytes += point < 0x80 ? 1 : point < 0x800 ? 2 : point < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/**
 * Code units converted per String.fromCharCode call: bounds both the argument count and the
 * scratch buffer (2 bytes per unit). XS puts every argument of apply() on its stack, one slot
 * each, and that stack is small: 512 slots in our manifest's creation (4096 in xsnap), shared
 * with the frames of every caller. 4096 units overflowed it (XS aborts: "stack overflow");
 * 128 leaves room for a deep call chain on the chip.
 */
const DECODE_CHUNK_UNITS = 128;

/**
 * Decodes bytes already known to be valid UTF-8. (Given invalid bytes it neither throws nor
 * reads out of bounds, but the result is unspecified.)
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const length = bytes.length;
  // ASCII-only input of chunk size or less is the common case for JSON: one conversion.
  const chunkUnits = length < DECODE_CHUNK_UNITS ? length : DECODE_CHUNK_UNITS;
  const units = new Uint16Array(chunkUnits < 2 ? 2 : chunkUnits);
  // Parts are joined once at the end: repeated `+=` on flat strings (as XS has) would copy
  // the text so far for every chunk.
  let parts: string[] | undefined;
  let single = "";
  let count = 0;
  let i = 0;
  while (i < length) {
    if (count > units.length - 2) {
      // Room for a surrogate pair is kept, so a pair never straddles two chunks.
      const part = unitsToString(units, count);
      if (parts === undefined) parts = [part];
      else parts.push(part);
      count = 0;
    }
    const byte = bytes[i];
    if (byte < 0x80) {
      units[count++] = byte;
      i += 1;
    } else if (byte < 0xe0) {
      units[count++] = ((byte & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      i += 2;
    } else if (byte < 0xf0) {
      units[count++] =
        ((byte & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      i += 3;
    } else {
      const codePoint =
        ((byte & 0x07) << 18) |
        ((bytes[i + 1] & 0x3f) << 12) |
        ((bytes[i + 2] & 0x3f) << 6) |
        (bytes[i + 3] & 0x3f);
      // Above U+FFFF: a UTF-16 surrogate pair.
      const offset = codePoint - 0x10000;
      units[count++] = 0xd800 | ((offset >> 10) & 0x3ff);
      units[count++] = 0xdc00 | (offset & 0x3ff);
      i += 4;
    }
  }
  if (count > 0) single = unitsToString(units, count);
  if (parts === undefined) return single;
  if (count > 0) parts.push(single);
  return parts.join("");
}

function unitsToString(units: Uint16Array, count: number): string {
  const view = count === units.length ? units : units.subarray(0, count);
  // apply() takes any array-like; the cast only satisfies the declared number[] parameter.
  return String.fromCharCode.apply(null, view as unknown as number[]);
}

/** The codec of hosts without a native one (Moddable on the chip): this file's functions. */
export const portableUtf8: Utf8Codec = Object.freeze({ encode: encodeUtf8, decode: decodeUtf8 });
