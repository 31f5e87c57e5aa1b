/** Portable SHA-1 (FIPS 180-4) for hosts without a native digest. STUB. */
export function sha1(bytes: Uint8Array): Uint8Array {
  void bytes;
  throw new Error("not implemented");
}
