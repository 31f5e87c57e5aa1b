/**
 * Coverage feedback for the fuzzer: which of the firmware's statements, branches and
 * functions an input reached, and how often, read from istanbul's counters.
 *
 * `npm run fuzz` starts Node with tests/fuzz/coverage-register.ts, whose loader hook has
 * istanbul-lib-instrument add counters to every module of dist/src as it is loaded (the
 * tests and the harness stay as they are). The counters live in one global object; after
 * each input the harness asks observe() whether the input did something new: a counter
 * touched for the first time, or touched a number of times in a new power-of-two band (as
 * libFuzzer buckets its edge counters), which keeps inputs that loop differently too.
 * Without the hook (mocha, `npm test`) there are no counters: observe() says false and the
 * harness runs on fast-check's inputs alone.
 */

/** The global the instrumented modules count into (coverage-hooks.ts sets it). */
export const COVERAGE_VARIABLE = "__moorlineFuzzCoverage__";

interface FileCoverage {
  s: Record<string, number>;
  f: Record<string, number>;
  b: Record<string, number[]>;
}

/** Hit-count bands: 0, 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+. */
function band(hits: number): number {
  if (hits < 4) return hits;
  if (hits < 8) return 4;
  if (hits < 16) return 5;
  if (hits < 32) return 6;
  if (hits < 128) return 7;
  return 8;
}
const BANDS = 9;

export class CoverageFeedback {
  /** Counters in a fixed order: a container and its key (statements, functions) or index (branches). */
  private readonly counters: Array<[Record<string, number> | number[], string | number]> = [];
  private previous = new Float64Array(0);
  /** Features seen: counter index * BANDS + band. */
  private readonly seen = new Set<number>();
  private readonly files = new Set<string>();

  /** Is the firmware instrumented in this process (npm run fuzz)? */
  get active(): boolean {
    return this.table() !== undefined;
  }

  /** Features (counter, band) seen so far: the size of the coverage map. */
  get features(): number {
    return this.seen.size;
  }

  /** Counters reached at least once so far (statements + branch arms + functions). */
  get reached(): number {
    let count = 0;
    for (const [container, key] of this.counters) if ((container as Record<string | number, number>)[key]! > 0) count++;
    return count;
  }

  get total(): number {
    return this.counters.length;
  }

  /** Did what ran since the last call reach something new? Always false when not instrumented. */
  observe(): boolean {
    const table = this.table();
    if (table === undefined) return false;
    if (Object.keys(table).length !== this.files.size) this.addFiles(table);
    const counters = this.counters;
    const previous = this.previous;
    let fresh = false;
    for (let i = 0; i < counters.length; i++) {
      const [container, key] = counters[i]!;
      const now = (container as Record<string | number, number>)[key]!;
      const hits = now - previous[i]!;
      if (hits === 0) continue;
      previous[i] = now;
      const feature = i * BANDS + band(hits);
      if (!this.seen.has(feature)) {
        this.seen.add(feature);
        fresh = true;
      }
    }
    return fresh;
  }

  private table(): Record<string, FileCoverage> | undefined {
    return (globalThis as Record<string, unknown>)[COVERAGE_VARIABLE] as Record<string, FileCoverage> | undefined;
  }

  /** Modules loaded since the last look: their counters join the map. */
  private addFiles(table: Record<string, FileCoverage>): void {
    for (const [path, file] of Object.entries(table)) {
      if (this.files.has(path)) continue;
      this.files.add(path);
      for (const key of Object.keys(file.s)) this.counters.push([file.s, key]);
      for (const key of Object.keys(file.f)) this.counters.push([file.f, key]);
      for (const key of Object.keys(file.b)) {
        const arms = file.b[key]!;
        for (let arm = 0; arm < arms.length; arm++) this.counters.push([arms, arm]);
      }
    }
    const previous = new Float64Array(this.counters.length);
    previous.set(this.previous);
    for (let i = this.previous.length; i < this.counters.length; i++) {
      const [container, key] = this.counters[i]!;
      previous[i] = (container as Record<string | number, number>)[key]!;
    }
    this.previous = previous;
  }
}
