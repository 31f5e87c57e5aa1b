/**
 * The one validator of TLS settings (wss://): the CA to trust, the server's public key pins
 * (RFC 7469) and the explicit opt-out of verification. The client's `tls` option (which the
 * supervisor checks up front as `client.tls`) and the build configuration's ca, pins and
 * insecure keys (src/device/config.ts) all go through checkTlsSettings, so one rule and one
 * error apply wherever a setting is given, naming the option as its caller spells it.
 */
import { invalidOption, type WebSocketError } from "../shared/errors.js";
import type { TlsOptions } from "../shared/host.js";
import { checkBoolean, checkKnownKeys, checkObject } from "../shared/options.js";
import type { WebSocketUrl } from "./url.js";

/** The client's `tls` option. The server name (SNI, hostname check) is the URL's host. */
export interface ClientTlsOptions {
  /** PEM text (desktop hosts) or a certificate resource name (Moddable); default: the host's. */
  ca?: string;
  /** base64 SHA-256 digests of the server's SubjectPublicKeyInfo; one must match. */
  pins?: readonly string[];
  /** No certificate verification at all: logged as a warning at every connect. */
  insecure?: boolean;
}

/** A public key pin: a SHA-256 digest in base64, 32 bytes, 44 characters with one "=" of padding. */
export const TLS_PIN = /^[A-Za-z0-9+/]{43}=$/;

/** Most pins accepted: the current key and a few backups (RFC 7469 section 4.3). */
export const MAX_TLS_PINS = 8;

/** Longest CA accepted, characters: a desktop bundle may hold a system's whole trust store (about 200 KB). */
export const MAX_CA_LENGTH = 512 * 1024;

const TLS_KEYS = Object.freeze(["ca", "pins", "insecure"] as const);

/** TLS settings as given, each optional (absent: the host's trust store, no pins, verification on). */
export interface TlsSettings {
  ca?: unknown;
  pins?: unknown;
  insecure?: unknown;
}

/**
 * The client's `tls` option (`name`: "tls", or the supervisor's "client.tls") for `url`:
 * what the host's TLS socket gets, undefined for ws://. Refused for a ws:// URL, where it
 * could do nothing; an object of ca, pins and insecure otherwise (checkTlsSettings).
 */
export function resolveTls(value: unknown, url: WebSocketUrl, name = "tls"): TlsOptions | undefined {
  if (value === undefined) return url.secure ? { serverName: url.host } : undefined;
  if (!url.secure) throw notForWs(name, "an object");
  const given = checkObject(name, value);
  checkKnownKeys(name, given, TLS_KEYS);
  return checkTlsSettings(name, given, url);
}

/**
 * Checks TLS settings given under `prefix` ("tls", "client.tls", "config") for the URL they
 * are for, and returns what the host's TLS socket gets (the server name is the URL's host),
 * or undefined for ws://, where setting any of them is refused. `pinsForm` says how the
 * caller takes a list of pins, for the error ("in a non-empty array", "comma-separated").
 */
export function checkTlsSettings(
  prefix: string,
  given: TlsSettings,
  url: WebSocketUrl,
  pinsForm = "in a non-empty array",
): TlsOptions | undefined {
  const tls: TlsOptions = { serverName: url.host };
  if (given.ca !== undefined) tls.ca = checkCa(`${prefix}.ca`, given.ca);
  if (given.pins !== undefined) tls.pins = checkPins(`${prefix}.pins`, given.pins, pinsForm);
  if (given.insecure !== undefined) {
    tls.insecure = checkBoolean(`${prefix}.insecure`, given.insecure);
    if (tls.insecure && tls.pins) {
      throw invalidOption(`${prefix}.insecure`, `false when ${prefix}.pins are given (a pin is a check)`, true);
    }
  }
  if (url.secure) return tls;
  const set = tls.ca !== undefined ? "ca" : tls.pins ? "pins" : tls.insecure ? "insecure" : undefined;
  // The CA is never quoted: PEM text is long.
  if (set !== undefined) throw notForWs(`${prefix}.${set}`, set === "ca" ? "a CA" : set === "pins" ? "pins" : true);
  return undefined;
}

/** `value` as a CA: PEM text or a resource name, never empty, at most MAX_CA_LENGTH characters. */
export function checkCa(name: string, value: unknown): string {
  if (typeof value !== "string" || value === "" || value.length > MAX_CA_LENGTH) {
    // PEM text is long: name the problem, never quote it.
    const shown = typeof value === "string" ? `${value.length} characters` : value;
    throw invalidOption(name, `PEM text or a resource name, not empty and at most ${MAX_CA_LENGTH} characters`, shown);
  }
  return value;
}

/** `value` as 1 to MAX_TLS_PINS pins, each a base64 SHA-256 digest (TLS_PIN). */
export function checkPins(name: string, value: unknown, form = "in a non-empty array"): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_TLS_PINS) {
    throw invalidOption(name, `up to ${MAX_TLS_PINS} pins, ${form}`, value);
  }
  for (const pin of value) {
    if (typeof pin !== "string" || !TLS_PIN.test(pin)) {
      throw invalidOption(name, "base64 SHA-256 digests (44 characters ending in =)", pin);
    }
  }
  return value as string[];
}

function notForWs(name: string, shown: unknown): WebSocketError {
  return invalidOption(name, "absent for a ws:// URL (TLS settings need a wss:// url)", shown);
}
