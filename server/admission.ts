/**
 * What becomes of a WebSocket upgrade request at the companion server before it is a
 * connection: refused on purpose (--reject-status), checked against the device registry
 * (server/auth.ts) and then refused or let through, or let through at once (development
 * mode). Refusals are HTTP answers with a short body that says nothing of the cause beyond
 * its status; the sockets of refused or still-checked requests are tracked until they are
 * gone, so shutdown can destroy them.
 */
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { DEVICE_ID_HEADER } from "../src/auth/credentials.js";
import type { AuthVerdict, Gatekeeper } from "./auth.js";
import type { UnstampedEvent } from "./events.js";

/** A refused upgrade's socket is destroyed this long after the response, if the client keeps it open, ms. */
const REJECT_LINGER_MS = 1000;
/** Refusals sent without a check are summed over this period into one event, ms. */
const REFUSAL_SUMMARY_MS = 1000;
/** The header naming the device, as Node's lower-cased request.headers holds it. */
const DEVICE_HEADER = DEVICE_ID_HEADER.toLowerCase();

export interface AdmissionOptions {
  /** With a registry: the handshake checks; undefined admits anyone. */
  gatekeeper: Gatekeeper | undefined;
  report: (event: UnstampedEvent) => void;
  /** Completes the upgrade; `device` is the id the handshake proved (undefined in development mode). */
  upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer, remote: string, device: string | undefined) => void;
  /** Whether the server is shutting down: nothing is admitted any more. */
  closing: () => boolean;
}

export class Admission {
  private readonly options: AdmissionOptions;
  /** Sockets of refused upgrades, and of those being checked, until they are gone. */
  private readonly pending = new Set<Duplex>();
  /** Refusals not reported one by one (429, 503), until their summary. */
  private quiet: { count: number; statuses: Record<string, number>; reasons: Record<string, number>; since: number } | undefined;
  private quietTimer: NodeJS.Timeout | undefined;

  constructor(options: AdmissionOptions) {
    this.options = options;
  }

  /** Handles one upgrade request; `rejectStatus` refuses it on purpose (--reject-status). */
  handle(request: IncomingMessage, socket: Duplex, head: Buffer, rejectStatus: number | undefined): void {
    socket.on("error", () => {});
    const remote = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
    if (this.options.closing()) {
      socket.destroy();
      return;
    }
    if (rejectStatus !== undefined) {
      this.refuse(socket, rejectStatus, [], "refused on purpose: --reject-status");
      this.options.report({ event: "reject", remote, status: rejectStatus });
      return;
    }
    const gatekeeper = this.options.gatekeeper;
    if (gatekeeper) {
      void this.check(gatekeeper, request, socket, head, remote);
      return;
    }
    this.options.upgrade(request, socket, head, remote, undefined);
  }

  /** Shutdown: sends the pending summary, destroys every refused or still-checked socket. */
  close(): void {
    this.flushQuiet();
    for (const socket of this.pending) socket.destroy();
  }

  /** Checks the handshake (server/auth.ts), then upgrades or refuses. */
  private async check(gatekeeper: Gatekeeper, request: IncomingMessage, socket: Duplex, head: Buffer, remote: string): Promise<void> {
    this.track(socket);
    let verdict: AuthVerdict;
    try {
      verdict = await gatekeeper.check({
        address: request.socket.remoteAddress ?? "",
        authorization: request.headers.authorization,
        device: request.headers[DEVICE_HEADER],
      });
    } catch {
      // check() resolves with a verdict for every outcome it knows; anything else ends the attempt.
      socket.destroy();
      return;
    }
    if (socket.destroyed) return;
    if (this.options.closing()) {
      socket.destroy();
      return;
    }
    if (verdict.admit) {
      this.pending.delete(socket);
      this.options.upgrade(request, socket, head, remote, verdict.device);
      return;
    }
    this.refuse(socket, verdict.status, refusalHeaders(verdict), "");
    if (verdict.status === 401) {
      const { status, reason, device, failures, delayMs } = verdict;
      this.options.report({ event: "auth_refused", remote, device, status, reason, failures, delayMs });
    } else {
      this.countQuiet(verdict.status, verdict.reason);
    }
  }

  /**
   * Answers an upgrade with an HTTP error and closes: the same short body whatever the cause
   * (a 401 says nothing of which part was wrong), the socket destroyed REJECT_LINGER_MS later
   * if the client keeps it open.
   */
  private refuse(socket: Duplex, status: number, headers: readonly string[], note: string): void {
    const phrase = STATUS_CODES[status] ?? "Refused";
    const body = `${status} ${phrase}${note ? ` (${note})` : ""}\n`;
    this.track(socket);
    socket.end(
      `HTTP/1.1 ${status} ${phrase}\r\n${headers.map((header) => `${header}\r\n`).join("")}` +
        `Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    setTimeout(() => socket.destroy(), REJECT_LINGER_MS).unref();
  }

  private track(socket: Duplex): void {
    if (this.pending.has(socket)) return;
    this.pending.add(socket);
    socket.once("close", () => this.pending.delete(socket));
  }

  /** A refusal sent without a check (429, 503): summed into one auth_refused_many event per REFUSAL_SUMMARY_MS. */
  private countQuiet(status: number, reason: string): void {
    const quiet = (this.quiet ??= { count: 0, statuses: {}, reasons: {}, since: Date.now() });
    quiet.count++;
    quiet.statuses[status] = (quiet.statuses[status] ?? 0) + 1;
    quiet.reasons[reason] = (quiet.reasons[reason] ?? 0) + 1;
    if (!this.quietTimer) {
      this.quietTimer = setTimeout(() => this.flushQuiet(), REFUSAL_SUMMARY_MS);
      this.quietTimer.unref();
    }
  }

  private flushQuiet(): void {
    clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
    const quiet = this.quiet;
    this.quiet = undefined;
    if (quiet) {
      this.options.report({ event: "auth_refused_many", count: quiet.count, statuses: quiet.statuses, reasons: quiet.reasons, periodMs: Date.now() - quiet.since });
    }
  }
}

/** The headers of a refusal: the scheme for a 401 (RFC 7235 section 4.1), when to come back for a 429 or 503. */
function refusalHeaders(verdict: Extract<AuthVerdict, { admit: false }>): string[] {
  if (verdict.status === 401) return ['WWW-Authenticate: Bearer realm="moorline"'];
  return verdict.retryAfterS === undefined ? [] : [`Retry-After: ${verdict.retryAfterS}`];
}
