/**
 * The module loader hook of a coverage-guided fuzz run (registered by coverage-register.ts;
 * Node runs it on its loader thread): every module of dist/src, the firmware, is instrumented
 * by istanbul-lib-instrument as it loads, counting into the global that coverage.ts reads.
 * Nothing else is touched, so the harness, fast-check and the tests run as compiled.
 */
import istanbul from "istanbul-lib-instrument";
import { COVERAGE_VARIABLE } from "./coverage.js";

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context: unknown) => Promise<LoadResult>;

const instrumenter = istanbul.createInstrumenter({
  esModules: true,
  compact: true,
  coverageVariable: COVERAGE_VARIABLE,
  // The counters must be one shared global (the harness reads them), not per-module copies.
  coverageGlobalScope: "globalThis",
  coverageGlobalScopeFunc: false,
  produceSourceMap: false,
});

/** Only the firmware: dist/src/**.js. */
const FIRMWARE = /\/dist\/src\/.*\.js$/;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context);
  if (!url.startsWith("file:") || !FIRMWARE.test(url) || result.format !== "module" || result.source === undefined) return result;
  const source = typeof result.source === "string" ? result.source : new TextDecoder().decode(result.source);
  return { ...result, source: instrumenter.instrumentSync(source, new URL(url).pathname) };
}
