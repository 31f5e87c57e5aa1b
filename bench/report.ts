/**
 * What the bench reports: one FigureRecord per measured figure (the --json output, and what
 * the chart is drawn from), and the helpers that lay them out as terminal tables.
 */
import type { Summary } from "./stats.js";
import type { Kind } from "./tasks.js";

export type Engine = "node" | "xs" | "cpython";

export interface FigureRecord {
  /** Tc, R, R_bytes, D_p50, D_p99, xs_compute_per_echo, xs_heap_*, memory_*, reconnect, fleet_* */
  figure: string;
  /** moorline (our client or firmware), ws, websockets. */
  client: string;
  engine: Engine;
  /** Message size in bytes, when the figure has one. */
  size: number | null;
  kind: Kind | null;
  median: number;
  spread: { q1: number; q3: number; min: number; max: number };
  unit: string;
  /** Repetitions the median is taken over (1: a single, exact measurement). */
  runs: number;
  /** Paired ratio to the ws client's figure measured in the same runs (median, min, max of per-run ratios). */
  ratioToWs?: { median: number; min: number; max: number };
  /** Fleet figures: how many simulated devices. */
  devices?: number;
  /** What else a reader needs (the exact totals, the bytes a slot count stands for...). */
  note?: string;
}

export function record(
  figure: string,
  client: string,
  engine: Engine,
  size: number | null,
  kind: Kind | null,
  summary: Summary,
  unit: string,
  extra: Partial<FigureRecord> = {},
): FigureRecord {
  return {
    figure,
    client,
    engine,
    size,
    kind,
    median: summary.median,
    spread: { q1: summary.q1, q3: summary.q3, min: summary.min, max: summary.max },
    unit,
    runs: summary.values.length,
    ...extra,
  };
}

/** 64 B, 1 KB, 16 KB, 1 MB. */
export function sizeLabel(size: number | null): string {
  if (size === null) return "-";
  if (size >= 1024 * 1024) return `${size / (1024 * 1024)} MB`;
  if (size >= 1024) return `${size / 1024} KB`;
  return `${size} B`;
}

/** A number with 3 significant digits and thousands separators for the large ones. */
export function num(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return "n/a";
  const abs = Math.abs(value);
  if (abs >= 10 ** digits) return Math.round(value).toLocaleString("en-US");
  if (abs === 0) return "0";
  return Number(value.toPrecision(digits)).toString();
}

export function bytes(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  const abs = Math.abs(value);
  if (abs >= 1024 * 1024) return `${num(value / (1024 * 1024))} MiB`;
  if (abs >= 1024) return `${num(value / 1024)} KiB`;
  return `${num(value)} B`;
}

/** "median (min-max)" in the figure's unit. */
export function withSpread(r: FigureRecord, format: (value: number) => string = num): string {
  if (r.runs <= 1 || r.spread.min === r.spread.max) return `${format(r.median)} ${r.unit}`;
  return `${format(r.median)} ${r.unit} (${format(r.spread.min)}-${format(r.spread.max)})`;
}

export function ratioText(ratio: FigureRecord["ratioToWs"]): string {
  if (!ratio) return "-";
  if (ratio.min === ratio.max) return `${ratio.median.toFixed(2)}x`;
  return `${ratio.median.toFixed(2)}x (${ratio.min.toFixed(2)}-${ratio.max.toFixed(2)})`;
}

/**
 * The rows of the last tables table() laid out, by their text: the docs page
 * (bench/docs-page.ts) draws a table it is given as text again, as a markdown table. Bounded:
 * a section prints a table as soon as it is made.
 */
const recentTables = new Map<string, string[][]>();
const RECENT_TABLES = 8;

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  const [header, ...body] = rows;
  const text = [line(header!), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
  recentTables.delete(text);
  recentTables.set(text, rows);
  if (recentTables.size > RECENT_TABLES) recentTables.delete(recentTables.keys().next().value!);
  return text;
}

/** The rows of `text` when table() made it lately, else undefined. */
export function tableRowsOf(text: string): string[][] | undefined {
  return recentTables.get(text);
}
