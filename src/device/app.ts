/**
 * The device's JSON processing loop: everything docs/protocol.md says the device does with
 * the messages it receives (dispatch, request and reply, errors, acks), plus the hello on
 * connect. The built-in handlers are in src/device/handlers.ts, the telemetry timer and its
 * outbox in src/device/telemetry.ts.
 *
 * It does no I/O of its own: the composition gives it `send` (the connection supervisor's
 * send, which returns false when nothing is connected or the send buffer is full), tells it
 * about the connection with connected()/disconnected(), and hands it every message with
 * receive(). Time comes from the injected Timers.
 *
 * Robustness, in short:
 * - receive() never throws and never blocks: bad input gets an error, and the loop goes on.
 * - Input is bounded before it is parsed (src/shared/json.ts): size, then nesting depth.
 * - The device never answers a `reply`, an `error`, a `hello` or a `telemetry` (its own
 *   messages coming back from an echo server), so two peers cannot loop on each other.
 * - Asynchronous handlers are bounded in number (maxPendingRequests) and in time
 *   (handlerTimeoutMs); every request gets exactly one reply.
 * - Telemetry goes through a bounded outbox (src/device/outbox.ts) and is delivered at least once.
 * - Logs carry names, codes, ids and sizes, never a message payload or a setting's string.
 */
import { describe, invalidArgument, RequestError, RequestErrorCode } from "../shared/errors.js";
import type { Log, TimerId, Timers } from "../shared/host.js";
import { clip, parseJson } from "../shared/json.js";
import {
  checkAppOptions,
  MAX_ID_CHARS,
  type AppLimits,
  type DeviceAppOptions,
  type DeviceIdentity,
  type MessageKind,
} from "./app-options.js";
import { BUILT_IN_TYPES, builtInHandlers, type RequestHandler } from "./handlers.js";
import type { Settings } from "./settings.js";
import { Telemetry } from "./telemetry.js";
import { utf8Length } from "../websocket/utf8.js";

export { RequestError, RequestErrorCode, requestError } from "../shared/errors.js";
export { BUILT_IN_TYPES, defineHandler, type RequestContext, type RequestHandler } from "./handlers.js";
export {
  DEFAULT_APP_LIMITS,
  MAX_ID_CHARS,
  MAX_JSON_DEPTH,
  type AppLimits,
  type DeviceAppOptions,
  type DeviceIdentity,
} from "./app-options.js";

/** Longest handler type registrable, characters. */
export const MAX_TYPE_CHARS = 64;

/**
 * Types the device sends. One arriving is the device's own message coming back (from an
 * echo server): it is counted and ignored, never answered.
 */
export const DEVICE_MESSAGE_TYPES: readonly string[] = Object.freeze(["hello", "telemetry", "reply", "error", "ota"]);
/** The one notification the device acts on. */
const ACK = "ack";

/** Longest human message in an error sent to the peer, characters. */
const MAX_ERROR_MESSAGE_CHARS = 200;
/** Longest text (a type, an error's message) put in a log line, characters. */
const MAX_LOG_CHARS = 60;

export interface AppCounters {
  /** Messages received (text and binary, good and bad). */
  messagesIn: number;
  /** Messages send() accepted. */
  messagesOut: number;
  /** Messages lost without delivery: outboxDropped + repliesDropped. */
  dropped: number;
  /** Error replies and error messages send() accepted. */
  errorsSent: number;
  /** Replies, error messages and echoes that send() refused. */
  repliesDropped: number;
  /** Telemetry records held, awaiting an ack. */
  outboxSize: number;
  /** Sequence number of the last telemetry record made; 0 before the first. */
  telemetrySeq: number;
  /** Telemetry records dropped by the outbox's drop policy. */
  outboxDropped: number;
  /** Messages of the device's own types, and acks of another boot, ignored. */
  ignored: number;
  /** Asynchronous requests under way. */
  pending: number;
  /** Handler results that arrived after their timeout (or after stop()) and were dropped. */
  lateResults: number;
}

interface PendingRequest {
  timer: TimerId;
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

/** Copies the fields of `extra` that `target` does not have yet (ours are never overridden). */
function addMissing(target: Record<string, unknown>, extra: Record<string, unknown> | undefined): void {
  if (!extra) return;
  for (const key of Object.keys(extra)) if (!hasOwn(target, key)) target[key] = extra[key];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** Docs/protocol.md: a string of 1..64 characters, or an integer. */
function isValidId(id: unknown): id is string | number {
  if (typeof id === "string") return id.length >= 1 && id.length <= MAX_ID_CHARS;
  return typeof id === "number" && Number.isSafeInteger(id);
}

/** UTF-8 length of `text` is over `max` (counted only when the cheap bounds cannot tell). */
function utf8Over(text: string, max: number): boolean {
  if (text.length > max) return true;
  if (text.length * 3 <= max) return false;
  return utf8Length(text) > max;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    return "unprintable error";
  }
}

export class DeviceApp {
  private readonly identity: DeviceIdentity;
  private readonly timers: Timers;
  private readonly log: Log;
  private readonly options: DeviceAppOptions;
  private readonly settings: Settings;
  private readonly limits: AppLimits;
  private readonly handlers = new Map<string, RequestHandler>();
  private readonly telemetry: Telemetry;
  private readonly startedAt: number;
  private readonly pending = new Map<number, PendingRequest>();
  private nextPendingToken = 1;
  private running = false;
  /** Between connected() and disconnected(). */
  private isConnected = false;
  private readonly counts = {
    messagesIn: 0,
    messagesOut: 0,
    errorsSent: 0,
    repliesDropped: 0,
    ignored: 0,
    lateResults: 0,
  };

  /** Validates the options (src/device/app-options.ts; errors name the bad one). */
  constructor(options: DeviceAppOptions) {
    const { identity, limits } = checkAppOptions(options);
    this.options = options;
    this.identity = identity;
    this.timers = options.timers;
    this.settings = options.settings;
    this.log = options.log ?? (() => {});
    this.limits = limits;
    this.telemetry = new Telemetry({
      timers: this.timers,
      settings: this.settings,
      bootId: this.identity.bootId,
      maxEntries: this.limits.outboxEntries,
      maxBytes: this.limits.outboxBytes,
      send: (text) => this.sendNow(text, "telemetry"),
      readTelemetry: options.readTelemetry,
      wallTime: options.wallTime,
      freeMemory: () => this.freeMemory(),
      status: options.status,
      uptimeMs: () => this.uptimeMs(),
      note: (level, event, fields) => this.note(level, event, fields),
      errorText: (error) => clip(errorText(error), MAX_LOG_CHARS),
      journal: options.journal,
      restored: options.restored,
    });
    this.startedAt = this.timers.now();
    for (const [type, handler] of builtInHandlers({
      uptimeMs: () => this.uptimeMs(),
      status: () => this.statusResult(),
      settings: this.settings,
      reboot: options.reboot,
    })) {
      this.handlers.set(type, handler);
    }
    if (options.handlers !== undefined) {
      for (const type of Object.keys(options.handlers)) this.register(type, options.handlers[type]);
    }
  }

  /** Starts telemetry: a record every telemetryIntervalMs, following changes of the setting. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.telemetry.start();
    this.note("info", "app_started", { telemetryIntervalMs: this.telemetry.intervalMs() });
  }

  /**
   * Stops telemetry and clears every timer. Asynchronous requests under way are abandoned:
   * their results, should they come, are dropped and logged.
   */
  stop(): void {
    this.running = false;
    this.telemetry.stop();
    const abandoned = this.pending.size;
    for (const request of this.pending.values()) this.timers.clear(request.timer);
    this.pending.clear();
    this.note("info", "app_stopped", { abandonedRequests: abandoned });
  }

  /** A connection opened: hello, then every unacknowledged telemetry record, oldest first. */
  connected(): void {
    this.isConnected = true;
    this.telemetry.connected();
    this.note("info", "app_connected", { unacked: this.telemetry.size });
    const fields: Record<string, unknown> = {
      type: "hello",
      device: this.identity.deviceId,
      firmware: this.identity.firmware,
      boot: this.identity.bootId,
      capabilities: this.capabilities(),
    };
    // The composition's fields (clock, reset reason...) do not override ours.
    if (this.options.hello) addMissing(fields, this.options.hello());
    const hello = JSON.stringify(fields);
    if (!this.sendNow(hello, "hello")) this.note("warn", "hello_not_sent", {});
    this.telemetry.flush();
  }

  /**
   * The connection ended: telemetry is kept for the next one. Called for an attempt that
   * never opened (the supervisor reports those too), it does nothing: no connection ended.
   */
  disconnected(): void {
    if (!this.isConnected) return;
    this.isConnected = false;
    this.telemetry.disconnected();
    this.note("info", "app_disconnected", { unacked: this.telemetry.size });
  }

  /** One message from the server. Never throws. */
  receive(data: string | Uint8Array): void {
    this.counts.messagesIn++;
    try {
      this.dispatch(data);
    } catch (error) {
      // Only a bug of ours (or a throwing log) gets here; the loop goes on.
      this.note("error", "app_internal_error", { error: clip(errorText(error), MAX_LOG_CHARS) });
    }
  }

  /**
   * Adds a handler for requests of `type`. Throws (ERR_INVALID_ARGUMENT) for a built-in or
   * protocol type, a type already registered, or a handler without handle().
   */
  register(type: string, handler: RequestHandler): void {
    if (typeof type !== "string" || type.length === 0 || type.length > MAX_TYPE_CHARS) {
      throw invalidArgument(`a handler type must be a string of 1 to ${MAX_TYPE_CHARS} characters, got ${describe(type)}`);
    }
    if (BUILT_IN_TYPES.includes(type)) {
      throw invalidArgument(`type ${describe(type)} is built in: a user handler cannot replace it`);
    }
    if (DEVICE_MESSAGE_TYPES.includes(type) || type === ACK) {
      throw invalidArgument(`type ${describe(type)} is a protocol message, not a request type`);
    }
    if (this.handlers.has(type)) {
      throw invalidArgument(`a handler for type ${describe(type)} is already registered`);
    }
    if (handler === null || typeof handler !== "object" || typeof handler.handle !== "function") {
      throw invalidArgument(`the handler for ${describe(type)} must be an object with a handle() method`);
    }
    if (handler.parse !== undefined && typeof handler.parse !== "function") {
      throw invalidArgument(`the parse of the handler for ${describe(type)} must be a function`);
    }
    this.handlers.set(type, handler);
  }

  /** Drops the telemetry records not acknowledged yet, in RAM and in storage (a factory reset). */
  discardTelemetry(): void {
    const records = this.telemetry.discard();
    if (records > 0) this.note("warn", "telemetry_discarded", { records });
  }

  /** Renames the device: hellos from now on carry `deviceId` (provisioning's device name). */
  rename(deviceId: string): void {
    this.identity.deviceId = deviceId;
  }

  get counters(): Readonly<AppCounters> {
    return {
      messagesIn: this.counts.messagesIn,
      messagesOut: this.counts.messagesOut,
      dropped: this.telemetry.dropped + this.counts.repliesDropped,
      errorsSent: this.counts.errorsSent,
      repliesDropped: this.counts.repliesDropped,
      outboxSize: this.telemetry.size,
      telemetrySeq: this.telemetry.lastSequence,
      outboxDropped: this.telemetry.dropped,
      ignored: this.counts.ignored,
      pending: this.pending.size,
      lateResults: this.counts.lateResults,
    };
  }

  /** Whole milliseconds since this app was constructed (hosts' clocks may have fractions). */
  uptimeMs(): number {
    return Math.floor(this.timers.now() - this.startedAt);
  }

  // -------------------------------------------------------------------------------------
  // Receiving.

  private dispatch(data: string | Uint8Array): void {
    if (data instanceof Uint8Array) {
      // A firmware update's chunk is taken by the updater; any other binary message is echoed.
      if (!this.options.onBinary?.(data)) this.echoBinary(data);
      return;
    }
    const parsed = parseJson(data, { maxBytes: this.limits.maxJsonBytes, maxDepth: this.limits.maxJsonDepth });
    if (!parsed.ok) {
      this.badInput(parsed.code, parsed.message);
      return;
    }
    const message = parsed.value;
    if (!isRecord(message) || typeof message.type !== "string") {
      // Not our envelope: the classic echo, the original text unchanged.
      this.note("debug", "app_echo", { bytes: data.length });
      this.sendReply(data, "echo");
      return;
    }
    const type = message.type;
    if (type === ACK) {
      this.acknowledge(message);
      return;
    }
    if (DEVICE_MESSAGE_TYPES.includes(type)) {
      // Our own message coming back, id or not: answering it could start a loop.
      this.counts.ignored++;
      this.note("debug", "app_ignored", { type });
      return;
    }
    if (!hasOwn(message, "id")) {
      if (this.handlers.has(type)) {
        this.badInput(RequestErrorCode.BAD_REQUEST, `request ${describe(type)} has no id`);
      } else {
        this.badInput(RequestErrorCode.UNKNOWN_TYPE, `no handler for type ${describe(type)}`);
      }
      return;
    }
    const id = message.id;
    if (!isValidId(id)) {
      this.badInput(
        RequestErrorCode.BAD_REQUEST,
        `id must be a string of 1 to ${MAX_ID_CHARS} characters or an integer, got ${describe(id)}`,
      );
      return;
    }
    this.request(type, id, message);
  }

  private request(type: string, id: string | number, message: Record<string, unknown>): void {
    this.note("info", "app_request", { type: clip(type, MAX_LOG_CHARS), id });
    const handler = this.handlers.get(type);
    if (handler === undefined) {
      this.replyError(id, RequestErrorCode.UNKNOWN_TYPE, `no handler for type ${describe(type)}`);
      return;
    }
    // Built-ins answer at once and stay available (status shows why the device is busy).
    if (!BUILT_IN_TYPES.includes(type) && this.pending.size >= this.limits.maxPendingRequests) {
      this.note("warn", "app_busy", { type: clip(type, MAX_LOG_CHARS), id, pending: this.pending.size });
      this.replyError(
        id,
        RequestErrorCode.BUSY,
        `${this.pending.size} requests are already under way (maxPendingRequests); try again later`,
      );
      return;
    }
    let result: unknown;
    try {
      const params = handler.parse ? handler.parse(message) : message;
      result = handler.handle(params, { id, type, now: () => this.timers.now() });
    } catch (error) {
      this.replyFailure(type, id, error);
      return;
    }
    if (isThenable(result)) {
      this.awaitResult(type, id, result);
    } else {
      this.replyResult(type, id, result);
    }
  }

  private awaitResult(type: string, id: string | number, result: PromiseLike<unknown>): void {
    const token = this.nextPendingToken++;
    const timeoutMs = this.limits.handlerTimeoutMs;
    const timer = this.timers.set(() => {
      if (!this.pending.delete(token)) return;
      this.note("warn", "handler_timeout", { type: clip(type, MAX_LOG_CHARS), id, timeoutMs });
      this.replyError(
        id,
        RequestErrorCode.HANDLER_TIMEOUT,
        `handler for type ${describe(type)} did not answer within ${timeoutMs} ms`,
      );
    }, timeoutMs);
    this.pending.set(token, { timer });
    const settle = (ok: boolean, value: unknown): void => {
      try {
        const request = this.pending.get(token);
        if (request === undefined) {
          this.counts.lateResults++;
          this.note("warn", "app_late_result", { type: clip(type, MAX_LOG_CHARS), id, ok });
          return;
        }
        this.timers.clear(request.timer);
        this.pending.delete(token);
        if (ok) this.replyResult(type, id, value);
        else this.replyFailure(type, id, value);
      } catch (error) {
        this.note("error", "app_internal_error", { error: clip(errorText(error), MAX_LOG_CHARS) });
      }
    };
    // Promise.resolve adopts any thenable; a `then` that throws becomes a rejection.
    Promise.resolve(result).then(
      (value) => settle(true, value),
      (error: unknown) => settle(false, error),
    );
  }

  private acknowledge(message: Record<string, unknown>): void {
    const { boot, seq } = message;
    if (typeof boot !== "string" || typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
      this.badInput(RequestErrorCode.BAD_REQUEST, 'ack needs "boot" (a string) and "seq" (an integer >= 0)');
      return;
    }
    const removed = this.telemetry.acknowledge(seq, boot);
    if (boot !== this.identity.bootId) {
      if (removed === 0) {
        // An ack meant for an earlier boot of this device whose records are not held here.
        this.counts.ignored++;
        this.note("info", "ack_other_boot", { seq });
        return;
      }
      // Records of an earlier boot, restored from storage and resent under their own boot.
      this.note("info", "telemetry_acked", { boot, seq, removed, unacked: this.telemetry.size });
      return;
    }
    this.note("info", "telemetry_acked", { seq, removed, unacked: this.telemetry.size });
  }

  // -------------------------------------------------------------------------------------
  // Answering.

  private replyResult(type: string, id: string | number, result: unknown): void {
    let text: string;
    try {
      text = JSON.stringify({ type: "reply", id, result: result === undefined ? null : result });
    } catch (error) {
      this.note("error", "handler_failed", {
        type: clip(type, MAX_LOG_CHARS),
        id,
        error: `result is not JSON: ${clip(errorText(error), MAX_LOG_CHARS)}`,
      });
      this.replyError(id, RequestErrorCode.HANDLER_FAILED, `the result of ${describe(type)} is not JSON`);
      return;
    }
    if (utf8Over(text, this.limits.maxReplyBytes)) {
      this.note("warn", "reply_too_large", { type: clip(type, MAX_LOG_CHARS), id, bytes: text.length });
      this.replyError(
        id,
        RequestErrorCode.TOO_LARGE,
        `the reply to ${describe(type)} would exceed maxReplyBytes (${this.limits.maxReplyBytes} bytes)`,
      );
      return;
    }
    this.sendReply(text, "reply");
  }

  private replyFailure(type: string, id: string | number, error: unknown): void {
    if (error instanceof RequestError) {
      this.note("info", "app_request_refused", { type: clip(type, MAX_LOG_CHARS), id, code: error.code });
      this.replyError(id, error.code, error.message);
      return;
    }
    const reason = errorText(error);
    this.note("error", "handler_failed", { type: clip(type, MAX_LOG_CHARS), id, error: clip(reason, MAX_LOG_CHARS) });
    this.replyError(id, RequestErrorCode.HANDLER_FAILED, `handler for type ${describe(type)} failed: ${reason}`);
  }

  private replyError(id: string | number, code: string, message: string): void {
    const text = JSON.stringify({
      type: "reply",
      id,
      error: { code: clip(String(code), MAX_LOG_CHARS), message: clip(message, MAX_ERROR_MESSAGE_CHARS) },
    });
    if (this.sendReply(text, "reply")) this.counts.errorsSent++;
  }

  /** Input that cannot be answered as a request: an `error` message (no id). */
  private badInput(code: string, message: string): void {
    this.note("warn", "app_bad_input", { code });
    const text = JSON.stringify({ type: "error", error: { code, message: clip(message, MAX_ERROR_MESSAGE_CHARS) } });
    if (this.sendReply(text, "error")) this.counts.errorsSent++;
  }

  private echoBinary(bytes: Uint8Array): void {
    this.note("debug", "app_echo", { bytes: bytes.length, binary: true });
    let ok = false;
    if (this.options.sendBinary) {
      try {
        ok = this.options.sendBinary(bytes) === true;
      } catch (error) {
        this.note("warn", "app_send_failed", { kind: "binary", error: clip(errorText(error), MAX_LOG_CHARS) });
      }
    }
    if (ok) {
      this.counts.messagesOut++;
    } else {
      this.counts.repliesDropped++;
      this.note("warn", "reply_dropped", { kind: "binary", bytes: bytes.length });
    }
  }

  /** Sends a reply, an error message or an echo: not retried, so a refusal is a drop. */
  private sendReply(text: string, kind: MessageKind): boolean {
    if (this.sendNow(text, kind)) return true;
    this.counts.repliesDropped++;
    this.note("warn", "reply_dropped", { kind, bytes: text.length });
    return false;
  }

  private sendNow(text: string, kind: MessageKind): boolean {
    let ok = false;
    try {
      ok = this.options.send(text, kind) === true;
    } catch (error) {
      this.note("warn", "app_send_failed", { error: clip(errorText(error), MAX_LOG_CHARS) });
    }
    if (ok) this.counts.messagesOut++;
    return ok;
  }

  // -------------------------------------------------------------------------------------
  // What the built-in status request reports.

  private statusResult(): Record<string, unknown> {
    const counters = this.counters;
    const result: Record<string, unknown> = { uptimeMs: this.uptimeMs() };
    const free = this.freeMemory();
    if (free !== undefined) result.freeMemory = free;
    result.messagesIn = counters.messagesIn;
    result.messagesOut = counters.messagesOut;
    result.dropped = counters.dropped;
    result.errorsSent = counters.errorsSent;
    result.ignored = counters.ignored;
    result.pending = counters.pending;
    const telemetry = this.telemetry;
    result.outbox = { size: telemetry.size, bytes: telemetry.bytes, dropped: telemetry.dropped };
    result.telemetrySeq = counters.telemetrySeq;
    result.boot = this.identity.bootId;
    // The composition's fields (rssi, reconnects, lastRttMs, wifi, link) do not override ours.
    if (this.options.status) addMissing(result, this.options.status());
    return result;
  }

  private freeMemory(): number | undefined {
    if (!this.options.freeMemory) return undefined;
    try {
      const free = this.options.freeMemory();
      return typeof free === "number" && Number.isFinite(free) ? free : undefined;
    } catch {
      return undefined;
    }
  }

  /** Handler types, then options.capabilities not already among them. */
  private capabilities(): string[] {
    const list = Array.from(this.handlers.keys());
    for (const extra of this.options.capabilities ?? []) {
      if (typeof extra === "string" && !list.includes(extra)) list.push(extra);
    }
    return list;
  }

  /** Logs, never letting a failing log break the loop. */
  private note(level: "debug" | "info" | "warn" | "error", event: string, fields: Record<string, unknown>): void {
    try {
      this.log(level, event, fields);
    } catch {
      // A log that throws must not take the device down.
    }
  }
}
