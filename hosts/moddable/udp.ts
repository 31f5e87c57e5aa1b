/**
 * The firmware's UdpSocket and Resolver over Moddable's ECMA-419 `embedded:io/socket/udp` and
 * `Net.resolve` (SDK 8.2.3: modules/io/socket/lwip/udp.c on the ESP32, modules/io/socket/lin/udp.c
 * in the simulator), for SNTP (src/time) and a captive portal's DNS server.
 *
 * What the SDK's UDP does, and what this adapter adds:
 * - Its constructor binds at once and throws when it cannot ("bind failed"): here that
 *   becomes onError, reported later (a promise job), as src/shared/host.ts says; send() on
 *   such a socket throws.
 * - onReadable(count) says how many datagrams are queued; read() returns one as an
 *   ArrayBuffer with `address` and `port` properties: this adapter reads them all and hands
 *   each over as a Uint8Array with its sender.
 * - write(bytes, address, port) takes an IP address literal (lwIP's ipaddr_aton; IPv4 in the
 *   simulator) and throws when the datagram cannot be queued: thrown on, as send()'s contract says.
 * - The simulator's UDP keeps at most 100 datagrams (and polls every 20 ms); lwIP drops what
 *   its buffers cannot hold: a flood is bounded by the SDK.
 *
 * Portable on purpose: the SDK classes are passed in (host.ts gives them), so the adapter is
 * tested on Node against a fake that behaves like the SDK's socket.
 */
import type { Resolver, UdpSocket, UdpSocketConstructor, UdpSocketOptions } from "../../src/shared/host.js";
import { isAddressLiteral, messageOf, type Resolve } from "./tcp.js";

/** Options of the SDK's ECMA-419 UDP constructor that this adapter uses. */
export interface Ecma419UdpOptions {
  port?: number;
  onReadable?: (count: number) => void;
  onError?: () => void;
  format?: "buffer";
}

/** One datagram as the SDK's read() returns it. */
export type Ecma419Datagram = ArrayBuffer & { address: string; port: number };

/** The SDK's ECMA-419 UDP socket, as far as this adapter uses it. */
export interface Ecma419Udp {
  read(): Ecma419Datagram | undefined;
  write(bytes: Uint8Array, address: string, port: number): void;
  close(): void;
}

export type Ecma419UdpConstructor = new (options: Ecma419UdpOptions) => Ecma419Udp;

/** A UdpSocket class over the SDK's UDP (see the file comment). */
export function createUdpSocketClass(UDP: Ecma419UdpConstructor): UdpSocketConstructor {
  return class ModdableUdpSocket implements UdpSocket {
    private readonly options: UdpSocketOptions;
    private socket: Ecma419Udp | undefined;
    private closed = false;
    private failed = false;

    constructor(options: UdpSocketOptions) {
      const port = options.port;
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
        throw new RangeError(`UDP port must be an integer 0..65535, got ${String(port)}`);
      }
      this.options = options;
      try {
        this.socket = new UDP({
          ...(port !== undefined && port !== 0 ? { port } : {}),
          format: "buffer",
          onReadable: (count) => this.readable(count),
          onError: () => this.fail("the UDP socket failed"),
        });
      } catch (error) {
        const message = port ? `cannot use UDP port ${port}: ${messageOf(error)}` : `cannot open a UDP socket: ${messageOf(error)}`;
        this.failed = true;
        void Promise.resolve().then(() => {
          if (!this.closed) this.options.onError?.(message);
        });
      }
    }

    send(address: string, port: number, bytes: Uint8Array): void {
      if (this.closed) throw new Error("send after close()");
      if (this.failed || this.socket === undefined) throw new Error("send on a UDP socket that failed");
      if (typeof address !== "string" || !isAddressLiteral(address)) {
        throw new TypeError(`UDP send needs an IP address literal (resolve names first), got ${String(address)}`);
      }
      if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
        throw new RangeError(`UDP port must be an integer 1..65535, got ${String(port)}`);
      }
      this.socket.write(bytes, address, port);
    }

    close(): void {
      if (this.closed) return;
      this.closed = true;
      this.release();
    }

    private readable(count: number): void {
      // Each call reads what is queued; `count` bounds the loop.
      for (let i = 0; i < count; i++) {
        if (this.closed || this.failed || this.socket === undefined) return;
        const datagram = this.socket.read();
        if (datagram === undefined) return;
        this.options.onMessage?.(new Uint8Array(datagram), datagram.address, datagram.port);
      }
    }

    private fail(message: string): void {
      if (this.closed || this.failed) return;
      this.failed = true;
      this.release();
      this.options.onError?.(message);
    }

    /** Lets go of the SDK's socket (one that failed may be released already). */
    private release(): void {
      const socket = this.socket;
      this.socket = undefined;
      if (socket === undefined) return;
      try {
        socket.close();
      } catch {
        // Nothing more to do with it.
      }
    }
  };
}

/**
 * A Resolver over `Net.resolve`: an address literal resolves to itself (in a promise job:
 * never from inside the call); a name that cannot be resolved, or a full lookup queue (lwIP's
 * DNS client takes a few at a time and throws beyond), reports undefined with a reason.
 */
export function createResolver(resolve: Resolve): Resolver {
  return (name, onResolved) => {
    if (isAddressLiteral(name)) {
      void Promise.resolve().then(() => onResolved(name));
      return;
    }
    try {
      resolve(name, (_name, address) => {
        if (address === undefined || address === "") onResolved(undefined, `cannot resolve ${name}`);
        else onResolved(address);
      });
    } catch (error) {
      const reason = `cannot resolve ${name}: ${messageOf(error)}`;
      void Promise.resolve().then(() => onResolved(undefined, reason));
    }
  };
}
