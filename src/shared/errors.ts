/**
 * Every error the WebSocket client reports is made here, so each carries a stable `code`
 * (for programs) and, for errors that fail an open connection, the close code sent to the
 * peer (RFC 6455 section 7.4.1).
 */
import { CloseCode } from "../websocket/constants.js";
import { TlsErrorCode } from "./host.js";

/** Stable error codes. */
export const ErrorCode = Object.freeze({
  // Framing (RFC 6455 section 5), fail the connection with 1002.
  RESERVED_BITS: "ERR_RESERVED_BITS",
  RESERVED_OPCODE: "ERR_RESERVED_OPCODE",
  MASKED_FRAME: "ERR_MASKED_FRAME",
  FRAGMENTED_CONTROL: "ERR_FRAGMENTED_CONTROL",
  CONTROL_TOO_LONG: "ERR_CONTROL_TOO_LONG",
  UNEXPECTED_CONTINUATION: "ERR_UNEXPECTED_CONTINUATION",
  EXPECTED_CONTINUATION: "ERR_EXPECTED_CONTINUATION",
  NON_MINIMAL_LENGTH: "ERR_NON_MINIMAL_LENGTH",
  LENGTH_MSB_SET: "ERR_LENGTH_MSB_SET",
  INVALID_CLOSE_CODE: "ERR_INVALID_CLOSE_CODE",
  INVALID_CLOSE_PAYLOAD: "ERR_INVALID_CLOSE_PAYLOAD",
  DATA_AFTER_CLOSE: "ERR_DATA_AFTER_CLOSE",
  // Payload, 1007.
  INVALID_UTF8: "ERR_INVALID_UTF8",
  // Limits, 1009.
  MESSAGE_TOO_BIG: "ERR_MESSAGE_TOO_BIG",
  FRAME_TOO_BIG: "ERR_FRAME_TOO_BIG",
  // Opening handshake (RFC 6455 section 4.1): the connection never opened.
  HANDSHAKE_STATUS: "ERR_HANDSHAKE_STATUS",
  HANDSHAKE_MALFORMED: "ERR_HANDSHAKE_MALFORMED",
  HANDSHAKE_TOO_LARGE: "ERR_HANDSHAKE_TOO_LARGE",
  HANDSHAKE_UPGRADE: "ERR_HANDSHAKE_UPGRADE",
  HANDSHAKE_CONNECTION: "ERR_HANDSHAKE_CONNECTION",
  HANDSHAKE_ACCEPT: "ERR_HANDSHAKE_ACCEPT",
  HANDSHAKE_PROTOCOL: "ERR_HANDSHAKE_PROTOCOL",
  HANDSHAKE_EXTENSION: "ERR_HANDSHAKE_EXTENSION",
  HANDSHAKE_TIMEOUT: "ERR_HANDSHAKE_TIMEOUT",
  HANDSHAKE_CLOSED: "ERR_HANDSHAKE_CLOSED",
  /**
   * The server refused the device's credentials (HTTP 401 Unauthorized or 403 Forbidden; an
   * MQTT broker's CONNACK 4 or 5):
   * retrying soon with the same token cannot help, so the supervisor waits long (backoff.ts,
   * unauthorizedDelay). error.status holds the HTTP status.
   */
  UNAUTHORIZED: "ERR_UNAUTHORIZED",
  // TLS (wss://): the connection never opened; the host reports which check failed.
  ...TlsErrorCode,
  // Transport.
  CONNECT_FAILED: "ERR_CONNECT_FAILED",
  CONNECTION_LOST: "ERR_CONNECTION_LOST",
  CLOSE_TIMEOUT: "ERR_CLOSE_TIMEOUT",
  // The connection supervisor dropped the connection (src/device/supervisor.ts).
  /** Nothing arrived from the server within heartbeat.timeoutMs of a ping: a dead peer. */
  HEARTBEAT_TIMEOUT: "ERR_HEARTBEAT_TIMEOUT",
  /** The network went down (setNetwork(false)): the connection's TCP is useless. */
  NETWORK_DOWN: "ERR_NETWORK_DOWN",
  // The application's own callback threw: the connection fails with 1011.
  CALLBACK_FAILED: "ERR_CALLBACK_FAILED",
  // Local misuse.
  INVALID_URL: "ERR_INVALID_URL",
  INVALID_OPTION: "ERR_INVALID_OPTION",
  INVALID_ARGUMENT: "ERR_INVALID_ARGUMENT",
  INVALID_STATE: "ERR_INVALID_STATE",
  BUFFER_FULL: "ERR_BUFFER_FULL",
  // MQTT over WebSocket (src/mqtt): the session failed; the WebSocket is closed (see
  // mqttError() below for the close code) and the supervisor backs off.
  /** A packet from the broker broke MQTT 3.1.1's rules (length, flags, fields, UTF-8). */
  MQTT_MALFORMED: "ERR_MQTT_MALFORMED",
  /** A well-formed packet the broker must not send now (a second CONNACK, a PUBACK for nothing). */
  MQTT_UNEXPECTED: "ERR_MQTT_UNEXPECTED",
  /** A packet longer than the client's maxPacketBytes. */
  MQTT_PACKET_TOO_BIG: "ERR_MQTT_PACKET_TOO_BIG",
  /** The broker refused the connection (CONNACK 1, 2 or 3). */
  MQTT_REFUSED: "ERR_MQTT_REFUSED",
  /** The broker refused the subscription (SUBACK 0x80: its ACL, say). */
  MQTT_SUBSCRIBE_REFUSED: "ERR_MQTT_SUBSCRIBE_REFUSED",
  /** No CONNACK within the connect deadline. */
  MQTT_CONNACK_TIMEOUT: "ERR_MQTT_CONNACK_TIMEOUT",
  /** The WebSocket server did not select the `mqtt` subprotocol: not an MQTT broker. */
  MQTT_SUBPROTOCOL: "ERR_MQTT_SUBPROTOCOL",
} as const);
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error of the WebSocket client. `closeCode` is the code sent to the peer when this
 * error failed an open connection; it is absent for handshake, transport and usage errors.
 */
export class WebSocketError extends Error {
  // A field, not `this.name = ...` in the constructor: XS freezes Error.prototype when it
  // links a Moddable build, and assigning a property that a frozen prototype holds throws
  // a TypeError in strict code (the "override mistake"); defining a field does not.
  override name = "WebSocketError";
  readonly code: ErrorCodeValue;
  readonly closeCode: number | undefined;
  constructor(code: ErrorCodeValue, message: string, closeCode?: number) {
    super(message);
    this.code = code;
    this.closeCode = closeCode;
  }
}

/** The opening handshake failed: the server's answer (or silence) was not a valid 101. */
export class HandshakeError extends WebSocketError {
  /** HTTP status of the response, when one was parsed. */
  readonly status: number | undefined;
  override name = "HandshakeError";
  constructor(code: ErrorCodeValue, message: string, status?: number) {
    super(code, message);
    this.status = status;
  }
}

/** A frame or message broke RFC 6455: the connection is failed with 1002. */
export function protocolError(code: ErrorCodeValue, message: string): WebSocketError {
  return new WebSocketError(code, message, CloseCode.PROTOCOL_ERROR);
}

/** Text (or a close reason) was not valid UTF-8: fail with 1007. */
export function invalidUtf8(where: string): WebSocketError {
  return new WebSocketError(
    ErrorCode.INVALID_UTF8,
    `invalid UTF-8 in ${where}`,
    CloseCode.INVALID_PAYLOAD,
  );
}

/** A message or frame exceeded a configured limit: fail with 1009. */
export function tooBig(
  code: typeof ErrorCode.MESSAGE_TOO_BIG | typeof ErrorCode.FRAME_TOO_BIG,
  what: string,
  size: number,
  limit: number,
  limitName: string,
): WebSocketError {
  return new WebSocketError(
    code,
    `${what} of ${size} bytes exceeds ${limitName} (${limit} bytes)`,
    CloseCode.MESSAGE_TOO_BIG,
  );
}

/**
 * The MQTT session over a WebSocket failed (src/mqtt): `code` is one of the ERR_MQTT_ codes
 * (or ERR_UNAUTHORIZED); the WebSocket is closed with 1002 for a broken or unexpected
 * packet, 1009 for one over the size limit, 1000 otherwise.
 */
export function mqttError(code: ErrorCodeValue, message: string): WebSocketError {
  const closeCode =
    code === ErrorCode.MQTT_PACKET_TOO_BIG
      ? CloseCode.MESSAGE_TOO_BIG
      : code === ErrorCode.MQTT_MALFORMED || code === ErrorCode.MQTT_UNEXPECTED
        ? CloseCode.PROTOCOL_ERROR
        : CloseCode.NORMAL;
  return new WebSocketError(code, message, closeCode);
}

export function handshakeError(
  code: ErrorCodeValue,
  message: string,
  status?: number,
): HandshakeError {
  return new HandshakeError(code, message, status);
}

/** A bad option at construction: the message names the option and the bad value. */
export function invalidOption(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError(
    ErrorCode.INVALID_OPTION,
    `option ${name} must be ${expected}, got ${describe(value)}`,
  );
}

/** A bad argument to a method (send, close, ping). */
export function invalidArgument(message: string): WebSocketError {
  return new WebSocketError(ErrorCode.INVALID_ARGUMENT, message);
}

/** A method called in a state that does not allow it (send before open, after close). */
export function invalidState(message: string): WebSocketError {
  return new WebSocketError(ErrorCode.INVALID_STATE, message);
}

/** Short, safe rendering of a value for error messages (never dumps large data). */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "..." : value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a ${typeof value}`;
}

// ---------------------------------------------------------------------------------------
// The JSON processing loop (src/device/app.ts, docs/protocol.md): errors sent to the server in a
// reply or an `error` message. Their codes are part of the wire protocol, so they are
// lower-case words, not the ERR_ codes above.

/** Stable error codes of the device protocol (the table in docs/protocol.md). */
export const RequestErrorCode = Object.freeze({
  /** The text is not JSON. */
  BAD_JSON: "bad_json",
  /** The text is longer than maxJsonBytes, or a reply would be longer than maxReplyBytes. */
  TOO_LARGE: "too_large",
  /** Nesting deeper than maxJsonDepth. */
  TOO_DEEP: "too_deep",
  /** A missing or invalid field (id, action, key, value, a handler's own fields). */
  BAD_REQUEST: "bad_request",
  /** A request whose type has no handler. */
  UNKNOWN_TYPE: "unknown_type",
  /** A handler threw (or its promise rejected) with an error that is not a RequestError. */
  HANDLER_FAILED: "handler_failed",
  /** An asynchronous handler did not settle within handlerTimeoutMs. */
  HANDLER_TIMEOUT: "handler_timeout",
  /** maxPendingRequests asynchronous requests are already under way. */
  BUSY: "busy",
  /** The request is valid but this platform cannot do it (reboot in Moddable's simulator). */
  UNSUPPORTED: "unsupported",
  /** Provisioning (ProvisionErrorCode): the network is in use, removing it would strand the device. */
  IN_USE: "in_use",
  /** Provisioning: no saved network of that name. */
  NOT_FOUND: "not_found",
  /** Provisioning: the network is the firmware's own (build config), it cannot be removed. */
  READ_ONLY: "read_only",
  /** Provisioning: the device does not manage WiFi (a desktop run with --no-wifi). */
  NO_WIFI: "no_wifi",
} as const);

/**
 * An error a request handler (or a Settings validation) throws to answer a request with a
 * given `code` and `message`. Handlers may use codes of their own besides RequestErrorCode.
 */
export class RequestError extends Error {
  override name = "RequestError"; // a field: see WebSocketError
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The error a handler throws to reply with `code` (see RequestErrorCode). */
export function requestError(code: string, message: string): RequestError {
  return new RequestError(code, message);
}

// ---------------------------------------------------------------------------------------
// Provisioning (src/provisioning): settings a user typed (the setup page, Improv) or a server
// sent, refused before anything is tried. A RequestError, so a server's request gets it as
// its reply's code; `field` names the input at fault, so the setup page shows the message
// next to it.

/** Codes of refused provisioning input, beyond bad_request (docs/protocol.md). */
export const ProvisionErrorCode = Object.freeze({
  /** The network is in use: removing it would strand the device. */
  IN_USE: RequestErrorCode.IN_USE,
  /** No saved network of that name. */
  NOT_FOUND: RequestErrorCode.NOT_FOUND,
  /** The network is the firmware's own (build config): it cannot be removed. */
  READ_ONLY: RequestErrorCode.READ_ONLY,
  /** The device does not manage WiFi (a desktop run with --no-wifi). */
  NO_WIFI: RequestErrorCode.NO_WIFI,
} as const);

export class ProvisionError extends RequestError {
  override name = "ProvisionError"; // a field: see WebSocketError
  /** The input at fault: "ssid", "password", "url", "name"... */
  readonly field: string;
  constructor(code: string, field: string, message: string) {
    super(code, message);
    this.field = field;
  }
}

/** Refused provisioning input: `message` names the problem, never a password's value. */
export function provisionError(field: string, message: string, code: string = RequestErrorCode.BAD_REQUEST): ProvisionError {
  return new ProvisionError(code, field, message);
}
