/**
 * MQTT 3.1.1 packets written and read the test's own way, from the standard's tables and
 * independently of src/mqtt: the broker's packets (CONNACK, PUBLISH, PUBACK, SUBACK,
 * PINGRESP, and raw bytes for the broken ones) as hand-assembled bytes, and a decoder of what
 * a client writes (CONNECT, PUBLISH, PUBACK, SUBSCRIBE, PINGREQ, DISCONNECT) that checks
 * their form strictly, so a test asserts what went on the wire.
 */

/** The variable length encoding of section 2.2.3. */
export function remainingLength(length: number): number[] {
  const bytes: number[] = [];
  do {
    let digit = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) digit |= 0x80;
    bytes.push(digit);
  } while (length > 0);
  return bytes;
}

function utf8(text: string): number[] {
  return [...Buffer.from(text, "utf8")];
}

function field(text: string | Uint8Array): number[] {
  const bytes = typeof text === "string" ? utf8(text) : [...text];
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

/** A packet: first byte, Remaining Length, body. */
export function packet(first: number, body: readonly number[] | Uint8Array): Uint8Array {
  return Uint8Array.from([first, ...remainingLength(body.length), ...body]);
}

export function connack(code = 0, sessionPresent = false): Uint8Array {
  return packet(0x20, [sessionPresent ? 1 : 0, code]);
}

export interface ServerPublish {
  topic: string;
  payload?: string | Uint8Array;
  qos?: 0 | 1 | 2;
  packetId?: number;
  dup?: boolean;
  retain?: boolean;
}

export function publish(spec: ServerPublish): Uint8Array {
  const qos = spec.qos ?? 0;
  const first = 0x30 | (spec.dup ? 0x08 : 0) | (qos << 1) | (spec.retain ? 1 : 0);
  const id = spec.packetId ?? 1;
  const payload = spec.payload === undefined ? [] : typeof spec.payload === "string" ? utf8(spec.payload) : [...spec.payload];
  return packet(first, [...field(spec.topic), ...(qos > 0 ? [id >> 8, id & 0xff] : []), ...payload]);
}

export function puback(packetId: number): Uint8Array {
  return packet(0x40, [packetId >> 8, packetId & 0xff]);
}

export function suback(packetId: number, ...codes: number[]): Uint8Array {
  return packet(0x90, [packetId >> 8, packetId & 0xff, ...codes]);
}

export function pingresp(): Uint8Array {
  return Uint8Array.of(0xd0, 0);
}

export function joined(...packets: Uint8Array[]): Uint8Array {
  return Uint8Array.from(packets.flatMap((p) => [...p]));
}

// --- what a client writes -----------------------------------------------------------------

export type ClientPacket =
  | {
      type: "CONNECT";
      protocol: string;
      level: number;
      clientId: string;
      cleanSession: boolean;
      keepAlive: number;
      username?: string;
      password?: string;
      will?: { topic: string; message: string; qos: number; retain: boolean };
    }
  | { type: "PUBLISH"; topic: string; payload: Buffer; qos: number; dup: boolean; retain: boolean; packetId?: number }
  | { type: "PUBACK"; packetId: number }
  | { type: "SUBSCRIBE"; packetId: number; filters: Array<{ filter: string; qos: number }> }
  | { type: "PINGREQ" }
  | { type: "DISCONNECT" };

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array, readonly end: number) {}
  u8(): number {
    if (this.at >= this.end) throw new Error("packet ends early");
    return this.bytes[this.at++]!;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  raw(): Buffer {
    const length = this.u16();
    if (this.at + length > this.end) throw new Error("a field runs past its packet");
    const bytes = Buffer.from(this.bytes.subarray(this.at, this.at + length));
    this.at += length;
    return bytes;
  }
  string(): string {
    return this.raw().toString("utf8");
  }
}

/** Decodes a stream of complete client packets; throws on anything the standard forbids. */
export function decodeClientPackets(bytes: Uint8Array): ClientPacket[] {
  const packets: ClientPacket[] = [];
  let i = 0;
  while (i < bytes.length) {
    const first = bytes[i++]!;
    let length = 0;
    let multiplier = 1;
    for (let n = 0; ; n++) {
      if (n === 4) throw new Error("Remaining Length over 4 bytes");
      const byte = bytes[i++]!;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) break;
    }
    if (i + length > bytes.length) throw new Error("truncated packet");
    const r = new Reader(bytes, i + length);
    r.at = i;
    const type = first >> 4;
    const flags = first & 0x0f;
    switch (type) {
      case 1: {
        if (flags !== 0) throw new Error("CONNECT flags");
        const protocol = r.string();
        const level = r.u8();
        const connectFlags = r.u8();
        if (connectFlags & 1) throw new Error("CONNECT reserved flag set");
        const keepAlive = r.u16();
        const clientId = r.string();
        const connect: ClientPacket = { type: "CONNECT", protocol, level, clientId, cleanSession: (connectFlags & 2) !== 0, keepAlive };
        if (connectFlags & 4) {
          const topic = r.string();
          const message = r.string();
          connect.will = { topic, message, qos: (connectFlags >> 3) & 3, retain: (connectFlags & 0x20) !== 0 };
        } else if (connectFlags & 0x38) {
          throw new Error("will QoS/retain without a will");
        }
        if (connectFlags & 0x80) connect.username = r.string();
        if (connectFlags & 0x40) connect.password = r.string();
        packets.push(connect);
        break;
      }
      case 3: {
        const qos = (flags >> 1) & 3;
        const topic = r.string();
        const packetId = qos > 0 ? r.u16() : undefined;
        if (packetId === 0) throw new Error("PUBLISH with packet id 0");
        if (qos === 0 && flags & 8) throw new Error("DUP on QoS 0");
        const payload = Buffer.from(bytes.subarray(r.at, i + length));
        const pub: ClientPacket = { type: "PUBLISH", topic, payload, qos, dup: (flags & 8) !== 0, retain: (flags & 1) !== 0 };
        if (packetId !== undefined) pub.packetId = packetId;
        packets.push(pub);
        r.at = i + length;
        break;
      }
      case 4:
        if (flags !== 0 || length !== 2) throw new Error("PUBACK form");
        packets.push({ type: "PUBACK", packetId: r.u16() });
        break;
      case 8: {
        if (flags !== 2) throw new Error("SUBSCRIBE flags must be 0010");
        const packetId = r.u16();
        const filters: Array<{ filter: string; qos: number }> = [];
        while (r.at < i + length) filters.push({ filter: r.string(), qos: r.u8() });
        packets.push({ type: "SUBSCRIBE", packetId, filters });
        break;
      }
      case 12:
        if (flags !== 0 || length !== 0) throw new Error("PINGREQ form");
        packets.push({ type: "PINGREQ" });
        break;
      case 14:
        if (flags !== 0 || length !== 0) throw new Error("DISCONNECT form");
        packets.push({ type: "DISCONNECT" });
        break;
      default:
        throw new Error(`a client does not send packet type ${type}`);
    }
    if (r.at !== i + length) throw new Error(`packet type ${type} has ${i + length - r.at} bytes left over`);
    i += length;
  }
  return packets;
}
