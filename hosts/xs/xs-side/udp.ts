/**
 * The XS side of the desktop XS host's UDP sockets, name resolution and wall clock
 * (src/shared/host.ts UdpSocket, Resolver, WallClock), served by Node across the bridge
 * (hosts/xs/udp-bridge.ts): the sockets are Node's NodeUdpSocket, lookups dns.lookup, the clock
 * a NodeWallClock that Node's TLS sockets check certificate dates by.
 *
 * - UDP: opening is a synchronous call (a bad port or address throws here, as on Node);
 *   sending and closing are posts; each datagram is a delivery.
 * - resolve: a post, answered by a delivery (never from inside the call).
 * - The wall clock: now() is a synchronous call (rare: hello, status, telemetry), set() a post.
 */
import type { Resolver, UdpSocket, UdpSocketOptions, WallClock } from "../../../src/shared/host.js";
import { call, onDelivery, post, postId, powers } from "./bridge.js";
import { Command, Delivery, Post } from "./protocol.js";

const sockets = new Map<number, XsUdpSocket>();
let lastSocketId = 0;

/** An IPv4 literal, or anything with ":" (IPv6): what Node's socket takes; names are resolved first. */
const ADDRESS = /^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$|:/;

/** A UDP socket whose socket is Node's, with the same contract and the same messages. */
export class XsUdpSocket implements UdpSocket {
  private readonly id: number;
  private readonly options: UdpSocketOptions;
  private closed = false;
  private failed = false;

  constructor(options: UdpSocketOptions) {
    const port = options.port ?? 0;
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new RangeError(`UDP port must be an integer 0..65535, got ${String(options.port)}`);
    }
    this.options = options;
    this.id = ++lastSocketId;
    const address = powers.encode(options.address === undefined ? "" : String(options.address));
    call(Command.UDP_OPEN, (writer) => {
      writer.u32(this.id);
      writer.u16(port);
      writer.bytes(address);
    });
    sockets.set(this.id, this);
  }

  send(address: string, port: number, bytes: Uint8Array): void {
    if (this.closed) throw new Error("send after close()");
    if (this.failed) throw new Error("send on a UDP socket that failed");
    if (typeof address !== "string" || !ADDRESS.test(address)) {
      throw new TypeError(`UDP send needs an IP address literal (resolve names first), got ${String(address)}`);
    }
    if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      throw new RangeError(`UDP port must be an integer 1..65535, got ${String(port)}`);
    }
    const addressBytes = powers.encode(address);
    post(Post.UDP_SEND, (writer) => {
      writer.u32(this.id);
      writer.u16(port);
      writer.prefixed(addressBytes);
      writer.bytes(bytes);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sockets.delete(this.id);
    if (!this.failed) postId(Post.UDP_CLOSE, this.id);
  }

  /** @internal A datagram arrived. */
  received(bytes: Uint8Array, address: string, port: number): void {
    if (this.closed || this.failed) return;
    this.options.onMessage?.(bytes, address, port);
  }

  /** @internal The socket failed. */
  lost(message: string): void {
    if (this.closed || this.failed) return;
    this.failed = true;
    sockets.delete(this.id);
    this.options.onError?.(message);
  }
}

onDelivery(Delivery.UDP_MESSAGE, (reader) => {
  const socket = sockets.get(reader.u32());
  const port = reader.u16();
  const address = powers.decode(reader.prefixed());
  // The delivery's buffer is ours alone: no copy.
  socket?.received(reader.rest(), address, port);
});
onDelivery(Delivery.UDP_ERROR, (reader) => {
  const socket = sockets.get(reader.u32());
  socket?.lost(powers.decode(reader.rest()));
});

/** UDP sockets still open (for tests of leaks). */
export function openUdpSockets(): number {
  return sockets.size;
}

// --- name resolution --------------------------------------------------------------------

const lookups = new Map<number, (address: string | undefined, error?: string) => void>();
let lastLookupId = 0;

/** Node's dns.lookup (IPv4), answered later by a delivery. */
export const xsResolve: Resolver = (name, onResolved) => {
  const id = ++lastLookupId;
  lookups.set(id, onResolved);
  const nameBytes = powers.encode(String(name));
  post(Post.RESOLVE, (writer) => {
    writer.u32(id);
    writer.bytes(nameBytes);
  });
};

onDelivery(Delivery.RESOLVED, (reader) => {
  const id = reader.u32();
  const found = reader.u8() === 1;
  const text = powers.decode(reader.rest());
  const onResolved = lookups.get(id);
  if (onResolved === undefined) return;
  lookups.delete(id);
  if (found) onResolved(text);
  else onResolved(undefined, text);
});

// --- the wall clock ---------------------------------------------------------------------

/** Node's NodeWallClock for this engine, read with a call, set with a post. */
export const xsWallClock: WallClock = {
  now(): number {
    return call(Command.CLOCK_GET).f64();
  },
  set(utcMs: number): void {
    post(Post.CLOCK_SET, (writer) => writer.f64(utcMs));
  },
  get systemSynced(): boolean {
    const answer = call(Command.CLOCK_GET);
    answer.f64();
    return answer.u8() === 1;
  },
};
