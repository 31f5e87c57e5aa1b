/**
 * `npm run bench -- --profile`: where our client's time goes on Node. The Node driver runs the
 * pipelined echo tasks under V8's sampling profiler (node --cpu-prof); this reads the
 * .cpuprofile and lists the functions with the most self time. (XS's: bench/xs-meter-profile.ts.)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { SourceMap } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { KINDS, type Output } from "./plan.js";
import { REPO_ROOT, runDriver, ServerProcess } from "./processes.js";
import { num, table } from "./report.js";
import type { Task } from "./tasks.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

export interface Frame {
  name: string;
  /** file:line (1-based) of the function, relative to the repository. */
  where: string;
  selfMs: number;
  /** Share of all samples, %. */
  percent: number;
}

/** The `top` frames by self time in the newest .cpuprofile under `dir`. */
export function topFrames(dir: string, top = 15): { frames: Frame[]; totalMs: number; file: string } {
  const files = readdirSync(dir).filter((name) => name.endsWith(".cpuprofile")).sort();
  const file = join(dir, files.at(-1)!);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const perSampleMs = totalMs / Math.max(1, profile.samples.length);
  const byFrame = new Map<string, Frame>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const where = url.startsWith("file://") ? sourcePosition(new URL(url).pathname, lineNumber, columnNumber) : url;
    const key = `${functionName}@${where}`;
    const frame = byFrame.get(key) ?? { name: functionName || "(anonymous)", where, selfMs: 0, percent: 0 };
    frame.selfMs += hits * perSampleMs;
    byFrame.set(key, frame);
  }
  const frames = [...byFrame.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top);
  for (const frame of frames) frame.percent = (frame.selfMs / totalMs) * 100;
  return { frames, totalMs, file };
}

const maps = new Map<string, SourceMap | null>();

/** "src/websocket/receiver.ts:120" for a compiled dist/ position (tsc's source maps), else the JS position. */
export function sourcePosition(path: string, line: number, column: number): string {
  let map = maps.get(path);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8")));
    } catch {
      map = null;
    }
    maps.set(path, map);
  }
  const entry = map?.findEntry(line, column) as { originalSource?: string; originalLine?: number } | undefined;
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined) {
    return `${relative(REPO_ROOT, resolve(dirname(path), entry.originalSource))}:${entry.originalLine + 1}`;
  }
  return `${relative(REPO_ROOT, path)}:${line + 1}`;
}

/** Our client's pipelined echo (64 B and 16 KB, text then binary) under node --cpu-prof: the top frames. */
export async function nodeProfileSection({ say, progress }: Output): Promise<void> {
  const server = await ServerProcess.start("echo");
  try {
    for (const kind of KINDS) {
      const dir = mkdtempSync(join(tmpdir(), "moorline-prof-"));
      try {
        progress(`profile: Node, ${kind}`);
        const tasks: Task[] = [64, 16 * 1024].map((size) => ({ figure: "throughput", size, kind, count: size === 64 ? 100_000 : 10_000, window: 64, warmup: 1000 }));
        await runDriver({ client: "moorline", url: server.url, tasks }, { timeoutMs: 300_000, cpuProfileDir: dir });
        const { frames, totalMs } = topFrames(dir, 12);
        say(`${kind} messages (${num(totalMs)} ms profiled):`);
        say(table([["self ms", "%", "function", "where"], ...frames.map((f) => [num(f.selfMs), f.percent.toFixed(1), f.name, f.where])]));
        say();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await server.stop();
  }
}
