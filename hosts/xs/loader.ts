/**
 * How the XS host loads our compiled modules into XS, and what it lets XS load.
 *
 * A bootstrap script (bootstrap()) makes a Compartment whose loadNowHook asks Node for each
 * module's source (a synchronous Command.LOAD) and compiles it with ModuleSource; its
 * resolveHook resolves relative specifiers against the referrer. So every module is loaded as
 * the ES module it is, unchanged, with plain ECMAScript as its only globals (plus `__xsHost`,
 * the powers hosts/xs/xs-side uses).
 *
 * Node serves only modules under dist/src (the firmware), dist/hosts/xs/xs-side (the host's
 * XS side and its programs) and the program roots a run adds (the tests add
 * tests/support/xs): the host a user runs loads nothing else. The desktop chip booting an
 * update's image serves the first two from the image's folder instead (firmwareRoot). Each source gets a sourceURL
 * comment, so XS stack traces name the files, and mapXsStack() adds the TypeScript position
 * from tsc's source maps.
 */
import { existsSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ANSWER_OK, Command } from "./xs-side/protocol.js";

/** dist/, where the compiled modules are (this file runs from dist/hosts/xs/). */
export const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The firmware, under dist/: XS may load any of its modules. */
const FIRMWARE_ROOT = "src";

/** The XS side of the host, under dist/: its modules, and the programs a user runs (echo-agent, device). */
export const HOST_PROGRAM_ROOT = "hosts/xs/xs-side";

/** The module that registers programs (loaded first: every program module imports it). */
export const PROGRAMS_MODULE = `/${HOST_PROGRAM_ROOT}/programs.js`;

/** A folder under dist/: names of letters, digits, _ . -, never "." or "..". */
const FOLDER = /^(?!\.{1,2}(\/|$))[A-Za-z0-9_.-]+(\/(?!\.{1,2}(\/|$))[A-Za-z0-9_.-]+)*$/;

/** A module XS asks for: an absolute path under dist/ to a .js file, no "." or ".." part. */
const SPECIFIER = /^(\/(?!\.{1,2}\/)[A-Za-z0-9_.-]+)+\.js$/;

/** A program's name: its module's name in a program root (hosts/xs/xs-side/<name>.js). */
const PROGRAM_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Rewrites a module's compiled source (its specifier, /src/websocket/client.js) before XS loads it. */
export type SourceTransform = (specifier: string, source: string) => string;

/**
 * The modules one engine may load: the firmware, the host's XS side, and `programRoots`
 * (folders under dist/ holding more programs and what they import).
 */
export class ModuleLoader {
  /** Where programs are looked for, in order: the host's own first. */
  readonly programRoots: readonly string[];
  private readonly roots: readonly string[];
  /** Where the firmware and the host's XS side are: dist/, or an update image's folder. */
  private readonly firmwareRoot: string;
  /** Rewrites each source before XS gets it (the bench's meter profile); none for a normal run. */
  private readonly transform: SourceTransform | undefined;

  constructor(programRoots: readonly string[] = [], firmwareRoot: string = DIST_ROOT, transform?: SourceTransform) {
    this.firmwareRoot = firmwareRoot;
    this.transform = transform;
    for (const root of programRoots) {
      if (typeof root !== "string" || !FOLDER.test(root)) {
        throw new TypeError(`programRoots: each must be a folder under dist/ such as "tests/support/xs", got ${JSON.stringify(root)}`);
      }
    }
    this.programRoots = [HOST_PROGRAM_ROOT, ...programRoots];
    this.roots = [FIRMWARE_ROOT, ...this.programRoots];
  }

  /** The specifier of program `name`: <root>/<name>.js in the first program root holding it. */
  programModule(name: string): string {
    if (!PROGRAM_NAME.test(name)) throw new TypeError(`an XS program's name is lowercase letters, digits and -, got ${JSON.stringify(name)}`);
    for (const root of this.programRoots) {
      if (existsSync(join(this.rootOf(root), root, `${name}.js`))) return `/${root}/${name}.js`;
    }
    throw new Error(`no XS program ${JSON.stringify(name)} in ${this.programRoots.map((root) => `dist/${root}`).join(" or ")} (run npm run build)`);
  }

  /** The source of a module for XS, named for its stack traces; throws for one it may not load. */
  source(specifier: string): string {
    if (!SPECIFIER.test(specifier) || !this.roots.some((root) => specifier.startsWith(`/${root}/`))) {
      throw new Error(`XS may not load ${JSON.stringify(specifier)}: only modules of ${this.roots.map((root) => `dist/${root}`).join(", ")}`);
    }
    const folder = this.roots.find((root) => specifier.startsWith(`/${root}/`))!;
    const path = join(this.rootOf(folder), specifier);
    let source: string;
    try {
      source = readFileSync(path, "utf8");
    } catch (error) {
      throw new Error(`cannot read ${path} (run npm run build): ${(error as Error).message}`);
    }
    if (this.transform) source = this.transform(specifier, source);
    return `${source}\n//# sourceURL=dist${specifier}\n`;
  }

  /** The folder `root` (one of roots) is under: the firmware's for the firmware and the host's XS side. */
  private rootOf(root: string): string {
    return root === FIRMWARE_ROOT || root === HOST_PROGRAM_ROOT ? this.firmwareRoot : DIST_ROOT;
  }
}

/**
 * The script that runs first in XS's start compartment: it wires handleCommand to the
 * bridge and builds the Compartment that loads modules through Node. With `meterProfile`,
 * the compartment also gets `__meterProfile`, the runtime of the bench's meter profile
 * (METER_PROFILE_RUNTIME), and the start compartment a function that hands its counts to Node.
 */
export function bootstrap(meterProfile: boolean): string {
  return `(() => {
  const encoder = new TextEncoder();
  // ignoreBOM: a leading U+FEFF is message text, kept (the firmware's codec contract).
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  let handler = () => { throw new Error("the XS side of the host is not loaded"); };
  globalThis.handleCommand = (message) => handler(message);
  const describe = (error) => {
    if (!(error instanceof Error)) return String(error);
    const head = error.name + ": " + error.message;
    const stack = typeof error.stack === "string" ? error.stack : "";
    return stack.startsWith(head) ? stack : head + "\\n" + stack;
  };
  const load = (specifier) => {
    const name = encoder.encode(specifier);
    const message = new Uint8Array(5 + name.length);
    message[0] = ${Command.LOAD};
    new DataView(message.buffer).setUint32(1, name.length, true);
    message.set(name, 5);
    const answer = new Uint8Array(issueCommand(message.buffer));
    const text = decoder.decode(answer.subarray(1));
    if (answer[0] !== ${ANSWER_OK}) throw new Error(text.replace("\\u0000", ": "));
    return text;
  };
  const resolve = (specifier, referrer) => {
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
      throw new Error("cannot import " + JSON.stringify(specifier) + " from " + referrer + ": only relative imports load in XS");
    }
    const parts = referrer.split("/");
    parts.pop();
    for (const part of specifier.split("/")) {
      if (part === "..") parts.pop();
      else if (part !== ".") parts.push(part);
    }
    return parts.join("/");
  };
  const powers = Object.freeze({
    issueCommand,
    print,
    wallNow: () => performance.now(),
    gc: () => gc(),
    encode: (text) => encoder.encode(text),
    decode: (bytes) => decoder.decode(bytes),
    setHandler: (next) => { handler = next; },
  });
  const globals = { __xsHost: powers };
  ${meterProfile ? METER_PROFILE_RUNTIME : ""}
  const compartment = new Compartment({
    globals,
    resolveHook: resolve,
    loadNowHook: (specifier) => ({ source: new ModuleSource(load(specifier)) }),
  });
  globalThis.__moorlineImport = (specifier) => {
    try {
      compartment.importNow(specifier);
    } catch (error) {
      throw new Error("loading " + specifier + " in XS failed: " + describe(error));
    }
  };
})();
`;
}

/**
 * The meter profile's runtime, inside XS (only when the engine was started with a profile:
 * bench/xs-meter-profile.ts instruments every function to call `enter(id)` first, keeping the
 * depth it returns, and `exit(depth)` before it returns). xsnap's resetMeter(limit, index)
 * returns the steps counted so far and sets the count to `index`: each probe reads the steps
 * since the previous probe, charges them to the function on top of its stack (its self
 * steps), and restarts the count from 0 after its own bookkeeping, so the probes' own work is
 * not charged to anyone. exit() cuts the stack back to the function's depth, so a function
 * left by an exception is popped by its caller's exit. Id 0 is whatever ran outside
 * instrumented code. __moorlineMeterProfile() returns the counts (JSON, as an ArrayBuffer:
 * xsnap's evaluate replies with it) and starts over.
 */
const METER_PROFILE_RUNTIME = `
  const meter = resetMeter;
  let self = [0];
  let calls = [0];
  let children = [0];
  const stack = [0];
  const charge = (steps) => {
    const top = stack[stack.length - 1];
    self[top] = (self[top] ?? 0) + steps;
  };
  const profile = Object.freeze({
    enter(id) {
      charge(meter(0, 0));
      const depth = stack.length;
      const caller = stack[depth - 1];
      children[caller] = (children[caller] ?? 0) + 1;
      stack.push(id);
      calls[id] = (calls[id] ?? 0) + 1;
      meter(0, 0);
      return depth;
    },
    exit(depth) {
      charge(meter(0, 0));
      stack.length = depth;
      meter(0, 0);
    },
  });
  globals.__meterProfile = profile;
  globalThis.__meterProfile = profile;
  globalThis.__moorlineMeterProfile = () => {
    charge(meter(0, 0));
    const json = JSON.stringify({ self, calls, children });
    self = [0];
    calls = [0];
    children = [0];
    meter(0, 0);
    return encoder.encode(json).buffer;
  };
`;
const sourceMaps = new Map<string, { map: SourceMap; lines: string[] } | null>();

/**
 * The XS stack with each frame's compiled position (dist/src/websocket/url.js:196; XS gives lines, not
 * columns) followed by its TypeScript source position from tsc's source map
 * (dist/src/websocket/url.js:196 = src/websocket/url.ts:231).
 */
export function mapXsStack(stack: string): string {
  return stack.replace(/\(dist\/([^():]+\.js):(\d+)\)/g, (whole, file: string, lineText: string) => {
    let entry = sourceMaps.get(file);
    if (entry === undefined) {
      try {
        const path = join(DIST_ROOT, file);
        entry = {
          map: new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8"))),
          lines: readFileSync(path, "utf8").split("\n"),
        };
      } catch {
        entry = null;
      }
      sourceMaps.set(file, entry);
    }
    const line = Number(lineText) - 1;
    const code = entry?.lines[line];
    if (!entry || code === undefined) return whole;
    const found = entry.map.findEntry(line, code.length - code.trimStart().length) as {
      generatedLine?: number;
      originalSource?: string;
      originalLine?: number;
    };
    if (found.generatedLine !== line || found.originalSource === undefined || found.originalLine === undefined) return whole;
    const source = relative(resolve(DIST_ROOT, ".."), resolve(DIST_ROOT, dirname(file), found.originalSource));
    return `(dist/${file}:${lineText} = ${source}:${found.originalLine + 1})`;
  });
}
