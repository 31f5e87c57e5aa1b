/**
 * A desktop-free chip for tests of the whole device on a virtual clock: one storage across
 * boots, the reset reason of the next boot, restarts counted, an in-memory TCP per boot and,
 * when a test gives it one, a firmware update store. Each boot() is a new Device over the same
 * storage, as after a reset; open() completes its WebSocket handshake and returns what the
 * device sends from then on.
 *
 *   const chip = new FakeChip();  const run = chip.boot({ stableMs: 30_000 });
 *   const sent = run.open();  run.send({ type: "ping", id: 1 });  sent();
 */
import { parseDeviceConfig } from "../../src/device/config.js";
import { defineHandler } from "../../src/device/handlers.js";
import { Device } from "../../src/device/device.js";
import type { DeviceHost, FirmwareHost, LogLevel, SystemHost } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { parseClientFrames, parseRequest, switchingProtocols } from "./client-frames.js";
import { fakeTcp, type FakeTcpSocket } from "./fake-tcp.js";
import { serverFrame } from "./frames.js";
import { NO_WIFI } from "./no-wifi.js";
import { VirtualClock } from "./virtual-clock.js";

export type Json = Record<string, unknown>;

/** A chip: one storage across boots, the reset reason of the next boot, restarts counted. */
export class FakeChip {
  readonly storage = new MemoryStorage();
  nextReset = "power_on";
  restarts = 0;
  boots = 0;
  canRestart = true;
  /** Firmware updates, when the test gives the chip a slot. */
  firmware: FirmwareHost | undefined;

  /** Boots the firmware: a new Device over the same storage, as after a reset. */
  boot(config: Json = {}) {
    this.boots++;
    const clock = new VirtualClock();
    const logs: Array<{ level: LogLevel; event: string; fields: Json }> = [];
    const { tcp, sockets } = fakeTcp();
    const reset = this.nextReset;
    // Whatever ends this run, a crash is what the next boot sees unless the run says otherwise.
    this.nextReset = "panic";
    const system: SystemHost = { resetReason: () => reset };
    if (this.canRestart) {
      system.restart = () => {
        this.restarts++;
        this.nextReset = "software";
      };
    }
    const bootByte = this.boots;
    const host: DeviceHost = {
      tcp,
      timers: clock,
      random: (into) => into.fill(bootByte),
      wifi: NO_WIFI,
      storage: this.storage,
      log: (level, event, fields) => logs.push({ level, event, fields: fields ?? {} }),
      system,
      ...(this.firmware ? { firmware: this.firmware } : {}),
    };
    const device = new Device({
      host,
      config: parseDeviceConfig({ url: "ws://127.0.0.1:8080/", telemetryIntervalMs: 1000, ...config }),
      handlers: { led: defineHandler({ handle: () => ({ on: true }) }) },
    });
    device.start();
    let socket: FakeTcpSocket | undefined;
    /** Opens the connection; returns the JSON messages the device sends from now on. */
    const open = (): (() => Json[]) => {
      socket = sockets[sockets.length - 1]!;
      socket.connect();
      socket.receive(switchingProtocols(parseRequest(socket.takeWritten())));
      return () =>
        parseClientFrames(socket!.takeWritten())
          .filter((frame) => frame.opcode === 1)
          .map((frame) => JSON.parse(Buffer.from(frame.payload).toString("utf8")) as Json);
    };
    const send = (message: Json): void => socket!.receive(serverFrame({ opcode: 1, payload: JSON.stringify(message) }));
    const sendBinary = (bytes: Uint8Array): void => socket!.receive(serverFrame({ opcode: 2, payload: bytes }));
    return { device, clock, logs, open, send, sendBinary, socket: () => socket!, events: (name: string) => logs.filter((l) => l.event === name) };
  }
}

