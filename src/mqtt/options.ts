/**
 * The MQTT transport's options (src/mqtt/transport.ts), their defaults and their validation
 * up front, with errors naming the bad value (src/shared/options.ts).
 */
import type { HeartbeatOptions } from "../device/heartbeat.js";
import type { BackoffPolicy } from "../device/backoff.js";
import type { SupervisedClientOptions, SupervisorOptions } from "../device/supervisor-options.js";
import { invalidOption } from "../shared/errors.js";
import type { NetHost } from "../shared/host.js";
import { checkKnownKeys, checkObject, checkString, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";
import { MAX_LIMIT_BYTES } from "../websocket/constants.js";
import { MAX_KEEP_ALIVE_SECONDS, MAX_REMAINING_LENGTH, MAX_STRING_BYTES } from "./packets.js";
import { checkPrefix, DEFAULT_MQTT_PREFIX } from "./topics.js";

export interface MqttLimits {
  /** Largest packet accepted from the broker (its Remaining Length), bytes. */
  maxPacketBytes: number;
  /** From the WebSocket's opening to the broker's CONNACK, ms. */
  connectTimeoutMs: number;
  /**
   * Telemetry records published and not yet acknowledged (PUBACK), at most. More wait in the
   * outbox for the next flush. Default: the outbox's default size, so a full outbox goes out
   * at once after a reconnect.
   */
  maxInflightTelemetry: number;
  /** Replies (and error messages) published and not yet acknowledged, at most; more are dropped. */
  maxInflightReplies: number;
  /**
   * UTF-8 bytes of those replies, at most: they are kept until acknowledged, to be resent
   * after a reconnect (section 4.4). One reply is always let through when none is held.
   */
  maxInflightReplyBytes: number;
}

export const DEFAULT_MQTT_LIMITS: Readonly<MqttLimits> = Object.freeze({
  maxPacketBytes: 16 * 1024,
  connectTimeoutMs: 10_000,
  maxInflightTelemetry: 64,
  maxInflightReplies: 8,
  maxInflightReplyBytes: 16 * 1024,
});

/** Most QoS 1 publishes of one kind that may be allowed in flight: packet identifiers are 16 bits. */
const MAX_INFLIGHT = 16_384;

export interface MqttTransportOptions {
  /** The broker's ws:// or wss:// URL (mosquitto: its `protocol websockets` listener). */
  url: string;
  host: NetHost;
  /** The WebSocket's limits and TLS (everything wss:// verifies applies). */
  client?: Pick<SupervisedClientOptions, "limits" | "tls">;
  backoff?: Partial<BackoffPolicy>;
  stableMs?: number;
  /**
   * The supervisor's heartbeat, sent as PINGREQ; CONNECT's keep alive is
   * ceil((intervalMs + timeoutMs) / 1000) s, so the broker, which waits 1.5 times that,
   * hears from the device well within it. false: no pings, keep alive 0.
   */
  heartbeat?: Partial<HeartbeatOptions> | false;
  networkUp?: boolean;
  /** The client identifier, and the `<deviceId>` of the topics. */
  deviceId: string;
  /** CONNECT's user name (default: deviceId, which the ACL pattern's %u matches). */
  username?: string;
  /** CONNECT's password (the device's token); "" or absent: none. Never logged. */
  password?: string;
  /** Topic prefix (default "moorline"). */
  prefix?: string;
  limits?: Partial<MqttLimits>;
  /** The supervisor's callbacks: the session opened, a message for the JSON loop, the session ended. */
  onOpen?: SupervisorOptions["onOpen"];
  onMessage?: SupervisorOptions["onMessage"];
  onClose?: SupervisorOptions["onClose"];
  onState?: SupervisorOptions["onState"];
}

const LIMIT_NAMES = Object.freeze(Object.keys(DEFAULT_MQTT_LIMITS));

/** The MQTT limits: `partial` merged over DEFAULT_MQTT_LIMITS, each value checked. */
export function resolveMqttLimits(partial: unknown): MqttLimits {
  if (partial === undefined) return { ...DEFAULT_MQTT_LIMITS };
  const given = checkObject("mqtt.limits", partial);
  checkKnownKeys("mqtt.limits", given, LIMIT_NAMES);
  const d = DEFAULT_MQTT_LIMITS;
  return {
    maxPacketBytes: optionalInteger("mqtt.limits.maxPacketBytes", given.maxPacketBytes, d.maxPacketBytes, 64, Math.min(MAX_LIMIT_BYTES, MAX_REMAINING_LENGTH), "bytes"),
    connectTimeoutMs: optionalInteger("mqtt.limits.connectTimeoutMs", given.connectTimeoutMs, d.connectTimeoutMs, 1, MAX_TIMEOUT_MS, "milliseconds"),
    maxInflightTelemetry: optionalInteger("mqtt.limits.maxInflightTelemetry", given.maxInflightTelemetry, d.maxInflightTelemetry, 1, MAX_INFLIGHT, "messages"),
    maxInflightReplies: optionalInteger("mqtt.limits.maxInflightReplies", given.maxInflightReplies, d.maxInflightReplies, 1, MAX_INFLIGHT, "messages"),
    maxInflightReplyBytes: optionalInteger("mqtt.limits.maxInflightReplyBytes", given.maxInflightReplyBytes, d.maxInflightReplyBytes, 1, MAX_LIMIT_BYTES, "bytes"),
  };
}

/** The session's identity, checked: client id, credentials, prefix. */
export interface MqttIdentity {
  deviceId: string;
  username: string;
  password: string | undefined;
  prefix: string;
}

export function checkMqttIdentity(options: MqttTransportOptions): MqttIdentity {
  const deviceId = checkString("deviceId", options.deviceId, 64);
  if (deviceId === "") throw invalidOption("deviceId", "a string of 1 to 64 characters", deviceId);
  const username = options.username === undefined || options.username === "" ? deviceId : checkString("username", options.username, 256);
  const password = options.password === undefined || options.password === "" ? undefined : checkString("password", options.password, MAX_STRING_BYTES / 4, true);
  const prefix = options.prefix === undefined ? DEFAULT_MQTT_PREFIX : checkPrefix("prefix", options.prefix);
  return { deviceId, username, password, prefix };
}

/** CONNECT's keep alive for a heartbeat, seconds (see MqttTransportOptions.heartbeat). */
export function keepAliveFor(heartbeat: Readonly<HeartbeatOptions> | undefined): number {
  if (!heartbeat) return 0;
  return Math.min(MAX_KEEP_ALIVE_SECONDS, Math.ceil((heartbeat.intervalMs + heartbeat.timeoutMs) / 1000));
}
