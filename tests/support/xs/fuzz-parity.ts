/**
 * Fuzz inputs replayed inside XS (tests/fuzz/parity.ts compares with Node): the JSON loop's
 * answers to a batch of messages, the frame parser's events for a batch of byte streams
 * (given as one buffer and their lengths), with XS's own UTF-8 codec as the XS host has it.
 */
import { xsUtf8 } from "../../../hosts/xs/xs-side/host.js";
import { registerProgram, type Json } from "../../../hosts/xs/xs-side/programs.js";
import { frameEvents, jsonLoopAnswers } from "./fuzz-observe.js";

registerProgram("fuzz-parity", () => ({
  call(op, args, bytes) {
    if (op === "json-loop") {
      return { value: (args.texts as string[]).map((text) => jsonLoopAnswers(text)) as Json };
    }
    if (op === "frames") {
      const out: string[] = [];
      let at = 0;
      for (const length of args.lengths as number[]) {
        out.push(frameEvents(bytes.subarray(at, at + length), xsUtf8));
        at += length;
      }
      return { value: out };
    }
    throw new Error(`fuzz-parity has no call ${JSON.stringify(op)}`);
  },
}));
