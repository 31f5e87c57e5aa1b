/**
 * The XS side of the desktop XS host's TCP listener and of the simulated WiFi's scan and
 * access point (src/shared/host.ts TcpListener, WifiDriver's optional methods), served by
 * Node across the bridge (hosts/xs/listener-bridge.ts): the listener is Node's
 * NodeTcpListener, the WiFi the engine's SimWifi.
 *
 * - Listening is a synchronous call (a bad port or address throws here, as on Node); Node
 *   tells of waiting connections with a delivery; accept() is a synchronous call that binds
 *   the oldest one to a new XS TCP socket (host.ts XsTcpSocket), whose events are any TCP
 *   socket's from then on.
 * - A scan is a post, answered by a delivery; the access point and the MAC are calls.
 */
import type {
  AcceptedSocketOptions,
  AccessPointOptions,
  TcpListener,
  TcpListenerOptions,
  TcpSocket,
  WifiDriver,
  WifiScanResult,
} from "../../../src/shared/host.js";
import { call, onDelivery, post, postId, powers } from "./bridge.js";
import { XsTcpSocket } from "./host.js";
import { Command, Delivery, Post } from "./protocol.js";

const listeners = new Map<number, XsTcpListener>();
let lastListenerId = 0;

/** A TCP listener whose server is Node's, with the same contract and the same messages. */
export class XsTcpListener implements TcpListener {
  readonly port: number;
  private readonly id: number;
  private readonly options: TcpListenerOptions;
  private closed = false;

  constructor(options: TcpListenerOptions) {
    const { port } = options;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      // 0 (any port) is not offered across the bridge: Node learns its port only later.
      throw new RangeError(`listener port must be an integer 1..65535 in XS, got ${String(port)}`);
    }
    this.options = options;
    this.port = port;
    this.id = ++lastListenerId;
    const address = powers.encode(options.address === undefined ? "" : String(options.address));
    call(Command.LISTENER_OPEN, (writer) => {
      writer.u32(this.id);
      writer.u16(port);
      writer.bytes(address);
    });
    listeners.set(this.id, this);
  }

  accept(options: AcceptedSocketOptions): TcpSocket | undefined {
    if (this.closed) return undefined;
    const socket = new XsTcpSocket({ ...options, host: "", port: 0 }, "accepted");
    const answer = call(Command.LISTENER_ACCEPT, (writer) => {
      writer.u32(this.id);
      writer.u32(socket.id);
    });
    if (answer.u8() === 1) return socket;
    socket.close();
    return undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    listeners.delete(this.id);
    postId(Post.LISTENER_CLOSE, this.id);
  }

  /** @internal Connections wait. */
  readable(count: number): void {
    if (!this.closed) this.options.onReadable?.(count);
  }

  /** @internal The listener failed. */
  failed(message: string): void {
    if (this.closed) return;
    this.closed = true;
    listeners.delete(this.id);
    this.options.onError?.(message);
  }
}

onDelivery(Delivery.LISTENER_READABLE, (reader) => {
  const listener = listeners.get(reader.u32());
  listener?.readable(reader.u32());
});
onDelivery(Delivery.LISTENER_ERROR, (reader) => {
  const listener = listeners.get(reader.u32());
  listener?.failed(powers.decode(reader.rest()));
});

// --- WiFi: scan, access point, MAC --------------------------------------------------------

/** The scan under way, answered by WIFI_SCANNED. */
let scanning: ((networks: WifiScanResult[] | undefined, error?: string) => void) | undefined;

onDelivery(Delivery.WIFI_SCANNED, (reader) => {
  const onDone = scanning;
  scanning = undefined;
  const ok = reader.u8() === 1;
  const text = powers.decode(reader.rest());
  if (onDone === undefined) return;
  if (ok) onDone(JSON.parse(text) as WifiScanResult[]);
  else onDone(undefined, text);
});

function info(): { mac: string; accessPoint: string } {
  const answer = call(Command.WIFI_INFO);
  const mac = powers.decode(answer.prefixed());
  return { mac, accessPoint: powers.decode(answer.rest()) };
}

/** Gives XS's WiFi driver (host.ts xsWifi) the simulated WiFi's scan, access point and MAC. */
export function withAccessPoint(wifi: WifiDriver): WifiDriver {
  wifi.scan = (onDone) => {
    if (scanning !== undefined) throw new Error("already scanning");
    scanning = onDone;
    post(Post.WIFI_SCAN);
  };
  wifi.startAccessPoint = (options: AccessPointOptions) => {
    const json = powers.encode(JSON.stringify(options ?? null));
    call(Command.WIFI_ACCESS_POINT, (writer) => {
      writer.u8(1);
      writer.bytes(json);
    });
  };
  wifi.stopAccessPoint = () => {
    call(Command.WIFI_ACCESS_POINT, (writer) => writer.u8(0));
  };
  wifi.accessPointAddress = () => info().accessPoint || undefined;
  wifi.macAddress = () => info().mac || undefined;
  return wifi;
}
