/**
 * A real TLS WebSocket echo server on 127.0.0.1 (https.createServer and the `ws` package)
 * that counts what reached it: TLS handshakes that failed on the client's side, and HTTP
 * requests (a WebSocket upgrade is one), so a test can prove a rejected server never saw
 * a single application byte.
 */
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { WebSocketServer, type RawData, type WebSocket } from "ws";

export interface TlsEchoServer {
  readonly port: number;
  /** wss://127.0.0.1:PORT/ */
  readonly url: string;
  /** HTTP requests received, upgrades included. */
  readonly requests: number;
  /** Connections whose TLS handshake completed (the server's view). */
  readonly secureConnections: number;
  /** Messages from the server's TLS layer about handshakes that failed. */
  readonly tlsErrors: string[];
  close(): Promise<void>;
}

/**
 * Serves `cert` (a PEM chain: the server's certificate, then any intermediates) with `key`,
 * echoing every WebSocket message back, or doing what `onConnection` does instead.
 */
export async function startTlsEchoServer(options: {
  cert: string;
  key: string;
  onConnection?: (socket: WebSocket) => void;
}): Promise<TlsEchoServer> {
  const state = { requests: 0, secureConnections: 0, tlsErrors: [] as string[] };
  const https: Server = createServer({ cert: options.cert, key: options.key }, (_request, response) => {
    response.writeHead(426).end();
  });
  https.on("request", () => state.requests++);
  https.on("upgrade", () => state.requests++);
  https.on("secureConnection", (socket: TLSSocket) => {
    state.secureConnections++;
    socket.on("error", () => {});
  });
  https.on("tlsClientError", (error: Error) => state.tlsErrors.push(error.message));
  const wss = new WebSocketServer({ server: https, perMessageDeflate: false });
  wss.on("connection", (socket) => {
    socket.on("error", () => {});
    if (options.onConnection) options.onConnection(socket);
    else socket.on("message", (data: RawData, isBinary: boolean) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve, reject) => {
    https.once("error", reject);
    https.listen(0, "127.0.0.1", () => {
      https.off("error", reject);
      resolve();
    });
  });
  const port = (https.address() as AddressInfo).port;
  return {
    port,
    url: `wss://127.0.0.1:${port}/`,
    get requests() {
      return state.requests;
    },
    get secureConnections() {
      return state.secureConnections;
    },
    get tlsErrors() {
      return state.tlsErrors;
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      https.closeAllConnections();
      await new Promise<void>((resolve) => https.close(() => resolve()));
    },
  };
}
