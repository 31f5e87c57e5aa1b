/**
 * `npm run image` (tools/image.ts) as users run it: a signed desktop image of the firmware in
 * dist/ that the device's key checks, an ESP32 image wrapping mcconfig's binary, the key made
 * on first use and kept after, and the mistakes it refuses.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readArchive, NODE_ENTRY } from "../../hosts/node/firmware-archive.js";
import { readPublicKey, SIGNING_KEY_FILE, verifyP256 } from "../../hosts/node/firmware-keys.js";
import { readImageFile } from "../../server/ota-image.js";
import { node } from "../support/child-process.js";

describe("npm run image (tools/image.ts)", function () {
  this.timeout(20_000);
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-image-"))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const image = async (...args: string[]) => {
    const child = node("dist/tools/image.js", ["--keys", join(folder, "keys"), ...args]);
    const exit = await child.waitForExit(15_000);
    return { ...exit, stdout: child.stdout, stderr: child.stderr };
  };

  it("signs the desktop firmware with a key made on first use, kept (private, this user only) for the next", async function () {
    const out = join(folder, "b.img");
    const first = await image("--version", "0.2.0", "--out", out);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /desktop firmware 0\.2\.0, \d+ bytes, signed with key [0-9a-f]{16} .*made now/);
    assert.equal(statSync(join(folder, "keys", SIGNING_KEY_FILE)).mode & 0o777, 0o600);
    const key = readPublicKey(join(folder, "keys"))!;
    const parsed = readImageFile(out);
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.manifest.target, "desktop");
    assert.equal(parsed.manifest.version, "0.2.0");
    assert.equal(parsed.manifest.key, key.id);
    assert.equal(parsed.manifest.sha256, createHash("sha256").update(parsed.payload).digest("hex"));
    assert.ok(verifyP256(key.raw, Buffer.from(parsed.manifestText), Buffer.from(parsed.signature, "base64")), "the device's check passes");
    assert.ok(readArchive(parsed.payload).has(NODE_ENTRY));
    const again = await image("--version", "0.3.0", "--out", join(folder, "c.img"));
    assert.equal(again.code, 0);
    assert.doesNotMatch(again.stdout, /made now/);
    assert.equal(readImageFile(join(folder, "c.img")).manifest.key, key.id, "the same key");
  });

  it("wraps an ESP32 binary (an app image starts with 0xE9) for the esp32 target", async function () {
    const binary = join(folder, "xs_esp32.bin");
    writeFileSync(binary, Buffer.concat([Buffer.of(0xe9), Buffer.alloc(999, 7)]));
    const out = join(folder, "esp.img");
    const result = await image("--target", "esp32", "--binary", binary, "--version", "1.2.0", "--out", out);
    assert.equal(result.code, 0, result.stderr);
    const parsed = readImageFile(out);
    assert.equal(parsed.manifest.target, "esp32");
    assert.deepEqual(parsed.payload, readFileSync(binary));
  });

  it("refuses what cannot make an image, exit 2, nothing written", async function () {
    const notApp = join(folder, "notes.txt");
    writeFileSync(notApp, "hello");
    const cases: Array<[string[], RegExp]> = [
      [["--out", join(folder, "x.img")], /--version is required/],
      [["--version", "0.2.0"], /--out FILE is required/],
      [["--version", "0.2.0", "--out", join(folder, "x.img"), "--target", "esp32"], /needs --binary/],
      [["--version", "0.2.0", "--out", join(folder, "x.img"), "--target", "esp32", "--binary", notApp], /not an ESP32 app image/],
      [["--version", "0.2.0", "--out", join(folder, "x.img"), "--binary", notApp], /--binary is for --target esp32/],
      [["--version", "0.2.0", "--out", join(folder, "x.img"), "--from", folder], /holds no built firmware/],
    ];
    for (const [args, message] of cases) {
      const result = await image(...args);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, message);
    }
    assert.ok(!existsSync(join(folder, "x.img")));
  });
});
