/**
 * The engines the integration tests run the firmware on: Node and XS (hosts/xs, the engine
 * the chip runs), from one test source. A file writes
 *
 *   for (const engine of ENGINES) describe(`... [${engine}]`, function () { useEngine(engine); ... });
 *
 * and every test in it runs once per engine with the same assertions. By default both run
 * (`npm test` covers both); ENGINES=node or ENGINES=xs in the environment runs one locally.
 */
import { closeSharedXsEngine, type EngineName } from "../../hosts/xs/on-engine.js";

export type { EngineName };

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
