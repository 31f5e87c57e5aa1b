/**
 * The JSON processing loop's options (src/device/app.ts): who the device is, what it is
 * given (send, timers, settings, status), its limits with their defaults, and their
 * validation at construction, so a bad value is reported once with an error naming it.
 */
import { invalidOption } from "../shared/errors.js";
import type { Log, Timers } from "../shared/host.js";
import {
  checkCallbacks,
  checkKnownKeys,
  checkMethods,
  checkObject,
  checkString,
  MAX_TIMEOUT_MS,
  optionalInteger,
} from "../shared/options.js";
import type { RequestHandler } from "./handlers.js";
import { MAX_OUTBOX_ENTRIES } from "./outbox.js";
import type { Settings } from "./settings.js";
import { TELEMETRY_INTERVAL_SETTING, type OutboxJournal, type RestoredRecord } from "./telemetry.js";
import { MAX_LIMIT_BYTES } from "../websocket/constants.js";

export interface DeviceIdentity {
  /** Names the device to the server (hello.device). */
  deviceId: string;
  /** Firmware version (hello.firmware). */
  firmware: string;
  /** Random per boot: (boot, seq) names a telemetry record across reboots. */
  bootId: string;
}

export interface AppLimits {
  /** Longest text message accepted, UTF-8 bytes; longer gets too_large. */
  maxJsonBytes: number;
  /** Deepest nesting accepted; deeper gets too_deep. At most MAX_JSON_DEPTH. */
  maxJsonDepth: number;
  /** Telemetry records held until acknowledged. */
  outboxEntries: number;
  /** UTF-8 bytes of telemetry held until acknowledged. */
  outboxBytes: number;
  /** Asynchronous requests under way at once; one more gets busy. */
  maxPendingRequests: number;
  /** Longest an asynchronous handler may take, ms; then handler_timeout. */
  handlerTimeoutMs: number;
  /**
   * Longest reply sent, UTF-8 bytes; a handler result that makes a longer one is answered
   * with too_large instead. The default leaves room in the WebSocket client's 16 KiB send
   * buffer for telemetry and frame headers.
   */
  maxReplyBytes: number;
}

export const DEFAULT_APP_LIMITS: Readonly<AppLimits> = Object.freeze({
  maxJsonBytes: 8192,
  maxJsonDepth: 16,
  outboxEntries: 64,
  outboxBytes: 16 * 1024,
  maxPendingRequests: 8,
  handlerTimeoutMs: 10_000,
  maxReplyBytes: 12 * 1024,
});

/**
 * JSON.parse and JSON.stringify recurse once per level on XS; an ESP32 task's native stack
 * allows some tens of levels safely, so maxJsonDepth may not be raised beyond this.
 */
export const MAX_JSON_DEPTH = 64;
/** Longest string id accepted, characters (docs/protocol.md); also the identity fields' bound. */
export const MAX_ID_CHARS = 64;
/** Most asynchronous requests under way that may be allowed at once. */
const MAX_PENDING_LIMIT = 1000;

/** What a message the JSON loop sends is (src/mqtt/transport.ts maps each to a topic). */
export type MessageKind = "hello" | "telemetry" | "reply" | "error" | "echo";

export interface DeviceAppOptions {
  identity: DeviceIdentity;
  timers: Timers;
  log?: Log;
  /**
   * Sends a text message on the current connection; false when it could not (no connection,
   * send buffer full). Should not throw; if it does, that counts as false. `kind` says which
   * message it is: the WebSocket transport ignores it, the MQTT one picks the topic by it.
   */
  send(text: string, kind?: MessageKind): boolean;
  /**
   * Sends a binary message (used to echo binary messages back). Without it a binary message
   * is counted as a dropped reply and logged.
   */
  sendBinary?(bytes: Uint8Array): boolean;
  /**
   * A binary message for a part of the device (a firmware update's chunk, src/ota): true when
   * that part took it; otherwise (or without it) the message is echoed.
   */
  onBinary?(bytes: Uint8Array): boolean;
  /** Must have an integer telemetryIntervalMs (DEVICE_SETTINGS does). */
  settings: Settings;
  /** Fields added to the status result (rssi, reconnects, lastRttMs, wifi, link state...). */
  status?(): Record<string, unknown>;
  /** Fields added to hello after its own (the clock, the reset reason, the update state...). */
  hello?(): Record<string, unknown>;
  /**
   * The `data` of each telemetry record. Default: freeMemory (when known) and the fields of
   * status().
   */
  readTelemetry?(): Record<string, unknown>;
  /** Free heap, bytes, when the platform knows it. */
  freeMemory?(): number | undefined;
  /**
   * The trusted wall time, UTC ms, or undefined while the clock is not trusted: each telemetry
   * record carries it as `time` (null when untrusted). Without it, records have no `time`.
   */
  wallTime?(): number | undefined;
  /** User handlers, as if given to register() one by one. */
  handlers?: Record<string, RequestHandler>;
  limits?: Partial<AppLimits>;
  /**
   * Extra capabilities announced in hello, after the handler types (which are always
   * announced): features that are not request types.
   */
  capabilities?: string[];
  /** Keeps the telemetry outbox in storage (src/health/outbox-store.ts); absent: RAM only. */
  journal?: OutboxJournal;
  /** Earlier boots' unacknowledged records, restored from storage, oldest first. */
  restored?: readonly RestoredRecord[];
  /**
   * The `reboot` request: restarts the device after the reply (src/device/handlers.ts).
   * Without it the request is answered with `unsupported`.
   */
  reboot?(reason: string, safeMode: boolean): Record<string, unknown>;
}

const IDENTITY_FIELDS = Object.freeze(["deviceId", "firmware", "bootId"] as const);
const OPTIONAL_CALLBACKS = Object.freeze(["log", "sendBinary", "onBinary", "status", "hello", "readTelemetry", "freeMemory", "wallTime", "reboot"] as const);
const LIMIT_NAMES = Object.freeze(Object.keys(DEFAULT_APP_LIMITS));

/**
 * Checks the options of a DeviceApp (errors name the bad one) and returns the identity (a
 * copy, so a later change by the caller has no effect) and the limits merged over the
 * defaults.
 */
export function checkAppOptions(options: DeviceAppOptions): { identity: DeviceIdentity; limits: AppLimits } {
  const given = checkObject("options", options);
  const identity = checkObject("identity", given.identity);
  for (const field of IDENTITY_FIELDS) {
    if (checkString(`identity.${field}`, identity[field], MAX_ID_CHARS) === "") {
      throw invalidOption(`identity.${field}`, `a string of 1 to ${MAX_ID_CHARS} characters`, "");
    }
  }
  if (typeof given.send !== "function") throw invalidOption("send", "a function", given.send);
  checkCallbacks(given, OPTIONAL_CALLBACKS);
  checkMethods("timers", given.timers, ["set", "clear", "now"]);
  const intervalSpec = options.settings?.spec?.(TELEMETRY_INTERVAL_SETTING);
  if (intervalSpec === undefined || intervalSpec.type !== "integer") {
    throw invalidOption("settings", "a Settings with an integer telemetryIntervalMs", options.settings);
  }
  if (given.handlers !== undefined) checkObject("handlers", given.handlers);
  return {
    identity: { deviceId: options.identity.deviceId, firmware: options.identity.firmware, bootId: options.identity.bootId },
    limits: resolveAppLimits(given.limits),
  };
}

/** The loop's limits: `partial` merged over DEFAULT_APP_LIMITS, each value checked. */
export function resolveAppLimits(partial: unknown): AppLimits {
  if (partial === undefined) return { ...DEFAULT_APP_LIMITS };
  const given = checkObject("limits", partial);
  checkKnownKeys("limits", given, LIMIT_NAMES);
  const d = DEFAULT_APP_LIMITS;
  return {
    maxJsonBytes: optionalInteger("limits.maxJsonBytes", given.maxJsonBytes, d.maxJsonBytes, 16, MAX_LIMIT_BYTES, "bytes"),
    maxJsonDepth: optionalInteger("limits.maxJsonDepth", given.maxJsonDepth, d.maxJsonDepth, 1, MAX_JSON_DEPTH),
    outboxEntries: optionalInteger("limits.outboxEntries", given.outboxEntries, d.outboxEntries, 1, MAX_OUTBOX_ENTRIES, "records"),
    outboxBytes: optionalInteger("limits.outboxBytes", given.outboxBytes, d.outboxBytes, 64, MAX_LIMIT_BYTES, "bytes"),
    maxPendingRequests: optionalInteger(
      "limits.maxPendingRequests",
      given.maxPendingRequests,
      d.maxPendingRequests,
      1,
      MAX_PENDING_LIMIT,
    ),
    handlerTimeoutMs: optionalInteger(
      "limits.handlerTimeoutMs",
      given.handlerTimeoutMs,
      d.handlerTimeoutMs,
      1,
      MAX_TIMEOUT_MS,
      "milliseconds",
    ),
    maxReplyBytes: optionalInteger("limits.maxReplyBytes", given.maxReplyBytes, d.maxReplyBytes, 64, MAX_LIMIT_BYTES, "bytes"),
  };
}
