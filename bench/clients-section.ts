/**
 * The client comparison: Tc, R and D of each client (ours on Node and inside XS, `ws`,
 * Python's websockets) against the bench's `ws` server, each in a process of its own, the
 * clients taking turns in a rotating order, every figure also as the median of its per-run
 * ratios to the ws client's.
 */
import { KINDS, SIZES, windowFor, type Output, type Plan } from "./plan.js";
import { runDriver, ServerProcess } from "./processes.js";
import { ratioText, record, sizeLabel, table, withSpread, type Engine, type FigureRecord } from "./report.js";
import { median, summarize } from "./stats.js";
import { REFERENCE, type ClientName, type Kind, type Task } from "./tasks.js";

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

export function pairedRatio(values: number[], reference: number[] | undefined): FigureRecord["ratioToWs"] {
  if (!reference || reference.length !== values.length) return undefined;
  const ratios = values.map((value, i) => value / reference[i]!);
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
}

function engineOf(client: string): Engine {
  return client === "websockets" ? "cpython" : client === "moorline-xs" ? "xs" : "node";
}

export async function clientsSection(plan: Plan, clients: ClientName[], records: FigureRecord[], { progress }: Output): Promise<void> {
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

export function printClients(records: FigureRecord[], clients: ClientName[], { say }: Output): void {
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

