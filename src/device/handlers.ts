/**
 * Request handlers: the shape of one (parse, then handle), and the five the device answers
 * itself (docs/protocol.md, "Built-in requests"): echo, ping, status, config and reboot.
 *
 * A handler never sends anything: the JSON loop (src/device/app.ts) calls it, bounds it in
 * number and time, and turns what it returns or throws into exactly one reply.
 */
import { describe, RequestErrorCode, requestError } from "../shared/errors.js";
import type { Settings } from "./settings.js";

export interface RequestContext {
  /** The request's id, as received. */
  id: string | number;
  /** The request's type. */
  type: string;
  /** The host's monotonic clock, ms. */
  now(): number;
}

export interface RequestHandler<P = unknown, R = unknown> {
  /**
   * Reads the handler's fields from the request (the whole message, `type` and `id`
   * included) and returns what handle() gets. Throws requestError("bad_request", ...) for a
   * bad field; any other exception is answered with handler_failed. Without parse, handle()
   * gets the message itself.
   */
  parse?(message: Readonly<Record<string, unknown>>): P;
  /**
   * Answers the request: the result (any JSON value; undefined is sent as null) or a Promise
   * of it. Throwing (or rejecting with) a RequestError replies with its code; anything else
   * replies handler_failed.
   */
  handle(params: P, context: RequestContext): R | Promise<R>;
}

/** Types a handler: `defineHandler({parse(m) {...}, handle(p) {...}})` infers P and R. */
export function defineHandler<P, R>(handler: RequestHandler<P, R>): RequestHandler<P, R> {
  return handler;
}

/** Types the device answers itself; a user handler may not replace them. */
export const BUILT_IN_TYPES: readonly string[] = Object.freeze(["echo", "ping", "status", "config", "reboot"]);

/** Longest reboot reason a request may give, characters (hello reports it after the restart). */
export const MAX_REBOOT_REASON_CHARS = 64;
/** The reason of a reboot request that gives none. */
export const DEFAULT_REBOOT_REASON = "requested";

/** What the built-in handlers read from the device. */
export interface BuiltInContext {
  /** Whole milliseconds since the JSON loop was made (ping). */
  uptimeMs(): number;
  /** The status result: the loop's counters and the composition's fields. */
  status(): Record<string, unknown>;
  /** Read and written by config. */
  settings: Settings;
  /**
   * Restarts the device once the reply is out (src/device/device.ts); returns the result.
   * Absent: the platform cannot restart, and reboot is answered with `unsupported`.
   */
  reboot?: ((reason: string, safeMode: boolean) => Record<string, unknown>) | undefined;
}

const hasOwn = (object: object, key: string): boolean => Object.prototype.hasOwnProperty.call(object, key);

/** The built-in handlers, in BUILT_IN_TYPES order (hello announces them in that order). */
export function builtInHandlers(device: BuiltInContext): Array<[string, RequestHandler]> {
  return [
    ["echo", echoHandler],
    ["ping", defineHandler({ handle: () => ({ pong: true, uptimeMs: device.uptimeMs() }) })],
    ["status", defineHandler({ handle: () => device.status() })],
    ["config", configHandler(device.settings)],
    ["reboot", rebootHandler(device.reboot)],
  ];
}

interface RebootRequest {
  reason: string;
  safeMode: boolean;
}

/**
 * reboot: `{"reason": "..."}` (optional, 1..64 characters, reported by the next hello as
 * rebootReason) and `{"safeMode": true}` (optional: boot into safe mode). The reply comes
 * first, then the device closes its connection (1001) and restarts.
 */
function rebootHandler(
  reboot: BuiltInContext["reboot"],
): RequestHandler<RebootRequest, Record<string, unknown>> {
  return defineHandler({
    parse(message): RebootRequest {
      const { reason, safeMode } = message;
      if (reason !== undefined && (typeof reason !== "string" || reason.length === 0 || reason.length > MAX_REBOOT_REASON_CHARS)) {
        throw requestError(
          RequestErrorCode.BAD_REQUEST,
          `reboot "reason" must be a string of 1 to ${MAX_REBOOT_REASON_CHARS} characters, got ${describe(reason)}`,
        );
      }
      if (safeMode !== undefined && typeof safeMode !== "boolean") {
        throw requestError(RequestErrorCode.BAD_REQUEST, `reboot "safeMode" must be true or false, got ${describe(safeMode)}`);
      }
      return { reason: reason ?? DEFAULT_REBOOT_REASON, safeMode: safeMode === true };
    },
    handle: ({ reason, safeMode }) => {
      if (!reboot) throw requestError(RequestErrorCode.UNSUPPORTED, "this platform cannot restart its firmware (Moddable's simulator): restart it by hand");
      return reboot(reason, safeMode);
    },
  });
}

/** echo: `{"payload": any JSON}` comes back as the result `{"payload": ...}`. */
const echoHandler = Object.freeze(defineHandler({
  parse(message) {
    if (!hasOwn(message, "payload")) {
      throw requestError(RequestErrorCode.BAD_REQUEST, 'echo needs a "payload" (any JSON value)');
    }
    return message.payload;
  },
  handle: (payload) => ({ payload }),
}));

interface ConfigRequest {
  action: "get" | "set";
  key: string | undefined;
  value: unknown;
}

/**
 * config: `get` (every setting, or one `key`) and `set` (`key` and `value`, validated,
 * stored and applied by src/device/settings.ts). The result names the key(s) and value(s).
 */
function configHandler(settings: Settings): RequestHandler<ConfigRequest, Record<string, unknown>> {
  return defineHandler({
    parse(message): ConfigRequest {
      const action = message.action;
      if (action !== "get" && action !== "set") {
        throw requestError(RequestErrorCode.BAD_REQUEST, 'config needs "action": "get" or "set"');
      }
      const key = message.key;
      if (key !== undefined && typeof key !== "string") {
        throw requestError(RequestErrorCode.BAD_REQUEST, `config "key" must be a string, got ${describe(key)}`);
      }
      if (action === "set") {
        if (key === undefined) throw requestError(RequestErrorCode.BAD_REQUEST, 'config set needs a "key"');
        if (!hasOwn(message, "value")) {
          throw requestError(RequestErrorCode.BAD_REQUEST, 'config set needs a "value"');
        }
      }
      return { action, key, value: message.value };
    },
    handle: ({ action, key, value }) => {
      if (action === "get") {
        if (key === undefined) return settings.all();
        return { [key]: settings.get(key) };
      }
      return { [key as string]: settings.set(key as string, value) };
    },
  });
}
