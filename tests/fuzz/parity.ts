/**
 * Engine parity of fuzz inputs: the same inputs through the firmware on Node and inside XS
 * (the engine the chip runs) must give the same answers, word for word: the JSON loop's
 * replies and errors (where XS's JSON.parse once refused long numbers that V8 read) and the
 * frame parser's events (with each engine's own UTF-8 decoder), the MQTT packet parser's and
 * the Improv parser's events (topics and strings decoded by the portable UTF-8 code), and the
 * captive portal's outcome for an HTTP request (its form decoded, its values escaped). Inputs
 * come from the targets' fast-check generators, mutations included, in batches that cross to
 * XS once each.
 */
import fc from "fast-check";
import type { XsEngine } from "../../hosts/xs/engine.js";
import { inputsFor } from "./harness.js";
import type { FuzzTarget } from "./target.js";
import { framesTarget } from "./targets/frame-parser.js";
import { httpTarget } from "./targets/http.js";
import { improvTarget } from "./targets/improv.js";
import { jsonLoopTarget } from "./targets/json-loop.js";
import { mqttTarget } from "./targets/mqtt.js";
import { frameEvents, httpOutcome, improvEvents, jsonLoopAnswers, mqttEvents } from "../support/xs/fuzz-observe.js";

const BATCH = 250;
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const nodeUtf8 = { encode: (text: string) => new TextEncoder().encode(text), decode: (bytes: Uint8Array) => decoder.decode(bytes) };

export interface ParityReport {
  target: string;
  inputs: number;
  /** The first few inputs answered differently, with both answers. */
  mismatches: string[];
  mismatchCount: number;
}

/** Targets whose inputs are replayed as bytes: the XS op (tests/support/xs/fuzz-parity.ts) and Node's answer. */
const BYTE_TARGETS: ReadonlyArray<[op: string, target: FuzzTarget, ours: (bytes: Uint8Array) => string]> = [
  ["frames", framesTarget, (bytes) => frameEvents(bytes, nodeUtf8)],
  ["mqtt", mqttTarget, (bytes) => mqttEvents([bytes]).join("\n")],
  ["improv", improvTarget, (bytes) => improvEvents([bytes]).join("\n")],
  ["http", httpTarget, (bytes) => httpOutcome([bytes])],
];

/** `runs` inputs of the JSON loop and of each byte target (frames, mqtt, improv, http) through both engines. */
export async function checkParity(xs: XsEngine, runs: number, seed: number): Promise<ParityReport[]> {
  const handle = await xs.startProgram("fuzz-parity", {}, () => {});
  try {
    const json = fc.sample(inputsFor(jsonLoopTarget, []), { numRuns: runs, seed });
    const reports = [await jsonParity(xs, handle, json)];
    for (const [i, [op, target, ours]] of BYTE_TARGETS.entries()) {
      const inputs = fc.sample(inputsFor(target, []), { numRuns: runs, seed: seed + 1 + i });
      reports.push(await bytesParity(xs, handle, op, inputs, ours));
    }
    return reports;
  } finally {
    await xs.endProgram(handle);
  }
}

async function jsonParity(xs: XsEngine, handle: number, inputs: Uint8Array[]): Promise<ParityReport> {
  const report: ParityReport = { target: "json-loop", inputs: 0, mismatches: [], mismatchCount: 0 };
  for (let at = 0; at < inputs.length; at += BATCH) {
    const texts = inputs.slice(at, at + BATCH).map((bytes) => decoder.decode(bytes));
    const theirs = (await xs.call(handle, "json-loop", { texts })).value as string[][];
    texts.forEach((text, i) => {
      const ours = jsonLoopAnswers(text).map(comparable);
      report.inputs++;
      if (JSON.stringify(ours) !== JSON.stringify(theirs[i]!.map(comparable))) note(report, `${JSON.stringify(text.slice(0, 120))}: node ${JSON.stringify(ours).slice(0, 300)}, xs ${JSON.stringify(theirs[i]).slice(0, 300)}`);
    });
  }
  return report;
}

async function bytesParity(xs: XsEngine, handle: number, op: string, inputs: Uint8Array[], observe: (bytes: Uint8Array) => string): Promise<ParityReport> {
  const report: ParityReport = { target: op, inputs: 0, mismatches: [], mismatchCount: 0 };
  for (let at = 0; at < inputs.length; at += BATCH) {
    const batch = inputs.slice(at, at + BATCH);
    const theirs = (await xs.call(handle, op, { lengths: batch.map((b) => b.length) }, Buffer.concat(batch))).value as string[];
    batch.forEach((bytes, i) => {
      const ours = observe(bytes);
      report.inputs++;
      if (ours !== theirs[i]) note(report, `${Buffer.from(bytes).toString("hex").slice(0, 200)}: node ${JSON.stringify(ours).slice(0, 300)}, xs ${JSON.stringify(theirs[i]).slice(0, 300)}`);
    });
  }
  return report;
}

/**
 * An answer as both engines must give it: the same, except the words of the engine's own
 * JSON.parse error after "not JSON: " (docs/protocol.md: the message is for humans, the code
 * is what a program reads), which V8 and XS word differently.
 */
function comparable(answer: string): string {
  return answer.replace(/("message":"not JSON: )(?:[^"\\]|\\.)*"/, '$1(the engine\'s words)"');
}

function note(report: ParityReport, text: string): void {
  report.mismatchCount++;
  if (report.mismatches.length < 5) report.mismatches.push(text);
}
