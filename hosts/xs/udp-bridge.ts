/**
 * The Node side of the XS host's UDP sockets, name resolution and wall clock (see
 * xs-side/udp.ts for the XS side, xs-side/protocol.ts for the wire format): XS's sockets are
 * the Node host's NodeUdpSocket, its lookups nodeResolve, its clock a NodeWallClock kept here,
 * which the engine's TLS sockets check certificate dates by, as on the Node host.
 *
 * Datagrams are delivered one per delivery. At most MAX_PENDING_DATAGRAMS wait for XS per
 * socket; more are dropped, as a full receive buffer drops them on a chip (the SDK's own UDP
 * keeps 100 in the simulator), so a flood cannot grow Node's queue of deliveries.
 */
import type { WallClock } from "../../src/shared/host.js";
import { nodeResolve, NodeUdpSocket } from "../node/udp.js";
import { ANSWER_OK, Command, Delivery, Post, type Reader, type Writer } from "./xs-side/protocol.js";

/** Datagrams of one socket waiting to be delivered to XS, at most. */
export const MAX_PENDING_DATAGRAMS = 16;

/** Queues a delivery; `write` fills it when its turn comes (returning false skips it). */
export type Deliver = (kind: number, write: (writer: Writer) => void | false) => void;

interface UdpRecord {
  socket: NodeUdpSocket;
  pending: number;
}

export class UdpBridge {
  private readonly sockets = new Map<number, UdpRecord>();

  constructor(
    private readonly deliver: Deliver,
    private readonly wallClock: WallClock,
  ) {}

  /** Carries out a post of XS; false when `kind` is not one of these. */
  post(kind: number, body: Reader): boolean {
    switch (kind) {
      case Post.UDP_SEND: {
        const record = this.sockets.get(body.u32());
        const port = body.u16();
        const address = text(body.prefixed());
        const bytes = body.rest();
        try {
          record?.socket.send(address, port, bytes);
        } catch {
          // The socket failed and XS has not heard yet (UDP_ERROR is on its way): a lost datagram.
        }
        return true;
      }
      case Post.UDP_CLOSE: {
        const id = body.u32();
        this.sockets.get(id)?.socket.close();
        this.sockets.delete(id);
        return true;
      }
      case Post.RESOLVE: {
        const id = body.u32();
        nodeResolve(text(body.rest()), (address, error) =>
          this.deliver(Delivery.RESOLVED, (writer) => {
            writer.u32(id);
            writer.u8(address === undefined ? 0 : 1);
            writer.bytes(Buffer.from(address ?? error ?? "cannot resolve", "utf8"));
          }),
        );
        return true;
      }
      case Post.CLOCK_SET:
        this.wallClock.set(body.f64());
        return true;
      default:
        return false;
    }
  }

  /** Answers a synchronous call of XS; undefined when `kind` is not one of these. */
  command(kind: number, body: Reader): Uint8Array | undefined {
    switch (kind) {
      case Command.UDP_OPEN: {
        const id = body.u32();
        const port = body.u16();
        const address = text(body.rest());
        // NodeUdpSocket's checks throw TypeError or RangeError, rethrown inside XS.
        const record: UdpRecord = { socket: undefined as unknown as NodeUdpSocket, pending: 0 };
        record.socket = new NodeUdpSocket({
          ...(port !== 0 ? { port } : {}),
          ...(address !== "" ? { address } : {}),
          onMessage: (bytes, from, fromPort) => this.datagram(id, record, bytes, from, fromPort),
          onError: (message) =>
            this.deliver(Delivery.UDP_ERROR, (writer) => {
              if (this.sockets.get(id) !== record) return false;
              this.sockets.delete(id);
              writer.u32(id);
              writer.bytes(Buffer.from(message ?? "the UDP socket failed", "utf8"));
            }),
        });
        this.sockets.set(id, record);
        return Uint8Array.of(ANSWER_OK);
      }
      case Command.CLOCK_GET: {
        const out = Buffer.alloc(10);
        out[0] = ANSWER_OK;
        out.writeDoubleLE(this.wallClock.now(), 1);
        out[9] = this.wallClock.systemSynced ? 1 : 0;
        return out;
      }
      default:
        return undefined;
    }
  }

  /** Closes every socket (the engine is shutting down). */
  close(): void {
    for (const record of this.sockets.values()) record.socket.close();
    this.sockets.clear();
  }

  private datagram(id: number, record: UdpRecord, bytes: Uint8Array, from: string, port: number): void {
    if (record.pending >= MAX_PENDING_DATAGRAMS) return;
    record.pending++;
    this.deliver(Delivery.UDP_MESSAGE, (writer) => {
      record.pending--;
      if (this.sockets.get(id) !== record) return false;
      writer.u32(id);
      writer.u16(port);
      writer.prefixed(Buffer.from(from, "utf8"));
      writer.bytes(bytes);
    });
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
}
