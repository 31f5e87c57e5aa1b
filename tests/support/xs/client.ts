/**
 * A WebSocketClient inside XS driven from Node, for tests that run one source on both
 * engines (tests/support/on-engine.ts is its Node end) and for the XS benchmarks. Every callback becomes an event for Node;
 * every event and every call result carries the client's state (readyState,
 * bufferedAmount, protocol), which Node caches for its synchronous getters.
 */
import { WebSocketError, type ErrorCodeValue } from "../../../src/shared/errors.js";
import type { LogLevel } from "../../../src/shared/host.js";
import { ReadyState, WebSocketClient } from "../../../src/websocket/client.js";
import { powers } from "../../../hosts/xs/xs-side/bridge.js";
import { createXsNetHost } from "../../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../../hosts/xs/xs-side/programs.js";
import { clientOptionsFrom, closeEventJson, eventLog } from "./program-events.js";

registerProgram("client", (options, emit) => {
  const logLevel = (options.logLevel as LogLevel | "silent" | undefined) ?? "silent";
  // logEvents: the log lines are this program's events, kept apart from other programs'.
  const host = createXsNetHost(options.logEvents === true ? "silent" : logLevel);
  const log = options.logEvents === true ? eventLog(emit, logLevel) : undefined;
  if (log) host.log = log;
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
    ...clientOptionsFrom(options),
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
    onClose: (event) => send("close", closeEventJson(event)),
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
