/**
 * A firmware image's manifest: what the owner signs (docs/ota.md). The server offers it as
 * the exact text that was signed, so nothing is re-serialised before the signature is checked:
 *
 *   {"format":"moorline-image/1","target":"desktop","version":"0.2.0","size":612345,
 *    "sha256":"<64 hex digits of the payload>","key":"<16 hex digits: the signing key's id>"}
 *
 * and the device checks, before a byte of the image is accepted, that the signature is the
 * owner's (the key built into the firmware), that the target is its own and that the version
 * is newer; after the last byte, that the payload has exactly `size` bytes hashing to `sha256`.
 *
 * Versions are dotted numbers, at most four, with an optional "-suffix" (1.2.0, 1.2.0-rc.1):
 * compared number by number (a missing number is 0); a version with a suffix comes before the
 * same numbers without one; two suffixes compare as strings.
 */
import { parseJson } from "../shared/json.js";

/** The manifest format this firmware reads. */
export const IMAGE_FORMAT = "moorline-image/1";
/** Longest manifest text accepted, UTF-8 bytes (a real one is about 220). */
export const MAX_MANIFEST_BYTES = 1024;
/** Longest version, characters. */
export const MAX_VERSION_CHARS = 32;
/** Longest target name, characters ("desktop", "esp32", "esp32/esp32s3"). */
export const MAX_TARGET_CHARS = 32;
/** Largest image size a manifest may state, bytes (16 MiB: the largest ESP32 flash). */
export const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
/** Hex digits of a key id: the first 8 bytes of the SHA-256 of the raw public key. */
export const KEY_ID_HEX = 16;

export interface ImageManifest {
  format: string;
  /** What the image runs on: "desktop" (the simulated device) or "esp32". */
  target: string;
  /** The firmware's version, as its hello will report it. */
  version: string;
  /** The payload's length, bytes. */
  size: number;
  /** The payload's SHA-256, 64 lower-case hex digits. */
  sha256: string;
  /** The signing key's id (keyId()), when the signer gave it: for a clearer refusal. */
  key?: string;
}

const VERSION = /^[0-9]{1,9}(\.[0-9]{1,9}){0,3}(-[0-9A-Za-z][0-9A-Za-z.-]*)?$/;
const HEX_DIGEST = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const TARGET = /^[a-z0-9][a-z0-9/_-]*$/;

/** `text` is a version this firmware can compare (see the module's comment). */
export function isVersion(text: unknown): text is string {
  return typeof text === "string" && text.length <= MAX_VERSION_CHARS && VERSION.test(text);
}

/** Negative when a < b, 0 when equal, positive when a > b (both valid versions). */
export function compareVersions(a: string, b: string): number {
  const [coreA, suffixA] = splitVersion(a);
  const [coreB, suffixB] = splitVersion(b);
  for (let i = 0; i < Math.max(coreA.length, coreB.length); i++) {
    const difference = (coreA[i] ?? 0) - (coreB[i] ?? 0);
    if (difference !== 0) return difference;
  }
  if (suffixA === suffixB) return 0;
  if (suffixA === undefined) return 1;
  if (suffixB === undefined) return -1;
  return suffixA < suffixB ? -1 : 1;
}

function splitVersion(version: string): [number[], string | undefined] {
  const dash = version.indexOf("-");
  const core = dash < 0 ? version : version.slice(0, dash);
  return [core.split(".").map(Number), dash < 0 ? undefined : version.slice(dash + 1)];
}

/**
 * The manifest in `text`, or a sentence saying what is wrong with it. Fields it does not
 * know are allowed (a later format's additions, covered by the signature all the same).
 */
export function parseManifest(text: string): ImageManifest | string {
  // One level of nesting is all a manifest has: deeper is refused before JSON.parse recurses.
  const parsed = parseJson(text, { maxBytes: MAX_MANIFEST_BYTES, maxDepth: 2 });
  if (!parsed.ok) return `the manifest cannot be read (${parsed.code}: ${parsed.message})`;
  const value = parsed.value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the manifest is not a JSON object";
  const { format, target, version, size, sha256, key } = value as Record<string, unknown>;
  if (format !== IMAGE_FORMAT) return `the manifest's format is not ${IMAGE_FORMAT}`;
  if (typeof target !== "string" || target.length > MAX_TARGET_CHARS || !TARGET.test(target)) return "the manifest's target is not a target name";
  if (!isVersion(version)) return "the manifest's version is not a version (dotted numbers, an optional -suffix)";
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > MAX_IMAGE_BYTES) {
    return `the manifest's size is not an integer from 1 to ${MAX_IMAGE_BYTES}`;
  }
  if (typeof sha256 !== "string" || !HEX_DIGEST.test(sha256)) return "the manifest's sha256 is not 64 lower-case hex digits";
  if (key !== undefined && (typeof key !== "string" || !KEY_ID.test(key))) return `the manifest's key is not ${KEY_ID_HEX} lower-case hex digits`;
  const manifest: ImageManifest = { format, target, version, size, sha256 };
  if (key !== undefined) manifest.key = key as string;
  return manifest;
}

/** `bytes` as lower-case hex digits, two per byte. */
export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += (bytes[i]! < 16 ? "0" : "") + bytes[i]!.toString(16);
  return text;
}

/** A key's id: the first 8 bytes of the SHA-256 (`digest`) of its raw form, in hex. */
export function keyId(publicKey: Uint8Array, digest: (bytes: Uint8Array) => Uint8Array): string {
  return toHex(digest(publicKey).subarray(0, KEY_ID_HEX / 2));
}
