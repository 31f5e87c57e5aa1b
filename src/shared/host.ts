/**
 * The interfaces a platform gives the firmware. `src/` uses nothing else from its
 * environment: each host (hosts/node, hosts/xs, hosts/moddable) implements these over
 * what its platform has and passes them in.
 *
 * The TCP socket is shaped after ECMA-419 `embedded:io/socket/tcp` (options object with
 * onReadable/onWritable/onError; read/write/close), so the Moddable host is a thin adapter.
 */

/** Options for opening a TCP connection. */
export interface TcpSocketOptions {
  /** Host name or IP address literal (IPv6 without brackets). The host resolves names. */
  host: string;
  /** 1..65535 */
  port: number;
  /** Disable Nagle's algorithm: frames are small and latency matters. */
  nodelay?: boolean;
  /**
   * `count` bytes can be read now with read(). Called again only after new bytes arrive,
   * so the reader must drain what it wants.
   */
  onReadable?: (count: number) => void;
  /**
   * `count` bytes can be written now with write(). The first call also means "connected"
   * (as in ECMA-419). Called again when more space opens up.
   */
  onWritable?: (count: number) => void;
  /**
   * The connection failed, broke, or the peer closed it (ECMA-419 reports an orderly
   * disconnect here too). After this no other callback fires; the socket is unusable.
   * `message` is for humans and logs.
   */
  onError?: (message?: string, code?: TlsErrorCodeValue) => void;
  /**
   * Makes this a TLS connection (wss://): given to the host's `tls` socket constructor only.
   * onWritable's first call then means "TLS established and verified".
   */
  tls?: TlsOptions;
}

/**
 * What a TLS connection verifies: the chain up to a trusted CA, validity dates, the host
 * name (RFC 6125) and, optionally, a pinned public key.
 */
export interface TlsOptions {
  /** Sent as SNI and checked against the server's certificate. */
  serverName: string;
  /**
   * The CA to trust: PEM text on the desktop hosts, the name of a certificate resource on
   * Moddable. Undefined: the host's default trust store.
   */
  ca?: string;
  /**
   * SHA-256 digests of the server certificate's SubjectPublicKeyInfo, base64 (as in HTTP
   * public key pinning, RFC 7469). When given, the certificate must match one of them.
   */
  pins?: readonly string[];
  /** Accept any certificate: only by explicit request; the client warns at every connect. */
  insecure?: boolean;
}

/**
 * Why a TLS connection failed, as the host tells the client through onError's `code`, so
 * each failure reaches the application as a distinct error.
 */
export const TlsErrorCode = Object.freeze({
  TLS_UNKNOWN_CA: "ERR_TLS_UNKNOWN_CA",
  TLS_SELF_SIGNED: "ERR_TLS_SELF_SIGNED",
  TLS_HOSTNAME_MISMATCH: "ERR_TLS_HOSTNAME_MISMATCH",
  TLS_CERT_EXPIRED: "ERR_TLS_CERT_EXPIRED",
  TLS_CERT_NOT_YET_VALID: "ERR_TLS_CERT_NOT_YET_VALID",
  TLS_PIN_MISMATCH: "ERR_TLS_PIN_MISMATCH",
  TLS_HANDSHAKE_FAILED: "ERR_TLS_HANDSHAKE_FAILED",
} as const);
export type TlsErrorCodeValue = (typeof TlsErrorCode)[keyof typeof TlsErrorCode];

export interface TcpSocket {
  /** Returns up to `count` bytes (all buffered bytes when omitted), or undefined when none. */
  read(count?: number): Uint8Array | undefined;
  /**
   * Queues bytes for sending. The caller keeps within the space last reported by
   * onWritable (minus what it wrote since); a host throws when that is exceeded.
   * The host may keep a reference to `bytes`: callers never mutate written buffers.
   */
  write(bytes: Uint8Array): void;
  /** Closes the connection after bytes already written are sent. No callback follows. */
  close(): void;
}

export type TcpSocketConstructor = new (options: TcpSocketOptions) => TcpSocket;

/** Opaque timer handle. */
export type TimerId = unknown;

/**
 * Injected time. All deadlines and delays in src/ go through this, so tests drive a
 * virtual clock.
 */
export interface Timers {
  /** Calls `callback` once after `ms` milliseconds. */
  set(callback: () => void, ms: number): TimerId;
  /** Cancels a timer; clearing an already-fired or cleared timer is harmless. */
  clear(id: TimerId): void;
  /** Monotonic milliseconds since an arbitrary origin. */
  now(): number;
}

/** Fills `into` with cryptographically strong random bytes (masking keys, handshake keys). */
export type RandomSource = (into: Uint8Array) => void;

/** SHA-1 of `bytes` (20 bytes). src/websocket/sha1.ts has a portable one for hosts without it. */
export type Sha1 = (bytes: Uint8Array) => Uint8Array;

export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Structured log: one event with flat fields. Hosts print one JSON line per call, as a
 * serial monitor shows it.
 */
export type Log = (level: LogLevel, event: string, fields?: Record<string, unknown>) => void;

/**
 * A native UTF-8 codec (RFC 3629), where the platform has one: TextEncoder/TextDecoder, or
 * XS's. Text frames are encoded and decoded with it; src/websocket/utf8.ts is the fallback.
 * Validation of received text stays in src/websocket/utf8.ts (fail-fast, RFC 6455 section 8.1): decode
 * only ever sees bytes already validated, so it needs no error handling of its own.
 */
export interface Utf8Codec {
  /**
   * The UTF-8 bytes of `text`, a new array the caller owns (it is not kept by the codec).
   * A lone surrogate must become U+FFFD (EF BF BD), as TextEncoder does: never the 3-byte
   * form of the surrogate itself (ED A0 80..ED BF BF), which is not UTF-8 and would make
   * the server fail the connection with 1007.
   */
  encode(text: string): Uint8Array;
  /**
   * The string of `bytes`, which are valid UTF-8. A leading byte order mark (EF BB BF) is
   * kept as U+FEFF (TextDecoder's `ignoreBOM: true`): it is part of the message.
   */
  decode(bytes: Uint8Array): string;
  /**
   * Optional: the string of `bytes` when they are well-formed UTF-8 (RFC 3629: no overlong
   * forms, no surrogates, nothing above U+10FFFF, no sequence cut short at the end), else
   * undefined; a leading byte order mark is kept, as decode() keeps it. One native pass where
   * the platform has a strict decoder: the receiver uses it for a text message that arrives
   * whole, instead of validating in JavaScript and then decoding.
   */
  decodeChecked?(bytes: Uint8Array): string | undefined;
  /**
   * Optional, with encodeInto: the number of UTF-8 bytes of `text` as encode() would give
   * them (a lone surrogate counts as the 3 bytes of U+FFFD).
   */
  byteLength?(text: string): number;
  /**
   * Optional, with byteLength: writes `text`'s UTF-8 bytes (as encode() would give them) into
   * `into` from `at`, which has room for all of them, and returns how many were written. The
   * Sender uses the pair for long text messages: encoded straight into the frame, one
   * allocation instead of two.
   */
  encodeInto?(text: string, into: Uint8Array, at: number): number;
}

/**
 * Options for a UDP socket, shaped after ECMA-419 `embedded:io/socket/udp` (SNTP's client
 * socket, a captive portal's DNS server).
 */
export interface UdpSocketOptions {
  /** Local port to bind: 1..65535 for a server (DNS: 53); absent or 0 for any free port. */
  port?: number;
  /** Local address to bind (an IP literal); absent: every interface. */
  address?: string;
  /** One datagram arrived from `address`:`port`. `bytes` is the receiver's to keep. */
  onMessage?: (bytes: Uint8Array, address: string, port: number) => void;
  /** The socket failed (the port is taken, the network went away). No callback follows. */
  onError?: (message?: string) => void;
}

export interface UdpSocket {
  /**
   * Sends one datagram to an IP address literal (names are resolved first, with `resolve`).
   * Throws when the host cannot send now; a lost datagram is not reported (it is UDP).
   */
  send(address: string, port: number, bytes: Uint8Array): void;
  /** Closes the socket; no callback follows. */
  close(): void;
}

export type UdpSocketConstructor = new (options: UdpSocketOptions) => UdpSocket;

/**
 * Resolves a host name to an IP address literal (an IP literal resolves to itself).
 * Calls `onResolved` exactly once, later (never from inside resolve()).
 */
export type Resolver = (name: string, onResolved: (address: string | undefined, error?: string) => void) => void;

/**
 * Options for a TCP listener, shaped after ECMA-419 `embedded:io/socket/listener` (the
 * captive portal's HTTP server).
 */
export interface TcpListenerOptions {
  /** Local port: 1..65535 (HTTP: 80), or 0 for any free port (tests; read `port` after). */
  port: number;
  /**
   * Local address to bind (an IP literal). Absent: every interface (the chip's listener has
   * no choice); the desktop hosts bind 127.0.0.1 when asked.
   */
  address?: string;
  /** `count` connections wait to be accepted with accept(). Called again for new ones only. */
  onReadable?: (count: number) => void;
  /** The listener failed (the port is taken). No callback follows. */
  onError?: (message?: string) => void;
}

/** Callbacks of an accepted connection: TcpSocketOptions' own, with the same contract. */
export type AcceptedSocketOptions = Pick<TcpSocketOptions, "onReadable" | "onWritable" | "onError">;

export interface TcpListener {
  /**
   * The oldest waiting connection as a TcpSocket with these callbacks (its first onWritable
   * follows, as for a connection made with the constructor); undefined when none waits.
   */
  accept(options: AcceptedSocketOptions): TcpSocket | undefined;
  /** The local port listened on (the one chosen when 0 was asked for). */
  readonly port: number;
  /** Stops listening; connections already accepted are not affected. No callback follows. */
  close(): void;
}

/** Throws from the constructor when the port cannot be listened on (in use, no permission). */
export type TcpListenerConstructor = new (options: TcpListenerOptions) => TcpListener;

/**
 * The platform's wall clock (UTC): what TLS checks certificate dates against, and what the
 * device's clock service (src/time/clock.ts) sets from SNTP. A chip's reads 1970-01-01 after
 * every power-up until it is set.
 */
export interface WallClock {
  /** UTC milliseconds since 1970 as the platform's clock reads now (Date.now() on a chip). */
  now(): number;
  /** Sets the platform's clock to `utcMs` (Time.set on Moddable): TLS checks dates against it from then on. */
  set(utcMs: number): void;
  /**
   * The platform keeps this clock in sync itself (a desktop's OS clock): the device trusts it
   * from boot (source "system") and runs no SNTP of its own. False on a chip.
   */
  readonly systemSynced: boolean;
}

/** Everything the WebSocket client needs from its platform. */
export interface NetHost {
  tcp: TcpSocketConstructor;
  /** TLS sockets (same interface, `tls` option required), on hosts that have TLS. */
  tls?: TcpSocketConstructor;
  timers: Timers;
  random: RandomSource;
  /**
   * Mask keys (4 bytes each, RFC 6455 section 5.3) a connection draws from `random` at a
   * time; default 16 (64 bytes per connection). A host whose `random` costs much per call (a
   * crossing to another process) names a larger number; a chip keeps the default.
   */
  maskKeysPerDraw?: number;
  /** Optional native SHA-1; the portable one in src/websocket/sha1.ts is used when absent. */
  sha1?: Sha1;
  /** Optional native UTF-8 encoder and decoder; src/websocket/utf8.ts's portable ones when absent. */
  utf8?: Utf8Codec;
  log?: Log;
  /** UDP sockets, on hosts that have them (SNTP, the captive portal's DNS server). */
  udp?: UdpSocketConstructor;
  /** Name resolution for UDP peers (TCP sockets resolve names themselves). */
  resolve?: Resolver;
  /** TCP listeners, on hosts that can serve (the captive portal's HTTP server). */
  listener?: TcpListenerConstructor;
  /** The wall clock, where the platform has one (src/time/clock.ts keeps it set). */
  wallClock?: WallClock;
}

// ---------------------------------------------------------------------------------------
// The device's platform, beyond networking (issue: WiFi, storage, supervisor, JSON loop).

/** A network to join. */
export interface WifiNetwork {
  ssid: string;
  password: string;
}

/**
 * Notifications of a WiFi driver, named as Moddable's `wifi` module names them:
 * "connect" (associated with the access point), "gotIP", "lostIP", "disconnect".
 */
export type WifiNotification = "connect" | "gotIP" | "lostIP" | "disconnect";

/**
 * Why a "disconnect" happened, when the driver knows: Moddable on ESP32 reports -1 for a
 * rejected password; the simulated WiFi also tells a missing access point apart.
 */
export type WifiDisconnectReason = "wrong_password" | "ap_not_found" | "link_lost";

/**
 * Shaped after Moddable's `wifi` module: one connection attempt at a time, results as
 * notifications. The manager in src/device/wifi.ts decides what to try and when.
 */
export interface WifiDriver {
  /** Starts joining `network`; the outcome arrives as notifications. */
  connect(network: WifiNetwork): void;
  /** Leaves the current network (a "disconnect" notification may follow). */
  disconnect(): void;
  /** Where notifications go; set by the manager before connect(). */
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;
  /** Signal strength of the current link in dBm, when known. */
  rssi(): number | undefined;
  /** The station's IP address while it has one. */
  address(): string | undefined;
  // Optional: what a driver that can provision has (src/provisioning). The station keeps
  // working while the access point is up (the ESP32's AP+station mode).
  /**
   * Lists the networks in range: `onDone` is called once, later, with what was heard (any
   * order, duplicates possible), or with undefined and a message when the scan failed.
   */
  scan?(onDone: (networks: WifiScanResult[] | undefined, error?: string) => void): void;
  /** Opens an access point beside the station; throws when the radio refuses. */
  startAccessPoint?(options: AccessPointOptions): void;
  /** Closes the access point (the station is not affected). */
  stopAccessPoint?(): void;
  /** The access point's own IP address while it is up (192.168.4.1 on the ESP32). */
  accessPointAddress?(): string | undefined;
  /** The station's MAC address, "aa:bb:cc:dd:ee:ff", when known. */
  macAddress?(): string | undefined;
}

/** One network a scan heard. */
export interface WifiScanResult {
  ssid: string;
  /** Signal strength, dBm. */
  rssi: number;
  /** A password is needed (anything but an open network). */
  secure: boolean;
  channel?: number;
}

/** An access point to open (802.11: SSID up to 32 bytes; WPA2 passphrase 8..63 characters). */
export interface AccessPointOptions {
  ssid: string;
  /** "" for an open network. */
  password: string;
  /** 1..13; absent: the driver's default. */
  channel?: number;
}

/**
 * Persistent key-value storage shaped after Moddable's `preference` module: NVS on the
 * ESP32 (names up to 15 characters, values up to 4000 bytes), a file on the desktop.
 * Values are strings; callers serialise.
 */
export interface Storage {
  get(domain: string, key: string): string | undefined;
  set(domain: string, key: string, value: string): void;
  delete(domain: string, key: string): void;
}

/**
 * The chip itself (src/health/): why the previous run ended and a way to start again. On the
 * ESP32 the SDK's resetReason module and esp_restart(); on the desktop the supervising "chip"
 * of hosts/node/chip.ts.
 */
export interface SystemHost {
  /**
   * Why the previous run ended, one of RESET_REASONS (src/health/reset-reason.ts): "power_on",
   * "software", "panic", "watchdog", "brownout", ... ("unknown" when the platform cannot tell).
   */
  resetReason(): string;
  /**
   * Restarts the device: the run ends and the firmware boots again, reporting "software".
   * Does not return on the chip (elsewhere nothing more should be done after it). Absent where
   * the platform cannot restart its program (Moddable's simulator).
   */
  restart?(): void;
}

/**
 * Options of the device's console serial port: the UART its log lines go to (115200 baud on
 * the ESP32). Reading is shaped after ECMA-419 `embedded:io/serial` (onReadable, read).
 */
export interface ConsoleSerialOptions {
  /**
   * `count` bytes can be read now with read(). Called again only after new bytes arrive, so
   * the reader drains what it wants.
   */
  onReadable?: (count: number) => void;
  /** The port failed or went away; no callback follows. `message` is for humans and logs. */
  onError?: (message?: string) => void;
}

/**
 * The console serial port, open. Unlike ECMA-419's write, write() takes whole messages and
 * the host queues them: the port is shared with the log, whose lines the host writes, so only
 * the host can keep both in order and never split one inside the other.
 */
export interface ConsoleSerial {
  /** Returns up to `count` received bytes (all when omitted), or undefined when none. */
  read(count?: number): Uint8Array | undefined;
  /**
   * Queues `bytes` whole, after every log line and write before them. Returns false when the
   * host's bounded output queue cannot take them (nothing is written then). The host may keep
   * a reference to `bytes`: callers never mutate written buffers.
   */
  write(bytes: Uint8Array): boolean;
  /** Stops reading; bytes already queued are still sent (the log keeps the port). */
  close(): void;
}

/** Opens the console port; one at a time. Throws when the port cannot be read. */
export type ConsoleSerialConstructor = new (options: ConsoleSerialOptions) => ConsoleSerial;

/** Everything the device application needs from its platform. */
export interface DeviceHost extends NetHost {
  wifi: WifiDriver;
  storage: Storage;
  log: Log;
  /** Free heap in bytes, where the platform knows it. */
  freeMemory?: () => number | undefined;
  /** True while the factory-reset button is pressed, where the device has one (src/provisioning). */
  factoryResetButton?: () => boolean;
  /** Reset reason and restart, where the platform has them (src/health/). */
  system?: SystemHost;
  /**
   * The console serial port, on hosts where the firmware can read it (Improv WiFi over
   * serial): the ESP32's UART0 in a release build, the desktop device's --serial tty.
   */
  serial?: ConsoleSerialConstructor;
  /** What the firmware runs on, for Improv's device info: "esp32", "node", "xs"... */
  platform?: string;
  /** Firmware updates (src/ota/): the other image slot and signature checks, where the platform has them. */
  firmware?: FirmwareHost;
}

// ---------------------------------------------------------------------------------------
// Firmware updates (src/ota/, docs/ota.md).

/** The image this firmware runs from, as the platform's boot loader sees it. */
export interface RunningImage {
  /**
   * Booted for the first time after an update and not confirmed yet (ESP-IDF's
   * ESP_OTA_IMG_PENDING_VERIFY): a reset before markValid() boots the previous image.
   */
  pending: boolean;
  /** The previous image was rolled back and, where the platform knows, why ("panic", ...). */
  rollback?: { reason: string; detail?: string };
}

/** What an image made the one to boot is recorded with (from its verified manifest). */
export interface ActivatedImage {
  version: string;
  size: number;
  sha256: string;
}

/**
 * Where an update is written: the "other" slot (on the ESP32 the next OTA app partition, on
 * the desktop the chip's other image folder), and the boot choice (ESP-IDF's otadata). Writes
 * go forward from an offset; a write at the start of a block erases that block first, so a
 * transfer may resume at any multiple of blockBytes, also after a reboot. Methods throw on
 * failure (a flash error, a full disk), with a message for the log.
 */
export interface FirmwareStore {
  /** What images this platform runs ("desktop", "esp32"): a manifest's target must be it. */
  readonly target: string;
  /** The slot's size: the largest image it takes, bytes. */
  readonly capacity: number;
  /** The erase unit, bytes: checkpoints are multiples of it. */
  readonly blockBytes: number;
  running(): RunningImage;
  /** Starts writing an image of `size` bytes, keeping the first `offset` bytes already written (a resume). */
  open(size: number, offset: number): void;
  /** Writes `bytes` at `offset` (the next bytes after the last write). */
  write(offset: number, bytes: Uint8Array): void;
  /** `length` bytes of the slot from `offset` (what an earlier boot wrote, to hash it again). */
  read(offset: number, length: number): Uint8Array;
  /** Gives up the image being written. */
  cancel(): void;
  /** The written, verified image boots at the next restart, on trial (pending). */
  activate(image: ActivatedImage): void;
  /** The running image, on trial, proved itself: it stays. */
  markValid(): void;
  /**
   * The running image, on trial, failed: the previous image boots at the next restart. The
   * ESP32 restarts at once (esp_ota_mark_app_invalid_rollback_and_reboot), so call it last.
   */
  rollback(): void;
}

/** The platform's part in firmware updates. */
export interface FirmwareHost {
  store: FirmwareStore;
  /**
   * ECDSA P-256 with SHA-256 (FIPS 186-4): whether `signature` (r || s, 64 bytes) over
   * `message` was made by `publicKey` (an uncompressed point: 0x04 || x || y, 65 bytes).
   * Node's crypto on the desktop, the SDK's ECDSA over native arithmetic on the ESP32.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** A native streaming SHA-256; src/ota/sha256.ts's portable one when absent. */
  sha256?(): { update(bytes: Uint8Array): void; digest(): Uint8Array };
}
