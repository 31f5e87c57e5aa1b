/**
 * UTF-8 (RFC 3629) without platform help: XS on a microcontroller has no TextEncoder global.
 * STUB: signatures are the contract; implementation pending.
 */

/**
 * Incremental, fail-fast UTF-8 validator. Bytes may arrive split anywhere; update() returns
 * false as soon as the bytes seen so far can no longer be the prefix of valid UTF-8
 * (e.g. F4 90 fails at the second byte: above U+10FFFF; ED A0 fails: a surrogate;
 * E0 80 fails: overlong). Once invalid it stays invalid until reset().
 */
export class Utf8Validator {
  /** Back to the initial state (start of a new message). */
  reset(): void {
    throw new Error("not implemented");
  }
  /** Feeds bytes[start, end). Returns false when the input is invalid. */
  update(bytes: Uint8Array, start?: number, end?: number): boolean {
    void bytes; void start; void end;
    throw new Error("not implemented");
  }
  /** True when the input so far is valid and ends on a character boundary. */
  get complete(): boolean {
    throw new Error("not implemented");
  }
}

/** Whole-buffer validation. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  void bytes;
  throw new Error("not implemented");
}

/** Encodes a JS string; lone surrogates become U+FFFD (EF BF BD), as TextEncoder does. */
export function encodeUtf8(text: string): Uint8Array {
  void text;
  throw new Error("not implemented");
}

/** Number of bytes encodeUtf8(text) would produce, without allocating. */
export function utf8Length(text: string): number {
  void text;
  throw new Error("not implemented");
}

/** Decodes bytes already known to be valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string {
  void bytes;
  throw new Error("not implemented");
}
