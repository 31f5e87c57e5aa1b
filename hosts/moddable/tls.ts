/**
 * The firmware's TLS socket (wss://) over Moddable's ECMA-419 `embedded:io/socket/tcp/tls`
 * (SDK 8.2.3: examples/io/tcp/tlssocket/tlssocket.js over modules/crypt/ssl, TLS 1.2 in
 * JavaScript), with the shape of tcp.ts: names resolved with Net.resolve first (the SDK's
 * socket takes an address), and onReadable's count kept, so read() never asks for more.
 *
 * What it gives the SDK (`secure`, spread into its ssl/session options):
 * - `host`: the URL's host, sent as SNI and checked against the certificate's
 *   subjectAltName (dNSName, "*." wildcards, IPv4 iPAddress; no CN fallback). The SDK sends
 *   an address literal as SNI too (RFC 6066 section 3 says it should not; servers ignore it).
 * - `certificate`: the CA to trust, a certificate resource (DER) built into the firmware and
 *   named by `tls.ca` ("my-ca" or "my-ca.der" -> resource my-ca.der). The SDK also trusts
 *   its own CA store (resource ca.ski, an index) for the store's certificates built in as
 *   resources (`$(MODULES)/crypt/data/caNN`): none are, unless the manifest adds them.
 * - `verify: false` for `tls.insecure`: the SDK then checks nothing (chain, dates, name).
 * - `cache: false` when pins are given: no session resumption, so every handshake shows
 *   the server's certificate.
 *
 * What the SDK does not do, and this module does:
 * - Its verification failures are exceptions thrown from inside its TCP callbacks, which
 *   the SDK's TCP does not catch: XS aborts (the ESP32 restarts). So the TCP socket the TLS
 *   socket opens is ours (SessionTcp, over the SDK's TCP): it runs every callback inside a
 *   guard that turns an exception into onError, with a TlsErrorCode.
 * - It says only "certificate: auth err" when it refuses the chain. SessionTcp shows every
 *   byte it reads to a HandshakeObserver (tls-handshake.ts), which keeps the server's
 *   chain (TLS 1.2 sends it in the clear); explainRejection names what was wrong with it:
 *   dates (ERR_TLS_CERT_EXPIRED / ERR_TLS_CERT_NOT_YET_VALID, with a note when the device's
 *   clock was never set), self-signed (ERR_TLS_SELF_SIGNED), the name
 *   (ERR_TLS_HOSTNAME_MISMATCH), else an unknown CA (ERR_TLS_UNKNOWN_CA). A chain whose
 *   issuer is in the SDK's store index but not built in is ERR_TLS_UNKNOWN_CA naming the
 *   resource to add.
 * - It does not expose the server's certificate: pins (RFC 7469) are checked here against
 *   the observed leaf, after the SDK verified the chain and before onWritable says
 *   "connected" (ERR_TLS_PIN_MISMATCH), so no application byte reaches a server that fails.
 * - It checks the dates of the server's own certificate only: the others of the chain are
 *   checked here once the SDK accepted it (chainDates).
 * - It reports "connected" even when the server ended the handshake with a close_notify
 *   alert: "connected" is passed on only once the server's ChangeCipherSpec was seen.
 * Anything else that ends the handshake is ERR_TLS_HANDSHAKE_FAILED, with the SDK's words,
 * or ours where they can be explained: a chain of one certificate (which ssl_cert.js never
 * accepts), a root without authorityKeyIdentifier in the chain (ssl_cert.js throws
 * "invalid buffer"), the server's alert, bytes that are not TLS.
 *
 * The SDK's sockets are closed in a promise job, never inside their own callbacks (see
 * release()).
 *
 * Known gap: after the handshake, the SDK's socket decrypts records left over from a read
 * in a Timer callback of its own, out of reach of the guard; a corrupt record or a fatal
 * alert arriving there is an uncaught exception (an abort) in the SDK.
 *
 * Portable on purpose: the SDK classes are passed in (host.ts gives them) and the adapter is
 * tested on Node against fakes that behave like them (tests/hosts/moddable/tls.test.ts).
 */
import { encodeBase64 } from "../../src/websocket/base64.js";
import { TlsErrorCode, type TcpSocket, type TcpSocketConstructor, type TcpSocketOptions, type TlsErrorCodeValue, type TlsOptions } from "../../src/shared/host.js";
import { checkEndpoint, isAddressLiteral, messageOf, readAnnounced, type Ecma419Tcp, type Ecma419TcpConstructor, type Resolve } from "./tcp.js";
import { TLS_PIN } from "../../src/websocket/tls-options.js";
import {
  alertName,
  chainDates,
  clockNote,
  explainMissingAuthorityKey,
  explainRejection,
  HandshakeObserver,
  isoTime,
  readCertificate,
  type TlsFailure,
} from "./tls-handshake.js";

/** What this adapter gives the SDK's TLS session (modules/crypt/ssl/session_419.js, ssl_cert.js). */
export interface Ecma419TlsSecure {
  /** A CA (DER: a Resource or an ArrayBuffer) trusted besides the SDK's own store. */
  certificate?: ArrayBuffer;
  /** false: no verification at all. */
  verify?: boolean;
  /** false: no session resumption. */
  cache?: boolean;
}

/** What the SDK's TLS socket calls its TCP socket with: our options, spread, and its callbacks. */
export interface SessionTcpOptions {
  address: string;
  port: number;
  nodelay?: boolean;
  /** Ours, passed through the TLS socket's options. */
  tap: SessionTap;
  onReadable?: (count: number) => void;
  onWritable?: (count: number) => void;
  onError?: () => void;
}

/** The TCP socket the SDK's TLS session reads and writes (it sets readable/writable itself). */
export interface SessionSocket {
  readable: number;
  writable: number;
  read(into?: number | Uint8Array): ArrayBuffer | number | undefined;
  write(bytes: Uint8Array): unknown;
  close(): void;
}

/** Options of the SDK's TLS constructor that this adapter uses. */
export interface Ecma419TlsOptions {
  address: string;
  port: number;
  /** The server name: SNI, and the name the certificate must have. */
  host: string;
  nodelay?: boolean;
  secure: Ecma419TlsSecure;
  /** The TCP class it opens: `new TCP.io({...options, onReadable, onWritable, onError})`. */
  TCP: { io: new (options: SessionTcpOptions) => SessionSocket };
  tap: SessionTap;
  format?: "buffer";
  onReadable?: (count: number) => void;
  onWritable?: (count: number) => void;
  onError?: () => void;
}

export type Ecma419TlsConstructor = new (options: Ecma419TlsOptions) => Ecma419Tcp;

/** How SessionTcp reaches its ModdableTlsSocket. */
export interface SessionTap {
  /** Runs an SDK callback; an exception from it ends the connection with a reason. */
  guard(callback: () => void): void;
  /** Shows the bytes the SDK read (while the handshake lasts). */
  observe(bytes: Uint8Array): void;
  /** The SDK's TCP reported writable: the TCP connection is up. */
  connected(): void;
  readonly watching: boolean;
}

export interface ModdableTlsDependencies {
  /** `import TLS from "embedded:io/socket/tcp/tls"` */
  TLS: Ecma419TlsConstructor;
  /** `import TCP from "embedded:io/socket/tcp"`: what the TLS socket runs over. */
  TCP: Ecma419TcpConstructor;
  /** `Net.resolve` */
  resolve: Resolve;
  /** The resource `name` (`new Resource(name)`), or undefined when the firmware has none. */
  resource(name: string): ArrayBuffer | undefined;
  /** SHA-256 (crypt's Digest), for pins. */
  sha256(bytes: Uint8Array): Uint8Array;
  /** The wall clock, ms since 1970: certificate dates in messages. */
  now(): number;
}

/** The resource a `tls.ca` names: "my-ca" and "my-ca.der" are both my-ca.der. */
export function caResourceName(ca: string): string {
  return /\.der$/i.test(ca) ? ca : `${ca}.der`;
}

/** A CA loaded from the firmware's resources. */
export interface LoadedCa {
  name: string;
  /** What the SDK is given (a Resource stays in flash). */
  resource: ArrayBuffer;
  der: Uint8Array;
}

/**
 * Loads the CA `tls.ca` names; throws an Error that says what to do when the firmware has
 * no such resource, or it is not a DER certificate. main.ts calls it at boot, so a build
 * without its CA says so at once rather than at every connect.
 */
export function loadCa(ca: string, resource: (name: string) => ArrayBuffer | undefined): LoadedCa {
  if (ca.indexOf("-----BEGIN") >= 0) {
    throw new TypeError("on Moddable, ca names a certificate resource (the CA in DER, e.g. ca=my-ca for certs/my-ca.der), not PEM text");
  }
  const name = caResourceName(ca);
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new TypeError(`ca must name a certificate resource (letters, digits and ._-), got ${JSON.stringify(ca)}`);
  }
  const found = resource(name);
  if (found === undefined) {
    throw new Error(`the firmware has no certificate resource ${name}: put the CA in DER at certs/${name} (openssl x509 -in ca.pem -outform der -out certs/${name}) and rebuild`);
  }
  const der = new Uint8Array(found);
  try {
    readCertificate(der);
  } catch (error) {
    throw new Error(`the resource ${name} is not a DER certificate (${messageOf(error)}): convert a PEM file with openssl x509 -in ca.pem -outform der -out certs/${name}`);
  }
  return { name, resource: found, der };
}

function checkTlsOptions(value: TlsOptions | undefined): TlsOptions {
  if (typeof value !== "object" || value === null) {
    throw new TypeError("a TLS socket needs the tls option (at least { serverName })");
  }
  if (typeof value.serverName !== "string" || value.serverName === "") {
    throw new TypeError(`tls.serverName must be a non-empty string, got ${String(value.serverName)}`);
  }
  if (value.ca !== undefined && typeof value.ca !== "string") throw new TypeError("tls.ca must be the name of a certificate resource");
  if (value.pins !== undefined && (!Array.isArray(value.pins) || !value.pins.every((pin) => typeof pin === "string" && TLS_PIN.test(pin)))) {
    throw new TypeError("tls.pins must be base64 SHA-256 digests (44 characters ending in =)");
  }
  if (value.insecure !== undefined && typeof value.insecure !== "boolean") {
    throw new TypeError(`tls.insecure must be a boolean, got ${String(value.insecure)}`);
  }
  return value;
}

/**
 * The TcpSocketConstructor for the NetHost's `tls`, over the SDK's TLS and TCP classes.
 * Bad options throw from the constructor (as the Node host's); so does a `tls.ca` naming
 * no certificate resource. Every failure later arrives at onError, with a TlsErrorCode when
 * it ended the TLS handshake.
 */
export function createTlsSocketClass(dependencies: ModdableTlsDependencies): TcpSocketConstructor {
  const { TLS, TCP, resolve, resource, sha256, now } = dependencies;
  /** The last CA loaded: a device trusts one, so it is read once. */
  let lastCa: LoadedCa | undefined;

  /** The TCP socket the SDK's TLS socket opens: the SDK's, with its callbacks guarded. */
  class SessionTcp implements SessionSocket {
    readable = 0;
    writable = 0;
    private readonly socket: Ecma419Tcp;
    private readonly tap: SessionTap;

    constructor(options: SessionTcpOptions) {
      const tap = options.tap;
      this.tap = tap;
      this.socket = new TCP({
        address: options.address,
        port: options.port,
        nodelay: options.nodelay === true,
        format: "buffer",
        onReadable: (count) => tap.guard(() => options.onReadable?.(count)),
        onWritable: (count) =>
          tap.guard(() => {
            tap.connected();
            options.onWritable?.(count);
          }),
        onError: () => tap.guard(() => options.onError?.()),
      });
    }

    read(into?: number | Uint8Array): ArrayBuffer | number | undefined {
      // The SDK counts its arguments: read(undefined) is not read().
      const result = into === undefined ? this.socket.read() : this.socket.read(into);
      if (this.tap.watching) {
        if (into instanceof Uint8Array) {
          // Filled in place; the SDK returns the count.
          if (typeof result === "number" && result > 0) this.tap.observe(into.subarray(0, result));
        } else if (result instanceof ArrayBuffer) {
          this.tap.observe(new Uint8Array(result));
        }
      }
      return result;
    }

    write(bytes: Uint8Array): unknown {
      return this.socket.write(bytes);
    }

    close(): void {
      this.socket.close();
    }
  }

  return class ModdableTlsSocket implements TcpSocket, SessionTap {
    private readonly options: TcpSocketOptions;
    private readonly tls: TlsOptions;
    private readonly ca: LoadedCa | undefined;
    private socket: Ecma419Tcp | undefined;
    private observer: HandshakeObserver | undefined;
    private buffered = 0;
    /** The TCP connection was made: from here to `secured`, a failure is the handshake's. */
    private tcpConnected = false;
    /** TLS is established, verified, and the pins (if any) matched. */
    private secured = false;
    private done = false;

    constructor(options: TcpSocketOptions) {
      checkEndpoint(options);
      const tls = checkTlsOptions(options.tls);
      this.options = options;
      this.tls = tls;
      if (tls.ca !== undefined && tls.ca !== "") {
        if (lastCa === undefined || lastCa.name !== caResourceName(tls.ca)) lastCa = loadCa(tls.ca, resource);
        this.ca = lastCa;
      }
      const host = options.host;
      if (isAddressLiteral(host)) {
        this.open(host, true);
        return;
      }
      resolve(host, (_name, address) => {
        if (this.done) return; // closed while the name was being looked up
        if (address === undefined || address === "") {
          this.fail({ message: `cannot resolve host name ${JSON.stringify(host)}` });
          return;
        }
        this.open(address, false);
      });
    }

    get watching(): boolean {
      return this.observer !== undefined;
    }

    /** Opens the SDK's TLS socket; the SDK's own refusals throw when `rethrow` (an address given). */
    private open(address: string, rethrow: boolean): void {
      const { port, nodelay } = this.options;
      const tls = this.tls;
      const secure: Ecma419TlsSecure = {};
      if (this.ca !== undefined) secure.certificate = this.ca.resource;
      if (tls.insecure === true) secure.verify = false;
      if (tls.pins !== undefined && tls.pins.length > 0) secure.cache = false;
      this.observer = new HandshakeObserver();
      try {
        this.socket = new TLS({
          address,
          port,
          host: tls.serverName,
          nodelay: nodelay === true,
          secure,
          TCP: { io: SessionTcp },
          tap: this,
          format: "buffer",
          onReadable: (count) => {
            if (this.done) return;
            this.buffered = count;
            this.options.onReadable?.(count);
          },
          onWritable: (count) => this.onWritable(count),
          onError: () => this.onSdkError(),
        });
      } catch (error) {
        // The session refuses the CA when the device's clock is outside its dates.
        if (this.ca !== undefined && messageOf(error) === "date validation failed") {
          this.fail(this.caDates(this.ca));
          return;
        }
        if (rethrow) throw error;
        this.fail({ message: `connection to ${address}:${port} failed: ${messageOf(error)}` });
      }
    }

    guard(callback: () => void): void {
      if (this.done) return;
      try {
        callback();
      } catch (error) {
        // After a failure we reported, the SDK may trip over its released session: ignored.
        if (this.done) return;
        this.fail(this.secured ? { message: `TLS connection to ${this.where()} failed: ${messageOf(error)}` } : this.explain(error));
      }
    }

    observe(bytes: Uint8Array): void {
      this.observer?.feed(bytes);
    }

    connected(): void {
      this.tcpConnected = true;
    }

    private onWritable(count: number): void {
      if (this.done) return;
      if (!this.secured) {
        const failure = this.established();
        if (failure !== undefined) {
          this.fail(failure);
          return;
        }
        this.secured = true;
        this.observer = undefined; // the chain is no longer needed
      }
      this.options.onWritable?.(count);
    }

    /** The SDK says the handshake is done: was it, and do the pins match? */
    private established(): TlsFailure | undefined {
      const observer = this.observer!;
      if (!observer.changedCipher) {
        // The SDK takes a close_notify alert during the handshake for its end.
        return {
          code: TlsErrorCode.TLS_HANDSHAKE_FAILED,
          message: `TLS handshake with ${this.tls.serverName} failed: ${observer.alert ? `the server sent alert ${alertName(observer.alert[1])}` : "it did not complete"}`,
        };
      }
      // The SDK checks the dates of the server's certificate, not of the CAs above it.
      if (this.tls.insecure !== true && observer.certificates !== undefined) {
        const failure = chainDates(observer.certificates, this.tls.serverName, now());
        if (failure !== undefined) return failure;
      }
      const pins = this.tls.pins;
      if (pins === undefined || pins.length === 0) return undefined;
      const leaf = observer.certificates?.[0];
      let pin = "(no certificate seen)";
      if (leaf !== undefined) {
        try {
          pin = encodeBase64(sha256(readCertificate(leaf).spki));
        } catch (error) {
          pin = `(unreadable certificate: ${messageOf(error)})`;
        }
      } else if (observer.certificatesTooLarge) {
        pin = "(certificate chain too large to check)";
      }
      if (pins.indexOf(pin) >= 0) return undefined;
      return {
        code: TlsErrorCode.TLS_PIN_MISMATCH,
        message: `the public key of the certificate for ${this.tls.serverName} (pin ${pin}) is not one of the pinned keys (${pins.length} given)`,
      };
    }

    /** The SDK's socket ended: the peer closed or reset, or its session read an alert. */
    private onSdkError(): void {
      if (this.done) return;
      if (this.secured || !this.tcpConnected) {
        // As tcp.ts: a refused connection, a reset, and the peer's close look alike.
        this.fail({ message: `connection failed or closed (${this.where()})` });
        return;
      }
      const observer = this.observer;
      let why = "the server closed the connection";
      if (observer?.notTls) why = "the server does not speak TLS";
      else if (observer?.alert) why = `the server sent alert ${alertName(observer.alert[1])}`;
      this.fail({ code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `TLS handshake with ${this.tls.serverName} (${this.where()}) failed: ${why}` });
    }

    /** An exception from the SDK during the handshake: what it means. */
    private explain(error: unknown): TlsFailure {
      const message = messageOf(error);
      const serverName = this.tls.serverName;
      const observer = this.observer;
      // "certificate: auth err": the chain, the name or the CA. "date validation failed": the
      // SDK accepted the chain but refused to keep the server's certificate for its dates.
      if (message === "certificate: auth err" || message === "date validation failed") {
        return explainRejection({
          chain: observer?.certificates,
          serverName,
          now: now(),
          ...(this.ca !== undefined ? { ca: { name: this.ca.name, der: this.ca.der } } : {}),
        });
      }
      const store = /^Resource not found: (ca([0-9]+)\.der)$/.exec(message);
      if (store !== null) {
        return {
          code: TlsErrorCode.TLS_UNKNOWN_CA,
          message:
            `certificate for ${serverName} is signed by a CA of the SDK's store (${store[1]}) that is not built into the firmware: ` +
            `add "$(MODULES)/crypt/data/ca${store[2]}" to the manifest's resources, or give the device its CA (ca=)`,
        };
      }
      if (message === "invalid buffer") {
        const failure = explainMissingAuthorityKey(observer?.certificates, serverName);
        if (failure !== undefined) return failure;
      }
      const alert = /^alert: ([0-9]+), ([0-9]+)$/.exec(message);
      if (alert !== null) {
        return { code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `TLS handshake with ${serverName} failed: the server sent alert ${alertName(Number(alert[2]))}` };
      }
      if (observer?.notTls) {
        return { code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `TLS handshake with ${serverName} failed: the server does not speak TLS` };
      }
      return { code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `TLS handshake with ${serverName} failed: ${message}` };
    }

    /** The SDK refused the device's own CA for its dates. */
    private caDates(ca: LoadedCa): TlsFailure {
      const time = now();
      const facts = readCertificate(ca.der);
      if (time < facts.notBefore) {
        return { code: TlsErrorCode.TLS_CERT_NOT_YET_VALID, message: `the device's CA ${ca.name} is not valid before ${isoTime(facts.notBefore)}${clockNote(time)}` };
      }
      return { code: TlsErrorCode.TLS_CERT_EXPIRED, message: `the device's CA ${ca.name} expired on ${isoTime(facts.notAfter)}` };
    }

    read(count?: number): Uint8Array | undefined {
      if (this.done || this.socket === undefined) return undefined;
      const [bytes, left] = readAnnounced(this.socket, this.buffered, count);
      this.buffered = left;
      return bytes;
    }

    write(bytes: Uint8Array): void {
      if (this.done) throw new Error("write after close()");
      if (this.socket === undefined || !this.secured) throw new Error("write before the connection is open (wait for onWritable)");
      if (bytes.length === 0) return;
      this.socket.write(bytes);
    }

    close(): void {
      if (this.done && this.socket === undefined) return;
      this.done = true;
      this.release();
    }

    private where(): string {
      return `${this.options.host}:${this.options.port}`;
    }

    /**
     * Lets go of the SDK's socket, in a promise job rather than now: most ends are decided
     * inside the SDK's own callbacks, and its TLS socket goes on using its session after
     * calling us (after "connected", it reads the records that followed). Closing it there
     * made the simulator crash (SIGSEGV) a moment later, in XS, in about one run of three
     * after a pin mismatch. Every callback that arrives meanwhile is ignored (`done`).
     */
    private release(): void {
      this.buffered = 0;
      this.observer = undefined;
      const socket = this.socket;
      this.socket = undefined;
      if (socket === undefined) return;
      void Promise.resolve().then(() => {
        try {
          socket.close();
        } catch {
          // Already released by the SDK.
        }
      });
    }

    /** Reports the end once; the SDK socket is released, no other callback follows. */
    private fail(failure: { code?: TlsErrorCodeValue; message: string }): void {
      if (this.done) return;
      this.done = true;
      this.release();
      this.options.onError?.(failure.message, failure.code);
    }
  };
}
