/**
 * The companion server's side of firmware updates (docs/ota.md, src/ota/protocol.ts): it
 * offers its image (--ota FILE, or `ota FILE` at the prompt) to every device whose hello
 * reports another version and that can take updates (`ota_offer` in its capabilities), then
 * sends the chunks the device asks for, one at a time (the device's `ota` progress message
 * is the cue for each, the first included), from the offset the device's reply names: a device that lost its
 * connection, or its power, resumes where its last write was durable, whatever server it
 * talks to then. Each step is an `ota` event, shown per device: offered, accepted (or
 * resuming), every tenth of the way, installed, refused (with the device's code), paused; and
 * from the next hello, updated or rolled back (with why).
 *
 * --ota-rate bounds each transfer's bytes per second, so a fleet's updates do not take all
 * of a link (and a test can catch one in the middle).
 */
import { encodeChunk, OTA_OFFER } from "../src/ota/protocol.js";
import type { OtaImage } from "./ota-image.js";
import type { UnstampedEvent } from "./events.js";

/** What the service needs of a connection (server/companion.ts's Connection). */
export interface OtaPeer {
  readonly conn: number;
  readonly device: string | null;
  readonly capabilities: unknown;
  readonly open: boolean;
  readonly muted: boolean;
}

export interface OtaServiceOptions {
  emit(event: UnstampedEvent): void;
  /** Sends a request to the peer; returns its id. */
  request(peer: OtaPeer, body: { type: string } & Record<string, unknown>): unknown;
  sendBinary(peer: OtaPeer, bytes: Uint8Array): void;
  /** Bytes per second per transfer; undefined: as fast as the device asks. */
  rate?: number | undefined;
}

/** The image being offered, and where it was read from. */
export interface OfferedImage {
  image: OtaImage;
  path: string;
}

interface Session {
  peer: OtaPeer;
  offered: OfferedImage;
  requestId: unknown;
  state: "offered" | "sending" | "done";
  offset: number;
  chunkBytes: number;
  /** The last tenth reported. */
  tenth: number;
  startedAt: number;
  startOffset: number;
  /** With a rate: when the next chunk may go (ms, Date.now()). */
  nextAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** A device's transfer, as `ota` at the prompt lists it. */
export interface OtaTransferStatus {
  conn: number;
  device: string | null;
  state: string;
  version: string;
  offset: number;
  size: number;
}

export class OtaService {
  private offered: OfferedImage | undefined;
  private readonly sessions = new Map<number, Session>();

  constructor(private readonly options: OtaServiceOptions) {
    const rate = options.rate;
    if (rate !== undefined && !(Number.isSafeInteger(rate) && rate >= 1)) throw new RangeError(`otaRate must be a positive integer of bytes per second, got ${String(rate)}`);
  }

  get image(): OfferedImage | undefined {
    return this.offered;
  }

  /** Offers `offered` from now on (undefined: no more), and at once to `peers` that want it. */
  setImage(offered: OfferedImage | undefined, peers: Iterable<OtaPeer & { firmware: unknown }>): void {
    this.offered = offered;
    if (offered === undefined) {
      for (const session of this.sessions.values()) clearTimeout(session.timer);
      this.sessions.clear();
      return;
    }
    for (const peer of peers) this.offerIfWanted(peer, peer.firmware);
  }

  /** A device's hello: report how its last update went, and offer the image if it runs another version. */
  hello(peer: OtaPeer, message: Record<string, unknown>): void {
    const ota = message.ota as Record<string, unknown> | undefined;
    const firmware = message.firmware;
    if (ota && typeof ota === "object") {
      const version = String(ota.version ?? "");
      if (ota.state === "trial") {
        this.emitFor(peer, { state: "trial", version, ...(typeof ota.from === "string" ? { from: ota.from } : {}) });
      } else if (ota.state === "updated" && firmware === ota.version) {
        this.emitFor(peer, { state: "updated", version, ...(typeof ota.from === "string" ? { from: ota.from } : {}) });
      } else if (ota.state === "rolled_back") {
        this.emitFor(peer, {
          state: "rolled_back",
          version,
          reason: String(ota.reason ?? "unknown"),
          ...(typeof ota.detail === "string" ? { detail: ota.detail } : {}),
        });
      }
    }
    this.offerIfWanted(peer, firmware);
  }

  /** A reply from `peer`: true when it answered one of our offers. */
  reply(peer: OtaPeer, message: Record<string, unknown>): boolean {
    const session = this.sessions.get(peer.conn);
    if (session === undefined || session.state !== "offered" || session.requestId !== message.id) return false;
    const { version, size } = session.offered.image.manifest;
    const error = message.error as { code?: unknown; message?: unknown } | undefined;
    if (error !== undefined) {
      this.sessions.delete(peer.conn);
      this.emitFor(peer, { state: "refused", version, code: String(error?.code ?? "unknown"), message: String(error?.message ?? "") });
      return true;
    }
    const result = (message.result ?? {}) as Record<string, unknown>;
    const offset = result.offset;
    const chunkBytes = result.chunkBytes;
    if (result.accepted !== true || !isCount(offset) || !isCount(chunkBytes) || chunkBytes === 0) {
      this.sessions.delete(peer.conn);
      this.emitFor(peer, { state: "refused", version, code: "bad_reply", message: "the device's answer to the offer is not one this server reads" });
      return true;
    }
    Object.assign(session, { state: "sending", offset, chunkBytes, startOffset: offset, startedAt: Date.now(), tenth: Math.floor((offset * 10) / size) });
    // The device asks for the first chunk when it is ready (its `ota` downloading message).
    this.emitFor(peer, { state: "accepted", version, offset, size, percent: percent(offset, size) });
    return true;
  }

  /** A device's `ota` message: progress (the cue for the next chunk) or the transfer's end. */
  message(peer: OtaPeer, message: Record<string, unknown>): void {
    const session = this.sessions.get(peer.conn);
    const version = String(message.version ?? session?.offered.image.manifest.version ?? "");
    if (message.state === "downloading") {
      if (session === undefined || session.state !== "sending" || !isCount(message.offset)) return;
      session.offset = message.offset;
      const size = session.offered.image.manifest.size;
      const tenth = Math.floor((session.offset * 10) / size);
      if (tenth > session.tenth) {
        session.tenth = tenth;
        const seconds = (Date.now() - session.startedAt) / 1000;
        const bytesPerSecond = seconds > 0 ? Math.round((session.offset - session.startOffset) / seconds) : 0;
        this.emitFor(peer, { state: "progress", version, offset: session.offset, size, percent: percent(session.offset, size), bytesPerSecond });
      }
      this.schedule(session);
      return;
    }
    if (message.state === "installed") {
      if (session) session.state = "done";
      this.emitFor(peer, { state: "installed", version });
      return;
    }
    if (message.state === "failed") {
      if (session) this.end(session);
      this.emitFor(peer, { state: "refused", version, code: String(message.code ?? "unknown"), message: String(message.message ?? "") });
    }
  }

  /** The connection ended: a transfer under way pauses (the device resumes it at the next offer). */
  closed(peer: OtaPeer): void {
    const session = this.sessions.get(peer.conn);
    if (session === undefined) return;
    this.end(session);
    if (session.state === "sending") {
      const size = session.offered.image.manifest.size;
      this.emitFor(peer, { state: "paused", version: session.offered.image.manifest.version, offset: session.offset, size, percent: percent(session.offset, size) });
    }
  }

  /** The transfers under way. */
  status(): OtaTransferStatus[] {
    return [...this.sessions.values()].map((s) => ({
      conn: s.peer.conn,
      device: s.peer.device,
      state: s.state,
      version: s.offered.image.manifest.version,
      offset: s.offset,
      size: s.offered.image.manifest.size,
    }));
  }

  close(): void {
    for (const session of this.sessions.values()) clearTimeout(session.timer);
    this.sessions.clear();
  }

  /** Offers the image to `peer` when it takes updates and runs another version (and is not being offered it). */
  offerIfWanted(peer: OtaPeer, firmware: unknown, offered: OfferedImage | undefined = this.offered): boolean {
    if (offered === undefined || !peer.open || peer.muted) return false;
    if (!Array.isArray(peer.capabilities) || !peer.capabilities.includes(OTA_OFFER)) return false;
    const { manifest, manifestText, signature } = offered.image;
    if (firmware === manifest.version) return false;
    const current = this.sessions.get(peer.conn);
    if (current && current.offered.image === offered.image && current.state !== "done") return false;
    if (current) this.end(current);
    const requestId = this.options.request(peer, { type: OTA_OFFER, manifest: manifestText, signature });
    this.sessions.set(peer.conn, {
      peer,
      offered,
      requestId,
      state: "offered",
      offset: 0,
      chunkBytes: 0,
      tenth: 0,
      startedAt: Date.now(),
      startOffset: 0,
      nextAt: 0,
      timer: undefined,
    });
    this.emitFor(peer, { state: "offered", version: manifest.version, size: manifest.size, target: manifest.target, file: offered.path });
    return true;
  }

  /** Sends the chunk at the session's offset, now or when the rate allows. */
  private schedule(session: Session): void {
    clearTimeout(session.timer);
    const wait = session.nextAt - Date.now();
    if (wait > 0) session.timer = setTimeout(() => this.sendChunk(session), wait);
    else this.sendChunk(session);
  }

  private sendChunk(session: Session): void {
    session.timer = undefined;
    const { peer } = session;
    if (!peer.open || this.sessions.get(peer.conn) !== session || session.state !== "sending") return;
    const payload = session.offered.image.payload;
    // Past the file's end (a truncated file): a chunk with no bytes says the image ends here.
    const data = payload.subarray(session.offset, session.offset + session.chunkBytes);
    this.options.sendBinary(peer, encodeChunk(session.offset, data));
    const rate = this.options.rate;
    if (rate !== undefined) session.nextAt = Date.now() + (data.length * 1000) / rate;
  }

  private end(session: Session): void {
    clearTimeout(session.timer);
    this.sessions.delete(session.peer.conn);
  }

  private emitFor(peer: OtaPeer, fields: Record<string, unknown> & { state: string; version: string }): void {
    this.options.emit({ event: "ota", conn: peer.conn, device: peer.device, ...fields } as UnstampedEvent);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function percent(offset: number, size: number): number {
  return Math.floor((offset * 100) / size);
}
