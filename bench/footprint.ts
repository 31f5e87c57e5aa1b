/**
 * The firmware's flash footprint per module, from the ESP32 link: where the Moddable SDK is
 * installed ($MODDABLE, its tools built), the manifest's ESP32 module set is compiled and linked
 * as `npm run build:esp32` would (mcconfig -p esp32 generates the build; its makefile's mc.xs.c
 * target runs tsc, xsc and xsl), without ESP-IDF. The figures: each of our modules' bytecode
 * (the .xsb that xsc makes and xsl links), and xsl's preloaded image (slots in flash, 16 bytes
 * each on the ESP32, and its instance and key counts). Without $MODDABLE it is skipped.
 *
 * The build runs in a copy of the project outside it (MOORLINE_FOOTPRINT_DIR, default a folder
 * in the system's temporary directory; its name is the SDK's build name), written only where
 * files changed so the SDK's makefiles rebuild only those. The ESP32 makefile needs IDF_PATH to
 * name a git repository that `git describe` answers in, even for these targets: without
 * ESP-IDF, an empty repository tagged v6.0 (the SDK's ESP-IDF version) is made beside the copy.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { REPO_ROOT } from "./processes.js";

export interface ModuleFootprint {
  /** The module's specifier in the manifest (src/websocket/client). */
  module: string;
  /** Its bytecode, bytes (.xsb). */
  bytes: number;
}

export interface Footprint {
  sdk: string;
  /** Our modules (from this repository), largest first. */
  modules: ModuleFootprint[];
  /** Every module xsl linked: ours and the SDK's, bytes of bytecode. */
  ourBytes: number;
  sdkBytes: number;
  /** xsl's preloaded heap (mxHeapCount): slots in flash. */
  preloadedSlots: number;
  /** xsl's summary line ("### 2492 instances, 2722 keys, 106 colors, 0 holes"). */
  summary: string;
  seconds: number;
}

/** Why the footprint cannot be measured here, or undefined when it can. */
export function footprintUnavailable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const moddable = env.MODDABLE;
  if (!moddable) return "$MODDABLE is not set (the Moddable SDK is not installed)";
  if (!existsSync(join(moddable, "build", "bin", "lin", "release", "mcconfig"))) return `$MODDABLE (${moddable}) has no built tools (build/bin/lin/release/mcconfig)`;
  return undefined;
}

/** Copies the project into `to`, writing only files whose content changed (their mtimes stay). */
function syncCopy(from: string, to: string): void {
  const skip = new Set(["node_modules", "dist", ".git", ".moorline"]);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (skip.has(name)) continue;
      const path = join(dir, name);
      const target = join(to, relative(from, path));
      const stat = statSync(path);
      if (stat.isDirectory()) {
        mkdirSync(target, { recursive: true });
        walk(path);
      } else if (!existsSync(target) || !readFileSync(target).equals(readFileSync(path))) {
        mkdirSync(dirname(target), { recursive: true });
        cpSync(path, target);
      }
    }
  };
  mkdirSync(to, { recursive: true });
  walk(from);
}

/** An empty git repository tagged v6.0, for the ESP32 makefile's `git describe` (no ESP-IDF here). */
function standInIdf(path: string): string {
  if (existsSync(join(path, ".git"))) return path;
  mkdirSync(path, { recursive: true });
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@localhost", ...args], { cwd: path, stdio: "ignore" });
  git("init", "-q");
  git("commit", "-q", "--allow-empty", "-m", "stand-in for ESP-IDF (bench/footprint.ts)");
  git("tag", "-a", "v6.0", "-m", "stand-in");
  return path;
}

/** Sizes of the .xsb files under `dir`, by module specifier. */
function xsbSizes(dir: string, base = dir, into = new Map<string, number>()): Map<string, number> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) xsbSizes(path, base, into);
    else if (name.endsWith(".xsb")) into.set(relative(base, path).slice(0, -4), statSync(path).size);
  }
  return into;
}

/** Builds the ESP32 module set with the SDK and measures it (throws with the build's output when it fails). */
export function measureFootprint(env: NodeJS.ProcessEnv = process.env): Footprint {
  const started = Date.now();
  const moddable = env.MODDABLE!;
  const scratch = env.MOORLINE_FOOTPRINT_DIR ?? join(tmpdir(), "moorline-footprint");
  const name = basename(scratch);
  syncCopy(REPO_ROOT, scratch);
  const path = [join(REPO_ROOT, "node_modules", ".bin"), join(moddable, "build", "bin", "lin", "release"), env.PATH ?? ""].join(":");
  const run = (command: string, args: string[], extra: Record<string, string | undefined>): string => {
    const childEnv: NodeJS.ProcessEnv = { ...env, MODDABLE: moddable, PATH: path, ...extra };
    for (const key of Object.keys(childEnv)) if (childEnv[key] === undefined) delete childEnv[key];
    const result = spawnSync(command, args, { cwd: scratch, env: childEnv, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}):\n${output.split("\n").filter((l) => !l.startsWith("### warning")).slice(-25).join("\n")}`);
    return output;
  };
  // Generation only (no -m): it needs no ESP-IDF, and must not see one half-set.
  run("mcconfig", ["-p", "esp32", "manifest.json"], { IDF_PATH: undefined });
  const build = join(moddable, "build", "tmp", "esp32", "release", name);
  const idf = env.IDF_PATH && existsSync(env.IDF_PATH) ? env.IDF_PATH : standInIdf(`${scratch}.idf`);
  // xsl prints its summary only when it links: make it link. Only this target: the default one
  // would run ESP-IDF's idf.py; -o: never reconfigure ESP-IDF.
  rmSync(join(build, "mc.xs.c"), { force: true });
  const output = run("make", ["-C", build, "-f", "makefile", "-o", join(build, "xsProj-esp32", "build", "config", "sdkconfig.h"), join(build, "mc.xs.c")], {
    IDF_PATH: idf,
  });
  const sizes = xsbSizes(join(build, "modules"));
  // Ours: the modules whose source is in the copy (the makefile names each .xsb's source).
  const makefile = readFileSync(join(build, "makefile"), "utf8");
  const ours = new Set<string>();
  for (const match of makefile.matchAll(/^\$\(MODULES_DIR\)\/([^:]+)\.xsb: .*$/gm)) {
    if (match[0].includes(scratch)) ours.add(match[1]!);
  }
  const modules = [...sizes.entries()].filter(([module]) => ours.has(module)).map(([module, bytes]) => ({ module, bytes })).sort((a, b) => b.bytes - a.bytes);
  const ourBytes = modules.reduce((sum, m) => sum + m.bytes, 0);
  const allBytes = [...sizes.values()].reduce((sum, bytes) => sum + bytes, 0);
  const image = readFileSync(join(build, "mc.xs.c"), "utf8");
  const heapCount = /#define mxHeapCount (\d+)/.exec(image);
  const summary = /### \d+ instances[^\n]*/.exec(output)?.[0] ?? "";
  return {
    sdk: existsSync(join(moddable, "tools", "VERSION")) ? readFileSync(join(moddable, "tools", "VERSION"), "utf8").trim() : "?",
    modules,
    ourBytes,
    sdkBytes: allBytes - ourBytes,
    preloadedSlots: heapCount ? Number(heapCount[1]) : Number.NaN,
    summary: summary.replace(/^### /, ""),
    seconds: (Date.now() - started) / 1000,
  };
}
