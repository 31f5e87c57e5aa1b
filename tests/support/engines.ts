/**
 * The engines the integration tests run the firmware on: Node and XS (hosts/xs, the engine
 * the chip runs), from one test source. A file writes
 *
 *   for (const engine of ENGINES) describe(`... [${engine}]`, function () { useEngine(engine); ... });
 *
 * and every test in it runs once per engine with the same assertions. By default both run
 * (`npm test` covers both); ENGINES=node or ENGINES=xs in the environment runs one locally.
 *
 * XS engines for tests and benchmarks start with startTestXsEngine(): they may also run the
 * tests' XS programs (tests/support/xs: a client, a supervisor, a probe of the bridge), which
 * the host a user runs cannot load.
 */
import { XsEngine, type XsEngineOptions } from "../../hosts/xs/engine.js";

export type EngineName = "node" | "xs";

const KNOWN: readonly EngineName[] = ["node", "xs"];

/** Parses an ENGINES value ("node", "xs", "node,xs"); absent or empty means both. */
export function parseEngines(value: string | undefined): readonly EngineName[] {
  if (value === undefined || value.trim() === "") return KNOWN;
  const names = value.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!(KNOWN as readonly string[]).includes(name)) {
      throw new Error(`ENGINES=${JSON.stringify(value)}: each engine must be one of ${KNOWN.join(", ")}, got ${JSON.stringify(name)}`);
    }
  }
  return KNOWN.filter((name) => names.includes(name));
}

/** The engines to run on: both, unless the ENGINES environment variable narrows them. */
export const ENGINES: readonly EngineName[] = parseEngines(process.env.ENGINES);

/** The argument that runs a command line (device, echo agent) on `engine`. */
export function engineArgs(engine: EngineName): string[] {
  return engine === "xs" ? ["--engine", "xs"] : [];
}

/**
 * For the describe() of one engine: on XS, closes the file's shared XS worker after its
 * tests (so mocha exits cleanly), failing the hook with any uncaught exception inside XS.
 */
export function useEngine(engine: EngineName): void {
  if (engine === "xs") after(closeSharedXsEngine);
}

// --- XS engines for tests -----------------------------------------------------------------

/** Where the tests' XS programs are, under dist/ (tests/support/xs/<name>.ts). */
export const TEST_PROGRAM_ROOT = "tests/support/xs";

/**
 * An XS engine (XsEngine.start) that can also start the tests' programs: "client",
 * "supervisor" and "probe", besides the host's "echo-agent" and "device".
 */
export function startTestXsEngine(options: XsEngineOptions = {}): Promise<XsEngine> {
  return XsEngine.start({ ...options, programRoots: [...(options.programRoots ?? []), TEST_PROGRAM_ROOT] });
}

let shared: Promise<XsEngine> | undefined;

/**
 * The XS engine clients run in unless given their own: started on first use, kept for the
 * process (one worker for a whole test file). A failed or closed one is replaced.
 */
export async function sharedXsEngine(): Promise<XsEngine> {
  if (shared) {
    const engine = await shared.catch(() => undefined);
    if (engine && !engine.isClosed) return engine;
  }
  shared = startTestXsEngine({ log: () => {}, onFailure: (error) => process.stderr.write(`shared XS engine: ${error.stack ?? error.message}\n`) });
  return shared;
}

/** Closes the shared engine (a test file's after()); throws its first failure, if any. */
export async function closeSharedXsEngine(): Promise<void> {
  const engine = await shared?.catch(() => undefined);
  shared = undefined;
  if (!engine) return;
  await engine.close();
  engine.check();
}
