/**
 * The soak's network, simulated in process on the virtual clock: TCP between the device and
 * the soak server (the TcpSocket host interface, src/shared/host.ts) and the WiFi radio (the
 * WifiDriver interface). Portable: it runs on Node and inside XS.
 *
 * TCP keeps the contract the real hosts keep: connecting -> open (first onWritable) -> lost
 * (onError once, after the bytes that came before the end were read) or closed. Each
 * direction is FIFO with the connection's latency; the device's writes take room in an 8 KiB
 * send window that comes back when the server has read them (so a slow server slows the
 * device, as TCP does). Faults: the server refusing connections (down), resetting them
 * (restart), a half-open link (every byte silently lost, both ways or only toward the device,
 * no error), a slow server
 * (seconds between a byte's arrival and its reading), and the WiFi radio losing the access
 * point (nothing gets through until it is back).
 */
import type { TcpSocket, TcpSocketOptions, WifiDisconnectReason, WifiDriver, WifiNetwork, WifiNotification } from "../../../../src/shared/host.js";
import type { SimClock, SeededRandom } from "./clock.js";

/** The device's send window, bytes: what it may have written and the server not yet read. */
export const SEND_WINDOW_BYTES = 8 * 1024;

/** What the soak server does with a connection (tests/support/xs/soak/server.ts). */
export interface SimServer {
  /** Whether it accepts connections now (false: refused, as a restarting server). */
  readonly accepting: boolean;
  /** Extra milliseconds before it reads what arrived (a slow server); 0 normally. */
  readonly readDelayMs: number;
  connected(connection: ServerConnection): void;
}

/** The server's end of one TCP connection. */
export class ServerConnection {
  readonly id: number;
  /** Bytes from the device, in order. */
  onData: ((bytes: Uint8Array) => void) | undefined;
  /** The device closed its end (FIN) or the connection broke. */
  onEnd: (() => void) | undefined;
  /** Every byte is lost silently, both ways (a dead NAT entry, a dead peer). */
  halfOpen = false;
  /**
   * Only what goes to the device is lost (its TCP acknowledgements included): the server
   * still gets the device's bytes, but its answers, acks of telemetry among them, never arrive.
   */
  towardDeviceLost = false;
  ended = false;
  /** @internal */
  readonly socket: SimTcpSocket;

  constructor(id: number, socket: SimTcpSocket) {
    this.id = id;
    this.socket = socket;
  }

  /** Sends bytes to the device; `delivered` runs when they reach its socket (not when lost). */
  send(bytes: Uint8Array, delivered?: () => void): void {
    if (this.ended) return;
    this.socket.fromServer(bytes, delivered);
  }

  /** Closes the server's side in order (FIN, after what was sent). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.serverClosed(false);
  }

  /** Drops the connection at once (RST): a crashed or restarting server. */
  reset(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.serverClosed(true);
  }
}

export class SimNet {
  readonly clock: SimClock;
  readonly random: SeededRandom;
  server: SimServer | undefined;
  /** The WiFi radio hears the access point (set by SimWifiDriver). */
  linkUp = true;
  /** Connection attempts (TCP SYNs sent), and when the last one was made. */
  attempts = 0;
  lastAttemptAt = -1;
  private lastConnectionId = 0;
  /** Called at each connection attempt, before anything else happens. */
  onAttempt: ((socket: SimTcpSocket) => void) | undefined;

  constructor(clock: SimClock, random: SeededRandom) {
    this.clock = clock;
    this.random = random;
  }

  /** The host's TcpSocketConstructor over this network. */
  tcp(): new (options: TcpSocketOptions) => TcpSocket {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const net = this;
    return class extends SimTcpSocket {
      constructor(options: TcpSocketOptions) {
        super(net, options);
      }
    };
  }

  /** @internal */
  nextConnectionId(): number {
    return ++this.lastConnectionId;
  }
}

export class SimTcpSocket implements TcpSocket {
  private readonly net: SimNet;
  private readonly options: TcpSocketOptions;
  /** One-way delay, ms (5..60, drawn per connection). */
  private readonly latencyMs: number;
  private connection: ServerConnection | undefined;
  private state: "connecting" | "open" | "lost" | "closed" = "connecting";
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private pendingError: string | undefined;
  private space = SEND_WINDOW_BYTES;
  /** When the last byte in each direction arrives: FIFO, whatever the delays. */
  private lastToServer = 0;
  private lastToDevice = 0;

  constructor(net: SimNet, options: TcpSocketOptions) {
    this.net = net;
    this.options = options;
    this.latencyMs = net.random.between(5, 60);
    net.attempts++;
    net.lastAttemptAt = net.clock.now();
    net.onAttempt?.(this);
    // The SYN: nothing comes back while the radio is down (the client's handshake timeout
    // ends the attempt); a server that is down refuses.
    net.clock.set(() => {
      if (this.state !== "connecting" || !net.linkUp) return;
      const server = net.server;
      if (server === undefined || !server.accepting) {
        net.clock.set(() => this.lose("connection refused"), this.latencyMs);
        return;
      }
      const connection = new ServerConnection(net.nextConnectionId(), this);
      this.connection = connection;
      server.connected(connection);
      net.clock.set(() => {
        if (this.state !== "connecting" || !net.linkUp || connection.halfOpen) return;
        this.state = "open";
        this.options.onWritable?.(this.space);
      }, this.latencyMs);
    }, this.latencyMs);
  }

  /** The server's end, once the SYN reached it. */
  get serverEnd(): ServerConnection | undefined {
    return this.connection;
  }

  read(count?: number): Uint8Array | undefined {
    if (this.state === "closed" || this.inboxBytes === 0) return undefined;
    const wanted = count === undefined ? this.inboxBytes : Math.min(count, this.inboxBytes);
    if (!(wanted > 0)) return undefined;
    const out = new Uint8Array(wanted);
    let at = 0;
    while (at < wanted) {
      const head = this.inbox[0]!;
      const take = Math.min(head.length, wanted - at);
      out.set(head.subarray(0, take), at);
      at += take;
      if (take === head.length) this.inbox.shift();
      else this.inbox[0] = head.subarray(take);
    }
    this.inboxBytes -= wanted;
    if (this.inboxBytes === 0 && this.pendingError !== undefined) {
      const message = this.pendingError;
      this.net.clock.set(() => this.reportError(message), 0);
    }
    return out;
  }

  write(bytes: Uint8Array): void {
    if (this.state === "closed") throw new Error("write after close()");
    if (this.state === "connecting") throw new Error("write before the connection is open");
    if (this.state === "lost") return;
    if (bytes.length > this.space) throw new RangeError(`write of ${bytes.length} bytes exceeds the writable space (${this.space} bytes)`);
    if (bytes.length === 0) return;
    this.space -= bytes.length;
    const copy = bytes.slice();
    const net = this.net;
    const connection = this.connection!;
    const readDelay = net.server?.readDelayMs ?? 0;
    const arrival = Math.max(net.clock.now() + this.latencyMs + readDelay, this.lastToServer);
    this.lastToServer = arrival;
    net.clock.set(() => {
      // Lost on a dead link: the window never comes back (TCP would retransmit in vain).
      if (!net.linkUp || connection.halfOpen || connection.ended) return;
      connection.onData?.(copy);
      net.clock.set(() => {
        if (this.state !== "open" || !net.linkUp || connection.halfOpen || connection.towardDeviceLost) return;
        this.space += copy.length;
        this.options.onWritable?.(this.space);
      }, this.latencyMs);
    }, arrival - net.clock.now());
  }

  close(): void {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open" || this.state === "connecting";
    this.state = "closed";
    this.inbox = [];
    this.inboxBytes = 0;
    const connection = this.connection;
    if (!wasOpen || connection === undefined) return;
    const net = this.net;
    const arrival = Math.max(net.clock.now() + this.latencyMs, this.lastToServer);
    net.clock.set(() => {
      if (!net.linkUp || connection.halfOpen || connection.ended) return;
      connection.ended = true;
      connection.onEnd?.();
    }, arrival - net.clock.now());
  }

  /** @internal Bytes the server sent. */
  fromServer(bytes: Uint8Array, delivered: (() => void) | undefined): void {
    const net = this.net;
    const connection = this.connection!;
    const copy = bytes.slice();
    const arrival = Math.max(net.clock.now() + this.latencyMs, this.lastToDevice);
    this.lastToDevice = arrival;
    net.clock.set(() => {
      if (this.state !== "open" || !net.linkUp || connection.halfOpen || connection.towardDeviceLost) return;
      this.inbox.push(copy);
      this.inboxBytes += copy.length;
      delivered?.();
      this.options.onReadable?.(this.inboxBytes);
    }, arrival - net.clock.now());
  }

  /** @internal The server closed (FIN, after its bytes) or reset (RST, at once) the connection. */
  serverClosed(reset: boolean): void {
    const net = this.net;
    const connection = this.connection!;
    const arrival = reset ? net.clock.now() + this.latencyMs : Math.max(net.clock.now() + this.latencyMs, this.lastToDevice);
    net.clock.set(() => {
      if (!net.linkUp || connection.halfOpen || connection.towardDeviceLost) return;
      if (reset) {
        this.inbox = [];
        this.inboxBytes = 0;
      }
      this.lose(reset ? "connection reset by peer" : "peer closed the connection");
    }, arrival - net.clock.now());
  }

  /** The connection ended: onError once the bytes before it have been read. */
  private lose(message: string): void {
    if (this.state === "closed" || this.state === "lost") return;
    this.state = "lost";
    this.pendingError = message;
    if (this.inboxBytes === 0) this.reportError(message);
  }

  private reportError(message: string): void {
    if (this.state === "closed" || this.pendingError === undefined) return;
    this.pendingError = undefined;
    this.state = "closed";
    this.options.onError?.(message);
  }
}

/**
 * The WiFi radio, after Moddable's `wifi` module: connect() associates (300 ms) and gets an
 * address (200 ms more) while the access point is heard; otherwise it fails after a second
 * ("ap_not_found"). drop() loses the link at once ("disconnect", link_lost) until restore().
 */
export class SimWifiDriver implements WifiDriver {
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;
  private readonly net: SimNet;
  private associated = false;
  private hasAddress = false;
  private attempt = 0;

  constructor(net: SimNet) {
    this.net = net;
  }

  connect(_network: WifiNetwork): void {
    const attempt = ++this.attempt;
    const clock = this.net.clock;
    if (!this.net.linkUp) {
      clock.set(() => attempt === this.attempt && this.notify("disconnect", "ap_not_found"), 1000);
      return;
    }
    clock.set(() => {
      if (attempt !== this.attempt || !this.net.linkUp) return;
      this.associated = true;
      this.notify("connect");
      clock.set(() => {
        if (attempt !== this.attempt || !this.associated) return;
        this.hasAddress = true;
        this.notify("gotIP");
      }, 200);
    }, 300);
  }

  disconnect(): void {
    const attempt = ++this.attempt;
    const was = this.associated;
    this.associated = false;
    this.hasAddress = false;
    if (was) this.net.clock.set(() => attempt === this.attempt && this.notify("disconnect"), 50);
  }

  rssi(): number | undefined {
    return this.associated ? -61 : undefined;
  }

  address(): string | undefined {
    return this.hasAddress ? "10.0.0.2" : undefined;
  }

  /** The radio stops hearing the access point. */
  drop(): void {
    this.net.linkUp = false;
    this.attempt++;
    if (this.associated) {
      this.associated = false;
      this.hasAddress = false;
      this.notify("disconnect", "link_lost");
    }
  }

  /** The access point is heard again (the manager reconnects on its own schedule). */
  restore(): void {
    this.net.linkUp = true;
  }

  private notify(notification: WifiNotification, reason?: WifiDisconnectReason): void {
    if (reason === undefined) this.onNotify?.(notification);
    else this.onNotify?.(notification, reason);
  }
}
