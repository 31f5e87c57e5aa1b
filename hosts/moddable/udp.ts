/**
 * The firmware's UdpSocket over Moddable's ECMA-419 `embedded:io/socket/udp` (the captive
 * portal's DNS server): `new UDP({port, onReadable(count)})`, each datagram read as an
 * ArrayBuffer carrying `address` and `port`, sent with `write(bytes, address, port)`.
 *
 * What the SDK's UDP does (8.2.3, modules/io/socket/lwip/udp.c on the ESP32 and
 * modules/io/socket/lin/udp.c in the simulator): it binds every interface (no address
 * option: the `address` asked for is not passed on) and throws from the constructor when the
 * port cannot be bound; write() throws when the datagram cannot be sent, and this adapter
 * lets that throw through, as the UdpSocket contract says.
 *
 * Portable on purpose: the SDK class is passed in (host.ts gives it), so the adapter is tested
 * on Node against a fake that behaves like the SDK's.
 */
import type { UdpSocket, UdpSocketConstructor, UdpSocketOptions } from "../../src/shared/host.js";

/** A datagram as the SDK reads it: its bytes, and who sent it. */
export type Ecma419Datagram = ArrayBuffer & { address?: string; port?: number };

/** The SDK's ECMA-419 UDP socket, as far as this adapter uses it. */
export interface Ecma419Udp {
  read(): Ecma419Datagram | undefined;
  write(bytes: Uint8Array, address: string, port: number): void;
  close(): void;
}

export type Ecma419UdpConstructor = new (options: { port?: number; onReadable?: (count: number) => void; format?: "buffer" }) => Ecma419Udp;

export function createUdpSocketClass(UDP: Ecma419UdpConstructor): UdpSocketConstructor {
  return class ModdableUdpSocket implements UdpSocket {
    private socket: Ecma419Udp | undefined;

    constructor(options: UdpSocketOptions) {
      const port = options.port ?? 0;
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new RangeError(`UDP port must be an integer 0..65535, got ${String(options.port)}`);
      }
      this.socket = new UDP({
        ...(port !== 0 ? { port } : {}),
        format: "buffer",
        onReadable: (count: number) => {
          for (let i = 0; i < count && this.socket !== undefined; i++) {
            const datagram = this.socket.read();
            if (datagram === undefined) return;
            if (typeof datagram.address !== "string" || typeof datagram.port !== "number") continue;
            options.onMessage?.(new Uint8Array(datagram), datagram.address, datagram.port);
          }
        },
      });
    }

    send(address: string, port: number, bytes: Uint8Array): void {
      if (this.socket === undefined) throw new Error("send after close()");
      this.socket.write(bytes, address, port);
    }

    close(): void {
      const socket = this.socket;
      this.socket = undefined;
      socket?.close();
    }
  };
}
