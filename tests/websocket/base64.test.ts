/** src/websocket/base64.ts: RFC 4648 section 4 encoding and decoding, checked against the RFC and Node's codec. */
import assert from "node:assert/strict";
import { randomBytes, randomFillSync } from "node:crypto";

import { decodeBase64, encodeBase64 } from "../../src/websocket/base64.js";

const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));

describe("encodeBase64", () => {
  describe("RFC 4648 section 10 test vectors", () => {
    const vectors: Array<[string, string]> = [
      ["", ""],
      ["f", "Zg=="],
      ["fo", "Zm8="],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg=="],
      ["fooba", "Zm9vYmE="],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [input, output] of vectors) {
      it(`BASE64(${JSON.stringify(input)}) = ${JSON.stringify(output)}`, () => {
        assert.equal(encodeBase64(ascii(input)), output);
      });
    }
  });

  it("uses the standard alphabet, including + and / for 62 and 63", () => {
    assert.equal(encodeBase64(new Uint8Array([0xfb, 0xff, 0xbf])), "+/+/");
    assert.equal(encodeBase64(new Uint8Array([0x00, 0x10, 0x83])), "ABCD");
  });

  it("encodes every byte value as Node's encoder does", () => {
    const all = new Uint8Array(256).map((_, i) => i);
    assert.equal(encodeBase64(all), Buffer.from(all).toString("base64"));
  });

  it("matches Node's encoder for random inputs of every length from 0 to 100 bytes", () => {
    for (let length = 0; length <= 100; length++) {
      const bytes = randomFillSync(new Uint8Array(length));
      assert.equal(encodeBase64(bytes), Buffer.from(bytes).toString("base64"), `length ${length}`);
    }
  });

  it("turns a 16-byte handshake nonce into 24 characters and a 20-byte digest into 28", () => {
    assert.equal(encodeBase64(new Uint8Array(16)), "AAAAAAAAAAAAAAAAAAAAAA==");
    assert.equal(encodeBase64(new Uint8Array(20).fill(0xff)).length, 28);
  });

  it("encodes only the bytes of a view, not the rest of its buffer", () => {
    const backing = ascii("xxfooxx");
    assert.equal(encodeBase64(backing.subarray(2, 5)), "Zm9v");
  });
});

describe("decodeBase64 (RFC 4648 section 4)", function () {
  it("decodes the section 10 vectors and random bytes of every length to 100, as Node does", function () {
    for (const [bytes, text] of [["", ""], ["f", "Zg=="], ["fo", "Zm8="], ["foo", "Zm9v"], ["foobar", "Zm9vYmFy"]] as const) {
      assert.deepEqual(decodeBase64(text), new Uint8Array(Buffer.from(bytes, "latin1")));
    }
    for (let length = 0; length <= 100; length++) {
      const bytes = new Uint8Array(randomBytes(length));
      assert.deepEqual(decodeBase64(Buffer.from(bytes).toString("base64")), bytes, `length ${length}`);
    }
  });

  it("refuses what is not canonical base64: a bad length or character, padding inside, bits under the padding", function () {
    for (const text of ["Zg=", "Zm9", "Zm9v!", "Zg==Zg==", "Z===", "Zm=v", "Zh==", "Zm9=", "Zm9vYmFy\n", "é123"]) {
      assert.equal(decodeBase64(text), undefined, JSON.stringify(text));
    }
  });
});
