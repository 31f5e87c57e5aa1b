/**
 * The Node side of the XS desktop host: it runs the firmware's compiled modules (dist/src)
 * inside the real XS engine (an xsnap worker, xsnap-worker.ts) and serves the platform they
 * need with the Node host's own implementations: NodeTcpSocket and NodeTlsSocket (socket-bridge.ts; TLS is
 * done here, on the Node side of the bridge), Node timers, crypto, a Storage, a SimWifi, the
 * JSON-line log, and UDP, name lookups and the wall clock (udp-bridge.ts). loader.ts loads the modules (and says which XS may load); xs-errors.ts
 * turns errors inside XS into Node's.
 *
 * Programs: the host's XS side registers programs (xs-side/programs.ts): the echo agent and
 * the device, which the command lines start (run.ts). Tests add their own from another
 * folder (XsEngineOptions.programRoots).
 *
 * Events: Node delivers one event at a time (the worker serialises requests), in the order
 * they happened, each built when its turn comes (a socket's writable space and its next
 * chunk are read then). See xs-side/protocol.ts for the wire format.
 */
import { randomFillSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { FirmwareHost, Log, LogLevel, Storage } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { SIM_ACCESS_POINTS } from "../node/device-host.js";
import { createJsonLog, type NodeTcpTuning } from "../node/host.js";
import { SimWifi, type SimWifiOptions } from "../node/sim-wifi.js";
import { NodeWallClock } from "../node/wall-clock.js";
import { UdpBridge } from "./udp-bridge.js";
import { FirmwareBridge } from "./firmware-bridge.js";
import type { SerialConsole } from "../node/serial.js";
import { ImprovBridge } from "./improv-bridge.js";
import {
  ANSWER_FAILED,
  ANSWER_OK,
  Command,
  Delivery,
  LOG_LEVELS,
  Post,
  Reader,
  ROOT_HANDLE,
  WIFI_NOTIFICATIONS,
  WIFI_REASONS,
  Writer,
} from "./xs-side/protocol.js";
import { ListenerBridge } from "./listener-bridge.js";
import { SocketBridge } from "./socket-bridge.js";
import { snapshotSections, XS_SLOT_BYTES } from "./heap-snapshot.js";
import { bootstrap, ModuleLoader, PROGRAMS_MODULE, type SourceTransform } from "./loader.js";
import { errorFromXs, XsError, type XsErrorJson } from "./xs-errors.js";
import { XsnapWorker, XsnapWorkerError, type MeterUsage, type XsnapReply } from "./xsnap-worker.js";

export interface XsEngineOptions {
  /** The storage XS's Storage reaches (default: a new MemoryStorage). */
  storage?: Storage;
  /**
   * The simulated WiFi XS's WifiDriver drives: a SimWifi (for a test to script), or options
   * for one (default: the access points SIM_ACCESS_POINTS, SimWifi's default delays, Node timers).
   */
  wifi?: SimWifi | Partial<SimWifiOptions>;
  /** Socket tuning (tests), as for the Node host. */
  tcp?: NodeTcpTuning;
  /** The device's console serial port (--serial), which XS's DeviceHost.serial reads (improv-bridge.ts). */
  serial?: SerialConsole;
  /**
   * Where XS's log events go (each program filters by its own logLevel first). Default: JSON
   * lines on stderr, as the Node host prints them.
   */
  log?: Log;
  /** Lines the worker prints itself (XS print(), its stderr). Default: stderr, prefixed. */
  onOutput?: (line: string, stream: "stdout" | "stderr") => void;
  /**
   * An exception escaped into the host inside XS (a bug: src/ catches its callbacks' throws),
   * or the worker died. Default: printed on stderr. Each is also kept in `failures`.
   */
  onFailure?: (error: Error) => void;
  /** Longest one delivery may run in XS before the worker is killed, ms (default 60 s). */
  requestTimeoutMs?: number;
  /**
   * More folders under dist/ whose modules XS may load and whose programs (<folder>/<name>.js,
   * registering itself as <name>) startProgram() may start, after the host's own
   * (hosts/xs/xs-side): the tests' programs (tests/support/xs). Default none: the host a user
   * runs loads nothing but the firmware and its own XS side.
   */
  programRoots?: readonly string[];
  /** The device's wall clock, which TLS checks dates by (default: the OS clock, trusted). */
  wallClock?: NodeWallClock;
  /** The firmware update store and signature check XS reaches (firmware-bridge.ts); default none. */
  firmware?: FirmwareHost;
  /**
   * The folder XS loads the firmware (src/) and the host's XS side from: an update image's,
   * unpacked by the desktop chip (hosts/node/firmware.ts). Default dist/.
   */
  firmwareRoot?: string;
  /**
   * The bench's meter profile (bench/xs-meter-profile.ts): every module XS loads is passed
   * through `transform` (which adds the probes) and XS gets the profile's runtime. Never for
   * a normal run: the probes cost steps and reset xsnap's meter (compute figures are off).
   */
  meterProfile?: { transform: SourceTransform };
  /** Called with xsnap's meter after every delivery (the bench follows the heap's peaks). */
  onMeter?: (meter: MeterUsage) => void;
}

/** What one delivery left in XS (XsEngine.sampleEachDelivery). */
export interface DeliverySample {
  /** The delivery's kind (xs-side/protocol.ts, Delivery). */
  kind: number;
  /**
   * Slots in use when it ended (xsnap's meter): live before it plus all it allocated, garbage
   * included (xsnap's heap is large enough not to collect within a delivery).
   */
  slotsBound: number;
  /** Live slots and chunk bytes after a full collection (heap snapshot), as liveMemory(). */
  slots: number;
  chunkBytes: number;
}

/** A meter profile's counts, indexed by probe id (null: never counted). */
export interface MeterProfileCounts {
  self: Array<number | null>;
  calls: Array<number | null>;
  children: Array<number | null>;
}

/** An event of a program in XS: the JSON it emitted and its bytes (possibly empty). */
export type ProgramListener = (event: Record<string, unknown>, bytes: Uint8Array) => void;

/** What a call to a program returned. */
export interface CallReply {
  value: unknown;
  bytes: Uint8Array;
  /** The program's state snapshot, when it keeps one (a client's readyState...). */
  state: unknown;
}

interface CallResult {
  ok: boolean;
  value?: unknown;
  error?: XsErrorJson;
  state?: unknown;
}

const EMPTY = new Uint8Array(0);
const OK_ANSWER = new Uint8Array([ANSWER_OK]);

/** The engine: one XS worker with its Node-side platform. */
export class XsEngine {
  readonly worker: XsnapWorker;
  readonly storage: Storage;
  readonly wifi: SimWifi;
  /** The wall clock XS reads and sets (hosts/xs/udp-bridge.ts). */
  readonly wallClock: NodeWallClock;
  /** Uncaught XS exceptions and the worker's death, in order. */
  readonly failures: Error[] = [];
  /** The meter of the last request that ran in XS. */
  lastMeter: MeterUsage | undefined;
  /** Deliveries made so far, and XS compute they took in total (the meter's units). */
  deliveries = 0;
  compute = 0;

  private readonly options: XsEngineOptions;
  private readonly loader: ModuleLoader;
  private readonly log: Log;
  private readonly ownsWifi: boolean;
  private readonly improv: ImprovBridge;
  /** XS's TCP and TLS sockets. */
  private readonly tcp: SocketBridge;
  /** XS's TCP listeners, and the simulated WiFi's scan and access point. */
  private readonly portal: ListenerBridge;
  /** XS's UDP sockets, name lookups and wall clock. */
  private readonly udp: UdpBridge;
  /** XS's firmware update store and signature check. */
  private readonly firmware: FirmwareBridge;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly listeners = new Map<number, ProgramListener>();
  private readonly failureListeners = new Set<(error: Error) => void>();
  private readonly loaded = new Set<string>();
  private lastHandle = ROOT_HANDLE;
  /** The RESULT record of the CALL being delivered. */
  private result: { json: CallResult; bytes: Uint8Array } | undefined;
  private closed = false;
  /** sampleEachDelivery's callback, while it samples. */
  private sampler: ((sample: DeliverySample) => void) | undefined;

  private constructor(options: XsEngineOptions) {
    this.options = options;
    this.loader = new ModuleLoader(options.programRoots, options.firmwareRoot, options.meterProfile?.transform);
    this.log = options.log ?? createJsonLog(process.stderr, "debug");
    this.storage = options.storage ?? new MemoryStorage();
    this.wallClock = options.wallClock ?? new NodeWallClock();
    this.udp = new UdpBridge((kind, write) => this.event(kind, write), this.wallClock);
    this.firmware = new FirmwareBridge(options.firmware);
    this.tcp = new SocketBridge({
      event: (kind, write, after) => this.event(kind, write, after),
      tcp: options.tcp,
      wallClock: this.wallClock,
    });
    if (options.wifi instanceof SimWifi) {
      this.wifi = options.wifi;
      this.ownsWifi = false;
    } else {
      this.wifi = new SimWifi({
        timers: {
          set: (callback, ms) => setTimeout(callback, ms),
          clear: (id) => clearTimeout(id as NodeJS.Timeout),
          now: () => performance.now(),
        },
        accessPoints: SIM_ACCESS_POINTS,
        ...options.wifi,
      });
      this.ownsWifi = true;
    }
    this.portal = new ListenerBridge({
      event: (kind, write) => this.event(kind, write),
      attachSocket: (id, create) => this.tcp.attachSocket(id, create),
      wifi: this.wifi,
    });
    this.improv = new ImprovBridge((kind, write) => this.event(kind, write), options.serial);
    this.worker = new XsnapWorker({
      name: "moorline-xs",
      onCommand: (message) => this.received(message),
      ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      onExit: (error) => {
        if (error) this.failure(error);
        this.shutDownPlatform();
      },
    });
  }

  /** Starts a worker and loads the XS side of the host into it (well under a second). */
  static async start(options: XsEngineOptions = {}): Promise<XsEngine> {
    const engine = new XsEngine(options);
    try {
      await engine.worker.evaluate(bootstrap(options.meterProfile !== undefined));
      await engine.importModule(PROGRAMS_MODULE);
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  /**
   * Loads program `name` (hosts/xs/xs-side/<name>.js, or <root>/<name>.js of a program root)
   * and what it imports into XS, once.
   */
  async load(name: string): Promise<void> {
    await this.importModule(this.loader.programModule(name));
  }

  private async importModule(specifier: string): Promise<void> {
    if (this.loaded.has(specifier)) return;
    const reply = await this.worker.evaluate(`__moorlineImport(${JSON.stringify(specifier)})`);
    this.lastMeter = reply.meter;
    this.loaded.add(specifier);
  }

  /**
   * Starts program `program` in XS ("echo-agent", "device", or one of programRoots'); its
   * events go to `listener`. Throws what the program's start threw in XS (a bad URL: the same
   * WebSocketError as on Node), with its XS stack.
   */
  async startProgram(program: string, options: Record<string, unknown>, listener: ProgramListener): Promise<number> {
    await this.load(program);
    const handle = ++this.lastHandle;
    this.listeners.set(handle, listener);
    try {
      await this.call(ROOT_HANDLE, "start", { program, handle, options });
    } catch (error) {
      this.listeners.delete(handle);
      throw error;
    }
    return handle;
  }

  /** Forgets a program (its events are no longer listened to). */
  async endProgram(handle: number): Promise<void> {
    this.listeners.delete(handle);
    if (!this.closed && this.worker.alive) await this.call(ROOT_HANDLE, "end", { handle }).catch(() => {});
  }

  /** Calls a program in XS; rejects with errorFromXs() of what it threw. */
  async call(handle: number, op: string, args: Record<string, unknown> = {}, bytes: Uint8Array = EMPTY): Promise<CallReply> {
    const json = Buffer.from(JSON.stringify({ op, args }), "utf8");
    let result: { json: CallResult; bytes: Uint8Array } | undefined;
    await this.deliver(Delivery.CALL, (writer) => {
      writer.u32(handle);
      writer.prefixed(json);
      writer.bytes(bytes);
    }, () => {
      result = this.result;
      this.result = undefined;
    });
    if (result === undefined) {
      throw this.failures.at(-1) ?? new XsError(`the call ${op} got no result from XS`, "");
    }
    if (!result.json.ok) {
      // The program's state goes with the error: a refused send leaves bufferedAmount as it was.
      throw Object.assign(errorFromXs(result.json.error!), { xsState: result.json.state });
    }
    return { value: result.json.value, bytes: result.bytes, state: result.json.state };
  }

  /**
   * The XS heap after a garbage collection: meter.currentHeapCount is the number of slots
   * alive (16 bytes each on a 64-bit build), the figure that must not grow with uptime.
   */
  async heap(): Promise<MeterUsage> {
    const reply = await this.deliver(Delivery.GC, () => {});
    return reply!.meter;
  }

  /**
   * The meter profile's counts since the last take (an engine started with meterProfile):
   * per probe id, its self steps, its calls and the calls it made to instrumented functions;
   * id 0 is whatever ran outside instrumented code.
   */
  async takeMeterProfile(): Promise<MeterProfileCounts> {
    if (!this.options.meterProfile) throw new Error("takeMeterProfile() needs an engine started with meterProfile");
    const reply = await this.worker.evaluate("__moorlineMeterProfile()");
    return JSON.parse(Buffer.from(reply.reply).toString("utf8")) as MeterProfileCounts;
  }

  /**
   * What is alive in XS after a full collection, read from a heap snapshot (xsnap writes one
   * to a file, whose sections are measured and which is then deleted): the slots, and the
   * bytes of the chunk heap (strings, buffers' data, arrays' items, bytecode). Slots are
   * sizeof(txSlot) each: 32 bytes in this 64-bit build.
   */
  async liveMemory(next = false): Promise<{ slots: number; slotBytes: number; chunkBytes: number }> {
    const dir = mkdtempSync(join(tmpdir(), "moorline-xs-heap-"));
    const path = join(dir, "heap.xss");
    try {
      await this.worker.writeSnapshot(path, { next });
      const { heapBytes, chunkBytes } = snapshotSections(readFileSync(path));
      return { slots: heapBytes / XS_SLOT_BYTES, slotBytes: heapBytes, chunkBytes };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * From now on (until called with undefined), after every delivery but a GC one, reads what
   * it left alive from a heap snapshot taken before anything else runs in XS (liveMemory: a
   * full collection first), and calls `sampler`. Slow (a snapshot per delivery): for the
   * bench's live peaks. The collection after each delivery makes the next one's meter count
   * (slotsBound) what was live before it plus all it allocated: the most it can have held.
   */
  sampleEachDelivery(sampler: ((sample: DeliverySample) => void) | undefined): void {
    this.sampler = sampler;
  }

  /** Calls `listener` for each failure from now on; returns a function that stops it. */
  onFailure(listener: (error: Error) => void): () => void {
    this.failureListeners.add(listener);
    return () => this.failureListeners.delete(listener);
  }

  /** Throws the first failure so far (for a test's afterEach). */
  check(): void {
    if (this.failures.length > 0) throw this.failures[0];
  }

  /** Ends the worker and everything Node held for it (timers, sockets, WiFi). */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.shutDownPlatform();
    }
    await this.worker.close();
  }

  get isClosed(): boolean {
    return this.closed || !this.worker.alive;
  }

  // --- deliveries ---------------------------------------------------------------------

  /**
   * Queues a delivery; `write` fills its body when its turn comes (after the header: kind
   * and Node's clock). Returning false from `write` skips it. `after` runs when XS's answer
   * has been processed.
   */
  private deliver(kind: number, write: (writer: Writer) => void | false, after?: () => void): Promise<XsnapReply | undefined> {
    return this.worker.deliver(
      () => {
        if (this.closed) return undefined;
        const writer = new Writer(64);
        writer.u8(kind);
        writer.f64(performance.now());
        if (write(writer) === false) return undefined;
        return new Uint8Array(writer.take());
      },
      (reply) => {
        // Synchronously, before the next delivery is built: a write posted here counts
        // against the space the next writable event reports, and so on.
        this.deliveries++;
        this.compute += reply.meter.compute;
        this.lastMeter = reply.meter;
        this.options.onMeter?.(reply.meter);
        if (this.sampler !== undefined && kind !== Delivery.GC) this.sample(kind, reply.meter.currentHeapCount, this.sampler);
        this.received(reply.reply);
        after?.();
      },
    );
  }

  /** sampleEachDelivery's snapshot, queued ahead of every other request. */
  private sample(kind: number, slotsBound: number, sampler: (sample: DeliverySample) => void): void {
    this.liveMemory(true).then(
      (live) => sampler({ kind, slotsBound, slots: live.slots, chunkBytes: live.chunkBytes }),
      (error: Error) => {
        if (!(error instanceof XsnapWorkerError)) this.failure(error);
      },
    );
  }

  /** A delivery that nobody awaits (events): its failures are reported, not thrown. */
  private event(kind: number, write: (writer: Writer) => void | false, after?: () => void): void {
    this.deliver(kind, write, after).catch((error: Error) => {
      if (!(error instanceof XsnapWorkerError)) this.failure(error);
      // A dead worker was reported by onExit.
    });
  }

  // --- what XS sends ------------------------------------------------------------------

  /** Runs the records of a message from XS; answers the synchronous call ending it, if any. */
  private received(message: Uint8Array): Uint8Array {
    const reader = new Reader(message);
    let answer: Uint8Array = OK_ANSWER;
    while (reader.remaining > 0) {
      const kind = reader.u8();
      const length = reader.u32();
      const body = new Reader(message, reader.offset, reader.offset + length);
      reader.offset += length;
      if (kind >= Command.LOAD) {
        answer = this.command(kind, body);
      } else {
        try {
          this.post(kind, body);
        } catch (error) {
          this.failure(error as Error);
        }
      }
    }
    return answer;
  }

  private post(kind: number, body: Reader): void {
    switch (kind) {
      case Post.LOG: {
        const level = LOG_LEVELS[body.u8()] as LogLevel;
        const [event, fields] = JSON.parse(text(body.rest())) as [string, Record<string, unknown> | null];
        this.log(level, event, fields ?? undefined);
        return;
      }
      case Post.TIMER_SET: {
        const id = body.u32();
        const ms = body.f64();
        this.timers.set(
          id,
          setTimeout(() => {
            this.timers.delete(id);
            this.event(Delivery.TIMER, (writer) => writer.u32(id));
          }, ms),
        );
        return;
      }
      case Post.TIMER_CLEAR: {
        const id = body.u32();
        clearTimeout(this.timers.get(id));
        this.timers.delete(id);
        return;
      }
      case Post.EMIT: {
        const handle = body.u32();
        const event = JSON.parse(text(body.prefixed())) as Record<string, unknown>;
        const listener = this.listeners.get(handle);
        listener?.(event, body.rest());
        return;
      }
      case Post.RESULT: {
        const json = JSON.parse(text(body.prefixed())) as CallResult;
        this.result = { json, bytes: body.rest() };
        return;
      }
      case Post.EXCEPTION: {
        const stack = text(body.rest());
        const first = stack.split("\n", 1)[0]!;
        this.failure(new XsError(`uncaught exception in XS: ${first}`, stack));
        return;
      }
      default:
        if (this.tcp.post(kind, body) || this.udp.post(kind, body) || this.portal.post(kind, body)) return;
        throw new Error(`XS sent an unknown post kind ${kind}`);
    }
  }

  private command(kind: number, body: Reader): Uint8Array {
    try {
      switch (kind) {
        case Command.LOAD:
          return answer(Buffer.from(this.loader.source(text(body.rest())), "utf8"));
        case Command.RANDOM: {
          const bytes = new Uint8Array(body.u32());
          randomFillSync(bytes);
          return answer(bytes);
        }
        case Command.STORAGE_GET: {
          const domain = text(body.prefixed());
          const value = this.storage.get(domain, text(body.prefixed()));
          return value === undefined ? new Uint8Array([ANSWER_OK, 0]) : answer(Buffer.concat([Buffer.of(1), Buffer.from(value, "utf8")]));
        }
        case Command.STORAGE_SET: {
          const domain = text(body.prefixed());
          const key = text(body.prefixed());
          this.storage.set(domain, key, text(body.rest()));
          return OK_ANSWER;
        }
        case Command.STORAGE_DELETE: {
          const domain = text(body.prefixed());
          this.storage.delete(domain, text(body.prefixed()));
          return OK_ANSWER;
        }
        case Command.WIFI_CONNECT: {
          this.listenToWifi(body.u8() === 1);
          this.wifi.connect(JSON.parse(text(body.rest())));
          return OK_ANSWER;
        }
        case Command.WIFI_DISCONNECT:
          this.listenToWifi(body.u8() === 1);
          this.wifi.disconnect();
          return OK_ANSWER;
        case Command.WIFI_STATUS: {
          const rssi = this.wifi.rssi();
          const address = Buffer.from(this.wifi.address() ?? "", "utf8");
          const out = Buffer.alloc(9 + address.length);
          out[0] = ANSWER_OK;
          out.writeDoubleLE(rssi ?? Number.NaN, 1);
          address.copy(out, 9);
          return out;
        }
        default:
          return (
            this.tcp.command(kind, body) ??
            this.udp.command(kind, body) ??
            this.portal.command(kind, body) ??
            this.improv.command(kind, body) ??
            this.firmware.command(kind, body) ??
            fail(`XS sent an unknown command kind ${kind}`)
          );
      }
    } catch (error) {
      const { name, message } = error instanceof Error ? error : new Error(String(error));
      return Buffer.concat([Buffer.of(ANSWER_FAILED), Buffer.from(`${name}\u0000${message}`, "utf8")]);
    }
  }

  private listenToWifi(listening: boolean): void {
    this.wifi.onNotify = listening
      ? (notification, reason) =>
          this.event(Delivery.WIFI, (writer) => {
            writer.u8(WIFI_NOTIFICATIONS.indexOf(notification));
            writer.u8(reason === undefined ? 0 : WIFI_REASONS.indexOf(reason) + 1);
          })
      : undefined;
  }

  // --- failures and shutdown ----------------------------------------------------------

  private failure(error: Error): void {
    this.failures.push(error);
    if (this.options.onFailure) this.options.onFailure(error);
    else if (this.failureListeners.size === 0) process.stderr.write(`${error.stack ?? error.message}\n`);
    for (const listener of this.failureListeners) listener(error);
  }

  private shutDownPlatform(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.tcp.close();
    this.portal.close();
    this.udp.close();
    this.improv.shutDown();
    this.wifi.onNotify = undefined;
    if (this.ownsWifi) this.wifi.close();
  }
}

/** `promise`, or a rejection naming `what` after `ms` (every wait on XS is bounded). */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what} in XS`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8");
}

function fail(message: string): never {
  throw new Error(message);
}

function answer(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out[0] = ANSWER_OK;
  out.set(bytes, 1);
  return out;
}

export { READ_CHUNK_BYTES } from "./socket-bridge.js";
export { snapshotSections, XS_SLOT_BYTES };
