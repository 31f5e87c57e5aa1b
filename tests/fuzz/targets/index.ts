/**
 * Every fuzz target, in the order `npm run fuzz` runs them. A new target is one file in this
 * folder exporting a FuzzTarget (tests/fuzz/target.ts) and one line here.
 */
import type { FuzzTarget } from "../target.js";
import { framesTarget } from "./frame-parser.js";

export const TARGETS: readonly FuzzTarget[] = [
  framesTarget,
];
