/**
 * What the server showed in its TLS handshake, read from outside Moddable's TLS.
 *
 * The SDK's TLS socket (`embedded:io/socket/tcp/tls`, SDK 8.2.3) keeps its session private:
 * it does not expose the server's certificate, and when it refuses one it only throws
 * "certificate: auth err", whatever was wrong (its reasons go to trace(), not to the code).
 * But it speaks TLS 1.2 only, where the server's Certificate message (RFC 5246 section
 * 7.4.2) travels in the clear, and it reads every byte through the TCP socket we hand it.
 * So hosts/moddable/tls.ts shows each byte the SDK reads to a HandshakeObserver, which keeps
 * the server's certificate chain until the handshake ends. With it the host can:
 *
 * - check pins: the SHA-256 of the leaf's SubjectPublicKeyInfo (RFC 7469), once the SDK has
 *   verified the chain that the same leaf heads;
 * - say which check failed when the SDK refuses the chain (explainRejection): the dates,
 *   self-signed, the name, or an unknown CA, in the SDK's order of likelihood.
 *
 * Only the parts of X.509 (RFC 5280) these need are read: validity, issuer and subject (as
 * bytes, and their CN for messages), subjectPublicKeyInfo, and subjectAltName. Nothing here
 * decides whether a connection is trusted except the pin comparison; the SDK verifies.
 *
 * Bounded: the observer keeps one Certificate message of at most MAX_CERTIFICATE_MESSAGE
 * bytes, and stops looking at the first record after the server's ChangeCipherSpec (from
 * there on everything is encrypted).
 */
import { TlsErrorCode, type TlsErrorCodeValue } from "../../src/shared/host.js";

/** RFC 5246 section 6.2.1: record content types. */
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
/** RFC 5246 section 7.4: the Certificate handshake message. */
const CERTIFICATE = 11;
/** A record's fragment is at most 2^14 bytes, plus up to 2048 of expansion (section 6.2.3). */
const MAX_RECORD = 16384 + 2048;
/**
 * The largest Certificate message kept: a chain of a leaf and two intermediates with RSA
 * 4096 keys is about 5 KB; a bigger one is not kept (pins then fail closed).
 */
export const MAX_CERTIFICATE_MESSAGE = 8192;

/** The server's side of a TLS 1.2 handshake, as far as it is in the clear. */
export class HandshakeObserver {
  /** The server's certificates, leaf first, once its Certificate message was seen. */
  certificates: Uint8Array[] | undefined;
  /** The Certificate message was larger than MAX_CERTIFICATE_MESSAGE: not kept. */
  certificatesTooLarge = false;
  /** The server sent ChangeCipherSpec: it finished its part of the handshake. */
  changedCipher = false;
  /** The first bytes were not a TLS record (a plain HTTP or ws:// server, say). */
  notTls = false;
  /** An alert the server sent in the clear: [level, description] (RFC 5246 section 7.2). */
  alert: [number, number] | undefined;

  private readonly header = new Uint8Array(5);
  private headerFill = 0;
  private recordType = 0;
  private recordLeft = 0;
  private readonly handshakeHeader = new Uint8Array(4);
  private handshakeFill = 0;
  private handshakeType = 0;
  private handshakeLeft = 0;
  private capture: Uint8Array | undefined;
  private captureFill = 0;
  private readonly alertBytes: number[] = [];
  private done = false;

  /** The server's bytes, in order, exactly as the TLS implementation reads them. */
  feed(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && !this.done) {
      if (this.recordLeft === 0) {
        // The 5-byte record header: type, version (2), length (2).
        const take = Math.min(5 - this.headerFill, bytes.length - at);
        this.header.set(bytes.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < 5) return;
        this.headerFill = 0;
        this.recordType = this.header[0]!;
        this.recordLeft = (this.header[3]! << 8) | this.header[4]!;
        if (this.recordType < CHANGE_CIPHER_SPEC || this.recordType > APPLICATION_DATA || this.recordLeft > MAX_RECORD) {
          this.notTls = this.recordType < CHANGE_CIPHER_SPEC || this.recordType > APPLICATION_DATA;
          this.done = true;
          return;
        }
        if (this.recordType === CHANGE_CIPHER_SPEC) {
          // What follows is encrypted: nothing more to see.
          this.changedCipher = true;
          this.done = true;
          return;
        }
        if (this.recordType === APPLICATION_DATA) {
          this.done = true; // not before a handshake: the SDK will refuse it
          return;
        }
        continue;
      }
      const take = Math.min(this.recordLeft, bytes.length - at);
      const fragment = bytes.subarray(at, at + take);
      at += take;
      this.recordLeft -= take;
      if (this.recordType === HANDSHAKE) this.handshake(fragment);
      else if (this.recordType === ALERT) this.alertFragment(fragment);
    }
  }

  /** Handshake messages, split across records or packed in one (section 6.2.1). */
  private handshake(fragment: Uint8Array): void {
    let at = 0;
    while (at < fragment.length) {
      if (this.handshakeLeft === 0 && this.handshakeFill < 4) {
        const take = Math.min(4 - this.handshakeFill, fragment.length - at);
        this.handshakeHeader.set(fragment.subarray(at, at + take), this.handshakeFill);
        this.handshakeFill += take;
        at += take;
        if (this.handshakeFill < 4) return;
        const header = this.handshakeHeader;
        this.handshakeType = header[0]!;
        this.handshakeLeft = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
        if (this.handshakeType === CERTIFICATE && this.certificates === undefined) {
          if (this.handshakeLeft <= MAX_CERTIFICATE_MESSAGE) {
            this.capture = new Uint8Array(this.handshakeLeft);
            this.captureFill = 0;
          } else {
            this.certificatesTooLarge = true;
          }
        }
        if (this.handshakeLeft === 0) this.endMessage();
        continue;
      }
      const take = Math.min(this.handshakeLeft, fragment.length - at);
      if (this.capture !== undefined) {
        this.capture.set(fragment.subarray(at, at + take), this.captureFill);
        this.captureFill += take;
      }
      at += take;
      this.handshakeLeft -= take;
      if (this.handshakeLeft === 0) this.endMessage();
    }
  }

  private endMessage(): void {
    this.handshakeFill = 0;
    const message = this.capture;
    this.capture = undefined;
    if (message !== undefined) this.certificates = splitCertificateList(message);
  }

  private alertFragment(fragment: Uint8Array): void {
    for (let i = 0; i < fragment.length; i++) {
      this.alertBytes.push(fragment[i]!);
      if (this.alertBytes.length === 2) {
        this.alert = [this.alertBytes[0]!, this.alertBytes[1]!];
        this.alertBytes.length = 0;
      }
    }
  }
}

/**
 * The certificate_list of a Certificate message (RFC 5246 section 7.4.2): a 3-byte total
 * length, then each certificate as a 3-byte length and its DER. Undefined when malformed.
 */
function splitCertificateList(message: Uint8Array): Uint8Array[] | undefined {
  if (message.length < 3) return undefined;
  const total = (message[0]! << 16) | (message[1]! << 8) | message[2]!;
  if (total !== message.length - 3) return undefined;
  const list: Uint8Array[] = [];
  let at = 3;
  while (at < message.length) {
    if (at + 3 > message.length) return undefined;
    const length = (message[at]! << 16) | (message[at + 1]! << 8) | message[at + 2]!;
    at += 3;
    if (length === 0 || at + length > message.length) return undefined;
    list.push(message.subarray(at, at + length));
    at += length;
  }
  return list;
}

// ---------------------------------------------------------------------------------------
// X.509, as much as the checks above need (RFC 5280 section 4.1).

/** What a certificate says about itself. */
export interface CertificateFacts {
  /** Validity, ms since 1970 (UTC). */
  notBefore: number;
  notAfter: number;
  /** The DER of the issuer's and the subject's Name: equal for a self-issued certificate. */
  issuer: Uint8Array;
  subject: Uint8Array;
  /** The DER of subjectPublicKeyInfo, what a pin digests (RFC 7469 section 2.4). */
  spki: Uint8Array;
  /** subjectAltName: dNSName entries (lower case) and iPAddress entries (text). */
  dnsNames: string[];
  ipAddresses: string[];
  /** subjectKeyIdentifier and authorityKeyIdentifier's keyIdentifier, when present. */
  keyId?: Uint8Array;
  authorityKeyId?: Uint8Array;
}

/** A DER element: its tag, and where its contents are. */
interface Element {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Reads the element at `at` (definite lengths, single-byte tags: all X.509 uses). */
function element(der: Uint8Array, at: number, limit: number): Element {
  if (at + 2 > limit) throw new RangeError("truncated DER");
  const tag = der[at]!;
  let length = der[at + 1]!;
  let contentStart = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 3 || contentStart + count > limit) throw new RangeError("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new RangeError("truncated DER");
  return { tag, start: at, contentStart, end };
}

/** The elements inside a constructed element. */
function children(der: Uint8Array, parent: Element): Element[] {
  const list: Element[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = element(der, at, parent.end);
    list.push(child);
    at = child.end;
  }
  return list;
}

const SEQUENCE = 0x30;
const OCTET_STRING = 0x04;
const OID = 0x06;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
/** 2.5.29.17, subjectAltName (section 4.2.1.6). */
const SUBJECT_ALT_NAME = Object.freeze([0x55, 0x1d, 0x11]);
/** 2.5.29.14, subjectKeyIdentifier (section 4.2.1.2). */
const SUBJECT_KEY_ID = Object.freeze([0x55, 0x1d, 0x0e]);
/** 2.5.29.35, authorityKeyIdentifier (section 4.2.1.1). */
const AUTHORITY_KEY_ID = Object.freeze([0x55, 0x1d, 0x23]);
/** 2.5.4.3, commonName. */
const COMMON_NAME = Object.freeze([0x55, 0x04, 0x03]);

/** Reads a DER certificate; throws a RangeError when it is not one. */
export function readCertificate(der: Uint8Array): CertificateFacts {
  const certificate = element(der, 0, der.length);
  if (certificate.tag !== SEQUENCE) throw new RangeError("not a certificate");
  const tbs = children(der, certificate)[0];
  if (tbs === undefined || tbs.tag !== SEQUENCE) throw new RangeError("not a certificate");
  const fields = children(der, tbs);
  // version [0] EXPLICIT is there in v2 and v3 certificates, absent in v1.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [, , issuer, validity, subject, spki] = fields.slice(first);
  if (issuer === undefined || validity === undefined || subject === undefined || spki === undefined || validity.tag !== SEQUENCE) {
    throw new RangeError("not a certificate");
  }
  const [notBefore, notAfter] = children(der, validity);
  if (notBefore === undefined || notAfter === undefined) throw new RangeError("no validity");
  const facts: CertificateFacts = {
    notBefore: readTime(der, notBefore),
    notAfter: readTime(der, notAfter),
    issuer: der.subarray(issuer.start, issuer.end),
    subject: der.subarray(subject.start, subject.end),
    spki: der.subarray(spki.start, spki.end),
    dnsNames: [],
    ipAddresses: [],
  };
  const extensions = fields.find((field) => field.tag === 0xa3);
  if (extensions !== undefined) {
    const list = children(der, extensions)[0];
    for (const extension of list ? children(der, list) : []) {
      const parts = children(der, extension);
      const id = parts[0];
      const value = parts[parts.length - 1];
      if (id?.tag !== OID || value?.tag !== OCTET_STRING) continue;
      if (sameBytes(der, id, SUBJECT_ALT_NAME)) {
        readAltNames(der, element(der, value.contentStart, value.end), facts);
      } else if (sameBytes(der, id, SUBJECT_KEY_ID)) {
        const keyId = element(der, value.contentStart, value.end);
        if (keyId.tag === OCTET_STRING) facts.keyId = der.subarray(keyId.contentStart, keyId.end);
      } else if (sameBytes(der, id, AUTHORITY_KEY_ID)) {
        // SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, ... }
        const fields = children(der, element(der, value.contentStart, value.end));
        const keyId = fields.find((field) => field.tag === 0x80);
        if (keyId !== undefined) facts.authorityKeyId = der.subarray(keyId.contentStart, keyId.end);
      }
    }
  }
  return facts;
}

function sameBytes(der: Uint8Array, node: Element, expected: readonly number[]): boolean {
  if (node.end - node.contentStart !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (der[node.contentStart + i] !== expected[i]) return false;
  return true;
}

/** GeneralNames: dNSName is [2] IA5String, iPAddress [7] OCTET STRING (section 4.2.1.6). */
function readAltNames(der: Uint8Array, names: Element, facts: CertificateFacts): void {
  for (const name of children(der, names)) {
    const bytes = der.subarray(name.contentStart, name.end);
    if (name.tag === 0x82) facts.dnsNames.push(ascii(bytes).toLowerCase());
    else if (name.tag === 0x87 && bytes.length === 4) facts.ipAddresses.push(Array.prototype.join.call(bytes, "."));
    else if (name.tag === 0x87 && bytes.length === 16) facts.ipAddresses.push(ipv6(bytes));
  }
}

function ascii(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

function ipv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return groups.join(":");
}

/** UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ (section 4.1.2.5). */
function readTime(der: Uint8Array, node: Element): number {
  const text = ascii(der.subarray(node.contentStart, node.end));
  const match = node.tag === UTC_TIME ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text) : node.tag === GENERALIZED_TIME ? /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text) : null;
  if (match === null) throw new RangeError(`unsupported time ${JSON.stringify(text)}`);
  let year = Number(match[1]);
  if (node.tag === UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6]));
}

/** The CN of a DER Name, for messages ("" when it has none). */
export function commonName(name: Uint8Array): string {
  try {
    for (const set of children(name, element(name, 0, name.length))) {
      for (const pair of children(name, set)) {
        const [id, value] = children(name, pair);
        if (id?.tag === OID && value !== undefined && sameBytes(name, id, COMMON_NAME)) {
          return ascii(name.subarray(value.contentStart, value.end));
        }
      }
    }
  } catch {
    // a name we cannot read has no CN to show
  }
  return "";
}

/**
 * Whether the certificate names `serverName`, by the rules Moddable's TLS applies (SDK 8.2.3,
 * modules/crypt/ssl/ssl_cert.js): a dNSName equal to it (case-insensitive), or "*.rest"
 * matching its part from the first dot; an iPAddress (IPv4 only) equal to it. No CN fallback.
 */
export function namesServer(facts: CertificateFacts, serverName: string): boolean {
  const name = serverName.toLowerCase();
  const dot = name.indexOf(".");
  for (const dns of facts.dnsNames) {
    if (dns === name) return true;
    if (dns.charCodeAt(0) === 42 && dns.indexOf("*", 1) < 0 && dot >= 0 && dns.slice(1) === name.slice(dot)) return true;
  }
  return facts.ipAddresses.indexOf(name) >= 0 && name.indexOf(":") < 0;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A clock before this (2024-01-01) has not been set: an ESP32 starts at 1970 without SNTP. */
export const EARLIEST_PLAUSIBLE_TIME = Date.UTC(2024, 0, 1);

/** Why a connection failed: what src/ reports as the error's code and message. */
export interface TlsFailure {
  code: TlsErrorCodeValue;
  message: string;
}

export interface RejectionContext {
  /** The server's chain as the observer saw it (undefined: not seen). */
  chain: readonly Uint8Array[] | undefined;
  serverName: string;
  /** The device's time, ms since 1970. */
  now: number;
  /** The CA the device was given (DER) and its name, when one was. */
  ca?: { name: string; der: Uint8Array };
}

/** "2026-01-02T03:04:05Z" */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(".000Z", "Z");
}

export function clockNote(now: number): string {
  return now < EARLIEST_PLAUSIBLE_TIME ? ` (the device's clock reads ${isoTime(now)}: it has not been set, so no certificate can be checked)` : "";
}

/** "certificate for X" for the leaf, "certificate 2 of 3 (CN=...) in the chain of X" for the others. */
function which(index: number, count: number, facts: CertificateFacts, serverName: string): string {
  if (index === 0) return `certificate for ${serverName}`;
  const cn = commonName(facts.subject);
  return `certificate ${index + 1} of ${count}${cn ? ` (CN=${cn})` : ""} in the chain of ${serverName}`;
}

/** What a certificate names, as a message shows it. */
export function namesOf(facts: CertificateFacts): string {
  const names = [...facts.dnsNames.map((name) => `DNS:${name}`), ...facts.ipAddresses.map((address) => `IP:${address}`)];
  return names.length > 0 ? names.join(", ") : "no name in subjectAltName";
}

/**
 * Moddable's TLS refused the server's chain ("certificate: auth err"): which check failed.
 * The SDK does not say; this reads the chain it refused and names the first problem a user
 * can act on, in the order the SDK checks them: dates, then the issuer (self-signed, or not
 * trusted), then the name. The signatures are not checked here (the SDK did): a chain that
 * passes every check below was refused for its signatures or its CA, an unknown CA.
 */
export function explainRejection(context: RejectionContext): TlsFailure {
  const { chain, serverName, now } = context;
  if (chain === undefined || chain.length === 0) {
    return { code: TlsErrorCode.TLS_HANDSHAKE_FAILED, message: `Moddable's TLS refused the certificate of ${serverName}` };
  }
  const facts = readChain(chain, serverName);
  if (!Array.isArray(facts)) return facts;
  const dates = datesFailure(facts, serverName, now);
  if (dates !== undefined) return dates;
  const leaf = facts[0]!;
  const selfIssued = equalBytes(leaf.issuer, leaf.subject);
  if (facts.length === 1 && selfIssued && !(context.ca && equalBytes(chain[0]!, context.ca.der))) {
    return { code: TlsErrorCode.TLS_SELF_SIGNED, message: `certificate for ${serverName} is self-signed, and not a trusted CA` };
  }
  if (!namesServer(leaf, serverName)) {
    return {
      code: TlsErrorCode.TLS_HOSTNAME_MISMATCH,
      message: `the server's certificate is not valid for ${serverName}: it names ${namesOf(leaf)}`,
    };
  }
  const issuer = commonName(leaf.issuer) || "an unnamed CA";
  if (facts.length === 1 && context.ca) {
    let caSubject: Uint8Array | undefined;
    try {
      caSubject = readCertificate(context.ca.der).subject;
    } catch {
      caSubject = undefined;
    }
    if (caSubject !== undefined && equalBytes(caSubject, leaf.issuer)) {
      // ssl_cert.js (SDK 8.2.3) only reports a name match found while walking the chain's
      // links, and a chain of one certificate has none: it is refused even when valid.
      return {
        code: TlsErrorCode.TLS_HANDSHAKE_FAILED,
        message:
          `the server sent its certificate for ${serverName} alone, and Moddable's TLS only accepts a chain: ` +
          `make the server send its certificate followed by its CA's (CN=${issuer}, the device's ${context.ca.name})`,
      };
    }
  }
  const trusted = context.ca ? `the device trusts ${context.ca.name}` : "the device was given no CA and the firmware holds none of the SDK's";
  return {
    code: TlsErrorCode.TLS_UNKNOWN_CA,
    message: `certificate for ${serverName} is signed by an unknown CA (issuer CN=${issuer}; ${trusted})`,
  };
}

/**
 * Moddable's TLS threw "invalid buffer" while checking the chain: ssl_cert.js (SDK 8.2.3)
 * looks the device's CA up by the authorityKeyIdentifier of each issuer in the chain, and
 * fails on one that has none (a root, sent after the server's certificate). Undefined when
 * the chain does not show that.
 */
export function explainMissingAuthorityKey(chain: readonly Uint8Array[] | undefined, serverName: string): TlsFailure | undefined {
  if (chain === undefined) return undefined;
  for (let i = 1; i < chain.length; i++) {
    let facts: CertificateFacts;
    try {
      facts = readCertificate(chain[i]!);
    } catch {
      return undefined;
    }
    if (facts.authorityKeyId === undefined) {
      const cn = commonName(facts.subject);
      return {
        code: TlsErrorCode.TLS_HANDSHAKE_FAILED,
        message:
          `the chain of ${serverName} holds a CA certificate without an authorityKeyIdentifier${cn ? ` (CN=${cn})` : ""}, ` +
          "which Moddable's TLS cannot check: have the server send its certificate and intermediates but not that root, " +
          "or sign with a CA that names its own key (npm run server -- --tls makes one: delete an older .moorline/tls)",
      };
    }
  }
  return undefined;
}

/** Every certificate of the chain, or why one cannot be read. */
function readChain(chain: readonly Uint8Array[], serverName: string): CertificateFacts[] | TlsFailure {
  const facts: CertificateFacts[] = [];
  for (const der of chain) {
    try {
      facts.push(readCertificate(der));
    } catch (error) {
      return {
        code: TlsErrorCode.TLS_HANDSHAKE_FAILED,
        message: `a certificate in the chain of ${serverName} cannot be read (${(error as Error).message})`,
      };
    }
  }
  return facts;
}

/** The first certificate outside its validity dates at `now`, leaf first. */
function datesFailure(facts: readonly CertificateFacts[], serverName: string, now: number): TlsFailure | undefined {
  for (let i = 0; i < facts.length; i++) {
    const cert = facts[i]!;
    if (now < cert.notBefore) {
      return {
        code: TlsErrorCode.TLS_CERT_NOT_YET_VALID,
        message: `${which(i, facts.length, cert, serverName)} is not valid before ${isoTime(cert.notBefore)}${clockNote(now)}`,
      };
    }
    if (now > cert.notAfter) {
      return { code: TlsErrorCode.TLS_CERT_EXPIRED, message: `${which(i, facts.length, cert, serverName)} expired on ${isoTime(cert.notAfter)}` };
    }
  }
  return undefined;
}

/**
 * After Moddable's TLS accepted a chain: are all its certificates within their dates? The SDK
 * (8.2.3) checks the server's own certificate, but not the intermediates it verified it with.
 * A certificate this reader cannot read is left to the SDK's judgement (undefined).
 */
export function chainDates(chain: readonly Uint8Array[], serverName: string, now: number): TlsFailure | undefined {
  const facts = readChain(chain, serverName);
  return Array.isArray(facts) ? datesFailure(facts, serverName, now) : undefined;
}

/** RFC 5246 section 7.2 and RFC 8446 section 6: the alerts a server may refuse a client with. */
const ALERT_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  22: "record_overflow",
  40: "handshake_failure",
  42: "bad_certificate",
  47: "illegal_parameter",
  48: "unknown_ca",
  50: "decode_error",
  51: "decrypt_error",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  86: "inappropriate_fallback",
  109: "missing_extension",
  110: "unsupported_extension",
  112: "unrecognized_name",
  116: "certificate_required",
  120: "no_application_protocol",
});

/** "handshake_failure (40)" */
export function alertName(description: number): string {
  return `${ALERT_NAMES[description] ?? "alert"} (${description})`;
}
