// The HTTPS server behind wss:// for the companion server, with readable errors for bad certificates.
import { createServer as createHttpsServer } from "node:https";
import type { RequestListener, Server } from "node:http";

/** An HTTPS server for wss://; a certificate or key Node cannot use is a TypeError naming it. */
export function createTlsServer(tls: { cert: string; key: string }, answer: RequestListener): Server {
  if (typeof tls !== "object" || tls === null || typeof tls.cert !== "string" || typeof tls.key !== "string") {
    throw new TypeError("tls must be { cert, key }, both PEM text");
  }
  try {
    // https.Server is an http.Server over TLS: the same events and methods are used here.
    return createHttpsServer({ cert: tls.cert, key: tls.key }, answer) as unknown as Server;
  } catch (error) {
    throw new TypeError(`the TLS certificate and key cannot be used: ${tlsErrorText(error as Error)}`);
  }
}

/** OpenSSL's reason ("wrong version number") rather than its whole error string. */
export function tlsErrorText(error: Error & { reason?: string; code?: string }): string {
  return error.reason ? `${error.reason}${error.code ? ` (${error.code})` : ""}` : error.message;
}

/** Creates a companion server and starts listening (127.0.0.1 and DEFAULT_PORT unless told). */
