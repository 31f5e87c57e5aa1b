/**
 * The fleet run: many simulated devices in this one process, each the whole firmware
 * (src/device/device.ts: supervisor, heartbeat, JSON loop, telemetry outbox) over the Node host,
 * each sending a telemetry record every second to the bench's server (echo-server.ts in
 * ack mode, another process), which acknowledges it. RTT is one record's time from being
 * recorded (and sent) to its ack arriving, seen by the device.
 *
 *   node --expose-gc dist/bench/fleet.js '{"url":"ws://127.0.0.1:PORT/","devices":1000,...}'
 *
 * Prints JSON lines: {"event":"connected",...} once every device is open, {"event":"window"}
 * when the measured window starts, and {"event":"result",...} at its end; then exits.
 */
import { monitorEventLoopDelay, performance, PerformanceObserver } from "node:perf_hooks";
import { createNodeHost } from "../hosts/node/host.js";
import { SimWifi } from "../hosts/node/sim-wifi.js";
import { parseDeviceConfig } from "../src/device/config.js";
import { Device } from "../src/device/device.js";
import type { Log } from "../src/shared/host.js";
import { MemoryStorage } from "../src/shared/memory-storage.js";
import { quantile } from "./stats.js";

export interface FleetSpec {
  url: string;
  devices: number;
  /** Devices are started evenly over this long, ms (their telemetry phases spread with them). */
  rampMs: number;
  /** After the last device opened, before measuring, ms. */
  settleMs: number;
  /** The measured window, ms. */
  windowMs: number;
  /** Longest wait for every device to connect, ms. */
  connectTimeoutMs: number;
  /** "mqtt": the devices speak MQTT to a broker at `url` (bench/mqtt-fleet.ts); default "websocket". */
  transport?: "websocket" | "mqtt";
}

export interface FleetResult {
  devices: number;
  connected: number;
  connectMs: number;
  windowMs: number;
  /** Acknowledged telemetry records in the window, and their RTTs (ms). */
  acks: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** This process's CPU time in the window (user + system), s. */
  cpuSeconds: number;
  /** V8 heap + external memory per device once all are connected (after GC), bytes. */
  heapBytesPerDevice: number;
  /** Resident set size per device, bytes. */
  rssBytesPerDevice: number;
  /** Connections closed during the window (should be 0). */
  closes: number;
  /** Event loop delay in the window (how late a ready callback ran), p99 and max, ms. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** Garbage collection pauses in the window: count, total and longest, ms. */
  gcPauses: number;
  gcTotalMs: number;
  gcMaxMs: number;
}

function memory(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const usage = process.memoryUsage();
  return { heap: usage.heapUsed + usage.external, rss: usage.rss };
}

const print = (record: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(record)}\n`);
};

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "") as FleetSpec;
  const net = createNodeHost({ logLevel: "silent" });
  // No network configured: the devices' link is always up and WiFi is never used.
  const wifi = new SimWifi({ timers: net.timers, accessPoints: [] });
  let measuring = false;
  const rtts: number[] = [];
  let opened = 0;
  let closes = 0;
  let onAllOpen: (() => void) | undefined;
  // A device is connected once its session is open: the WebSocket's, or MQTT's CONNACK.
  const openEvent = spec.transport === "mqtt" ? "mqtt_open" : "ws_open";

  const before = memory();
  const devices: Device[] = [];
  const makeDevice = (index: number): Device => {
    // The one record out at a time: each is acked within the second before the next.
    let sentSeq = -1;
    let sentAt = 0;
    const log: Log = (_level, event, fields) => {
      if (event === "telemetry_recorded") {
        sentSeq = fields!.seq as number;
        sentAt = performance.now();
      } else if (event === "telemetry_acked") {
        if (measuring && fields!.seq === sentSeq) rtts.push(performance.now() - sentAt);
      } else if (event === openEvent) {
        if (++opened === spec.devices) onAllOpen?.();
      } else if (event === "ws_closed") {
        if (measuring) closes++;
      }
    };
    const config = parseDeviceConfig({
      url: spec.url,
      deviceId: `fleet-${index}`,
      telemetryIntervalMs: 1000,
      transport: spec.transport ?? "websocket",
      ssid: "",
      password: "",
    });
    const device = new Device({
      host: { ...net, wifi, storage: new MemoryStorage(), log },
      config,
      readTelemetry: () => ({ temperature: 21.5, humidity: 40 }),
    });
    device.start();
    return device;
  };

  const start = performance.now();
  const allOpen = new Promise<void>((resolve) => (onAllOpen = resolve));
  const tickMs = 10;
  const perTick = Math.max(1, Math.ceil(spec.devices / Math.max(1, spec.rampMs / tickMs)));
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && devices.length < spec.devices; i++) devices.push(makeDevice(devices.length));
      if (devices.length === spec.devices) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  let timeout: NodeJS.Timeout | undefined;
  await Promise.race([allOpen, new Promise<void>((resolve) => (timeout = setTimeout(resolve, spec.connectTimeoutMs)))]);
  clearTimeout(timeout);
  const connectMs = performance.now() - start;
  const after = memory();
  print({ event: "connected", connected: opened, connectMs });

  await new Promise((resolve) => setTimeout(resolve, spec.settleMs));
  print({ event: "window" });
  measuring = true;
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const gcDurations: number[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcDurations.push(entry.duration);
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, spec.windowMs));
  const cpu = process.cpuUsage(cpu0);
  const windowMs = performance.now() - t0;
  measuring = false;
  loopDelay.disable();
  gcObserver.disconnect();
  const result: FleetResult = {
    devices: spec.devices,
    connected: opened,
    connectMs,
    windowMs,
    acks: rtts.length,
    p50Ms: quantile(rtts, 0.5),
    p99Ms: quantile(rtts, 0.99),
    maxMs: rtts.length ? Math.max(...rtts) : Number.NaN,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    heapBytesPerDevice: (after.heap - before.heap) / spec.devices,
    rssBytesPerDevice: (after.rss - before.rss) / spec.devices,
    closes,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    loopDelayMaxMs: loopDelay.max / 1e6,
    gcPauses: gcDurations.length,
    gcTotalMs: gcDurations.reduce((a, b) => a + b, 0),
    gcMaxMs: gcDurations.length ? Math.max(...gcDurations) : 0,
  };
  print({ event: "result", ...result });
  process.exit(0);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
