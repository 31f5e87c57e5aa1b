/**
 * The companion server: the reference peer of the device protocol (docs/protocol.md) on
 * the desktop. It accepts WebSocket connections from devices, reports what they send as
 * events (server/events.ts), acknowledges their telemetry, sends them requests and matches
 * the replies, and misbehaves on demand so the device's defences can be tested against a
 * real server: it drops connections, closes with a chosen code, stops answering pings,
 * falls silent (mute: no pong, no ack, no request, nothing), sends garbage, refuses the
 * upgrade.
 *
 * With a device registry (`registry`, the command line's --devices FILE) it admits only the
 * devices registered there, each proving its id with its own token in the opening handshake
 * (server/auth.ts, docs/protocol.md "Who may connect"); without one it admits anyone
 * (development mode) and says so. Either way one device id has one live connection: a newer
 * one replaces the older, which is closed with 4001.
 *
 *   const server = await start({ port: 0 });          // 127.0.0.1, any free port
 *   server.events.on("telemetry", (event) => ...);
 *   server.send("sim-1", "config set telemetryIntervalMs 500");
 *   await server.close();                              // 1001 to every device
 *
 * The command line is server/cli.ts (`npm run server -- --help`).
 */
import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { isLoopbackHost } from "../src/auth/credentials.js";
import {
  COMMAND_HELP,
  CommandError,
  parseCommand,
  parseCommandLine,
  type Command,
  type RequestBody,
} from "./commands.js";
import { Admission } from "./admission.js";
import { Gatekeeper } from "./auth.js";
import type { CompanionEvent, CompanionEventName, DeviceInfo, RequestId, UnstampedEvent } from "./events.js";
import { DEFAULT_MAX_BOOTS, TelemetryLedger } from "./telemetry.js";
import { OtaService, type OfferedImage } from "./ota.js";
import { readImageFile } from "./ota-image.js";

export { CommandError } from "./commands.js";
export type { CompanionEvent, CompanionEventName, DeviceInfo } from "./events.js";
export { DEFAULT_MAX_BOOTS } from "./telemetry.js";

export {
  CLOSE_REPLACED,
  CLOSE_REVOKED,
  DEFAULT_HISTORY_LENGTH,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_PENDING_REQUESTS,
  DEFAULT_PORT,
  DEFAULT_REGISTRY_CHECK_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  GARBAGE_DEPTH,
  GARBAGE_LARGE_BYTES,
  checkMisbehaviour,
  type CompanionOptions,
  type Misbehaviour,
} from "./companion-options.js";
import { DEFAULT_HISTORY_LENGTH, DEFAULT_HOST, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_PENDING_REQUESTS, DEFAULT_PORT, DEFAULT_REGISTRY_CHECK_MS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS, GARBAGE_DEPTH, GARBAGE_LARGE_BYTES, CLOSE_REPLACED, CLOSE_REVOKED, checkMisbehaviour, checkMs, checkPositive, type CompanionOptions, type Misbehaviour } from "./companion-options.js";
export type { SentRequest } from "./connection.js";
import { Connection, asText, isObject, isRequestId, settleWithin, type SentRequest } from "./connection.js";
import { createTlsServer, tlsErrorText } from "./tls-server.js";

/** After destroying what did not close in time, how long close() waits for the sockets to be gone, ms. */
const FINAL_CLOSE_MS = 500;
/** A replaced or revoked connection that does not finish its close handshake is destroyed after this, ms (a half-open one never will). */
const EVICT_CLOSE_MS = 2000;

export class CompanionServer {
  /** Every event as "event", and each under its own name ("hello", "telemetry", ...). */
  readonly events = new EventEmitter();
  /** The latest events, oldest first, at most historyLength. */
  readonly history: CompanionEvent[] = [];
  readonly telemetry: TelemetryLedger;

  private readonly host: string;
  private readonly requestedPort: number;
  private readonly maxMessageBytes: number;
  private readonly requestTimeoutMs: number;
  private readonly maxPendingRequests: number;
  private readonly historyLength: number;
  private readonly shutdownTimeoutMs: number;
  private readonly behaviour: Misbehaviour;
  private readonly http: Server;
  private readonly secure: boolean;
  private readonly wss: WebSocketServer;
  private readonly connections = new Map<number, Connection>();
  /** What becomes of upgrade requests (server/admission.ts). */
  private readonly admission: Admission;
  /** With a registry: the handshake checks. */
  private readonly gatekeeper: Gatekeeper | undefined;
  private readonly registryCheckMs: number;
  private registryTimer: NodeJS.Timeout | undefined;
  /** Firmware updates (server/ota.ts). */
  private readonly ota: OtaService;
  private nextConn = 1;
  private nextRequestId = 1;
  private address: { url: string; port: number } | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: CompanionOptions = {}) {
    const host = options.host ?? DEFAULT_HOST;
    if (typeof host !== "string" || host === "") throw new TypeError(`host must be a host name or address, got ${String(host)}`);
    const port = options.port ?? DEFAULT_PORT;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535, got ${String(port)}`);
    checkMisbehaviour(options);
    checkPositive("maxMessageBytes", options.maxMessageBytes);
    checkPositive("maxPendingRequests", options.maxPendingRequests);
    checkPositive("historyLength", options.historyLength);
    checkMs("requestTimeoutMs", options.requestTimeoutMs);
    checkMs("shutdownTimeoutMs", options.shutdownTimeoutMs);
    checkPositive("registryCheckMs", options.registryCheckMs);
    this.host = host;
    this.requestedPort = port;
    this.telemetry = new TelemetryLedger(options.maxBoots ?? DEFAULT_MAX_BOOTS);
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.maxPendingRequests = options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS;
    this.historyLength = options.historyLength ?? DEFAULT_HISTORY_LENGTH;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    this.registryCheckMs = options.registryCheckMs ?? DEFAULT_REGISTRY_CHECK_MS;
    this.gatekeeper = options.registry
      ? new Gatekeeper({
          registry: options.registry,
          ...(options.authLimits ? { limits: options.authLimits } : {}),
          report: (event) => {
            this.emit(event);
            if (event.event === "registry") this.revoke(event.revoked);
          },
        })
      : undefined;
    this.admission = new Admission({
      gatekeeper: this.gatekeeper,
      report: (event) => this.emit(event),
      upgrade: (request, socket, head, remote, device) =>
        this.wss.handleUpgrade(request, socket, head, (ws) => this.onConnection(ws, request, remote, device)),
      closing: () => this.closing !== undefined,
    });
    this.behaviour = {
      dropAfterMs: options.dropAfterMs,
      closeAfterMs: options.closeAfterMs,
      closeCode: options.closeCode,
      closeReason: options.closeReason,
      noPong: options.noPong,
      garbage: options.garbage,
      rejectStatus: options.rejectStatus,
      noAck: options.noAck,
    };

    this.ota = new OtaService({
      emit: (event) => this.emit(event),
      request: (peer, body) => this.sendRequest(peer as Connection, body).id,
      sendBinary: (peer, bytes) => {
        const c = peer as Connection;
        if (!c.open || c.muted) return;
        c.messagesOut++;
        c.socket.send(bytes, { binary: true }, () => {});
      },
      rate: options.otaRate,
    });
    if (options.ota) this.ota.setImage(options.ota, []);

    // Each waitFor() listens until its deadline; many at once are normal, not a leak.
    this.events.setMaxListeners(0);
    const answer: RequestListener = (_request, response) => {
      const body = "moorline companion server: connect with a WebSocket client (docs/protocol.md)\n";
      response.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket", Connection: "Upgrade" }).end(body);
    };
    this.secure = options.tls !== undefined;
    this.http = options.tls ? createTlsServer(options.tls, answer) : createServer(answer);
    this.http.on("clientError", (_error, socket) => socket.destroy());
    // A handshake that failed: a ws:// client at this wss:// server, or a client that
    // refused the certificate with an alert.
    this.http.on("tlsClientError", (error: Error, socket: Duplex & { remoteAddress?: string; remotePort?: number }) => {
      this.emit({ event: "tls_error", remote: `${socket.remoteAddress}:${socket.remotePort}`, message: tlsErrorText(error) });
      socket.destroy();
    });
    // Pings are answered here rather than by `ws` (autoPong), so `mute` (and --no-pong) can
    // stop and restart answering per connection at run time.
    this.wss = new WebSocketServer({ noServer: true, autoPong: false, maxPayload: this.maxMessageBytes, perMessageDeflate: false });
    this.http.on("upgrade", (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.admission.handle(request, socket, head, this.behaviour.rejectStatus),
    );
  }

  /** ws://host:port/ (wss:// with TLS) once listening. */
  get url(): string {
    if (!this.address) throw new Error("the companion server is not listening");
    return this.address.url;
  }

  get port(): number {
    if (!this.address) throw new Error("the companion server is not listening");
    return this.address.port;
  }

  /** Starts listening; rejects with the system error (EADDRINUSE, say) when it cannot. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => reject(error);
      this.http.once("error", fail);
      this.http.listen(this.requestedPort, this.host, () => {
        this.http.off("error", fail);
        resolve();
      });
    });
    const address = this.http.address() as AddressInfo;
    const hostPart = address.family === "IPv6" || address.address.includes(":") ? `[${address.address}]` : address.address;
    this.address = { url: `${this.secure ? "wss" : "ws"}://${hostPart}:${address.port}/`, port: address.port };
    this.emit({ event: "listening", url: this.address.url, host: address.address, port: address.port });
    const registry = this.gatekeeper?.registry;
    if (registry) {
      // Tokens over plain ws:// beyond this machine can be read on the way and replayed.
      const exposed = !this.secure && !isLoopbackHost(address.address.replace(/^::ffff:/, ""));
      this.emit({ event: "auth", mode: "registry", file: registry.path, devices: registry.size, cleartext: exposed });
      // Changes made by another process (--remove-device) close the revoked devices' connections.
      this.registryTimer = setInterval(() => void this.gatekeeper!.refreshRegistry(), this.registryCheckMs);
      this.registryTimer.unref();
    } else {
      this.emit({ event: "auth", mode: "open" });
    }
  }

  /** With a registry: the handshake checks' failure tables' sizes (each bounded). */
  authTracked(): { addresses: number; devices: number } | undefined {
    return this.gatekeeper?.tracked();
  }

  /** The current misbehaviour (a copy). */
  misbehaviour(): Misbehaviour {
    return { ...this.behaviour };
  }

  /**
   * Changes misbehaviour at run time. Connection timers (drop, close) and the starting
   * mute/ack state apply to connections opened from now on; rejectStatus to upgrades from
   * now on; garbage to hellos from now on.
   */
  setMisbehaviour(changes: Misbehaviour): void {
    checkMisbehaviour(changes);
    Object.assign(this.behaviour, changes);
  }

  /**
   * Runs one command (server/commands.ts grammar, without the @ prefix) for the device with
   * this id (or `#<conn>`), or for every connected device when `device` is undefined.
   * Returns the requests sent, whose replies come as `reply` events with the same id.
   * Throws CommandError for a command that cannot run (bad syntax, no such device).
   */
  send(device: string | undefined, command: string | Command): SentRequest[] {
    return this.run(device, typeof command === "string" ? parseCommand(command) : command);
  }

  /**
   * Runs one terminal line (with an optional `@<device>` prefix). Never throws: a command
   * that cannot run becomes a `command_error` event.
   */
  execute(line: string): SentRequest[] {
    try {
      const { target, command } = parseCommandLine(line);
      return this.run(target, command);
    } catch (error) {
      this.emit({ event: "command_error", command: line, message: error instanceof Error ? error.message : String(error) });
      return [];
    }
  }

  /** The connected devices. */
  devices(): DeviceInfo[] {
    return [...this.connections.values()].map((c) => this.describe(c));
  }

  /**
   * Resolves with the first event named `name` (in `history`, then to come) for which
   * `where` holds; rejects after `timeoutMs` saying what it waited for.
   */
  waitFor<N extends CompanionEventName>(
    name: N,
    where: (event: Extract<CompanionEvent, { event: N }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<CompanionEvent, { event: N }>> {
    type E = Extract<CompanionEvent, { event: N }>;
    const seen = this.history.find((event): event is E => event.event === name && where(event as E));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (event: E) => {
        if (!where(event)) return;
        clearTimeout(timer);
        this.events.off(name, listener);
        resolve(event);
      };
      const timer = setTimeout(() => {
        this.events.off(name, listener);
        const recent = this.history.slice(-10).map((event) => event.event).join(", ");
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a ${name} event (latest events: ${recent})`));
      }, timeoutMs);
      this.events.on(name, listener);
    });
  }

  /**
   * Shuts down: stops listening, closes every connection with 1001 (going away), destroys
   * TCP of those that have not finished closing within shutdownTimeoutMs, and resolves.
   * Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const live = [...this.connections.values()];
    this.emit({ event: "shutdown", connections: live.length });
    clearInterval(this.registryTimer);
    this.ota.close();
    const httpClosed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const c of live) this.closeConnection(c, 1001, "server shutting down", "shutdown");
    await settleWithin(Promise.all(live.map((c) => c.closed)), this.shutdownTimeoutMs);
    for (const c of this.connections.values()) if (!c.ended) c.socket.terminate();
    this.admission.close();
    this.http.closeAllConnections();
    // Destroyed sockets report their close a moment later; bound that wait too.
    await settleWithin(Promise.all([httpClosed, ...live.map((c) => c.closed)]), FINAL_CLOSE_MS);
    this.wss.close();
    this.emit({ event: "closed" });
  }

  // ---- events ----

  private emit(event: UnstampedEvent): void {
    const stamped = { t: new Date().toISOString(), ...event } as CompanionEvent;
    this.history.push(stamped);
    if (this.history.length > this.historyLength) this.history.shift();
    this.events.emit("event", stamped);
    this.events.emit(stamped.event, stamped);
  }

  private describe(c: Connection): DeviceInfo {
    return {
      conn: c.conn,
      device: c.device,
      firmware: c.firmware,
      boot: c.boot,
      capabilities: c.capabilities,
      remote: c.remote,
      connectedMs: Date.now() - c.openedAt,
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      pendingRequests: c.pending.size,
      muted: c.muted,
      acks: c.acks,
      authenticated: c.authenticated,
    };
  }

  // ---- connections ----

  private onConnection(socket: WebSocket, request: IncomingMessage, remote: string, device: string | undefined): void {
    const c = new Connection(this.nextConn++, socket, remote, request.url ?? "/", this.behaviour.noPong === true, this.behaviour.noAck !== true);
    this.connections.set(c.conn, c);
    if (device !== undefined) {
      c.device = device;
      c.authenticated = true;
    }
    this.emit({ event: "connect", conn: c.conn, device: c.device, remote, path: c.path });
    if (device !== undefined) this.replaceOlder(c);

    socket.on("message", (data, isBinary) => this.onMessage(c, data, isBinary));
    socket.on("ping", (data) => {
      const answered = !c.muted && !c.noPong && c.open;
      if (answered) socket.pong(data);
      this.emit({ event: "ping", conn: c.conn, device: c.device, answered });
    });
    socket.on("error", (error: Error & { code?: string }) => {
      this.emit({ event: "protocol_error", conn: c.conn, device: c.device, message: error.message, code: error.code ?? null });
    });
    socket.on("close", (code, reason) => this.onClose(c, code, reason.toString("utf8")));

    const { dropAfterMs, closeAfterMs } = this.behaviour;
    if (dropAfterMs !== undefined) c.after(dropAfterMs, () => this.dropConnection(c, "--drop-after-ms"));
    if (closeAfterMs !== undefined) {
      const code = this.behaviour.closeCode ?? 1000;
      const reason = this.behaviour.closeReason ?? "";
      c.after(closeAfterMs, () => this.closeConnection(c, code, reason, "--close-after-ms"));
    }
  }

  private onClose(c: Connection, code: number, reason: string): void {
    c.ended = true;
    for (const timer of c.timers) clearTimeout(timer);
    c.timers.clear();
    for (const [id, pending] of c.pending) {
      clearTimeout(pending.timer);
      this.emit({ event: "no_reply", conn: c.conn, device: c.device, id, request: pending.type, reason: "closed" });
    }
    c.pending.clear();
    this.ota.closed(c);
    this.connections.delete(c.conn);
    this.emit({ event: "close", conn: c.conn, device: c.device, code, reason, durationMs: Date.now() - c.openedAt });
    c.markClosed();
  }

  /** One live connection per device id: the others of c's device are closed with CLOSE_REPLACED. */
  private replaceOlder(c: Connection): void {
    for (const other of this.connections.values()) {
      if (other !== c && other.device === c.device && !other.ended) this.evict(other, CLOSE_REPLACED, "replaced by a newer connection", "replaced");
    }
  }

  /** The registry no longer holds these devices (or holds new tokens for them): their connections go. */
  private revoke(devices: readonly string[]): void {
    for (const c of this.connections.values()) {
      if (c.authenticated && c.device !== null && devices.includes(c.device)) this.evict(c, CLOSE_REVOKED, "device no longer registered", "revoked");
    }
  }

  /** Closes with `code`, and destroys TCP after EVICT_CLOSE_MS if the close handshake does not finish (a half-open link's never does). */
  private evict(c: Connection, code: number, reason: string, why: string): void {
    this.closeConnection(c, code, reason, why);
    c.after(EVICT_CLOSE_MS, () => this.dropConnection(c, why));
  }

  private closeConnection(c: Connection, code: number, reason: string, why: string): void {
    if (c.ended || c.socket.readyState === WebSocket.CLOSING || c.socket.readyState === WebSocket.CLOSED) return;
    this.emit({ event: "closing", conn: c.conn, device: c.device, code, reason, why });
    c.socket.close(code, reason);
  }

  private dropConnection(c: Connection, why: string): void {
    if (c.ended) return;
    this.emit({ event: "drop", conn: c.conn, device: c.device, why });
    c.socket.terminate();
  }

  // ---- what devices send ----

  private onMessage(c: Connection, data: RawData, isBinary: boolean): void {
    c.messagesIn++;
    const bytes = asText(data);
    if (isBinary) {
      this.emit({ event: "unreadable", conn: c.conn, device: c.device, reason: "binary message", text: `<${bytes.length} bytes>` });
      return;
    }
    // `ws` has already failed the connection (1007) if this is not UTF-8.
    const text = bytes.toString("utf8");
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.emit({ event: "unreadable", conn: c.conn, device: c.device, reason: `not JSON (${(error as Error).message})`, text });
      return;
    }
    if (!isObject(message) || typeof message.type !== "string") {
      this.emit({ event: "unreadable", conn: c.conn, device: c.device, reason: "not an object with a string type", text });
      return;
    }
    switch (message.type) {
      case "hello":
        return this.onHello(c, message);
      case "telemetry":
        return this.onTelemetry(c, message);
      case "reply":
        return this.onReply(c, message);
      case "error":
        this.emit({ event: "device_error", conn: c.conn, device: c.device, error: message.error });
        return;
      case "ota":
        this.ota.message(c, message);
        return;
      default:
        this.emit({ event: "message", conn: c.conn, device: c.device, type: message.type, message });
    }
  }

  private onHello(c: Connection, message: Record<string, unknown>): void {
    if (typeof message.device !== "string" || message.device === "" || message.device.length > 64) {
      this.emit({ event: "bad_message", conn: c.conn, device: c.device, type: "hello", reason: "device must be a string of 1 to 64 characters" });
      return;
    }
    if (c.authenticated && message.device !== c.device) {
      // The handshake proved one id: the connection cannot speak for another.
      this.emit({ event: "bad_message", conn: c.conn, device: c.device, type: "hello", reason: "it names another device than the one authenticated" });
      this.closeConnection(c, 1008, "hello names another device than the one authenticated", "hello");
      return;
    }
    const named = c.device !== message.device;
    c.device = message.device;
    // Development mode: the id is known from hello only, and one id keeps one connection all the same.
    if (named && !c.authenticated) this.replaceOlder(c);
    c.firmware = message.firmware ?? null;
    c.boot = message.boot ?? null;
    c.capabilities = message.capabilities ?? null;
    this.emit({
      event: "hello",
      conn: c.conn,
      device: c.device,
      firmware: c.firmware,
      boot: c.boot,
      capabilities: c.capabilities,
      reset: message.reset ?? null,
      boots: message.boots ?? null,
      safeMode: message.safeMode ?? null,
      rebootReason: message.rebootReason ?? null,
      ota: message.ota ?? null,
    });
    if (this.behaviour.garbage && !c.garbageSent) this.sendGarbage(c);
    this.ota.hello(c, message);
  }

  private onTelemetry(c: Connection, message: Record<string, unknown>): void {
    const { boot, seq } = message;
    if (typeof boot !== "string" || boot === "" || boot.length > 64) {
      this.emit({ event: "bad_message", conn: c.conn, device: c.device, type: "telemetry", reason: "boot must be a string of 1 to 64 characters" });
      return;
    }
    if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
      this.emit({ event: "bad_message", conn: c.conn, device: c.device, type: "telemetry", reason: `seq must be a non-negative integer, got ${JSON.stringify(seq)}` });
      return;
    }
    // Before its hello a device has no id; its connection stands in for one.
    const verdict = this.telemetry.record(c.device ?? `conn#${c.conn}`, boot, seq);
    let acked: number | null = null;
    if (c.acks && c.open && !c.muted) {
      // Cumulative: everything up to the highest seq heard. Within one TCP connection
      // nothing is lost in between, so a gap below it is records the device itself dropped.
      acked = verdict.record.highestSeq;
      this.sendText(c, JSON.stringify({ type: "ack", boot, seq: acked }), false);
    }
    this.emit({
      event: "telemetry",
      conn: c.conn,
      device: c.device,
      boot,
      seq,
      uptimeMs: message.uptimeMs,
      data: message.data,
      outcome: verdict.outcome,
      missed: verdict.missed,
      duplicates: verdict.record.duplicates,
      gaps: verdict.record.gaps,
      acked,
    });
  }

  private onReply(c: Connection, message: Record<string, unknown>): void {
    const id = message.id;
    const pending = isRequestId(id) ? c.pending.get(id) : undefined;
    if (pending) {
      clearTimeout(pending.timer);
      c.pending.delete(id as RequestId);
    }
    const ok = !("error" in message);
    this.emit({
      event: "reply",
      conn: c.conn,
      device: c.device,
      id,
      ok,
      ...(ok ? { result: message.result } : { error: message.error }),
      matched: pending !== undefined,
      request: pending?.type ?? null,
      rttMs: pending ? Math.round((performance.now() - pending.sentAt) * 10) / 10 : null,
    });
    this.ota.reply(c, message);
  }

  // ---- what the server sends ----

  private run(target: string | undefined, command: Command): SentRequest[] {
    switch (command.kind) {
      case "request":
        return this.audible(target).map((c) => this.sendRequest(c, command.body));
      case "raw":
        for (const c of this.audible(target)) this.sendText(c, command.text, true);
        return [];
      case "close":
        for (const c of this.targets(target)) this.closeConnection(c, command.code, command.reason, "command");
        return [];
      case "drop":
        for (const c of this.targets(target, { closing: true })) this.dropConnection(c, "command");
        return [];
      case "garbage":
        for (const c of this.audible(target)) this.sendGarbage(c);
        return [];
      case "mute":
        // The connections open now: a device that reconnects is heard again (that is how
        // the demo ends), so nothing is remembered for connections to come.
        for (const c of this.targets(target)) {
          c.muted = command.muted;
          this.emit({ event: "setting", conn: c.conn, device: c.device, setting: "muted", value: command.muted });
        }
        return [];
      case "acks": {
        const value = command.on;
        if (target !== undefined) {
          for (const c of this.targets(target)) {
            c.acks = value;
            this.emit({ event: "setting", conn: c.conn, device: c.device, setting: "acks", value });
          }
          return [];
        }
        // No target: every connection, and those to come (even when none is connected).
        for (const c of this.connections.values()) c.acks = value;
        this.behaviour.noAck = !value;
        this.emit({ event: "setting", conn: null, device: null, setting: "acks", value });
        return [];
      }
      case "devices": {
        const devices = target === undefined ? this.devices() : this.targets(target, { closing: true }).map((c) => this.describe(c));
        this.emit({ event: "devices", devices });
        return [];
      }
      case "help":
        this.emit({ event: "help", text: COMMAND_HELP });
        return [];
      case "ota":
        return this.runOta(target, command.file, command.off);
      case "quit":
        void this.close();
        return [];
    }
  }

  /**
   * `ota FILE`: offers the image in FILE to the targets (with @<device>), or to every device
   * running another version, now and when they connect; `ota off` stops; `ota` shows.
   */
  private runOta(target: string | undefined, file: string | undefined, off: boolean): SentRequest[] {
    if (off) {
      this.ota.setImage(undefined, []);
      this.emit({ event: "ota_status", image: null, transfers: [] });
      return [];
    }
    if (file === undefined) {
      const offered = this.ota.image;
      const image = offered ? { file: offered.path, version: offered.image.manifest.version, target: offered.image.manifest.target, size: offered.image.manifest.size } : null;
      this.emit({ event: "ota_status", image, transfers: this.ota.status() });
      return [];
    }
    let offered: OfferedImage;
    try {
      offered = { image: readImageFile(file), path: file };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new CommandError(`ota ${file}: ${code === "ENOENT" ? "no such file" : (error as Error).message}`);
    }
    for (const problem of offered.image.problems) this.emit({ event: "command_error", command: `ota ${file}`, message: `warning: ${problem}; offering it all the same (devices will refuse it)` });
    if (target === undefined) {
      this.ota.setImage(offered, this.connections.values());
    } else {
      const offeredTo = this.targets(target).filter((c) => this.ota.offerIfWanted(c, c.firmware, offered));
      if (offeredTo.length === 0) throw new CommandError(`${target} runs ${offered.image.manifest.version} already, or takes no updates`);
    }
    return [];
  }

  /** The open connections a command goes to; throws CommandError when there is none. */
  private targets(target: string | undefined, options: { closing?: boolean } = {}): Connection[] {
    const usable = (c: Connection) => !c.ended && (c.open || (options.closing === true && c.socket.readyState === WebSocket.CLOSING));
    const all = [...this.connections.values()].filter(usable);
    if (target === undefined) {
      if (all.length === 0) throw new CommandError("no device is connected");
      return all;
    }
    const chosen = /^#[0-9]+$/.test(target)
      ? all.filter((c) => c.conn === Number(target.slice(1)))
      : all.filter((c) => c.device === target);
    if (chosen.length === 0) {
      const known = all.map((c) => c.device ?? `#${c.conn}`).join(", ") || "none";
      throw new CommandError(`no device ${JSON.stringify(target)} is connected (connected: ${known})`);
    }
    return chosen;
  }

  /**
   * The targets a command sends something to: muted ones are skipped (mute means nothing
   * goes to them); throws CommandError when every one of them is muted.
   */
  private audible(target: string | undefined): Connection[] {
    const chosen = this.targets(target);
    const audible = chosen.filter((c) => !c.muted);
    if (audible.length === 0) {
      const names = chosen.map((c) => c.device ?? `#${c.conn}`).join(", ");
      throw new CommandError(`${names} ${chosen.length === 1 ? "is" : "are"} muted: nothing is sent until unmute (or the next connection)`);
    }
    return audible;
  }

  private sendRequest(c: Connection, body: RequestBody): SentRequest {
    const explicit = "id" in body;
    const id = explicit ? body.id : this.nextRequestId++;
    const { type, ...fields } = body;
    // `type` and `id` first: the order people expect to read on the wire.
    const request: Record<string, unknown> = explicit ? { ...body } : { type, id, ...fields };
    if (isRequestId(id)) {
      const previous = c.pending.get(id);
      if (previous) clearTimeout(previous.timer);
      c.pending.delete(id);
      // Bounded: the oldest unanswered request is forgotten first.
      while (c.pending.size >= this.maxPendingRequests) {
        const [oldId, old] = c.pending.entries().next().value!;
        clearTimeout(old.timer);
        c.pending.delete(oldId);
        this.emit({ event: "no_reply", conn: c.conn, device: c.device, id: oldId, request: old.type, reason: "timeout" });
      }
      const timer = setTimeout(() => {
        c.pending.delete(id);
        this.emit({ event: "no_reply", conn: c.conn, device: c.device, id, request: body.type, reason: "timeout" });
      }, this.requestTimeoutMs);
      timer.unref();
      c.pending.set(id, { type: body.type, sentAt: performance.now(), timer });
    }
    this.emit({ event: "request", conn: c.conn, device: c.device, id, type: body.type, body: request });
    this.sendText(c, JSON.stringify(request), false);
    return { conn: c.conn, device: c.device, id: id as RequestId };
  }

  private sendText(c: Connection, text: string, report: boolean): void {
    if (!c.open || c.muted) return;
    c.messagesOut++;
    // A send that fails (the socket died meanwhile) shows up as the connection's close.
    c.socket.send(text, () => {});
    if (report) this.emit({ event: "sent", conn: c.conn, device: c.device, text, bytes: Buffer.byteLength(text) });
  }

  /**
   * Input a device must answer with an error (docs/protocol.md, error codes) and carry on:
   * text that is not JSON (bad_json), JSON nested GARBAGE_DEPTH deep (too_deep), a message
   * of GARBAGE_LARGE_BYTES (too_large), a request of an unknown type (unknown_type, as a
   * reply) and a config request with a bad action (bad_request, as a reply).
   */
  private sendGarbage(c: Connection): void {
    c.garbageSent = true;
    this.sendText(c, "this is not JSON {", false);
    this.sendText(c, `{"deep":${"[".repeat(GARBAGE_DEPTH)}${"]".repeat(GARBAGE_DEPTH)}}`, false);
    const filler = GARBAGE_LARGE_BYTES - `{"type":"echo","payload":""}`.length;
    this.sendText(c, `{"type":"echo","payload":"${"x".repeat(filler)}"}`, false);
    this.emit({ event: "garbage", conn: c.conn, device: c.device, kinds: ["not_json", "too_deep", "too_large", "unknown_type", "bad_request"] });
    this.sendRequest(c, { type: "no_such_type" });
    this.sendRequest(c, { type: "config", action: "explode" });
  }
}

export async function start(options: CompanionOptions = {}): Promise<CompanionServer> {
  const server = new CompanionServer(options);
  await server.listen();
  return server;
}
