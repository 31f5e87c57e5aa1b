/**
 * One run of the firmware on the Node engine, in a worker thread of the desktop chip
 * (hosts/node/chip-node.ts): the Device over the Node host, its storage file read afresh (as
 * a chip reads its NVS at boot), a SystemHost whose reset reason is the chip's and whose
 * restart() ends the run for the chip to boot it again, and the firmware update store
 * (firmware-store.ts: the other slot, the chip's boot choice). This module is part of every
 * desktop image: the chip starts the one of the image it boots.
 *
 * The watchdog is fed first of all, from a timer: from then on, a turn of this thread's event
 * loop that never ends stops the feeding, and the chip ends the run.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { FirmwareWorkerData, FromWorker, ToWorker } from "./chip-node.js";

const data = workerData as FirmwareWorkerData;
const port = parentPort!;

const watchdog = data.watchdog ? new Int32Array(data.watchdog.counter) : undefined;
if (watchdog) setInterval(() => Atomics.add(watchdog, 0, 1), data.watchdog!.feedMs);

const [{ Device }, { createNodeDeviceHost }, { RESTART_EXIT_CODE }, { createNodeFirmwareHost }, { createRelayedSerial }] = await Promise.all([
  import("../../src/device/device.js"),
  import("./device-host.js"),
  import("./chip-node.js"),
  import("./firmware-store.js"),
  import("./serial-relay.js"),
]);

// The chip's UART (--serial), read and written through the chip (serial-relay.ts).
const uart = data.serial ? createRelayedSerial((message) => port.postMessage(message satisfies FromWorker)) : undefined;

const host = createNodeDeviceHost({
  storage: data.storagePath,
  logLevel: data.logLevel,
  ...(data.clock ? { clock: data.clock } : {}),
  out: { write: (line: string) => port.postMessage({ line } satisfies FromWorker) },
  ...(uart ? { serial: uart.serial } : {}),
});
host.system = {
  resetReason: () => data.resetReason,
  // Messages posted before the exit (the last log lines) still reach the chip.
  restart: () => process.exit(RESTART_EXIT_CODE),
};
host.firmware = createNodeFirmwareHost({ statePath: data.statePath, slotsPath: data.slotsPath, log: host.log });
const device = new Device({ host, config: data.config, explicitSettings: data.explicitSettings });
port.on("message", (message: ToWorker) => {
  if ("stop" in message) device.stop(() => process.exit(0));
  else uart?.received(message);
});
device.start();
// Loaded and started: from now on a turn has watchdogMs.
if (watchdog) {
  Atomics.add(watchdog, 0, 1);
  Atomics.store(watchdog, 1, 1);
}
