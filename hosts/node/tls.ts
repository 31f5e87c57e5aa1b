/**
 * The Node host's TLS socket (wss://): the same ECMA-419-shaped socket as NodeTcpSocket,
 * over `node:tls`, with every check the firmware promises made before the first onWritable,
 * so not one application byte (not even the WebSocket handshake) reaches a server that
 * failed them:
 *
 * - the chain up to a trusted CA: `tls.ca` (PEM text, one or more certificates) as the only
 *   trust anchors when given, else Node's bundled root CAs;
 * - the validity dates of every certificate in the chain;
 * - the server name (RFC 6125: DNS names and IP addresses in subjectAltName), also sent as
 *   SNI (RFC 6066 section 3) when it is a host name: SNI never carries an address literal;
 * - optionally, the leaf's public key against `tls.pins` (base64 SHA-256 of its DER
 *   SubjectPublicKeyInfo, as in RFC 7469).
 *
 * - the same dates by the device's own clock (`wallClock`), which a simulated chip may have
 *   set otherwise than the OS (hosts/node/wall-clock.ts).
 *
 * `tls.insecure` skips the chain, date and name checks (never the pins). Each failure is
 * reported through onError with its TlsErrorCode and a message that says what was wrong:
 * "certificate for 127.0.0.1 is signed by an unknown CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE)".
 *
 * Failures before TCP connects are the plain socket's ("connection refused", no code);
 * anything that ends the connection between TCP connecting and TLS being verified is a
 * failed handshake (ERR_TLS_HANDSHAKE_FAILED) unless a named check failed. The client's
 * handshake deadline covers a server that never completes the handshake.
 *
 * The XS desktop host's bridge opens these for XS exactly as it opens NodeTcpSockets:
 * `new NodeTlsSocket({ host, port, nodelay, tls, onReadable, onWritable, onError })`, and
 * passes onError's (message, code) through.
 */
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import {
  checkServerIdentity,
  connect,
  type ConnectionOptions,
  type DetailedPeerCertificate,
  type PeerCertificate,
  type TLSSocket,
} from "node:tls";
import { TlsErrorCode, type TcpSocketOptions, type TlsOptions, type WallClock } from "../../src/shared/host.js";
import { fileProblem, UsageError, type Flag } from "./cli.js";
import { checkAddress, NodeStreamSocket, type NodeTcpTuning, type SocketEnding, type SocketFailure } from "./socket.js";
import { TLS_PIN } from "../../src/websocket/tls-options.js";

/**
 * OpenSSL's verification results (as Node names them in authorizationError) that mean the
 * chain does not lead to a trusted CA: the issuer is missing or not trusted.
 */
const UNKNOWN_CA_REASONS: ReadonlySet<string> = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
]);

/** TLS over Node, shaped after ECMA-419 `embedded:io/socket/tcp` (see the file comment). */
export class NodeTlsSocket extends NodeStreamSocket {
  private readonly tls: TlsOptions;
  private readonly wallClock: WallClock | undefined;
  private readonly tlsSocket: TLSSocket;
  /** TCP is connected: from here to `secured`, a failure is the TLS handshake's. */
  private tcpConnected = false;
  /** TLS is established and every check passed. */
  private secured = false;

  /** `wallClock`: the device's clock, which certificate dates are checked against too (see clockFailure). */
  constructor(options: TcpSocketOptions & NodeTcpTuning & { wallClock?: WallClock }) {
    super(options, connectTls(options));
    this.tls = options.tls!;
    this.wallClock = options.wallClock;
    this.tlsSocket = this.socket as TLSSocket;
    this.socket.once("connect", () => {
      this.tcpConnected = true;
    });
    this.socket.once("secureConnect", () => this.verify());
  }

  /** The handshake is over: check what Node could not decide for us, then open. */
  private verify(): void {
    if (this.closed || this.lost) return;
    const socket = this.tlsSocket;
    const failure =
      (this.tls.insecure ? undefined : (certificateFailure(socket, this.tls.serverName) ?? clockFailure(socket, this.tls.serverName, this.wallClock))) ??
      pinFailure(socket, this.tls);
    if (failure) {
      // Abort: nothing was written, nothing will be.
      socket.destroy();
      this.fail(failure);
      return;
    }
    this.secured = true;
    this.opened();
  }

  protected override explain(ending: SocketEnding): SocketFailure {
    if (!this.tcpConnected || this.secured) return super.explain(ending);
    return {
      code: TlsErrorCode.TLS_HANDSHAKE_FAILED,
      message: `TLS handshake with ${this.tls.serverName} failed: ${handshakeDetail(ending)}`,
    };
  }
}

/** Validates the tls option and starts connecting (TCP, then the TLS handshake). */
function connectTls(options: TcpSocketOptions): TLSSocket {
  checkAddress(options);
  const tls = checkTlsOptions(options.tls);
  const { serverName } = tls;
  // allowHalfOpen (as for TCP: see NodeStreamSocket) is passed on by tls.connect to the
  // TLSSocket, though Node's typings leave it out.
  const connectOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: options.host,
    port: options.port,
    allowHalfOpen: true,
    ...(isIP(serverName) === 0 ? { servername: serverName } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    // Node checks the chain and dates either way; verify() refuses the connection on
    // `authorized === false`, with the certificate at hand to say what was wrong with it.
    rejectUnauthorized: false,
    // The name checked is the server name asked for, whatever address was dialled.
    checkServerIdentity: tls.insecure ? () => undefined : (_host: string, cert: PeerCertificate) => checkServerIdentity(serverName, cert),
  };
  return connect(connectOptions);
}

function checkTlsOptions(value: TlsOptions | undefined): TlsOptions {
  if (typeof value !== "object" || value === null) {
    throw new TypeError("a TLS socket needs the tls option (at least { serverName })");
  }
  if (typeof value.serverName !== "string" || value.serverName === "") {
    throw new TypeError(`tls.serverName must be a non-empty string, got ${String(value.serverName)}`);
  }
  if (value.ca !== undefined && (typeof value.ca !== "string" || !value.ca.includes("-----BEGIN CERTIFICATE-----"))) {
    // On Moddable `ca` names a resource; here it is the certificates themselves.
    throw new TypeError("tls.ca must be PEM text (-----BEGIN CERTIFICATE-----...) on the Node host");
  }
  if (value.pins !== undefined && (!Array.isArray(value.pins) || !value.pins.every((pin) => typeof pin === "string" && TLS_PIN.test(pin)))) {
    throw new TypeError("tls.pins must be base64 SHA-256 digests (44 characters ending in =)");
  }
  if (value.insecure !== undefined && typeof value.insecure !== "boolean") {
    throw new TypeError(`tls.insecure must be a boolean, got ${String(value.insecure)}`);
  }
  return value;
}

/** Which check the certificate failed, when Node did not authorize it. */
function certificateFailure(socket: TLSSocket, serverName: string): SocketFailure | undefined {
  if (socket.authorized) return undefined;
  // Node gives the OpenSSL verification result's name ("CERT_HAS_EXPIRED") or the code of
  // checkServerIdentity's error, as a string despite its declared type.
  const given = socket.authorizationError as unknown;
  const reason =
    typeof given === "string" ? given : ((given as { code?: string } | undefined)?.code ?? String(given ?? "not authorized"));
  const cert = socket.getPeerCertificate();
  const subject = `certificate for ${serverName}`;
  if (UNKNOWN_CA_REASONS.has(reason)) {
    return { code: TlsErrorCode.TLS_UNKNOWN_CA, message: `${subject} is signed by an unknown CA (${reason})` };
  }
  switch (reason) {
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return { code: TlsErrorCode.TLS_SELF_SIGNED, message: `${subject} is self-signed, and not a trusted CA (${reason})` };
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return {
        code: TlsErrorCode.TLS_HOSTNAME_MISMATCH,
        message: `the server's certificate is not valid for ${serverName}: it names ${namesOf(cert)} (${reason})`,
      };
    case "CERT_HAS_EXPIRED":
      return { code: TlsErrorCode.TLS_CERT_EXPIRED, message: `${subject} expired on ${dateOf(cert.valid_to)} (${reason})` };
    case "CERT_NOT_YET_VALID":
      return { code: TlsErrorCode.TLS_CERT_NOT_YET_VALID, message: `${subject} is not valid before ${dateOf(cert.valid_from)} (${reason})` };
    default:
      return { code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `${subject} was rejected (${reason})` };
  }
}

/**
 * The chain's dates by the device's own clock: OpenSSL checked them against the OS clock,
 * and the simulated device's may read otherwise (1970 with --clock-unset, as a chip's does,
 * or a lower bound before NTP answered). Leaf first, up to the root.
 */
function clockFailure(socket: TLSSocket, serverName: string, clock: WallClock | undefined): SocketFailure | undefined {
  if (clock === undefined) return undefined;
  const now = clock.now();
  const reads = `the device's clock, which reads ${new Date(now).toISOString()}`;
  const seen = new Set<string>();
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  for (let index = 0; cert !== undefined && cert.fingerprint256 !== undefined && !seen.has(cert.fingerprint256); index++) {
    seen.add(cert.fingerprint256);
    const cn = cert.subject?.CN;
    const subject = index === 0 ? `certificate for ${serverName}` : `certificate ${index + 1} (CN=${Array.isArray(cn) ? cn.join(",") : String(cn)}) in the chain of ${serverName}`;
    if (now < new Date(cert.valid_from).getTime()) {
      return { code: TlsErrorCode.TLS_CERT_NOT_YET_VALID, message: `${subject} is not valid before ${dateOf(cert.valid_from)} by ${reads}` };
    }
    if (now > new Date(cert.valid_to).getTime()) {
      return { code: TlsErrorCode.TLS_CERT_EXPIRED, message: `${subject} expired on ${dateOf(cert.valid_to)} by ${reads}` };
    }
    cert = cert.issuerCertificate;
  }
  return undefined;
}

/** With pins given, the leaf's public key must be one of them. */
function pinFailure(socket: TLSSocket, tls: TlsOptions): SocketFailure | undefined {
  if (tls.pins === undefined) return undefined;
  const leaf = socket.getPeerX509Certificate();
  const pin = leaf ? spkiPin(leaf.publicKey.export({ type: "spki", format: "der" })) : "(no certificate)";
  if (tls.pins.includes(pin)) return undefined;
  return {
    code: TlsErrorCode.TLS_PIN_MISMATCH,
    message: `the public key of the certificate for ${tls.serverName} (pin ${pin}) is not one of the pinned keys (${tls.pins.length} given)`,
  };
}

/** base64 SHA-256 of a DER SubjectPublicKeyInfo: the pin format of RFC 7469. */
export function spkiPin(spkiDer: Uint8Array): string {
  return createHash("sha256").update(spkiDer).digest("base64");
}

/**
 * Reads a CA file for the command lines' --ca: PEM text holding one certificate or more (a
 * bundle). Throws an Error that names the file and says what is wrong with it.
 */
export function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the CA file ${path}: ${fileProblem(error)}`);
  }
  const first = text.indexOf("-----BEGIN CERTIFICATE-----");
  if (first < 0) throw new Error(`the CA file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  try {
    new X509Certificate(text.slice(first));
  } catch (error) {
    throw new Error(`the CA file ${path} holds a certificate that cannot be read: ${(error as Error).message}`);
  }
  return text;
}

/**
 * The wss:// flags of the command lines (device, echo agent); their keys are the
 * DeviceConfig keys. caFlagFile reads --ca's file.
 */
export const TLS_FLAGS: readonly Flag[] = Object.freeze([
  { name: "ca", value: "FILE", key: "ca", help: "wss://: trust only the CA certificate(s) in this PEM file\n(default: Node's root CAs)" },
  { name: "pin", value: "BASE64", key: "pins", repeatable: true, help: "wss://: the server's public key must be this one: base64\nSHA-256 of its SubjectPublicKeyInfo (repeatable)" },
  { name: "insecure", key: "insecure", help: "wss://: no certificate verification (a warning is logged at every connect)" },
]);

/** The PEM text of the file a --ca flag (typed as `as`) names; a UsageError naming the flag when it cannot be used. */
export function caFlagFile(as: string, path: string): string {
  try {
    return readCaFile(path);
  } catch (error) {
    throw new UsageError(`${as}: ${(error as Error).message}`);
  }
}

/** Why the handshake ended, in words. */
function handshakeDetail(ending: SocketEnding): string {
  if (ending === "end" || ending === "close") return "the server closed the connection";
  const error = ending as NodeJS.ErrnoException & { reason?: string };
  if (error.code === "ECONNRESET" || error.code === "EPIPE") return "the server closed the connection";
  if (error.code === "ERR_SSL_WRONG_VERSION_NUMBER" || error.code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
    return `the server does not speak TLS (${error.reason ?? error.code})`;
  }
  // OpenSSL's `reason` ("sslv3 alert handshake failure") reads better than its full message.
  return `${error.reason ?? error.message} (${error.code ?? "no code"})`;
}

/** The names a certificate is valid for, as it lists them. */
function namesOf(cert: PeerCertificate): string {
  if (cert.subjectaltname) return cert.subjectaltname;
  const cn = cert.subject?.CN;
  return cn ? `only CN=${Array.isArray(cn) ? cn.join(",") : cn}` : "no name";
}

/** "Jan  1 00:00:00 2020 GMT" as 2020-01-01T00:00:00Z. */
function dateOf(text: string | undefined): string {
  const date = new Date(text ?? "");
  return Number.isNaN(date.getTime()) ? String(text) : date.toISOString().replace(".000Z", "Z");
}
