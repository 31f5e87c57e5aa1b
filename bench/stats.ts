/**
 * Statistics for the benchmark: quantiles of samples and the summary of repeated runs
 * (median with the interquartile range and the extremes).
 */

/** The q-quantile (0..1) of `values`, linear between order statistics (type 7, as R and numpy). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.ceil(position);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** What a figure measured over several runs is reported as. */
export interface Summary {
  median: number;
  /** Interquartile range, first and third quartiles of the runs' values. */
  q1: number;
  q3: number;
  min: number;
  max: number;
  /** The runs' values, in run order. */
  values: number[];
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: median(values),
    q1: quantile(values, 0.25),
    q3: quantile(values, 0.75),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
    values: [...values],
  };
}

/** Relative spread of a summary: (max - min) / median, for "±x%" in the table. */
export function relativeSpread(summary: Summary): number {
  return summary.median === 0 ? 0 : (summary.max - summary.min) / Math.abs(summary.median);
}

/** The most frequent value. */
export function mode(values: number[]): number {
  const counts = new Map<number, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
}
