/**
 * SNTP packets for a client (RFC 4330; the NTPv4 header of RFC 5905 section 7.3): the request
 * it sends, and the checks every answer must pass before its time is used. Pure: bytes in,
 * verdicts out; no socket, no clock.
 *
 * The header, 48 bytes, big-endian:
 *
 *    0  LI (2 bits) | VN (3 bits) | Mode (3 bits)
 *    1  Stratum          2  Poll          3  Precision
 *    4  Root Delay (32)                   8  Root Dispersion (32)
 *   12  Reference ID (32): with stratum 0, a kiss code in ASCII ("RATE", "DENY", "RSTR")
 *   16  Reference Timestamp (64)
 *   24  Origin Timestamp (64): the request's Transmit Timestamp, copied back by the server
 *   32  Receive Timestamp (64): when the request reached the server
 *   40  Transmit Timestamp (64): when the answer left the server
 *
 * A timestamp is seconds since 1900-01-01 (32 bits) and a binary fraction of a second (32 bits).
 *
 * The request's Transmit Timestamp is 64 random bits, not the device's clock (which reads 1970
 * before the first sync): the server copies it into its answer's Origin Timestamp, so it is a
 * nonce an off-path attacker cannot guess (RFC 5905 section 8, "bogus packet" test), and the
 * device's clock is not disclosed. Round-trip times come from the monotonic clock instead.
 */

/** The NTP server port (RFC 5905 section 7.2). */
export const NTP_PORT = 123;
/** Bytes of the NTP header: a request is exactly this; an answer at least this (extension fields may follow). */
export const NTP_PACKET_BYTES = 48;
/** Bytes of the random nonce sent as the request's Transmit Timestamp. */
export const NTP_NONCE_BYTES = 8;
/** Seconds from 1900-01-01 (NTP's era 0) to 1970-01-01 (Unix time). */
export const NTP_UNIX_OFFSET_SECONDS = 2_208_988_800;
/** The latest stratum of a synchronized server; 16 means unsynchronized (RFC 5905 section 7.3). */
export const MAX_STRATUM = 15;

/** Association modes (RFC 5905 figure 10). */
const MODE_CLIENT = 3;
const MODE_SERVER = 4;
/** Leap indicator 3: the server's clock is not synchronized (alarm condition). */
const LEAP_UNSYNCHRONIZED = 3;
const VERSION = 4;

/** 2^32: an NTP fraction's unit, and the length of an NTP era in seconds. */
const TWO_TO_32 = 4_294_967_296;
/** 2^31: RFC 4330 section 3's pivot between era 0 and era 1 (the seconds field's top bit). */
const TWO_TO_31 = 2_147_483_648;

/**
 * Kiss-o'-Death codes a client must honour (RFC 5905 section 7.4): RATE (poll less often),
 * DENY and RSTR (access denied: stop querying this server).
 */
export const KissCode = Object.freeze({ RATE: "RATE", DENY: "DENY", RSTR: "RSTR" } as const);
export type KissCodeValue = (typeof KissCode)[keyof typeof KissCode];

/** Why an answer was ignored (never used, counted): the log's `reason` field. */
export const IgnoreReason = Object.freeze({
  /** Fewer than 48 bytes. */
  SHORT: "short",
  /** Not mode 4 (server). */
  MODE: "mode",
  /** Version 0 or above 4. */
  VERSION: "version",
  /** The Origin Timestamp is not our request's nonce: a stale, duplicated or forged answer. */
  ORIGIN: "origin_mismatch",
  /** Stratum 0 with a kiss code other than RATE, DENY, RSTR ("have no protocol significance"). */
  KISS_OTHER: "kiss_other",
  /** Stratum above 15 (16: unsynchronized). */
  STRATUM: "stratum",
  /** Leap indicator 3: the server itself is not synchronized. */
  UNSYNCHRONIZED: "unsynchronized",
  /** A zero Transmit Timestamp. */
  TRANSMIT_ZERO: "transmit_zero",
  /** A time wildly behind the firmware's build time: a broken or lying server. */
  BEFORE_BUILD: "before_build_time",
  /** Not from the address and port the request went to. */
  WRONG_PEER: "wrong_peer",
} as const);
export type IgnoreReasonValue = (typeof IgnoreReason)[keyof typeof IgnoreReason];

/** What one answer means to the client. */
export type AnswerVerdict =
  | {
      kind: "time";
      /** When the request reached the server (T2), UTC ms. */
      receiveMs: number;
      /** When the answer left the server (T3), UTC ms. */
      transmitMs: number;
      stratum: number;
      /** 0 none, 1 or 2: a leap second at the end of the day (RFC 5905 figure 9). */
      leap: number;
    }
  | { kind: "kiss"; code: KissCodeValue }
  | { kind: "ignored"; reason: IgnoreReasonValue; detail?: string };

/** An SNTP request (client mode, version 4) whose Transmit Timestamp is `nonce` (8 random bytes). */
export function makeRequest(nonce: Uint8Array): Uint8Array {
  const packet = new Uint8Array(NTP_PACKET_BYTES);
  packet[0] = (VERSION << 3) | MODE_CLIENT; // LI 0: no warning
  packet.set(nonce.subarray(0, NTP_NONCE_BYTES), 40);
  return packet;
}

/**
 * An NTP timestamp as UTC milliseconds since 1970. Era by RFC 4330 section 3: a seconds
 * field with its top bit set is in 1968..2036 (era 0), one without it in 2036..2104 (era 1),
 * so the device keeps working across 2036-02-07.
 */
export function ntpToUnixMs(seconds: number, fraction: number): number {
  const since1900 = seconds >= TWO_TO_31 ? seconds : seconds + TWO_TO_32;
  return (since1900 - NTP_UNIX_OFFSET_SECONDS) * 1000 + (fraction / TWO_TO_32) * 1000;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function kissCode(bytes: Uint8Array): string {
  let code = "";
  for (let i = 12; i < 16; i++) {
    const byte = bytes[i]!;
    // Printable ASCII only: the code goes into a log line.
    code += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : "?";
  }
  return code;
}

/**
 * The checks of RFC 4330 section 5 and RFC 5905 section 8 on one answer to the request sent
 * with `nonce`, in this order: length, mode 4, version, Origin Timestamp equal to the nonce
 * (before anything is believed, a kiss-o'-death included), stratum 0 (a kiss code), stratum
 * 1..15, leap indicator not 3, a non-zero Transmit Timestamp, and a Transmit Timestamp no
 * earlier than `earliestMs` (the firmware's build time, less a margin).
 */
export function checkAnswer(bytes: Uint8Array, nonce: Uint8Array, earliestMs: number): AnswerVerdict {
  if (bytes.length < NTP_PACKET_BYTES) return { kind: "ignored", reason: IgnoreReason.SHORT, detail: `${bytes.length} bytes` };
  const first = bytes[0]!;
  const mode = first & 7;
  if (mode !== MODE_SERVER) return { kind: "ignored", reason: IgnoreReason.MODE, detail: `mode ${mode}` };
  const version = (first >> 3) & 7;
  if (version === 0 || version > VERSION) return { kind: "ignored", reason: IgnoreReason.VERSION, detail: `version ${version}` };
  for (let i = 0; i < NTP_NONCE_BYTES; i++) {
    if (bytes[24 + i] !== nonce[i]) return { kind: "ignored", reason: IgnoreReason.ORIGIN };
  }
  const stratum = bytes[1]!;
  if (stratum === 0) {
    const code = kissCode(bytes);
    if (code === KissCode.RATE || code === KissCode.DENY || code === KissCode.RSTR) return { kind: "kiss", code };
    return { kind: "ignored", reason: IgnoreReason.KISS_OTHER, detail: code };
  }
  if (stratum > MAX_STRATUM) return { kind: "ignored", reason: IgnoreReason.STRATUM, detail: `stratum ${stratum}` };
  const leap = first >> 6;
  if (leap === LEAP_UNSYNCHRONIZED) return { kind: "ignored", reason: IgnoreReason.UNSYNCHRONIZED };
  const transmitSeconds = u32(bytes, 40);
  const transmitFraction = u32(bytes, 44);
  if (transmitSeconds === 0 && transmitFraction === 0) return { kind: "ignored", reason: IgnoreReason.TRANSMIT_ZERO };
  const transmitMs = ntpToUnixMs(transmitSeconds, transmitFraction);
  if (transmitMs < earliestMs) {
    return { kind: "ignored", reason: IgnoreReason.BEFORE_BUILD, detail: new Date(transmitMs).toISOString() };
  }
  return { kind: "time", receiveMs: ntpToUnixMs(u32(bytes, 32), u32(bytes, 36)), transmitMs, stratum, leap };
}

/**
 * The wall time at the moment the answer arrived, from the server's T2 (receive) and T3
 * (transmit) and the client's round trip measured on its monotonic clock (t4 - t1): the
 * server's T3 plus half the network delay (RFC 4330 section 5, with the client's
 * timestamps taken from the monotonic clock). The server's own hold time T3 - T2 is
 * clamped into [0, round trip], so a lying server moves the result by at most half a round trip.
 */
export function answerTime(receiveMs: number, transmitMs: number, roundTripMs: number): { timeMs: number; delayMs: number } {
  const trip = roundTripMs > 0 ? roundTripMs : 0;
  const held = transmitMs - receiveMs;
  const hold = held > 0 ? (held < trip ? held : trip) : 0;
  const delayMs = trip - hold;
  return { timeMs: transmitMs + delayMs / 2, delayMs };
}
