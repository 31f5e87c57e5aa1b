/**
 * The opening handshake, RFC 6455 section 4.1: the request the client sends and the
 * validation of the server's response.
 * STUB: signatures are the contract; implementation pending.
 */
import type { HandshakeError } from "./errors.js";
import type { RandomSource, Sha1 } from "./host.js";
import type { WebSocketUrl } from "./url.js";

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (section 4.1, item 7). */
export function makeHandshakeKey(random: RandomSource): string {
  void random;
  throw new Error("not implemented");
}

/** base64(SHA-1(key + GUID)): the Sec-WebSocket-Accept a server must answer with. */
export function expectedAccept(key: string, sha1: Sha1): string {
  void key; void sha1;
  throw new Error("not implemented");
}

export interface HandshakeRequest {
  url: WebSocketUrl;
  key: string;
  /** Subprotocols offered, in order of preference (Sec-WebSocket-Protocol). */
  protocols: readonly string[];
  /** Extra headers, already validated by validateHeaders. */
  headers: ReadonlyArray<readonly [string, string]>;
}

/**
 * The GET request, as bytes (ASCII/latin1): request line with url.resource, Host,
 * Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13,
 * Sec-WebSocket-Protocol when protocols are offered, then the extra headers, then CRLF.
 */
export function encodeHandshakeRequest(request: HandshakeRequest): Uint8Array {
  void request;
  throw new Error("not implemented");
}

/**
 * Validates user-supplied extra headers; throws a WebSocketError (ERR_INVALID_OPTION) that
 * names the bad header: a name that is not an HTTP token, a value with CR, LF or NUL or
 * non-latin1 characters, or a header the client manages itself (Host, Upgrade, Connection,
 * Sec-WebSocket-Key, -Version, -Protocol, -Extensions, -Accept, Content-Length).
 * Accepts a plain object or an array of pairs; returns pairs.
 */
export function validateHeaders(
  headers: Record<string, string> | ReadonlyArray<readonly [string, string]> | undefined,
): Array<[string, string]> {
  void headers;
  throw new Error("not implemented");
}

/**
 * Validates subprotocols to offer: each an HTTP token (RFC 7230 tchar), no duplicates.
 * Accepts undefined, one string or an array. Throws ERR_INVALID_OPTION naming the bad value.
 */
export function validateProtocols(protocols: string | readonly string[] | undefined): string[] {
  void protocols;
  throw new Error("not implemented");
}

/** A parsed HTTP response head. Header names lower-cased; repeated headers joined by ", ". */
export interface HttpResponseHead {
  status: number;
  reason: string;
  headers: Map<string, string>;
}

export type ParseResult =
  | { done: false }
  | { done: true; head: HttpResponseHead; rest: Uint8Array };

/**
 * Incremental parser of the response head: bytes in any chunking until CRLF CRLF.
 * Bytes after the head (the server's first frames) come back as `rest`.
 * Throws a HandshakeError: ERR_HANDSHAKE_TOO_LARGE when the head exceeds maxBytes before
 * its end; ERR_HANDSHAKE_MALFORMED for a status line that is not "HTTP/1.1 NNN reason",
 * a header line without a colon, or bytes that are not HTTP.
 */
export class HandshakeResponseParser {
  constructor(maxBytes: number) {
    void maxBytes;
    throw new Error("not implemented");
  }
  push(chunk: Uint8Array): ParseResult {
    void chunk;
    throw new Error("not implemented");
  }
}

export interface AcceptedHandshake {
  /** The subprotocol the server selected, or "" when none. */
  protocol: string;
}

/**
 * Checks a parsed head against section 4.1 (client requirements 1-6). Throws HandshakeError:
 * ERR_HANDSHAKE_STATUS when status is not 101 (message has status and reason, and Location
 * for a redirect; error.status set); ERR_HANDSHAKE_UPGRADE when Upgrade is not "websocket"
 * (case-insensitive); ERR_HANDSHAKE_CONNECTION when Connection has no "upgrade" token;
 * ERR_HANDSHAKE_ACCEPT when Sec-WebSocket-Accept is missing or wrong; ERR_HANDSHAKE_PROTOCOL
 * when a subprotocol is selected that was not offered (or more than one);
 * ERR_HANDSHAKE_EXTENSION when any extension is present (none is offered).
 */
export function validateHandshakeResponse(
  head: HttpResponseHead,
  expected: { accept: string; protocols: readonly string[] },
): AcceptedHandshake {
  void head; void expected;
  throw new Error("not implemented") as unknown as HandshakeError;
}
