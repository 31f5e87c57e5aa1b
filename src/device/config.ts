/**
 * The device's build configuration: what `mcconfig ... key=value` (or the manifest's
 * `config` section, or the desktop command line) gives. Values given on the mcconfig command
 * line arrive as strings, so every number is parsed and every value is validated here, once,
 * with an error naming the key: a bad build is reported at boot, not retried forever.
 */
import { DEFAULT_BACKOFF } from "./backoff.js";
import { DEFAULT_HEARTBEAT } from "./heartbeat.js";
import { DEFAULT_STABLE_MS } from "./supervisor-options.js";
import { MAX_LIMIT_BYTES } from "../websocket/constants.js";
import { invalidOption } from "../shared/errors.js";
import { checkInteger, checkString, MAX_TIMEOUT_MS, type Unit } from "../shared/options.js";
import { parseWebSocketUrl } from "../websocket/url.js";
import { checkTlsSettings } from "../websocket/tls-options.js";

export interface DeviceConfig {
  /** The server, ws:// or wss://. */
  url: string;
  /** Names this device to the server (hello). */
  deviceId: string;
  /** WiFi network from the build; more may be saved in storage. Empty: none. */
  ssid: string;
  password: string;
  /** Sent as "Authorization: Bearer <token>" in the handshake when not empty. */
  authToken: string;
  /** Initial telemetry interval (a setting the server can change), ms. */
  telemetryIntervalMs: number;
  /** Heartbeat: ping after this much silence, ms; 0 turns liveness checks off. */
  heartbeatIntervalMs: number;
  /** Heartbeat: the connection is dead when nothing arrives this long after a ping, ms. */
  heartbeatTimeoutMs: number;
  /** Reconnect backoff (full jitter) bounds, ms. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** A connection that stays up this long resets the backoff, ms. */
  stableMs: number;
  /** Largest message accepted from the server, bytes. */
  maxMessageBytes: number;
  /**
   * wss:// only: the CA the server's certificate must chain to: PEM text on the desktop
   * hosts (the device CLI's --ca FILE reads it), the name of a certificate resource on
   * Moddable. Empty: the host's default trust store.
   */
  ca: string;
  /**
   * wss:// only: base64 SHA-256 digests of the server's SubjectPublicKeyInfo; when given,
   * the server's key must be one of them. mcconfig passes them comma-separated.
   */
  pins: readonly string[];
  /** wss:// only: no certificate verification at all (logged as a warning at every connect). */
  insecure: boolean;
  /**
   * Improv over serial: where a browser that provisioned the device sends the user once it
   * is online (ESP Web Tools' "Visit device"); "{address}" becomes the device's IP address.
   * Empty: none.
   */
  improvUrl: string;
}

export const DEFAULT_DEVICE_CONFIG: Readonly<DeviceConfig> = Object.freeze({
  url: "ws://127.0.0.1:8080/",
  deviceId: "device",
  ssid: "",
  password: "",
  authToken: "",
  telemetryIntervalMs: 10_000,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT.intervalMs,
  heartbeatTimeoutMs: DEFAULT_HEARTBEAT.timeoutMs,
  backoffBaseMs: DEFAULT_BACKOFF.baseMs,
  backoffCapMs: DEFAULT_BACKOFF.capMs,
  stableMs: DEFAULT_STABLE_MS,
  maxMessageBytes: 16 * 1024,
  ca: "",
  pins: Object.freeze([]),
  insecure: false,
  improvUrl: "",
});

/** Integer keys: [smallest, largest, unit]. */
const INTEGERS: Readonly<Record<string, readonly [number, number, Unit]>> = Object.freeze({
  telemetryIntervalMs: Object.freeze([1_000, MAX_TIMEOUT_MS, "milliseconds"] as const),
  heartbeatIntervalMs: Object.freeze([0, MAX_TIMEOUT_MS, "milliseconds"] as const),
  heartbeatTimeoutMs: Object.freeze([1, MAX_TIMEOUT_MS, "milliseconds"] as const),
  backoffBaseMs: Object.freeze([1, MAX_TIMEOUT_MS, "milliseconds"] as const),
  backoffCapMs: Object.freeze([1, MAX_TIMEOUT_MS, "milliseconds"] as const),
  stableMs: Object.freeze([0, MAX_TIMEOUT_MS, "milliseconds"] as const),
  maxMessageBytes: Object.freeze([125, MAX_LIMIT_BYTES, "bytes"] as const),
});

/** A device id: what a server logs and keys on; printable ASCII without spaces. */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** An integer key: mcconfig passes "5000", so a plain decimal string is read as its number first. */
function readInteger(key: string, value: unknown): number {
  const [min, max, unit] = INTEGERS[key]!;
  // Plain decimal strings only: "5e3", " 5", "0x10" are typos, reported as given.
  const number = typeof value === "string" && /^[0-9]+$/.test(value) ? Number(value) : value;
  return checkInteger(`config.${key}`, number, min, max, unit);
}

function readString(key: string, value: unknown, maxLength: number): string {
  return checkString(`config.${key}`, value, maxLength, key === "password" || key === "authToken");
}

/**
 * Merges `raw` over DEFAULT_DEVICE_CONFIG and validates it. Keys it does not know are
 * ignored (the Moddable config object holds the SDK's own keys too). Secrets never appear in
 * the errors.
 */
export function parseDeviceConfig(raw: Readonly<Record<string, unknown>>): DeviceConfig {
  const config: DeviceConfig = { ...DEFAULT_DEVICE_CONFIG };
  const given = (key: keyof DeviceConfig): unknown => {
    const value = raw[key];
    return value === undefined || value === null ? undefined : value;
  };
  for (const key of Object.keys(INTEGERS) as Array<keyof DeviceConfig>) {
    const value = given(key);
    if (value !== undefined) (config as unknown as Record<string, number>)[key] = readInteger(key, value);
  }
  const url = given("url");
  if (url !== undefined) config.url = readString("url", url, 512);
  parseWebSocketUrl(config.url); // throws ERR_INVALID_URL naming what is wrong
  const deviceId = given("deviceId");
  if (deviceId !== undefined) {
    if (typeof deviceId !== "string" || !DEVICE_ID.test(deviceId)) {
      throw invalidOption("config.deviceId", "1 to 64 letters, digits or ._:-", deviceId);
    }
    config.deviceId = deviceId;
  }
  // 802.11: an SSID is at most 32 bytes, a WPA2 passphrase at most 63 characters (64 hex).
  const ssid = given("ssid");
  if (ssid !== undefined) config.ssid = readString("ssid", ssid, 32);
  const password = given("password");
  if (password !== undefined) config.password = readString("password", password, 64);
  const authToken = given("authToken");
  if (authToken !== undefined) config.authToken = readString("authToken", authToken, 1024);
  readTls(config, given);
  const improvUrl = given("improvUrl");
  if (improvUrl !== undefined) config.improvUrl = readImprovUrl(improvUrl);
  if (config.backoffBaseMs > config.backoffCapMs) {
    throw invalidOption("config.backoffBaseMs", `at most config.backoffCapMs (${config.backoffCapMs})`, config.backoffBaseMs);
  }
  return config;
}

/** Longest Improv redirect URL, characters: it travels in one Improv packet (at most 253 bytes). */
export const MAX_IMPROV_URL_CHARS = 200;

/**
 * The Improv redirect URL: "" or an http(s) URL a browser can open, in printable ASCII (as a
 * URL is, once percent-encoded), so that with "{address}" expanded it still fits the packet.
 */
function readImprovUrl(value: unknown): string {
  const url = checkString("config.improvUrl", value, MAX_IMPROV_URL_CHARS);
  if (url !== "" && !/^https?:\/\/[\x21-\x7e]+$/.test(url)) {
    throw invalidOption("config.improvUrl", 'an http:// or https:// URL in printable ASCII without spaces, or ""', url);
  }
  return url;
}

/**
 * The TLS keys, read from what mcconfig passes (strings) and checked by the client's TLS
 * validator (src/websocket/tls-options.ts), which refuses them for a ws:// URL, where they
 * could do nothing. "" (ca, pins) and false (insecure) are the defaults: not settings.
 */
function readTls(config: DeviceConfig, given: (key: keyof DeviceConfig) => unknown): void {
  const ca = given("ca");
  const pins = pinList(given("pins"));
  const insecure = given("insecure");
  if (insecure !== undefined && insecure !== true && insecure !== false && insecure !== "true" && insecure !== "false") {
    throw invalidOption("config.insecure", '"true" or "false"', insecure);
  }
  const tls = checkTlsSettings(
    "config",
    {
      ...(ca !== undefined && ca !== "" ? { ca } : {}),
      ...(pins !== undefined && !(Array.isArray(pins) && pins.length === 0) ? { pins } : {}),
      ...(insecure === true || insecure === "true" ? { insecure: true } : {}),
    },
    parseWebSocketUrl(config.url),
    "comma-separated",
  );
  if (tls?.ca !== undefined) config.ca = tls.ca;
  if (tls?.pins !== undefined) config.pins = tls.pins;
  if (tls?.insecure !== undefined) config.insecure = tls.insecure;
}

/** "pin1,pin2" (mcconfig) as a list; ["pin1", "pin2"] (the manifest's JSON) as it is; "" for none. */
function pinList(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return value.trim() === "" ? [] : value.split(",").map((pin) => pin.trim());
}
