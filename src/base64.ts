/** Base64 (RFC 4648 section 4) encoding of bytes. STUB. */
export function encodeBase64(bytes: Uint8Array): string {
  void bytes;
  throw new Error("not implemented");
}
