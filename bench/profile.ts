/**
 * `npm run bench -- --profile`: where our client's time goes. The Node driver runs the
 * pipelined echo tasks under V8's sampling profiler (node --cpu-prof); this reads the
 * .cpuprofile and lists the functions with the most self time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./processes.js";

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
