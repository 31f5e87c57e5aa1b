/**
 * What the bench does, and how much: the two plans (full, and quick for a run under a minute),
 * the message sizes and kinds of the client comparison, and where a section's output goes.
 */
import type { MqttFleetPlan } from "./mqtt-fleet.js";
import type { Kind } from "./tasks.js";

export const SIZES = [64, 1024, 16 * 1024, 1024 * 1024] as const;
export const KINDS: readonly Kind[] = ["text", "binary"];

/** Where a section writes: its tables and notes (say), and what it is doing (progress, on stderr). */
export interface Output {
  say(text?: string): void;
  progress(text: string): void;
}

/** How much each section does; the quick plan keeps the whole bench under a minute. */
export interface Plan {
  name: "full" | "quick";
  runs: number;
  connect: { count: number; warmup: number };
  rtt: Record<number, number>;
  throughput: Record<number, number>;
  xsRuns: number;
  /** The whole device in XS (bench/xs-device.ts): echo requests, then reconnections, measured for growth. */
  deviceMessages: number;
  deviceReconnects: number;
  /** Process start to first hello, per engine (bench/startup.ts). */
  startupRuns: number;
  memoryRuns: number;
  memoryConnections: number;
  memoryInflight: number;
  xsConnections: number;
  reconnectRuns: number;
  reconnectEngines: Array<"node" | "xs">;
  downMs: number;
  fleets: Array<{ devices: number; runs: number; rampMs: number; settleMs: number; windowMs: number }>;
  /** The same fleets against mosquitto (bench/mqtt-fleet.ts). */
  mqttFleets: MqttFleetPlan[];
}

export const FULL: Plan = {
  name: "full",
  runs: 5,
  connect: { count: 50, warmup: 5 },
  rtt: { 64: 2000, 1024: 2000, 16384: 1000, 1048576: 40 },
  throughput: { 64: 20_000, 1024: 20_000, 16384: 4000, 1048576: 48 },
  xsRuns: 2,
  deviceMessages: 10_000,
  deviceReconnects: 100,
  startupRuns: 5,
  memoryRuns: 3,
  memoryConnections: 200,
  memoryInflight: 1000,
  xsConnections: 20,
  reconnectRuns: 5,
  reconnectEngines: ["node", "xs"],
  downMs: 1000,
  fleets: [
    { devices: 1000, runs: 3, rampMs: 1000, settleMs: 1500, windowMs: 5000 },
    { devices: 10_000, runs: 3, rampMs: 4000, settleMs: 2000, windowMs: 10_000 },
  ],
  mqttFleets: [
    { devices: 1000, runs: 3, rampMs: 1000, settleMs: 1500, windowMs: 5000 },
    // Once, ramped over 20 s: 10,000 broker sessions take a while to set up on a shared machine.
    { devices: 10_000, runs: 1, rampMs: 20_000, settleMs: 3000, windowMs: 10_000 },
  ],
};

export const QUICK: Plan = {
  name: "quick",
  runs: 3,
  connect: { count: 20, warmup: 3 },
  rtt: { 64: 500, 1024: 500, 16384: 300, 1048576: 10 },
  throughput: { 64: 10_000, 1024: 10_000, 16384: 2000, 1048576: 16 },
  xsRuns: 2,
  deviceMessages: 1000,
  deviceReconnects: 10,
  startupRuns: 2,
  memoryRuns: 1,
  memoryConnections: 100,
  memoryInflight: 500,
  xsConnections: 10,
  reconnectRuns: 3,
  reconnectEngines: ["node"],
  downMs: 500,
  fleets: [{ devices: 1000, runs: 1, rampMs: 1000, settleMs: 1000, windowMs: 3000 }],
  mqttFleets: [{ devices: 1000, runs: 1, rampMs: 1000, settleMs: 1000, windowMs: 3000 }],
};

/** Messages out at once in the pipelined runs: up to 64, and no more than ~4 MiB. */
export function windowFor(size: number): number {
  return Math.max(2, Math.min(64, Math.floor((4 * 1024 * 1024) / size)));
}

