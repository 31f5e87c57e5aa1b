/**
 * The bench's chart (docs/benchmarks.svg), written by hand as SVG from the run's records:
 * our client's and Python websockets' figures as ratios to the `ws` client's, measured in
 * the same run, on a logarithmic axis (1 = same as ws), with the spread of the per-run
 * ratios as whiskers; and the absolute figures that have no reference (XS, fleet).
 */
import type { FigureRecord } from "./report.js";
import { num, sizeLabel } from "./report.js";

const WIDTH = 980;
const PANEL_HEIGHT = 200;
/** Below the title and the legend. */
const TOP = 56;
const COLORS: Record<string, string> = { moorline: "#1f6feb", "moorline-xs": "#8250df", websockets: "#d29922" };
/** The clients drawn as ratios to ws, in this order. */
const DRAWN = ["moorline", "moorline-xs", "websockets"];
const LOG_MIN = 1 / 16;
const LOG_MAX = 8;

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

interface Group {
  label: string;
  bars: Array<{ client: string; ratio: { median: number; min: number; max: number } | undefined }>;
}

/** One panel: groups of bars, each a ratio on a log2 axis from 1/16 to 8, the line at 1. */
function panel(x: number, y: number, width: number, title: string, subtitle: string, groups: Group[]): string {
  const top = y + 34;
  const height = PANEL_HEIGHT - 60;
  const left = x + 44;
  const plotWidth = width - 54;
  const scale = (ratio: number): number => {
    const clamped = Math.min(LOG_MAX, Math.max(LOG_MIN, ratio));
    const t = (Math.log2(clamped) - Math.log2(LOG_MIN)) / (Math.log2(LOG_MAX) - Math.log2(LOG_MIN));
    return top + height - t * height;
  };
  const out: string[] = [];
  out.push(`<text x="${x}" y="${y + 14}" class="title">${escape(title)}</text>`);
  out.push(`<text x="${x}" y="${y + 28}" class="sub">${escape(subtitle)}</text>`);
  for (const tick of [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8]) {
    const ty = scale(tick);
    out.push(`<line x1="${left}" x2="${left + plotWidth}" y1="${ty}" y2="${ty}" class="${tick === 1 ? "one" : "grid"}"/>`);
    out.push(`<text x="${left - 6}" y="${ty + 4}" class="tick" text-anchor="end">${tick < 1 ? `1/${1 / tick}` : tick}</text>`);
  }
  const groupWidth = plotWidth / Math.max(1, groups.length);
  groups.forEach((group, gi) => {
    const gx = left + gi * groupWidth;
    const barWidth = Math.min(22, (groupWidth - 12) / Math.max(1, group.bars.length));
    group.bars.forEach((bar, bi) => {
      const bx = gx + (groupWidth - barWidth * group.bars.length) / 2 + bi * barWidth;
      if (!bar.ratio || !Number.isFinite(bar.ratio.median)) return;
      const base = scale(1);
      const end = scale(bar.ratio.median);
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${Math.min(base, end).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${Math.max(1, Math.abs(base - end)).toFixed(1)}" fill="${COLORS[bar.client] ?? "#888"}"><title>${escape(`${bar.client} ${group.label}: ${bar.ratio.median.toFixed(2)}x ws`)}</title></rect>`,
      );
      const cx = bx + (barWidth - 2) / 2;
      out.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${scale(bar.ratio.min).toFixed(1)}" y2="${scale(bar.ratio.max).toFixed(1)}" class="whisker"/>`);
      // The value, beside the bar's end away from the 1 line.
      const above = bar.ratio.median >= 1;
      const ly = above ? Math.min(end, scale(bar.ratio.max)) - 3 : Math.max(end, scale(bar.ratio.min)) + 10;
      out.push(`<text x="${cx.toFixed(1)}" y="${ly.toFixed(1)}" class="value" text-anchor="middle">${bar.ratio.median.toFixed(2)}</text>`);
    });
    out.push(`<text x="${(gx + groupWidth / 2).toFixed(1)}" y="${top + height + 14}" class="label" text-anchor="middle">${escape(group.label)}</text>`);
  });
  return out.join("\n");
}

function ratioOf(records: FigureRecord[], figure: string, client: string, size: number | null, kind: string | null) {
  return records.find((r) => r.figure === figure && r.client === client && r.size === size && r.kind === kind)?.ratioToWs;
}

function messageGroups(records: FigureRecord[], figure: string): Group[] {
  const combos = records
    .filter((r) => r.figure === figure && r.client === "ws")
    .map((r) => ({ size: r.size!, kind: r.kind! }))
    .sort((a, b) => a.size - b.size || (a.kind === b.kind ? 0 : a.kind === "text" ? -1 : 1));
  return combos.map(({ size, kind }) => ({
    label: `${sizeLabel(size)} ${kind === "text" ? "txt" : "bin"}`,
    bars: DRAWN.map((client) => ({ client, ratio: ratioOf(records, figure, client, size, kind) })),
  }));
}

/** The chart of a run, as an SVG document. */
export function renderChart(records: FigureRecord[], caption: string): string {
  const parts: string[] = [];
  const fullWidth = WIDTH - 40;
  parts.push(panel(20, TOP, fullWidth, "Throughput R, pipelined echo (higher is better)", "messages/s, ratio to the ws client", messageGroups(records, "R")));
  parts.push(panel(20, TOP + PANEL_HEIGHT, fullWidth, "Round trip D p50, one message at a time (lower is better)", "p50 latency, ratio to the ws client", messageGroups(records, "D_p50")));
  const tcGroups: Group[] = [{ label: "connect", bars: DRAWN.map((client) => ({ client, ratio: ratioOf(records, "Tc", client, null, null) })) }];
  parts.push(panel(20, TOP + 2 * PANEL_HEIGHT, 220, "Setup Tc (lower is better)", "ratio to ws", tcGroups));

  // The absolute figures without a reference client.
  const facts: string[] = [];
  const find = (figure: string, extra: (r: FigureRecord) => boolean = () => true) => records.find((r) => r.figure === figure && extra(r));
  for (const r of records.filter((r) => r.figure === "xs_compute_per_echo" && r.size === 64)) {
    facts.push(`XS compute per echo, ${sizeLabel(r.size)} ${r.kind}: ${Math.round(r.median).toLocaleString("en-US")} meter steps (exact, repeatable)`);
  }
  const growth = find("xs_heap_growth");
  if (growth) facts.push(`XS heap growth over 10,000 messages: ${growth.median} slots`);
  const device = find("xs_device_heap");
  const deviceChunks = find("xs_device_chunk_bytes");
  if (device && deviceChunks) {
    facts.push(`whole device in XS over wss://: ${Math.round(device.median).toLocaleString("en-US")} slots (${num((device.median * 16) / 1024)} KiB on an ESP32) + ${num(deviceChunks.median / 1024)} KiB of chunks`);
  }
  for (const r of records.filter((r) => r.figure === "startup_to_hello")) facts.push(`start to first hello (${r.engine}): ${num(r.median)} ms`);
  for (const r of records.filter((r) => r.figure === "fleet_p99_rtt")) {
    facts.push(`fleet of ${(r.devices ?? 0).toLocaleString("en-US")} devices in one process: telemetry p99 RTT ${num(r.median)} ms`);
  }
  const reconnect = find("reconnect", (r) => r.engine === "node");
  if (reconnect) facts.push(`reconnect after a server restart (Node): ${num(reconnect.median)} ms median`);
  const fx = 270;
  let fy = TOP + 2 * PANEL_HEIGHT + 16;
  parts.push(`<text x="${fx}" y="${fy}" class="title">Absolute figures (no reference client)</text>`);
  for (const fact of facts) {
    fy += 17;
    parts.push(`<text x="${fx}" y="${fy}" class="fact">${escape(fact)}</text>`);
  }

  const legendY = 42;
  const legend = [
    `<rect x="20" y="${legendY - 10}" width="12" height="12" fill="${COLORS.moorline}"/>`,
    `<text x="36" y="${legendY}" class="label">moorline (our client, on Node)</text>`,
    `<rect x="210" y="${legendY - 10}" width="12" height="12" fill="${COLORS["moorline-xs"]}"/>`,
    `<text x="226" y="${legendY}" class="label">moorline in XS (desktop XS host)</text>`,
    `<rect x="410" y="${legendY - 10}" width="12" height="12" fill="${COLORS.websockets}"/>`,
    `<text x="426" y="${legendY}" class="label">Python websockets (asyncio)</text>`,
    `<line x1="590" x2="620" y1="${legendY - 4}" y2="${legendY - 4}" class="one"/>`,
    `<text x="626" y="${legendY}" class="label">ws client (Node) = 1; whiskers: min-max of per-run ratios</text>`,
  ].join("\n");
  const height = TOP + 3 * PANEL_HEIGHT + 20;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 14px; font-weight: bold; fill: #222; }
  .sub { font-size: 11px; fill: #666; }
  .tick, .label { font-size: 11px; fill: #444; }
  .fact { font-size: 12px; fill: #222; }
  .value { font-size: 9px; fill: #333; }
  .grid { stroke: #e4e4e4; stroke-width: 1; }
  .one { stroke: #222; stroke-width: 1.5; }
  .whisker { stroke: #222; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="20" y="20" class="title">Echo against a ws server on 127.0.0.1: each client's figure as a ratio to the ws client's, same run (log scale)</text>
${legend}
${parts.join("\n")}
<text x="20" y="${height - 6}" class="sub">${escape(caption)}</text>
</svg>
`;
}
