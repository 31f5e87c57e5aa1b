/**
 * The soak's server: a WebSocket server (RFC 6455 server side: the 101, masked client frames,
 * pongs, the close handshake) speaking docs/protocol.md to the device over the simulated
 * network, and keeping the books the soak is judged by. Portable: it runs on Node and in XS.
 *
 * It acknowledges every telemetry record, sends requests at random times and checks every
 * reply, and records what breaks the protocol's promises as violations: a telemetry record
 * repeated on one connection or out of order, one resent although its ack had reached the
 * device, a reply to nothing or a second reply, a request on a live connection left
 * unanswered, a malformed frame. Its memory does not grow with the simulated time: the
 * records seen are bits in an array sized for the run up front.
 */
import { encodeBase64 } from "../../../../src/websocket/base64.js";
import { sha1 } from "../../../../src/websocket/sha1.js";
import type { ServerConnection, SimServer } from "./net.js";
import type { SimClock, SeededRandom } from "./clock.js";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** A request on a live connection must be answered within this, ms (a slow server adds seconds). */
export const REPLY_DEADLINE_MS = 60_000;
/** Violations kept with their text (all are counted). */
const MAX_VIOLATION_TEXTS = 20;

interface Connection {
  end: ServerConnection;
  /** The request head until the 101 is sent, then undefined. */
  head: string | undefined;
  /** Received bytes not yet parsed into frames. */
  buffer: Uint8Array;
  /** The device's hello came on this connection. */
  hello: boolean;
  /** The highest telemetry seq received on this connection (they must rise). */
  lastSeq: number;
  /** Acks that had reached the device when this connection opened: seqs up to here are never resent. */
  ackFloor: number;
  closed: boolean;
  /** When the last frame from the device came, ms. */
  lastFrameAt: number;
}

interface PendingRequest {
  connection: Connection;
  sentAt: number;
  kind: string;
  token: number;
}

export class SoakServer implements SimServer {
  accepting = true;
  readDelayMs = 0;
  readonly violations: string[] = [];
  violationCount = 0;
  /** The device's boot id (from its first hello). */
  boot: string | undefined;
  telemetryReceived = 0;
  /** Records received again on a later connection (resends after a reconnect). */
  resends = 0;
  requestsSent = 0;
  repliesReceived = 0;
  requestsLostWithConnection = 0;
  connections = 0;
  /** Bit n: record n reached the server. */
  readonly received: Uint8Array;
  private readonly clock: SimClock;
  private readonly random: SeededRandom;
  private readonly live = new Set<Connection>();
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  /** The highest seq whose ack has reached the device's socket. */
  private ackDelivered = 0;

  /** `maxRecords`: the most telemetry records the run can make (sizes the bit array). */
  constructor(clock: SimClock, random: SeededRandom, maxRecords: number) {
    this.clock = clock;
    this.random = random;
    this.received = new Uint8Array((maxRecords >> 3) + 1);
  }

  connected(end: ServerConnection): void {
    this.connections++;
    const connection: Connection = { end, head: "", buffer: new Uint8Array(0), hello: false, lastSeq: 0, ackFloor: this.ackDelivered, closed: false, lastFrameAt: -1 };
    this.live.add(connection);
    end.onData = (bytes) => this.onData(connection, bytes);
    end.onEnd = () => this.ended(connection);
  }

  /** The connection the device is talking on now (its hello came), if any. */
  current(): Connection | undefined {
    let found: Connection | undefined;
    for (const connection of this.live) if (connection.hello && !connection.closed) found = connection;
    return found;
  }

  /** A restart: every connection reset, connections refused for `downMs`. */
  restart(downMs: number): void {
    this.accepting = false;
    for (const connection of [...this.live]) {
      connection.end.reset();
      this.ended(connection);
    }
    this.clock.set(() => {
      this.accepting = true;
    }, downMs);
  }

  /**
   * The current connection goes half-open, nobody told: every byte lost both ways, or
   * (`towardDeviceOnly`) only the server's, so the device's telemetry still arrives but its
   * acks never do, and the device must send those records again on its next connection.
   */
  blackHole(towardDeviceOnly: boolean): boolean {
    const connection = this.current();
    if (connection === undefined) return false;
    if (towardDeviceOnly) {
      connection.end.towardDeviceLost = true;
    } else {
      connection.end.halfOpen = true;
      this.ended(connection);
    }
    return true;
  }

  /** Sends the device one request (ping, status, echo or config get) if it is connected. */
  sendRequest(): void {
    const connection = this.current();
    if (connection === undefined) return;
    const id = this.nextId++;
    const kind = ["ping", "status", "echo", "config"][this.random.between(0, 3)]!;
    const token = this.random.between(0, 1_000_000);
    const body: Record<string, unknown> = { type: kind, id };
    if (kind === "echo") body.payload = { token, text: "soak ".repeat(this.random.between(0, 20)) };
    if (kind === "config") body.action = "get";
    this.pending.set(id, { connection, sentAt: this.clock.now(), kind, token });
    this.requestsSent++;
    this.sendText(connection, JSON.stringify(body));
  }

  /**
   * A request unanswered REPLY_DEADLINE_MS after it was sent, although the device has been
   * talking on the same connection since (so the connection is alive, not silently dead after
   * a WiFi drop), is a violation.
   */
  checkDeadlines(): void {
    for (const [id, request] of this.pending) {
      const heard = request.connection.lastFrameAt - request.sentAt;
      if (heard > REPLY_DEADLINE_MS) {
        this.violation(`request ${id} (${request.kind}) unanswered, though the device sent frames on its connection ${heard} ms later`);
        this.pending.delete(id);
      }
    }
  }

  /** Has record `seq` reached the server? */
  hasRecord(seq: number): boolean {
    return (this.received[seq >> 3]! & (1 << (seq & 7))) !== 0;
  }

  // --- the connection ------------------------------------------------------------------

  private ended(connection: Connection): void {
    if (connection.closed) return;
    connection.closed = true;
    this.live.delete(connection);
    for (const [id, request] of this.pending) {
      if (request.connection === connection) {
        this.pending.delete(id);
        this.requestsLostWithConnection++;
      }
    }
  }

  private onData(connection: Connection, bytes: Uint8Array): void {
    if (connection.closed) return;
    if (connection.head !== undefined) {
      for (let i = 0; i < bytes.length; i++) connection.head += String.fromCharCode(bytes[i]!);
      const end = connection.head.indexOf("\r\n\r\n");
      if (end < 0) return;
      const key = /\r\nsec-websocket-key: *([^\r]*)\r\n/i.exec(connection.head)?.[1];
      if (key === undefined || connection.head.length > end + 4) {
        this.violation(`a bad handshake request: ${connection.head.slice(0, 80)}`);
        connection.end.reset();
        this.ended(connection);
        return;
      }
      connection.head = undefined;
      const accept = encodeBase64(sha1(latin1(key + GUID)));
      connection.end.send(latin1(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`));
      return;
    }
    connection.buffer = join(connection.buffer, bytes);
    this.parseFrames(connection);
  }

  /** Client frames (RFC 6455 section 5.2), always masked; the device never fragments. */
  private parseFrames(connection: Connection): void {
    for (;;) {
      const data = connection.buffer;
      if (data.length < 2) return;
      const opcode = data[0]! & 0x0f;
      const fin = (data[0]! & 0x80) !== 0;
      if ((data[1]! & 0x80) === 0 || (data[0]! & 0x70) !== 0 || !fin) {
        this.violation(`a bad client frame header ${data[0]!.toString(16)} ${data[1]!.toString(16)}`);
        connection.end.reset();
        this.ended(connection);
        return;
      }
      let length = data[1]! & 0x7f;
      let at = 2;
      if (length === 126) {
        if (data.length < 4) return;
        length = (data[2]! << 8) | data[3]!;
        at = 4;
      } else if (length === 127) {
        if (data.length < 10) return;
        length = data[6]! * 0x1000000 + ((data[7]! << 16) | (data[8]! << 8) | data[9]!);
        at = 10;
      }
      if (data.length < at + 4 + length) return;
      const mask = data.subarray(at, at + 4);
      const payload = new Uint8Array(length);
      for (let i = 0; i < length; i++) payload[i] = data[at + 4 + i]! ^ mask[i & 3]!;
      connection.buffer = data.subarray(at + 4 + length);
      if (connection.buffer.length === 0) connection.buffer = new Uint8Array(0);
      this.onFrame(connection, opcode, payload);
      if (connection.closed) return;
    }
  }

  private onFrame(connection: Connection, opcode: number, payload: Uint8Array): void {
    connection.lastFrameAt = this.clock.now();
    switch (opcode) {
      case 0x1:
        this.onText(connection, ascii(payload));
        return;
      case 0x9:
        connection.end.send(serverFrame(0xa, payload));
        return;
      case 0xa:
        return;
      case 0x8:
        connection.end.send(serverFrame(0x8, payload.subarray(0, 2)));
        connection.end.close();
        this.ended(connection);
        return;
      default:
        this.violation(`an unexpected frame with opcode ${opcode}`);
    }
  }

  private onText(connection: Connection, text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.violation(`a text message that is not JSON: ${text.slice(0, 60)}`);
      return;
    }
    switch (message.type) {
      case "hello":
        if (this.boot === undefined) this.boot = message.boot as string;
        else if (message.boot !== this.boot) this.violation(`hello from another boot ${String(message.boot)}: the device restarted`);
        connection.hello = true;
        // The device is here now: a connection it left behind (half-open, say) is dropped.
        for (const other of [...this.live]) {
          if (other !== connection) {
            other.end.reset();
            this.ended(other);
          }
        }
        return;
      case "telemetry":
        this.onTelemetry(connection, message);
        return;
      case "reply":
        this.onReply(connection, message);
        return;
      default:
        this.violation(`an unexpected ${String(message.type)} message: ${text.slice(0, 80)}`);
    }
  }

  private onTelemetry(connection: Connection, message: Record<string, unknown>): void {
    this.checkDeadlines();
    const seq = message.seq as number;
    if (!connection.hello) this.violation(`telemetry ${seq} before hello`);
    if (message.boot !== this.boot) this.violation(`telemetry ${seq} of boot ${String(message.boot)}`);
    if (!(Number.isSafeInteger(seq) && seq >= 1 && seq < this.received.length * 8)) {
      this.violation(`telemetry with seq ${String(seq)}`);
      return;
    }
    if (seq <= connection.lastSeq) this.violation(`telemetry ${seq} after ${connection.lastSeq} on one connection (a duplicate, or out of order)`);
    connection.lastSeq = seq;
    if (seq <= connection.ackFloor) this.violation(`telemetry ${seq} resent although its ack (up to ${connection.ackFloor}) had reached the device`);
    if (this.hasRecord(seq)) this.resends++;
    else {
      this.received[seq >> 3]! |= 1 << (seq & 7);
      this.telemetryReceived++;
    }
    const ack = JSON.stringify({ type: "ack", boot: this.boot, seq });
    connection.end.send(serverFrame(0x1, latin1(ack)), () => {
      if (seq > this.ackDelivered) this.ackDelivered = seq;
    });
  }

  private onReply(connection: Connection, message: Record<string, unknown>): void {
    const id = message.id as number;
    const request = this.pending.get(id);
    if (request === undefined || request.connection !== connection) {
      this.violation(`a reply to ${String(id)}, which is not a request waiting on this connection`);
      return;
    }
    this.pending.delete(id);
    this.repliesReceived++;
    const result = message.result as Record<string, unknown> | undefined;
    if (result === undefined) {
      this.violation(`request ${id} (${request.kind}) failed: ${JSON.stringify(message.error)}`);
      return;
    }
    if (request.kind === "ping" && result.pong !== true) this.violation(`ping ${id} answered ${JSON.stringify(result)}`);
    if (request.kind === "echo" && (result.payload as { token?: number } | undefined)?.token !== request.token) {
      this.violation(`echo ${id} came back changed: ${JSON.stringify(result).slice(0, 80)}`);
    }
  }

  private sendText(connection: Connection, text: string): void {
    connection.end.send(serverFrame(0x1, latin1(text)));
  }

  private violation(text: string): void {
    this.violationCount++;
    if (this.violations.length < MAX_VIOLATION_TEXTS) this.violations.push(`at ${this.clock.now()} ms: ${text}`);
  }
}

/** A server frame: FIN, unmasked, minimal length (the soak's messages are under 64 KiB). */
function serverFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const long = payload.length > 125;
  const out = new Uint8Array((long ? 4 : 2) + payload.length);
  out[0] = 0x80 | opcode;
  if (long) {
    out[1] = 126;
    out[2] = payload.length >> 8;
    out[3] = payload.length & 0xff;
  } else {
    out[1] = payload.length;
  }
  out.set(payload, long ? 4 : 2);
  return out;
}

/** ASCII text as bytes (the soak's texts are ASCII). */
function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** The device's texts here are ASCII (ids, numbers, "soak-ap"): byte per character. */
function ascii(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
