/**
 * The fleet against an MQTT broker (`npm run bench -- --only mqtt`): the same simulated
 * devices as the fleet section (bench/fleet.ts, the whole firmware each, in one process), with
 * transport "mqtt", against Debian's mosquitto 2.0 on its WebSocket listener
 * (tests/support/mosquitto.ts, errors-only logging, no persistence, the open-file limit
 * raised). Each device publishes a telemetry record a second at QoS 1; RTT is the record's
 * publish to its PUBACK, seen by the device. CPU is measured for both processes over the
 * window: the devices' (process.cpuUsage in the fleet) and the broker's (/proc).
 */
import type { Output } from "./plan.js";
import { startFleet } from "./processes.js";
import { bytes, num, record, table, type FigureRecord } from "./report.js";
import { median, summarize } from "./stats.js";
import { Mosquitto, mosquittoMissing } from "../tests/support/mosquitto.js";

/** How long the devices may take to connect after the last one was made, ms. */
const CONNECT_TIMEOUT_MS = 180_000;

export interface MqttFleetPlan {
  devices: number;
  runs: number;
  rampMs: number;
  settleMs: number;
  windowMs: number;
}


/** Runs each fleet `runs` times against a fresh broker; adds mqtt_fleet_* records and prints a table. */
export async function mqttFleetSection(fleets: readonly MqttFleetPlan[], records: FigureRecord[], out: Output): Promise<void> {
  const missing = mosquittoMissing();
  if (missing !== undefined) throw new Error(missing);
  const rows = [["devices", "connected in", "publish->PUBACK p50 / p99 / max", "PUBACKs/s", "CPU s: devices / mosquitto", "heap/device", "closes", "runs"]];
  const failures: string[] = [];
  for (const fleet of fleets) {
    const results: Array<Record<string, number>> = [];
    try {
      for (let run = 0; run < fleet.runs; run++) {
        out.progress(`mqtt fleet: ${fleet.devices.toLocaleString("en-US")} devices, run ${run + 1}/${fleet.runs}`);
        results.push(await runOnce(fleet));
      }
    } catch (error) {
      // The sizes that did run are still reported; the section fails at the end.
      failures.push(`${fleet.devices.toLocaleString("en-US")} devices: ${(error as Error).message}`);
      rows.push([fleet.devices.toLocaleString("en-US"), "FAILED (below)", "", "", "", "", "", ""]);
      continue;
    }
    const of = (key: string) => summarize(results.map((r) => r[key]!));
    const windowS = fleet.windowMs / 1000;
    const base = { devices: fleet.devices, note: `${fleet.devices} devices on mosquitto (ws://), QoS 1` };
    const p50 = record("mqtt_fleet_p50_rtt", "moorline", "node", null, null, of("p50Ms"), "ms", base);
    const p99 = record("mqtt_fleet_p99_rtt", "moorline", "node", null, null, of("p99Ms"), "ms", base);
    const max = record("mqtt_fleet_max_rtt", "moorline", "node", null, null, of("maxMs"), "ms", base);
    const cpu = record("mqtt_fleet_cpu_seconds", "moorline", "node", null, null, of("cpuSeconds"), "s", { ...base, note: `device process CPU over a ${windowS} s window` });
    const brokerCpu = record("mqtt_fleet_broker_cpu_seconds", "mosquitto", "node", null, null, of("brokerCpuSeconds"), "s", { ...base, note: `mosquitto's CPU over the same window` });
    const heap = record("mqtt_fleet_memory_per_device", "moorline", "node", null, null, of("heapBytesPerDevice"), "B", { ...base, note: "V8 heap + external per device (whole firmware), after GC" });
    records.push(p50, p99, max, cpu, brokerCpu, heap);
    const acks = median(results.map((r) => r.acks! / (r.windowMs! / 1000)));
    const connectS = median(results.map((r) => r.connectMs! / 1000));
    const latency = [p50, p99, max].map((figure) => num(figure.median)).join(" / ");
    rows.push([
      fleet.devices.toLocaleString("en-US"),
      `${num(connectS)} s`,
      `${latency} ms`,
      num(acks),
      `${num(cpu.median)} / ${num(brokerCpu.median)} in ${windowS} s`,
      bytes(heap.median),
      String(median(results.map((r) => r.closes!))),
      String(fleet.runs),
    ]);
  }
  out.say(table(rows));
  for (const failure of failures) out.say(`FAILED: ${failure}`);
  out.say("Medians over the runs. Each device is the whole firmware with transport mqtt (MQTT 3.1.1 over our");
  out.say("WebSocket client), one QoS 1 telemetry record a second; latency is the record's PUBLISH -> its PUBACK.");
  out.say("Devices in one process, mosquitto in another (one thread), both on this machine: the broker's CPU is what");
  out.say("one broker node would spend on them.");
  if (failures.length > 0) throw new Error(`the MQTT fleet failed for ${failures.length} size(s)`);
}

/** One run: a fresh broker, the fleet against it; the fleet's result with the broker's CPU in the window. */
async function runOnce(fleet: MqttFleetPlan): Promise<Record<string, number>> {
  const broker = await Mosquitto.start({ persistence: false, fleet: true });
  const child = startFleet({
    url: broker.wsUrl,
    transport: "mqtt",
    devices: fleet.devices,
    rampMs: fleet.rampMs,
    settleMs: fleet.settleMs,
    windowMs: fleet.windowMs,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  });
  try {
    const connected = await child.waitFor((r) => r.event === "connected", fleet.rampMs + CONNECT_TIMEOUT_MS + 30_000, "the MQTT fleet to connect");
    if (connected.connected !== fleet.devices) throw new Error(`only ${String(connected.connected)} of ${fleet.devices} devices connected`);
    await child.waitFor((r) => r.event === "window", 30_000, "the MQTT fleet's window");
    const brokerCpu0 = broker.cpuSeconds();
    const result = await child.waitFor((r) => r.event === "result", fleet.windowMs + 30_000, "the MQTT fleet's result");
    return { ...(result as Record<string, number>), brokerCpuSeconds: broker.cpuSeconds() - brokerCpu0 };
  } finally {
    await child.kill();
    await broker.stop();
  }
}
