/**
 * A raw HTTP client for tests of the captive portal's server: bytes written as given (in
 * pieces, slowly, or never finished), and the answer read until the server closes, so a test
 * sees exactly what a hostile client would.
 */
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** The status code of the first line, or undefined when nothing (or not HTTP) came. */
  status: number | undefined;
  /** Header fields, names lower-cased. */
  headers: Map<string, string>;
  body: string;
  /** The server closed (FIN), rather than the socket erroring or the test giving up. */
  closedCleanly: boolean;
  /** How the connection ended when it did not close cleanly (ECONNRESET...). */
  error: string | undefined;
}

export interface RawOptions {
  /** Wait this long between pieces, ms. */
  pauseMs?: number;
  /** Give up (and destroy the socket) after this long, ms (default 10000). */
  timeoutMs?: number;
}

/** Connects to 127.0.0.1:`port`, writes `pieces` in order, and reads until the server closes. */
export function rawRequest(port: number, pieces: ReadonlyArray<string | Uint8Array>, options: RawOptions = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (clean: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString("latin1"), clean, error));
    };
    const timer = setTimeout(() => {
      error ??= "the test gave up waiting";
      finish(false);
    }, options.timeoutMs ?? 10_000);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("end", () => finish(true));
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    socket.on("close", () => finish(error === undefined));
    socket.on("connect", async () => {
      for (const piece of pieces) {
        if (socket.destroyed) return;
        socket.write(typeof piece === "string" ? Buffer.from(piece, "latin1") : piece);
        if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
      }
    });
  });
}

function parseAnswer(text: string, closedCleanly: boolean, error: string | undefined): RawAnswer {
  const end = text.indexOf("\r\n\r\n");
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split("\r\n");
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? "");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return {
    text,
    status: match ? Number(match[1]) : undefined,
    headers,
    body: end < 0 ? "" : Buffer.from(text.slice(end + 4), "latin1").toString("utf8"),
    closedCleanly,
    error,
  };
}

/** A form POST as a browser sends it. */
export function formPost(host: string, body: string, path = "/save", extra = ""): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`
  );
}
