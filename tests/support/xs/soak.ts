/**
 * The soak (tests/support/xs/soak/world.ts) inside XS: the same world as on Node, the device
 * and its whole simulated surroundings in the engine, on the world's own virtual clock, so a
 * simulated week runs as fast as XS computes it (no timer crosses to Node). Node drives it
 * (tests/soak/run.ts): "run" advances the simulated time, "summary" reports; between calls
 * Node reads the heap (engine.heap(): live slots after a garbage collection).
 */
import { xsUtf8 } from "../../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../../hosts/xs/xs-side/programs.js";
import { SoakWorld } from "./soak/world.js";

registerProgram("soak", (options) => {
  const world = new SoakWorld({ seed: options.seed as number, days: options.days as number, utf8: xsUtf8 });
  world.start();
  return {
    call(op, args) {
      switch (op) {
        case "run":
          world.runUntil(args.untilMs as number);
          return { value: { now: world.now, ended: world.ended } };
        case "summary":
          return { value: JSON.parse(JSON.stringify(world.summary())) as Json };
        case "timers":
          return { value: world.clock.pending };
        default:
          throw new Error(`the soak program has no call ${JSON.stringify(op)}`);
      }
    },
  };
});
