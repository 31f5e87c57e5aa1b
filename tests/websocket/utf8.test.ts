/**
 * src/websocket/utf8.ts: UTF-8 validation (incremental and fail-fast), encoding and decoding, checked
 * against Node's TextEncoder/TextDecoder and against the definition of a valid prefix.
 */
import assert from "node:assert/strict";
import {
  decodeUtf8,
  encodeUtf8,
  encodeUtf8Into,
  isValidUtf8,
  portableUtf8,
  utf8Length,
  Utf8Validator,
} from "../../src/websocket/utf8.js";
import { hex, toHex } from "../support/frames.js";

const nodeEncoder = new TextEncoder();

/** Node's strict decoder: the reference for "is this whole buffer valid UTF-8". */
function nodeSaysValid(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every proper prefix (1 to 3 bytes) of the encoding of some Unicode scalar value, as hex.
 * A proper prefix is fixed by the code point without its last 6 bits, so one code point per
 * 64 covers them all.
 */
let properPrefixes: Set<string> | undefined;
function isProperPrefixOfACharacter(tail: Uint8Array): boolean {
  if (properPrefixes === undefined) {
    properPrefixes = new Set();
    for (let cp = 0x80; cp <= 0x10ffff; cp += 64) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates are not scalar values
      const bytes = nodeEncoder.encode(String.fromCodePoint(cp));
      for (let n = 1; n < bytes.length; n++) properPrefixes.add(toHex(bytes.subarray(0, n)));
    }
  }
  return properPrefixes.has(toHex(tail));
}

/** The definition: can `bytes` still be extended into valid UTF-8? */
function isValidPrefix(bytes: Uint8Array): boolean {
  if (nodeSaysValid(bytes)) return true;
  for (let t = 1; t <= 3 && t <= bytes.length; t++) {
    const head = bytes.subarray(0, bytes.length - t);
    if (nodeSaysValid(head) && isProperPrefixOfACharacter(bytes.subarray(bytes.length - t))) return true;
  }
  return false;
}

/** Index of the first byte after which the input can no longer be valid; -1 if none. */
function expectedFailIndex(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) {
    if (!isValidPrefix(bytes.subarray(0, i + 1))) return i;
  }
  return -1;
}

/** Feeds one byte per update() call; returns the index where update() first said false. */
function failIndexByteByByte(bytes: Uint8Array): number {
  const validator = new Utf8Validator();
  for (let i = 0; i < bytes.length; i++) {
    if (!validator.update(bytes, i, i + 1)) {
      // Once invalid, it stays invalid.
      assert.equal(validator.update(Uint8Array.of(0x41)), false);
      assert.equal(validator.complete, false);
      return i;
    }
  }
  return -1;
}

/** Deterministic pseudo-random numbers (xorshift32), so failures are reproducible. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x100000000;
  };
}

type Expectation = "valid" | "incomplete" | { failAt: number };

/**
 * The Autobahn|Testsuite case 6 vectors (after Markus Kuhn's UTF-8 decoder stress test),
 * with what a strict, fail-fast validator must say: valid; a valid prefix that ends inside a
 * character (invalid as a whole message); or the index of the first impossible byte.
 */
const kosme = "ce ba e1 bd b9 cf 83 ce bc ce b5"; // "κόσμε"
const autobahnVectors: Array<[string, string, Expectation]> = [
  ["6.1 empty", "", "valid"],
  ["6.2 Hello-µ@ßöäüàá-UTF-8!!", toHex(nodeEncoder.encode("Hello-µ@ßöäüàá-UTF-8!!")), "valid"],
  ["6.3 κόσμε", kosme, "valid"],
  ["6.4.1 κόσμε then U+110000 (F4 90 fails at its 2nd byte)", `${kosme} f4 90 80 80 65 64 69 74 65 64`, { failAt: 12 }],
  ["6.6 κόσμε cut inside ό", "ce ba e1 bd", "incomplete"],
  ["6.6 κόσμε cut after ό", "ce ba e1 bd b9", "valid"],
  ["6.7.1 first 1-byte: U+0000", "00", "valid"],
  ["6.7.2 first 2-byte: U+0080", "c2 80", "valid"],
  ["6.7.3 first 3-byte: U+0800", "e0 a0 80", "valid"],
  ["6.7.4 first 4-byte: U+10000", "f0 90 80 80", "valid"],
  ["6.8.1 first 5-byte form", "f8 88 80 80 80", { failAt: 0 }],
  ["6.8.2 first 6-byte form", "fc 84 80 80 80 80", { failAt: 0 }],
  ["6.9.1 last 1-byte: U+007F", "7f", "valid"],
  ["6.9.2 last 2-byte: U+07FF", "df bf", "valid"],
  ["6.9.3 last 3-byte: U+FFFF", "ef bf bf", "valid"],
  ["6.9.4 last code point: U+10FFFF", "f4 8f bf bf", "valid"],
  ["6.10.1 last 4-byte form (U+1FFFFF)", "f7 bf bf bf", { failAt: 0 }],
  ["6.10.2 last 5-byte form", "fb bf bf bf bf", { failAt: 0 }],
  ["6.10.3 last 6-byte form", "fd bf bf bf bf bf", { failAt: 0 }],
  ["6.11.1 U+D7FF", "ed 9f bf", "valid"],
  ["6.11.2 U+E000", "ee 80 80", "valid"],
  ["6.11.3 U+FFFD", "ef bf bd", "valid"],
  ["6.11.4 U+10FFFF", "f4 8f bf bf", "valid"],
  ["6.11.5 U+110000", "f4 90 80 80", { failAt: 1 }],
  ["6.12.1 first continuation byte 80", "80", { failAt: 0 }],
  ["6.12.2 last continuation byte bf", "bf", { failAt: 0 }],
  ["6.12.3 2 continuation bytes", "80 bf", { failAt: 0 }],
  ["6.12.4 3 continuation bytes", "80 bf 80", { failAt: 0 }],
  ["6.12.5 4 continuation bytes", "80 bf 80 bf", { failAt: 0 }],
  ["6.12.6 5 continuation bytes", "80 bf 80 bf 80", { failAt: 0 }],
  ["6.12.7 6 continuation bytes", "80 bf 80 bf 80 bf", { failAt: 0 }],
  ["6.12.8 7 continuation bytes", "80 bf 80 bf 80 bf 80", { failAt: 0 }],
  ["6.12.9 continuation after a valid character", "41 c3 a9 80", { failAt: 3 }],
  ["6.13.1 lonely C0 (always overlong) then space", "c0 20", { failAt: 0 }],
  ["6.13.1 lonely C2 then space", "c2 20", { failAt: 1 }],
  ["6.13.1 lonely DF then space", "df 20", { failAt: 1 }],
  ["6.13.2 lonely E0 then space", "e0 20", { failAt: 1 }],
  ["6.13.2 lonely EF then space", "ef 20", { failAt: 1 }],
  ["6.13.3 lonely F0 then space", "f0 20", { failAt: 1 }],
  ["6.13.3 lonely F4 then space", "f4 20", { failAt: 1 }],
  ["6.13.3 lonely F7 (above U+10FFFF) then space", "f7 20", { failAt: 0 }],
  ["6.13.4 lonely F8 then space", "f8 20", { failAt: 0 }],
  ["6.13.5 lonely FC then space", "fc 20", { failAt: 0 }],
  ["6.14.1 2-byte overlong C0 without its last byte", "c0", { failAt: 0 }],
  ["6.14.2 E0 80 (overlong) without its last byte", "e0 80", { failAt: 1 }],
  ["6.14.3 F0 80 80 (overlong) without its last byte", "f0 80 80", { failAt: 1 }],
  ["6.14.4 5-byte form without its last byte", "f8 80 80 80", { failAt: 0 }],
  ["6.14.5 6-byte form without its last byte", "fc 80 80 80 80", { failAt: 0 }],
  ["6.14.6 U+07FF without its last byte", "df", "incomplete"],
  ["6.14.7 U+FFFF without its last byte", "ef bf", "incomplete"],
  ["6.14.7 U+10FFFF without its last byte", "f4 8f bf", "incomplete"],
  ["6.14.8 F7 BF BF without its last byte", "f7 bf bf", { failAt: 0 }],
  ["6.14.9 FB BF BF BF without its last byte", "fb bf bf bf", { failAt: 0 }],
  ["6.14.10 FD BF BF BF BF without its last byte", "fd bf bf bf bf", { failAt: 0 }],
  ["6.15 concatenated incomplete sequences", "df ef bf f4 8f bf", { failAt: 1 }],
  ["6.15 Kuhn's concatenation", "c0 e0 80 f0 80 80 f8 80 80 80 fc 80 80 80 80 df ef bf f7 bf bf fb bf bf bf fd bf bf bf bf", { failAt: 0 }],
  ["6.16.1 impossible byte FE", "fe", { failAt: 0 }],
  ["6.16.2 impossible byte FF", "ff", { failAt: 0 }],
  ["6.16.3 FE FE FF FF", "fe fe ff ff", { failAt: 0 }],
  ["6.17.1 overlong '/' in 2 bytes", "c0 af", { failAt: 0 }],
  ["6.17.2 overlong '/' in 3 bytes", "e0 80 af", { failAt: 1 }],
  ["6.17.3 overlong '/' in 4 bytes", "f0 80 80 af", { failAt: 1 }],
  ["6.17.4 overlong '/' in 5 bytes", "f8 80 80 80 af", { failAt: 0 }],
  ["6.17.5 overlong '/' in 6 bytes", "fc 80 80 80 80 af", { failAt: 0 }],
  ["6.18.1 largest overlong 2-byte (U+007F)", "c1 bf", { failAt: 0 }],
  ["6.18.2 largest overlong 3-byte (U+07FF)", "e0 9f bf", { failAt: 1 }],
  ["6.18.3 largest overlong 4-byte (U+FFFF)", "f0 8f bf bf", { failAt: 1 }],
  ["6.18.4 largest overlong 5-byte", "f8 87 bf bf bf", { failAt: 0 }],
  ["6.18.5 largest overlong 6-byte", "fc 83 bf bf bf bf", { failAt: 0 }],
  ["6.19.1 overlong NUL in 2 bytes", "c0 80", { failAt: 0 }],
  ["6.19.2 overlong NUL in 3 bytes", "e0 80 80", { failAt: 1 }],
  ["6.19.3 overlong NUL in 4 bytes", "f0 80 80 80", { failAt: 1 }],
  ["6.19.4 overlong NUL in 5 bytes", "f8 80 80 80 80", { failAt: 0 }],
  ["6.19.5 overlong NUL in 6 bytes", "fc 80 80 80 80 80", { failAt: 0 }],
  ["6.20.1 lone surrogate U+D800", "ed a0 80", { failAt: 1 }],
  ["6.20.2 lone surrogate U+DB7F", "ed ad bf", { failAt: 1 }],
  ["6.20.3 lone surrogate U+DB80", "ed ae 80", { failAt: 1 }],
  ["6.20.4 lone surrogate U+DBFF", "ed af bf", { failAt: 1 }],
  ["6.20.5 lone surrogate U+DC00", "ed b0 80", { failAt: 1 }],
  ["6.20.6 lone surrogate U+DF80", "ed be 80", { failAt: 1 }],
  ["6.20.7 lone surrogate U+DFFF", "ed bf bf", { failAt: 1 }],
  ["6.21.1 surrogate pair U+D800 U+DC00", "ed a0 80 ed b0 80", { failAt: 1 }],
  ["6.21.2 surrogate pair U+D800 U+DFFF", "ed a0 80 ed bf bf", { failAt: 1 }],
  ["6.21.3 surrogate pair U+DB7F U+DC00", "ed ad bf ed b0 80", { failAt: 1 }],
  ["6.21.4 surrogate pair U+DB7F U+DFFF", "ed ad bf ed bf bf", { failAt: 1 }],
  ["6.21.5 surrogate pair U+DB80 U+DC00", "ed ae 80 ed b0 80", { failAt: 1 }],
  ["6.21.6 surrogate pair U+DB80 U+DFFF", "ed ae 80 ed bf bf", { failAt: 1 }],
  ["6.21.7 surrogate pair U+DBFF U+DC00", "ed af bf ed b0 80", { failAt: 1 }],
  ["6.21.8 surrogate pair U+DBFF U+DFFF", "ed af bf ed bf bf", { failAt: 1 }],
  ["6.22.1 noncharacter U+FFFE", "ef bf be", "valid"],
  ["6.22.2 noncharacter U+FFFF", "ef bf bf", "valid"],
  ["6.22.3 noncharacter U+1FFFE", "f0 9f bf be", "valid"],
  ["6.22.33 noncharacter U+10FFFF", "f4 8f bf bf", "valid"],
  ["6.22.34 noncharacter U+FDD0", "ef b7 90", "valid"],
  ["6.22.34 noncharacter U+FDEF", "ef b7 af", "valid"],
  ["6.23.1 U+FFFD", "ef bf bd", "valid"],
  ["6.23 BOM U+FEFF is text like any other", "ef bb bf 41", "valid"],
];

describe("utf8", () => {
  describe("Utf8Validator against the Autobahn case 6 vectors", () => {
    for (const [name, hexBytes, expected] of autobahnVectors) {
      const bytes = hex(hexBytes);
      const summary =
        expected === "valid" ? "valid" : expected === "incomplete" ? "incomplete" : `fails at byte ${expected.failAt}`;
      it(`${name}: ${summary}`, () => {
        // Whole buffer: agrees with Node's strict decoder.
        assert.equal(isValidUtf8(bytes), expected === "valid");
        assert.equal(nodeSaysValid(bytes), expected === "valid", "the vector's expectation is wrong");

        // Incrementally, one byte at a time: rejects at the first impossible byte.
        const failAt = typeof expected === "object" ? expected.failAt : -1;
        assert.equal(failIndexByteByByte(bytes), failAt);
        assert.equal(expectedFailIndex(bytes), failAt, "the vector's expectation disagrees with the definition");

        // Split in two at every position: same verdict, same `complete`.
        for (let cut = 0; cut <= bytes.length; cut++) {
          const validator = new Utf8Validator();
          const first = validator.update(bytes, 0, cut);
          const second = first && validator.update(bytes, cut, bytes.length);
          assert.equal(first, failAt === -1 || failAt >= cut, `cut at ${cut}`);
          assert.equal(second, failAt === -1, `cut at ${cut}`);
          assert.equal(validator.complete, expected === "valid", `cut at ${cut}`);
        }
      });
    }
  });

  describe("Utf8Validator", () => {
    describe("long ASCII runs (checked a word at a time)", () => {
      /** `length` bytes of ASCII at `offset` inside a larger buffer, so alignment varies. */
      function asciiAt(offset: number, length: number): Uint8Array {
        const buffer = new Uint8Array(offset + length + 5);
        buffer.fill(0x41);
        return buffer.subarray(offset, offset + length);
      }

      it("accepts ASCII of every length around the word path's threshold, at every alignment", () => {
        for (let offset = 0; offset < 4; offset++) {
          for (let length = 0; length <= 80; length++) {
            const bytes = asciiAt(offset, length);
            const validator = new Utf8Validator();
            assert.equal(validator.update(bytes), true, `offset ${offset}, length ${length}`);
            assert.equal(validator.complete, true);
          }
        }
      });

      it("finds a single bad byte at any position of a long ASCII run, at every alignment", () => {
        for (let offset = 0; offset < 4; offset++) {
          for (let at = 0; at < 70; at++) {
            const bytes = asciiAt(offset, 70);
            bytes[at] = 0x80; // a continuation byte with no lead
            assert.equal(new Utf8Validator().update(bytes), false, `offset ${offset}, bad byte at ${at}`);
            bytes[at] = 0xc3; // a lead byte cut short by the ASCII after it (or by the end)
            const validator = new Utf8Validator();
            assert.equal(validator.update(bytes) && validator.complete, false, `offset ${offset}, cut sequence at ${at}`);
          }
        }
      });

      it("validates multi-byte characters anywhere between long ASCII runs", () => {
        const text = "x".repeat(37) + "é" + "y".repeat(41) + "\u{1F600}" + "z".repeat(33) + "中";
        const bytes = new TextEncoder().encode(text);
        for (let offset = 0; offset < 4; offset++) {
          const buffer = new Uint8Array(offset + bytes.length);
          buffer.set(bytes, offset);
          const validator = new Utf8Validator();
          assert.equal(validator.update(buffer, offset), true, `offset ${offset}`);
          assert.equal(validator.complete, true);
        }
      });

      it("checks only the range it is given, and keeps state across ranges", () => {
        const bytes = asciiAt(1, 100);
        bytes[0] = 0xff; // outside the range: not looked at
        bytes[99] = 0xff;
        const validator = new Utf8Validator();
        assert.equal(validator.update(bytes, 1, 99), true);
        bytes[50] = 0xe2; // E2 82 AC (€) split across two long ranges
        bytes[51] = 0x82;
        bytes[52] = 0xac;
        const split = new Utf8Validator();
        assert.equal(split.update(bytes, 1, 51), true);
        assert.equal(split.complete, false);
        assert.equal(split.update(bytes, 51, 99), true);
        assert.equal(split.complete, true);
      });
    });

    it("fails at the first impossible byte even when the chunk ends inside a sequence", () => {
      // ED A0 can only start a surrogate: no third byte can save it.
      assert.equal(new Utf8Validator().update(hex("ed a0")), false);
      // F4 90 would be above U+10FFFF.
      assert.equal(new Utf8Validator().update(hex("f4 90")), false);
      // E0 80 would be overlong.
      assert.equal(new Utf8Validator().update(hex("e0 80")), false);
      // F0 80 would be overlong.
      assert.equal(new Utf8Validator().update(hex("f0 8f")), false);
      // Good prefixes are accepted but are not complete.
      const validator = new Utf8Validator();
      assert.equal(validator.update(hex("f4 8f")), true);
      assert.equal(validator.complete, false);
      assert.equal(validator.update(hex("bf bf")), true);
      assert.equal(validator.complete, true);
    });

    it("forgets a lead byte's narrowed range once its character is done, also when an update() ends in ASCII (found by fuzzing)", () => {
      // A character split across reads, the read ending in ASCII, then a character whose first
      // continuation lies outside the range the split lead byte had allowed.
      const cases: Array<[string, number[][]]> = [
        ["U+10F7E2 split after F4, then U+70694", [[0xf4], [0x8f, 0x9f, 0xa2, 0x01], [0xf1, 0xb0, 0x9a, 0x94]]],
        ["Devanagari KA split after E0, then \u00d6", [[0xe0], [0xa4, 0x95, 0x41], [0xc3, 0x96]]],
        ["Hangul U+D7A3 split after ED, then \u00e9", [[0xed], [0x9e, 0xa3, 0x20], [0xc3, 0xa9]]],
        ["U+10000 split after F0, a long ASCII run, then \u00c0", [[0xf0], [0x90, 0x80, 0x80, ...Array(16).fill(0x2e)], [0xc3, 0x80]]],
      ];
      for (const [name, chunks] of cases) {
        const validator = new Utf8Validator();
        for (const chunk of chunks) assert.equal(validator.update(Uint8Array.from(chunk)), true, `${name}: chunk ${chunk.map((b) => b.toString(16)).join(" ")}`);
        assert.equal(validator.complete, true, name);
      }
    });

    it("accepts the exact boundaries of each lead byte's second-byte range", () => {
      const cases: Array<[string, boolean]> = [
        ["e0 9f", false], ["e0 a0", true], ["e0 bf", true], ["e0 c0", false],
        ["ed 7f", false], ["ed 80", true], ["ed 9f", true], ["ed a0", false],
        ["ee 80", true], ["ee bf", true], ["ee c0", false],
        ["f0 8f", false], ["f0 90", true], ["f0 bf", true], ["f0 c0", false],
        ["f1 7f", false], ["f1 80", true], ["f3 bf", true],
        ["f4 7f", false], ["f4 80", true], ["f4 8f", true], ["f4 90", false],
        ["c2 7f", false], ["c2 80", true], ["c2 bf", true], ["c2 c0", false],
        ["e1 80 7f", false], ["e1 80 c0", false], ["f1 80 80 c0", false],
      ];
      for (const [bytes, ok] of cases) {
        assert.equal(new Utf8Validator().update(hex(bytes)), ok, bytes);
      }
    });

    it("feeds only bytes[start, end)", () => {
      const bytes = hex("ff 41 c3 a9 ff");
      const validator = new Utf8Validator();
      assert.equal(validator.update(bytes, 1, 4), true);
      assert.equal(validator.complete, true);
      assert.equal(validator.update(bytes, 2, 3), true); // C3 alone: a valid prefix
      assert.equal(validator.complete, false);
      assert.equal(validator.update(bytes, 3, 3), true); // empty range changes nothing
      assert.equal(validator.complete, false);
      assert.equal(validator.update(bytes, 3, 4), true);
      assert.equal(validator.complete, true);
    });

    it("stays invalid until reset(), then starts over", () => {
      const validator = new Utf8Validator();
      assert.equal(validator.update(hex("80")), false);
      assert.equal(validator.update(hex("41")), false);
      assert.equal(validator.complete, false);
      validator.reset();
      assert.equal(validator.complete, true);
      assert.equal(validator.update(hex("41 e2 82 ac")), true);
      assert.equal(validator.complete, true);
      // reset() in the middle of a sequence forgets it.
      assert.equal(validator.update(hex("e2 82")), true);
      validator.reset();
      assert.equal(validator.update(hex("41")), true);
      assert.equal(validator.complete, true);
    });

    it("is complete when nothing was fed (the empty text message is valid)", () => {
      assert.equal(new Utf8Validator().complete, true);
      assert.equal(isValidUtf8(new Uint8Array(0)), true);
    });

    it("agrees with the definition on 3000 random byte strings, byte by byte and whole", () => {
      // Bytes drawn mostly from the interesting places: boundaries of every range.
      const interesting = [
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0,
        0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc,
        0xfe, 0xff,
      ];
      const next = random(6455);
      for (let round = 0; round < 3000; round++) {
        const length = 1 + Math.floor(next() * 10);
        const bytes = new Uint8Array(length);
        for (let i = 0; i < length; i++) {
          const r = next();
          bytes[i] =
            r < 0.5 ? interesting[Math.floor(next() * interesting.length)]
            : r < 0.8 ? 0x80 + Math.floor(next() * 64)
            : Math.floor(next() * 256);
        }
        const label = toHex(bytes);
        assert.equal(isValidUtf8(bytes), nodeSaysValid(bytes), label);
        assert.equal(failIndexByteByByte(bytes), expectedFailIndex(bytes), label);
      }
    });

    it("validates long ASCII runs around multi-byte characters", () => {
      const text = "x".repeat(1000) + "é" + "y".repeat(1000) + "😀" + "z".repeat(3);
      const bytes = nodeEncoder.encode(text);
      assert.equal(isValidUtf8(bytes), true);
      const broken = bytes.slice();
      broken[1500] = 0x80; // a continuation byte in the middle of the ASCII run
      assert.equal(isValidUtf8(broken), false);
      assert.equal(failIndexByteByByte(broken), 1500);
      // In 7-byte chunks the verdict is the same.
      const validator = new Utf8Validator();
      let ok = true;
      for (let at = 0; at < broken.length && ok; at += 7) {
        ok = validator.update(broken, at, Math.min(at + 7, broken.length));
        if (!ok) assert.equal(Math.floor(1500 / 7) * 7, at);
      }
      assert.equal(ok, false);
    });
  });

  describe("encodeUtf8 and utf8Length", () => {
    const strings = [
      "",
      "hello",
      "Hello-µ@ßöäüàá-UTF-8!!",
      "κόσμε",
      "日本語のテキスト",
      "😀🎉 emoji \u{10FFFF} \u{10000}",
      "\u0000\u007f\u0080\u07ff\u0800\uffff",
      "\ud7ff\ue000\ufffd\ufeff",
      '{"cmd":"set","value":42}',
    ];
    const loneSurrogates = [
      "\ud800", // lone high surrogate at the end
      "\udc00", // lone low surrogate
      "a\ud800b", // high surrogate followed by a non-surrogate
      "\udc00\ud800", // a pair in the wrong order: two lone surrogates
      "\ud800\ud800\udc00", // a lone high then a real pair
      "x\udfff",
    ];

    for (const text of [...strings, ...loneSurrogates]) {
      it(`encodes ${JSON.stringify(text)} exactly as TextEncoder does`, () => {
        const expected = nodeEncoder.encode(text);
        assert.equal(toHex(encodeUtf8(text)), toHex(expected));
        assert.equal(utf8Length(text), expected.length);
      });
    }

    it("turns lone surrogates into EF BF BD (U+FFFD)", () => {
      assert.equal(toHex(encodeUtf8("\ud800")), "ef bf bd");
      assert.equal(toHex(encodeUtf8("\udc00\ud800")), "ef bf bd ef bf bd");
      assert.equal(toHex(encodeUtf8("\ud83d\ude00")), "f0 9f 98 80");
    });

    it("matches TextEncoder on 500 random strings of arbitrary UTF-16 code units", () => {
      const next = random(42);
      for (let round = 0; round < 500; round++) {
        let text = "";
        const length = Math.floor(next() * 40);
        for (let i = 0; i < length; i++) {
          const r = next();
          if (r < 0.3) text += String.fromCharCode(Math.floor(next() * 0x80));
          else if (r < 0.5) text += String.fromCharCode(0x80 + Math.floor(next() * 0x780));
          else if (r < 0.7) text += String.fromCharCode(0x800 + Math.floor(next() * 0xf800));
          else if (r < 0.9) text += String.fromCodePoint(0x10000 + Math.floor(next() * 0x100000));
          else text += String.fromCharCode(0xd800 + Math.floor(next() * 0x800)); // lone surrogates
        }
        const expected = nodeEncoder.encode(text);
        assert.equal(toHex(encodeUtf8(text)), toHex(expected), JSON.stringify(text));
        assert.equal(utf8Length(text), expected.length);
      }
    });

    it("encodeUtf8Into writes at an offset and returns the end offset", () => {
      const target = new Uint8Array(8).fill(0xaa);
      assert.equal(encodeUtf8Into("é€", target, 2), 7);
      assert.equal(toHex(target), "aa aa c3 a9 e2 82 ac aa");
    });
  });

  describe("decodeUtf8", () => {
    function nodeDecode(bytes: Uint8Array): string {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    }

    it("decodes every valid Autobahn vector as TextDecoder does", () => {
      for (const [name, hexBytes, expected] of autobahnVectors) {
        if (expected !== "valid") continue;
        const bytes = hex(hexBytes);
        assert.equal(decodeUtf8(bytes), nodeDecode(bytes), name);
      }
    });

    it("keeps a byte-order mark (it is message text, not a file signature)", () => {
      assert.equal(decodeUtf8(hex("ef bb bf 41")), "\ufeffA");
    });

    it("decodes the first and last code point of each length", () => {
      for (const cp of [0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xffff, 0x10000, 0x10ffff]) {
        const text = String.fromCodePoint(cp);
        assert.equal(decodeUtf8(nodeEncoder.encode(text)), text, cp.toString(16));
      }
    });

    it("round-trips 300 random well-formed strings with TextEncoder", () => {
      const next = random(7);
      for (let round = 0; round < 300; round++) {
        let text = "";
        const length = Math.floor(next() * 60);
        for (let i = 0; i < length; i++) {
          const r = next();
          let cp: number;
          if (r < 0.4) cp = Math.floor(next() * 0x80);
          else if (r < 0.6) cp = 0x80 + Math.floor(next() * 0x780);
          else if (r < 0.8) cp = 0x800 + Math.floor(next() * 0xf800);
          else cp = 0x10000 + Math.floor(next() * 0x100000);
          if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
          text += String.fromCodePoint(cp);
        }
        assert.equal(decodeUtf8(nodeEncoder.encode(text)), text);
      }
    });

    it("decodes texts longer than one conversion chunk, with characters on every chunk edge", () => {
      // Surrogate pairs and multi-byte characters placed across the 4096-unit chunk edges.
      for (let pad = 4088; pad <= 4100; pad++) {
        const text = "a".repeat(pad) + "😀é€" + "b".repeat(pad) + "𝄞";
        assert.equal(decodeUtf8(nodeEncoder.encode(text)), text, `pad ${pad}`);
      }
    });

    it("decodes a 1 MiB text (no argument-count limit, no quadratic concatenation)", () => {
      const unit = "0123456789abcdef😀κόσμε";
      const text = unit.repeat(Math.ceil((1 << 20) / nodeEncoder.encode(unit).length));
      const bytes = nodeEncoder.encode(text);
      assert.ok(bytes.length >= 1 << 20);
      assert.equal(decodeUtf8(bytes), text);
    });

    it("decodes empty input to the empty string", () => {
      assert.equal(decodeUtf8(new Uint8Array(0)), "");
    });
  });

  describe("portableUtf8 (the codec of hosts without a native one)", () => {
    it("round-trips text, keeping a leading U+FEFF and turning lone surrogates into U+FFFD", () => {
      assert.equal(portableUtf8.decode(portableUtf8.encode("\uFEFFhé\u{1F600}")), "\uFEFFhé\u{1F600}");
      assert.equal(toHex(portableUtf8.encode("a\uD800")), "61 ef bf bd");
    });
  });
});
