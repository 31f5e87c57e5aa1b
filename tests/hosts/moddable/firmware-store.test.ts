/**
 * hosts/moddable/firmware-store.ts: the ESP32's update slot over a flash partition that behaves
 * as flash does (a write can only clear bits, so every block must be erased before it is
 * written again), ESP-IDF's rollback calls, and the signature check and SHA-256 over the SDK's
 * crypt modules (stood in for by Node's, with the SDK's calling conventions).
 */
import assert from "node:assert/strict";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFirmwareHost, ESP_OTA_IMG_PENDING_VERIFY, FlashFirmwareStore, type EcdsaApi, type FlashApi, type OtaApi } from "../../../hosts/moddable/firmware-store.js";
import { ensureSigningKey, signBytes, verifyP256 } from "../../../hosts/node/firmware-keys.js";

const BLOCK = 4096;

/** A NOR flash partition: erased bytes read 0xFF, a write ANDs its bits in. */
class FakeFlash implements FlashApi {
  readonly bytes: Uint8Array;
  erased: number[] = [];
  constructor(readonly size: number) {
    this.bytes = new Uint8Array(size).fill(0xff);
  }
  status() {
    return { size: this.size, blockLength: BLOCK };
  }
  eraseBlock(start: number, end = start + 1): void {
    for (let block = start; block < end; block++) {
      this.erased.push(block);
      this.bytes.fill(0xff, block * BLOCK, (block + 1) * BLOCK);
    }
  }
  write(buffer: ArrayBuffer, offset: number): void {
    const data = new Uint8Array(buffer);
    for (let i = 0; i < data.length; i++) this.bytes[offset + i]! &= data[i]!;
  }
  read(byteLength: number, byteOffset: number): ArrayBuffer {
    return this.bytes.slice(byteOffset, byteOffset + byteLength).buffer;
  }
}

describe("the ESP32's firmware store (hosts/moddable/firmware-store.ts)", function () {
  let state: number;
  let rolledBack: boolean;
  let calls: string[];
  const ota: OtaApi = {
    state: () => state,
    rolledBack: () => rolledBack,
    activate: () => void calls.push("activate"),
    markValid: () => void calls.push("markValid"),
    rollback: () => void calls.push("rollback"),
  };
  beforeEach(() => {
    state = 2; // ESP_OTA_IMG_VALID
    rolledBack = false;
    calls = [];
  });

  it("writes an image in pieces of any size, erasing each block as the writes reach it; reads it back", function () {
    const flash = new FakeFlash(64 * 1024);
    flash.bytes.fill(0); // an old image: every bit cleared
    const store = new FlashFirmwareStore(flash, ota, () => "power_on");
    assert.equal(store.capacity, 64 * 1024);
    assert.equal(store.blockBytes, BLOCK);
    const image = randomFillSync(new Uint8Array(20_000));
    store.open(image.length, 0);
    for (let at = 0, size = 1; at < image.length; at += size, size = (size * 7) % 3001 + 1) store.write(at, image.subarray(at, at + size));
    assert.deepEqual(flash.bytes.subarray(0, image.length), image, "what flash holds is the image (no block written unerased)");
    assert.deepEqual(flash.erased, [0, 1, 2, 3, 4], "each block once");
    assert.deepEqual(store.read(5000, 100), image.subarray(5000, 5100));
  });

  it("resumes at a block boundary after a reboot: the blocks from there are erased again, the ones before kept", function () {
    const flash = new FakeFlash(64 * 1024);
    const image = randomFillSync(new Uint8Array(20_000));
    let store = new FlashFirmwareStore(flash, ota, () => "power_on");
    store.open(image.length, 0);
    store.write(0, image.subarray(0, 10_000));
    // A reboot: the checkpoint said 8192; bytes past it were written but are not trusted.
    store = new FlashFirmwareStore(flash, ota, () => "power_on");
    assert.throws(() => store.open(image.length, 8000), /block boundary/);
    flash.erased = [];
    store.open(image.length, 8192);
    store.write(8192, image.subarray(8192));
    assert.deepEqual(flash.erased, [2, 3, 4]);
    assert.deepEqual(flash.bytes.subarray(0, image.length), image);
    assert.throws(() => store.write(19_000, new Uint8Array(2000)), /past the image/);
    assert.throws(() => new FlashFirmwareStore(flash, ota, () => "x").open(70_000, 0), /do not fit/);
  });

  it("asks ESP-IDF to boot the new image, confirm it, roll it back; reports pending and rollbacks", function () {
    const store = new FlashFirmwareStore(new FakeFlash(8192), ota, () => "watchdog");
    assert.deepEqual(store.running(), { pending: false });
    state = ESP_OTA_IMG_PENDING_VERIFY;
    assert.deepEqual(store.running(), { pending: true });
    state = -1; // flashed by cable: no otadata entry
    rolledBack = true;
    assert.deepEqual(store.running(), { pending: false, rollback: { reason: "watchdog" } }, "the reset that killed the trial is why");
    store.open(100, 0);
    store.activate({ version: "1.0.0", size: 100, sha256: "0".repeat(64) });
    store.markValid();
    store.rollback();
    assert.deepEqual(calls, ["activate", "markValid", "rollback"]);
    assert.throws(() => store.write(0, new Uint8Array(1)), /open\(\) first/, "closed by activate()");
  });

  it("checks signatures with the SDK's ECDSA conventions (a raw point, the SHA-256 as an ArrayBuffer, r || s) and hashes with its Digest", function () {
    const folder = mkdtempSync(join(tmpdir(), "moorline-esp-ota-"));
    try {
      const key = ensureSigningKey(folder);
      const message = Buffer.from('{"format":"moorline-image/1"}');
      const signature = signBytes(key.privateKey!, message);
      const seen: string[] = [];
      // Stand-ins with the SDK's shapes, checking with Node's crypto what they are handed.
      const ecdsa = {
        ECPoint: { fromOctetString: (octets: Uint8Array) => (seen.push(`point ${octets.length}`), octets) },
        Curve: class {
          constructor(readonly name: string) {
            seen.push(`curve ${name}`);
          }
        },
        ECDSA: class {
          constructor(private readonly point: Uint8Array) {}
          verify(hash: ArrayBuffer, sig: ArrayBuffer, asn1?: boolean): boolean {
            assert.equal(asn1, false);
            assert.equal(Buffer.from(hash).toString("hex"), createHash("sha256").update(message).digest("hex"));
            return verifyP256(this.point, message, new Uint8Array(sig));
          }
        },
      } as unknown as EcdsaApi;
      const Digest = class {
        private readonly hash = createHash("sha256");
        constructor(type: string) {
          assert.equal(type, "SHA256");
        }
        write(message: ArrayBuffer): void {
          this.hash.update(new Uint8Array(message));
        }
        close(): ArrayBuffer {
          return new Uint8Array(this.hash.digest()).buffer;
        }
      };
      const host = createFirmwareHost(new FlashFirmwareStore(new FakeFlash(8192), ota, () => "x"), ecdsa, Digest);
      assert.equal(host.verify(key.raw, message, signature), true);
      assert.deepEqual(seen, ["point 65", "curve secp256r1"]);
      const changed = Buffer.from(message);
      changed[2] ^= 1;
      assert.equal(host.verify(key.raw, changed, signature), false);
      const throwing = { ...ecdsa, ECPoint: { fromOctetString: () => { throw new Error("unsupported format"); } } } as unknown as EcdsaApi;
      assert.equal(createFirmwareHost(host.store, throwing, Digest).verify(key.raw, message, signature), false, "a throw is a refusal");
      const stream = host.sha256!();
      const data = randomFillSync(new Uint8Array(1000));
      stream.update(data.subarray(0, 300));
      stream.update(data.subarray(300));
      assert.equal(Buffer.from(stream.digest()).toString("hex"), createHash("sha256").update(data).digest("hex"));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
