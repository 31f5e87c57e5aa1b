/**
 * What the companion server reports: one event per thing that happened, the same objects
 * for the test API (CompanionServer.events), the `--json` output (one JSON line each, with
 * `t`) and the readable log (server/format.ts).
 *
 * `conn` numbers connections from 1 in the order they opened; `device` is the id the
 * handshake authenticated (with --devices), else the id from the connection's hello, or null
 * before it.
 */
import type { TelemetryOutcome } from "./telemetry.js";
import type { OtaTransferStatus } from "./ota.js";

/** A request or reply id (docs/protocol.md: a string or an integer). */
export type RequestId = string | number;

interface OnConnection {
  conn: number;
  device: string | null;
}

export type CompanionEvent = { t: string } & (
  | { event: "listening"; url: string; host: string; port: number }
  /** A WebSocket connection opened. */
  | ({ event: "connect"; remote: string; path: string } & OnConnection)
  /** An upgrade refused on purpose (--reject-status). */
  | { event: "reject"; remote: string; status: number }
  /** A TLS handshake failed (wss:// only): a ws:// client, or one that refused the certificate. */
  | { event: "tls_error"; remote: string; message: string }
  /**
   * Who is admitted, said once after `listening`: anyone (development mode, no --devices),
   * or only the devices of the registry file (server/registry.ts).
   */
  | { event: "auth"; mode: "open" }
  | {
      event: "auth";
      mode: "registry";
      file: string;
      devices: number;
      /** Plain ws:// on an address other machines reach: tokens cross the network unencrypted (use --tls). */
      cleartext: boolean;
    }
  /**
   * An upgrade refused with 401 (server/auth.ts): `reason` says what was wrong, which the
   * device is not told; `device` is the id it claimed when that is a valid id; `delayMs` how
   * long the answer was held back; `failures` the count that decided it. Never the token.
   */
  | { event: "auth_refused"; remote: string; device: string | null; status: number; reason: string; failures: number; delayMs: number }
  /**
   * Refusals sent at once, without checking a token (429: a locked-out address or id, too
   * many attempts of one address at once; 503: too many checks under way), summed over
   * `periodMs` instead of one event each.
   */
  | { event: "auth_refused_many"; count: number; statuses: Record<string, number>; reasons: Record<string, number>; periodMs: number }
  /** An address (or a device id) failed `failures` times: refused at once for `lockoutMs`. */
  | { event: "auth_lockout"; key: "address" | "device"; value: string; failures: number; lockoutMs: number }
  /** The registry file changed and was read again; the `revoked` devices' connections are closed (4003). */
  | { event: "registry"; action: "reloaded"; file: string; devices: number; revoked: string[] }
  /** The registry file became unusable: the devices read before stay in force. */
  | { event: "registry_error"; file: string; message: string }
  | ({
      event: "hello";
      firmware: unknown;
      boot: unknown;
      capabilities: unknown;
      /** Why the device's previous run ended, its boot counter, safe mode, a requested reboot's reason (null when absent). */
      reset: unknown;
      boots: unknown;
      safeMode: unknown;
      rebootReason: unknown;
      /** The firmware update's state (a transfer, a trial, the last update's outcome), or null (docs/ota.md). */
      ota: unknown;
    } & OnConnection)
  | ({
      event: "telemetry";
      boot: string;
      seq: number;
      uptimeMs: unknown;
      data: unknown;
      outcome: TelemetryOutcome;
      /** Sequence numbers skipped by this record (a gap), else 0. */
      missed: number;
      /** Totals for this (device, boot). */
      duplicates: number;
      gaps: number;
      /** The cumulative ack sent, or null (acks off). */
      acked: number | null;
    } & OnConnection)
  | ({
      event: "reply";
      id: unknown;
      ok: boolean;
      result?: unknown;
      error?: unknown;
      /** Whether the id is one of this connection's unanswered requests. */
      matched: boolean;
      /** The matched request's type, or null. */
      request: string | null;
      /** Round-trip time of the matched request, milliseconds (0.1 ms resolution), or null. */
      rttMs: number | null;
    } & OnConnection)
  /** The device's `error` message: input it could not read as a request. */
  | ({ event: "device_error"; error: unknown } & OnConnection)
  /** A message with a `type` this server has no use for (a bare echo server's echoes, say). */
  | ({ event: "message"; type: string; message: Record<string, unknown> } & OnConnection)
  /** Not in the envelope: not JSON, not an object with a string `type`, or binary. */
  | ({ event: "unreadable"; reason: string; text: string } & OnConnection)
  /** A hello, telemetry or reply with a missing or invalid field. */
  | ({ event: "bad_message"; type: string; reason: string } & OnConnection)
  /** The device pinged; `answered` is false while muted. */
  | ({ event: "ping"; answered: boolean } & OnConnection)
  /** A request sent to the device. */
  | ({ event: "request"; id: unknown; type: string; body: Record<string, unknown> } & OnConnection)
  /** Text sent verbatim (raw, send of a non-request, garbage). */
  | ({ event: "sent"; text: string; bytes: number } & OnConnection)
  /** A request that will get no reply: the connection closed, or requestTimeoutMs passed. */
  | ({ event: "no_reply"; id: unknown; request: string; reason: "closed" | "timeout" } & OnConnection)
  /** The garbage sequence went out; `kinds` name what each message was. */
  | ({ event: "garbage"; kinds: string[] } & OnConnection)
  /** The server started a close handshake (a command, --close-after-ms, shutdown). */
  | ({ event: "closing"; code: number; reason: string; why: string } & OnConnection)
  /** The server destroyed TCP with no close frame (drop, --drop-after-ms). */
  | ({ event: "drop"; why: string } & OnConnection)
  /** The connection ended. `code` is 1006 when no close frame arrived. */
  | ({ event: "close"; code: number; reason: string; durationMs: number } & OnConnection)
  /** The WebSocket layer failed the connection (a framing error by the device, say). */
  | ({ event: "protocol_error"; message: string; code: string | null } & OnConnection)
  /** A runtime setting changed; conn null: every connection and those to come. */
  | { event: "setting"; conn: number | null; device: string | null; setting: "muted" | "acks"; value: boolean }
  /**
   * A firmware update's step for one device (server/ota.ts): offered, accepted (from `offset`:
   * a resume when not 0), progress (every tenth), installed, refused (the device's `code`),
   * paused (the connection closed), and from a later hello trial (the new image, not yet
   * confirmed), updated or rolled_back (`reason`).
   */
  | ({
      event: "ota";
      state: "offered" | "accepted" | "progress" | "installed" | "refused" | "paused" | "trial" | "updated" | "rolled_back";
      version: string;
      offset?: number;
      size?: number;
      percent?: number;
      bytesPerSecond?: number;
      target?: string;
      file?: string;
      code?: string;
      message?: string;
      reason?: string;
      detail?: string;
      from?: string;
    } & OnConnection)
  /** `ota` at the prompt: the image offered (null: none) and the transfers under way. */
  | { event: "ota_status"; image: { file: string; version: string; target: string; size: number } | null; transfers: OtaTransferStatus[] }
  | { event: "devices"; devices: DeviceInfo[] }
  | { event: "help"; text: string }
  | { event: "command_error"; command: string; message: string }
  | { event: "shutdown"; connections: number }
  | { event: "closed" }
);

export type CompanionEventName = CompanionEvent["event"];

/** One connected device, as `devices` lists it. */
export interface DeviceInfo {
  conn: number;
  device: string | null;
  firmware: unknown;
  boot: unknown;
  capabilities: unknown;
  remote: string;
  connectedMs: number;
  messagesIn: number;
  messagesOut: number;
  pendingRequests: number;
  muted: boolean;
  acks: boolean;
  /** Whether the device id was authenticated in the handshake (--devices), not just said in hello. */
  authenticated: boolean;
}

/** Distributes Omit over the union, so each event keeps its own fields. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before the server stamps its time. */
export type UnstampedEvent = DistributiveOmit<CompanionEvent, "t">;
