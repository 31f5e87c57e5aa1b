/**
 * A signed firmware image file (docs/ota.md): what `npm run image` writes and the companion
 * server offers (`--ota FILE`, the terminal's `ota FILE`). One header line, then the payload:
 *
 *   {"image":"moorline/1","manifest":"<the signed manifest's text>","signature":"<base64 r||s>"}\n
 *   <payload: the desktop archive (hosts/node/firmware-archive.ts) or the ESP32's .bin>
 *
 * The manifest (src/ota/manifest.ts) names the payload's target, version, size and SHA-256;
 * the signature is ECDSA P-256 over the manifest's UTF-8 bytes with the owner's key
 * (hosts/node/firmware-keys.ts). Reading a file checks its shape only: whether a device takes
 * it is the device's to decide (a damaged file is still offered, and refused, for all to see).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { IMAGE_FORMAT, MAX_MANIFEST_BYTES, parseManifest, type ImageManifest } from "../src/ota/manifest.js";
import { signBytes, type SigningKey } from "../hosts/node/firmware-keys.js";

/** The header line's `image` field: this file format. */
export const IMAGE_FILE_FORMAT = "moorline/1";
/** The header line is at most this long, bytes (a manifest, a signature and some JSON). */
const MAX_HEADER_BYTES = MAX_MANIFEST_BYTES * 2 + 256;

export interface OtaImage {
  manifest: ImageManifest;
  /** The manifest as signed: offered as it is. */
  manifestText: string;
  /** Base64 of r || s. */
  signature: string;
  payload: Buffer;
  /** What is wrong with the file that a device will refuse it for (a payload of another size). */
  problems: string[];
}

/** The bytes of an image file for `payload`, signed with `key` (which must hold its private key). */
export function buildImage(options: { payload: Uint8Array; version: string; target: string; key: SigningKey; created?: Date }): Buffer {
  const { payload, version, target, key } = options;
  if (key.privateKey === undefined) throw new Error(`the key at ${key.path} has no private half`);
  const manifest = {
    format: IMAGE_FORMAT,
    target,
    version,
    size: payload.length,
    sha256: createHash("sha256").update(payload).digest("hex"),
    key: key.id,
    created: (options.created ?? new Date()).toISOString(),
  };
  const manifestText = JSON.stringify(manifest);
  const checked = parseManifest(manifestText);
  if (typeof checked === "string") throw new Error(checked);
  const signature = Buffer.from(signBytes(key.privateKey, Buffer.from(manifestText, "utf8"))).toString("base64");
  const header = JSON.stringify({ image: IMAGE_FILE_FORMAT, manifest: manifestText, signature });
  return Buffer.concat([Buffer.from(`${header}\n`, "utf8"), payload]);
}

/** An image file's parts; throws naming what makes it no image file at all. */
export function parseImage(bytes: Buffer): OtaImage {
  const end = bytes.subarray(0, MAX_HEADER_BYTES).indexOf(0x0a);
  if (end < 0) throw new Error("not a moorline image file (no header line)");
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString("utf8", 0, end));
  } catch {
    throw new Error("not a moorline image file (its header line is not JSON)");
  }
  const { image, manifest: manifestText, signature } = (header ?? {}) as Record<string, unknown>;
  if (image !== IMAGE_FILE_FORMAT) throw new Error(`not a moorline image file (format ${JSON.stringify(image)}, expected ${IMAGE_FILE_FORMAT})`);
  if (typeof manifestText !== "string" || typeof signature !== "string") throw new Error("the image file's header has no manifest or no signature");
  const manifest = parseManifest(manifestText);
  if (typeof manifest === "string") throw new Error(`the image file's ${manifest.replace(/^the /, "")}`);
  const payload = bytes.subarray(end + 1);
  const problems: string[] = [];
  if (payload.length < manifest.size) problems.push(`truncated: ${payload.length} of the manifest's ${manifest.size} bytes`);
  if (payload.length > manifest.size) problems.push(`${payload.length - manifest.size} bytes past the manifest's size`);
  return { manifest, manifestText, signature, payload, problems };
}

/** The image file at `path`. */
export function readImageFile(path: string): OtaImage {
  return parseImage(readFileSync(path));
}
