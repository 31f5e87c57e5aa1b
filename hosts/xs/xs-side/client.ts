/**
 * A WebSocketClient inside XS driven from Node, for tests that run one source on both
 * engines (hosts/xs/on-engine.ts is its Node end). Every callback becomes an event for Node;
 * every event and every call result carries the client's state (readyState,
 * bufferedAmount, protocol), which Node caches for its synchronous getters.
 */
import type { Limits } from "../../../src/websocket/constants.js";
import { WebSocketError, type ErrorCodeValue } from "../../../src/shared/errors.js";
import type { LogLevel } from "../../../src/shared/host.js";
import { ReadyState, WebSocketClient, type ClientTlsOptions, type CloseEvent } from "../../../src/websocket/client.js";
import { levelShown, logValue } from "../../../src/shared/log-format.js";
import { powers } from "./bridge.js";
import { createXsNetHost } from "./host.js";
import { errorToJson, registerProgram, type Json } from "./programs.js";

registerProgram("client", (options, emit) => {
  const logLevel = (options.logLevel as LogLevel | "silent" | undefined) ?? "silent";
  // logEvents: the log lines are this program's events, kept apart from other programs'.
  const host = createXsNetHost(options.logEvents === true ? "silent" : logLevel);
  if (options.logEvents === true && logLevel !== "silent") {
    host.log = (level, name, fields) => {
      if (!levelShown(level, logLevel)) return;
      emit({ event: "log", level, name, fields: JSON.parse(JSON.stringify(fields ?? {}, logValue)) as Json });
    };
  }
  let client: WebSocketClient | undefined;
  const state = (): Record<string, Json> =>
    client
      ? { readyState: client.readyState, bufferedAmount: client.bufferedAmount, protocol: client.protocol }
      : { readyState: 0, bufferedAmount: 0, protocol: "" };
  const send = (event: string, fields: Record<string, Json> = {}, bytes?: Uint8Array) =>
    emit({ event, ...fields, state: state() }, bytes);

  client = new WebSocketClient({
    url: options.url as string,
    host,
    ...(options.protocols !== undefined ? { protocols: options.protocols as string[] } : {}),
    ...(options.headers !== undefined ? { headers: options.headers as Record<string, string> } : {}),
    ...(options.limits !== undefined ? { limits: options.limits as unknown as Partial<Limits> } : {}),
    ...(options.tls !== undefined ? { tls: options.tls as unknown as ClientTlsOptions } : {}),
    onOpen: (protocol) => send("open", { protocol }),
    onMessage: (data) => {
      if (typeof data === "string") send("message", { binary: false }, powers.encode(data));
      else send("message", { binary: true }, data);
      // The echo agent's shape, inside XS: the echo goes out before the client reads the
      // next frame, as it would on the chip (an echo from Node would come after it).
      if (options.echo === true && client!.readyState === ReadyState.OPEN) client!.send(data);
    },
    onPing: (payload) => send("ping", {}, payload),
    onPong: (payload) => send("pong", {}, payload),
    onDrain: () => send("drain"),
    onClose: (event: CloseEvent) =>
      send("close", {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        unsentBytes: event.unsentBytes,
        ...(event.error ? { error: errorToJson(event.error) } : {}),
      }),
  });
  const effective = client.effectiveLimits as unknown as Json;

  return {
    call(op, args, bytes) {
      const c = client!;
      const more = args.more === true ? { more: true } : undefined;
      switch (op) {
        case "send":
          c.send(args.binary ? bytes : powers.decode(bytes), more);
          break;
        case "ping":
          c.ping(args.text === true ? powers.decode(bytes) : bytes);
          break;
        case "close":
          // Absent arguments take the client's defaults, as a direct call would.
          if (args.code === undefined) c.close();
          else if (args.reason === undefined) c.close(args.code as number);
          else c.close(args.code as number, args.reason as string);
          break;
        case "terminate": {
          const error = args.error as { code: string; message: string; closeCode?: number } | undefined;
          c.terminate(error ? new WebSocketError(error.code as ErrorCodeValue, error.message, error.closeCode) : undefined);
          break;
        }
        case "state":
          break;
        case "limits":
          return { value: effective };
        default:
          throw new Error(`client: unknown call ${JSON.stringify(op)}`);
      }
      return undefined;
    },
    state,
  };
});

