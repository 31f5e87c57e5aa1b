/**
 * WebSocket URIs, RFC 6455 section 3: ws://host[:port]/path?query and wss://.
 * No URL global on XS: parsed by hand.
 * STUB: signatures are the contract; implementation pending.
 */

export interface WebSocketUrl {
  /** wss:// */
  secure: boolean;
  /** Lower-cased host name, or IP literal (IPv6 without brackets). */
  host: string;
  /** Explicit port, or 80 (ws) / 443 (wss). */
  port: number;
  /** Path and query for the request line: "/" when the URL has no path. */
  resource: string;
  /** Value of the Host header: host (IPv6 in brackets) plus ":port" when not the default. */
  hostHeader: string;
}

/**
 * Parses and validates a ws:// or wss:// URL. Throws a WebSocketError with code
 * ERR_INVALID_URL and a message naming what is wrong: another scheme, no host, a bad port
 * (not 1..65535), a fragment (#, forbidden by section 3), userinfo, spaces or control chars.
 */
export function parseWebSocketUrl(url: string): WebSocketUrl {
  void url;
  throw new Error("not implemented");
}
