/**
 * The captive portal's HTTP/1.1 server: one request per connection over the host's TCP
 * listener (src/shared/host.ts TcpListener, ECMA-419 `embedded:io/socket/listener` on the
 * chip), parsed by src/provisioning/http-request.ts and answered by a synchronous handler.
 *
 * Everything is bounded, because the portal is open to anyone in range of the access point:
 * - at most maxConnections at once (an ESP32 has a handful of sockets). When one more
 *   arrives, the oldest connection that has not sent a byte (a browser's speculative
 *   preconnection) makes room; when every one is busy, the newcomer is closed at once;
 * - each request must arrive whole within requestTimeoutMs of its connection (a slow client,
 *   "slowloris", gets 408 and the close), and each answer must be taken within it too;
 * - a request is parsed with the parser's limits (head, line, fields, body: 431, 414, 413);
 * - every answer says `Connection: close` and the connection is closed after it, so nothing
 *   is kept between requests; after an answer to a request that was refused before it was
 *   read whole, the rest of it is read and dropped for at most lingerMs before the close,
 *   so the client reads the answer instead of a reset.
 * Answers are never cached (`Cache-Control: no-store`: a captive portal's pages go stale) and
 * carry headers that keep a browser from running or framing anything (the page has no
 * script at all).
 */
import type { Log, TcpListener, TcpListenerConstructor, TcpSocket, TimerId, Timers } from "../shared/host.js";
import { checkInteger, checkMethods } from "../shared/options.js";
import { encodeUtf8 } from "../websocket/utf8.js";
import {
  HttpRequestParser,
  resolveHttpRequestLimits,
  type HttpRequest,
  type HttpRequestError,
  type HttpRequestLimits,
} from "./http-request.js";

export interface HttpServerLimits extends HttpRequestLimits {
  /** Connections served at once. */
  maxConnections: number;
  /** From a connection's start to its whole request, and again to its answer taken, ms. */
  requestTimeoutMs: number;
  /** Reading and dropping the rest of a refused request before the close, ms at most. */
  lingerMs: number;
}

export const DEFAULT_HTTP_SERVER_LIMITS: Readonly<Omit<HttpServerLimits, keyof HttpRequestLimits>> = Object.freeze({
  maxConnections: 4,
  requestTimeoutMs: 10_000,
  lingerMs: 1_000,
});

/** An answer. Content-Length, Connection, Cache-Control and the safety headers are added. */
export interface HttpResponse {
  status: number;
  /** Default "text/html; charset=utf-8". */
  contentType?: string;
  /** More header fields (Location...): names are tokens, values printable ASCII. */
  headers?: ReadonlyArray<readonly [string, string]>;
  body?: string;
}

export interface HttpServerOptions {
  listener: TcpListenerConstructor;
  timers: Timers;
  /** 0: any free port (read `port`). */
  port: number;
  /** Bind address; absent: every interface. */
  address?: string;
  limits?: Partial<HttpServerLimits>;
  log?: Log;
  /** Answers a request that parsed. A throw is answered with 500 and logged. */
  handle(request: HttpRequest): HttpResponse;
  /** The page of an error (a request refused by the parser, a timeout, a handler's throw). */
  errorPage(error: HttpRequestError): HttpResponse;
}

/** Reason phrases of the statuses the portal sends (RFC 9110 section 15). */
const REASONS: Readonly<Record<number, string>> = Object.freeze({
  200: "OK",
  204: "No Content",
  302: "Found",
  303: "See Other",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
});

/**
 * Fields on every answer: no caching, no sniffing, no scripts, no framing, no referrer to
 * other sites. (Not "no-referrer": with it a browser sends "Origin: null" with the form, and
 * the portal could no longer tell its own page from a forged one.)
 */
const SAFETY_FIELDS =
  "Cache-Control: no-store\r\n" +
  "X-Content-Type-Options: nosniff\r\n" +
  "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'\r\n" +
  "Referrer-Policy: same-origin\r\n" +
  "Connection: close\r\n";

const Phase = Object.freeze({ READING: 0, WRITING: 1, LINGERING: 2, CLOSED: 3 } as const);
type PhaseValue = (typeof Phase)[keyof typeof Phase];

/** One accepted connection: read one request, write one answer, close. */
class Connection {
  socket: TcpSocket | undefined;
  phase: PhaseValue = Phase.READING;
  readonly parser: HttpRequestParser;
  timer: TimerId | undefined;
  /** The answer's bytes not yet written. */
  output: Uint8Array | undefined;
  /** Space the socket last reported, less what was written since. */
  space = 0;
  /** The request was read whole (else the rest is dropped for lingerMs before the close). */
  complete = false;

  constructor(limits: HttpRequestLimits) {
    this.parser = new HttpRequestParser(limits);
  }
}

export class HttpServer {
  private readonly options: HttpServerOptions;
  private readonly limits: HttpServerLimits;
  private readonly listener: TcpListener;
  /** Oldest first. */
  private readonly connections: Connection[] = [];
  private closed = false;
  /** Requests answered, and connections turned away or cut short (for status and tests). */
  readonly counts = { requests: 0, refused: 0, timeouts: 0 };

  /** Throws what the listener throws when the port cannot be listened on. */
  constructor(options: HttpServerOptions) {
    checkMethods("timers", options.timers, ["set", "clear", "now"]);
    if (typeof options.listener !== "function") throw new TypeError("the host has no TCP listener");
    this.options = options;
    const request = resolveHttpRequestLimits(options.limits);
    const given = options.limits ?? {};
    this.limits = {
      ...request,
      maxConnections: checkInteger("limits.maxConnections", given.maxConnections ?? DEFAULT_HTTP_SERVER_LIMITS.maxConnections, 1, 64),
      requestTimeoutMs: checkInteger(
        "limits.requestTimeoutMs",
        given.requestTimeoutMs ?? DEFAULT_HTTP_SERVER_LIMITS.requestTimeoutMs,
        100,
        600_000,
        "milliseconds",
      ),
      lingerMs: checkInteger("limits.lingerMs", given.lingerMs ?? DEFAULT_HTTP_SERVER_LIMITS.lingerMs, 0, 60_000, "milliseconds"),
    };
    this.listener = new options.listener({
      port: options.port,
      ...(options.address !== undefined ? { address: options.address } : {}),
      onReadable: (count) => this.incoming(count),
      onError: (message) => options.log?.("error", "portal_http_failed", { error: message ?? "listener failed" }),
    });
  }

  /** The port listened on. */
  get port(): number {
    return this.listener.port;
  }

  /** Connections open now. */
  get open(): number {
    return this.connections.length;
  }

  /** Stops listening and drops every connection (nothing more is written). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    for (const connection of this.connections.slice()) this.drop(connection);
  }

  // --- connections --------------------------------------------------------------------

  private incoming(count: number): void {
    for (let i = 0; i < count && !this.closed; i++) {
      if (this.connections.length >= this.limits.maxConnections) {
        // A connection that has not said a word yet (a browser's preconnection) yields.
        const idle = this.connections.find((c) => c.phase === Phase.READING && c.parser.received === 0);
        if (idle !== undefined) {
          this.drop(idle);
        } else {
          this.counts.refused++;
          const socket = this.listener.accept({});
          if (socket === undefined) return;
          this.options.log?.("warn", "portal_http_busy", { connections: this.connections.length });
          socket.close();
          continue;
        }
      }
      const connection = new Connection(this.limits);
      const socket = this.listener.accept({
        onReadable: () => this.readable(connection),
        onWritable: (space) => this.writable(connection, space),
        onError: () => this.drop(connection),
      });
      if (socket === undefined) return;
      connection.socket = socket;
      this.connections.push(connection);
      connection.timer = this.options.timers.set(() => this.timedOut(connection), this.limits.requestTimeoutMs);
    }
  }

  private readable(connection: Connection): void {
    const socket = connection.socket;
    if (socket === undefined) return;
    for (;;) {
      const bytes = socket.read();
      if (bytes === undefined || connection.phase === Phase.CLOSED) return;
      if (connection.phase !== Phase.READING) continue; // the rest of a refused request: dropped
      const result = connection.parser.push(bytes);
      if (result.kind === "request") {
        connection.complete = true;
        this.respond(connection, this.answer(result.request));
      } else if (result.kind === "error") {
        this.options.log?.("info", "portal_http_refused", { status: result.error.status, reason: result.error.message });
        this.respond(connection, this.options.errorPage(result.error));
      }
    }
  }

  private answer(request: HttpRequest): HttpResponse & { head?: boolean } {
    this.counts.requests++;
    let response: HttpResponse;
    try {
      response = this.options.handle(request);
    } catch (error) {
      this.options.log?.("error", "portal_handler_failed", { path: request.path, error });
      response = this.options.errorPage({ status: 500, message: "the device could not answer this request" });
    }
    this.options.log?.("debug", "portal_http_request", { method: request.method, path: request.path, status: response.status });
    return request.method === "HEAD" ? { ...response, head: true } : response;
  }

  private respond(connection: Connection, response: HttpResponse & { head?: boolean }): void {
    connection.phase = Phase.WRITING;
    connection.output = encodeResponse(response);
    this.restartTimer(connection);
    this.flush(connection);
  }

  private writable(connection: Connection, space: number): void {
    connection.space = space;
    this.flush(connection);
  }

  /** Writes what the socket has room for; closes (or lingers) once everything is written. */
  private flush(connection: Connection): void {
    const socket = connection.socket;
    const output = connection.output;
    if (socket === undefined || output === undefined || connection.phase !== Phase.WRITING) return;
    const size = Math.min(connection.space, output.length);
    if (size > 0) {
      try {
        socket.write(output.subarray(0, size));
      } catch (error) {
        this.options.log?.("warn", "portal_http_write_failed", { error });
        this.drop(connection);
        return;
      }
      connection.space -= size;
      connection.output = size === output.length ? undefined : output.subarray(size);
    }
    if (connection.output !== undefined) return;
    if (connection.complete || this.limits.lingerMs === 0) {
      this.drop(connection);
      return;
    }
    connection.phase = Phase.LINGERING;
    this.restartTimer(connection, this.limits.lingerMs);
  }

  private timedOut(connection: Connection): void {
    connection.timer = undefined;
    if (connection.phase === Phase.READING && connection.parser.received > 0) {
      this.counts.timeouts++;
      this.options.log?.("info", "portal_http_refused", { status: 408, reason: "request not complete in time" });
      this.respond(connection, this.options.errorPage({ status: 408, message: `the request did not arrive within ${this.limits.requestTimeoutMs} ms` }));
      return;
    }
    // Silent since it connected, an answer not taken, or the linger over: just close.
    this.drop(connection);
  }

  private restartTimer(connection: Connection, ms = this.limits.requestTimeoutMs): void {
    if (connection.timer !== undefined) this.options.timers.clear(connection.timer);
    connection.timer = this.options.timers.set(() => this.timedOut(connection), ms);
  }

  /**
   * Forgets the connection and closes its socket: after the answer (what was written still
   * goes out: TcpSocket.close() sends it first), or because the peer went, or the server
   * is closing.
   */
  private drop(connection: Connection): void {
    this.forget(connection)?.close();
  }

  private forget(connection: Connection): TcpSocket | undefined {
    if (connection.phase === Phase.CLOSED) return undefined;
    connection.phase = Phase.CLOSED;
    if (connection.timer !== undefined) this.options.timers.clear(connection.timer);
    connection.timer = undefined;
    connection.output = undefined;
    const at = this.connections.indexOf(connection);
    if (at >= 0) this.connections.splice(at, 1);
    const socket = connection.socket;
    connection.socket = undefined;
    return socket;
  }
}

/** Status line, fields and body as bytes (the body left out for HEAD, its length kept). */
export function encodeResponse(response: HttpResponse & { head?: boolean }): Uint8Array {
  const body = encodeUtf8(response.body ?? "");
  let head = `HTTP/1.1 ${response.status} ${REASONS[response.status] ?? "Unknown"}\r\n`;
  if (response.status !== 204) {
    head += `Content-Type: ${response.contentType ?? "text/html; charset=utf-8"}\r\nContent-Length: ${body.length}\r\n`;
  }
  for (const [name, value] of response.headers ?? []) head += `${name}: ${value}\r\n`;
  head += SAFETY_FIELDS + "\r\n";
  const headBytes = encodeUtf8(head);
  const withBody = response.head === true || response.status === 204 ? 0 : body.length;
  const out = new Uint8Array(headBytes.length + withBody);
  out.set(headBytes, 0);
  if (withBody > 0) out.set(body, headBytes.length);
  return out;
}
