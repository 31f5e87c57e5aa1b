/**
 * src/websocket/sha1.ts: the portable SHA-1 (FIPS 180-4), checked against the FIPS examples and
 * against Node's native digest for every length around the padding boundaries.
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";

import { sha1 } from "../../src/websocket/sha1.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const native = (bytes: Uint8Array): string => createHash("sha1").update(bytes).digest("hex");
const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));

describe("sha1", () => {
  describe("FIPS 180-4 examples", () => {
    it('"abc" (one block)', () => {
      assert.equal(hex(sha1(ascii("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
    });

    it("the 448-bit message (padding spills into a second block)", () => {
      const message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
      assert.equal(hex(sha1(ascii(message))), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    });

    it("one million times 'a'", () => {
      const message = new Uint8Array(1_000_000).fill(0x61);
      assert.equal(hex(sha1(message)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    });
  });

  it("hashes the empty message", () => {
    assert.equal(hex(sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  });

  it("returns 20 bytes", () => {
    const digest = sha1(ascii("abc"));
    assert.ok(digest instanceof Uint8Array);
    assert.equal(digest.length, 20);
  });

  it("matches node:crypto for random messages of every length from 0 to 300 bytes", () => {
    // Covers 55/56 (length still fits in the last block / does not), 63, 64, 65 and the
    // same boundaries of later blocks.
    for (let length = 0; length <= 300; length++) {
      const message = randomFillSync(new Uint8Array(length));
      assert.equal(hex(sha1(message)), native(message), `length ${length}`);
    }
  });

  it("matches node:crypto for a 1 MB random message", () => {
    const message = randomFillSync(new Uint8Array(1 << 20));
    assert.equal(hex(sha1(message)), native(message));
  });

  it("matches node:crypto for messages of only 0xff bytes (every sign bit set)", () => {
    for (const length of [1, 55, 56, 64, 119, 120, 128]) {
      const message = new Uint8Array(length).fill(0xff);
      assert.equal(hex(sha1(message)), native(message), `length ${length}`);
    }
  });

  it("hashes only the bytes of a view, not the rest of its buffer", () => {
    const backing = ascii("--abc--");
    assert.equal(hex(sha1(backing.subarray(2, 5))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  });

  it("leaves its input alone and returns a fresh array from each call", () => {
    const message = ascii("The quick brown fox jumps over the lazy dog");
    const copy = message.slice();
    const first = sha1(message);
    const second = sha1(ascii("abc"));
    assert.deepEqual(message, copy);
    assert.notEqual(first, second);
    assert.equal(hex(first), "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
  });
});
