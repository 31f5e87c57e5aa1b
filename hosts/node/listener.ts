/**
 * The Node host's TCP listener (src/shared/host.ts TcpListener, shaped after ECMA-419
 * `embedded:io/socket/listener`), over `net.Server`: what the captive portal's HTTP server
 * listens with on the desktop. Accepted connections are NodeStreamSockets (socket.ts), with
 * the contract of every TcpSocket of this host: writes bounded by the space onWritable
 * reported, reads queued until taken, the end reported once.
 *
 * Node listens asynchronously: a port that cannot be listened on (in use, no permission) is
 * reported through onError, shortly after the constructor returns, not thrown by it as on
 * the chip. Connections wait (paused: not a byte is read) until accept() takes them; at most
 * MAX_PENDING_CONNECTIONS wait, and any beyond are closed at once, so a flood cannot grow the
 * queue.
 */
import { createServer, isIP, type Server, type Socket } from "node:net";
import type { AcceptedSocketOptions, TcpListener, TcpListenerOptions, TcpSocket } from "../../src/shared/host.js";
import { listenProblem } from "./cli.js";
import { NodeStreamSocket, type NodeTcpTuning } from "./socket.js";

/** Connections waiting for accept() at most. */
export const MAX_PENDING_CONNECTIONS = 8;

/** An accepted connection: open from the start (its first onWritable comes on the next turn). */
class NodeAcceptedSocket extends NodeStreamSocket {
  constructor(options: AcceptedSocketOptions & NodeTcpTuning, socket: Socket) {
    super({ ...options, host: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 }, socket);
    socket.resume();
    setImmediate(() => this.opened());
  }
}

export class NodeTcpListener implements TcpListener {
  private readonly server: Server;
  private readonly pending: Socket[] = [];
  private readonly requestedPort: number;
  private closed = false;

  constructor(options: TcpListenerOptions) {
    const { port, address } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`listener port must be an integer 0..65535, got ${String(port)}`);
    }
    if (address !== undefined && (typeof address !== "string" || isIP(address) === 0)) {
      throw new TypeError(`listener address must be an IP address literal, got ${String(address)}`);
    }
    this.requestedPort = port;
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      // Listened to for the socket's whole life: Node throws an 'error' nobody listens to.
      socket.on("error", () => {});
      if (this.closed || this.pending.length >= MAX_PENDING_CONNECTIONS) {
        socket.destroy();
        return;
      }
      this.pending.push(socket);
      options.onReadable?.(this.pending.length);
    });
    this.server.on("error", (error: NodeJS.ErrnoException) => {
      if (this.closed) return;
      this.close();
      options.onError?.(`cannot listen on ${address ?? "every interface"} port ${port}: ${listenProblem(error)}`);
    });
    this.server.listen({ port, host: address ?? "0.0.0.0" });
  }

  get port(): number {
    const bound = this.server.address();
    return bound !== null && typeof bound === "object" ? bound.port : this.requestedPort;
  }

  accept(options: AcceptedSocketOptions): TcpSocket | undefined {
    for (;;) {
      const socket = this.pending.shift();
      if (socket === undefined) return undefined;
      // One that failed while it waited is skipped. (One whose peer closed is only noticed
      // once it is read: its onError reports it right after the accept.)
      if (socket.destroyed) {
        socket.destroy();
        continue;
      }
      return new NodeAcceptedSocket(options, socket);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.pending.splice(0)) socket.destroy();
    this.server.close();
  }
}
