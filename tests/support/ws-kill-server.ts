/**
 * A WebSocket server that dies in the middle of a message, run as a child process by
 * tests/integration/ws-server.test.ts:
 *
 *   node dist/tests/support/ws-kill-server.js
 *
 * It listens on 127.0.0.1 (port chosen by the OS) and prints "listening <port>". On each
 * connection it completes a real `ws` handshake, then writes, on the raw socket, the header
 * of a 1 MiB binary frame and only half of its payload, and prints "half-sent". The test
 * then SIGKILLs this process: the client sees its connection end in the middle of a frame.
 * It also exits by itself when stdin closes (the test went away), so it never lingers.
 */
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";

/** Payload length announced in the frame header, bytes: a 64-bit length (RFC 6455 5.2). */
export const ANNOUNCED_BYTES = 1024 * 1024;

function halfFrame(): Buffer {
  const header = Buffer.alloc(10);
  header[0] = 0x82; // FIN + binary
  header[1] = 127; // 64-bit extended payload length follows, unmasked (server to client)
  header.writeBigUInt64BE(BigInt(ANNOUNCED_BYTES), 2);
  return Buffer.concat([header, Buffer.alloc(ANNOUNCED_BYTES / 2, 0x5a)]);
}

const wss = new WebSocketServer({ noServer: true });
const server = createServer((_request, response) => {
  response.writeHead(426).end();
});
server.on("upgrade", (request, socket: Duplex, head: Buffer) => {
  socket.on("error", () => {});
  wss.handleUpgrade(request, socket, head, () => {
    // The handshake is done; from here on this raw socket carries frames. Write past the
    // `ws` object (which would only ever send whole frames).
    socket.write(halfFrame(), () => process.stdout.write("half-sent\n"));
  });
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.stdout.write(`listening ${port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
