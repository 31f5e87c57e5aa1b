/**
 * Every failure the fuzzer found, as a regular test: the minimised input (hex, as
 * `npm run fuzz` prints it) run through its target's check, which must now pass. The fixes
 * also have tests of their own where the code lives (named in each entry).
 */
import { TARGETS } from "./targets/index.js";
import { fromHex } from "./target.js";

const FOUND: ReadonlyArray<[target: string, hex: string, what: string]> = [
  ["url", "7f", "DEL left raw in the error message's quoted URL (tests/websocket/url.test.ts)"],
  ["url", "c280", "U+0080 left raw where the message names the non-ASCII character (tests/websocket/url.test.ts)"],
  ["url", "77733a2f2f412e30", "ws://A.0 accepted, a host WHATWG parsers read as a bad IPv4 address (tests/websocket/url.test.ts)"],
  ["utf8", "f48f9fa201f1b09a94f48fbfa3f0", "a stale continuation range after an update() ending in ASCII (tests/websocket/utf8.test.ts)"],
  ["utf8", "f48f9fa201f1b0af94f48fbfa3f0", "the same, as first found"],
  ["mqtt", "2002000030050003e280a8", "a topic holding U+2028: the target's own re-encoding read its event with a regular expression whose . stops at line separators (the parser was right)"],
];

describe("fuzz regressions: inputs the fuzzer once failed on (tests/fuzz)", () => {
  for (const [name, hex, what] of FOUND) {
    it(`${name} ${hex.length > 40 ? hex.slice(0, 40) + "..." : hex}: ${what}`, () => {
      const target = TARGETS.find((t) => t.name === name);
      if (!target) throw new Error(`no fuzz target ${name}`);
      target.check(fromHex(hex));
    });
  }
});
