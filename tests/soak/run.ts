/**
 * Runs the soak (tests/support/xs/soak/world.ts) on an engine: on Node in this process, or
 * inside XS (the tests' "soak" program), simulated hour by simulated hour. On XS it also reads
 * the heap (live slots after a garbage collection) an hour in, once the device has settled,
 * and at the end, after the world's calm last hour: the figure that must not grow with uptime.
 */
import { performance } from "node:perf_hooks";
import { startTestXsEngine, type EngineName } from "../support/engines.js";
import { SoakWorld, type SoakSummary } from "../support/xs/soak/world.js";

const HOUR_MS = 60 * 60 * 1000;

export interface SoakRun {
  engine: EngineName;
  summary: SoakSummary;
  /** Wall-clock time the run took, ms. */
  wallMs: number;
  /** XS only: live slots an hour in and at the end, and the end's timers still set. */
  heap?: { startSlots: number; endSlots: number };
}

export async function runSoak(engine: EngineName, options: { seed: number; days: number; progress?: (hours: number) => void }): Promise<SoakRun> {
  const started = performance.now();
  const hours = Math.ceil(options.days * 24);
  if (engine === "node") {
    // Node's own codec, as the Node host gives it (hosts/node/host.ts).
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    const encoder = new TextEncoder();
    const world = new SoakWorld({ seed: options.seed, days: options.days, utf8: { encode: (text) => encoder.encode(text), decode: (bytes) => decoder.decode(bytes) } });
    world.start();
    for (let hour = 1; hour <= hours; hour++) {
      world.runUntil(hour * HOUR_MS);
      options.progress?.(hour);
    }
    return { engine, summary: world.summary(), wallMs: performance.now() - started };
  }
  const xs = await startTestXsEngine({ log: () => {}, requestTimeoutMs: 120_000 });
  try {
    const handle = await xs.startProgram("soak", { seed: options.seed, days: options.days }, () => {});
    let startSlots = 0;
    for (let hour = 1; hour <= hours; hour++) {
      await xs.call(handle, "run", { untilMs: hour * HOUR_MS });
      if (hour === 1) startSlots = (await xs.heap()).currentHeapCount;
      options.progress?.(hour);
    }
    const endSlots = (await xs.heap()).currentHeapCount;
    const summary = (await xs.call(handle, "summary")).value as SoakSummary;
    xs.check();
    return { engine, summary, wallMs: performance.now() - started, heap: { startSlots, endSlots } };
  } finally {
    await xs.close();
  }
}

/** The summary as a few readable lines. */
export function describeRun(run: SoakRun): string {
  const s = run.summary;
  const days = (s.simulatedMs / 86_400_000).toFixed(1);
  const minutes = (ms: number) => `${(ms / 60_000).toFixed(1)} min`;
  const lines = [
    `soak [${run.engine}] seed ${s.seed}: ${days} simulated days in ${(run.wallMs / 1000).toFixed(1)} s`,
    `  telemetry: ${s.telemetry.made} made, ${s.telemetry.delivered} delivered, ${s.telemetry.resent} resent after reconnects, ${s.telemetry.droppedByOutbox} dropped by the outbox, ${s.telemetry.unacknowledgedAtEnd} unacknowledged at the end`,
    `  requests: ${s.requests.sent} sent, ${s.requests.answered} answered, ${s.requests.lostWithConnection} lost with their connection`,
    `  trouble: ${s.trouble.wifiDrops} WiFi drops, ${s.trouble.serverRestarts} server restarts, ${s.trouble.halfOpens} half-open links, ${s.trouble.slowPeriods} slow periods`,
    `  connections: ${s.connections.attempts} attempts, ${s.connections.opened} opened (${s.connections.reconnects} reconnects), ${s.connections.heartbeatTimeouts} heartbeat timeouts, longest outage ${minutes(s.connections.longestOutageMs)}, shortest backoff ${s.connections.shortestBackoffMs} ms`,
  ];
  if (run.heap) lines.push(`  XS heap: ${run.heap.startSlots} live slots an hour in, ${run.heap.endSlots} at the end`);
  lines.push(`  warnings: ${Object.entries(s.warnings).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  lines.push(s.problems.length === 0 ? "  verdict: ok" : `  PROBLEMS:\n    ${s.problems.join("\n    ")}`);
  return lines.join("\n");
}
