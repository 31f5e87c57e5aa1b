/**
 * The fuzz harness: runs a FuzzTarget (target.ts) on inputs from fast-check, guided by
 * coverage when the firmware is instrumented (coverage.ts), and reports what it ran and the
 * first failure with a minimised reproducer.
 *
 * Inputs come in rounds of fast-check runs, each round with its own seed (derived from the
 * run's seed) and a fixed corpus, so a round replays exactly from its seed:
 * - the target's structure-aware inputs (valid frames, requests, URLs...) and near misses;
 * - those inputs mutated: a few edits (bit flips, bytes set to values that sit on a
 *   boundary, ranges inserted, deleted, duplicated, truncation), all drawn by fast-check, so
 *   fast-check also shrinks them;
 * - short random byte strings;
 * - with coverage, the corpus mutated: inputs that reached something new in earlier rounds.
 *
 * A failure is shrunk by fast-check within its round, then shrunk again byte by byte (the
 * failing bytes as a fast-check example of an array of bytes, which fast-check shrinks),
 * and reported as hex: paste it into tests/fuzz/regressions.test.ts.
 */
import fc from "fast-check";
import { CoverageFeedback } from "./coverage.js";
import { toHex, type FuzzTarget } from "./target.js";

/** Inputs per fast-check round: the corpus is fixed within a round and grows between rounds. */
const ROUND_RUNS = 2000;
/** Inputs kept for mutation, at most; past this a new one replaces a random old one. */
const MAX_CORPUS = 2000;
/** Default longest mutated or random input, bytes. */
const DEFAULT_MAX_BYTES = 2048;

export interface FuzzFailure {
  /** The input as found (after fast-check's shrinking in its round), hex. */
  hex: string;
  /** The same failure minimised byte by byte, hex, and the error that one gives. */
  minimisedHex: string;
  error: string;
  minimisedError: string;
  /** Replays the round: its seed and fast-check's path to the counterexample. */
  seed: number;
  path: string | undefined;
}

export interface TargetReport {
  name: string;
  /** Inputs checked (including fast-check's shrinking runs). */
  runs: number;
  ms: number;
  /** Inputs kept because they reached something new (coverage-guided runs only). */
  corpus: number;
  /** Coverage features seen and counters reached / total, when instrumented. */
  features: number;
  reached: number;
  counters: number;
  failure: FuzzFailure | undefined;
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** The coverage map shared by the targets of a run (their modules are distinct). */
  coverage?: CoverageFeedback;
  /** Called after each round with the inputs run so far. */
  progress?: (runs: number) => void;
}

/** Edits fast-check draws to mutate an input; positions are taken modulo its length. */
type Edit =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number }
  | { kind: "duplicate"; from: number; count: number; to: number }
  | { kind: "truncate"; at: number };

/** Byte values on the boundaries the parsers test: lengths 125-127, UTF-8 leads, CR LF, JSON brackets. */
const BOUNDARY_BYTES = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x22, 0x2c, 0x30, 0x3a, 0x5b, 0x5c, 0x7b, 0x7d, 0x7e, 0x7f, 0x80, 0x81, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xfe, 0xff];

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.oneof(fc.constantFrom(...BOUNDARY_BYTES), fc.nat(255)) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), from: fc.nat(), count: fc.integer({ min: 1, max: 64 }), to: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
);

function applyEdits(input: Uint8Array, edits: readonly Edit[], maxBytes: number): Uint8Array {
  let bytes = Array.from(input);
  for (const e of edits) {
    const n = bytes.length;
    switch (e.kind) {
      case "flip":
        if (n > 0) bytes[e.at % n]! ^= 1 << e.bit;
        break;
      case "set":
        if (n > 0) bytes[e.at % n] = e.value;
        break;
      case "insert":
        bytes.splice(e.at % (n + 1), 0, ...e.bytes);
        break;
      case "delete":
        if (n > 0) bytes.splice(e.at % n, e.count);
        break;
      case "duplicate":
        if (n > 0) {
          const from = e.from % n;
          bytes.splice(e.to % (n + 1), 0, ...bytes.slice(from, from + e.count));
        }
        break;
      case "truncate":
        bytes = bytes.slice(0, e.at % (n + 1));
        break;
    }
    if (bytes.length > maxBytes) bytes.length = maxBytes;
  }
  return Uint8Array.from(bytes);
}

/** `base`'s inputs with one to eight edits. */
export function mutationsOf(base: fc.Arbitrary<Uint8Array>, maxBytes: number): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: 8 })).map(([bytes, edits]) => applyEdits(bytes, edits, maxBytes));
}

/** Everything one round draws from, given the corpus so far. */
export function inputsFor(target: FuzzTarget, corpus: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const maxBytes = target.maxBytes ?? DEFAULT_MAX_BYTES;
  const parts: Array<fc.WeightedArbitrary<Uint8Array>> = [
    { weight: 4, arbitrary: target.inputs },
    { weight: 4, arbitrary: mutationsOf(target.inputs, maxBytes) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  ];
  if (corpus.length > 0) parts.push({ weight: 8, arbitrary: mutationsOf(fc.constantFrom(...corpus), maxBytes) });
  return fc.oneof(...parts);
}

/** Runs `target` for `options.runs` inputs, or until its first failure. */
export function fuzz(target: FuzzTarget, options: FuzzOptions): TargetReport {
  const coverage = options.coverage;
  const corpus: Uint8Array[] = [];
  let runs = 0;
  let kept = 0;
  const started = performance.now();
  let failure: FuzzFailure | undefined;
  const rounds = random(options.seed ^ hashName(target.name));

  while (runs < options.runs && failure === undefined) {
    const numRuns = Math.min(ROUND_RUNS, options.runs - runs);
    const seed = rounds();
    const fresh: Uint8Array[] = [];
    const property = fc.property(inputsFor(target, corpus), (bytes) => {
      runs++;
      try {
        target.check(bytes);
      } finally {
        if (coverage?.observe()) fresh.push(bytes);
      }
    });
    const details = fc.check(property, { numRuns, seed });
    if (details.failed) {
      const found = details.counterexample![0] as Uint8Array;
      const minimised = minimise(target, found);
      failure = {
        hex: toHex(found),
        minimisedHex: toHex(minimised),
        error: describeError(details.errorInstance),
        minimisedError: describeError(errorOf(target, minimised)),
        seed,
        path: details.counterexamplePath ?? undefined,
      };
    }
    for (const bytes of fresh) {
      kept++;
      if (corpus.length < MAX_CORPUS) corpus.push(bytes);
      else corpus[rounds() % MAX_CORPUS] = bytes;
    }
    options.progress?.(runs);
  }
  return {
    name: target.name,
    runs,
    ms: performance.now() - started,
    corpus: kept,
    features: coverage?.features ?? 0,
    reached: coverage?.reached ?? 0,
    counters: coverage?.total ?? 0,
    failure,
  };
}

/** The failing input shrunk byte by byte by fast-check (the input given as its example). */
export function minimise(target: FuzzTarget, bytes: Uint8Array): Uint8Array {
  const details = fc.check(
    fc.property(fc.array(fc.nat(255), { maxLength: bytes.length }), (values) => target.check(Uint8Array.from(values))),
    { examples: [[Array.from(bytes)]], numRuns: 1, seed: 1 },
  );
  return details.failed ? Uint8Array.from(details.counterexample![0] as number[]) : bytes;
}

/** What check() throws for `bytes`, or undefined. */
export function errorOf(target: FuzzTarget, bytes: Uint8Array): unknown {
  try {
    target.check(bytes);
    return undefined;
  } catch (error) {
    return error;
  }
}

function describeError(error: unknown): string {
  if (error === undefined) return "(passes)";
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000);
  return String(error);
}

/** A seeded xorshift sequence (round seeds, corpus replacement): 31-bit non-negative integers. */
function random(seed: number): () => number {
  let state = (seed | 0) || 0x2545f491;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 1) & 0x7fffffff;
  };
}

function hashName(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return hash | 0;
}
