/**
 * A device played by a plain `ws` client, following docs/protocol.md just far enough to
 * drive the companion server: it says hello, sends telemetry, answers echo/ping/status/
 * config requests, answers what it cannot read with the protocol's error codes, and records
 * everything it receives (messages, pongs, the close) for tests to assert on.
 */
import { WebSocket, type RawData } from "ws";
import { deferred, until } from "./wait.js";

/** The protocol's defaults (docs/protocol.md, error codes). */
const MAX_JSON_BYTES = 8192;
const MAX_JSON_DEPTH = 16;

export interface Received {
  text: string;
  /** The parsed message, or undefined when the text is not JSON. */
  json: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

export interface WsDeviceOptions {
  device?: string;
  boot?: string;
  /** Send the hello on open (default true). */
  hello?: boolean;
  /** Answer requests (default true). */
  answer?: boolean;
}

function depthOf(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

function asText(data: RawData): string {
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString("utf8");
}

export class WsDevice {
  readonly socket: WebSocket;
  readonly received: Received[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;
  /** Set when the server refused the upgrade: its HTTP status. */
  rejectedStatus: number | undefined;
  pongs = 0;
  readonly config: Record<string, unknown> = { telemetryIntervalMs: 10_000 };
  readonly id: string;
  readonly boot: string;

  constructor(url: string, options: WsDeviceOptions = {}) {
    this.id = options.device ?? "sim-1";
    this.boot = options.boot ?? "b1";
    const answer = options.answer ?? true;
    const opened = deferred<void>();
    const closed = deferred<Closed>();
    this.opened = opened.promise;
    this.closed = closed.promise;
    this.opened.catch(() => {}); // a test of a refused upgrade looks at `closed`
    this.socket = new WebSocket(url);
    this.socket.on("open", () => {
      opened.resolve();
      if (options.hello ?? true) {
        this.send({ type: "hello", device: this.id, firmware: "0.1.0", boot: this.boot, capabilities: ["echo", "ping", "status", "config"] });
      }
    });
    this.socket.on("unexpected-response", (_request, response) => {
      this.rejectedStatus = response.statusCode;
      response.resume();
      this.socket.terminate();
    });
    this.socket.on("message", (data, isBinary) => {
      const text = asText(data);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      this.received.push({ text, json });
      if (answer && !isBinary) this.answer(text, json);
    });
    this.socket.on("pong", () => this.pongs++);
    this.socket.on("error", (error) => {
      if (!opened.settled) opened.reject(error);
    });
    this.socket.on("close", (code, reason) => {
      if (!opened.settled) opened.reject(new Error(`closed before open: ${code}`));
      closed.resolve({ code, reason: reason.toString("utf8") });
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  telemetry(seq: number, data: unknown = { rssi: -61 }): void {
    this.send({ type: "telemetry", boot: this.boot, seq, uptimeMs: seq * 1000, data });
  }

  /** Received messages (parsed) of this type. */
  ofType(type: string): Array<Record<string, unknown>> {
    return this.received
      .map((r) => r.json)
      .filter((json): json is Record<string, unknown> => typeof json === "object" && json !== null && (json as { type?: unknown }).type === type);
  }

  /** Resolves with the first received message for which `match` holds, waiting up to `ms`. */
  async waitFor(match: (r: Received) => boolean, ms: number, what: string): Promise<Received> {
    let found: Received | undefined;
    await until(() => (found = this.received.find(match)) !== undefined, ms, what);
    return found!;
  }

  /** Resolves with the first received message of `type` for which `where` holds. */
  async waitForType(type: string, where: (m: Record<string, unknown>) => boolean = () => true, ms = 2000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(() => (found = this.ofType(type).find(where)) !== undefined, ms, `a ${type} message`);
    return found!;
  }

  terminate(): void {
    this.socket.terminate();
  }

  /** The protocol's answers: a reply per request, an error for what cannot be read. */
  private answer(text: string, json: unknown): void {
    const error = (code: string, message: string) => this.send({ type: "error", error: { code, message } });
    if (Buffer.byteLength(text) > MAX_JSON_BYTES) return error("too_large", `over ${MAX_JSON_BYTES} bytes`);
    if (json === undefined) return error("bad_json", "not JSON");
    if (depthOf(json) > MAX_JSON_DEPTH) return error("too_deep", `deeper than ${MAX_JSON_DEPTH}`);
    if (typeof json !== "object" || json === null || Array.isArray(json) || typeof (json as { type?: unknown }).type !== "string") {
      return this.send(text); // not in the envelope: echoed back unchanged
    }
    const message = json as Record<string, unknown>;
    if (!("id" in message)) return; // a notification (ack, say)
    const id = message.id;
    const reply = (result: unknown) => this.send({ type: "reply", id, result });
    const fail = (code: string, why: string) => this.send({ type: "reply", id, error: { code, message: why } });
    switch (message.type) {
      case "echo":
        return reply({ payload: message.payload });
      case "ping":
        return reply({ pong: true, uptimeMs: 1234 });
      case "status":
        return reply({ uptimeMs: 1234, reconnects: 0 });
      case "config":
        if (message.action === "get") {
          return reply(typeof message.key === "string" ? { [message.key]: this.config[message.key] } : { ...this.config });
        }
        if (message.action === "set" && typeof message.key === "string" && "value" in message) {
          this.config[message.key] = message.value;
          return reply({ [message.key]: message.value });
        }
        return fail("bad_request", "action must be get or set");
      default:
        return fail("unknown_type", `no handler for type ${JSON.stringify(message.type)}`);
    }
  }
}
