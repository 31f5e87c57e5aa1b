/**
 * MQTT 3.1.1 (OASIS standard, 2014) constants: control packet types (section 2.2.1), the
 * CONNACK return codes (section 3.2.2.3), the SUBACK failure code (section 3.9.3) and the
 * encoding bounds (sections 1.5.3, 2.2.3, 2.3.1). Tables are frozen (see
 * src/websocket/constants.ts for why: xsl keeps them in flash).
 */

/** Control packet types: the high nibble of a packet's first byte (section 2.2.1). */
export const PacketType = Object.freeze({
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const);

/** Names of the packet types by number, for error messages and logs (0 and 15 are reserved). */
export const PACKET_NAMES: readonly string[] = Object.freeze([
  "reserved (0)",
  "CONNECT",
  "CONNACK",
  "PUBLISH",
  "PUBACK",
  "PUBREC",
  "PUBREL",
  "PUBCOMP",
  "SUBSCRIBE",
  "SUBACK",
  "UNSUBSCRIBE",
  "UNSUBACK",
  "PINGREQ",
  "PINGRESP",
  "DISCONNECT",
  "reserved (15)",
]);

/** CONNACK return codes (section 3.2.2.3, table 3.1). */
export const ConnackCode = Object.freeze({
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const);

/** What each CONNACK return code means, as table 3.1 says it. */
export const CONNACK_MEANINGS: readonly string[] = Object.freeze([
  "connection accepted",
  "unacceptable protocol version",
  "identifier rejected",
  "server unavailable",
  "bad user name or password",
  "not authorized",
]);

/** A SUBACK return code saying the subscription failed (section 3.9.3). */
export const SUBACK_FAILURE = 0x80;

/** The protocol name and level of MQTT 3.1.1 in CONNECT (sections 3.1.2.1, 3.1.2.2). */
export const PROTOCOL_NAME = "MQTT";
export const PROTOCOL_LEVEL = 4;

/** Largest Remaining Length the four-byte variable length encoding can say (section 2.2.3). */
export const MAX_REMAINING_LENGTH = 268_435_455;
/** Longest UTF-8 string or binary field: a two-byte length prefix (section 1.5.3). */
export const MAX_STRING_BYTES = 65_535;
/** Packet identifiers are 1..65535; 0 is never used (section 2.3.1). */
export const MAX_PACKET_ID = 65_535;
/** Longest keep alive the two-byte field holds, seconds (section 3.1.2.10). */
export const MAX_KEEP_ALIVE_SECONDS = 65_535;

/** The WebSocket subprotocol an MQTT client offers and a broker selects (section 6). */
export const MQTT_SUBPROTOCOL = "mqtt";

/** QoS levels this client uses: 0 (at most once) and 1 (at least once); never 2. */
export const QOS_0 = 0;
export const QOS_1 = 1;
