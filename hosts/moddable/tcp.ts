/**
 * The firmware's TcpSocket over Moddable's ECMA-419 `embedded:io/socket/tcp`.
 *
 * What the SDK's TCP does (8.2.3, modules/io/socket/lwip/tcp.c on the ESP32 and
 * modules/io/socket/lin/tcp.c in the simulator), and what this adapter adds:
 * - It takes an IP address literal only (`address`, parsed by lwIP's ipaddr_aton, or by
 *   inet_aton in the simulator, so IPv4 there): a host name is resolved here first with the
 *   SDK's `Net.resolve` (module `net`: lwIP's DNS client on the chip, GLib's resolver in the
 *   simulator). The lookup cannot be cancelled; a socket closed meanwhile ignores its answer.
 * - read() returns an ArrayBuffer and throws ("invalid") when asked for more bytes than it
 *   holds: this adapter counts the bytes onReadable announced and hands out Uint8Arrays.
 * - write() throws ("would block") past the send buffer onWritable announced (lwIP's
 *   tcp_sndbuf, about 5.7 KB on the ESP32): the WebSocket client keeps within it, as the
 *   TcpSocket contract says.
 * - onWritable's first call means "connected"; onError also reports the peer's orderly close,
 *   and only once every received byte has been read: both as src/shared/host.ts expects.
 * - Its callbacks are called with the SDK socket as `this`; ours are arrow functions.
 *
 * wss:// goes through tls.ts, a class built like this one over the SDK's
 * `embedded:io/socket/tcp/tls`, which opens its TCP connection with this module's SDK class.
 *
 * Portable on purpose: the SDK classes are passed in (host.ts gives them), so the adapter is
 * tested on Node against a fake that behaves like the SDK's socket.
 */
import type { TcpSocket, TcpSocketConstructor, TcpSocketOptions } from "../../src/shared/host.js";

/** Options of the SDK's ECMA-419 TCP constructor that this adapter uses. */
export interface Ecma419TcpOptions {
  /** An IP address literal: the SDK does not resolve names. */
  address: string;
  port: number;
  nodelay?: boolean;
  onReadable?: (count: number) => void;
  onWritable?: (count: number) => void;
  onError?: () => void;
  format?: "buffer";
}

/** The SDK's ECMA-419 TCP socket, as far as this adapter uses it. */
export interface Ecma419Tcp {
  /**
   * `count` bytes (1..buffered; more throws), or all buffered when omitted; undefined when
   * none. Given a Uint8Array, fills it whole (its length must not exceed what is buffered)
   * and returns the count (the TLS session reads so).
   */
  read(count?: number | Uint8Array): ArrayBuffer | number | undefined;
  write(bytes: Uint8Array): unknown;
  close(): void;
}

export type Ecma419TcpConstructor = new (options: Ecma419TcpOptions) => Ecma419Tcp;

/** `Net.resolve(name, callback)`: callback(name, address) later, address undefined on failure. */
export type Resolve = (name: string, callback: (name: string, address?: string) => void) => void;

export interface ModdableTcpDependencies {
  /** `import TCP from "embedded:io/socket/tcp"` */
  TCP: Ecma419TcpConstructor;
  /** `Net.resolve` from `import Net from "net"` */
  resolve: Resolve;
}

const IPV4_LITERAL = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/** True for an address the SDK takes as is: dotted IPv4, or IPv6 (always written with ":"). */
export function isAddressLiteral(host: string): boolean {
  return IPV4_LITERAL.test(host) || host.indexOf(":") >= 0;
}

/** Throws for an empty host or a port out of range, as the Node host does. */
export function checkEndpoint(options: Pick<TcpSocketOptions, "host" | "port">): void {
  const { host, port } = options;
  if (typeof host !== "string" || host === "") {
    throw new TypeError(`TCP host must be a non-empty string, got ${String(host)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`TCP port must be an integer 1..65535, got ${String(port)}`);
  }
}

/** The callbacks given to the SDK's socket (its constructor's options). */
export type Ecma419Callbacks = Pick<Ecma419TcpOptions, "onReadable" | "onWritable" | "onError">;

/**
 * src/'s TcpSocket over one SDK socket, made by attach() with this adapter's callbacks: the
 * connections the constructor opens (createTcpSocketClass) and those a listener accepted
 * (listener.ts). `where` names the peer in the failure message.
 */
export class Ecma419SocketAdapter implements TcpSocket {
  protected readonly options: Pick<TcpSocketOptions, "onReadable" | "onWritable" | "onError">;
  private readonly where: string;
  private socket: Ecma419Tcp | undefined;
  /** Bytes the SDK socket holds for us: the last onReadable count, less what we read since. */
  private buffered = 0;
  /** close() was called, or onError was reported: nothing more is reported. */
  protected done = false;

  constructor(options: Pick<TcpSocketOptions, "onReadable" | "onWritable" | "onError">, where: string) {
    this.options = options;
    this.where = where;
  }

  /** Makes the SDK socket with this adapter's callbacks (throws what the SDK throws). */
  attach(make: (callbacks: Ecma419Callbacks) => Ecma419Tcp): void {
    this.socket = make({
      onReadable: (count: number) => {
        if (this.done) return;
        this.buffered = count;
        this.options.onReadable?.(count);
      },
      onWritable: (count: number) => {
        if (this.done) return;
        this.options.onWritable?.(count);
      },
      onError: () => {
        // lwIP and the simulator report a refused connect, a reset and the peer's FIN alike.
        this.fail(`connection failed or closed (${this.where})`);
      },
    });
  }

  read(count?: number): Uint8Array | undefined {
    if (this.done || this.socket === undefined) return undefined;
    const [bytes, left] = readAnnounced(this.socket, this.buffered, count);
    this.buffered = left;
    return bytes;
  }

  write(bytes: Uint8Array): void {
    if (this.done) throw new Error("write after close()");
    if (this.socket === undefined) throw new Error("write before the connection is open (wait for onWritable)");
    if (bytes.length === 0) return;
    this.socket.write(bytes);
  }

  close(): void {
    if (this.done && this.socket === undefined) return;
    this.done = true;
    this.buffered = 0;
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
  }

  /** Reports the end once; the SDK socket is released, no other callback follows. */
  protected fail(message: string): void {
    if (this.done) return;
    this.done = true;
    this.buffered = 0;
    const socket = this.socket;
    this.socket = undefined;
    try {
      socket?.close();
    } catch {
      // Already released by the SDK (lwIP frees the pcb before its error callback).
    }
    this.options.onError?.(message);
  }
}

/**
 * The TcpSocketConstructor for src/ over the SDK's TCP class and resolver. Bad arguments
 * (empty host, port out of range) throw from the constructor, as the Node host does; so does
 * the SDK when it refuses an address literal or has no socket left. Everything later arrives
 * at onError with a short human message ("cannot resolve host name ...", "connection failed
 * or closed (host:port)").
 */
export function createTcpSocketClass(dependencies: ModdableTcpDependencies): TcpSocketConstructor {
  const { TCP, resolve } = dependencies;

  return class ModdableTcpSocket extends Ecma419SocketAdapter {
    constructor(options: TcpSocketOptions) {
      checkEndpoint(options);
      super(options, `${options.host}:${options.port}`);
      const { host, port } = options;
      const open = (address: string): void =>
        this.attach((callbacks) => new TCP({ address, port, nodelay: options.nodelay === true, format: "buffer", ...callbacks }));
      if (isAddressLiteral(host)) {
        open(host);
        return;
      }
      resolve(host, (_name, address) => {
        if (this.done) return; // closed while the name was being looked up
        if (address === undefined || address === "") {
          this.fail(`cannot resolve host name ${JSON.stringify(host)}`);
          return;
        }
        try {
          open(address);
        } catch (error) {
          this.fail(`connection to ${address}:${port} failed: ${messageOf(error)}`);
        }
      });
    }
  };
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads up to `count` (all when undefined) of the `buffered` bytes an SDK socket announced in
 * onReadable: the bytes (undefined when none) and how many stay announced. The SDK's read()
 * answers with something other than an ArrayBuffer once it has nothing left, whatever it said.
 */
export function readAnnounced(socket: Ecma419Tcp, buffered: number, count?: number): [Uint8Array | undefined, number] {
  if (buffered <= 0) return [undefined, buffered];
  const wanted = count === undefined ? buffered : Math.min(Math.floor(count), buffered);
  if (!(wanted > 0)) return [undefined, buffered];
  const bytes = socket.read(wanted);
  if (!(bytes instanceof ArrayBuffer)) return [undefined, 0];
  return [new Uint8Array(bytes), buffered - bytes.byteLength];
}

