/**
 * The device's build configuration: what `mcconfig ... key=value` (or the manifest's
 * `config` section, or the desktop command line) gives. Values given on the mcconfig command
 * line arrive as strings, so every number is parsed and every value is validated here, once,
 * with an error naming the key: a bad build is reported at boot, not retried forever.
 */
import { checkAuthToken, DEVICE_ID_RULE, isDeviceId, MAX_AUTH_TOKEN_CHARS } from "../auth/credentials.js";
import { DEFAULT_BACKOFF } from "./backoff.js";
import { DEFAULT_HEARTBEAT } from "./heartbeat.js";
import { DEFAULT_STABLE_MS } from "./supervisor-options.js";
import { MAX_LIMIT_BYTES } from "../websocket/constants.js";
import { invalidOption } from "../shared/errors.js";
import { checkInteger, checkString, MAX_TIMEOUT_MS, type Unit } from "../shared/options.js";
import { parseWebSocketUrl } from "../websocket/url.js";
import { checkPrefix, DEFAULT_MQTT_PREFIX } from "../mqtt/topics.js";
import { checkTlsSettings } from "../websocket/tls-options.js";
import { checkNtpServers, DEFAULT_NTP_SERVERS } from "../time/servers.js";
import { DEFAULT_SNTP_INTERVAL_MS, MIN_SNTP_INTERVAL_MS } from "../time/sntp-client.js";
import { DEFAULT_SAFE_MODE_AFTER_BOOTS, MAX_SAFE_MODE_AFTER_BOOTS } from "../health/health.js";
import { CHUNK_HEADER_BYTES } from "../ota/protocol.js";
import { isVersion } from "../ota/manifest.js";
import { decodeBase64 } from "../websocket/base64.js";
import {
  DEFAULT_OUTBOX_FLUSH_MS,
  DEFAULT_OUTBOX_WRITES_PER_HOUR,
  MAX_OUTBOX_FLUSH_MS,
  MAX_OUTBOX_WRITES_PER_HOUR,
  MIN_OUTBOX_FLUSH_MS,
} from "../health/outbox-store.js";

export interface DeviceConfig {
  /** The server, ws:// or wss://. */
  url: string;
  /** Names this device to the server (hello). */
  deviceId: string;
  /** WiFi network from the build; more may be saved in storage. Empty: none. */
  ssid: string;
  password: string;
  /**
   * Sent as "Authorization: Bearer <token>" in the handshake when not empty (RFC 6750
   * b64token syntax); a token stored by provisioning wins over this one
   * (src/auth/credentials.ts).
   */
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
   * Provisioning (src/provisioning): the setup portal's HTTP port on the device's access
   * point; 0: no portal (the device then only joins the networks it knows).
   */
  portalPort: number;
  /** The portal's DNS server port (53 on the chip); 0: none. */
  dnsPort: number;
  /** Every known network failing this long (or none known) opens the portal, ms. */
  portalTimeoutMs: number;
  /** How long a new server URL (or name) may take to get a connection before the old one comes back, ms. */
  serverTrialMs: number;
  /** The access point's WPA2 passphrase (8 to 63 characters); "": an open access point. */
  apPassword: string;
  /** GPIO of the factory-reset button (held at boot, active low); -1: none. */
  factoryResetPin: number;
  /** How long the button must be held, ms. */
  factoryResetHoldMs: number;
  /**
   * The NTP servers, each "host" or "host:port" (port 123 by default), asked in turn;
   * mcconfig passes them comma-separated. Empty: no SNTP (the clock is never trusted, unless
   * the platform keeps it in sync itself).
   */
  ntp: readonly string[];
  /** How often a synced clock asks NTP again, ms. */
  ntpIntervalMs: number;
  /**
   * wss:// waits for a trusted clock (certificate dates cannot be checked before). After this
   * long waiting, it is attempted anyway, with certificate dates checked against the clock's
   * lower bound (build time, or the last time saved); 0 (the default): wait for NTP, however long.
   */
  clockFallbackMs: number;
  /**
   * When the firmware was built, UTC ms: the clock is never set earlier, and an NTP answer
   * more than a day earlier is refused. 0: the date of the source (SOURCE_DATE_MS). The build
   * wrappers leave it 0 (reproducible builds): pass buildTime=<ms> to mcconfig to set it.
   */
  buildTime: number;
  /** Failed boots in a row (no stable connection) after which the device boots in safe mode; 0: never. */
  safeModeAfterBoots: number;
  /** Longest a telemetry record waits before it is written to storage, ms. */
  outboxFlushMs: number;
  /** Storage writes the durable outbox may make per hour, on average (flash wear budget). */
  outboxWritesPerHour: number;
  /** Adds the `fault` request (hang, crash): for trying the watchdog and safe mode. Never in production. */
  faults: boolean;
  /**
   * "websocket" (default): the JSON protocol on a WebSocket to the companion server; "mqtt":
   * the same protocol on an MQTT broker's topics, over the broker's WebSocket listener at
   * `url` (docs/mqtt.md), with `authToken` as the MQTT password.
   */
  transport: "websocket" | "mqtt";
  /** MQTT: the topics' prefix (default "moorline": moorline/<deviceId>/telemetry, ...). */
  mqttPrefix: string;
  /** MQTT: CONNECT's user name; "" (default): the device id, which an ACL's %u matches. */
  mqttUsername: string;
  /**
   * The firmware's version as hello reports it; "" (default): the source's FIRMWARE_VERSION.
   * A build for the ESP32 sets it (firmwareVersion=1.2.0) to match the image it is signed into;
   * the desktop chip sets it to the version of the image it boots.
   */
  firmwareVersion: string;
  /**
   * The owner's update key (src/ota): the raw P-256 public key (65 bytes, 0x04 || x || y) in
   * base64, checked against every offered image's signature. "": no key, every image refused.
   */
  otaPublicKey: string;
  /** Take images older than the running firmware (a deliberate downgrade). */
  otaAllowDowngrade: boolean;
  /** A new image must reach its server (a stable connection) within this, or it is rolled back, ms. */
  otaConfirmMs: number;
  /** Largest chunk of an image the device asks for, bytes (a chunk plus its 8-byte header fits maxMessageBytes). */
  otaChunkBytes: number;
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
  portalPort: 80,
  dnsPort: 53,
  portalTimeoutMs: 120_000,
  serverTrialMs: 30_000,
  apPassword: "",
  factoryResetPin: -1,
  factoryResetHoldMs: 5_000,
  ntp: DEFAULT_NTP_SERVERS,
  ntpIntervalMs: DEFAULT_SNTP_INTERVAL_MS,
  clockFallbackMs: 0,
  buildTime: 0,
  safeModeAfterBoots: DEFAULT_SAFE_MODE_AFTER_BOOTS,
  outboxFlushMs: DEFAULT_OUTBOX_FLUSH_MS,
  outboxWritesPerHour: DEFAULT_OUTBOX_WRITES_PER_HOUR,
  faults: false,
  transport: "websocket",
  mqttPrefix: DEFAULT_MQTT_PREFIX,
  mqttUsername: "",
  firmwareVersion: "",
  otaPublicKey: "",
  otaAllowDowngrade: false,
  otaConfirmMs: 300_000,
  otaChunkBytes: 4096,
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
  portalPort: Object.freeze([0, 65_535, ""] as const),
  dnsPort: Object.freeze([0, 65_535, ""] as const),
  portalTimeoutMs: Object.freeze([1_000, MAX_TIMEOUT_MS, "milliseconds"] as const),
  serverTrialMs: Object.freeze([1_000, MAX_TIMEOUT_MS, "milliseconds"] as const),
  factoryResetHoldMs: Object.freeze([1_000, 60_000, "milliseconds"] as const),
  ntpIntervalMs: Object.freeze([MIN_SNTP_INTERVAL_MS, MAX_TIMEOUT_MS, "milliseconds"] as const),
  clockFallbackMs: Object.freeze([0, MAX_TIMEOUT_MS, "milliseconds"] as const),
  // Up to 9999-12-31 (UTC ms).
  buildTime: Object.freeze([0, 253_402_300_799_999, "milliseconds"] as const),
  safeModeAfterBoots: Object.freeze([0, MAX_SAFE_MODE_AFTER_BOOTS, ""] as const),
  outboxFlushMs: Object.freeze([MIN_OUTBOX_FLUSH_MS, MAX_OUTBOX_FLUSH_MS, "milliseconds"] as const),
  outboxWritesPerHour: Object.freeze([1, MAX_OUTBOX_WRITES_PER_HOUR, "writes"] as const),
  otaConfirmMs: Object.freeze([1_000, MAX_TIMEOUT_MS, "milliseconds"] as const),
  otaChunkBytes: Object.freeze([256, MAX_LIMIT_BYTES, "bytes"] as const),
});

/** The highest GPIO number of the ESP32 family (the S3 has 0..48). */
const MAX_GPIO = 48;

/** Longest server URL accepted, characters (the build config's and a provisioned one). */
export const MAX_URL_CHARS = 512;

/** No firmware of this project was built before this (2020-01-01), UTC ms. */
const EARLIEST_BUILD_TIME = Date.UTC(2020, 0, 1);

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
  if (url !== undefined) config.url = readString("url", url, MAX_URL_CHARS);
  parseWebSocketUrl(config.url); // throws ERR_INVALID_URL naming what is wrong
  const deviceId = given("deviceId");
  if (deviceId !== undefined) {
    if (!isDeviceId(deviceId)) {
      throw invalidOption("config.deviceId", DEVICE_ID_RULE, deviceId);
    }
    config.deviceId = deviceId;
  }
  // 802.11: an SSID is at most 32 bytes, a WPA2 passphrase at most 63 characters (64 hex).
  const ssid = given("ssid");
  if (ssid !== undefined) config.ssid = readString("ssid", ssid, 32);
  const password = given("password");
  if (password !== undefined) config.password = readString("password", password, 64);
  const authToken = given("authToken");
  if (authToken !== undefined) config.authToken = checkAuthToken("config.authToken", readString("authToken", authToken, MAX_AUTH_TOKEN_CHARS));
  readTls(config, given);
  readProvisioning(config, given);
  if (config.buildTime !== 0 && config.buildTime < EARLIEST_BUILD_TIME) {
    // Seconds given for milliseconds, most likely: 10 digits instead of 13.
    throw invalidOption("config.buildTime", "0, or UTC milliseconds since 1970 (13 digits) after 2020", config.buildTime);
  }
  const ntp = given("ntp");
  if (ntp !== undefined) config.ntp = checkNtpServers("config.ntp", ntp);
  const faults = given("faults");
  if (faults !== undefined) config.faults = readBoolean("faults", faults);
  readMqtt(config, given);
  readOta(config, given);
  const improvUrl = given("improvUrl");
  if (improvUrl !== undefined) config.improvUrl = readImprovUrl(improvUrl);
  if (config.backoffBaseMs > config.backoffCapMs) {
    throw invalidOption("config.backoffBaseMs", `at most config.backoffCapMs (${config.backoffCapMs})`, config.backoffBaseMs);
  }
  return config;
}

/** The access point's passphrase and the factory-reset button's pin (integers read above). */
function readProvisioning(config: DeviceConfig, given: (key: keyof DeviceConfig) => unknown): void {
  const apPassword = given("apPassword");
  if (apPassword !== undefined) {
    // WPA2-PSK: a passphrase of 8 to 63 printable ASCII characters (IEEE 802.11i, H.4.1).
    if (typeof apPassword !== "string" || (apPassword !== "" && !/^[\x20-\x7e]{8,63}$/.test(apPassword))) {
      throw invalidOption("config.apPassword", "empty (an open access point) or 8 to 63 printable ASCII characters", "(hidden)");
    }
    config.apPassword = apPassword;
  }
  const pin = given("factoryResetPin");
  if (pin !== undefined && pin !== "" && pin !== -1 && pin !== "-1") {
    const number = typeof pin === "string" && /^[0-9]+$/.test(pin) ? Number(pin) : pin;
    config.factoryResetPin = checkInteger("config.factoryResetPin", number, 0, MAX_GPIO);
  }
}

/** A boolean key: true or false, or "true" or "false" as mcconfig passes them. */
function readBoolean(key: string, value: unknown): boolean {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw invalidOption(`config.${key}`, '"true" or "false"', value);
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

/** The transport and, for MQTT, its prefix and user name. */
function readMqtt(config: DeviceConfig, given: (key: keyof DeviceConfig) => unknown): void {
  const transport = given("transport");
  if (transport !== undefined) {
    if (transport !== "websocket" && transport !== "mqtt") throw invalidOption("config.transport", '"websocket" or "mqtt"', transport);
    config.transport = transport;
  }
  const prefix = given("mqttPrefix");
  if (prefix !== undefined) config.mqttPrefix = checkPrefix("config.mqttPrefix", prefix);
  const username = given("mqttUsername");
  if (username !== undefined) config.mqttUsername = readString("mqttUsername", username, 256);
}

/** Bytes of a raw P-256 public key: 0x04 || x || y (SEC 1 section 2.3.3, uncompressed). */
const OTA_PUBLIC_KEY_BYTES = 65;

/** The firmware's version and the update keys (src/ota). */
function readOta(config: DeviceConfig, given: (key: keyof DeviceConfig) => unknown): void {
  const version = given("firmwareVersion");
  if (version !== undefined && version !== "") {
    if (!isVersion(version)) throw invalidOption("config.firmwareVersion", "a version: dotted numbers, an optional -suffix (1.2.0, 1.2.0-rc.1)", version);
    config.firmwareVersion = version;
  }
  const key = given("otaPublicKey");
  if (key !== undefined && key !== "") {
    const bytes = typeof key === "string" ? decodeBase64(key) : undefined;
    if (bytes === undefined || bytes.length !== OTA_PUBLIC_KEY_BYTES || bytes[0] !== 4) {
      throw invalidOption("config.otaPublicKey", `a raw P-256 public key (${OTA_PUBLIC_KEY_BYTES} bytes, 0x04 || x || y) in base64`, key);
    }
    config.otaPublicKey = key as string;
  }
  const downgrade = given("otaAllowDowngrade");
  if (downgrade !== undefined) config.otaAllowDowngrade = readBoolean("otaAllowDowngrade", downgrade);
  if (config.otaChunkBytes + CHUNK_HEADER_BYTES > config.maxMessageBytes) {
    throw invalidOption("config.otaChunkBytes", `at most config.maxMessageBytes - ${CHUNK_HEADER_BYTES} (${config.maxMessageBytes - CHUNK_HEADER_BYTES})`, config.otaChunkBytes);
  }
}

/** "pin1,pin2" (mcconfig) as a list; ["pin1", "pin2"] (the manifest's JSON) as it is; "" for none. */
function pinList(value: unknown): unknown {
  if (typeof value !== "string") return value;
  return value.trim() === "" ? [] : value.split(",").map((pin) => pin.trim());
}
