/**
 * The bench's system figures: memory per connection and per message in flight (Node and XS),
 * reconnecting after a server restart, a fleet of simulated devices in one process, the
 * durable outbox's flash wear, and startup (process start to hello; the firmware's flash
 * footprint from the ESP32 link, where the Moddable SDK is installed).
 */
import { pairedRatio } from "./clients-section.js";
import { flashScenarios, FLASH_ERASE_CYCLES, NVS_PAGES, simulateFlash } from "./flash.js";
import type { Output, Plan } from "./plan.js";
import { runDriver, ServerProcess, startFleet } from "./processes.js";
import { reconnectOnce, type ReconnectSample } from "./reconnect.js";
import { bytes, num, ratioText, record, table, withSpread, type Engine, type FigureRecord } from "./report.js";
import { median, summarize } from "./stats.js";
import { REFERENCE, type TaskResult } from "./tasks.js";
import { footprintUnavailable, measureFootprint } from "./footprint.js";
import { startupToHello } from "./startup.js";
import { SLOT_BYTES_DESKTOP, SLOT_BYTES_ESP32, xsMemory } from "./xs.js";

export async function memorySection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<void> {
  const server = await ServerProcess.start("echo");
  const perConnection = new Map<string, number[]>();
  const perMessage = new Map<string, number[]>();
  const skipped: string[] = [];
  try {
    for (let run = 0; run < plan.memoryRuns; run++) {
      for (const client of ["moorline", "ws"] as const) {
        progress(`memory: ${client}, run ${run + 1}/${plan.memoryRuns}`);
        const results: TaskResult[] = await runDriver(
          {
            client,
            url: server.url,
            tasks: [
              { figure: "memory-connection", count: plan.memoryConnections },
              { figure: "memory-inflight", size: 64, count: plan.memoryInflight },
            ],
          },
          { timeoutMs: 120_000 },
        );
        for (const result of results) {
          if (result.skipped) skipped.push(`${client} ${result.task.figure}: ${result.skipped}`);
          if (result.bytesEach === undefined) continue;
          const into = result.task.figure === "memory-connection" ? perConnection : perMessage;
          into.set(client, [...(into.get(client) ?? []), result.bytesEach]);
        }
      }
    }
  } finally {
    await server.stop();
  }
  for (const [figure, data, note] of [
    ["memory_per_connection", perConnection, `${plan.memoryConnections} open connections, V8 heap + external`],
    ["memory_per_inflight_message", perMessage, "64-byte binary messages queued behind a full socket, V8 heap + external (payload included)"],
  ] as const) {
    for (const [client, values] of data) {
      const extra: Partial<FigureRecord> = { note };
      if (client !== REFERENCE) {
        const ratio = pairedRatio(values, data.get(REFERENCE));
        if (ratio) extra.ratioToWs = ratio;
      }
      records.push(record(figure, client, "node", figure === "memory_per_connection" ? null : 64, figure === "memory_per_connection" ? null : "binary", summarize(values), "B", extra));
    }
  }
  progress("memory: XS");
  const xs = await xsMemory(plan.xsConnections, plan.memoryInflight / 5);
  records.push(record("memory_per_connection", "moorline", "xs", null, null, summarize([xs.slotsPerConnection]), "slots", { note: `${xs.slotsPerConnection * SLOT_BYTES_DESKTOP} B here, ${xs.slotsPerConnection * SLOT_BYTES_ESP32} B on an ESP32, strings and buffers not included` }));
  records.push(record("memory_per_inflight_message", "moorline", "xs", 64, "binary", summarize([xs.slotsPerQueuedMessage]), "slots", { note: "plus the frame's bytes (70) in XS's chunk heap" }));

  const get = (figure: string, client: string, engine: Engine) => records.find((r) => r.figure === figure && r.client === client && r.engine === engine);
  const rows = [["figure", "moorline (Node)", "ws (Node)", "moorline/ws", "moorline (XS)"]];
  for (const [label, figure] of [
    ["per open connection", "memory_per_connection"],
    ["per 64-byte message in flight", "memory_per_inflight_message"],
  ] as const) {
    const ours = get(figure, "moorline", "node");
    const ws = get(figure, "ws", "node");
    const inXs = get(figure, "moorline", "xs");
    rows.push([
      label,
      ours ? withSpread(ours, (v) => num(v, 4)) : "-",
      ws ? withSpread(ws, (v) => num(v, 4)) : "-",
      ratioText(ours?.ratioToWs),
      inXs ? `${num(inXs.median)} slots = ${bytes(inXs.median * SLOT_BYTES_DESKTOP)} (${bytes(inXs.median * SLOT_BYTES_ESP32)} on ESP32)` : "-",
    ]);
  }
  say(table(rows));
  say(`Node: V8 heap + external bytes after GC, ${plan.memoryConnections} connections; in flight: behind a socket whose peer stopped reading.`);
  say("XS: live slots (strings' and buffers' bytes, such as a queued frame's 70 bytes, are in the chunk heap, not counted).");
  for (const line of skipped) say(`  note: ${line}`);
}

export async function reconnectSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<void> {
  const rows = [["engine", "port open again -> first message", "of which after the 101", "runs"]];
  for (const engine of plan.reconnectEngines) {
    const samples: ReconnectSample[] = [];
    for (let run = 0; run < plan.reconnectRuns; run++) {
      progress(`reconnect: ${engine}, run ${run + 1}/${plan.reconnectRuns}`);
      samples.push(await reconnectOnce(engine, plan.downMs));
    }
    const total = record("reconnect", "moorline", engine, null, null, summarize(samples.map((s) => s.totalMs)), "ms", {
      note: `server down ${plan.downMs} ms; device defaults (backoff 1 s base, full jitter)`,
    });
    const after = record("reconnect_after_handshake", "moorline", engine, null, null, summarize(samples.map((s) => s.afterHandshakeMs)), "ms");
    records.push(total, after);
    rows.push([engine, withSpread(total), withSpread(after), String(samples.length)]);
  }
  say(table(rows));
  say(`The server is killed, stays down ${plan.downMs} ms, and listens again on the same port; the device runs with its`);
  say("defaults, so the figure is mostly the remaining backoff delay (full jitter over a window that doubles per failure).");
}

export async function fleetSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<Array<{ devices: number; p99: number }>> {
  const rows = [["devices", "p50 RTT", "p99 RTT", "max RTT", "acks/s", "device CPU s", "server CPU s", "loop delay p99 / max", "GC pauses: longest, total", "heap/device", "RSS/device", "runs"]];
  const outcome: Array<{ devices: number; p99: number }> = [];
  for (const fleet of plan.fleets) {
    const results: Array<Record<string, number>> = [];
    for (let run = 0; run < fleet.runs; run++) {
      progress(`fleet: ${fleet.devices.toLocaleString("en-US")} devices, run ${run + 1}/${fleet.runs}`);
      const server = await ServerProcess.start("ack");
      const child = startFleet({ url: server.url, devices: fleet.devices, rampMs: fleet.rampMs, settleMs: fleet.settleMs, windowMs: fleet.windowMs, connectTimeoutMs: 60_000 });
      try {
        const connected = await child.waitFor((r) => r.event === "connected", 90_000, "the fleet to connect");
        if (connected.connected !== fleet.devices) throw new Error(`only ${String(connected.connected)} of ${fleet.devices} devices connected`);
        await child.waitFor((r) => r.event === "window", 30_000, "the fleet's window");
        const serverCpu0 = await server.cpuSeconds();
        const result = await child.waitFor((r) => r.event === "result", fleet.windowMs + 30_000, "the fleet's result");
        const serverCpu = (await server.cpuSeconds()) - serverCpu0;
        results.push({ ...(result as Record<string, number>), serverCpuSeconds: serverCpu });
      } finally {
        await child.kill();
        await server.stop();
      }
    }
    const of = (key: string) => summarize(results.map((r) => r[key]!));
    const windowS = fleet.windowMs / 1000;
    const base = { devices: fleet.devices, note: `${fleet.devices} devices` };
    const p99 = record("fleet_p99_rtt", "moorline", "node", null, null, of("p99Ms"), "ms", base);
    const p50 = record("fleet_p50_rtt", "moorline", "node", null, null, of("p50Ms"), "ms", base);
    const max = record("fleet_max_rtt", "moorline", "node", null, null, of("maxMs"), "ms", base);
    const cpu = record("fleet_cpu_seconds", "moorline", "node", null, null, of("cpuSeconds"), "s", { ...base, note: `device process CPU over a ${windowS} s window` });
    const serverCpu = record("fleet_server_cpu_seconds", "ws", "node", null, null, of("serverCpuSeconds"), "s", { ...base, note: `ws server process CPU over the same window` });
    const heap = record("fleet_memory_per_device", "moorline", "node", null, null, of("heapBytesPerDevice"), "B", { ...base, note: "V8 heap + external per device (whole firmware), after GC" });
    const rss = record("fleet_rss_per_device", "moorline", "node", null, null, of("rssBytesPerDevice"), "B", base);
    const loopP99 = record("fleet_loop_delay_p99", "moorline", "node", null, null, of("loopDelayP99Ms"), "ms", { ...base, note: "device process event loop delay in the window" });
    const loopMax = record("fleet_loop_delay_max", "moorline", "node", null, null, of("loopDelayMaxMs"), "ms", base);
    const gcMax = record("fleet_gc_max_pause", "moorline", "node", null, null, of("gcMaxMs"), "ms", { ...base, note: "longest GC pause of the device process in the window" });
    const gcTotal = record("fleet_gc_total", "moorline", "node", null, null, of("gcTotalMs"), "ms", { ...base, note: `GC time of the device process over the ${windowS} s window` });
    records.push(p50, p99, max, cpu, serverCpu, heap, rss, loopP99, loopMax, gcMax, gcTotal);
    const acks = median(results.map((r) => r.acks! / (r.windowMs! / 1000)));
    rows.push([
      fleet.devices.toLocaleString("en-US"),
      withSpread(p50),
      withSpread(p99),
      withSpread(max),
      num(acks),
      `${withSpread(cpu)} / ${windowS} s`,
      `${withSpread(serverCpu)} / ${windowS} s`,
      `${num(loopP99.median)} / ${num(loopMax.median)} ms`,
      `${num(gcMax.median)} ms, ${num(gcTotal.median)} ms`,
      bytes(heap.median),
      bytes(rss.median),
      String(fleet.runs),
    ]);
    outcome.push({ devices: fleet.devices, p99: p99.median });
  }
  say(table(rows));
  say("Each device is the whole firmware (supervisor, heartbeat, JSON loop, outbox) on the Node host, one telemetry");
  say("record a second; RTT is record sent -> its ack received. Devices in one process, the ws server in another.");
  say("Loop delay and GC are the device process's, in the window: a late callback delays every record waiting behind it.");
  return outcome;
}

export function flashSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): void {
  const rows = [["scenario (default config: telemetry 10 s, flush 2 s, 720 writes/h)", "writes/h", "sets", "deletes", "bytes/h", "NVS entries/h", "page erases/h", "years to 100k"]];
  for (const scenario of flashScenarios(plan.name === "quick")) {
    progress(`flash: ${scenario.name}`);
    const result = simulateFlash(scenario);
    const exact = (value: number) => summarize([value]);
    const note = `${scenario.name}; telemetry every ${scenario.telemetryIntervalMs} ms, ${scenario.hours} simulated h`;
    records.push(
      record("nvs_writes_per_hour", "moorline", "node", null, null, exact(result.writesPerHour), "writes/h", { note }),
      record("nvs_bytes_per_hour", "moorline", "node", null, null, exact(result.bytesPerHour), "B/h", { note }),
      record("nvs_years_to_wear_out", "moorline", "node", null, null, exact(Number.isFinite(result.years) ? result.years : -1), "years", { note: `${note}; -1: never (no write)` }),
    );
    rows.push([
      scenario.name,
      num(result.writesPerHour),
      num(result.setsPerHour),
      num(result.deletesPerHour),
      bytes(result.bytesPerHour),
      num(result.entriesPerHour),
      result.erasesPerPagePerHour.toFixed(2),
      Number.isFinite(result.years) ? result.years.toFixed(1) : "never",
    ]);
  }
  say(table(rows));
  say(`The whole firmware on a virtual clock over NVS-limited storage that counts every write (the boot record's 1-3 a`);
  say(`boot aside). A record acknowledged within the flush interval is never written. Wear: NVS entries (32 B; a string is`);
  say(`1 + ceil((bytes + 1) / 32)) over ${NVS_PAGES} pages of 126 (the SDK's 24 KB nvs partition): each page erased once per lap;`);
  say(`"years" is how long this could go on, non-stop, before ${FLASH_ERASE_CYCLES.toLocaleString("en-US")} erase cycles.`);
}

// --- startup ------------------------------------------------------------------------------------

/** Process start to the first hello on each engine; the ESP32 link's footprint per module. */
export async function startupSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<void> {
  const rows = [["engine", "process start -> first hello", "runs"]];
  for (const engine of ["node", "xs"] as const) {
    const samples: number[] = [];
    for (let run = 0; run < plan.startupRuns; run++) {
      progress(`startup: ${engine}, run ${run + 1}/${plan.startupRuns}`);
      samples.push(await startupToHello(engine));
    }
    const figure = record("startup_to_hello", "moorline", engine, null, null, summarize(samples), "ms", {
      note: "node dist/hosts/node/device.js --no-wifi, a fresh storage file: spawn to the hello at a ws server in the bench's process",
    });
    records.push(figure);
    rows.push([engine, withSpread(figure), String(samples.length)]);
  }
  say(table(rows));
  say("The device's command line (WiFi not simulated, a first boot) until its hello arrives; on XS the engine is started");
  say("and the firmware's modules compiled inside it first.");
  say();
  const missing = footprintUnavailable();
  if (missing !== undefined) {
    say(`Flash footprint (ESP32 link): skipped: ${missing}; set MODDABLE to the SDK's folder to measure it.`);
    return;
  }
  progress("startup: the ESP32 link with the Moddable SDK (tsc, xsc, xsl)");
  const footprint = measureFootprint();
  for (const m of footprint.modules) records.push(record("flash_module_bytes", "moorline", "xs", null, null, summarize([m.bytes]), "B", { note: m.module }));
  records.push(
    record("flash_our_modules_bytes", "moorline", "xs", null, null, summarize([footprint.ourBytes]), "B", { note: `bytecode of our ${footprint.modules.length} modules in the ESP32 link (Moddable SDK ${footprint.sdk})` }),
    record("flash_sdk_modules_bytes", "moorline", "xs", null, null, summarize([footprint.sdkBytes]), "B", { note: "bytecode of the SDK's modules in the same link" }),
    record("flash_preloaded_slots", "moorline", "xs", null, null, summarize([footprint.preloadedSlots]), "slots", { note: `xsl's preloaded heap, in flash: ${footprint.preloadedSlots * SLOT_BYTES_ESP32} B at 16 B/slot; ${footprint.summary}` }),
  );
  say(`Flash footprint of the ESP32 link (Moddable SDK ${footprint.sdk}; mcconfig -p esp32, then tsc, xsc and xsl, ${footprint.seconds.toFixed(0)} s):`);
  say(table([["module (ours)", "bytecode"], ...footprint.modules.slice(0, 15).map((m) => [m.module, bytes(m.bytes)]), [`... ${footprint.modules.length} modules in all`, bytes(footprint.ourBytes)]]));
  say(`The SDK's modules: ${bytes(footprint.sdkBytes)} of bytecode. xsl's preloaded heap: ${footprint.preloadedSlots.toLocaleString("en-US")} slots`);
  say(`(${bytes(footprint.preloadedSlots * SLOT_BYTES_ESP32)} of flash at 16 B/slot; ${footprint.summary}).`);
}
