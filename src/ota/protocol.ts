/**
 * The update protocol's wire format (docs/ota.md), shared by the device (src/ota/updater.ts)
 * and the companion server (server/ota.ts):
 *
 *   server -> device  request  {"type":"ota_offer","id":..,"manifest":"<signed text>","signature":"<base64>"}
 *   device -> server  reply    {"accepted":true,"offset":N,"chunkBytes":C,"size":S} or an error with a refusal code
 *   device -> server  text     {"type":"ota","state":"downloading","offset":N,...} when it is ready for the
 *                              chunk at N (after the reply; after each chunk written): the server's cue,
 *                              so one chunk is in flight at a time
 *   server -> device  binary   chunk: MAGIC (4 bytes) | offset (u32, big-endian) | up to C bytes of the image
 *   server -> device  binary   a chunk with no bytes at offset N: the image ends at N (short of its size)
 *   device -> server  text     {"type":"ota","state":"installed"|"failed",...}, then it restarts or carries on
 *
 * A binary message that does not start with MAGIC is no chunk: the device echoes it, as ever.
 */

/** The request that offers an image. */
export const OTA_OFFER = "ota_offer";
/** The device's update notifications (progress, result): a device message type. */
export const OTA_MESSAGE = "ota";

/** A chunk's first bytes: "MLU" and the format's version, 1. */
export const CHUNK_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x4d, 0x4c, 0x55, 0x01);
/** Bytes before a chunk's data: the magic and the offset. */
export const CHUNK_HEADER_BYTES = 8;

/**
 * Why the device refuses an offer or an image: stable codes, in the reply's error, the `ota`
 * message's `code` and the log's `ota_refused` line.
 */
export const OtaRefusal = Object.freeze({
  /** The manifest's signature is not the owner's (a changed manifest, another key). */
  BAD_SIGNATURE: "bad_signature",
  /** The payload's SHA-256 is not the manifest's (a byte changed on the way). */
  WRONG_HASH: "wrong_hash",
  /** The image ended before the manifest's size. */
  TRUNCATED: "truncated",
  /** Larger than the slot it would go to, or more bytes than the manifest's size. */
  TOO_LARGE: "too_large",
  /** Made for another target (an ESP32 image offered to the desktop device, say). */
  WRONG_TARGET: "wrong_target",
  /** Older than the running firmware (unless the build's otaAllowDowngrade). */
  DOWNGRADE: "downgrade",
  /** The running firmware's own version. */
  SAME_VERSION: "same_version",
  /** This very image was tried and rolled back: it is not taken again. */
  ROLLED_BACK: "rolled_back",
  /** The running image is itself on trial: it must be confirmed before another is taken. */
  UNCONFIRMED: "unconfirmed",
  /** The firmware has no update key (config otaPublicKey): it cannot check any image. */
  NO_KEY: "no_key",
  /** The manifest is signed but not one this firmware reads. */
  BAD_MANIFEST: "bad_manifest",
  /** Writing the image to its slot failed. */
  WRITE_FAILED: "write_failed",
  /** The image was complete and verified, but could not be made the one to boot. */
  INSTALL_FAILED: "install_failed",
} as const);

export type OtaRefusalCode = (typeof OtaRefusal)[keyof typeof OtaRefusal];

/** A chunk's parts, or undefined when `bytes` is not a chunk (no MAGIC). */
export function readChunk(bytes: Uint8Array): { offset: number; data: Uint8Array } | undefined {
  if (bytes.length < CHUNK_HEADER_BYTES) return undefined;
  for (let i = 0; i < CHUNK_MAGIC.length; i++) if (bytes[i] !== CHUNK_MAGIC[i]) return undefined;
  const offset = ((bytes[4]! << 24) | (bytes[5]! << 16) | (bytes[6]! << 8) | bytes[7]!) >>> 0;
  return { offset, data: bytes.subarray(CHUNK_HEADER_BYTES) };
}

/** The chunk carrying `data` at `offset` (no data: the end of the image). */
export function encodeChunk(offset: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(CHUNK_HEADER_BYTES + data.length);
  out.set(CHUNK_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, offset);
  out.set(data, CHUNK_HEADER_BYTES);
  return out;
}
