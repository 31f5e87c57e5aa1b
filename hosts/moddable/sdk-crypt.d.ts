/**
 * Our declarations of the SDK's ECDSA modules that hosts/moddable/firmware.ts verifies image
 * signatures with (SDK 8.2.3, modules/crypt: the ones its TLS checks certificates with). The
 * SDK ships no typings for them, so firmware.ts references this file (/// <reference>), which
 * serves both our tsc (hosts/moddable/tsconfig.json) and the one mcconfig runs.
 */

declare module "ecdsa" {
  /** The SDK's ECDSA (modules/crypt/etc/ecdsa.js) over its native big-number arithmetic. */
  export default class ECDSA {
    constructor(key: unknown, curve: unknown);
    /** `hash` the message's digest; `signature` r || s (asn1 false) or DER (asn1 true). */
    verify(hash: ArrayBuffer, signature: ArrayBuffer, asn1?: boolean): boolean;
  }
}

declare module "curve" {
  /** A named curve's parameters (modules/crypt/etc/curve.js). */
  export default class Curve {
    constructor(name: "secp256r1" | "secp384r1");
  }
}

declare module "ecp" {
  /** A curve point (modules/crypt/arith/ecp.js). */
  export default class ECPoint {
    /** An uncompressed point: 0x04 || x || y. */
    static fromOctetString(octets: Uint8Array): ECPoint;
  }
}
