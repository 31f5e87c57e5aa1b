/**
 * Frame encoding, RFC 6455 section 5.2. Pure: the caller supplies the masking key.
 * STUB: signatures are the contract; implementation pending.
 */

/**
 * Encodes one client frame: FIN bit, opcode, MASK bit set, 7/16/64-bit length, the 4-byte
 * masking key, and the payload XORed with the key (section 5.3). One allocation, header and
 * payload together. `payload` is not modified.
 */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  fin: boolean,
  maskKey: Uint8Array,
): Uint8Array {
  void opcode; void payload; void fin; void maskKey;
  throw new Error("not implemented");
}

/**
 * Close frame payload (section 5.5.1): empty when `code` is undefined, else the 2-byte code
 * followed by the UTF-8 reason. Arguments are validated by the caller.
 */
export function encodeClosePayload(code?: number, reason?: string): Uint8Array {
  void code; void reason;
  throw new Error("not implemented");
}
