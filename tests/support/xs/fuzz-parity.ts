/**
 * Fuzz inputs replayed inside XS (tests/fuzz/parity.ts compares with Node): the JSON loop's
 * answers to a batch of messages, and for a batch of byte inputs (given as one buffer and
 * their lengths) the frame parser's events (with XS's own UTF-8 codec as the XS host has it),
 * the MQTT packet parser's, the Improv parser's, and the captive portal's HTTP outcome.
 */
import { xsUtf8 } from "../../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../../hosts/xs/xs-side/programs.js";
import { frameEvents, httpOutcome, improvEvents, jsonLoopAnswers, mqttEvents } from "./fuzz-observe.js";

/** What each op makes of one input, as text (arrays of events joined by newlines). */
const BYTE_OPS: Readonly<Record<string, (bytes: Uint8Array) => string>> = {
  frames: (bytes) => frameEvents(bytes, xsUtf8),
  mqtt: (bytes) => mqttEvents([bytes]).join("\n"),
  improv: (bytes) => improvEvents([bytes]).join("\n"),
  http: (bytes) => httpOutcome([bytes]),
};

registerProgram("fuzz-parity", () => ({
  call(op, args, bytes) {
    if (op === "json-loop") {
      return { value: (args.texts as string[]).map((text) => jsonLoopAnswers(text)) as Json };
    }
    const observe = Object.prototype.hasOwnProperty.call(BYTE_OPS, op) ? BYTE_OPS[op] : undefined;
    if (observe !== undefined) {
      const out: string[] = [];
      let at = 0;
      for (const length of args.lengths as number[]) {
        out.push(observe(bytes.subarray(at, at + length)));
        at += length;
      }
      return { value: out };
    }
    throw new Error(`fuzz-parity has no call ${JSON.stringify(op)}`);
  },
}));
