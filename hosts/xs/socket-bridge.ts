/**
 * The Node side of the XS host's TCP and TLS sockets (moved out of engine.ts): each socket of
 * XS is a NodeTcpSocket or NodeTlsSocket (TLS is done here, on the Node side of the bridge),
 * whose writable space and received chunks are delivered to XS one at a time, each built when
 * its turn comes. listener-bridge.ts hands its accepted connections to attachSocket.
 */
import type { AcceptedSocketOptions, TcpSocket, TlsErrorCodeValue, TlsOptions, WallClock } from "../../src/shared/host.js";
import { NodeTcpSocket, NodeTlsSocket, type NodeTcpTuning } from "../node/host.js";
import { ANSWER_OK, Command, Delivery, Post, type Reader, type Writer } from "./xs-side/protocol.js";

/** Bytes of received data handed to XS per delivery (XS holds at most this much unread). */
export const READ_CHUNK_BYTES = 64 * 1024;

/** Node's view of one TCP or TLS socket of XS. */
interface SocketRecord {
  socket: TcpSocket | undefined;
  /** Space Node may report: NodeTcpSocket's last onWritable count, minus what was written since. */
  space: number;
  /**
   * The space XS counts on (XsTcpSocket's `promised`): the last count delivered, minus what XS
   * wrote since; -1 before the first delivery (the connection's).
   */
  xsSpace: number;
  /** The largest count delivered: the socket's whole buffer, in practice. */
  fullSpace: number;
  /** Bytes NodeTcpSocket holds for reading (its last onReadable count, minus what was taken). */
  available: number;
  /** XS has read everything it was given: the next chunk may go. */
  xsWants: boolean;
  /** The answer to the last TCP_READABLE said XS holds bytes unread (TCP_HOLD). */
  held: boolean;
  readableQueued: boolean;
  writableQueued: boolean;
}

export interface SocketBridgeHooks {
  /** Queues a delivery to XS (engine.ts event()). */
  event(kind: number, write: (writer: Writer) => void | false, after?: () => void): void;
  /** Socket tuning (tests), as for the Node host. */
  tcp: NodeTcpTuning | undefined;
  /** The wall clock TLS checks certificate dates by. */
  wallClock: WallClock;
}

const OK = new Uint8Array([ANSWER_OK]);

export class SocketBridge {
  private readonly hooks: SocketBridgeHooks;
  private readonly sockets = new Map<number, SocketRecord>();

  constructor(hooks: SocketBridgeHooks) {
    this.hooks = hooks;
  }

  /** Handles a post of this bridge's kinds; false for any other kind. */
  post(kind: number, body: Reader): boolean {
    switch (kind) {
  case Post.TCP_OPEN:
    this.openSocket(body.u32(), body.u16(), body.u8() === 1, text(body.rest()));
    return true;
  case Post.TCP_WRITE: {
    const id = body.u32();
    const record = this.sockets.get(id);
    const bytes = body.rest();
    if (record?.socket === undefined) return true;
    record.space = Math.max(0, record.space - bytes.length);
    record.xsSpace = Math.max(0, record.xsSpace - bytes.length);
    record.socket.write(bytes);
    this.reportWritable(id, record);
    return true;
  }
  case Post.TCP_CLOSE: {
    const id = body.u32();
    this.sockets.get(id)?.socket?.close();
    this.sockets.delete(id);
    return true;
  }
  case Post.TCP_WANT: {
    const id = body.u32();
    const record = this.sockets.get(id);
    if (record === undefined) return true;
    record.xsWants = true;
    this.pump(id, record);
    return true;
  }
  case Post.TCP_HOLD: {
    const record = this.sockets.get(body.u32());
    if (record !== undefined) record.held = true;
    return true;
  }
      default:
        return false;
    }
  }

  /** Answers a command of this bridge's kinds; undefined for any other kind. */
  command(kind: number, body: Reader): Uint8Array | undefined {
    switch (kind) {
    case Command.TLS_OPEN: {
      const id = body.u32();
      const port = body.u16();
      const nodelay = body.u8() === 1;
      const host = text(body.prefixed());
      // NodeTlsSocket checks the options (null included) and throws TypeError, as on Node.
      const tls = JSON.parse(text(body.rest())) as TlsOptions;
      this.openSocket(id, port, nodelay, host, tls);
      return OK;
    }
      default:
        return undefined;
    }
  }

  /** Closes every socket. */
  close(): void {
    for (const record of this.sockets.values()) record.socket?.close();
    this.sockets.clear();
  }

  /**
   * Opens XS's socket `id`: a NodeTcpSocket, or with `tls` a NodeTlsSocket, whose throw (a
   * TlsOptions it refuses) is rethrown, for Command.TLS_OPEN to answer XS with; a
   * NodeTcpSocket's is reported as its failure (XS has checked the address already).
   */
  private openSocket(id: number, port: number, nodelay: boolean, host: string, tls?: TlsOptions): void {
    const Socket = tls === undefined ? NodeTcpSocket : NodeTlsSocket;
    const create = (callbacks: AcceptedSocketOptions): TcpSocket =>
      new Socket({ ...this.hooks.tcp, host, port, nodelay, ...(tls === undefined ? {} : { tls, wallClock: this.hooks.wallClock }), ...callbacks });
    this.attachSocket(id, create, tls !== undefined);
  }

  /**
   * Makes the socket `create` returns XS's socket `id` (its events cross to XS). A throw is
   * rethrown when `rethrow` (TLS_OPEN answers XS with it), else reported as its failure;
   * false when `create` made none (a listener with no connection waiting).
   */
  attachSocket(id: number, create: (callbacks: AcceptedSocketOptions) => TcpSocket | undefined, rethrow = false): boolean {
    const record: SocketRecord = {
      socket: undefined,
      space: 0,
      xsSpace: -1,
      fullSpace: 0,
      available: 0,
      xsWants: true,
      held: false,
      readableQueued: false,
      writableQueued: false,
    };
    this.sockets.set(id, record);
    try {
      record.socket = create({
        onWritable: (count) => {
          record.space = count;
          this.reportWritable(id, record);
        },
        onReadable: (count) => {
          record.available = count;
          this.pump(id, record);
        },
        onError: (message, code) => this.socketFailed(id, record, message ?? "connection failed", code),
      });
    } catch (error) {
      if (rethrow) {
        this.sockets.delete(id);
        throw error;
      }
      this.socketFailed(id, record, (error as Error).message);
      return true;
    }
    if (record.socket === undefined) this.sockets.delete(id);
    return record.socket !== undefined;
  }

  /**
   * Tells XS the socket's space (TCP_WRITABLE) when it has more than XS counts on and XS is
   * running short: the connection's first report, and then whenever XS's space is below half
   * the socket's buffer. While XS has more than that, a report would change nothing it does
   * (its Sender writes whatever fits, so bytes wait in it only once XS's space is used up), so
   * none is made: an echo costs one delivery, not two (the bytes in, then the space back).
   */
  private reportWritable(id: number, record: SocketRecord): void {
    if (record.writableQueued || record.space <= record.xsSpace) return;
    if (record.xsSpace >= 0 && record.xsSpace * 2 >= record.fullSpace) return;
    record.writableQueued = true;
    this.hooks.event(Delivery.TCP_WRITABLE, (writer) => {
      record.writableQueued = false;
      if (this.sockets.get(id) !== record) return false;
      writer.u32(id);
      writer.u32(record.space);
      record.xsSpace = record.space;
      if (record.space > record.fullSpace) record.fullSpace = record.space;
    });
  }

  /**
   * Hands XS the next chunk when it has read the last one: when the answer to its delivery
   * has no TCP_HOLD for the socket (XS read it all), or at XS's TCP_WANT.
   */
  private pump(id: number, record: SocketRecord): void {
    if (!record.xsWants || record.readableQueued || record.available === 0) return;
    record.readableQueued = true;
    this.hooks.event(
      Delivery.TCP_READABLE,
      (writer) => {
        record.readableQueued = false;
        if (this.sockets.get(id) !== record || record.socket === undefined) return false;
        const bytes = record.socket.read(READ_CHUNK_BYTES);
        if (bytes === undefined) return false;
        record.available = Math.max(0, record.available - bytes.length);
        record.xsWants = false;
        record.held = false;
        writer.u32(id);
        writer.bytes(bytes);
      },
      () => {
        if (this.sockets.get(id) !== record || record.held || record.xsWants) return;
        record.xsWants = true;
        this.pump(id, record);
      },
    );
  }

  private socketFailed(id: number, record: SocketRecord, message: string, code?: TlsErrorCodeValue): void {
    this.hooks.event(Delivery.TCP_ERROR, (writer) => {
      if (this.sockets.get(id) !== record) return false;
      this.sockets.delete(id);
      writer.u32(id);
      writer.prefixed(Buffer.from(code ?? "", "utf8"));
      writer.bytes(Buffer.from(message, "utf8"));
    });
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
}
