/**
 * The device's platform on Node: real TCP and timers, a simulated WiFi and a JSON file for
 * storage. Used by the device command line and the tests that run the whole device.
 */
import { getHeapStatistics } from "node:v8";
import type { ConsoleSerialConstructor, DeviceHost, LogLevel } from "../../src/shared/host.js";
import { FileStorage } from "./file-storage.js";
import { createJsonLog, createNodeHost } from "./host.js";
import { SimWifi } from "./sim-wifi.js";

/** The access point the simulated WiFi offers, and the credentials used by default. */
export const SIM_NETWORK = { ssid: "moorline-sim", password: "simulated-wifi" } as const;

/** A DeviceHost on Node: real TCP and timers, simulated WiFi, a JSON file for storage. */
export function createNodeDeviceHost(options: {
  storage: string;
  logLevel: LogLevel;
  out?: { write(line: string): unknown };
  /** The device's UART (hosts/node/serial.ts SerialConsole.serial), when --serial names one. */
  serial?: ConsoleSerialConstructor;
}): DeviceHost {
  const net = createNodeHost({ logLevel: "silent" });
  const log = createJsonLog(options.out ?? process.stdout, options.logLevel);
  return {
    ...net,
    log,
    wifi: new SimWifi({ timers: net.timers, accessPoints: [{ ...SIM_NETWORK, rssi: -58 }] }),
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

