/**
 * A ConnectionSupervisor (src/device/supervisor.ts) on a virtual clock, with a fake client
 * factory that records what the supervisor asked of each client and lets the test play the
 * connection (open, messages, pongs, close): the harness of tests/device/supervisor.test.ts
 * and heartbeat.test.ts.
 */
import assert from "node:assert/strict";

import { DEFAULT_BACKOFF, backoffDelay } from "../../src/device/backoff.js";
import { CloseCode } from "../../src/websocket/constants.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import type { LogLevel, NetHost, TcpSocketConstructor } from "../../src/shared/host.js";
import {
  ConnectionSupervisor,
  type ClientLike,
  type SupervisorOptions,
  type SupervisorStateValue,
} from "../../src/device/supervisor.js";
import { ReadyState, type CloseEvent, type ReadyStateValue, type WebSocketClientOptions } from "../../src/websocket/client.js";
import { VirtualClock } from "./virtual-clock.js";

export const URL = "ws://device.example:8080/live";

/** A client the test drives: it records calls and fires the callbacks it was given. */
export class FakeClient implements ClientLike {
  readyState: ReadyStateValue = ReadyState.CONNECTING;
  bufferedAmount = 0;
  sent: Array<string | Uint8Array> = [];
  pings: string[] = [];
  closeCalls: Array<{ code: number | undefined; reason: string | undefined }> = [];
  terminations: Array<WebSocketError | undefined> = [];
  /** What send() throws next, when set. */
  sendError: WebSocketError | undefined;
  pingError: WebSocketError | undefined;
  private closeReported = false;

  constructor(readonly options: WebSocketClientOptions) {}

  send(data: string | Uint8Array): void {
    if (this.sendError) throw this.sendError;
    if (this.readyState !== ReadyState.OPEN) throw new WebSocketError(ErrorCode.INVALID_STATE, "not open");
    this.sent.push(data);
  }
  ping(payload: string | Uint8Array = ""): void {
    if (this.pingError) throw this.pingError;
    this.pings.push(typeof payload === "string" ? payload : Buffer.from(payload).toString("latin1"));
  }
  close(code?: number, reason?: string): void {
    this.closeCalls.push({ code, reason });
    if (this.readyState === ReadyState.OPEN) this.readyState = ReadyState.CLOSING;
  }
  terminate(error?: WebSocketError): void {
    this.terminations.push(error);
    this.closed({ code: CloseCode.ABNORMAL, reason: error ? "" : "terminated", wasClean: false, ...(error ? { error } : {}) });
  }

  // --- the test plays the network and the server ---
  open(protocol = ""): void {
    this.readyState = ReadyState.OPEN;
    this.options.onOpen?.(protocol);
  }
  message(data: string | Uint8Array): void {
    this.options.onMessage?.(data);
  }
  pong(payload: string): void {
    this.options.onPong?.(new Uint8Array(Buffer.from(payload, "latin1")));
  }
  serverPing(): void {
    this.options.onPing?.(new Uint8Array(0));
  }
  /** The connection ended (refused, lost, closed by the server...). */
  closed(event: Partial<CloseEvent> = {}): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.readyState = ReadyState.CLOSED;
    this.options.onClose?.({ code: CloseCode.ABNORMAL, reason: "", wasClean: false, unsentBytes: 0, ...event });
  }
  refuse(): void {
    this.closed({
      code: CloseCode.ABNORMAL,
      reason: "connection refused",
      error: new WebSocketError(ErrorCode.CONNECT_FAILED, "connection refused"),
    });
  }
}

export interface LogEntry {
  level: LogLevel;
  event: string;
  fields: Record<string, unknown>;
}

export interface Harness {
  supervisor: ConnectionSupervisor;
  clock: VirtualClock;
  clients: FakeClient[];
  /** The newest client. */
  readonly client: FakeClient;
  states: SupervisorStateValue[];
  closes: Array<{ event: CloseEvent; retryInMs: number | undefined }>;
  opens: string[];
  messages: Array<string | Uint8Array>;
  logs: LogEntry[];
  host: NetHost;
  /** The value the host's random source yields, as randomUnit reads it (default: the top). */
  random: number;
  events(name: string): LogEntry[];
}

/** A host whose TCP must never be used: unit tests go through the fake factory. */
export const NO_TCP = class {
  constructor() {
    throw new Error("the unit tests make no sockets");
  }
} as unknown as TcpSocketConstructor;

/** Bytes that randomUnit turns into `value` (to 32 bits). */
function randomBytesFor(value: number, into: Uint8Array): void {
  const n = Math.min(2 ** 32 - 1, Math.floor(value * 2 ** 32));
  into[0] = n >>> 24;
  into[1] = (n >>> 16) & 0xff;
  into[2] = (n >>> 8) & 0xff;
  into[3] = n & 0xff;
}

/** The largest value randomUnit can yield: the delays are then window - 1, easy to read. */
export const TOP = (2 ** 32 - 1) / 2 ** 32;

export function harness(options: Partial<SupervisorOptions> = {}, start = true): Harness {
  const clock = new VirtualClock();
  const clients: FakeClient[] = [];
  const logs: LogEntry[] = [];
  const h = {
    clock,
    clients,
    states: [] as SupervisorStateValue[],
    closes: [] as Array<{ event: CloseEvent; retryInMs: number | undefined }>,
    opens: [] as string[],
    messages: [] as Array<string | Uint8Array>,
    logs,
    random: TOP,
    get client(): FakeClient {
      assert.ok(clients.length > 0, "no client was made");
      return clients[clients.length - 1]!;
    },
    events: (name: string) => logs.filter((entry) => entry.event === name),
  } as unknown as Harness;
  h.host = {
    tcp: NO_TCP,
    timers: clock,
    random: (into) => randomBytesFor(h.random, into),
    log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
  };
  h.supervisor = new ConnectionSupervisor({
    url: URL,
    host: h.host,
    createClient: (clientOptions) => {
      const client = new FakeClient(clientOptions);
      clients.push(client);
      return client;
    },
    onState: (state) => h.states.push(state),
    onClose: (event, retryInMs) => h.closes.push({ event, retryInMs }),
    onOpen: (protocol) => h.opens.push(protocol),
    onMessage: (data) => h.messages.push(data),
    ...options,
  });
  if (start) h.supervisor.start();
  return h;
}

/** Top-of-window delay for the n-th consecutive failure with the default policy. */
export function topDelay(attempt: number): number {
  return backoffDelay(attempt, DEFAULT_BACKOFF, TOP);
}

export function assertOptionError(options: Partial<SupervisorOptions> | Record<string, unknown>, name: string): void {
  assert.throws(
    () => harness(options as Partial<SupervisorOptions>, false),
    (error: unknown) => {
      assert.ok(error instanceof WebSocketError, `a WebSocketError, got ${String(error)}`);
      assert.equal(error.code, ErrorCode.INVALID_OPTION, error.message);
      assert.ok(error.message.startsWith(`option ${name} `), `${error.message} names ${name}`);
      return true;
    },
  );
}
