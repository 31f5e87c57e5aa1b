/**
 * The firmware's TcpListener over Moddable's ECMA-419 `embedded:io/socket/listener` (the
 * captive portal's HTTP server): `new Listener({port, onReadable(count)})`, and each waiting
 * connection taken with `new TCP({from: listener.read(), ...callbacks})`, which becomes one
 * of tcp.ts's adapters, so an accepted connection keeps the contract of every TcpSocket here.
 *
 * What the SDK's listener does (8.2.3, modules/io/socket/lwip/listener on the ESP32 and
 * modules/io/socket/lin/listener in the simulator): it binds every interface (there is no
 * address option: the `address` asked for is not passed on), throws from the constructor
 * when the port cannot be bound, and calls onReadable with the number of connections waiting.
 *
 * Portable on purpose: the SDK classes are passed in (host.ts gives them), so the adapter is
 * tested on Node against fakes that behave like the SDK's.
 */
import type { AcceptedSocketOptions, TcpListener, TcpListenerConstructor, TcpListenerOptions, TcpSocket } from "../../src/shared/host.js";
import { Ecma419SocketAdapter, type Ecma419Callbacks, type Ecma419Tcp } from "./tcp.js";

/** The SDK's ECMA-419 listener, as far as this adapter uses it. */
export interface Ecma419Listener {
  /** The oldest waiting connection, for `new TCP({from})`; undefined when none waits. */
  read(): unknown;
  close(): void;
}

export type Ecma419ListenerConstructor = new (options: { port: number; onReadable?: (count: number) => void }) => Ecma419Listener;

/** `new TCP({from, ...})`: the SDK's TCP class, taking over an accepted connection. */
export type Ecma419AcceptingTcp = new (options: { from: unknown; format: "buffer" } & Ecma419Callbacks) => Ecma419Tcp;

export interface ModdableListenerDependencies {
  /** `import Listener from "embedded:io/socket/listener"` */
  Listener: Ecma419ListenerConstructor;
  /** `import TCP from "embedded:io/socket/tcp"` */
  TCP: Ecma419AcceptingTcp;
}

export function createListenerClass(dependencies: ModdableListenerDependencies): TcpListenerConstructor {
  const { Listener, TCP } = dependencies;

  return class ModdableTcpListener implements TcpListener {
    readonly port: number;
    private listener: Ecma419Listener | undefined;

    constructor(options: TcpListenerOptions) {
      const { port } = options;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        // The SDK's listener can bind port 0, but does not say which port it got.
        throw new RangeError(`listener port must be an integer 1..65535, got ${String(port)}`);
      }
      this.port = port;
      this.listener = new Listener({
        port,
        onReadable: (count: number) => {
          if (this.listener !== undefined) options.onReadable?.(count);
        },
      });
    }

    accept(options: AcceptedSocketOptions): TcpSocket | undefined {
      const from = this.listener?.read();
      if (from === undefined || from === null) return undefined;
      const socket = new Ecma419SocketAdapter(options, "a client of the portal");
      socket.attach((callbacks) => new TCP({ from, format: "buffer", ...callbacks }));
      return socket;
    }

    close(): void {
      const listener = this.listener;
      this.listener = undefined;
      listener?.close();
    }
  };
}
