/**
 * `npm run soak -- [--days N] [--seed S] [--engine node|xs|both]`: one device for N simulated
 * days (default 7) on each engine (default both), with trouble at seeded random times; prints
 * what happened and the verdict. Exit status 1 when a promise was broken, 2 for a bad command
 * line. npm test runs one week on each engine (tests/soak/soak.test.ts).
 */
import { describeRun, runSoak } from "./run.js";
import type { EngineName } from "../support/engines.js";

const USAGE = "usage: npm run soak -- [--days N (default 7)] [--seed S (default 1)] [--engine node|xs|both]";

async function main(): Promise<number> {
  let days = 7;
  let seed = 1;
  let engines: EngineName[] = ["node", "xs"];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (flag === "--days" && value !== undefined && Number(value) > 0 && Number(value) <= 3650) days = Number(value);
    else if (flag === "--seed" && value !== undefined && Number.isSafeInteger(Number(value))) seed = Number(value);
    else if (flag === "--engine" && (value === "node" || value === "xs" || value === "both")) engines = value === "both" ? ["node", "xs"] : [value];
    else {
      process.stderr.write(`soak: bad argument ${flag}${value === undefined ? "" : ` ${value}`}\n${USAGE}\n`);
      return 2;
    }
  }
  let failed = false;
  for (const engine of engines) {
    const run = await runSoak(engine, {
      seed,
      days,
      progress: (hours) => {
        if (hours % 24 === 0) process.stderr.write(`soak [${engine}]: day ${hours / 24} done\n`);
      },
    });
    process.stdout.write(`${describeRun(run)}\n`);
    if (run.summary.problems.length > 0) failed = true;
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (error: Error) => {
    process.stderr.write(`soak: ${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  },
);
