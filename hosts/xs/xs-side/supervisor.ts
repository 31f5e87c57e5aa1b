/**
 * The connection supervisor (src/device/supervisor.ts) inside XS, driven from Node for tests
 * (hosts/xs/on-engine.ts createSupervisorOn). Each callback becomes an event stamped with
 * `at`, the XS clock (Node's performance.now() timeline), so a test measures gaps as it
 * would on Node; each connection attempt is an "attempt" event; the log lines are events
 * of this program too, so several programs in one worker keep their logs apart.
 */
import type { BackoffPolicy } from "../../../src/device/backoff.js";
import type { Limits } from "../../../src/websocket/constants.js";
import type { Log, LogLevel } from "../../../src/shared/host.js";
import { ConnectionSupervisor, type HeartbeatOptions } from "../../../src/device/supervisor.js";
import { WebSocketClient, type CloseEvent } from "../../../src/websocket/client.js";
import { levelShown, logValue } from "../../../src/shared/log-format.js";
import { now, powers } from "./bridge.js";
import { createXsNetHost } from "./host.js";
import { errorToJson, registerProgram, type Json } from "./programs.js";

registerProgram("supervisor", (options, emit) => {
  const minLevel = (options.logLevel as LogLevel | "silent" | undefined) ?? "silent";
  const host = createXsNetHost("silent");
  if (minLevel !== "silent") {
    const log: Log = (level, name, fields) => {
      if (!levelShown(level, minLevel)) return;
      emit({ event: "log", level, name, fields: JSON.parse(JSON.stringify(fields ?? {}, logValue)) as Json, at: now() });
    };
    host.log = log;
  }
  const stats = (): Json => JSON.parse(JSON.stringify(supervisor.stats)) as Json;
  const state = (): Json => ({ state: supervisor.state, stats: stats() });
  const client: Record<string, unknown> = {};
  if (options.protocols !== undefined) client.protocols = options.protocols;
  if (options.headers !== undefined) client.headers = options.headers;
  if (options.limits !== undefined) client.limits = options.limits as unknown as Partial<Limits>;
  if (options.tls !== undefined) client.tls = options.tls;

  const supervisor: ConnectionSupervisor = new ConnectionSupervisor({
    url: options.url as string,
    host,
    client,
    ...(options.backoff !== undefined ? { backoff: options.backoff as unknown as Partial<BackoffPolicy> } : {}),
    ...(options.stableMs !== undefined ? { stableMs: options.stableMs as number } : {}),
    ...(options.heartbeat !== undefined ? { heartbeat: options.heartbeat as unknown as Partial<HeartbeatOptions> | false } : {}),
    ...(options.networkUp !== undefined ? { networkUp: options.networkUp as boolean } : {}),
    createClient: (clientOptions) => {
      emit({ event: "attempt", at: now() });
      return new WebSocketClient(clientOptions);
    },
    onOpen: (protocol) => emit({ event: "open", protocol, at: now(), ...(state() as Record<string, Json>) }),
    onMessage: (data) =>
      typeof data === "string"
        ? emit({ event: "message", binary: false, at: now() }, powers.encode(data))
        : emit({ event: "message", binary: true, at: now() }, data),
    onClose: (event: CloseEvent, retryInMs) =>
      emit({
        event: "close",
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        unsentBytes: event.unsentBytes,
        ...(event.error ? { error: errorToJson(event.error) } : {}),
        retryInMs: retryInMs ?? null,
        at: now(),
        ...(state() as Record<string, Json>),
      }),
    onState: (value) => emit({ event: "state", value, at: now(), stats: stats() }),
  });

  return {
    call(op, args, bytes) {
      switch (op) {
        case "start":
          supervisor.start();
          return;
        case "stop":
          supervisor.stop(() => emit({ event: "stopped", at: now(), ...(state() as Record<string, Json>) }));
          return;
        case "setNetwork":
          supervisor.setNetwork(args.up === true);
          return;
        case "send":
          return { value: supervisor.send(args.binary ? bytes : powers.decode(bytes)) };
        case "state":
          return;
        default:
          throw new Error(`supervisor: unknown call ${JSON.stringify(op)}`);
      }
    },
    state,
  };
});
