/**
 * TLS 1.2 records as a server sends them in the clear (RFC 5246 sections 6.2.1 and 7.4), for
 * tests of what the Moddable host reads from a handshake: a ServerHello stand-in, the
 * Certificate message with real DER certificates, ServerHelloDone, split into records.
 */
import { X509Certificate } from "node:crypto";

/** A PEM certificate's DER bytes. */
export function der(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

/** A record: type, version 3.3, 2-byte length, the fragment. */
export function record(type: number, fragment: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + fragment.length);
  out.set([type, 3, 3, fragment.length >> 8, fragment.length & 0xff]);
  out.set(fragment, 5);
  return out;
}

/** A handshake message: type, 3-byte length, the body. */
export function handshake(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out.set([type, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]);
  out.set(body, 4);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const u24 = (n: number): Uint8Array => Uint8Array.of(n >> 16, (n >> 8) & 0xff, n & 0xff);

/** The Certificate message of a chain (leaf first). */
export function certificateMessage(chain: readonly Uint8Array[]): Uint8Array {
  const list = concat(chain.flatMap((cert) => [u24(cert.length), cert]));
  return handshake(11, concat([u24(list.length), list]));
}

/**
 * The server's first flight: ServerHello (a stand-in body), Certificate, and optionally
 * ServerHelloDone, as handshake records of at most `recordsOf` bytes each.
 */
export function certificateFlight(
  chain: readonly Uint8Array[],
  options: { recordsOf?: number; hello?: boolean; done?: boolean } = {},
): Uint8Array {
  const { recordsOf = 16384, hello = true, done = false } = options;
  const messages = concat([
    ...(hello ? [handshake(2, new Uint8Array(70))] : []),
    certificateMessage(chain),
    ...(done ? [handshake(14, new Uint8Array(0))] : []),
  ]);
  const records: Uint8Array[] = [];
  for (let at = 0; at < messages.length; at += recordsOf) records.push(record(22, messages.subarray(at, at + recordsOf)));
  return concat(records);
}

/** The server's ChangeCipherSpec record. */
export const CHANGE_CIPHER_SPEC = record(20, Uint8Array.of(1));
