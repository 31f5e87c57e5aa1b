/**
 * src/ota/sha256.ts: the portable streaming SHA-256 (FIPS 180-4), checked against the FIPS
 * examples and Node's native digest, whole and fed in pieces split at every position around
 * the block boundaries, as chunks of an image arrive.
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { Sha256, sha256 } from "../../src/ota/sha256.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const native = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));

describe("sha256 (src/ota/sha256.ts)", function () {
  it('FIPS 180-4: "abc", the 448-bit message, one million "a"', function () {
    assert.equal(hex(sha256(ascii("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(hex(sha256(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert.equal(hex(sha256(new Uint8Array(1_000_000).fill(0x61))), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  it("hashes the empty message", function () {
    assert.equal(hex(sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("matches Node's digest for every length from 0 to 200 bytes (every padding case)", function () {
    const bytes = randomFillSync(new Uint8Array(200));
    for (let length = 0; length <= 200; length++) assert.equal(hex(sha256(bytes.subarray(0, length))), native(bytes.subarray(0, length)), `length ${length}`);
  });

  it("gives the same digest whatever the pieces: split at every position of 300 bytes, and in chunks of 1 to 130", function () {
    const bytes = randomFillSync(new Uint8Array(300));
    const expected = native(bytes);
    for (let split = 0; split <= bytes.length; split++) {
      const stream = new Sha256();
      stream.update(bytes.subarray(0, split));
      stream.update(bytes.subarray(split));
      assert.equal(hex(stream.digest()), expected, `split at ${split}`);
    }
    for (let chunk = 1; chunk <= 130; chunk++) {
      const stream = new Sha256();
      for (let at = 0; at < bytes.length; at += chunk) stream.update(bytes.subarray(at, at + chunk));
      assert.equal(hex(stream.digest()), expected, `chunks of ${chunk}`);
    }
  });

  it("hashes only the view given, not the rest of its buffer", function () {
    const buffer = randomFillSync(new Uint8Array(100));
    assert.equal(hex(sha256(buffer.subarray(10, 90))), native(buffer.subarray(10, 90)));
  });

  it("is finished by digest(): another update or digest throws", function () {
    const stream = new Sha256();
    stream.digest();
    assert.throws(() => stream.update(new Uint8Array(1)), /after digest/);
    assert.throws(() => stream.digest(), /twice/);
  });
});
