/**
 * The captive portal's HTTP/1.1 request parser (RFC 9112): a pure incremental state machine
 * that takes bytes in any chunking and ends in one request or one error with the status to
 * answer, never touching a socket (src/provisioning/http-server.ts owns the connection).
 *
 * Strict on purpose, as the client's response parser (src/websocket/handshake.ts) is: the
 * portal faces whatever a phone in range sends, and every lenient path is one more way to be
 * misread. Lines end in CRLF (a bare LF or CR is refused, RFC 9112 section 2.2 allows either);
 * no obsolete line folding (section 5.2); no whitespace between a field name and its colon
 * (section 5.1, which says to answer 400); no control characters but HTAB; exactly one Host
 * in HTTP/1.1 (section 3.2); a body only with Content-Length (Transfer-Encoding gets 501,
 * section 6.1; a POST without a length 411).
 *
 * Bounded: the head (request line, fields, CRLF CRLF) is kept in a buffer that grows to at
 * most maxHeadBytes; a request line longer than maxRequestLineBytes is refused with 414 as
 * soon as its length is known, a head over its limit with 431, more than maxFields fields
 * with 431, and a body announced over maxBodyBytes with 413 before one byte of it is read.
 * Garbage fails at the first line that cannot be HTTP, not at the limit.
 */
import { checkInteger } from "../shared/options.js";
import { isToken, latin1Text, trimOws } from "../websocket/handshake.js";

/** Sizes the parser holds a request to. */
export interface HttpRequestLimits {
  /** Request line, fields and the empty line, bytes (else 431). */
  maxHeadBytes: number;
  /** Request line alone, bytes (else 414: a URI too long). */
  maxRequestLineBytes: number;
  /** Header fields in one request (else 431). */
  maxFields: number;
  /** Body, bytes, from Content-Length (else 413, before reading it). */
  maxBodyBytes: number;
}

/**
 * Defaults sized for the setup page on an ESP32: the form's fields, percent-encoded (an SSID
 * of 32 bytes, a passphrase of 64, a URL of 512 characters, a name of 64: about 2 KB at worst)
 * fit in maxBodyBytes; phones send heads of well under 1 KB (cookies are not set here).
 */
export const DEFAULT_HTTP_REQUEST_LIMITS: Readonly<HttpRequestLimits> = Object.freeze({
  maxHeadBytes: 2048,
  maxRequestLineBytes: 1024,
  maxFields: 32,
  maxBodyBytes: 2048,
});

/** A request as the portal sees it. */
export interface HttpRequest {
  /** The method token, case-sensitive (RFC 9110 section 9.1): "GET", "POST"... */
  method: string;
  /** The path of the request target, as sent (percent-encoding untouched), "/" at least. */
  path: string;
  /** What followed "?" in the target, without it; "" when nothing did. */
  query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minorVersion: number;
  /** The Host field (absent in HTTP/1.0 requests without one); lower-cased. */
  host: string | undefined;
  /** Content-Type, as sent; "" when absent. */
  contentType: string;
  /** Origin (RFC 6454), lower-cased; "" when absent. */
  origin: string;
  body: Uint8Array;
}

/** A request that cannot be served, with the status that says why (RFC 9110 section 15). */
export interface HttpRequestError {
  status: number;
  /** For the error page and the log; never quotes more than a short, cleaned excerpt. */
  message: string;
}

export type HttpParseResult =
  | { kind: "more" }
  | { kind: "request"; request: HttpRequest }
  | { kind: "error"; error: HttpRequestError };

const CR = 0x0d;
const LF = 0x0a;
const HTAB = 0x09;
/** Longest method token accepted: the registered ones are at most 7 characters. */
const MAX_METHOD_CHARS = 16;
/** Longest excerpt of the peer's text put in a message. */
const QUOTE_CHARS = 40;
/** The head buffer starts this small and doubles: most requests are a few hundred bytes. */
const INITIAL_HEAD_BYTES = 256;

const MORE: HttpParseResult = Object.freeze({ kind: "more" });

/** Checks limits given by a caller (names in errors as `limits.<name>`). */
export function resolveHttpRequestLimits(limits: Partial<HttpRequestLimits> | undefined): HttpRequestLimits {
  const merged = { ...DEFAULT_HTTP_REQUEST_LIMITS, ...limits };
  checkInteger("limits.maxHeadBytes", merged.maxHeadBytes, 64, 65_536, "bytes");
  checkInteger("limits.maxRequestLineBytes", merged.maxRequestLineBytes, 16, merged.maxHeadBytes, "bytes");
  checkInteger("limits.maxFields", merged.maxFields, 1, 256);
  checkInteger("limits.maxBodyBytes", merged.maxBodyBytes, 0, 65_536, "bytes");
  return merged;
}

/** Where the parser is: numbers, compared often, named here. */
const Stage = Object.freeze({ REQUEST_LINE: 0, FIELDS: 1, BODY: 2, DONE: 3 } as const);
type StageValue = (typeof Stage)[keyof typeof Stage];

export class HttpRequestParser {
  private readonly limits: HttpRequestLimits;
  private stage: StageValue = Stage.REQUEST_LINE;
  private head: Uint8Array = new Uint8Array(0);
  /** Bytes of the head kept so far (all scanned). */
  private headLength = 0;
  /** Where the line being scanned starts in `head`. */
  private lineStart = 0;
  private fields = 0;
  private request: HttpRequest | undefined;
  private contentLength: string | undefined;
  private transferEncoding = false;
  private hosts = 0;
  private body: Uint8Array = new Uint8Array(0);
  private bodyLength = 0;

  constructor(limits: HttpRequestLimits) {
    this.limits = limits;
  }

  /** Bytes of the request seen so far (0: the peer has sent nothing). */
  get received(): number {
    return this.headLength + this.bodyLength;
  }

  /**
   * Takes the next bytes. Returns "more" until the request is complete or refused, then
   * that result once; bytes after it (a pipelined request: the server closes after its
   * answer) are ignored, and "more" is returned for them.
   */
  push(chunk: Uint8Array): HttpParseResult {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.stage === Stage.DONE) return MORE;
      if (this.stage === Stage.BODY) {
        const take = Math.min(chunk.length - offset, this.body.length - this.bodyLength);
        this.body.set(chunk.subarray(offset, offset + take), this.bodyLength);
        this.bodyLength += take;
        offset += take;
        if (this.bodyLength === this.body.length) return this.finish();
        continue;
      }
      // The end of the head switches to BODY (and returns "more"): the loop goes on there.
      const result = this.headByte(chunk[offset++]!);
      if (result !== MORE) return result;
    }
    return MORE;
  }

  /** One byte of the request line or the fields. */
  private headByte(byte: number): HttpParseResult {
    const at = this.headLength;
    if (at >= this.limits.maxHeadBytes) {
      return this.fail(431, `the request's head is longer than ${this.limits.maxHeadBytes} bytes`);
    }
    if (this.stage === Stage.REQUEST_LINE && at >= this.limits.maxRequestLineBytes) {
      return this.fail(414, `the request line is longer than ${this.limits.maxRequestLineBytes} bytes`);
    }
    const previous = at > this.lineStart ? this.head[at - 1]! : -1;
    if (previous === CR && byte !== LF) return this.fail(400, "a CR not followed by LF");
    if (byte === LF && previous !== CR) return this.fail(400, "a line ending in a bare LF instead of CRLF");
    if ((byte < 0x20 && byte !== HTAB && byte !== CR && byte !== LF) || byte === 0x7f) {
      return this.fail(400, `control byte 0x${byte.toString(16).padStart(2, "0")} in the request's head`);
    }
    this.keep(byte);
    if (byte !== LF) return MORE;
    const line = latin1Text(this.head, this.lineStart, this.headLength - 2);
    this.lineStart = this.headLength;
    return this.stage === Stage.REQUEST_LINE ? this.requestLine(line) : this.fieldLine(line);
  }

  private keep(byte: number): void {
    if (this.headLength === this.head.length) {
      const grown = new Uint8Array(Math.min(Math.max(INITIAL_HEAD_BYTES, this.head.length * 2), this.limits.maxHeadBytes));
      grown.set(this.head);
      this.head = grown;
    }
    this.head[this.headLength++] = byte;
  }

  /** request-line = method SP request-target SP HTTP-version (RFC 9112 section 3). */
  private requestLine(line: string): HttpParseResult {
    const parts = line.split(" ");
    if (parts.length !== 3) return this.fail(400, `the request line ${quote(line)} is not "METHOD /path HTTP/1.1"`);
    const [method, target, version] = parts as [string, string, string];
    if (!isToken(method) || method.length > MAX_METHOD_CHARS) return this.fail(400, `the method ${quote(method)} is not a token`);
    const versionMatch = /^HTTP\/([0-9])\.([0-9])$/.exec(version);
    if (versionMatch === null) return this.fail(400, `the version ${quote(version)} is not HTTP/x.y`);
    if (versionMatch[1] !== "1") return this.fail(505, `HTTP/${versionMatch[1]}.${versionMatch[2]} is not served here: use HTTP/1.1`);
    const split = splitTarget(target);
    if (typeof split === "string") return this.fail(400, split);
    this.request = {
      method,
      path: split.path,
      query: split.query,
      minorVersion: Number(versionMatch[2]),
      host: undefined,
      contentType: "",
      origin: "",
      body: this.body,
    };
    this.stage = Stage.FIELDS;
    return MORE;
  }

  /** field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5), or the empty line. */
  private fieldLine(line: string): HttpParseResult {
    if (line === "") return this.endOfHead();
    if (line[0] === " " || line[0] === "\t") return this.fail(400, "a folded field line (obsolete line folding, RFC 9112 section 5.2)");
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!isToken(name)) {
      return this.fail(400, colon < 0 ? `a field line without a colon: ${quote(line)}` : `the field name ${quote(name)} is not a token`);
    }
    if (++this.fields > this.limits.maxFields) return this.fail(431, `more than ${this.limits.maxFields} header fields`);
    const value = trimOws(line.slice(colon + 1));
    const request = this.request!;
    switch (name.toLowerCase()) {
      case "host":
        this.hosts++;
        request.host = value.toLowerCase();
        break;
      case "content-length":
        // Section 6.3: several values that differ are an error; equal ones may be one.
        if (!/^[0-9]{1,10}$/.test(value)) return this.fail(400, `Content-Length ${quote(value)} is not a number of bytes`);
        if (this.contentLength !== undefined && Number(this.contentLength) !== Number(value)) {
          return this.fail(400, "two different Content-Length fields");
        }
        this.contentLength = value;
        break;
      case "transfer-encoding":
        this.transferEncoding = true;
        break;
      case "content-type":
        request.contentType = value;
        break;
      case "origin":
        request.origin = value.toLowerCase();
        break;
    }
    return MORE;
  }

  private endOfHead(): HttpParseResult {
    const request = this.request!;
    if (request.minorVersion >= 1 && this.hosts !== 1) {
      return this.fail(400, this.hosts === 0 ? "an HTTP/1.1 request without Host" : "more than one Host field");
    }
    if (this.transferEncoding) {
      // Section 6.3: with both, Transfer-Encoding would win and the length is a smuggling risk.
      if (this.contentLength !== undefined) return this.fail(400, "both Transfer-Encoding and Content-Length");
      return this.fail(501, "Transfer-Encoding is not supported here: send the body with Content-Length");
    }
    const length = this.contentLength === undefined ? undefined : Number(this.contentLength);
    if (length === undefined && request.method === "POST") return this.fail(411, "a POST needs Content-Length");
    if (length !== undefined && length > this.limits.maxBodyBytes) {
      return this.fail(413, `a body of ${length} bytes is more than the ${this.limits.maxBodyBytes} accepted`);
    }
    // The head is parsed: its buffer goes, the body's (exactly its length) comes.
    this.head = new Uint8Array(0);
    if (length === undefined || length === 0) return this.finish();
    this.body = new Uint8Array(length);
    request.body = this.body;
    this.stage = Stage.BODY;
    return MORE;
  }

  private finish(): HttpParseResult {
    this.stage = Stage.DONE;
    const request = this.request!;
    request.body = this.body;
    return { kind: "request", request };
  }

  private fail(status: number, message: string): HttpParseResult {
    this.stage = Stage.DONE;
    this.head = new Uint8Array(0);
    this.body = new Uint8Array(0);
    return { kind: "error", error: { status, message } };
  }
}

/**
 * The path and query of a request-target: origin-form ("/path?query", section 3.2.1) or
 * absolute-form ("http://host/path", section 3.2.2, which a server must accept); anything
 * else (asterisk-form, authority-form, a fragment, bytes outside visible ASCII) is a message
 * saying why not.
 */
function splitTarget(target: string): { path: string; query: string } | string {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return `the request target has a byte that is not visible ASCII at index ${i}`;
  }
  if (target.indexOf("#") >= 0) return "the request target has a fragment (#)";
  let rest = target;
  const absolute = /^http:\/\/[^/?]+/i.exec(target);
  if (absolute !== null) rest = target.slice(absolute[0].length) || "/";
  if (rest[0] !== "/") return `the request target ${quote(target)} is not a path`;
  const question = rest.indexOf("?");
  return question < 0 ? { path: rest, query: "" } : { path: rest.slice(0, question), query: rest.slice(question + 1) };
}

/** A peer's text for a message: shortened, anything but printable ASCII as "?". */
function quote(text: string): string {
  let out = "";
  for (let i = 0; i < Math.min(text.length, QUOTE_CHARS); i++) {
    const c = text.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x22 ? text[i] : "?";
  }
  return `"${out}${text.length > QUOTE_CHARS ? "..." : ""}"`;
}
