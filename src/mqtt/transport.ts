/**
 * The device protocol over MQTT 3.1.1 on WebSocket: the same JSON loop, outbox and
 * supervisor as the plain WebSocket transport, mapped onto a broker's topics
 * (src/mqtt/topics.ts, docs/mqtt.md).
 *
 * The connection supervisor (src/device/supervisor.ts) is used as it is: its client factory
 * makes an MqttConnection instead of a bare WebSocketClient, so reconnects, backoff, the
 * network's ups and downs and the heartbeat (PINGREQ here) are the WebSocket transport's.
 * What this class adds is the session state that outlives a connection (section 4.4) and the
 * routing of the device's messages:
 *
 *   hello      -> <prefix>/<id>/status, QoS 1, retained (with "online": true)
 *   telemetry  -> <prefix>/<id>/telemetry, QoS 1. Its packet identifier comes from the
 *                 record's seq, so a record resent after a reconnect carries its original
 *                 identifier and DUP; its PUBACK reaches the JSON loop as the ack the
 *                 companion server would send ({"type":"ack","boot","seq"}), so the outbox
 *                 (src/device/outbox.ts), its counters and its logs are the same on both.
 *   reply, error message, echo -> <prefix>/<id>/reply, QoS 1; kept until acknowledged and
 *                 resent with DUP on the next connection.
 *   <prefix>/<id>/req (subscribed, QoS 1) -> the JSON loop, as if a server had sent it.
 *   the will, and a clean stop -> <prefix>/<id>/status {"online":false}, retained.
 *
 * Bounded: at most maxInflightTelemetry records and maxInflightReplies replies
 * (maxInflightReplyBytes) in flight; beyond that a record waits in the outbox, a reply is
 * refused (the JSON loop counts it as dropped).
 */
import { ConnectionSupervisor, type SupervisorStats, type SupervisorStateValue } from "../device/supervisor.js";
import { resolveHeartbeat } from "../device/heartbeat.js";
import type { MessageKind } from "../device/app-options.js";
import { invalidArgument } from "../shared/errors.js";
import type { LogLevel, NetHost } from "../shared/host.js";
import { clip } from "../shared/json.js";
import type { WebSocketClientOptions } from "../websocket/client.js";
import { decodeUtf8, encodeUtf8, isValidUtf8 } from "../websocket/utf8.js";
import { MqttConnection, SUBSCRIBE_PACKET_ID } from "./connection.js";
import { checkMqttIdentity, keepAliveFor, resolveMqttLimits, type MqttIdentity, type MqttLimits, type MqttTransportOptions } from "./options.js";
import { MQTT_SUBPROTOCOL } from "./packets.js";
import { deviceTopics, type MqttTopics } from "./topics.js";

export { DEFAULT_MQTT_LIMITS, type MqttLimits, type MqttTransportOptions } from "./options.js";

/**
 * Telemetry's packet identifiers are 1..TELEMETRY_PACKET_IDS, the record's seq folded into
 * that range; replies and status use the identifiers above, up to SUBSCRIBE's.
 */
export const TELEMETRY_PACKET_IDS = 32_768;
const FIRST_OTHER_ID = TELEMETRY_PACKET_IDS + 1;
const LAST_OTHER_ID = SUBSCRIBE_PACKET_ID - 1;

/** The status a device leaves when it goes away: its will, and its clean goodbye. */
export const OFFLINE_STATUS = '{"online":false}';

/** A connection's readyState once it has ended (as a WebSocketClient's). */
const CLOSED = 3;

/** Longest topic put in a log line, characters. */
const MAX_LOG_TOPIC_CHARS = 80;

/** The packet identifier of telemetry record `seq` (1, 2, ... wrapping after TELEMETRY_PACKET_IDS). */
export function telemetryPacketId(seq: number): number {
  return ((seq - 1) % TELEMETRY_PACKET_IDS + TELEMETRY_PACKET_IDS) % TELEMETRY_PACKET_IDS + 1;
}

export interface MqttStats {
  /** QoS 1 publishes awaiting their PUBACK: telemetry, replies (kept across connections). */
  inflightTelemetry: number;
  inflightReplies: number;
  /** Publishes sent again after a reconnect, with DUP (telemetry and replies). */
  resent: number;
  /** PUBLISHes from the broker ignored: not the request topic, or retained. */
  ignored: number;
}

interface RecordId {
  boot: string;
  seq: number;
}

interface HeldReply {
  /** Its UTF-8 (or binary) payload, as published. */
  payload: Uint8Array;
}

export class MqttTransport {
  readonly supervisor: ConnectionSupervisor;
  readonly topics: MqttTopics;
  private readonly host: NetHost;
  private readonly identity: MqttIdentity;
  private readonly limits: MqttLimits;
  private readonly keepAliveSeconds: number;
  /** The connection the supervisor made last, until it ends. */
  private connection: MqttConnection | undefined;
  /** Telemetry published on the current connection, by packet identifier. */
  private readonly telemetry = new Map<number, RecordId>();
  /** The newest telemetry record published so far: an older one published again is a resend (DUP). */
  private newest: RecordId | undefined;
  /** Replies published and not acknowledged, by packet identifier, oldest first: resent on reconnect. */
  private readonly replies = new Map<number, HeldReply>();
  private replyBytes = 0;
  /** Status publishes awaiting their PUBACK on the current connection (superseded, never resent). */
  private readonly statuses = new Set<number>();
  private nextId = FIRST_OTHER_ID;
  private readonly counts = { resent: 0, ignored: 0 };
  /** The host's native UTF-8 encoder, or the portable one: a payload is encoded once. */
  private readonly encode: (text: string) => Uint8Array;

  /** Validates every option (errors name the bad one); connects on supervisor.start(). */
  constructor(options: MqttTransportOptions) {
    this.identity = checkMqttIdentity(options);
    this.limits = resolveMqttLimits(options.limits);
    this.host = options.host;
    const utf8 = options.host.utf8;
    this.encode = utf8 ? (text) => utf8.encode(text) : encodeUtf8;
    this.topics = deviceTopics(this.identity.prefix, this.identity.deviceId);
    this.keepAliveSeconds = keepAliveFor(resolveHeartbeat(options.heartbeat));
    const client = options.client ?? {};
    this.supervisor = new ConnectionSupervisor({
      url: options.url,
      host: options.host,
      client: {
        protocols: [MQTT_SUBPROTOCOL],
        ...(client.limits !== undefined ? { limits: client.limits } : {}),
        ...(client.tls !== undefined ? { tls: client.tls } : {}),
      },
      ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
      ...(options.stableMs !== undefined ? { stableMs: options.stableMs } : {}),
      ...(options.heartbeat !== undefined ? { heartbeat: options.heartbeat } : {}),
      ...(options.networkUp !== undefined ? { networkUp: options.networkUp } : {}),
      createClient: (socket) => this.connect(socket),
      ...(options.onOpen ? { onOpen: options.onOpen } : {}),
      ...(options.onMessage ? { onMessage: options.onMessage } : {}),
      ...(options.onClose ? { onClose: options.onClose } : {}),
      ...(options.onState ? { onState: options.onState } : {}),
    });
  }

  get state(): SupervisorStateValue {
    return this.supervisor.state;
  }

  get stats(): Readonly<SupervisorStats> {
    return this.supervisor.stats;
  }

  get mqttStats(): MqttStats {
    return {
      inflightTelemetry: this.telemetry.size,
      inflightReplies: this.replies.size,
      resent: this.counts.resent,
      ignored: this.counts.ignored,
    };
  }

  start(): void {
    this.supervisor.start();
  }

  stop(onStopped?: () => void): void {
    this.supervisor.stop(onStopped);
  }

  setNetwork(up: boolean): void {
    this.supervisor.setNetwork(up);
  }

  /**
   * Publishes one message of the device protocol on its topic (see the file comment).
   * Returns false, sending nothing, when no session is open, the WebSocket's send buffer is
   * full, or the in-flight bounds are reached: the caller keeps what must be delivered.
   */
  send(data: string | Uint8Array, kind: MessageKind = "reply"): boolean {
    if (typeof data !== "string" && !(data instanceof Uint8Array)) {
      throw invalidArgument(`send() takes a string or a Uint8Array, got ${typeof data}`);
    }
    const connection = this.connection;
    if (!connection || !connection.isOpen) return false;
    if (kind === "telemetry" && typeof data === "string") return this.publishTelemetry(connection, data);
    if (kind === "hello") return this.publishStatus(connection, data);
    return this.publishReply(connection, data);
  }

  // --- what the device publishes ---

  private publishTelemetry(connection: MqttConnection, text: string): boolean {
    const record = recordIdOf(text);
    const packetId = telemetryPacketId(record.seq);
    // Another record with the same identifier is still in flight: this one waits its turn.
    if (this.telemetry.has(packetId) || this.telemetry.size >= this.limits.maxInflightTelemetry) return false;
    const newest = this.newest;
    const dup = newest !== undefined && newest.boot === record.boot && record.seq <= newest.seq;
    if (!connection.publish({ topic: this.topics.telemetry, payload: this.encode(text), qos: 1, retain: false, dup, packetId })) return false;
    this.telemetry.set(packetId, record);
    if (dup) {
      this.counts.resent++;
      this.log("debug", "mqtt_resend", { kind: "telemetry", seq: record.seq, packetId });
    } else {
      this.newest = record;
    }
    return true;
  }

  private publishStatus(connection: MqttConnection, data: string | Uint8Array): boolean {
    const packetId = this.allocateId();
    if (packetId === 0) return false;
    const payload = typeof data === "string" ? this.encode(data) : data;
    if (!connection.publish({ topic: this.topics.status, payload, qos: 1, retain: true, dup: false, packetId })) return false;
    this.statuses.add(packetId);
    return true;
  }

  private publishReply(connection: MqttConnection, data: string | Uint8Array): boolean {
    const held = this.replies.size;
    if (held >= this.limits.maxInflightReplies) return this.replyRefused(held);
    const payload = typeof data === "string" ? this.encode(data) : data.slice();
    if (held > 0 && this.replyBytes + payload.length > this.limits.maxInflightReplyBytes) return this.replyRefused(held);
    const packetId = this.allocateId();
    if (packetId === 0) return false;
    if (!connection.publish({ topic: this.topics.reply, payload, qos: 1, retain: false, dup: false, packetId })) return false;
    this.replies.set(packetId, { payload });
    this.replyBytes += payload.length;
    return true;
  }

  private replyRefused(held: number): false {
    this.log("warn", "mqtt_inflight_full", { kind: "reply", inflight: held, bytes: this.replyBytes });
    return false;
  }

  /** A free identifier for a reply or a status publish; 0 when every one is taken. */
  private allocateId(): number {
    for (let tries = LAST_OTHER_ID - FIRST_OTHER_ID + 1; tries > 0; tries--) {
      const id = this.nextId;
      this.nextId = id === LAST_OTHER_ID ? FIRST_OTHER_ID : id + 1;
      if (!this.replies.has(id) && !this.statuses.has(id)) return id;
    }
    return 0;
  }

  // --- one connection ---

  /** The supervisor's client factory: a new MQTT session over a new WebSocket. */
  private connect(socket: WebSocketClientOptions): MqttConnection {
    const identity = this.identity;
    const connection = new MqttConnection({
      socket,
      connect: {
        clientId: identity.deviceId,
        // A persistent session: the broker keeps the subscription and the requests sent
        // while the device is away (section 3.1.2.4).
        cleanSession: false,
        keepAliveSeconds: this.keepAliveSeconds,
        username: identity.username,
        ...(identity.password !== undefined ? { password: identity.password } : {}),
        will: { topic: this.topics.status, message: OFFLINE_STATUS, qos: 1, retain: true },
      },
      subscription: this.topics.req,
      maxPacketBytes: this.limits.maxPacketBytes,
      connectTimeoutMs: this.limits.connectTimeoutMs,
      goodbye: { topic: this.topics.status, message: OFFLINE_STATUS },
      onSession: (opened) => this.sessionOpened(opened),
      onPublish: (topic, payload, retain) => this.publishArrived(topic, payload, retain),
      onPuback: (packetId) => this.pubackArrived(packetId),
      onEnded: (ended) => {
        if (this.connection === ended) this.connection = undefined;
      },
    });
    // A connection whose host failed inside its constructor has ended already.
    if (connection.readyState !== CLOSED) this.connection = connection;
    return connection;
  }

  /**
   * CONNACK accepted, before the JSON loop hears of it (its hello and telemetry follow):
   * what the last connection left unacknowledged goes again, in order, with DUP
   * (section 4.4). Telemetry comes again from the outbox, with its own identifiers.
   */
  private sessionOpened(connection: MqttConnection): void {
    this.telemetry.clear();
    this.statuses.clear();
    for (const [packetId, reply] of this.replies) {
      if (!connection.publish({ topic: this.topics.reply, payload: reply.payload, qos: 1, retain: false, dup: true, packetId })) break;
      this.counts.resent++;
      this.log("debug", "mqtt_resend", { kind: "reply", packetId });
    }
  }

  // --- what the broker sends ---

  private publishArrived(topic: string, payload: Uint8Array, retain: boolean): string | Uint8Array | undefined {
    if (topic !== this.topics.req) return this.ignore(topic, "not this device's request topic");
    // A retained request would be replayed at every subscription: requests are never retained.
    if (retain) return this.ignore(topic, "a retained request");
    if (!isValidUtf8(payload)) return payload.slice();
    const utf8 = this.host.utf8;
    return utf8 ? utf8.decode(payload) : decodeUtf8(payload);
  }

  private ignore(topic: string, reason: string): undefined {
    this.counts.ignored++;
    this.log("warn", "mqtt_ignored", { topic: clip(topic, MAX_LOG_TOPIC_CHARS), reason });
    return undefined;
  }

  private pubackArrived(packetId: number): string | null | undefined {
    const record = this.telemetry.get(packetId);
    if (record !== undefined) {
      this.telemetry.delete(packetId);
      // The ack the companion server would send for this record (docs/protocol.md).
      return JSON.stringify({ type: "ack", boot: record.boot, seq: record.seq });
    }
    const reply = this.replies.get(packetId);
    if (reply !== undefined) {
      this.replies.delete(packetId);
      this.replyBytes -= reply.payload.length;
      return null;
    }
    return this.statuses.delete(packetId) ? null : undefined;
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.host.log?.(level, event, fields);
  }
}

/**
 * A telemetry record's (boot, seq): read from the record itself, so whatever the outbox
 * holds (records of an earlier boot too) is acknowledged as the record says.
 */
function recordIdOf(text: string): RecordId {
  const record = JSON.parse(text) as { boot?: unknown; seq?: unknown };
  const { boot, seq } = record;
  if (typeof boot !== "string" || typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 1) {
    throw invalidArgument('a telemetry record needs "boot" (a string) and "seq" (an integer >= 1)');
  }
  return { boot, seq };
}
