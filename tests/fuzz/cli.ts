/**
 * `npm run fuzz -- --runs N [--seed S] [--target NAME] [--parity N]`: runs every fuzz target
 * (or one) for N inputs each, guided by coverage (the firmware is instrumented: see
 * coverage-register.ts), and prints for each how many inputs it ran, how fast, what the
 * corpus and the coverage map grew to, and the first failure with its reproducer; then
 * replays N inputs of the JSON loop and of the frame parser inside XS and compares the answers
 * with Node's (--parity, default min(N, 20000); 0 skips it). Exit status 1 when any target
 * failed or the engines differed, 2 for a bad command line.
 */
import { startTestXsEngine } from "../support/engines.js";
import { CoverageFeedback } from "./coverage.js";
import { checkParity } from "./parity.js";
import { fuzz, type TargetReport } from "./harness.js";
import { TARGETS } from "./targets/index.js";

const USAGE = "usage: npm run fuzz -- [--runs N (default 10000 per target)] [--seed S] [--target NAME] [--parity N (inputs replayed in XS; 0: none)]";

function parseArguments(argv: readonly string[]): { runs: number; seed: number; only: string | undefined; parity: number | undefined } {
  let runs = 10_000;
  let parity: number | undefined;
  let seed = Date.now() % 0x7fffffff;
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    const integer = (): number => {
      const n = Number(value);
      if (value === undefined || !Number.isSafeInteger(n) || n < 0) throw new Error(`${flag} needs a whole number, got ${value ?? "nothing"}`);
      i++;
      return n;
    };
    if (flag === "--runs") runs = integer();
    else if (flag === "--parity") parity = integer();
    else if (flag === "--seed") seed = integer();
    else if (flag === "--target") {
      if (!TARGETS.some((target) => target.name === value)) throw new Error(`--target must be one of ${TARGETS.map((t) => t.name).join(", ")}, got ${value ?? "nothing"}`);
      only = value;
      i++;
    } else if (flag === "--help" || flag === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${flag}`);
  }
  return { runs, seed, only, parity };
}

function line(report: TargetReport): string {
  const rate = Math.round(report.runs / (report.ms / 1000));
  const coverage = report.counters > 0 ? `, coverage ${report.reached}/${report.counters} counters, ${report.features} features, corpus ${report.corpus}` : "";
  return `${report.name.padEnd(10)} ${report.runs.toLocaleString("en").padStart(11)} inputs in ${(report.ms / 1000).toFixed(1)} s (${rate.toLocaleString("en")}/s)${coverage}: ${report.failure ? "FAILED" : "ok"}`;
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseArguments>;
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`fuzz: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const coverage = new CoverageFeedback();
  process.stdout.write(
    `fuzz: ${options.runs.toLocaleString("en")} inputs per target, seed ${options.seed}, ` +
      `${coverage.active ? "coverage-guided (istanbul counters on dist/src)" : "no coverage (run through npm run fuzz for guidance)"}\n`,
  );
  let total = 0;
  let failed = 0;
  for (const target of TARGETS) {
    if (options.only !== undefined && target.name !== options.only) continue;
    const report = fuzz(target, { runs: options.runs, seed: options.seed, coverage });
    total += report.runs;
    process.stdout.write(`${line(report)}\n`);
    if (report.failure) {
      failed++;
      const f = report.failure;
      process.stdout.write(
        `  error:      ${f.error}\n  input:      ${f.hex}\n  minimised:  ${f.minimisedHex}\n  its error:  ${f.minimisedError}\n` +
          `  replay:     npm run fuzz -- --target ${target.name} --seed ${options.seed} (round seed ${f.seed}, path ${f.path ?? "-"})\n` +
          `  add it to tests/fuzz/regressions.test.ts as ["${target.name}", "${f.minimisedHex}"]\n`,
      );
    }
  }
  const parityRuns = options.parity ?? Math.min(options.runs, 20_000);
  if (parityRuns > 0 && options.only === undefined) {
    const xs = await startTestXsEngine({ log: () => {} });
    try {
      const started = performance.now();
      for (const report of await checkParity(xs, parityRuns, options.seed)) {
        total += report.inputs;
        process.stdout.write(
          `xs-parity  ${report.target}: ${report.inputs.toLocaleString("en")} inputs through Node and XS in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
            `${report.mismatchCount === 0 ? "the same answers" : `${report.mismatchCount} DIFFERED`}\n`,
        );
        for (const mismatch of report.mismatches) process.stdout.write(`  ${mismatch}\n`);
        if (report.mismatchCount > 0) failed++;
      }
    } finally {
      await xs.close();
    }
  }
  process.stdout.write(`fuzz: ${total.toLocaleString("en")} inputs in all, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`fuzz: ${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  },
);
