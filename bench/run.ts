/**
 * `npm run bench`: our client and firmware measured side by side with the `ws` package's
 * client and Python's `websockets` client, against a `ws` server on 127.0.0.1, each figure
 * printed as a ratio to the ws client's measured in the same run; and the figures that have
 * no reference: XS compute and heap, memory, reconnect time, a fleet of simulated devices.
 *
 *   npm run bench                     everything (a few minutes)
 *   npm run bench -- --quick          a smaller run, under a minute
 *   npm run bench -- --json           one JSON record per figure on stdout (the table on stderr)
 *   npm run bench -- --chart          also write docs/benchmarks.svg and docs/benchmarks.json
 *   npm run bench -- --only xs,fleet  some sections: xs, clients, memory, reconnect, fleet, flash, mqtt, profile
 *   npm run bench -- --runs 7         repetitions of the client runs (default 5, quick 3)
 *   npm run bench -- --profile        also profile our client's echo (node --cpu-prof): top frames
 *
 * Exit status 1 when the XS heap grew over 10,000 messages or a section failed; a missed
 * speed target is reported (met/missed with the numbers) without failing.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { renderChart } from "./chart.js";
import { flashScenarios, FLASH_ERASE_CYCLES, NVS_PAGES, simulateFlash } from "./flash.js";
import { mqttFleetSection, type MqttFleetPlan } from "./mqtt-fleet.js";
import { topFrames } from "./profile.js";
import { PYTHON, REPO_ROOT, runDriver, ServerProcess, startFleet } from "./processes.js";
import { reconnectOnce, type ReconnectSample } from "./reconnect.js";
import { bytes, num, ratioText, record, sizeLabel, table, withSpread, type Engine, type FigureRecord } from "./report.js";
import { median, summarize } from "./stats.js";
import { CLIENTS, REFERENCE, type ClientName, type Kind, type Task, type TaskResult } from "./tasks.js";
import { SLOT_BYTES_DESKTOP, SLOT_BYTES_ESP32, xsComputePerEcho, xsHeapOverMessages, xsMemory } from "./xs.js";

const SECTIONS = ["xs", "clients", "memory", "reconnect", "fleet", "flash", "mqtt"] as const;
/** Run only when asked: --profile, or --only profile. */
const OPTIONAL = ["profile"] as const;
type Section = (typeof SECTIONS)[number] | (typeof OPTIONAL)[number];

const SIZES = [64, 1024, 16 * 1024, 1024 * 1024] as const;
const KINDS: readonly Kind[] = ["text", "binary"];
/**
 * Echoes measured per XS compute figure, by message size: whole periods of what recurs (a
 * draw of 64 mask keys every 64 frames, a crossing for 1 KiB of random bytes every 256, a
 * report of the socket's space when XS has written half its buffer: every ~470 echoes of 64 B,
 * every other one of 16 KB), so the average is what an echo costs in the long run.
 */
const XS_ECHOES: Record<number, number> = { 64: 1024, 16384: 128 };
/** The XS heap verdict is over this many messages (issue 4). */
const HEAP_MESSAGES = 10_000;

/** How much each section does; the quick plan keeps the whole bench under a minute. */
interface Plan {
  name: "full" | "quick";
  runs: number;
  connect: { count: number; warmup: number };
  rtt: Record<number, number>;
  throughput: Record<number, number>;
  xsRuns: number;
  memoryRuns: number;
  memoryConnections: number;
  memoryInflight: number;
  xsConnections: number;
  reconnectRuns: number;
  reconnectEngines: Array<"node" | "xs">;
  downMs: number;
  fleets: Array<{ devices: number; runs: number; rampMs: number; settleMs: number; windowMs: number }>;
  /** The same fleets against mosquitto (bench/mqtt-fleet.ts). */
  mqttFleets: MqttFleetPlan[];
}

const FULL: Plan = {
  name: "full",
  runs: 5,
  connect: { count: 50, warmup: 5 },
  rtt: { 64: 2000, 1024: 2000, 16384: 1000, 1048576: 40 },
  throughput: { 64: 20_000, 1024: 20_000, 16384: 4000, 1048576: 48 },
  xsRuns: 2,
  memoryRuns: 3,
  memoryConnections: 200,
  memoryInflight: 1000,
  xsConnections: 20,
  reconnectRuns: 5,
  reconnectEngines: ["node", "xs"],
  downMs: 1000,
  fleets: [
    { devices: 1000, runs: 3, rampMs: 1000, settleMs: 1500, windowMs: 5000 },
    { devices: 10_000, runs: 3, rampMs: 4000, settleMs: 2000, windowMs: 10_000 },
  ],
  mqttFleets: [
    { devices: 1000, runs: 3, rampMs: 1000, settleMs: 1500, windowMs: 5000 },
    // Once, ramped over 20 s: 10,000 broker sessions take a while to set up on a shared machine.
    { devices: 10_000, runs: 1, rampMs: 20_000, settleMs: 3000, windowMs: 10_000 },
  ],
};

const QUICK: Plan = {
  name: "quick",
  runs: 3,
  connect: { count: 20, warmup: 3 },
  rtt: { 64: 500, 1024: 500, 16384: 300, 1048576: 10 },
  throughput: { 64: 10_000, 1024: 10_000, 16384: 2000, 1048576: 16 },
  xsRuns: 2,
  memoryRuns: 1,
  memoryConnections: 100,
  memoryInflight: 500,
  xsConnections: 10,
  reconnectRuns: 3,
  reconnectEngines: ["node"],
  downMs: 500,
  fleets: [{ devices: 1000, runs: 1, rampMs: 1000, settleMs: 1000, windowMs: 3000 }],
  mqttFleets: [{ devices: 1000, runs: 1, rampMs: 1000, settleMs: 1000, windowMs: 3000 }],
};

/** Messages out at once in the pipelined runs: up to 64, and no more than ~4 MiB. */
function windowFor(size: number): number {
  return Math.max(2, Math.min(64, Math.floor((4 * 1024 * 1024) / size)));
}

// --- output -------------------------------------------------------------------------------

let asJson = false;
const say = (text = ""): void => {
  (asJson ? process.stderr : process.stdout).write(`${text}\n`);
};
const progress = (text: string): void => {
  process.stderr.write(`[bench] ${text}\n`);
};

// --- the client comparison (Tc, R, D) -----------------------------------------------------

function clientTasks(plan: Plan): Task[] {
  const tasks: Task[] = [{ figure: "connect", ...plan.connect }];
  for (const size of SIZES) {
    for (const kind of KINDS) {
      const rtt = plan.rtt[size]!;
      tasks.push({ figure: "rtt", size, kind, count: rtt, warmup: Math.max(2, Math.floor(rtt / 10)) });
      const count = plan.throughput[size]!;
      tasks.push({ figure: "throughput", size, kind, count, window: windowFor(size), warmup: Math.max(windowFor(size), Math.floor(count / 10)) });
    }
  }
  return tasks;
}

/** Per-run values of one figure for each client, in run order. */
type PerRun = Map<string, number[]>;

function pairedRatio(values: number[], reference: number[] | undefined): FigureRecord["ratioToWs"] {
  if (!reference || reference.length !== values.length) return undefined;
  const ratios = values.map((value, i) => value / reference[i]!);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

/** The most frequent value. */
function mode(values: number[]): number {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}

function engineOf(client: string): Engine {
  return client === "websockets" ? "cpython" : "node";
}

async function clientsSection(plan: Plan, clients: ClientName[], records: FigureRecord[]): Promise<void> {
  const server = await ServerProcess.start("echo");
  const tasks = clientTasks(plan);
  // key: figure|size|kind -> client -> per-run values
  const figures = new Map<string, PerRun>();
  const put = (figure: string, size: number | null, kind: Kind | null, client: string, value: number): void => {
    const key = `${figure}|${size ?? ""}|${kind ?? ""}`;
    const perRun = figures.get(key) ?? new Map<string, number[]>();
    figures.set(key, perRun);
    perRun.set(client, [...(perRun.get(client) ?? []), value]);
  };
  try {
    for (let run = 0; run < plan.runs; run++) {
      // The order of the clients turns with each run, so none always goes first.
      const order = clients.map((_, i) => clients[(i + run) % clients.length]!);
      for (const client of order) {
        progress(`clients: run ${run + 1}/${plan.runs}, ${client}`);
        const results = await runDriver({ client, url: server.url, tasks }, { timeoutMs: 300_000 });
        for (const result of results) {
          const task = result.task;
          if (task.figure === "connect") put("Tc", null, null, client, median(result.samples!));
          if (task.figure === "rtt") {
            const sorted = [...result.samples!].sort((a, b) => a - b);
            put("D_p50", task.size, task.kind, client, median(sorted) * 1000);
            put("D_p99", task.size, task.kind, client, sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]! * 1000);
          }
          if (task.figure === "throughput") {
            const perSecond = task.count / (result.elapsedMs! / 1000);
            put("R", task.size, task.kind, client, perSecond);
            put("R_bytes", task.size, task.kind, client, (perSecond * task.size) / 1e6);
          }
        }
      }
    }
  } finally {
    await server.stop();
  }
  const units: Record<string, string> = { Tc: "ms", D_p50: "us", D_p99: "us", R: "msg/s", R_bytes: "MB/s" };
  for (const [key, perRun] of figures) {
    const [figure, sizeText, kindText] = key.split("|") as [string, string, string];
    const size = sizeText === "" ? null : Number(sizeText);
    const kind = kindText === "" ? null : (kindText as Kind);
    for (const [client, values] of perRun) {
      const extra: Partial<FigureRecord> = {};
      if (client !== REFERENCE) {
        const ratio = pairedRatio(values, perRun.get(REFERENCE));
        if (ratio) extra.ratioToWs = ratio;
      }
      records.push(record(figure, client, engineOf(client), size, kind, summarize(values), units[figure]!, extra));
    }
  }
}

function printClients(records: FigureRecord[], clients: ClientName[]): void {
  const get = (figure: string, client: string, size: number | null, kind: Kind | null) =>
    records.find((r) => r.figure === figure && r.client === client && r.size === size && r.kind === kind);
  const others = clients.filter((c) => c !== REFERENCE);
  const header = ["figure", "size", "kind", ...clients, ...others.map((c) => `${c}/ws`)];
  const rows: string[][] = [header];
  const row = (label: string, figure: string, size: number | null, kind: Kind | null) => {
    const cells = clients.map((client) => {
      const r = get(figure, client, size, kind);
      return r ? withSpread(r) : "-";
    });
    const ratios = others.map((client) => ratioText(get(figure, client, size, kind)?.ratioToWs));
    rows.push([label, sizeLabel(size), kind ?? "-", ...cells, ...ratios]);
  };
  row("Tc  setup", "Tc", null, null);
  for (const size of SIZES) for (const kind of KINDS) row("R   msg/s", "R", size, kind);
  for (const size of SIZES) for (const kind of KINDS) row("R   MB/s", "R_bytes", size, kind);
  for (const size of SIZES) for (const kind of KINDS) row("D   p50", "D_p50", size, kind);
  for (const size of SIZES) for (const kind of KINDS) row("D   p99", "D_p99", size, kind);
  say(table(rows));
  say("Each cell: median over the runs (min-max). Ratios are to the ws client in the same run (median of per-run ratios, min-max).");
  say("For R higher is better; for Tc and D lower is better.");
}

// --- XS (issue 4) -------------------------------------------------------------------------

async function xsSection(plan: Plan, records: FigureRecord[]): Promise<boolean> {
  say("XS costs: the firmware's echo agent inside the XS engine (hosts/xs), a ws server sending");
  const rows: string[][] = [["message", "steps per echo (average)", "most echoes", "the others", "echoes", "2 runs: total", "identical runs", "deliveries/echo"]];
  for (const size of [64, 16 * 1024]) {
    for (const kind of KINDS) {
      const runs = [];
      for (let run = 0; run < plan.xsRuns; run++) {
        progress(`xs: compute per echo, ${sizeLabel(size)} ${kind}, run ${run + 1}/${plan.xsRuns}`);
        runs.push(await xsComputePerEcho(size, kind, XS_ECHOES[size]!));
      }
      const first = runs[0]!;
      const totals = runs.map((r) => r.total);
      // Deterministic: every echo of every run cost the same steps as in the first run.
      const identical = runs.every((r) => r.each.length === first.each.length && r.each.every((steps, i) => steps === first.each[i]));
      const typical = mode(first.each);
      // The echoes that cost more than most: how many, and by how much.
      const extraCounts = new Map<number, number>();
      for (const steps of first.each) if (steps !== typical) extraCounts.set(steps - typical, (extraCounts.get(steps - typical) ?? 0) + 1);
      const extras = [...extraCounts.entries()].sort((a, b) => a[0] - b[0]).map(([extra, count]) => `${count} x ${extra > 0 ? "+" : ""}${extra.toLocaleString("en-US")}`);
      const echoes = XS_ECHOES[size]!;
      records.push(
        record("xs_compute_per_echo", "moorline", "xs", size, kind, summarize(runs.map((r) => r.perEcho)), "steps", {
          note: `average over ${echoes} echoes; ${typical} steps for most, ${extras.join(", ") || "no other"} (mask key draws, random bytes from Node, socket space reports); totals ${totals.join(" / ")}; ${identical ? "identical" : "NOT identical"} across runs`,
        }),
      );
      rows.push([
        `${sizeLabel(size)} ${kind}`,
        num(first.perEcho, 6),
        typical.toLocaleString("en-US"),
        extras.join(", "),
        String(echoes),
        totals.map((t) => t.toLocaleString("en-US")).join(" / "),
        identical ? "yes" : `NO (differ by ${Math.max(...totals) - Math.min(...totals)})`,
        num(first.deliveriesPerEcho),
      ]);
    }
  }
  say(table(rows));
  say("A meter step is XS's unit of computation (about one bytecode). The others: every 64th echo draws 64 mask keys");
  say("from the XS host's random pool, every 256th refills that pool from Node (a synchronous crossing), and the socket's");
  say("space is reported (a delivery of its own) when XS has written half the socket's buffer since the last report.");

  progress(`xs: heap over ${HEAP_MESSAGES.toLocaleString("en-US")} messages`);
  const heap = await xsHeapOverMessages(HEAP_MESSAGES);
  const slots = (count: number) =>
    `${count.toLocaleString("en-US")} slots (${bytes(count * SLOT_BYTES_DESKTOP)} here, ${bytes(count * SLOT_BYTES_ESP32)} on an ESP32)`;
  const single = (value: number) => summarize([value]);
  records.push(record("xs_heap_loaded", "moorline", "xs", null, null, single(heap.loaded), "slots", { note: "the realm's built-ins and the loaded modules, before the agent starts" }));
  records.push(record("xs_heap_connected", "moorline", "xs", null, null, single(heap.connected), "slots", { note: `${heap.connected - heap.loaded} slots more than loaded (the agent, its client and host objects); ${heap.connected * SLOT_BYTES_DESKTOP} bytes at ${SLOT_BYTES_DESKTOP} B/slot (64-bit); strings and buffers not included` }));
  records.push(record("xs_heap_after_messages", "moorline", "xs", 64, null, single(heap.end), "slots", { note: `after ${heap.warmMessages + heap.messages} echoed 64-byte messages, text and binary in turn` }));
  records.push(record("xs_heap_growth", "moorline", "xs", 64, null, single(heap.growth), "slots", { note: `over ${heap.messages} messages after ${heap.warmMessages}` }));
  records.push(record("xs_echo_rtt", "moorline", "xs", 64, null, single((heap.wallMs / heap.messages) * 1000), "us", { note: "server-driven echo through the Node-XS bridge, wall time on this machine" }));
  say();
  say("XS heap: live slots after a full GC (meter.currentHeapCount), ESP32 default limits, 64-byte messages, text and binary in turn");
  say(`  modules loaded, nothing started:  ${slots(heap.loaded)}`);
  say(`  after connecting:                 ${slots(heap.connected)}: the agent's own ${slots(heap.connected - heap.loaded)}`);
  say(`  after ${heap.warmMessages} messages:               ${slots(heap.warm)}`);
  say(`  after ${(heap.warmMessages + heap.messages / 2).toLocaleString("en-US")} messages:             ${slots(heap.midpoint)}`);
  say(`  after ${(heap.warmMessages + heap.messages).toLocaleString("en-US")} messages:            ${slots(heap.end)}`);
  say(`  XS system allocation (slots + chunks, meter.allocate): ${bytes(heap.allocateConnected)} connected, ${bytes(heap.allocateEnd)} at the end`);
  say(`  echo round trip through XS: ${num((heap.wallMs / heap.messages) * 1000)} us per message (wall time, bridge included)`);
  const ok = heap.growth <= 0;
  say(`  heap growth over ${heap.messages.toLocaleString("en-US")} messages: ${heap.growth} slots (${ok ? "OK" : "FAILED: the heap grows with the message count"})`);
  return ok;
}

// --- memory -------------------------------------------------------------------------------

async function memorySection(plan: Plan, records: FigureRecord[]): Promise<void> {
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

// --- reconnect ----------------------------------------------------------------------------

async function reconnectSection(plan: Plan, records: FigureRecord[]): Promise<void> {
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

// --- fleet --------------------------------------------------------------------------------

async function fleetSection(plan: Plan, records: FigureRecord[]): Promise<Array<{ devices: number; p99: number }>> {
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

// --- flash --------------------------------------------------------------------------------

function flashSection(plan: Plan, records: FigureRecord[]): void {
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

// --- targets ------------------------------------------------------------------------------

function printTargets(records: FigureRecord[], sections: Set<Section>, heapOk: boolean | undefined): void {
  const lines: string[][] = [["target", "measured", "verdict"]];
  const find = (figure: string, client: string, size: number | null, kind: Kind | null, engine?: Engine) =>
    records.find((r) => r.figure === figure && r.client === client && r.size === size && r.kind === kind && (!engine || r.engine === engine));
  if (sections.has("clients")) {
    for (const size of [64, 16 * 1024]) {
      for (const kind of KINDS) {
        const ratio = find("R", "moorline", size, kind)?.ratioToWs;
        if (!ratio) continue;
        const met = ratio.median >= 1;
        lines.push([
          `echo throughput on Node >= ws client, ${sizeLabel(size)} ${kind}`,
          `${ratioText(ratio)} of ws`,
          met ? "met" : `MISSED by ${((1 - ratio.median) * 100).toFixed(0)}%`,
        ]);
      }
    }
    const tc = find("Tc", "moorline", null, null)?.ratioToWs;
    if (tc) {
      lines.push(["Tc <= 1.2x ws client", `${ratioText(tc)} of ws`, tc.median <= 1.2 ? "met" : `MISSED by ${((tc.median / 1.2 - 1) * 100).toFixed(0)}%`]);
    }
  }
  if (heapOk !== undefined) {
    const growth = find("xs_heap_growth", "moorline", 64, null);
    lines.push(["no XS heap growth over 10,000 messages", `${growth?.median ?? "?"} slots`, heapOk ? "met" : "MISSED"]);
  }
  const fleet = find("fleet_p99_rtt", "moorline", null, null);
  const ten = records.find((r) => r.figure === "fleet_p99_rtt" && r.devices === 10_000);
  if (sections.has("fleet")) {
    if (ten) {
      lines.push([
        `10,000 devices, p99 RTT < 100 ms on 2 cores (this machine: ${cpus().length})`,
        `${num(ten.median)} ms`,
        ten.median < 100 ? "met" : `MISSED by ${num(ten.median - 100)} ms`,
      ]);
    } else if (fleet) {
      lines.push(["10,000 devices, p99 RTT < 100 ms on 2 cores", `not run (quick mode ran ${fleet.devices} devices: ${num(fleet.median)} ms)`, "not measured"]);
    }
  }
  say(table(lines));
}

// --- the run ------------------------------------------------------------------------------

/** A bad command line: its message is printed alone, exit status 2. */
class UsageError extends Error {}

function pythonHasWebsockets(): string | undefined {
  try {
    return execFileSync(PYTHON, ["-c", "import websockets, sys; print(websockets.__version__, sys.version.split()[0])"], { encoding: "utf8" }).trim();
  } catch {
    return undefined;
  }
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "?";
  }
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        chart: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        only: { type: "string" },
        runs: { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]!.replace(/^\/\*\*?|^ \* ?/gm, "") + "\n");
    return 0;
  }
  asJson = values.json;
  const plan: Plan = { ...(values.quick ? QUICK : FULL) };
  if (values.runs !== undefined) {
    const runs = Number(values.runs);
    if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer, got ${values.runs}`);
    plan.runs = runs;
  }
  const sections = new Set<Section>(
    values.only === undefined
      ? SECTIONS
      : values.only.split(",").map((name) => {
          if (![...SECTIONS, ...OPTIONAL].includes(name as Section)) throw new UsageError(`--only takes ${[...SECTIONS, ...OPTIONAL].join(", ")}; got ${name}`);
          return name as Section;
        }),
  );

  const python = pythonHasWebsockets();
  const clients: ClientName[] = CLIENTS.filter((c) => c !== "websockets" || python !== undefined);
  const started = Date.now();
  const machine = `${cpus().length} x ${cpus()[0]?.model.trim() ?? "?"}`;
  say(`moorline bench (${plan.name}): ${machine}; Node ${process.version}; ws ${packageVersion("ws")}; ` +
    `Python websockets ${python ?? "absent (apt-get install python3-websockets)"}; XS: @agoric/xsnap ${packageVersion("@agoric/xsnap")}`);
  say();

  const records: FigureRecord[] = [];
  let failed = false;
  let heapOk: boolean | undefined;
  const section = async (name: Section, title: string, body: () => Promise<void>) => {
    if (!sections.has(name)) return;
    say(`== ${title}`);
    try {
      await body();
    } catch (error) {
      failed = true;
      say(`FAILED: ${(error as Error).stack ?? String(error)}`);
    }
    say();
  };

  await section("xs", "XS: compute per echoed message and heap (issue 4)", async () => {
    heapOk = await xsSection(plan, records);
  });
  await section("clients", `Tc, R, D against a ws server on 127.0.0.1 (${plan.runs} runs)`, async () => {
    await clientsSection(plan, clients, records);
    printClients(records, clients);
  });
  await section("memory", "Memory per connection and per message in flight", () => memorySection(plan, records));
  await section("reconnect", "Reconnect after a server restart", () => reconnectSection(plan, records));
  await section("fleet", "Fleet: simulated devices in one process, telemetry every second", async () => {
    await fleetSection(plan, records);
  });
  await section("flash", "Flash wear of the durable outbox (NVS writes per hour)", async () => flashSection(plan, records));
  await section("mqtt", "MQTT fleet: the same devices on mosquitto over WebSocket, QoS 1 telemetry every second", () =>
    mqttFleetSection(plan.mqttFleets, records, { say, progress }),
  );

  if (values.profile || sections.has("profile")) {
    say("== Profile: our client's pipelined echo (64 B and 16 KB) under node --cpu-prof, top frames by self time");
    const server = await ServerProcess.start("echo");
    try {
      for (const kind of KINDS) {
        const dir = mkdtempSync(join(tmpdir(), "moorline-prof-"));
        try {
          progress(`profile: ${kind}`);
          const tasks: Task[] = [64, 16 * 1024].map((size) => ({ figure: "throughput", size, kind, count: size === 64 ? 100_000 : 10_000, window: 64, warmup: 1000 }));
          await runDriver({ client: "moorline", url: server.url, tasks }, { timeoutMs: 300_000, cpuProfileDir: dir });
          const { frames, totalMs } = topFrames(dir, 12);
          say(`${kind} messages (${num(totalMs)} ms profiled):`);
          say(table([["self ms", "%", "function", "where"], ...frames.map((f) => [num(f.selfMs), f.percent.toFixed(1), f.name, f.where])]));
          say();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
    } finally {
      await server.stop();
    }
  }

  say("== Targets");
  printTargets(records, sections, heapOk);
  say();
  const seconds = (Date.now() - started) / 1000;
  say(`done in ${seconds.toFixed(0)} s`);

  if (asJson) for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
  if (values.chart) {
    const caption = `npm run bench${values.quick ? " -- --quick" : ""} on ${new Date().toISOString().slice(0, 10)}: ${machine}, Node ${process.version}; whiskers: min-max of per-run ratios`;
    mkdirSync(join(REPO_ROOT, "docs"), { recursive: true });
    writeFileSync(join(REPO_ROOT, "docs", "benchmarks.svg"), renderChart(records, caption));
    writeFileSync(join(REPO_ROOT, "docs", "benchmarks.json"), `${JSON.stringify({ date: new Date().toISOString(), mode: plan.name, machine, node: process.version, records }, null, 1)}\n`);
    progress("wrote docs/benchmarks.svg and docs/benchmarks.json");
  }
  if (heapOk === false) {
    process.stderr.write("bench: FAILED: the XS heap grew with the message count\n");
    return 1;
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`bench: ${error.message} (see --help)\n`);
      process.exit(2);
    }
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
