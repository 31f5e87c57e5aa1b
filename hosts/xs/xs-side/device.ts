/**
 * The device (src/device/device.ts) as a program inside XS, over the XS DeviceHost. Run by the
 * desktop chip (hosts/node/chip-xs.ts), it is given the reset reason (options.reset), a
 * restart() that asks Node, with a "restart" event, to end this run and boot again, and
 * (options.firmware) the chip's firmware update store (firmware.ts).
 */
import { parseDeviceConfig } from "../../../src/device/config.js";
import { Device } from "../../../src/device/device.js";
import type { LogLevel } from "../../../src/shared/host.js";
import { createXsDeviceHost } from "./host.js";
import { createXsFirmwareHost } from "./firmware.js";
import { registerProgram, type Json } from "./programs.js";

registerProgram("device", (options, emit) => {
  const host = createXsDeviceHost((options.logLevel as LogLevel | "silent" | undefined) ?? "info", { serial: options.serial === true });
  const reset = options.reset;
  if (typeof reset === "string") host.system = { resetReason: () => reset, restart: () => emit({ event: "restart" }) };
  if (options.firmware === true) host.firmware = createXsFirmwareHost();
  const device = new Device({
    host,
    config: parseDeviceConfig((options.config ?? {}) as Record<string, unknown>),
    ...(Array.isArray(options.explicitSettings) ? { explicitSettings: options.explicitSettings as string[] } : {}),
  });
  device.start();
  return {
    call(op) {
      if (op === "stop") {
        device.stop(() => emit({ event: "stopped" }));
        return;
      }
      if (op === "status") {
        const value = {
          supervisor: { state: device.supervisor.state, stats: device.supervisor.stats },
          app: { counters: device.app.counters },
          wifi: device.wifi ? { state: device.wifi.state, ssid: device.wifi.ssid ?? null } : null,
        };
        // Through JSON: undefined fields become absent, as a test comparing with Node expects.
        return { value: JSON.parse(JSON.stringify(value)) as Json };
      }
      throw new Error(`device: unknown call ${JSON.stringify(op)}`);
    },
  };
});
