/**
 * The desktop chip's XS engine: one run of the firmware inside the XS engine (an xsnap process,
 * hosts/xs/engine.ts), watched as a chip watches its firmware:
 *
 * - Watchdog: once the firmware is loaded, every delivery to XS (a timer, bytes from a
 *   socket, a WiFi event: one turn of the firmware's event loop) is bounded by watchdogMs; a
 *   turn that does not return in time gets the xsnap process killed: reset "watchdog".
 * - An exception nobody caught inside XS, or the xsnap process's death: reset "panic".
 * - restart() in the firmware (the "restart" event of xs-side/device.ts): reset "software".
 * - stop(): the firmware stops (1001, outbox flushed), says "stopped": "stopped".
 *
 * Each run starts a new xsnap process and reads the storage file afresh; it loads the firmware
 * from the image the chip boots (dist/, or an update slot's folder) and reaches the update
 * store and Node's signature check across the bridge.
 */
import { ResetReason } from "../../src/health/reset-reason.js";
import type { BootContext, EngineBoot, FirmwareRun, RunEnd } from "./chip.js";
import { FileStorage } from "./file-storage.js";
import { createJsonLog } from "./host.js";
import { NodeWallClock } from "./wall-clock.js";
import { NodeFirmwareStore } from "./firmware-store.js";
import { verifyP256 } from "./firmware-keys.js";
import type { XsEngine as XsEngineType } from "../xs/engine.js";

export const bootOnXs: EngineBoot = async (context: BootContext): Promise<FirmwareRun> => {
  // Loaded on demand: a device on the Node engine never loads the XS host.
  const [{ XsEngine }, { XsnapWorkerError }] = await Promise.all([import("../xs/engine.js"), import("../xs/xsnap-worker.js")]);
  const storage = new FileStorage(context.storagePath, { log: context.log });
  let end: RunEnd | undefined;
  let settle!: (end: RunEnd) => void;
  const ended = new Promise<RunEnd>((resolve) => (settle = resolve));
  let engine: XsEngineType | undefined;
  const finish = (value: RunEnd): void => {
    if (end !== undefined) return;
    end = value;
    // After the delivery that told us: its last posts (a close frame, log lines) are carried out first.
    setImmediate(() => {
      const closing = engine ? engine.close() : Promise.resolve();
      void closing.finally(() => settle(value));
    });
  };
  const log = createJsonLog(context.out, context.logLevel);
  engine = await XsEngine.start({
    storage,
    firmware: { store: new NodeFirmwareStore({ statePath: context.statePath, slotsPath: context.slotsPath, log }), verify: verifyP256 },
    ...(context.image.root !== undefined ? { firmwareRoot: context.image.root } : {}),
    wallClock: new NodeWallClock(context.clock),
    ...(context.serial ? { serial: context.serial } : {}),
    log,
    onFailure: (error) => {
      if (error instanceof XsnapWorkerError && error.timedOut) {
        finish({ how: "reset", reason: ResetReason.WATCHDOG, detail: `a turn of the firmware did not return within ${context.watchdogMs} ms` });
      } else {
        finish({ how: "reset", reason: ResetReason.PANIC, detail: error.message });
      }
    },
  });
  let handle = -1;
  try {
    handle = await engine.startProgram(
      context.image.xsProgram,
      {
        config: context.config,
        logLevel: context.logLevel,
        explicitSettings: [...context.explicitSettings],
        reset: context.resetReason,
        firmware: true,
        ...(context.serial ? { serial: true } : {}),
      },
      (event: Record<string, unknown>) => {
        if (event.event === "restart") finish({ how: "reset", reason: ResetReason.SOFTWARE, detail: "restart requested by the firmware" });
        else if (event.event === "stopped") finish({ how: "stopped" });
      },
    );
  } catch (error) {
    // The firmware threw while starting: a crash at boot, as the chip would see it.
    finish({ how: "reset", reason: ResetReason.PANIC, detail: `failed to start: ${(error as Error).message}` });
  }
  if (context.watchdogMs > 0) engine.worker.setRequestTimeout(context.watchdogMs);
  const started = engine;
  return {
    ended,
    stop() {
      if (end !== undefined) return;
      started.call(handle, "stop").catch(() => {
        // The run ended meanwhile: `ended` says how.
      });
    },
    kill() {
      finish({ how: "reset", reason: ResetReason.PANIC, detail: "did not stop within the stop grace" });
    },
  };
};
