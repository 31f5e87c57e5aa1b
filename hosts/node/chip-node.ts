/**
 * The desktop chip's Node engine: one run of the firmware in a worker thread
 * (hosts/node/firmware-worker.ts), watched as a chip watches its firmware:
 *
 * - Watchdog: the worker adds one to a shared counter from a timer of its own event loop, every
 *   watchdogMs / WATCHDOG_FEEDS_PER_TIMEOUT; a turn that never returns (a handler in an endless
 *   loop) stops the feeding, and after watchdogMs without a feed the chip terminates the worker
 *   (V8 interrupts even an endless loop): reset "watchdog". That is the ESP32's task watchdog,
 *   which the SDK's event loop feeds between turns. While the worker loads the firmware (it
 *   says when it has, in the counter's second cell) the bound is WATCHDOG_BOOT_GRACE_MS.
 * - An exception nobody caught ends the worker ('error'): reset "panic".
 * - restart() in the firmware ends the worker with RESTART_EXIT_CODE: reset "software".
 * - stop(): the worker stops the device (1001, outbox flushed) and exits with 0: "stopped".
 *
 * The worker's log lines come here as messages and are written in order with the chip's own;
 * so do its UART's reads and writes (--serial: the chip owns the tty, serial-relay.ts).
 */
import { Worker } from "node:worker_threads";
import { ResetReason } from "../../src/health/reset-reason.js";
import type { BootContext, EngineBoot, FirmwareRun, RunEnd } from "./chip.js";
import { isSerialMessage, SerialRelay, type SerialFromWorker, type SerialToWorker } from "./serial-relay.js";

/** The worker's exit code for restart() (src/shared/host.ts SystemHost): reset "software". */
export const RESTART_EXIT_CODE = 75;
/** Feeds per watchdog timeout: a late timer or a GC pause must not pass for a hang. */
export const WATCHDOG_FEEDS_PER_TIMEOUT = 5;
/** The first feed may take this much longer than watchdogMs: the worker loads the firmware first, ms. */
export const WATCHDOG_BOOT_GRACE_MS = 10_000;

/** What the worker is given (structured-cloned). */
export interface FirmwareWorkerData {
  config: BootContext["config"];
  explicitSettings: readonly string[];
  clock?: BootContext["clock"];
  storagePath: string;
  /** The chip's memory and the update slots (the firmware's update store, firmware-store.ts). */
  statePath: string;
  slotsPath: string;
  logLevel: BootContext["logLevel"];
  resetReason: string;
  /** The chip has a UART (--serial): the firmware gets DeviceHost.serial, relayed (serial-relay.ts). */
  serial?: boolean;
  /** The watchdog's counter and how often to feed it; absent: no watchdog. */
  watchdog?: { counter: SharedArrayBuffer; feedMs: number };
}

/** Messages between the chip and the worker. */
export type ToWorker = { stop: true } | SerialToWorker;
export type FromWorker = { line: string } | SerialFromWorker;

export const bootOnNode: EngineBoot = async (context: BootContext): Promise<FirmwareRun> => {
  const watchdogMs = context.watchdogMs;
  // [feeds, booted]
  const counter = watchdogMs > 0 ? new SharedArrayBuffer(8) : undefined;
  const feedMs = Math.max(10, Math.floor(watchdogMs / WATCHDOG_FEEDS_PER_TIMEOUT));
  const data: FirmwareWorkerData = {
    config: context.config,
    explicitSettings: [...context.explicitSettings],
    ...(context.clock ? { clock: context.clock } : {}),
    storagePath: context.storagePath,
    statePath: context.statePath,
    slotsPath: context.slotsPath,
    logLevel: context.logLevel,
    resetReason: context.resetReason,
    ...(context.serial ? { serial: true } : {}),
    ...(counter ? { watchdog: { counter, feedMs } } : {}),
  };
  const worker = new Worker(context.image.nodeEntry, { workerData: data, stdout: false, stderr: false });
  const relay = context.serial ? new SerialRelay(context.serial, (message) => worker.postMessage(message satisfies ToWorker)) : undefined;
  worker.on("message", (message: FromWorker) => {
    if (isSerialMessage(message)) relay?.handle(message);
    else if (typeof message?.line === "string") context.out.write(message.line);
  });

  let end: RunEnd | undefined;
  let stopRequested = false;
  let watchdog: NodeJS.Timeout | undefined;
  const ended = new Promise<RunEnd>((resolve) => {
    worker.on("error", (error) => {
      // The message and where it was thrown: one line.
      const where = /\n\s*(at [^\n]+)/.exec(error.stack ?? "")?.[1];
      end ??= { how: "reset", reason: ResetReason.PANIC, detail: `uncaught exception: ${error.message}${where ? ` (${where})` : ""}` };
    });
    worker.on("exit", (code) => {
      clearInterval(watchdog);
      // The UART stays the chip's: the next run opens its own reader.
      relay?.end();
      if (end === undefined) {
        if (code === 0 && stopRequested) end = { how: "stopped" };
        else if (code === RESTART_EXIT_CODE) end = { how: "reset", reason: ResetReason.SOFTWARE, detail: "restart requested by the firmware" };
        else end = { how: "reset", reason: ResetReason.PANIC, detail: `the firmware ended with exit code ${code}` };
      }
      resolve(end);
    });
  });

  if (counter) {
    const view = new Int32Array(counter);
    let seen = 0;
    let fedAt = Date.now();
    watchdog = setInterval(() => {
      const value = Atomics.load(view, 0);
      const now = Date.now();
      if (value !== seen) {
        seen = value;
        fedAt = now;
        return;
      }
      const limit = Atomics.load(view, 1) === 1 ? watchdogMs : WATCHDOG_BOOT_GRACE_MS;
      if (now - fedAt < limit) return;
      clearInterval(watchdog);
      end ??= { how: "reset", reason: ResetReason.WATCHDOG, detail: `no turn of the firmware's event loop ended within ${watchdogMs} ms` };
      void worker.terminate();
    }, feedMs);
  }

  return {
    ended,
    stop() {
      stopRequested = true;
      worker.postMessage({ stop: true } satisfies ToWorker);
    },
    kill() {
      end ??= { how: "reset", reason: ResetReason.PANIC, detail: `did not stop within the stop grace` };
      void worker.terminate();
    },
  };
};
