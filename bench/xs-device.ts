/**
 * `xs_device_heap`: the whole firmware (src/device/device.ts: supervisor, heartbeat, JSON
 * loop, outbox, telemetry) inside the real XS engine (hosts/xs, the "device" program),
 * connected over wss:// to the companion server (server/companion.ts, TLS with a CA made for
 * the run), answering the server's echo requests while it sends telemetry every second and
 * pings after a second of silence.
 *
 * What is alive is read from heap snapshots (XsEngine.liveMemory: a full collection, then
 * every live slot and chunk): slots, and the chunk heap's bytes (strings, buffers' data,
 * arrays' items, bytecode). The device's own share is what it adds to the engine with the
 * device's modules loaded and nothing started: on the chip those modules are preloaded in
 * flash, not in RAM. Peaks (the TLS handshake, a 16 KB message) are measured per delivery
 * (XsEngine.sampleEachDelivery; xsnap reports no peak of its own): a heap snapshot after each
 * gives what it left live (slots and chunk bytes), and, since garbage was collected before
 * it, its meter count bounds the slots it held at its most (live before it plus everything it
 * allocated). Chunks freed within a delivery (a message's bytes while it is decoded) are not
 * seen: the bench adds them (bench/xs-section.ts).
 *
 * On the desktop the TLS itself is Node's (hosts/node/tls.ts, on the far side of the bridge):
 * the chip's TLS stack (the SDK's) is not in these figures; the SDK documents its handshake
 * as needing about 10 KB of chunk heap, 6 KB of slot heap, 2 KB of system heap and 4 KB of
 * stack free (documentation/network/securesocket.md, "Memory").
 */
import { SIM_NETWORK } from "../hosts/node/device-host.js";
import { XsEngine, type DeliverySample } from "../hosts/xs/engine.js";
import { start as startCompanion, type CompanionServer } from "../server/companion.js";
import { testCertificates } from "../tests/support/certs.js";

/** What is alive: slots and chunk bytes (64-bit desktop build). */
export interface LiveMemory {
  slots: number;
  chunkBytes: number;
}

export interface DeviceHeapFigure {
  /** The engine with the device's modules loaded, nothing started. */
  loaded: LiveMemory;
  /** Running and connected, after the first telemetry record was acknowledged. */
  connected: LiveMemory;
  /** Before and after `messages` echo requests answered (after `warmMessages` first). */
  beforeMessages: LiveMemory;
  afterMessages: LiveMemory;
  /** Before and after `reconnects` reconnections (after `warmReconnects` first). */
  beforeReconnects: LiveMemory;
  afterReconnects: LiveMemory;
  /** Slots live just before the 16 KB message (after a collection). */
  before16kSlots: number;
  /** Slots live just before connecting (after a collection). */
  beforeHandshakeSlots: number;
  /** Each delivery from before connecting to the hello: collected after each. */
  handshakeSamples: DeliverySample[];
  /** Each delivery from one 16 KB echo request to the device's error reply (the JSON loop refuses it: its limit is 8 KiB). */
  message16kSamples: DeliverySample[];
  messages: number;
  warmMessages: number;
  reconnects: number;
  warmReconnects: number;
  /** The echo payload of the large message, characters (its request is about 16,000 bytes). */
  largePayloadChars: number;
  wallMs: number;
}

const DEVICE_ID = "bench-xs-device";
/** The large echo request: about 16,000 bytes, under the WebSocket layer's 16 KiB message limit. */
const LARGE_PAYLOAD_CHARS = 15_900;
const WAIT_MS = 20_000;

/**
 * The device's configuration: defaults, with telemetry each second and a fast reconnect, and
 * the simulated access point's network (without one the device opens its setup portal).
 */
function deviceConfig(url: string, ca: string): Record<string, unknown> {
  return {
    ...SIM_NETWORK,
    url,
    deviceId: DEVICE_ID,
    ca,
    telemetryIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    // The fastest reconnection the device allows (its backoff floor is 100 ms).
    backoffBaseMs: 100,
    backoffCapMs: 200,
  };
}

/**
 * Runs the device in XS against a wss:// companion server and measures its memory:
 * connected, at its peaks, and over `messages` echo requests and `reconnects` reconnections.
 */
export async function xsDeviceHeap(messages: number, reconnects: number, warmMessages = 100, warmReconnects = 3): Promise<DeviceHeapFigure> {
  const started = performance.now();
  const certs = testCertificates();
  const server: CompanionServer = await startCompanion({ port: 0, tls: certs.good, historyLength: 50 });
  const engine = await XsEngine.start({
    log: () => {},
    wifi: { connectDelayMs: 100, gotIPDelayMs: 100 },
  });
  const live = async (): Promise<LiveMemory> => {
    const memory = await engine.liveMemory();
    return { slots: memory.slots, chunkBytes: memory.chunkBytes };
  };
  /** Collects garbage; returns the slots left live. */
  const collect = async (): Promise<number> => (await engine.heap()).currentHeapCount;
  let lastConn = 0;
  const hello = async (): Promise<void> => {
    const event = await server.waitFor("hello", (e) => e.device === DEVICE_ID && e.conn > lastConn, WAIT_MS);
    lastConn = event.conn;
  };
  const echo = async (payload: string): Promise<void> => {
    const [request] = server.send(DEVICE_ID, { kind: "request", body: { type: "echo", payload } });
    await server.waitFor("reply", (e) => e.id === request!.id && e.conn === lastConn, WAIT_MS);
  };
  let lastSeq = -1;
  /** A new telemetry record has just been acknowledged: nothing of the device's is in flight. */
  const quiet = async (): Promise<void> => {
    const event = await server.waitFor("telemetry", (e) => e.conn === lastConn && e.seq > lastSeq, WAIT_MS);
    lastSeq = event.seq;
    await new Promise((resolve) => setTimeout(resolve, 50));
  };
  const handshakeSamples: DeliverySample[] = [];
  const message16kSamples: DeliverySample[] = [];
  /**
   * Runs `until` with every delivery sampled into `samples`; a GC once sampling stops waits
   * for the last snapshot, which is queued ahead of it.
   */
  const sampled = async (samples: DeliverySample[], until: () => Promise<void>): Promise<void> => {
    engine.sampleEachDelivery((sample) => samples.push(sample));
    try {
      await until();
    } finally {
      engine.sampleEachDelivery(undefined);
    }
    await engine.heap();
  };
  try {
    await engine.load("device");
    const loaded = await live();
    const handle = await engine.startProgram("device", { config: deviceConfig(server.url, certs.ca.cert), logLevel: "silent" }, () => {});
    // The simulated WiFi takes 200 ms to give an address: collect now, then follow the TLS
    // handshake, the 101 and the hello.
    const beforeHandshakeSlots = await collect();
    await sampled(handshakeSamples, hello);
    await quiet();
    const connected = await live();

    // A 16 KB request: the WebSocket layer takes it whole (maxMessageBytes is 16 KiB), and the
    // JSON loop refuses it with an error message (its maxJsonBytes is 8 KiB), as on the chip.
    const before16kSlots = await collect();
    await sampled(message16kSamples, async () => {
      server.send(DEVICE_ID, { kind: "request", body: { type: "echo", payload: "x".repeat(LARGE_PAYLOAD_CHARS) } });
      await server.waitFor("device_error", (e) => e.conn === lastConn && JSON.stringify(e.error).includes("too_large"), WAIT_MS);
    });

    const small = "moorline bench {\"seq\":12345,\"temp\":21.5}";
    for (let i = 0; i < warmMessages; i++) await echo(small);
    await quiet();
    const beforeMessages = await live();
    for (let i = 0; i < messages; i++) await echo(small);
    await quiet();
    const afterMessages = await live();

    const reconnect = async (): Promise<void> => {
      server.send(DEVICE_ID, { kind: "drop" });
      await hello();
    };
    for (let i = 0; i < warmReconnects; i++) await reconnect();
    await quiet();
    const beforeReconnects = await live();
    for (let i = 0; i < reconnects; i++) await reconnect();
    await quiet();
    const afterReconnects = await live();
    await engine.call(handle, "stop").catch(() => {});
    if (engine.failures.length > 0) throw engine.failures[0]!;
    return {
      loaded,
      connected,
      beforeMessages,
      afterMessages,
      beforeReconnects,
      afterReconnects,
      before16kSlots,
      beforeHandshakeSlots,
      handshakeSamples,
      message16kSamples,
      messages,
      warmMessages,
      reconnects,
      warmReconnects,
      largePayloadChars: LARGE_PAYLOAD_CHARS,
      wallMs: performance.now() - started,
    };
  } finally {
    await engine.close();
    await server.close();
  }
}
