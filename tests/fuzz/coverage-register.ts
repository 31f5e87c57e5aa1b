/**
 * Preloaded by `npm run fuzz` (node --import): registers coverage-hooks.ts, so the firmware's
 * modules load instrumented and the fuzzer is guided by what each input reached.
 */
import { register } from "node:module";

register("./coverage-hooks.js", import.meta.url);
