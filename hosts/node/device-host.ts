/**
 * The device's platform on Node: real TCP, UDP and timers, the desktop's wall clock
 * (hosts/node/wall-clock.ts), a simulated WiFi and a JSON file for storage. Used by the device command line and the tests that run the whole device.
 */
import { getHeapStatistics } from "node:v8";
import type { ConsoleSerialConstructor, DeviceHost, LogLevel } from "../../src/shared/host.js";
import { FileStorage } from "./file-storage.js";
import { createJsonLog, createNodeHost } from "./host.js";
import { NodeTcpListener } from "./listener.js";
import { SimWifi, type SimAccessPoint } from "./sim-wifi.js";
import { NodeWallClock, type NodeWallClockOptions } from "./wall-clock.js";

/** The access point the simulated WiFi offers, and the credentials used by default. */
export const SIM_NETWORK = { ssid: "moorline-sim", password: "simulated-wifi" } as const;

/**
 * Everything the simulated WiFi hears (the setup portal's scan lists them): SIM_NETWORK, and
 * two neighbours to choose wrongly, one of them open. Their names hold characters a page
 * must escape.
 */
export const SIM_ACCESS_POINTS: readonly SimAccessPoint[] = Object.freeze([
  Object.freeze({ ...SIM_NETWORK, rssi: -58 }),
  Object.freeze({ ssid: "Caf\u00e9 & Bar", password: "not-your-network", rssi: -71 }),
  Object.freeze({ ssid: "Garden <guest>", password: "", rssi: -83 }),
]);

/** A DeviceHost on Node: real TCP and timers, simulated WiFi, a JSON file for storage. */
export function createNodeDeviceHost(options: {
  storage: string;
  logLevel: LogLevel;
  out?: { write(line: string): unknown };
  /** The wall clock (default: the OS clock, trusted). */
  clock?: NodeWallClockOptions;
  /** The device's UART (hosts/node/serial.ts SerialConsole.serial, or its relay into a worker), when --serial names one. */
  serial?: ConsoleSerialConstructor;
}): DeviceHost {
  const net = createNodeHost({ logLevel: "silent", wallClock: new NodeWallClock(options.clock) });
  const log = createJsonLog(options.out ?? process.stdout, options.logLevel);
  return {
    ...net,
    log,
    listener: NodeTcpListener,
    wifi: new SimWifi({ timers: net.timers, accessPoints: SIM_ACCESS_POINTS }),
    storage: new FileStorage(options.storage, { log }),
    platform: "node",
    ...(options.serial ? { serial: options.serial } : {}),
    // The heap the JS engine can still give: the desktop's "free memory".
    freeMemory: () => {
      const heap = getHeapStatistics();
      return heap.heap_size_limit - heap.used_heap_size;
    },
  };
}

