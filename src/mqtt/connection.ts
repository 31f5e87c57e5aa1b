/**
 * One MQTT 3.1.1 session over one WebSocket connection (section 6: subprotocol `mqtt`,
 * packets in binary messages): CONNECT when the WebSocket opens, CONNACK within
 * connectTimeoutMs, one SUBSCRIBE, then PUBLISH/PUBACK both ways and PINGREQ/PINGRESP.
 *
 * It has the shape of a WebSocketClient as the connection supervisor (src/device/supervisor.ts)
 * sees one (ClientLike), so the supervisor's reconnects, backoff, network handling and
 * heartbeat serve MQTT unchanged:
 *   - onOpen is called when the broker accepted the session (CONNACK 0), not at the WebSocket's
 *     opening; a refusal ends the connection with ERR_UNAUTHORIZED (CONNACK 4 or 5) or
 *     ERR_MQTT_REFUSED, and the supervisor backs off;
 *   - ping() sends a PINGREQ and the PINGRESP comes back as onPong with the ping's payload,
 *     so the heartbeat's pings are MQTT's keep alive (section 3.1.2.10);
 *   - onMessage gets what the transport (src/mqtt/transport.ts) makes of the broker's
 *     PUBLISHes and PUBACKs: requests, and the acks of telemetry;
 *   - close() says goodbye the MQTT way (an offline status, then DISCONNECT, which tells the
 *     broker not to publish the will) before closing the WebSocket.
 * Anything malformed or unexpected from the broker (src/mqtt/parser.ts), a text message, or
 * a missing `mqtt` subprotocol fails the session: the WebSocket is closed with 1002 (1009 for
 * an oversized packet) and onClose reports the MQTT error.
 *
 * What outlives a connection (packet identifiers in flight, publishes to resend) is the
 * transport's; this class knows one connection.
 */
import { ErrorCode, WebSocketError, invalidState, mqttError } from "../shared/errors.js";
import type { LogLevel, TimerId } from "../shared/host.js";
import { WebSocketClient, type CloseEvent, type WebSocketClientOptions } from "../websocket/client.js";
import { CloseCode } from "../websocket/constants.js";
import {
  encodeConnect,
  encodeDisconnect,
  encodePingreq,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  type ConnectFields,
  type PublishFields,
} from "./encoder.js";
import { CONNACK_MEANINGS, ConnackCode, MAX_PACKET_ID, MQTT_SUBPROTOCOL, SUBACK_FAILURE } from "./packets.js";
import { PacketParser } from "./parser.js";

/** SUBSCRIBE's packet identifier: one per connection, never one a PUBLISH uses (src/mqtt/transport.ts). */
export const SUBSCRIBE_PACKET_ID = MAX_PACKET_ID;

/** The connection's states, as a WebSocketClient's readyState numbers them. */
const Phase = Object.freeze({
  /** The WebSocket is opening, or CONNECT is waiting for its CONNACK. */
  CONNECTING: 0,
  /** The broker accepted the session. */
  OPEN: 1,
  /** close() or a failure: the WebSocket is closing. */
  CLOSING: 2,
  CLOSED: 3,
} as const);
type PhaseValue = (typeof Phase)[keyof typeof Phase];

/** What the transport gives each connection. */
export interface MqttConnectionOptions {
  /**
   * The supervisor's client options: url, host, limits and tls for the WebSocket (whose
   * `protocols` become ["mqtt"]), and the callbacks this connection reports to.
   */
  socket: WebSocketClientOptions;
  /** CONNECT's fields (client id, credentials, keep alive, will). */
  connect: ConnectFields;
  /** The topic filter subscribed to at QoS 1 once the session is open. */
  subscription: string;
  /** Largest packet accepted from the broker (Remaining Length), bytes. */
  maxPacketBytes: number;
  /** From the WebSocket's opening to the CONNACK, ms. */
  connectTimeoutMs: number;
  /** Published (retained, QoS 0) by close() before DISCONNECT: the status a clean goodbye leaves. */
  goodbye?: { topic: string; message: string };
  /** The session is open (CONNACK 0): called before the supervisor's onOpen. */
  onSession(connection: MqttConnection, sessionPresent: boolean): void;
  /**
   * A PUBLISH from the broker: what to hand the supervisor's onMessage, or undefined for
   * nothing. A QoS 1 PUBLISH is acknowledged after this returns.
   */
  onPublish(topic: string, payload: Uint8Array, retain: boolean): string | Uint8Array | undefined;
  /**
   * A PUBACK: what to hand onMessage (a telemetry record's ack), null for nothing, or
   * undefined when no PUBLISH with that identifier is in flight (the broker broke the rules).
   */
  onPuback(packetId: number): string | null | undefined;
  /** The connection ended (after the supervisor's onClose). */
  onEnded(connection: MqttConnection): void;
}

const EMPTY = new Uint8Array(0);

export class MqttConnection {
  private readonly options: MqttConnectionOptions;
  private readonly upper: WebSocketClientOptions;
  private readonly socket: WebSocketClient;
  private readonly parser: PacketParser;
  private phase: PhaseValue = Phase.CONNECTING;
  private connectTimer: TimerId | undefined;
  /** The MQTT failure that is closing the connection, reported in onClose. */
  private failure: WebSocketError | undefined;
  private subscribed = false;
  /** PINGREQs sent and not answered, and the payload of the last one (for onPong). */
  private pingsOut = 0;
  private pingPayload: Uint8Array = EMPTY;

  /** Starts connecting at once; throws what WebSocketClient's constructor throws. */
  constructor(options: MqttConnectionOptions) {
    this.options = options;
    this.upper = options.socket;
    this.parser = new PacketParser(
      {
        onConnack: (sessionPresent, code) => this.connack(sessionPresent, code),
        onPublish: (topic, payload, qos, packetId, _dup, retain) => this.publishArrived(topic, payload, qos, packetId, retain),
        onPuback: (packetId) => this.pubackArrived(packetId),
        onSuback: (packetId, codes) => this.subackArrived(packetId, codes),
        onPingresp: () => this.pingrespArrived(),
        onError: (error) => this.fail(error),
      },
      options.maxPacketBytes,
    );
    this.socket = new WebSocketClient({
      url: this.upper.url,
      host: this.upper.host,
      protocols: [MQTT_SUBPROTOCOL],
      ...(this.upper.headers !== undefined ? { headers: this.upper.headers } : {}),
      ...(this.upper.limits !== undefined ? { limits: this.upper.limits } : {}),
      ...(this.upper.tls !== undefined ? { tls: this.upper.tls } : {}),
      onOpen: (protocol) => this.socketOpened(protocol),
      onMessage: (data) => this.socketMessage(data),
      onPing: (payload) => this.upper.onPing?.(payload),
      onClose: (event) => this.socketClosed(event),
    });
  }

  /** 0 connecting (until CONNACK), 1 open, 2 closing, 3 closed: a WebSocketClient's numbers. */
  get readyState(): PhaseValue {
    return this.phase;
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** Whether publish() can send now. */
  get isOpen(): boolean {
    return this.phase === Phase.OPEN;
  }

  /**
   * Sends a PUBLISH. Returns false (and sends nothing) when the session is not open or the
   * WebSocket's send buffer is full.
   */
  publish(fields: PublishFields): boolean {
    return this.isOpen && this.write(encodePublish(fields));
  }

  /** The supervisor's send(): everything this transport sends is a publish() with a topic. */
  send(_data: string | Uint8Array): void {
    throw invalidState("an MQTT connection sends with publish(); send() has no topic");
  }

  /** A PINGREQ (section 3.12); its PINGRESP comes back as onPong(payload). */
  ping(payload: Uint8Array = EMPTY): void {
    if (!this.isOpen) throw invalidState("ping() needs an open MQTT session");
    this.socket.send(encodePingreq());
    this.pingsOut++;
    this.pingPayload = payload;
  }

  /**
   * Ends the session cleanly: the goodbye status and DISCONNECT (so the broker discards the
   * will, section 3.14.4), then the WebSocket's close with `code`. Before the CONNACK it
   * abandons the attempt; closing or closed, it does nothing.
   */
  close(code: number = CloseCode.NORMAL, reason = ""): void {
    if (this.phase === Phase.OPEN) {
      const goodbye = this.options.goodbye;
      if (goodbye) {
        this.write(encodePublish({ topic: goodbye.topic, payload: goodbye.message, qos: 0, retain: true, dup: false, packetId: 0 }));
      }
      this.write(encodeDisconnect());
    }
    if (this.phase === Phase.CLOSED || this.phase === Phase.CLOSING) return;
    this.closing();
    this.socket.close(code, reason);
  }

  /** Drops the connection at once (the supervisor's dead peer or network loss). */
  terminate(error?: WebSocketError): void {
    this.closing();
    this.socket.terminate(error);
  }

  // --- the WebSocket's events ---

  private socketOpened(protocol: string): void {
    // Section 6: the broker selects "mqtt"; a server that selects nothing is no MQTT broker.
    if (protocol !== MQTT_SUBPROTOCOL) {
      this.fail(
        mqttError(
          ErrorCode.MQTT_SUBPROTOCOL,
          `${this.upper.url} did not select the WebSocket subprotocol "mqtt"${protocol ? ` (it chose "${protocol}")` : ""}: is it an MQTT broker?`,
        ),
      );
      return;
    }
    const host = this.upper.host;
    this.connectTimer = host.timers.set(() => this.connectTimedOut(), this.options.connectTimeoutMs);
    this.write(encodeConnect(this.options.connect));
    this.log("debug", "mqtt_connect", {
      clientId: this.options.connect.clientId,
      keepAliveSeconds: this.options.connect.keepAliveSeconds,
      cleanSession: this.options.connect.cleanSession,
    });
  }

  private socketMessage(data: string | Uint8Array): void {
    if (this.phase === Phase.CLOSING || this.phase === Phase.CLOSED) return;
    if (typeof data === "string") {
      this.fail(mqttError(ErrorCode.MQTT_MALFORMED, "malformed packet from the broker: a text WebSocket message (MQTT packets travel in binary messages, section 6)"));
      return;
    }
    this.parser.push(data);
  }

  private socketClosed(event: CloseEvent): void {
    const wasOpen = this.phase === Phase.OPEN || this.failure !== undefined;
    this.phase = Phase.CLOSED;
    this.clearConnectTimer();
    this.parser.stop();
    const failure = this.failure;
    const reported: CloseEvent = failure
      ? { code: event.code, reason: failure.message, wasClean: false, unsentBytes: event.unsentBytes, error: failure }
      : event;
    if (wasOpen) this.log("debug", "mqtt_closed", { code: reported.code, ...(failure ? { error: failure.code } : {}) });
    try {
      this.upper.onClose?.(reported);
    } finally {
      this.options.onEnded(this);
    }
  }

  // --- the broker's packets ---

  private connack(sessionPresent: boolean, code: number): void {
    this.clearConnectTimer();
    if (code !== ConnackCode.ACCEPTED) {
      const meaning = CONNACK_MEANINGS[code]!;
      const credentials = code === ConnackCode.BAD_USERNAME_OR_PASSWORD || code === ConnackCode.NOT_AUTHORIZED;
      const error = credentials
        ? mqttError(ErrorCode.UNAUTHORIZED, `the broker refused the device's credentials (CONNACK ${code}: ${meaning})`)
        : mqttError(ErrorCode.MQTT_REFUSED, `the broker refused the connection (CONNACK ${code}: ${meaning})`);
      this.log("error", "mqtt_refused", { code: error.code, returnCode: code, meaning });
      this.fail(error);
      return;
    }
    this.phase = Phase.OPEN;
    this.log("info", "mqtt_open", { clientId: this.options.connect.clientId, sessionPresent });
    this.write(encodeSubscribe(SUBSCRIBE_PACKET_ID, this.options.subscription, 1));
    this.options.onSession(this, sessionPresent);
    if (this.phase !== Phase.OPEN) return;
    this.upper.onOpen?.(MQTT_SUBPROTOCOL);
  }

  private publishArrived(topic: string, payload: Uint8Array, qos: 0 | 1, packetId: number, retain: boolean): void {
    const message = this.options.onPublish(topic, payload, retain);
    if (message !== undefined) this.upper.onMessage?.(message);
    // Section 4.3.2: a QoS 1 PUBLISH is answered with a PUBACK once the message is ours.
    if (qos === 1 && this.isOpen && !this.write(encodePuback(packetId))) {
      this.log("warn", "mqtt_puback_deferred", { packetId, reason: "send buffer full: the broker resends it on the next connection" });
    }
  }

  private pubackArrived(packetId: number): void {
    const message = packetId === SUBSCRIBE_PACKET_ID ? undefined : this.options.onPuback(packetId);
    if (message === undefined) {
      this.fail(mqttError(ErrorCode.MQTT_UNEXPECTED, `unexpected packet from the broker: PUBACK for packet identifier ${packetId}, which is not in flight`));
      return;
    }
    if (message !== null) this.upper.onMessage?.(message);
  }

  private subackArrived(packetId: number, codes: Uint8Array): void {
    if (packetId !== SUBSCRIBE_PACKET_ID || this.subscribed || codes.length !== 1) {
      this.fail(mqttError(ErrorCode.MQTT_UNEXPECTED, `unexpected packet from the broker: SUBACK for packet identifier ${packetId} with ${codes.length} return code(s), answering no SUBSCRIBE of ours`));
      return;
    }
    this.subscribed = true;
    const granted = codes[0]!;
    if (granted === SUBACK_FAILURE) {
      this.fail(mqttError(ErrorCode.MQTT_SUBSCRIBE_REFUSED, `the broker refused the subscription to ${this.options.subscription} (SUBACK 0x80): check its ACL for this device`));
      return;
    }
    // QoS 0 granted: requests sent while the device is away are not kept for it.
    this.log(granted === 0 ? "warn" : "debug", "mqtt_subscribed", { topic: this.options.subscription, qos: granted });
  }

  private pingrespArrived(): void {
    if (this.pingsOut === 0) {
      this.fail(mqttError(ErrorCode.MQTT_UNEXPECTED, "unexpected packet from the broker: PINGRESP without a PINGREQ"));
      return;
    }
    this.pingsOut--;
    this.upper.onPong?.(this.pingPayload);
  }

  private connectTimedOut(): void {
    this.connectTimer = undefined;
    if (this.phase !== Phase.CONNECTING) return;
    const error = mqttError(ErrorCode.MQTT_CONNACK_TIMEOUT, `no CONNACK from the broker within ${this.options.connectTimeoutMs} ms of CONNECT`);
    this.failure = error;
    this.log("warn", "mqtt_fail", { code: error.code, message: error.message });
    this.terminate(error);
  }

  // --- helpers ---

  /**
   * Fails the session: nothing more is read or sent but the WebSocket's close, with the
   * error's close code; onClose reports `error`.
   */
  private fail(error: WebSocketError): void {
    if (this.failure || this.phase === Phase.CLOSED) return;
    this.failure = error;
    this.parser.stop();
    this.clearConnectTimer();
    this.log("warn", "mqtt_fail", { code: error.code, message: error.message });
    this.closing();
    this.socket.close(error.closeCode ?? CloseCode.PROTOCOL_ERROR, closeReasonOf(error.code));
  }

  private closing(): void {
    if (this.phase !== Phase.CLOSED) this.phase = Phase.CLOSING;
    this.parser.stop();
    this.clearConnectTimer();
  }

  /** Sends one packet; false when the WebSocket cannot take it now (full, or closing). */
  private write(packet: Uint8Array): boolean {
    try {
      this.socket.send(packet);
      return true;
    } catch (error) {
      if (error instanceof WebSocketError && (error.code === ErrorCode.BUFFER_FULL || error.code === ErrorCode.INVALID_STATE)) return false;
      throw error;
    }
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) {
      this.upper.host.timers.clear(this.connectTimer);
      this.connectTimer = undefined;
    }
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.upper.host.log?.(level, event, fields);
  }
}

/** The close reason sent to the broker: the error's code (a message could be long). */
function closeReasonOf(code: string): string {
  return code.length > 123 ? code.slice(0, 123) : code;
}
