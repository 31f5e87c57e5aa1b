/**
 * Improv WiFi over serial, version 1 (https://www.improv-wifi.com/serial/): the packet codec
 * both ends use (the device's service, improv-service.ts, and `npm run provision`).
 *
 *   "IMPROV" | version 1 | type | length | data (length bytes) | checksum
 *
 * The checksum is the sum of every byte before it, modulo 256. Each packet we send ends with
 * a newline after the checksum, as ESPHome's devices and the Improv SDK's client do: the
 * client looks for "IMPROV" at the start of a line, and a serial monitor shows the next log
 * line on a line of its own.
 *
 * The parser is a pure incremental state machine with named states: bytes in any chunking,
 * down to one at a time; it never touches a port. Log lines share the port (on the chip the
 * log and Improv both use UART0), so it resynchronises on the "IMPROV" header and hands every
 * byte that is not part of a packet back as "other" bytes (the client shows them; the device
 * ignores them). Memory is bounded by the format itself: one packet's data is at most 255
 * bytes, held in one buffer allocated once.
 */
import { describe, invalidArgument } from "../shared/errors.js";
import { decodeUtf8, encodeUtf8, isValidUtf8 } from "../websocket/utf8.js";

/** "IMPROV" in ASCII: every packet starts with it. */
const HEADER = Object.freeze([0x49, 0x4d, 0x50, 0x52, 0x4f, 0x56]);
/** The header as bytes, handed back as "other" bytes when a header turns out not to be one. */
const HEADER_BYTES = new Uint8Array(HEADER);

/** The protocol version this codec speaks (byte 7 of every packet). */
export const IMPROV_VERSION = 1;

/** Byte that ends each packet we send (not part of the spec's packet: see the file comment). */
export const IMPROV_PACKET_END = 0x0a;

/** Packet types (byte 8). */
export const ImprovType = Object.freeze({
  /** Device to client: the provisioning state, one byte (ImprovState). */
  CURRENT_STATE: 0x01,
  /** Device to client: the error state, one byte (ImprovError). */
  ERROR_STATE: 0x02,
  /** Client to device: command, data length, data. */
  RPC_COMMAND: 0x03,
  /** Device to client: command answered, data length, then length-prefixed strings. */
  RPC_RESULT: 0x04,
} as const);

/** The provisioning states a device reports over serial. */
export const ImprovState = Object.freeze({
  /** Ready to accept credentials ("authorized": serial needs no button press). */
  READY: 0x02,
  /** Credentials received, trying to connect. */
  PROVISIONING: 0x03,
  /** Connected. */
  PROVISIONED: 0x04,
} as const);

/** Error states. */
export const ImprovError = Object.freeze({
  NONE: 0x00,
  /** The RPC packet was malformed (bad checksum, lengths that do not add up). */
  INVALID_RPC: 0x01,
  UNKNOWN_RPC: 0x02,
  /** The credentials were tried and the network could not be joined. */
  UNABLE_TO_CONNECT: 0x03,
  UNKNOWN: 0xff,
} as const);

/** RPC commands (the first data byte of an RPC packet). */
export const ImprovCommand = Object.freeze({
  /** ssid length, ssid, password length, password: join this network. */
  WIFI_SETTINGS: 0x01,
  /** Sends the current state; when provisioned, the redirect URL too. */
  CURRENT_STATE: 0x02,
  /** Firmware name, firmware version, hardware, device name. */
  DEVICE_INFO: 0x03,
  /** One result per network heard (ssid, RSSI, "YES"/"NO" for auth), then an empty one. */
  WIFI_NETWORKS: 0x04,
} as const);

/** Largest data of one packet: its length is one byte. */
export const MAX_IMPROV_DATA_BYTES = 255;

/** Bytes of a packet besides its data: header (6), version, type, length, checksum. */
export const IMPROV_OVERHEAD_BYTES = 10;

/** Human names of the error states, for logs and the provision command. */
export const IMPROV_ERROR_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [ImprovError.NONE]: "no error",
  [ImprovError.INVALID_RPC]: "invalid RPC packet",
  [ImprovError.UNKNOWN_RPC]: "unknown RPC command",
  [ImprovError.UNABLE_TO_CONNECT]: "unable to connect",
  [ImprovError.UNKNOWN]: "unknown error",
});

/** Human names of the states. */
export const IMPROV_STATE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [ImprovState.READY]: "ready",
  [ImprovState.PROVISIONING]: "provisioning",
  [ImprovState.PROVISIONED]: "provisioned",
});

// --- encoding ----------------------------------------------------------------------------

/**
 * One packet of `type` carrying `data` (at most 255 bytes), checksum and the trailing
 * newline included: the bytes to write.
 */
export function encodeImprovPacket(type: number, data: Uint8Array): Uint8Array {
  if (data.length > MAX_IMPROV_DATA_BYTES) {
    throw invalidArgument(`an Improv packet carries at most ${MAX_IMPROV_DATA_BYTES} data bytes, got ${data.length}`);
  }
  const packet = new Uint8Array(data.length + IMPROV_OVERHEAD_BYTES + 1);
  packet.set(HEADER_BYTES, 0);
  packet[6] = IMPROV_VERSION;
  packet[7] = type & 0xff;
  packet[8] = data.length;
  packet.set(data, 9);
  let sum = 0;
  for (let i = 0; i < 9 + data.length; i++) sum += packet[i]!;
  packet[9 + data.length] = sum & 0xff;
  packet[10 + data.length] = IMPROV_PACKET_END;
  return packet;
}

/** A one-byte state or error packet. */
export function encodeImprovByte(type: typeof ImprovType.CURRENT_STATE | typeof ImprovType.ERROR_STATE, value: number): Uint8Array {
  return encodeImprovPacket(type, new Uint8Array([value & 0xff]));
}

/** An RPC command packet: command, data length, data (at most 253 bytes). */
export function encodeRpcCommand(command: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (data.length > MAX_IMPROV_DATA_BYTES - 2) {
    throw invalidArgument(`an Improv RPC command carries at most ${MAX_IMPROV_DATA_BYTES - 2} bytes, got ${data.length}`);
  }
  const body = new Uint8Array(data.length + 2);
  body[0] = command & 0xff;
  body[1] = data.length;
  body.set(data, 2);
  return encodeImprovPacket(ImprovType.RPC_COMMAND, body);
}

/**
 * The data of a length-prefixed string list: each string's UTF-8 bytes after its length.
 * Throws when a string is over 255 bytes or the whole over `maxBytes`.
 */
function encodeStrings(strings: readonly string[], maxBytes: number): Uint8Array {
  const encoded = strings.map((text) => encodeUtf8(text));
  let total = 0;
  for (const bytes of encoded) {
    if (bytes.length > MAX_IMPROV_DATA_BYTES) throw invalidArgument(`an Improv string is at most ${MAX_IMPROV_DATA_BYTES} bytes, got ${bytes.length}`);
    total += 1 + bytes.length;
  }
  if (total > maxBytes) throw invalidArgument(`the strings take ${total} bytes, more than the ${maxBytes} an Improv packet has room for`);
  const out = new Uint8Array(total);
  let at = 0;
  for (const bytes of encoded) {
    out[at++] = bytes.length;
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** An RPC result packet: the command answered and its strings (253 bytes in all at most). */
export function encodeRpcResult(command: number, strings: readonly string[]): Uint8Array {
  const payload = encodeStrings(strings, MAX_IMPROV_DATA_BYTES - 2);
  const body = new Uint8Array(payload.length + 2);
  body[0] = command & 0xff;
  body[1] = payload.length;
  body.set(payload, 2);
  return encodeImprovPacket(ImprovType.RPC_RESULT, body);
}

/** The "send WiFi settings" command for `ssid` and `password`. */
export function encodeWifiSettings(ssid: string, password: string): Uint8Array {
  return encodeRpcCommand(ImprovCommand.WIFI_SETTINGS, encodeStrings([ssid, password], MAX_IMPROV_DATA_BYTES - 2));
}

// --- decoding ----------------------------------------------------------------------------

/** An RPC command or result split into its command byte and payload, or what is wrong with it. */
export type RpcParts = { command: number; payload: Uint8Array } | { problem: string };

/**
 * The command and payload of an RPC packet's data (command and result alike): the data
 * length byte must say exactly how many bytes follow it.
 */
export function decodeRpc(data: Uint8Array): RpcParts {
  if (data.length < 2) return { problem: `an RPC packet needs a command and a length, got ${data.length} bytes` };
  const length = data[1]!;
  if (length !== data.length - 2) return { problem: `the RPC data length says ${length} bytes, ${data.length - 2} follow` };
  return { command: data[0]!, payload: data.subarray(2) };
}

/**
 * The length-prefixed strings of an RPC payload (an RPC result's, or the WiFi settings'), or
 * a problem: a length running past the end, or bytes that are not UTF-8.
 */
export function decodeStrings(payload: Uint8Array): string[] | { problem: string } {
  const strings: string[] = [];
  let at = 0;
  while (at < payload.length) {
    const length = payload[at]!;
    if (at + 1 + length > payload.length) {
      return { problem: `string ${strings.length + 1} says ${length} bytes, ${payload.length - at - 1} are left` };
    }
    const bytes = payload.subarray(at + 1, at + 1 + length);
    if (!isValidUtf8(bytes)) return { problem: `string ${strings.length + 1} is not UTF-8` };
    strings.push(decodeUtf8(bytes));
    at += 1 + length;
  }
  return strings;
}

/** The network of a "send WiFi settings" payload: exactly two strings, ssid then password. */
export function decodeWifiSettings(payload: Uint8Array): { ssid: string; password: string } | { problem: string } {
  const strings = decodeStrings(payload);
  if (!Array.isArray(strings)) return strings;
  if (strings.length !== 2) return { problem: `WiFi settings are 2 strings (ssid, password), got ${strings.length}` };
  return { ssid: strings[0]!, password: strings[1]! };
}

// --- the parser --------------------------------------------------------------------------

export interface ImprovParserEvents {
  /** A whole packet with a good checksum. `data` is a copy: the receiver may keep it. */
  onPacket(type: number, data: Uint8Array): void;
  /**
   * A packet was lost: "checksum" (its checksum did not match; its bytes are dropped) or
   * "incomplete" (reset() came in the middle of one: the sender stopped mid-packet).
   */
  onBadPacket?(problem: "checksum" | "incomplete"): void;
  /**
   * Bytes that are no part of a packet (log lines), in order. A view, valid during the call
   * only: copy what must be kept.
   */
  onOther?(bytes: Uint8Array): void;
}

/** Parser states: which part of a packet the next byte is. */
const State = Object.freeze({
  /** Looking for (or inside) the "IMPROV" header: `matched` bytes of it seen. */
  HEADER: 0,
  VERSION: 1,
  TYPE: 2,
  LENGTH: 3,
  DATA: 4,
  CHECKSUM: 5,
} as const);
type StateValue = (typeof State)[keyof typeof State];

export class ImprovParser {
  private readonly events: ImprovParserEvents;
  private state: StateValue = State.HEADER;
  /** Header bytes matched so far (0..5), in HEADER. */
  private matched = 0;
  private type = 0;
  private length = 0;
  private received = 0;
  /** Running sum of the packet's bytes, modulo 256. */
  private sum = 0;
  /** The packet's data: the one buffer, allocated once (the length byte bounds it). */
  private readonly data = new Uint8Array(MAX_IMPROV_DATA_BYTES);

  constructor(events: ImprovParserEvents) {
    if (typeof events !== "object" || events === null || typeof events.onPacket !== "function") {
      throw invalidArgument(`the Improv parser needs events with onPacket, got ${describe(events)}`);
    }
    this.events = events;
  }

  /** Whether a packet has begun (its header seen, in part or whole) and not ended. */
  get inPacket(): boolean {
    return this.state !== State.HEADER || this.matched > 0;
  }

  /** Parses `bytes`; events fire from inside this call, in order. */
  push(bytes: Uint8Array): void {
    // The run of "other" bytes in this chunk not yet handed out: [otherFrom, i).
    let otherFrom = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      switch (this.state) {
        case State.HEADER:
          if (byte === HEADER[this.matched]) {
            // A header may be starting: what came before it is complete.
            if (this.matched === 0) this.other(bytes, otherFrom, i);
            this.sum = this.matched === 0 ? byte : this.sum + byte;
            this.matched++;
            if (this.matched === HEADER.length) this.state = State.VERSION;
            otherFrom = i + 1;
          } else if (this.matched > 0) {
            // The bytes matched were text after all; this one may start a header itself.
            this.events.onOther?.(HEADER_BYTES.subarray(0, this.matched));
            this.matched = 0;
            otherFrom = this.restart(byte, i);
          }
          // Otherwise: one more byte of the run of other bytes.
          break;
        case State.VERSION:
          if (byte === IMPROV_VERSION) {
            this.sum += byte;
            this.state = State.TYPE;
          } else {
            // "IMPROV" then anything else is text ("IMPROVED"), or a version we do not speak:
            // not a packet of ours either way.
            this.events.onOther?.(HEADER_BYTES);
            this.state = State.HEADER;
            this.matched = 0;
            otherFrom = this.restart(byte, i);
          }
          break;
        case State.TYPE:
          this.type = byte;
          this.sum += byte;
          this.state = State.LENGTH;
          break;
        case State.LENGTH:
          this.length = byte;
          this.received = 0;
          this.sum += byte;
          this.state = byte === 0 ? State.CHECKSUM : State.DATA;
          break;
        case State.DATA: {
          // What this chunk holds of the data, copied at once.
          const take = Math.min(this.length - this.received, bytes.length - i);
          for (let k = 0; k < take; k++) this.sum += bytes[i + k]!;
          this.data.set(bytes.subarray(i, i + take), this.received);
          this.received += take;
          i += take - 1;
          if (this.received === this.length) this.state = State.CHECKSUM;
          break;
        }
        case State.CHECKSUM:
          this.state = State.HEADER;
          this.matched = 0;
          otherFrom = i + 1;
          if ((this.sum & 0xff) === byte) this.events.onPacket(this.type, this.data.slice(0, this.length));
          else this.events.onBadPacket?.("checksum");
          break;
      }
    }
    if (this.state === State.HEADER && this.matched === 0) this.other(bytes, otherFrom, bytes.length);
  }

  /**
   * Forgets a packet in progress (the sender went quiet in the middle of one: the caller
   * decides how long is too long). A header begun is handed back as "other" bytes; a packet
   * begun is reported as "incomplete".
   */
  reset(): void {
    if (this.state === State.HEADER) {
      if (this.matched > 0) this.events.onOther?.(HEADER_BYTES.subarray(0, this.matched));
    } else {
      this.events.onBadPacket?.("incomplete");
    }
    this.state = State.HEADER;
    this.matched = 0;
  }

  /**
   * In HEADER with nothing matched, at `byte` (index `at` of the chunk): it starts a header,
   * or a new run of other bytes. Returns where that run starts.
   */
  private restart(byte: number, at: number): number {
    if (byte !== HEADER[0]) return at;
    this.sum = byte;
    this.matched = 1;
    return at + 1;
  }

  private other(bytes: Uint8Array, from: number, to: number): void {
    if (to > from) this.events.onOther?.(bytes.subarray(from, to));
  }
}
