/**
 * The XS side of the desktop XS host: src/shared/host.ts's interfaces inside the XS engine, each
 * served by Node across the command channel (bridge.ts). Sockets, timers, WiFi and storage
 * live in Node (the same implementations the Node host uses); XS keeps just enough state to
 * keep each interface's contract locally, so the common operations cost no extra crossing:
 *
 * - TCP: received bytes are delivered with their event and queued here until read (at most
 *   one delivered chunk, since Node sends the next only once XS has read everything: unless
 *   XS's answer says it holds some, TCP_HOLD, until TCP_WANT); writes and close are posts,
 *   bounded here by the space the last onWritable reported, as the ECMA-419 contract says.
 * - TLS (wss://) is done by Node, on its side of the bridge: an XsTlsSocket is an XS TCP
 *   socket whose Node socket is a NodeTlsSocket (hosts/node/tls.ts). The TlsOptions cross
 *   when it opens; which check failed crosses back as onError's code. XS never sees a byte
 *   of a connection that failed a check, as the client on Node does not.
 * - Timers: set and clear are posts; Node's timer firing is a delivery; now() is local.
 * - Random bytes come from Node's crypto, 1,024 at a time; a connection draws 64 mask keys
 *   at a time from them.
 * - SHA-1 is src/websocket/sha1.ts (the portable one), run by XS.
 * - UTF-8 is XS's TextEncoder/TextDecoder (xsUtf8); validation is src/websocket/utf8.ts, run
 *   by XS, except for ASCII text, which the native decoder shows to be ASCII.
 * - The log goes to Node, which prints the same JSON lines as the Node host.
 * - UDP, name lookups and the wall clock: udp.ts.
 */
import type {
  DeviceHost,
  Log,
  LogLevel,
  NetHost,
  RandomSource,
  Storage,
  TcpSocket,
  TcpSocketOptions,
  TimerId,
  TlsErrorCodeValue,
  Timers,
  WifiDisconnectReason,
  WifiDriver,
  WifiNetwork,
  WifiNotification,
  Utf8Codec,
} from "../../../src/shared/host.js";
import { takeBytes } from "../../../src/shared/byte-queue.js";
import { errorMessage, levelShown, LOG_LEVELS, logValue } from "../../../src/shared/log-format.js";
import { checkStorageName, checkStorageValue } from "../../../src/shared/memory-storage.js";
import { encodeUtf8, isValidUtf8 } from "../../../src/websocket/utf8.js";
import { call, defer, now, onDelivery, out, post, postId, powers } from "./bridge.js";
import { Command, Delivery, Post, WIFI_NOTIFICATIONS, WIFI_REASONS, type Reader } from "./protocol.js";
import { withAccessPoint, XsTcpListener } from "./listener.js";
import { xsResolve, XsUdpSocket, xsWallClock } from "./udp.js";
import { XsConsoleSerial } from "./improv-bridge.js";

// --- TCP --------------------------------------------------------------------------------

const sockets = new Map<number, XsTcpSocket>();
let lastSocketId = 0;

/**
 * A TCP connection whose socket is Node's (hosts/node/host.ts NodeTcpSocket), with the same
 * contract and the same messages: connecting -> open (first onWritable) -> lost (onError,
 * once, after the bytes received before the end have been read) or closed (close(), after
 * which nothing is reported).
 */
export class XsTcpSocket implements TcpSocket {
  /** The bridge's number for this socket. */
  readonly id: number;
  private readonly options: TcpSocketOptions;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private connected = false;
  private closed = false;
  /** The connection ended; onError is due or done. */
  private lost = false;
  private pendingError: string | undefined;
  private pendingCode: TlsErrorCodeValue | undefined;
  private errorReported = false;
  /** Space the caller may assume: last reported, minus what it wrote since. */
  private promised = 0;
  /** XS kept bytes of a delivery unread (TCP_HOLD posted): Node delivers more after TCP_WANT. */
  private held = false;

  /**
   * `secure` is XsTlsSocket's: open a NodeTlsSocket with `options.tls`. "accepted" is a
   * listener's (listener.ts): nothing is opened, Node binds an accepted connection to the id.
   */
  constructor(options: TcpSocketOptions, secure: boolean | "accepted" = false) {
    if (secure === "accepted") {
      this.options = options;
      this.id = ++lastSocketId;
      sockets.set(this.id, this);
      return;
    }
    const { host, port } = options;
    if (typeof host !== "string" || host === "") {
      throw new TypeError(`TCP host must be a non-empty string, got ${String(host)}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`TCP port must be an integer 1..65535, got ${String(port)}`);
    }
    this.options = options;
    this.id = ++lastSocketId;
    const hostBytes = powers.encode(host);
    if (secure) {
      // Plain data crosses as JSON (the CA is PEM text). A missing or bad tls option is
      // refused by NodeTlsSocket's own checks, whose TypeError call() rethrows here.
      const tlsJson = powers.encode(JSON.stringify(options.tls ?? null));
      call(Command.TLS_OPEN, (writer) => {
        writer.u32(this.id);
        writer.u16(port);
        writer.u8(options.nodelay ? 1 : 0);
        writer.prefixed(hostBytes);
        writer.bytes(tlsJson);
      });
    } else {
      post(Post.TCP_OPEN, (writer) => {
        writer.u32(this.id);
        writer.u16(port);
        writer.u8(options.nodelay ? 1 : 0);
        writer.bytes(hostBytes);
      });
    }
    sockets.set(this.id, this);
  }

  read(count?: number): Uint8Array | undefined {
    if (this.closed || this.queued === 0) return undefined;
    let out: Uint8Array;
    if (count === undefined && this.queue.length === 1) {
      // All of it, one chunk (the common case): the chunk itself.
      out = this.queue[0]!;
      this.queue.length = 0;
      this.queued = 0;
    } else {
      const wanted = count === undefined ? this.queued : Math.min(Math.floor(count), this.queued);
      if (!(wanted > 0)) return undefined;
      out = takeBytes(this.queue, wanted);
      this.queued -= wanted;
    }
    if (this.queued === 0) {
      if (this.pendingError !== undefined) {
        // The end came while bytes were queued: report it now that the reader has them
        // all, but not from inside its read() call.
        defer(() => this.reportError());
      } else if (this.held && !this.lost) {
        this.held = false;
        postId(Post.TCP_WANT, this.id);
      }
    }
    return out;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) throw new Error("write after close()");
    if (!this.connected) throw new Error("write before the connection is open (wait for onWritable)");
    if (this.errorReported) return; // gone, and the caller was told
    if (bytes.length > this.promised) {
      throw new RangeError(
        `write of ${bytes.length} bytes exceeds the writable space (${this.promised} bytes); wait for onWritable`,
      );
    }
    if (bytes.length === 0) return;
    this.promised -= bytes.length;
    out.record(Post.TCP_WRITE, this.id, bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    sockets.delete(this.id);
    postId(Post.TCP_CLOSE, this.id);
  }

  /**
   * @internal Node delivered bytes. Node delivers the next chunk once this delivery is
   * answered, unless the reader left bytes unread (TCP_HOLD): then only after it has read them
   * all (TCP_WANT). So XS holds at most one delivered chunk.
   */
  received(bytes: Uint8Array): void {
    if (this.closed || this.lost) return;
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.options.onReadable?.(this.queued);
    if (this.queued > 0 && !this.held && !this.closed && !this.lost) {
      this.held = true;
      postId(Post.TCP_HOLD, this.id);
    }
  }

  /** @internal Node reported space (and, the first time, the connection). */
  writable(count: number): void {
    if (this.closed || this.lost) return;
    this.connected = true;
    this.promised = count;
    this.options.onWritable?.(count);
  }

  /** @internal The connection failed or ended (`code`: which TLS check failed). */
  failed(message: string, code?: TlsErrorCodeValue): void {
    if (this.closed || this.lost) return;
    this.lost = true;
    this.pendingError = message;
    this.pendingCode = code;
    if (this.queued === 0) this.reportError();
  }

  private reportError(): void {
    if (this.errorReported || this.closed || this.pendingError === undefined) return;
    this.errorReported = true;
    this.queue = [];
    this.queued = 0;
    sockets.delete(this.id);
    if (this.pendingCode === undefined) this.options.onError?.(this.pendingError);
    else this.options.onError?.(this.pendingError, this.pendingCode);
  }
}

/**
 * A TLS connection (wss://): XsTcpSocket's contract, with the TLS done by Node's
 * NodeTlsSocket, so the same checks with the same messages and codes as on the Node host.
 * The first onWritable means "TLS established and verified"; a failed check is onError's
 * TlsErrorCode. Opening costs one synchronous crossing (the options are checked by then).
 */
export class XsTlsSocket extends XsTcpSocket {
  constructor(options: TcpSocketOptions) {
    super(options, true);
  }
}

onDelivery(Delivery.TCP_READABLE, (reader) => {
  // socket id u32, then the bytes: read directly, this runs for every chunk received.
  const at = reader.offset;
  if (reader.end - at < 4) reader.u32(); // throws: truncated
  const socket = sockets.get(reader.view.getUint32(at, true));
  // A copy would cost as much as the data: the delivery's buffer is ours alone.
  socket?.received(reader.bytes.subarray(at + 4, reader.end));
});
onDelivery(Delivery.TCP_WRITABLE, (reader) => {
  const socket = sockets.get(reader.u32());
  const count = reader.u32();
  socket?.writable(count);
});
onDelivery(Delivery.TCP_ERROR, (reader) => {
  const socket = sockets.get(reader.u32());
  const code = powers.decode(reader.prefixed());
  const message = powers.decode(reader.rest());
  socket?.failed(message, code === "" ? undefined : (code as TlsErrorCodeValue));
});

// --- timers -----------------------------------------------------------------------------

const timers = new Map<number, () => void>();
let lastTimerId = 0;

/** Timers kept by Node (setTimeout); ids are numbers, callbacks stay in XS. */
export const xsTimers: Timers = {
  set(callback: () => void, ms: number): TimerId {
    const id = ++lastTimerId;
    timers.set(id, callback);
    post(Post.TIMER_SET, (writer) => {
      writer.u32(id);
      writer.f64(ms);
    });
    return id;
  },
  clear(id: TimerId): void {
    // A timer that fired (or was cleared) is gone from the map: nothing to tell Node.
    if (typeof id === "number" && timers.delete(id)) postId(Post.TIMER_CLEAR, id);
  },
  now,
};

onDelivery(Delivery.TIMER, (reader) => {
  const id = reader.u32();
  const callback = timers.get(id);
  if (callback === undefined) return; // cleared after Node fired it
  timers.delete(id);
  callback();
});

/** Timers still set (for tests of leaks). */
export function pendingTimers(): number {
  return timers.size;
}

/** Sockets still open. */
export function openSockets(): number {
  return sockets.size;
}

// --- random -----------------------------------------------------------------------------

/** Random bytes fetched per crossing (one pool for the engine). */
const RANDOM_POOL_BYTES = 1024;

/**
 * Mask keys a connection draws at a time (NetHost.maskKeysPerDraw): 64 (256 bytes per
 * connection; the default is 16), so a frame's key costs XS a quarter of the copies out of
 * the pool. This host runs on the desktop; the chip's host keeps the default.
 */
export const XS_MASK_KEYS_PER_DRAW = 64;
let pool: Uint8Array = new Uint8Array(0);
let poolOffset = 0;

function fetchRandom(count: number): Uint8Array {
  const answer = call(Command.RANDOM, (writer) => writer.u32(count));
  return answer.rest();
}

/** Node's crypto.randomFillSync, drawn RANDOM_POOL_BYTES at a time. */
export const xsRandom: RandomSource = (into: Uint8Array): void => {
  if (into.length > RANDOM_POOL_BYTES) {
    into.set(fetchRandom(into.length));
    return;
  }
  let filled = 0;
  while (filled < into.length) {
    if (poolOffset === pool.length) {
      pool = fetchRandom(RANDOM_POOL_BYTES);
      poolOffset = 0;
    }
    const take = Math.min(into.length - filled, pool.length - poolOffset);
    into.set(pool.subarray(poolOffset, poolOffset + take), filled);
    // Each byte is used once.
    pool.fill(0, poolOffset, poolOffset + take);
    poolOffset += take;
    filled += take;
  }
};

// --- log --------------------------------------------------------------------------------

/**
 * A Log whose lines Node prints (hosts/node/host.ts createJsonLog, the firmware's log format of
 * src/shared/log-format.ts); events below `minLevel` are dropped here, before any work. Fields
 * are serialised as that format does (logValue); a field that cannot be (a cycle) becomes a
 * note, so a log call never throws.
 */
export function createXsLog(minLevel: LogLevel | "silent"): Log | undefined {
  if (minLevel === "silent") return undefined;
  return (level, event, fields) => {
    if (!levelShown(level, minLevel)) return;
    let json: string;
    try {
      json = JSON.stringify([event, fields ?? null], logValue);
    } catch (error) {
      json = JSON.stringify([event, { logError: errorMessage(error) }]);
    }
    const bytes = powers.encode(json);
    post(Post.LOG, (writer) => {
      writer.u8(LOG_LEVELS.indexOf(level));
      writer.bytes(bytes);
    });
  };
}

// --- storage ----------------------------------------------------------------------------

/**
 * Node's storage (a FileStorage or a MemoryStorage). The NVS limits are checked here first,
 * with src/shared/memory-storage.ts's checks, so a bad name throws the same WebSocketError
 * (ERR_INVALID_ARGUMENT) as on the other hosts; Node's own failures (a full disk) come back
 * as an Error with Node's message.
 */
export const xsStorage: Storage = {
  get(domain, key) {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    const answer = call(Command.STORAGE_GET, (writer) => {
      writer.prefixed(powers.encode(domain));
      writer.prefixed(powers.encode(key));
    });
    return answer.u8() === 1 ? powers.decode(answer.rest()) : undefined;
  },
  set(domain, key, value) {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    checkStorageValue(domain, key, value);
    call(Command.STORAGE_SET, (writer) => {
      writer.prefixed(powers.encode(domain));
      writer.prefixed(powers.encode(key));
      writer.bytes(powers.encode(value));
    });
  },
  delete(domain, key) {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    call(Command.STORAGE_DELETE, (writer) => {
      writer.prefixed(powers.encode(domain));
      writer.prefixed(powers.encode(key));
    });
  },
};

// --- WiFi -------------------------------------------------------------------------------

/**
 * Node's SimWifi (hosts/node/sim-wifi.ts), driven from XS. Whether XS listens is passed with
 * each call, because SimWifi schedules nothing for a disconnect() nobody listens to.
 */
class XsWifi implements WifiDriver {
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;

  connect(network: WifiNetwork): void {
    const json = powers.encode(JSON.stringify(network ?? null) ?? "null");
    call(Command.WIFI_CONNECT, (writer) => {
      writer.u8(this.onNotify ? 1 : 0);
      writer.bytes(json);
    });
  }

  disconnect(): void {
    call(Command.WIFI_DISCONNECT, (writer) => writer.u8(this.onNotify ? 1 : 0));
  }

  rssi(): number | undefined {
    const rssi = call(Command.WIFI_STATUS).f64();
    return Number.isNaN(rssi) ? undefined : rssi;
  }

  address(): string | undefined {
    const answer = call(Command.WIFI_STATUS);
    answer.f64();
    const address = powers.decode(answer.rest());
    return address === "" ? undefined : address;
  }
}

export const xsWifi = new XsWifi();

onDelivery(Delivery.WIFI, (reader: Reader) => {
  const notification = WIFI_NOTIFICATIONS[reader.u8()];
  const reasonIndex = reader.u8();
  const listener = xsWifi.onNotify;
  if (notification === undefined || listener === undefined) return;
  if (reasonIndex === 0) listener(notification);
  else listener(notification, WIFI_REASONS[reasonIndex - 1]);
});

// --- UTF-8 ------------------------------------------------------------------------------

/** U+FFFD, what XS's decoder puts for each ill-formed part. */
const REPLACEMENT = "\uFFFD";

/** Any UTF-16 surrogate, paired or lone (XS's regular expressions see code units). */
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * XS's own TextEncoder/TextDecoder (through the engine's powers) for the client's text
 * frames. Two differences from the Utf8Codec contract are made up here: XS's encoder writes a
 * lone surrogate as its 3-byte form (ED A0 80, not UTF-8), so a string with any surrogate,
 * rare in JSON, takes the portable encoder (the regular expression runs in C); and XS's
 * decoder, even with `fatal`, accepts some ill-formed sequences (ED 00 80 decodes to U+D000:
 * tests/hosts/xs/utf8.test.ts), so it never validates anything by itself.
 *
 * decodeChecked (a text message that arrived whole) decodes natively first: when the text
 * has as many characters as the bytes and no U+FFFD, every byte was ASCII (a non-ASCII byte
 * either joins others in one character, or becomes a U+FFFD of its own), which is valid UTF-8
 * with nothing more to check: the common case for JSON, in two native calls. Anything else is
 * validated by src/websocket/utf8.ts.
 */
export const xsUtf8: Utf8Codec = {
  encode(text: string): Uint8Array {
    return SURROGATE.test(text) ? encodeUtf8(text) : powers.encode(text);
  },
  decode: powers.decode,
  decodeChecked(bytes: Uint8Array): string | undefined {
    const text = powers.decode(bytes);
    if (text.length === bytes.length && text.indexOf(REPLACEMENT) < 0) return text;
    return isValidUtf8(bytes) ? text : undefined;
  },
};

// --- hosts ------------------------------------------------------------------------------

/** The NetHost inside XS: TCP (ws://), TLS (wss://) and UDP sockets, lookups and the wall clock, all Node's. */
export function createXsNetHost(logLevel: LogLevel | "silent"): NetHost {
  const host: NetHost = {
    tcp: XsTcpSocket,
    tls: XsTlsSocket,
    timers: xsTimers,
    random: xsRandom,
    maskKeysPerDraw: XS_MASK_KEYS_PER_DRAW,
    utf8: xsUtf8,
    udp: XsUdpSocket,
    resolve: xsResolve,
    wallClock: xsWallClock,
  };
  const log = createXsLog(logLevel);
  if (log) host.log = log;
  return host;
}

/**
 * The DeviceHost inside XS. freeMemory is absent: XS cannot read its own heap from
 * JavaScript in xsnap (Node sees it in each delivery's meter; see engine.ts heap()).
 */
export function createXsDeviceHost(logLevel: LogLevel | "silent", options: { serial?: boolean } = {}): DeviceHost {
  const net = createXsNetHost("silent");
  return {
    ...net,
    log: createXsLog(logLevel) ?? (() => {}),
    wifi: withAccessPoint(xsWifi),
    storage: xsStorage,
    listener: XsTcpListener,
    platform: "xs",
    // The console serial port (improv-bridge.ts), when Node has one (--serial).
    ...(options.serial ? { serial: XsConsoleSerial } : {}),
  };
}
