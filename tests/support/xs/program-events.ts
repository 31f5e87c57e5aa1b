/**
 * What the tests' XS programs (client.ts, supervisor.ts) do alike: take a WebSocket client's
 * options from Node's JSON, report a CloseEvent as JSON (tests/support/on-engine.ts turns it
 * back into one), and send their log lines to Node as events of the program, so programs
 * sharing a worker keep their logs apart.
 */
import type { Limits } from "../../../src/websocket/constants.js";
import type { Log, LogLevel } from "../../../src/shared/host.js";
import type { ClientTlsOptions, CloseEvent, WebSocketClientOptions } from "../../../src/websocket/client.js";
import { errorToJson, type Emit, type Json } from "../../../hosts/xs/xs-side/programs.js";
import { levelShown, logValue } from "../../../src/shared/log-format.js";

/** The client options Node passed that were given (as on-engine.ts clientJson() sends them). */
export function clientOptionsFrom(
  options: Record<string, Json>,
): Pick<WebSocketClientOptions, "protocols" | "headers" | "limits" | "tls"> {
  const out: Pick<WebSocketClientOptions, "protocols" | "headers" | "limits" | "tls"> = {};
  if (options.protocols !== undefined) out.protocols = options.protocols as string[];
  // As given (an object or an array of pairs): the client reads either.
  if (options.headers !== undefined) out.headers = options.headers as Record<string, string>;
  if (options.limits !== undefined) out.limits = options.limits as unknown as Partial<Limits>;
  if (options.tls !== undefined) out.tls = options.tls as unknown as ClientTlsOptions;
  return out;
}

/** A CloseEvent as JSON, its error with what a Node test asserts on (errorToJson). */
export function closeEventJson(event: CloseEvent): Record<string, Json> {
  return {
    code: event.code,
    reason: event.reason,
    wasClean: event.wasClean,
    unsentBytes: event.unsentBytes,
    ...(event.error ? { error: errorToJson(event.error) } : {}),
  };
}

/**
 * A Log that emits each line at or above `minLevel` as a "log" event ({level, name, fields},
 * plus what `stamp` adds); undefined for "silent".
 */
export function eventLog(emit: Emit, minLevel: LogLevel | "silent", stamp: () => Record<string, Json> = () => ({})): Log | undefined {
  if (minLevel === "silent") return undefined;
  return (level, name, fields) => {
    if (!levelShown(level, minLevel)) return;
    emit({ event: "log", level, name, fields: JSON.parse(JSON.stringify(fields ?? {}, logValue)) as Json, ...stamp() });
  };
}

