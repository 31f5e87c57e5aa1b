/**
 * The opening handshake, RFC 6455 section 4.1: the request the client sends and the
 * validation of the server's response.
 *
 * Everything here is pure: bytes and strings in, bytes, values or errors out. The client
 * (src/websocket/client.ts) owns the socket and the handshake deadline.
 *
 * HTTP parsing is strict on purpose (RFC 7230 allows leniency in places; a device talking
 * to its own server gains nothing from it, and every lenient path is one more way for a
 * confused or hostile peer to be misread): lines end in CRLF, never a bare LF or CR; no
 * obsolete line folding; no control characters other than HTAB; header names are tokens
 * with the colon right after them. Garbage fails as early as the first byte that cannot be
 * HTTP, instead of waiting for the size limit or the deadline.
 */
import { MAX_LIMIT_BYTES, WEBSOCKET_GUID } from "./constants.js";
import {
  ErrorCode,
  handshakeError,
  invalidArgument,
  invalidOption,
  invalidState,
  type ErrorCodeValue,
  type HandshakeError,
} from "../shared/errors.js";
import type { RandomSource, Sha1 } from "../shared/host.js";
import { checkIntegerArgument } from "../shared/options.js";
import type { WebSocketUrl } from "./url.js";
import { encodeBase64 } from "./base64.js";

/** Section 4.1, item 7: the key is 16 random bytes. */
const KEY_BYTES = 16;
/** Longest excerpt of a server's text (status line, header value) quoted in an error, chars. */
const QUOTE_MAX = 60;

const CR = 0x0d;
const LF = 0x0a;
const HTAB = 0x09;
/** Every HTTP/1.x response begins with these bytes (RFC 7230 section 2.6). */
const HTTP_PREFIX = "HTTP/1.";

/** A fresh Sec-WebSocket-Key: 16 random bytes, base64 (section 4.1, item 7). */
export function makeHandshakeKey(random: RandomSource): string {
  const nonce = new Uint8Array(KEY_BYTES);
  random(nonce);
  return encodeBase64(nonce);
}

/** base64(SHA-1(key + GUID)): the Sec-WebSocket-Accept a server must answer with. */
export function expectedAccept(key: string, sha1: Sha1): string {
  // Section 4.2.2, item 5.4: the key as sent (base64, so ASCII) with the GUID appended.
  return encodeBase64(sha1(latin1Bytes(key + WEBSOCKET_GUID, "Sec-WebSocket-Key")));
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
  // Section 4.1, items 2-10, in that order.
  let text =
    `GET ${request.url.resource} HTTP/1.1\r\n` +
    `Host: ${request.url.hostHeader}\r\n` +
    "Upgrade: websocket\r\n" +
    "Connection: Upgrade\r\n" +
    `Sec-WebSocket-Key: ${request.key}\r\n` +
    "Sec-WebSocket-Version: 13\r\n";
  if (request.protocols.length > 0) {
    text += `Sec-WebSocket-Protocol: ${request.protocols.join(", ")}\r\n`;
  }
  for (const [name, value] of request.headers) text += `${name}: ${value}\r\n`;
  text += "\r\n";
  return latin1Bytes(text, "the handshake request");
}

/**
 * Headers the client writes itself (section 4.1) or that would change how the server reads
 * the request (a body length on a GET that has none): a user value would duplicate or
 * contradict ours. Lower-case. Subprotocols go through the `protocols` option.
 */
const MANAGED_HEADERS = Object.freeze([
  "host",
  "upgrade",
  "connection",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-protocol",
  "sec-websocket-extensions",
  "sec-websocket-accept",
  "content-length",
  "transfer-encoding",
]);

/**
 * Validates user-supplied extra headers; throws a WebSocketError (ERR_INVALID_OPTION) that
 * names the bad header: a name that is not an HTTP token, a value with CR, LF or NUL or
 * non-latin1 characters, or a header the client manages itself (Host, Upgrade, Connection,
 * Sec-WebSocket-Key, -Version, -Protocol, -Extensions, -Accept, Content-Length).
 * Accepts a plain object or an array of pairs; returns pairs.
 *
 * Also refused: other control characters in values (RFC 7230 section 3.2 allows only HTAB),
 * and Transfer-Encoding. Header values are never quoted in errors: they often hold secrets
 * (an Authorization token), and error messages end up in logs.
 */
export function validateHeaders(
  headers: Record<string, string> | ReadonlyArray<readonly [string, string]> | undefined,
): Array<[string, string]> {
  if (headers === undefined) return [];
  const pairs: Array<[string, string]> = [];
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i++) {
      const pair: unknown = headers[i];
      if (
        !Array.isArray(pair) ||
        pair.length !== 2 ||
        typeof pair[0] !== "string" ||
        typeof pair[1] !== "string"
      ) {
        throw invalidOption(`headers[${i}]`, "a [name, value] pair of strings", pair);
      }
      pairs.push([pair[0], pair[1]]);
    }
  } else if (typeof headers === "object" && headers !== null) {
    const record = headers as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      const value = record[name];
      if (typeof value !== "string") {
        throw invalidOption(`headers[${JSON.stringify(name)}]`, "a string", value);
      }
      pairs.push([name, value]);
    }
  } else {
    throw invalidOption("headers", "an object or an array of [name, value] pairs", headers);
  }

  for (const [name, value] of pairs) {
    const label = `headers[${JSON.stringify(name)}]`;
    if (!isToken(name)) {
      throw invalidOption(
        label,
        "named by an HTTP token (RFC 7230 section 3.2.6: letters, digits and !#$%&'*+-.^_`|~)",
        name,
      );
    }
    if (MANAGED_HEADERS.indexOf(name.toLowerCase()) >= 0) {
      const hint =
        name.toLowerCase() === "sec-websocket-protocol" ? " (use the protocols option)" : "";
      throw invalidOption(label, `left out: the client sets ${name} itself${hint}`, name);
    }
    // field-value, RFC 7230 section 3.2: HTAB, SP, VCHAR, obs-text (0x80-0xff); nothing
    // that could end the line (CR, LF) and so inject headers, nor other controls.
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if ((c < 0x20 && c !== HTAB) || c === 0x7f) {
        throw invalidOption(
          label,
          `a value without CR, LF, NUL or other control characters (RFC 7230 section 3.2), ` +
            `but it has ${charName(c)} at index ${i}`,
          "(value not shown)",
        );
      }
      if (c > 0xff) {
        throw invalidOption(
          label,
          `a latin1 value (HTTP headers are bytes; encode other text, e.g. percent-encode ` +
            `its UTF-8), but it has ${codePoint(c)} at index ${i}`,
          "(value not shown)",
        );
      }
    }
  }
  return pairs;
}

/**
 * Validates subprotocols to offer: each an HTTP token (RFC 7230 tchar), no duplicates.
 * Accepts undefined, one string or an array. Throws ERR_INVALID_OPTION naming the bad value.
 */
export function validateProtocols(protocols: string | readonly string[] | undefined): string[] {
  if (protocols === undefined) return [];
  const list: readonly unknown[] = typeof protocols === "string" ? [protocols] : protocols;
  if (!Array.isArray(list)) {
    throw invalidOption("protocols", "a string or an array of strings", protocols);
  }
  const result: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const protocol = list[i];
    const label = typeof protocols === "string" ? "protocols" : `protocols[${i}]`;
    // Section 4.1, item 10: each value is a token (RFC 7230 section 3.2.6), and the values
    // are unique; a name matches exactly (section 11.3.4 treats them as case-sensitive).
    if (typeof protocol !== "string" || !isToken(protocol)) {
      throw invalidOption(
        label,
        "an HTTP token (RFC 7230 section 3.2.6: letters, digits and !#$%&'*+-.^_`|~)",
        protocol,
      );
    }
    if (result.indexOf(protocol) >= 0) {
      throw invalidOption(label, "unique (offered twice)", protocol);
    }
    result.push(protocol);
  }
  return result;
}

/** A parsed HTTP response head. Header names lower-cased; repeated headers joined by ", ". */
export interface HttpResponseHead {
  /** The HTTP minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minorVersion: number;
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
 *
 * Memory: at most maxBytes are kept (the head, CRLF CRLF included, may be exactly maxBytes
 * long), in a buffer that starts small and doubles as needed. When a chunk holds the whole
 * head it is parsed in place, without copying. Each byte is scanned once: the parser
 * remembers where it stopped. After the result (or an error), push() must not be called.
 */
export class HandshakeResponseParser {
  private readonly maxBytes: number;
  /** Bytes of an unfinished head that arrived in earlier chunks. */
  private buffer: Uint8Array | undefined;
  /** Bytes used in `buffer`; all of them were scanned without finding the end. */
  private length = 0;
  private finished = false;

  constructor(maxBytes: number) {
    this.maxBytes = checkIntegerArgument("maxBytes", maxBytes, 1, MAX_LIMIT_BYTES, "bytes");
  }

  push(chunk: Uint8Array): ParseResult {
    if (this.finished) {
      throw invalidState(
        "HandshakeResponseParser.push() after the response head was parsed or rejected",
      );
    }
    if (chunk.length === 0) return { done: false };
    // Only bytes that can still belong to the head are kept or scanned.
    const take = Math.min(chunk.length, this.maxBytes - this.length);
    const start = this.length;
    let data: Uint8Array;
    if (start === 0) {
      data = chunk; // scan in place: no copy when the head arrives in one chunk
    } else {
      this.reserve(start + take);
      this.buffer!.set(chunk.subarray(0, take), start);
      data = this.buffer!;
    }
    const available = start + take;
    try {
      const end = scanForEndOfHead(data, start, available);
      if (end >= 0) {
        this.finished = true;
        const head = parseHead(data, end);
        this.buffer = undefined;
        // The end lies in this chunk: earlier chunks were scanned without finding it.
        return { done: true, head, rest: chunk.subarray(end - start) };
      }
      if (available >= this.maxBytes) {
        throw handshakeError(
          ErrorCode.HANDSHAKE_TOO_LARGE,
          `server's response head exceeds maxHandshakeBytes (${this.maxBytes} bytes): no end ` +
            `of headers (CRLF CRLF) within them; it begins ${quoteFirstLine(data, available)}`,
        );
      }
    } catch (error) {
      this.finished = true;
      this.buffer = undefined;
      throw error;
    }
    if (start === 0) {
      this.reserve(take);
      this.buffer!.set(chunk.subarray(0, take), 0);
    }
    this.length = available;
    return { done: false };
  }

  /** Grows the buffer to hold `needed` bytes: doubling from 512, never over maxBytes. */
  private reserve(needed: number): void {
    const current = this.buffer;
    if (current !== undefined && current.length >= needed) return;
    let size = current === undefined ? Math.min(512, this.maxBytes) : current.length;
    while (size < needed) size = Math.min(size * 2, this.maxBytes);
    const grown = new Uint8Array(size);
    if (current !== undefined) grown.set(current.subarray(0, this.length));
    this.buffer = grown;
  }
}

/**
 * Scans data[from..to) for the end of the head; returns the index just past CRLF CRLF, or
 * -1. Throws ERR_HANDSHAKE_MALFORMED at the first byte that cannot be part of an HTTP/1.x
 * response head. data[0..from) was scanned before and is the start of the same head.
 */
function scanForEndOfHead(data: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const b = data[i]!;
    if (i < HTTP_PREFIX.length && b !== HTTP_PREFIX.charCodeAt(i)) {
      throw handshakeError(
        ErrorCode.HANDSHAKE_MALFORMED,
        `server's response is not HTTP/1.x: it begins ${quoteFirstLine(data, to)}` +
          (i === 0 && (b === 0x15 || b === 0x16)
            ? " (a TLS record: is this a wss:// server?)"
            : ""),
      );
    }
    const previous = i > 0 ? data[i - 1]! : -1;
    if (previous === CR && b !== LF) {
      throw malformed(data, to, "a CR not followed by LF");
    }
    if (b === LF) {
      // RFC 7230 section 3.5 lets a recipient accept a bare LF as a line end; we do not.
      if (previous !== CR) throw malformed(data, to, "a line ending in a bare LF instead of CRLF");
      if (i >= 3 && data[i - 2] === LF) return i + 1; // CR LF CR LF: data[i-3] is CR
    } else if ((b < 0x20 && b !== HTAB && b !== CR) || b === 0x7f) {
      throw malformed(data, to, `control byte ${hex(b)}`);
    }
  }
  return -1;
}

/** Parses the complete head data[0..end), CRLF CRLF included; bytes are known clean. */
function parseHead(data: Uint8Array, end: number): HttpResponseHead {
  const lines = latin1Text(data, 0, end - 4).split("\r\n");
  const statusLine = lines[0]!;
  // status-line, RFC 7230 section 3.1.2: HTTP-version SP status-code SP reason-phrase.
  // The SP before an empty reason is often left out, so it is optional here.
  const status = /^HTTP\/1\.([0-9]) ([0-9]{3})(?: (.*))?$/.exec(statusLine);
  if (status === null) {
    throw handshakeError(
      ErrorCode.HANDSHAKE_MALFORMED,
      `server's status line ${quote(statusLine)} is not "HTTP/1.1 <3-digit status> <reason>"`,
    );
  }
  const headers = new Map<string, string>();
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!;
    // header-field, RFC 7230 section 3.2: token ":" OWS value OWS. A line starting with
    // whitespace is obs-fold (section 3.2.4), which a client may reject; we do.
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!isToken(name)) {
      const why =
        line.length > 0 && (line[0] === " " || line[0] === "\t")
          ? "a folded header line (obsolete line folding, RFC 7230 section 3.2.4)"
          : colon < 0
            ? "a header line without a colon"
            : "a header line whose name is not an HTTP token";
      throw handshakeError(
        ErrorCode.HANDSHAKE_MALFORMED,
        `server's response head has ${why}: ${quote(line)}`,
        Number(status[2]),
      );
    }
    const key = name.toLowerCase();
    const value = trimOws(line.slice(colon + 1));
    const previous = headers.get(key);
    // Section 3.2.2: repeated fields combine into one comma-separated list, in order.
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { minorVersion: Number(status[1]), status: Number(status[2]), reason: status[3] ?? "", headers };
}

export interface AcceptedHandshake {
  /** The subprotocol the server selected, or "" when none. */
  protocol: string;
}

/**
 * Checks a parsed head against section 4.1 (client requirements 1-6). Throws HandshakeError:
 * ERR_UNAUTHORIZED for 401 and 403 (the credentials were refused); ERR_HANDSHAKE_STATUS when
 * status is any other but 101 (message has status and reason, and Location for a redirect;
 * error.status set); ERR_HANDSHAKE_UPGRADE when Upgrade is not "websocket"
 * (case-insensitive); ERR_HANDSHAKE_CONNECTION when Connection has no "upgrade" token;
 * ERR_HANDSHAKE_ACCEPT when Sec-WebSocket-Accept is missing or wrong; ERR_HANDSHAKE_PROTOCOL
 * when a subprotocol is selected that was not offered (or more than one);
 * ERR_HANDSHAKE_EXTENSION when any extension is present (none is offered).
 */
export function validateHandshakeResponse(
  head: HttpResponseHead,
  expected: { accept: string; protocols: readonly string[] },
): AcceptedHandshake {
  const { status, headers } = head;
  const fail = (code: ErrorCodeValue, message: string): HandshakeError =>
    handshakeError(code, message, status);

  // Item 1: anything but 101 is an ordinary HTTP answer, and the attempt fails. A refusal of
  // the credentials (RFC 7235 section 3.1: 401; RFC 7231 section 6.5.3: 403) gets its own
  // code: the caller must not retry it like a passing failure.
  if (status === 401 || status === 403) throw fail(ErrorCode.UNAUTHORIZED, statusMessage(head));
  if (status !== 101) throw fail(ErrorCode.HANDSHAKE_STATUS, statusMessage(head));
  // A protocol switch is an HTTP/1.1 mechanism (RFC 7230 section 6.7); an HTTP/1.0 "101"
  // is not an upgrade a strict client can trust.
  if (head.minorVersion !== 1) {
    throw fail(
      ErrorCode.HANDSHAKE_MALFORMED,
      `server answered 101 over HTTP/1.${head.minorVersion}; switching protocols needs HTTP/1.1`,
    );
  }

  // Item 2.
  const upgrade = headers.get("upgrade");
  if (upgrade === undefined || upgrade.toLowerCase() !== "websocket") {
    const got = upgrade === undefined ? "no Upgrade header" : `Upgrade: ${quote(upgrade)}`;
    throw fail(
      ErrorCode.HANDSHAKE_UPGRADE,
      `server's 101 response has ${got}, expected Upgrade: websocket`,
    );
  }

  // Item 3: Connection is a comma-separated list of tokens (RFC 7230 section 6.1).
  const connection = headers.get("connection");
  if (
    connection === undefined ||
    !connection.split(",").some((token) => trimOws(token).toLowerCase() === "upgrade")
  ) {
    const got =
      connection === undefined ? "no Connection header" : `Connection: ${quote(connection)}`;
    throw fail(
      ErrorCode.HANDSHAKE_CONNECTION,
      `server's 101 response has ${got}, expected Connection: Upgrade`,
    );
  }

  // Item 4: an exact match; the value is base64, so case matters.
  const accept = headers.get("sec-websocket-accept");
  if (accept !== expected.accept) {
    throw fail(
      ErrorCode.HANDSHAKE_ACCEPT,
      `server's Sec-WebSocket-Accept is ${accept === undefined ? "missing" : quote(accept)}, ` +
        `expected "${expected.accept}" (computed from our Sec-WebSocket-Key)`,
    );
  }

  // Item 6: the server may select one of the offered subprotocols, or none (no header).
  const protocol = headers.get("sec-websocket-protocol");
  if (protocol !== undefined) {
    if (expected.protocols.length === 0) {
      throw fail(
        ErrorCode.HANDSHAKE_PROTOCOL,
        `server selected subprotocol ${quote(protocol)}, but none was offered`,
      );
    }
    if (protocol.indexOf(",") >= 0) {
      throw fail(
        ErrorCode.HANDSHAKE_PROTOCOL,
        `server selected more than one subprotocol (${quote(protocol)}); it must select one of ` +
          `those offered (${expected.protocols.join(", ")})`,
      );
    }
    if (expected.protocols.indexOf(protocol) < 0) {
      throw fail(
        ErrorCode.HANDSHAKE_PROTOCOL,
        `server selected subprotocol ${quote(protocol)}, which is not one of those offered ` +
          `(${expected.protocols.join(", ")})`,
      );
    }
  }

  // Item 5: we offer no extension, so the server may accept none.
  const extensions = headers.get("sec-websocket-extensions");
  if (extensions !== undefined && trimOws(extensions) !== "") {
    throw fail(
      ErrorCode.HANDSHAKE_EXTENSION,
      `server accepted extension ${quote(extensions)}, but the client offered none`,
    );
  }

  return { protocol: protocol ?? "" };
}

/** "server answered 404 Not Found, expected 101 Switching Protocols", plus hints. */
function statusMessage(head: HttpResponseHead): string {
  const { status, reason, headers } = head;
  let message = `server answered ${status}`;
  if (reason !== "") message += ` ${sanitize(reason, QUOTE_MAX)}`;
  if (status >= 300 && status < 400) {
    const location = headers.get("location");
    message +=
      location === undefined ? " (no Location header)" : ` (Location: ${sanitize(location, 200)})`;
  }
  message += ", expected 101 Switching Protocols";
  if (status >= 300 && status < 400) {
    message += "; the client does not follow redirects: connect to the new URL instead";
  } else if (status === 403) {
    message += "; the server refuses these credentials (Authorization) for this resource";
  } else if (status === 401 || status === 407) {
    message +=
      `; the server requires authentication` +
      (status === 407 ? " (by a proxy)" : "") +
      `: pass credentials in the headers option (e.g. Authorization)`;
  } else if (status === 426) {
    const version = headers.get("sec-websocket-version");
    message +=
      `; the server wants another protocol version` +
      (version === undefined ? "" : ` (Sec-WebSocket-Version: ${sanitize(version, QUOTE_MAX)})`) +
      `, the client speaks version 13`;
  }
  const retryAfter = headers.get("retry-after");
  if (retryAfter !== undefined && (status === 429 || status === 503)) {
    message += `; Retry-After: ${sanitize(retryAfter, QUOTE_MAX)}`;
  }
  return message;
}

/** RFC 7230 section 3.2.6 tchar: "!#$%&'*+-.^_`|~", DIGIT, ALPHA. */
export function isToken(text: string): boolean {
  return /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(text);
}

/** Strips optional whitespace (SP, HTAB: RFC 7230 section 3.2.3), nothing else. */
export function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text[start] === " " || text[start] === "\t")) start++;
  while (end > start && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  return text.slice(start, end);
}

/**
 * Text as bytes, one byte per character. Every caller's text was validated to be latin1;
 * this check guards against a future caller that skipped validation.
 */
function latin1Bytes(text: string, what: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw invalidArgument(`${what} has a non-latin1 character at index ${i}`);
    bytes[i] = c;
  }
  return bytes;
}

/** Bytes data[start..end) as text, one character per byte. */
export function latin1Text(data: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(data[i]!);
  return text;
}

function malformed(data: Uint8Array, available: number, what: string): HandshakeError {
  return handshakeError(
    ErrorCode.HANDSHAKE_MALFORMED,
    `server's response head has ${what}; it begins ${quoteFirstLine(data, available)}`,
  );
}

/** The first line of what arrived (up to CR or LF), quoted and shortened for a message. */
function quoteFirstLine(data: Uint8Array, available: number): string {
  let end = 0;
  while (end < available && end <= QUOTE_MAX && data[end] !== CR && data[end] !== LF) end++;
  return quote(latin1Text(data, 0, end));
}

/** A server's text for a message: quoted, shortened, non-printable characters escaped. */
function quote(text: string): string {
  return `"${sanitize(text, QUOTE_MAX)}"`;
}

/**
 * Printable ASCII kept; `"` and `\` escaped; every other character as \xNN (a server's
 * bytes are not trusted to be text, and must not reach a log or terminal raw).
 */
function sanitize(text: string, max: number): string {
  let out = "";
  const n = Math.min(text.length, max);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += "\\" + text[i];
    else if (c >= 0x20 && c < 0x7f) out += text[i];
    else out += c <= 0xff ? "\\x" + hex(c).slice(2) : "\\u" + c.toString(16).padStart(4, "0");
  }
  return text.length > max ? out + "..." : out;
}

function charName(c: number): string {
  if (c === CR) return "CR (0x0d)";
  if (c === LF) return "LF (0x0a)";
  if (c === 0) return "NUL (0x00)";
  return `control character ${hex(c)}`;
}

function codePoint(c: number): string {
  return "U+" + c.toString(16).toUpperCase().padStart(4, "0");
}

function hex(byte: number): string {
  return "0x" + byte.toString(16).padStart(2, "0");
}
