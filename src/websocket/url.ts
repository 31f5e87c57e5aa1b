/**
 * WebSocket URIs, RFC 6455 section 3: ws://host[:port]/path?query and wss://.
 * No URL global on XS: parsed by hand, strictly, against RFC 3986's generic syntax as
 * RFC 6455 section 3 narrows it (no fragment; authority without userinfo here).
 *
 * Choices where the RFCs leave room (for a device, a URL usually comes from configuration,
 * so a loud error beats a guess):
 * - "ws://host:/" (":" with an empty port) means the default port, as RFC 3986 section
 *   3.2.3 allows.
 * - Host names are limited to RFC 3986 "unreserved" characters (letters, digits, "-", ".",
 *   "_", "~"): the other reg-name characters (sub-delims, percent-encoding) never name a
 *   host a resolver can find. International names must be given in punycode ("xn--...").
 * - A host made only of digits and dots, or whose last label is a number (as the WHATWG URL
 *   parser decides), must be a dotted-quad IPv4 address (each part 0..255, no leading zeros,
 *   which some resolvers read as octal).
 * - Userinfo (user:pass@host) is refused rather than ignored: the client would not send it,
 *   and silently dropping credentials hides the mistake. Use an Authorization header.
 * - The path and query are kept byte for byte (after the checks below): the server
 *   decides what they mean.
 */
import { ErrorCode, WebSocketError } from "../shared/errors.js";

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

/** RFC 6455 section 3: the default ports. */
const DEFAULT_PORT_WS = 80;
const DEFAULT_PORT_WSS = 443;
/** Longest URL quoted whole in an error message, characters. */
const QUOTE_MAX = 100;

/**
 * Parses and validates a ws:// or wss:// URL. Throws a WebSocketError with code
 * ERR_INVALID_URL and a message naming what is wrong: another scheme, no host, a bad port
 * (not 1..65535), a fragment (#, forbidden by section 3), userinfo, spaces or control chars.
 */
export function parseWebSocketUrl(url: string): WebSocketUrl {
  if (typeof url !== "string") {
    throw new WebSocketError(
      ErrorCode.INVALID_URL,
      `invalid WebSocket URL: expected a string, got ${url === null ? "null" : typeof url}`,
    );
  }
  // Characters first: RFC 3986 section 2 allows only printable ASCII in a URI, and a space,
  // CR or LF that reached the request line would break (or inject into) the HTTP request.
  for (let i = 0; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) {
      throw invalidUrl(
        url,
        c === 0x20
          ? `contains a space at index ${i} (percent-encode it as %20)`
          : `contains control character ${hex(c)} at index ${i}`,
      );
    }
    if (c > 0x7e) {
      throw invalidUrl(
        url,
        `contains non-ASCII character ${JSON.stringify(url[i])} at index ${i}: percent-encode ` +
          `it (RFC 3986 section 2.1), and give international host names in punycode ("xn--...")`,
      );
    }
  }
  if (url.indexOf("#") >= 0) {
    throw invalidUrl(
      url,
      `has a fragment ("#"), which RFC 6455 section 3 forbids (write "#" as %23 if it is data)`,
    );
  }

  // Scheme, RFC 3986 section 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
  const colon = url.indexOf(":");
  const scheme = colon > 0 ? url.slice(0, colon).toLowerCase() : "";
  if (colon <= 0 || !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw invalidUrl(url, `has no scheme: expected "ws://host/path" or "wss://host/path"`);
  }
  if (scheme !== "ws" && scheme !== "wss") {
    if (scheme === "http") {
      throw invalidUrl(url, `scheme "http" is not a WebSocket scheme: use ws:// instead`);
    }
    if (scheme === "https") {
      throw invalidUrl(url, `scheme "https" is not a WebSocket scheme: use wss:// instead`);
    }
    if (url.slice(colon + 1, colon + 3) !== "//") {
      // "localhost:8080" or "host:port/path": a host and port, not a scheme.
      throw invalidUrl(url, `has no scheme: expected "ws://host/path" or "wss://host/path"`);
    }
    throw invalidUrl(url, `scheme "${scheme}" is not supported: expected ws:// or wss://`);
  }
  const secure = scheme === "wss";
  const defaultPort = secure ? DEFAULT_PORT_WSS : DEFAULT_PORT_WS;
  if (url.slice(colon + 1, colon + 3) !== "//") {
    throw invalidUrl(url, `missing host: expected "${scheme}://" followed by a host`);
  }

  // Authority: up to the first "/" or "?" (no "#" is left), RFC 3986 section 3.2.
  const authorityStart = colon + 3;
  let authorityEnd = authorityStart;
  while (authorityEnd < url.length && url[authorityEnd] !== "/" && url[authorityEnd] !== "?") {
    authorityEnd++;
  }
  const authority = url.slice(authorityStart, authorityEnd);
  if (authority.indexOf("@") >= 0) {
    throw invalidUrl(
        url,
      `has userinfo ("user@host"), which the client does not send: ` +
        `put credentials in a header such as Authorization`,
    );
  }

  let host: string;
  let hostForHeader: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    // IP-literal, RFC 3986 section 3.2.2: "[" IPv6address "]".
    const close = authority.indexOf("]");
    if (close < 0) throw invalidUrl(url, `IPv6 address has no closing "]"`);
    const literal = authority.slice(1, close).toLowerCase();
    if (literal.startsWith("v")) {
      throw invalidUrl(url, `IP address literal [${literal}] (IPvFuture) is not supported`);
    }
    if (literal.indexOf("%") >= 0) {
      throw invalidUrl(url, `IPv6 zone identifiers ("%") are not supported`);
    }
    if (!isIpv6(literal)) throw invalidUrl(url, `[${literal}] is not a valid IPv6 address`);
    const after = authority.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) {
      throw invalidUrl(
        url,
        `unexpected ${JSON.stringify(after)} after the IPv6 address (expected ":port")`,
      );
    }
    host = literal;
    hostForHeader = `[${literal}]`;
    portText = after === "" ? undefined : after.slice(1);
  } else {
    const portColon = authority.indexOf(":");
    const name = portColon < 0 ? authority : authority.slice(0, portColon);
    portText = portColon < 0 ? undefined : authority.slice(portColon + 1);
    if (name === "") throw invalidUrl(url, `missing host`);
    const bad = name.search(/[^A-Za-z0-9._~-]/);
    if (bad >= 0) {
      throw invalidUrl(
        url,
        name[bad] === "%"
          ? `percent-encoded host names are not supported`
          : `host contains ${JSON.stringify(name[bad])}, which is not allowed in a host name`,
      );
    }
    if (endsInNumber(name) && !isIpv4(name)) {
      throw invalidUrl(
        url,
        `host ${JSON.stringify(name)} is not a valid IPv4 address (four numbers 0..255)` +
          (/^[0-9.]+$/.test(name) ? "" : ": a host whose last label is a number is read as one"),
      );
    }
    host = name.toLowerCase();
    hostForHeader = host;
  }

  let port = defaultPort;
  if (portText !== undefined && portText !== "") {
    if (!/^[0-9]+$/.test(portText)) {
      throw invalidUrl(url, `port ${JSON.stringify(portText)} is not a number`);
    }
    port = Number(portText);
    if (port < 1 || port > 65535) throw invalidUrl(url, `port ${portText} is not in 1..65535`);
  }

  // Resource, RFC 6455 section 3: path (or "/") plus "?" query when present.
  const rest = url.slice(authorityEnd);
  const resource = rest === "" ? "/" : rest.startsWith("?") ? "/" + rest : rest;

  return {
    secure,
    host,
    port,
    resource,
    // RFC 6455 section 4.1, item 4: the port appears only when it is not the default.
    hostHeader: port === defaultPort ? hostForHeader : `${hostForHeader}:${port}`,
  };
}

/**
 * Does the host's last label (a trailing dot aside) look like a number: decimal digits, or
 * "0x" and hex digits? The WHATWG URL parser (browsers, Node) then reads the whole host as an
 * IPv4 address and refuses "a.0" or "host.0x1f"; no top-level domain is a number, so such a
 * name can only be a typo for an address (found by fuzzing against Node's URL).
 */
function endsInNumber(name: string): boolean {
  const labels = name.split(".");
  if (labels.length > 1 && labels[labels.length - 1] === "") labels.pop();
  const last = labels[labels.length - 1]!;
  return /^[0-9]+$/.test(last) || /^0[xX][0-9A-Fa-f]*$/.test(last);
}

/** Dotted-quad IPv4, RFC 3986 section 3.2.2 dec-octet (no leading zeros). */
function isIpv4(text: string): boolean {
  const parts = text.split(".");
  if (parts.length !== 4) return false;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return false;
  }
  return true;
}

/**
 * IPv6address, RFC 3986 section 3.2.2 (RFC 4291 section 2.2): eight groups of 1-4 hex
 * digits, "::" standing for one or more zero groups at most once, the last 32 bits
 * optionally written as IPv4. Expects lower-case input.
 */
function isIpv6(text: string): boolean {
  const halves = text.split("::");
  if (halves.length > 2) return false;
  let groups = 0;
  for (let h = 0; h < halves.length; h++) {
    const half = halves[h]!;
    if (half === "") continue;
    const parts = half.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const last = h === halves.length - 1 && i === parts.length - 1;
      if (last && part.indexOf(".") >= 0) {
        if (!isIpv4(part)) return false;
        groups += 2;
      } else if (/^[0-9a-f]{1,4}$/.test(part)) {
        groups += 1;
      } else {
        return false;
      }
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

function invalidUrl(url: string, problem: string): WebSocketError {
  // The problem may quote a character of the URL (JSON-escaped): DEL and C1 too, see quoteUrl.
  return new WebSocketError(
    ErrorCode.INVALID_URL,
    `invalid WebSocket URL ${quoteUrl(url)}: ${escapeControls(problem)}`,
  );
}

/**
 * The URL for an error message: quoted (JSON escapes the C0 control characters; DEL and the
 * C1 controls, which it leaves, are escaped too, so none reaches a log or a terminal raw),
 * shortened when long, with any userinfo masked so a password never reaches a log.
 */
function quoteUrl(url: string): string {
  const masked = url.replace(/^([^:/?#]*:\/\/)[^/?#]*@/, "$1***@");
  return escapeControls(JSON.stringify(masked.length > QUOTE_MAX ? masked.slice(0, QUOTE_MAX) + "..." : masked));
}

/** DEL and the C1 controls as \u escapes (JSON.stringify escapes only the C0 ones). */
function escapeControls(text: string): string {
  return text.replace(/[\u007f-\u009f]/g, (c) => "\\u00" + c.charCodeAt(0).toString(16));
}

function hex(c: number): string {
  return "0x" + (c < 16 ? "0" : "") + c.toString(16);
}
