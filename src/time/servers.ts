/**
 * The NTP servers a device asks, as the build config's `ntp` key gives them: a
 * comma-separated list of `host[:port]` (mcconfig passes strings), or a list (the desktop's
 * repeatable --ntp). Validated once, at boot, with an error naming the key and the entry.
 */
import { invalidOption } from "../shared/errors.js";
import { NTP_PORT } from "./ntp-packet.js";

/** One server: a host name or IPv4 literal, and its UDP port. */
export interface NtpServer {
  host: string;
  port: number;
  /** "host:port", for log lines and status. */
  label: string;
}

/**
 * The default: the NTP Pool's public servers (pool.ntp.org). Three names, each resolving to
 * a different server of the pool, so one dead server costs one timeout, not the sync.
 */
export const DEFAULT_NTP_SERVERS: readonly string[] = Object.freeze(["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"]);

/** Most servers a device keeps: each costs a few bytes and, when dead, a timeout per round. */
export const MAX_NTP_SERVERS = 8;

/** A DNS name (RFC 1035: at most 253 characters, labels of letters, digits and hyphens). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const DIGITS_AND_DOTS = /^[0-9.]+$/;
const IPV4 = /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

/**
 * The entries of `value` ("a.example,b.example:1123" or ["a.example", ...]), trimmed and
 * checked; "" or [] is an empty list (no NTP). Throws ERR_INVALID_OPTION naming `name`.
 */
export function checkNtpServers(name: string, value: unknown): readonly string[] {
  let entries: unknown[];
  if (typeof value === "string") entries = value.trim() === "" ? [] : value.split(",");
  else if (Array.isArray(value)) entries = value;
  else throw invalidOption(name, 'a comma-separated list of host[:port] ("pool.ntp.org,192.168.1.1:123")', value);
  if (entries.length > MAX_NTP_SERVERS) {
    throw invalidOption(name, `at most ${MAX_NTP_SERVERS} servers`, `${entries.length} servers`);
  }
  const servers: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== "string") throw invalidOption(name, "host[:port] strings", entry);
    const text = entry.trim();
    parseNtpServer(name, text);
    servers.push(text);
  }
  return Object.freeze(servers);
}

/** One `host[:port]` entry; throws ERR_INVALID_OPTION naming `name` and saying what is wrong. */
export function parseNtpServer(name: string, text: string): NtpServer {
  if (text.indexOf("[") >= 0 || text.split(":").length > 2) {
    throw invalidOption(name, "host[:port] with a host name or an IPv4 address (IPv6 is not supported)", text);
  }
  const colon = text.indexOf(":");
  const host = (colon < 0 ? text : text.slice(0, colon)).toLowerCase();
  let port = NTP_PORT;
  if (colon >= 0) {
    const portText = text.slice(colon + 1);
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 1 && port <= 65535)) throw invalidOption(name, `host[:port] with a port from 1 to 65535`, text);
  }
  if (host === "" || !HOST_NAME.test(host) || (DIGITS_AND_DOTS.test(host) && !IPV4.test(host))) {
    throw invalidOption(name, "host[:port] with a host name or an IPv4 address", text);
  }
  return { host, port, label: `${host}:${port}` };
}
