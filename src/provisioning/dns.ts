/**
 * The captive portal's DNS server: every name resolves to the device's own address, so a
 * phone that joins the access point sends its connectivity check (and any page the user
 * opens) to the portal, and shows the setup page by itself.
 *
 * The message format is RFC 1035 section 4.1. Answers, per query:
 * - one question of class IN (or ANY), type A or ANY: one A record with the device's
 *   address, TTL ttlSeconds (short: once the device is set up and the phone is back on its
 *   own network, a cached answer would send it to an address that is gone);
 * - any other type (AAAA first of all): NOERROR with no answer (RFC 2308 "NODATA"), so the
 *   phone falls back to the A record at once instead of waiting;
 * - an opcode other than QUERY: NOTIMP; a malformed question (no question, several, a
 *   label over 63 bytes, a name over 255, a compression pointer, a cut message): FORMERR;
 *   another class: REFUSED;
 * - a response, or fewer than 12 bytes (no header to answer with): nothing at all, so two
 *   servers can never answer each other forever.
 * Additional records (EDNS's OPT, RFC 6891) are ignored: answers are small and never need more
 * than the classic 512 bytes. Queries are answered at most maxAnswersPerSecond a second;
 * beyond, they are dropped and counted (a flood cannot keep the chip busy).
 */
import type { Log, Timers, UdpSocket, UdpSocketConstructor } from "../shared/host.js";
import { checkInteger } from "../shared/options.js";

/** Bytes of a DNS header (section 4.1.1). */
const HEADER_BYTES = 12;
/** Longest label and name (section 2.3.4). */
const MAX_LABEL_BYTES = 63;
const MAX_NAME_BYTES = 255;
/** Largest message read: the classic UDP limit (section 2.3.4); EDNS is not offered. */
const MAX_MESSAGE_BYTES = 512;

export const DnsType = Object.freeze({ A: 1, AAAA: 28, ANY: 255 } as const);
const CLASS_IN = 1;
const CLASS_ANY = 255;

export const DnsRcode = Object.freeze({ NOERROR: 0, FORMERR: 1, NOTIMP: 4, REFUSED: 5 } as const);

export const DEFAULT_DNS_TTL_SECONDS = 10;
export const DEFAULT_DNS_ANSWERS_PER_SECOND = 50;

/** What a query asked, or why it cannot be answered as asked. */
export type DnsQuery =
  | { kind: "ignore" }
  | { kind: "error"; rcode: number }
  | { kind: "question"; name: string; type: number; klass: number; questionEnd: number };

/** Reads a query (bytes that may be anything). */
export function parseDnsQuery(bytes: Uint8Array): DnsQuery {
  if (bytes.length < HEADER_BYTES || bytes.length > MAX_MESSAGE_BYTES) return { kind: "ignore" };
  const flags = (bytes[2]! << 8) | bytes[3]!;
  if ((flags & 0x8000) !== 0) return { kind: "ignore" }; // QR set: a response
  const opcode = (flags >> 11) & 0x0f;
  if (opcode !== 0) return { kind: "error", rcode: DnsRcode.NOTIMP };
  const questions = (bytes[4]! << 8) | bytes[5]!;
  if (questions !== 1) return { kind: "error", rcode: DnsRcode.FORMERR };
  let at = HEADER_BYTES;
  const labels: string[] = [];
  let nameBytes = 0;
  for (;;) {
    if (at >= bytes.length) return { kind: "error", rcode: DnsRcode.FORMERR };
    const length = bytes[at++]!;
    if (length === 0) break;
    // 0xC0: a compression pointer, which a question's name never needs; 0x40, 0x80: reserved.
    if (length > MAX_LABEL_BYTES) return { kind: "error", rcode: DnsRcode.FORMERR };
    nameBytes += length + 1;
    if (nameBytes + 1 > MAX_NAME_BYTES || at + length > bytes.length) return { kind: "error", rcode: DnsRcode.FORMERR };
    let label = "";
    for (let i = 0; i < length; i++) label += String.fromCharCode(bytes[at + i]!);
    labels.push(label);
    at += length;
  }
  if (at + 4 > bytes.length) return { kind: "error", rcode: DnsRcode.FORMERR };
  const type = (bytes[at]! << 8) | bytes[at + 1]!;
  const klass = (bytes[at + 2]! << 8) | bytes[at + 3]!;
  return { kind: "question", name: labels.join("."), type, klass, questionEnd: at + 4 };
}

/**
 * The answer to `query` (parsed by parseDnsQuery), or undefined when none is due:
 * the header and question echoed, with the flags and records the header comment says.
 */
export function answerDnsQuery(query: Uint8Array, parsed: DnsQuery, address: string, ttlSeconds: number): Uint8Array | undefined {
  if (parsed.kind === "ignore") return undefined;
  // RD is copied (section 4.1.1); AA set: this server is the authority for every name.
  const recursionDesired = query[2]! & 0x01;
  if (parsed.kind === "error") {
    const out = new Uint8Array(HEADER_BYTES);
    out[0] = query[0]!;
    out[1] = query[1]!;
    out[2] = 0x84 | recursionDesired;
    out[3] = parsed.rcode;
    return out;
  }
  const octets = ipv4Octets(address);
  const refused = parsed.klass !== CLASS_IN && parsed.klass !== CLASS_ANY;
  const withAnswer = !refused && octets !== undefined && (parsed.type === DnsType.A || parsed.type === DnsType.ANY);
  const out = new Uint8Array(parsed.questionEnd + (withAnswer ? 16 : 0));
  out.set(query.subarray(0, parsed.questionEnd));
  out[2] = 0x84 | recursionDesired;
  out[3] = refused ? DnsRcode.REFUSED : DnsRcode.NOERROR;
  // One question; one answer or none; no authority, no additional records.
  out[4] = 0;
  out[5] = 1;
  out[6] = 0;
  out[7] = withAnswer ? 1 : 0;
  out.fill(0, 8, HEADER_BYTES);
  if (!withAnswer) return out;
  let at = parsed.questionEnd;
  out[at++] = 0xc0; // the name: a pointer to the question's (section 4.1.4)
  out[at++] = HEADER_BYTES;
  out[at++] = 0;
  out[at++] = DnsType.A;
  out[at++] = 0;
  out[at++] = CLASS_IN;
  out[at++] = (ttlSeconds >>> 24) & 0xff;
  out[at++] = (ttlSeconds >>> 16) & 0xff;
  out[at++] = (ttlSeconds >>> 8) & 0xff;
  out[at++] = ttlSeconds & 0xff;
  out[at++] = 0;
  out[at++] = 4;
  out.set(octets!, at);
  return out;
}

/** The four bytes of a dotted IPv4 address, or undefined for anything else. */
function ipv4Octets(address: string): Uint8Array | undefined {
  const match = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(address);
  if (match === null) return undefined;
  const octets = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const value = Number(match[i + 1]);
    if (value > 255) return undefined;
    octets[i] = value;
  }
  return octets;
}

export interface DnsServerOptions {
  udp: UdpSocketConstructor;
  timers: Timers;
  /** 53 on the chip; any on the desktop. */
  port: number;
  /** Bind address; absent: every interface. */
  address?: string;
  /** The address every name resolves to (the device's, on its access point). */
  answer: () => string | undefined;
  ttlSeconds?: number;
  maxAnswersPerSecond?: number;
  log?: Log;
}

export class DnsServer {
  private readonly options: DnsServerOptions;
  private readonly socket: UdpSocket;
  private readonly ttl: number;
  private readonly maxPerSecond: number;
  private windowStart = -Infinity;
  private windowCount = 0;
  /** Queries answered, and those dropped (over the rate, or not answerable). */
  readonly counts = { answered: 0, dropped: 0 };

  /** Throws what the host's UDP throws when the port cannot be bound. */
  constructor(options: DnsServerOptions) {
    this.options = options;
    this.ttl = checkInteger("ttlSeconds", options.ttlSeconds ?? DEFAULT_DNS_TTL_SECONDS, 0, 86_400);
    this.maxPerSecond = checkInteger("maxAnswersPerSecond", options.maxAnswersPerSecond ?? DEFAULT_DNS_ANSWERS_PER_SECOND, 1, 10_000);
    checkInteger("port", options.port, 1, 65_535);
    this.socket = new options.udp({
      port: options.port,
      ...(options.address !== undefined ? { address: options.address } : {}),
      onMessage: (bytes, address, port) => this.query(bytes, address, port),
      onError: (message) => options.log?.("error", "portal_dns_failed", { error: message ?? "UDP socket failed" }),
    });
  }

  close(): void {
    this.socket.close();
  }

  private query(bytes: Uint8Array, from: string, port: number): void {
    const now = this.options.timers.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    const address = this.options.answer();
    const answer = this.windowCount < this.maxPerSecond && address !== undefined
      ? answerDnsQuery(bytes, parseDnsQuery(bytes), address, this.ttl)
      : undefined;
    if (answer === undefined) {
      this.counts.dropped++;
      return;
    }
    this.windowCount++;
    try {
      this.socket.send(from, port, answer);
      this.counts.answered++;
    } catch (error) {
      this.counts.dropped++;
      this.options.log?.("debug", "portal_dns_send_failed", { error });
    }
  }
}
