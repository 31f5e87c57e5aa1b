/**
 * In-memory UDP sockets and a name resolver for unit tests of the SNTP client: the test
 * plays the servers, reading each request a socket sent and answering (or not) on its
 * virtual clock. Integration tests use real sockets (hosts/node/udp.ts) and real servers.
 */
import type { Resolver, Timers, UdpSocket, UdpSocketConstructor, UdpSocketOptions } from "../../src/shared/host.js";

export interface Datagram {
  address: string;
  port: number;
  bytes: Uint8Array;
  /** timers.now() when it was sent (sockets of fakeUdpNet). */
  at?: number;
}

export class FakeUdpSocket implements UdpSocket {
  readonly options: UdpSocketOptions;
  readonly sent: Datagram[] = [];
  closed = false;

  constructor(options: UdpSocketOptions) {
    this.options = options;
  }

  send(address: string, port: number, bytes: Uint8Array): void {
    if (this.closed) throw new Error("send after close()");
    this.sent.push({ address, port, bytes: bytes.slice() });
  }

  close(): void {
    this.closed = true;
  }

  /** A datagram arrives (ignored once closed, as a real socket would). */
  deliver(bytes: Uint8Array, address: string, port: number): void {
    if (!this.closed) this.options.onMessage?.(bytes, address, port);
  }

  fail(message: string): void {
    if (!this.closed) this.options.onError?.(message);
  }
}

export interface FakeUdpNet {
  udp: UdpSocketConstructor;
  resolve: Resolver;
  /** Every socket made, in order. */
  sockets: FakeUdpSocket[];
  /** Names the resolver knows (others fail); an address literal resolves to itself. */
  names: Map<string, string>;
  /** Lookups asked, in order, and when (timers.now()). */
  lookups: string[];
  lookupTimes: number[];
  /** The next socket constructor throws this message (once). */
  failNextOpen: string | undefined;
}

/** A fake network whose lookups answer after `lookupMs` on `timers` (never from inside resolve()). */
export function fakeUdpNet(timers: Timers, lookupMs = 0): FakeUdpNet {
  const net: FakeUdpNet = {
    udp: undefined as unknown as UdpSocketConstructor,
    resolve: (name, onResolved) => {
      net.lookups.push(name);
      net.lookupTimes.push(timers.now());
      timers.set(() => {
        const address = /^[0-9.]+$/.test(name) ? name : net.names.get(name);
        if (address === undefined) onResolved(undefined, "cannot resolve the host name");
        else onResolved(address);
      }, lookupMs);
    },
    sockets: [],
    names: new Map(),
    lookups: [],
    lookupTimes: [],
    failNextOpen: undefined,
  };
  net.udp = class extends FakeUdpSocket {
    constructor(options: UdpSocketOptions) {
      const failure = net.failNextOpen;
      net.failNextOpen = undefined;
      if (failure !== undefined) throw new Error(failure);
      super(options);
      net.sockets.push(this);
    }
    override send(address: string, port: number, bytes: Uint8Array): void {
      super.send(address, port, bytes);
      this.sent[this.sent.length - 1]!.at = timers.now();
    }
  };
  return net;
}
