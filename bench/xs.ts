/**
 * The XS figures (issue 4): the firmware's client running inside the real XS engine
 * (hosts/xs), echoing what a `ws` server on 127.0.0.1 sends it.
 *
 * - Compute per echoed message: xsnap's meter counts the computation XS does for each
 *   delivery (its unit is XS's own meter step, roughly one bytecode or one unit of work
 *   inside a built-in). It depends only on what XS is given, so it is exact and repeatable:
 *   the same message costs the same count on every run and every machine.
 * - Heap: live slots after a full garbage collection (meter.currentHeapCount). A slot is
 *   sizeof(txSlot): 32 bytes in this 64-bit desktop build, 16 bytes on the ESP32 (32-bit
 *   pointers). Strings' and buffers' bytes live in XS's chunk heap, which this count does
 *   not include; meter.allocate is the bytes XS has taken from the system for both (it
 *   grows in blocks and is never given back).
 */
import { performance } from "node:perf_hooks";
import { WebSocketServer, type WebSocket as ServerSocket } from "ws";
import { bounded, XsEngine, type XsEngineOptions } from "../hosts/xs/engine.js";
import { startTestXsEngine } from "../tests/support/engines.js";
import { binaryPayload, textPayload, type Kind } from "./tasks.js";

/** sizeof(txSlot) in the xsnap-worker built here (64-bit), and on the ESP32 (32-bit). */
export const SLOT_BYTES_DESKTOP = 32;
export const SLOT_BYTES_ESP32 = 16;

const WAIT_MS = 20_000;

/** A `ws` server in this process whose connections we drive one message at a time. */
export class Peer {
  readonly wss: WebSocketServer;
  readonly sockets: ServerSocket[] = [];
  private waiting: (() => void) | undefined;
  private connected: (() => void) | undefined;

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on("connection", (socket, request) => {
      this.sockets.push(socket);
      socket.on("error", () => {});
      if (request.url === "/pause") socket.pause();
      socket.on("message", () => {
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.();
      });
      this.connected?.();
    });
  }

  static async start(): Promise<Peer> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
    return new Peer(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as { port: number }).port}/`;
  }

  /** Resolves when `count` connections in all have been accepted. */
  async connections(count: number): Promise<void> {
    while (this.sockets.length < count) {
      await bounded(new Promise<void>((resolve) => (this.connected = resolve)), WAIT_MS, "a connection from XS");
    }
  }

  /** Sends one message on the last connection and waits for its echo. */
  echo(message: string | Uint8Array): Promise<void> {
    const socket = this.sockets.at(-1)!;
    const echoed = new Promise<void>((resolve) => (this.waiting = resolve));
    socket.send(message, { binary: typeof message !== "string" });
    return bounded(echoed, WAIT_MS, "an echo from XS");
  }

  async close(): Promise<void> {
    for (const socket of this.wss.clients) socket.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

export function payload(size: number, kind: Kind): string | Uint8Array {
  return kind === "text" ? textPayload(size) : binaryPayload(size);
}

/**
 * Waits (bounded) until the engine has made at least `count` deliveries and then nothing more
 * is on its way: no request in flight or queued, and no new delivery within a few ms (a
 * socket's space report after the write may follow the echo).
 */
export async function settle(engine: XsEngine, count: number): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  for (;;) {
    if (performance.now() > deadline) throw new Error(`XS made ${engine.deliveries} deliveries, expected ${count} and then quiet`);
    if (engine.deliveries >= count && engine.worker.pending === 0) {
      const seen = engine.deliveries;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (engine.deliveries === seen && engine.worker.pending === 0) return;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

/** The echo agent in a fresh engine, connected to a fresh peer. */
export async function agent(limits: Record<string, number> | undefined, options: XsEngineOptions = {}): Promise<{ engine: XsEngine; peer: Peer }> {
  const peer = await Peer.start();
  const engine = await XsEngine.start({ log: () => {}, ...options });
  try {
    await engine.startProgram("echo-agent", { url: peer.url, ...(limits ? { limits } : {}) }, () => {});
    await peer.connections(1);
    // The peer has accepted; XS has the 101 once it echoes.
    await peer.echo("ready");
  } catch (error) {
    await engine.close();
    await peer.close();
    throw error;
  }
  return { engine, peer };
}

export async function stop(engine: XsEngine, peer: Peer): Promise<void> {
  const failures = [...engine.failures];
  await engine.close();
  await peer.close();
  if (failures.length > 0) throw failures[0]!;
}

export interface ComputeFigure {
  size: number;
  kind: Kind;
  echoes: number;
  /** Meter steps for all `echoes` (every delivery: the bytes, and the socket's space when it is reported). */
  total: number;
  /** total / echoes. */
  perEcho: number;
  /** Deliveries per echo (1, and the socket's space reports when XS's space runs short). */
  deliveriesPerEcho: number;
  /** The smallest and largest steps between one echo and the next. */
  minEach: number;
  maxEach: number;
  /** Steps of each echo, in order. */
  each: number[];
}

/**
 * XS compute per echoed message of `size` bytes: `warmup` echoes first (the first ones load
 * code paths and fill the mask key pool), then `echoes` measured (a multiple of 16: the
 * client draws mask keys from the host 16 frames at a time).
 */
export async function xsComputePerEcho(size: number, kind: Kind, echoes: number, warmup = 16): Promise<ComputeFigure> {
  // The ESP32 defaults, except a send buffer that holds a 16 KiB message's frame.
  const { engine, peer } = await agent({ maxMessageBytes: Math.max(16 * 1024, size), maxBufferedBytes: Math.max(16 * 1024, size) * 2 });
  try {
    const message = payload(size, kind);
    for (let i = 0; i < warmup; i++) await peer.echo(message);
    await settle(engine, engine.deliveries);
    const compute0 = engine.compute;
    const deliveries0 = engine.deliveries;
    let last = compute0;
    const each: number[] = [];
    for (let i = 0; i < echoes; i++) {
      await peer.echo(message);
      // The echo is out; a report of the socket's space may still be coming.
      await settle(engine, deliveries0 + i + 1);
      each.push(engine.compute - last);
      last = engine.compute;
    }
    const total = engine.compute - compute0;
    const deliveries = engine.deliveries - deliveries0;
    return {
      size,
      kind,
      echoes,
      total,
      perEcho: total / echoes,
      deliveriesPerEcho: deliveries / echoes,
      minEach: Math.min(...each),
      maxEach: Math.max(...each),
      each,
    };
  } finally {
    await stop(engine, peer);
  }
}

export interface HeapFigure {
  /**
   * Live slots after a GC with the echo agent's modules loaded but nothing started: the
   * realm's built-ins and the loaded code (on a chip, mostly preloaded in flash).
   */
  loaded: number;
  /** Live slots after a GC: connected (before any message), after `warm` messages, at the midpoint, after `warm + messages`. */
  connected: number;
  warm: number;
  midpoint: number;
  end: number;
  warmMessages: number;
  messages: number;
  /** end - warm: must be 0. */
  growth: number;
  /** meter.allocate (bytes XS took from the system for slots and chunks) connected, and at the end. */
  allocateConnected: number;
  allocateEnd: number;
  wallMs: number;
}

/**
 * The XS heap of the echo agent with the ESP32's default limits, after connecting and over
 * `messages` echoed 64-byte messages (text and binary in turn) after `warm` ones.
 */
export async function xsHeapOverMessages(messages: number, warm = 100): Promise<HeapFigure> {
  const peer = await Peer.start();
  const engine = await XsEngine.start({ log: () => {} });
  try {
    await engine.load("echo-agent");
    const loaded = (await engine.heap()).currentHeapCount;
    await engine.startProgram("echo-agent", { url: peer.url }, () => {});
    await peer.connections(1);
    // Connected: wait until XS has read the 101 (the first ping's pong proves it) without sending data.
    const socket = peer.sockets[0]!;
    await bounded(new Promise<void>((resolve) => (socket.once("pong", () => resolve()), socket.ping())), WAIT_MS, "a pong from XS");
    const connectedMeter = await engine.heap();
    const text = textPayload(64);
    const binary = binaryPayload(64);
    const exchange = async (count: number, from: number) => {
      for (let i = from; i < from + count; i++) await peer.echo(i % 2 === 0 ? text : binary);
    };
    await exchange(warm, 0);
    const warmSlots = (await engine.heap()).currentHeapCount;
    const start = performance.now();
    const half = Math.floor(messages / 2);
    await exchange(half, warm);
    const midpoint = (await engine.heap()).currentHeapCount;
    await exchange(messages - half, warm + half);
    const endMeter = await engine.heap();
    return {
      loaded,
      connected: connectedMeter.currentHeapCount,
      warm: warmSlots,
      midpoint,
      end: endMeter.currentHeapCount,
      warmMessages: warm,
      messages,
      growth: endMeter.currentHeapCount - warmSlots,
      allocateConnected: connectedMeter.allocate,
      allocateEnd: endMeter.allocate,
      wallMs: performance.now() - start,
    };
  } finally {
    await stop(engine, peer);
  }
}

export interface XsMemoryFigure {
  /** Live slots per extra open connection (client program, ESP32 default limits). */
  slotsPerConnection: number;
  /** Live slots per message queued in the client's send queue (socket not writable). */
  slotsPerQueuedMessage: number;
  connections: number;
  queuedMessages: number;
}

/** XS memory per connection and per message in flight (queued in the client). */
export async function xsMemory(connections: number, queued: number): Promise<XsMemoryFigure> {
  const peer = await Peer.start();
  // The client program is the tests' (tests/support/xs/client.ts).
  const engine = await startTestXsEngine({ log: () => {} });
  try {
    let opened = 0;
    let onOpen: (() => void) | undefined;
    const listener = (event: Record<string, unknown>) => {
      if (event.event === "open") {
        opened++;
        onOpen?.();
      }
    };
    const waitOpen = async (count: number) => {
      while (opened < count) await bounded(new Promise<void>((resolve) => (onOpen = resolve)), WAIT_MS, "connections in XS to open");
    };
    await engine.startProgram("client", { url: peer.url }, listener);
    await waitOpen(1);
    const one = (await engine.heap()).currentHeapCount;
    for (let i = 0; i < connections; i++) await engine.startProgram("client", { url: peer.url }, listener);
    await waitOpen(1 + connections);
    const many = (await engine.heap()).currentHeapCount;

    // In flight: a connection the server never reads; fill the kernel's buffers first.
    const pausedOpened = opened;
    const handle = await engine.startProgram("client", { url: `${peer.url}pause`, limits: { maxBufferedBytes: 4 * 1024 * 1024 } }, listener);
    await waitOpen(pausedOpened + 1);
    const filler = new Uint8Array(32 * 1024);
    let buffered = 0;
    for (let i = 0; i < 4096 && buffered === 0; i++) {
      const reply = await engine.call(handle, "send", { binary: true }, filler);
      buffered = (reply.state as { bufferedAmount: number }).bufferedAmount;
      if (buffered > 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        buffered = ((await engine.call(handle, "state")).state as { bufferedAmount: number }).bufferedAmount;
      }
    }
    const before = (await engine.heap()).currentHeapCount;
    const message = binaryPayload(64);
    for (let i = 0; i < queued; i++) await engine.call(handle, "send", { binary: true }, message);
    const after = (await engine.heap()).currentHeapCount;
    return {
      slotsPerConnection: (many - one) / connections,
      slotsPerQueuedMessage: (after - before) / queued,
      connections,
      queuedMessages: queued,
    };
  } finally {
    await stop(engine, peer);
  }
}
