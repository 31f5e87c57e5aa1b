/**
 * Fuzz target: UTF-8 (src/websocket/utf8.ts) against Node's own WHATWG TextDecoder in fatal
 * mode. The incremental validator, fed in any chunking (subarrays or start/end ranges), says
 * "invalid" at exactly the chunk where the streaming decoder first throws, and "complete" at
 * the end exactly when the decoder accepts the whole input; isValidUtf8 agrees; a valid input
 * round-trips (decodeUtf8 gives the decoder's string, encodeUtf8 gives the bytes back,
 * utf8Length counts them). The input read as UTF-16 code units, lone surrogates and all,
 * encodes as TextEncoder encodes it.
 */
import assert from "node:assert/strict";
import { TextDecoder } from "node:util";
import fc from "fast-check";
import { decodeUtf8, encodeUtf8, encodeUtf8Into, isValidUtf8, utf8Length, Utf8Validator } from "../../../src/websocket/utf8.js";
import { chunkings, type FuzzTarget } from "../target.js";

const decoder = (): TextDecoder => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodes(bytes: Uint8Array): string | undefined {
  try {
    return decoder().decode(bytes);
  } catch {
    return undefined;
  }
}

/** Sequences on the edges of RFC 3629's table: overlongs, surrogates, above U+10FFFF, truncations. */
const EDGES = [
  [0xc0, 0x80], [0xc1, 0xbf], [0xc2, 0x80], [0xdf, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0xa0, 0x80], [0xed, 0x9f, 0xbf],
  [0xed, 0xa0, 0x80], [0xee, 0x80, 0x80], [0xef, 0xbf, 0xbf], [0xef, 0xbb, 0xbf], [0xf0, 0x8f, 0xbf, 0xbf], [0xf0, 0x90, 0x80, 0x80],
  [0xf4, 0x8f, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xff], [0x80], [0xbf], [0xe2, 0x82], [0xf0, 0x9f, 0x98],
].map((sequence) => Uint8Array.from(sequence));

const inputs = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }).map((text) => new TextEncoder().encode(text)),
  fc.array(fc.oneof(fc.constantFrom(...EDGES), fc.string({ unit: "binary", maxLength: 4 }).map((t) => new TextEncoder().encode(t))), { maxLength: 24 }).map(
    (parts) => Uint8Array.from(parts.flatMap((part) => Array.from(part))),
  ),
  fc.uint8Array({ maxLength: 64 }),
);

export const utf8Target: FuzzTarget = {
  name: "utf8",
  about: "src/websocket/utf8.ts against Node's TextDecoder (fatal, streaming) and TextEncoder",
  inputs,
  check(bytes) {
    const text = decodes(bytes);
    assert.equal(isValidUtf8(bytes), text !== undefined, "isValidUtf8 agrees with TextDecoder");
    for (const [way, chunks] of chunkings(bytes, 256)) {
      const validator = new Utf8Validator();
      const stream = decoder();
      let offset = 0;
      let failed = false;
      for (const chunk of chunks) {
        // Half the time the chunk is given as a range of the whole input, as the receiver does.
        const ours = offset % 2 === 0 ? validator.update(chunk) : validator.update(bytes, offset, offset + chunk.length);
        let theirs = true;
        try {
          stream.decode(chunk, { stream: true });
        } catch {
          theirs = false;
        }
        assert.equal(ours, theirs, `fed ${way}: the validator and TextDecoder disagree at the chunk ending at byte ${offset + chunk.length}`);
        offset += chunk.length;
        if (!ours) {
          failed = true;
          break;
        }
      }
      if (!failed) assert.equal(validator.complete, text !== undefined, `fed ${way}: complete at the end`);
    }
    if (text !== undefined) {
      assert.equal(decodeUtf8(bytes), text, "decodeUtf8");
      assert.deepEqual(encodeUtf8(text), bytes, "encodeUtf8 gives the bytes back");
      assert.equal(utf8Length(text), bytes.length, "utf8Length");
    }
    // The bytes as UTF-16 code units (lone surrogates included): encoded as TextEncoder does.
    const units: number[] = [];
    for (let i = 0; i + 1 < bytes.length; i += 2) units.push((bytes[i]! << 8) | bytes[i + 1]!);
    const utf16 = String.fromCharCode(...units);
    const expected = new TextEncoder().encode(utf16);
    assert.deepEqual(encodeUtf8(utf16), expected, "encodeUtf8 of UTF-16 with lone surrogates");
    assert.equal(utf8Length(utf16), expected.length, "utf8Length of UTF-16 with lone surrogates");
    const into = new Uint8Array(expected.length + 3);
    assert.equal(encodeUtf8Into(utf16, into, 3), expected.length + 3, "encodeUtf8Into returns the end offset");
    assert.deepEqual(into.subarray(3), expected, "encodeUtf8Into");
  },
};
