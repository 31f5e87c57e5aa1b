/**
 * The owner's firmware signing key (docs/ota.md), with Node's crypto: ECDSA P-256 (what the
 * ESP32's SDK verifies natively, over its big-number arithmetic; it has no Ed25519).
 *
 * The key pair is made on first use in .moorline/keys/ (git-ignored, never committed):
 * ota-signing-key.pem holds the private key (PKCS #8, readable by this user only), and
 * ota-signing-key.pub.pem its public half (SPKI), for people. The firmware gets the public
 * half as config otaPublicKey: the raw point (65 bytes, 0x04 || x || y) in base64, which the
 * desktop device's command line reads from here and the ESP32 build passes to mcconfig.
 *
 * Also the desktop device's signature check (FirmwareHost.verify on the Node and XS hosts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { keyId } from "../../src/ota/manifest.js";
import { sha256 } from "../../src/ota/sha256.js";
import { writeFileAtomic } from "./atomic-file.js";

/** Where the key pair is kept by default (relative to the working folder, as the device's storage is). */
export const DEFAULT_KEYS_DIR = ".moorline/keys";
export const SIGNING_KEY_FILE = "ota-signing-key.pem";
export const PUBLIC_KEY_FILE = "ota-signing-key.pub.pem";

export interface SigningKey {
  privateKey: KeyObject | undefined;
  publicKey: KeyObject;
  /** The raw public point, 65 bytes. */
  raw: Uint8Array;
  /** config otaPublicKey: `raw` in base64. */
  base64: string;
  /** The key's id (src/ota/manifest.ts keyId): a manifest names its key with it. */
  id: string;
  /** The private key's file. */
  path: string;
  /** Made by this call. */
  created: boolean;
}

/**
 * The key pair in `dir`, made first when there is none. Two processes making it at once (a
 * device and the image tool started together) end up with one pair: the private key is
 * written to a temporary file and linked into place, which fails if another got there first.
 */
export function ensureSigningKey(dir: string = DEFAULT_KEYS_DIR): SigningKey {
  const path = join(dir, SIGNING_KEY_FILE);
  let created = false;
  let pem = readIfExists(path);
  if (pem === undefined) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const temporary = join(dir, `.${SIGNING_KEY_FILE}.${process.pid}.${Date.now()}.tmp`);
    writeFileSync(temporary, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    try {
      linkSync(temporary, path);
      created = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      rmSync(temporary, { force: true });
    }
    pem = readFileSync(path, "utf8");
  }
  const privateKey = createPrivateKey(pem);
  const key = describeKey(createPublicKey(privateKey), privateKey, path, created);
  if (created || readIfExists(join(dir, PUBLIC_KEY_FILE)) === undefined) {
    writeFileAtomic(join(dir, PUBLIC_KEY_FILE), key.publicKey.export({ format: "pem", type: "spki" }) as string, 0o644);
  }
  return key;
}

/** The public key of the pair in `dir`, from the private key's file; undefined when there is none. */
export function readPublicKey(dir: string = DEFAULT_KEYS_DIR): SigningKey | undefined {
  const path = join(dir, SIGNING_KEY_FILE);
  const pem = readIfExists(path);
  if (pem === undefined) return undefined;
  return describeKey(createPublicKey(createPrivateKey(pem)), undefined, path, false);
}

function describeKey(publicKey: KeyObject, privateKey: KeyObject | undefined, path: string, created: boolean): SigningKey {
  const raw = rawPublicKey(publicKey);
  return { privateKey, publicKey, raw, base64: Buffer.from(raw).toString("base64"), id: keyId(raw, sha256), path, created };
}

/** A P-256 public key as its raw uncompressed point (0x04 || x || y). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "P-256" || jwk.x === undefined || jwk.y === undefined) throw new Error("not a P-256 key");
  return new Uint8Array(Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]));
}

/** The KeyObject of a raw P-256 point; throws when it is not one (not on the curve, wrong length). */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 65 || raw[0] !== 4) throw new Error("a raw P-256 public key is 65 bytes starting with 0x04");
  const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.length);
  return createPublicKey({
    key: { kty: "EC", crv: "P-256", x: bytes.subarray(1, 33).toString("base64url"), y: bytes.subarray(33).toString("base64url") },
    format: "jwk",
  });
}

/** The signature of `message` (SHA-256, ECDSA P-256) as r || s, 64 bytes (IEEE P1363). */
export function signBytes(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign("sha256", message, { key: privateKey, dsaEncoding: "ieee-p1363" }));
}

/** FirmwareHost.verify on the desktop hosts: false for any signature, key or point that is not right. */
export function verifyP256(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verify("sha256", message, { key: publicKeyFromRaw(publicKey), dsaEncoding: "ieee-p1363" }, signature);
  } catch {
    return false;
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
