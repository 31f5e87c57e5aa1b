/**
 * The Node side of the XS host's TCP listeners and of the simulated WiFi's scan and access
 * point (hosts/xs/xs-side/listener.ts is the XS side): each listener of XS is a
 * NodeTcpListener, whose accepted connections become the engine's TCP sockets (socket-bridge.ts
 * attachSocket), so they cross the bridge as every TCP socket does.
 */
import type { AcceptedSocketOptions, TcpSocket } from "../../src/shared/host.js";
import { NodeTcpListener } from "../node/listener.js";
import type { SimWifi } from "../node/sim-wifi.js";
import { ANSWER_OK, Command, Delivery, Post, type Reader, type Writer } from "./xs-side/protocol.js";

export interface ListenerBridgeHooks {
  /** Queues a delivery to XS (engine.ts event()). */
  event(kind: number, write: (writer: Writer) => void | false): void;
  /** Makes `create`'s socket the engine's TCP socket `id`; false when it made none. */
  attachSocket(id: number, create: (callbacks: AcceptedSocketOptions) => TcpSocket | undefined): boolean;
  wifi: SimWifi;
}

const OK = new Uint8Array([ANSWER_OK]);

export class ListenerBridge {
  private readonly hooks: ListenerBridgeHooks;
  private readonly listeners = new Map<number, NodeTcpListener>();

  constructor(hooks: ListenerBridgeHooks) {
    this.hooks = hooks;
  }

  /** Handles a post of this bridge's kinds; false for any other kind. */
  post(kind: number, body: Reader): boolean {
    switch (kind) {
      case Post.LISTENER_CLOSE: {
        const id = body.u32();
        this.listeners.get(id)?.close();
        this.listeners.delete(id);
        return true;
      }
      case Post.WIFI_SCAN:
        this.scan();
        return true;
      default:
        return false;
    }
  }

  /** Answers a command of this bridge's kinds (throws what XS should throw); undefined for any other kind. */
  command(kind: number, body: Reader): Uint8Array | undefined {
    switch (kind) {
      case Command.LISTENER_OPEN: {
        const id = body.u32();
        const port = body.u16();
        const address = text(body.rest());
        const listener = new NodeTcpListener({
          port,
          ...(address !== "" ? { address } : {}),
          onReadable: (count) => this.hooks.event(Delivery.LISTENER_READABLE, (writer) => {
            if (!this.listeners.has(id)) return false;
            writer.u32(id);
            writer.u32(count);
          }),
          onError: (message) => {
            this.listeners.delete(id);
            this.hooks.event(Delivery.LISTENER_ERROR, (writer) => {
              writer.u32(id);
              writer.bytes(Buffer.from(message ?? "listener failed", "utf8"));
            });
          },
        });
        this.listeners.set(id, listener);
        return OK;
      }
      case Command.LISTENER_ACCEPT: {
        const listener = this.listeners.get(body.u32());
        const socketId = body.u32();
        const accepted = listener !== undefined && this.hooks.attachSocket(socketId, (callbacks) => listener.accept(callbacks));
        return new Uint8Array([ANSWER_OK, accepted ? 1 : 0]);
      }
      case Command.WIFI_ACCESS_POINT: {
        if (body.u8() === 1) this.hooks.wifi.startAccessPoint(JSON.parse(text(body.rest())));
        else this.hooks.wifi.stopAccessPoint();
        return OK;
      }
      case Command.WIFI_INFO: {
        const mac = Buffer.from(this.hooks.wifi.macAddress() ?? "", "utf8");
        const accessPoint = Buffer.from(this.hooks.wifi.accessPointAddress() ?? "", "utf8");
        const out = Buffer.alloc(1 + 4 + mac.length + accessPoint.length);
        out[0] = ANSWER_OK;
        out.writeUInt32LE(mac.length, 1);
        mac.copy(out, 5);
        accessPoint.copy(out, 5 + mac.length);
        return out;
      }
      default:
        return undefined;
    }
  }

  /** Stops every listener (the engine is closing). */
  close(): void {
    for (const listener of this.listeners.values()) listener.close();
    this.listeners.clear();
  }

  private scan(): void {
    const answer = (ok: boolean, payload: string): void =>
      this.hooks.event(Delivery.WIFI_SCANNED, (writer) => {
        writer.u8(ok ? 1 : 0);
        writer.bytes(Buffer.from(payload, "utf8"));
      });
    try {
      this.hooks.wifi.scan((networks, error) => answer(networks !== undefined, networks !== undefined ? JSON.stringify(networks) : (error ?? "scan failed")));
    } catch (error) {
      answer(false, error instanceof Error ? error.message : String(error));
    }
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
}
