/**
 * The Node host's UDP sockets and name resolution (src/shared/host.ts UdpSocket, Resolver),
 * over `node:dgram` and `dns.lookup`: what SNTP (src/time) and a captive portal's DNS server
 * use on the desktop, with the contract the chip's ECMA-419 `embedded:io/socket/udp` keeps.
 *
 * IPv4, as the Moddable simulator's UDP (and the addresses resolve() gives): a socket bound
 * to an IPv6 literal is an IPv6 one. A datagram that cannot be sent is lost without a word, as
 * UDP is; a socket that fails (its port taken, say) reports onError once.
 */
import { createSocket, type Socket } from "node:dgram";
import { lookup } from "node:dns";
import { isIP } from "node:net";
import type { Resolver, UdpSocket, UdpSocketOptions } from "../../src/shared/host.js";
import { describeError } from "./socket.js";

export class NodeUdpSocket implements UdpSocket {
  private readonly socket: Socket;
  private closed = false;
  private failed = false;

  constructor(options: UdpSocketOptions) {
    const { port, address } = options;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new RangeError(`UDP port must be an integer 0..65535, got ${String(port)}`);
    }
    if (address !== undefined && (typeof address !== "string" || isIP(address) === 0)) {
      throw new TypeError(`UDP address must be an IP address literal, got ${String(address)}`);
    }
    this.socket = createSocket({ type: address !== undefined && isIP(address) === 6 ? "udp6" : "udp4" });
    this.socket.on("message", (message: Buffer, from) => {
      if (this.closed || this.failed) return;
      options.onMessage?.(new Uint8Array(message.buffer, message.byteOffset, message.length), from.address, from.port);
    });
    // Listened to for the socket's whole life: Node throws an 'error' nobody listens to.
    this.socket.on("error", (error: NodeJS.ErrnoException) => {
      if (this.closed || this.failed) return;
      this.failed = true;
      this.release();
      options.onError?.(error.code === "EADDRINUSE" ? `port ${port ?? 0} is in use` : describeError(error));
    });
    this.socket.bind({ port: port ?? 0, ...(address !== undefined ? { address } : {}) });
  }

  send(address: string, port: number, bytes: Uint8Array): void {
    if (this.closed) throw new Error("send after close()");
    if (this.failed) throw new Error("send on a UDP socket that failed");
    if (typeof address !== "string" || isIP(address) === 0) {
      throw new TypeError(`UDP send needs an IP address literal (resolve names first), got ${String(address)}`);
    }
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      throw new RangeError(`UDP port must be an integer 1..65535, got ${String(port)}`);
    }
    // Node queues it until the socket is bound; a failure later means a lost datagram.
    this.socket.send(bytes, port, address, () => {});
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  private release(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed (after an error).
    }
  }
}

/**
 * dns.lookup (the system's resolver, as other programs on the machine see names), IPv4
 * addresses only; an address literal resolves to itself. Calls back once, never from inside.
 */
export const nodeResolve: Resolver = (name, onResolved) => {
  if (typeof name !== "string" || name === "") {
    setImmediate(() => onResolved(undefined, `cannot resolve ${JSON.stringify(name)}`));
    return;
  }
  lookup(name, { family: 4 }, (error, address) => {
    if (error) onResolved(undefined, describeError(error));
    else onResolved(address);
  });
};
