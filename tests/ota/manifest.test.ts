/**
 * src/ota/manifest.ts: what a signed manifest must hold to be read (format, target, version,
 * size, sha256, the key's id), and how versions compare (newer, same, a downgrade).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { compareVersions, IMAGE_FORMAT, isVersion, keyId, MAX_IMAGE_BYTES, parseManifest, toHex } from "../../src/ota/manifest.js";
import { sha256 } from "../../src/ota/sha256.js";

const DIGEST = "a".repeat(64);
const good = { format: IMAGE_FORMAT, target: "desktop", version: "0.2.0", size: 1234, sha256: DIGEST, key: "0123456789abcdef" };
const text = (fields: Record<string, unknown>) => JSON.stringify(fields);

describe("image manifests (src/ota/manifest.ts)", function () {
  it("reads a manifest's fields, and keeps fields it does not know out of the result", function () {
    assert.deepEqual(parseManifest(text({ ...good, created: "2026-01-01T00:00:00Z" })), good);
    const { key: _key, ...withoutKey } = good;
    assert.deepEqual(parseManifest(text(withoutKey)), withoutKey);
  });

  it("says what is wrong with one it cannot read", function () {
    const cases: Array<[unknown, RegExp]> = [
      ["not json", /cannot be read/],
      ["[1,2]", /not a JSON object/],
      [text({ ...good, format: "moorline-image/2" }), /format/],
      [text({ ...good, target: "Desktop!" }), /target/],
      [text({ ...good, version: "1.2.x" }), /version/],
      [text({ ...good, size: 0 }), /size/],
      [text({ ...good, size: MAX_IMAGE_BYTES + 1 }), /size/],
      [text({ ...good, size: 1.5 }), /size/],
      [text({ ...good, sha256: DIGEST.toUpperCase() }), /sha256/],
      [text({ ...good, key: "xyz" }), /key/],
      [text({ ...good, pad: "x".repeat(1100) }), /cannot be read/],
      [`{"a":${"[".repeat(5)}${"]".repeat(5)}}`, /cannot be read/],
    ];
    for (const [input, expected] of cases) {
      const result = parseManifest(input as string);
      assert.equal(typeof result, "string", `${String(input).slice(0, 60)} is refused`);
      assert.match(result as string, expected);
    }
  });

  it("knows a version: dotted numbers (at most four), an optional -suffix", function () {
    for (const version of ["0", "0.1.0", "1.2.3.4", "10.0.0-rc.1", "2.0.0-beta-2"]) assert.ok(isVersion(version), version);
    for (const version of ["", "v1.0", "1..0", "1.2.3.4.5", "1.0-", "1.0.0-!", 120, "1".repeat(40)]) assert.ok(!isVersion(version), String(version));
  });

  it("compares versions number by number; a -suffix comes before the same numbers without one", function () {
    const ordered = ["0.0.9", "0.1.0-rc.1", "0.1.0-rc.2", "0.1", "0.1.0", "0.1.1", "0.2.0", "0.10.0", "1.0.0"];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        const order = Math.sign(compareVersions(ordered[i]!, ordered[j]!));
        // 0.1 and 0.1.0 are the same version.
        const same = [ordered[i], ordered[j]].every((v) => v === "0.1" || v === "0.1.0");
        assert.equal(order, same ? 0 : Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
      }
    }
  });

  it("names a key by the first 8 bytes of the SHA-256 of its raw form, in hex", function () {
    const raw = new Uint8Array(65).fill(4);
    assert.equal(keyId(raw, sha256), createHash("sha256").update(raw).digest("hex").slice(0, 16));
    assert.equal(toHex(Uint8Array.of(0, 15, 16, 255)), "000f10ff");
  });
});
