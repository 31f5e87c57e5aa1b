/**
 * The short fuzz run of `npm test`: every target (tests/fuzz/targets) for a few hundred inputs
 * from a fixed seed, without coverage guidance (seconds; `npm run fuzz` runs the long,
 * coverage-guided one), plus the round trips of valid inputs as fast-check properties.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { fuzz } from "./harness.js";
import { TARGETS } from "./targets/index.js";
import { validHandshakes } from "./targets/handshake.js";
import { validUrls } from "./targets/url.js";
import { HandshakeResponseParser, validateHandshakeResponse } from "../../src/websocket/handshake.js";
import { Receiver } from "../../src/websocket/receiver.js";
import { parseWebSocketUrl } from "../../src/websocket/url.js";
import { encodeFrame } from "./rfc6455-model.js";
import { checkParity } from "./parity.js";
import { startTestXsEngine } from "../support/engines.js";

/** Inputs per target in npm test. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 400);
const SEED = 17;
/** Inputs per target replayed in XS for the parity check. */
const PARITY_RUNS = Number(process.env.FUZZ_PARITY_RUNS ?? 500);

describe("fuzzing, a short run of every target (tests/fuzz; npm run fuzz runs the long one)", function () {
  this.timeout(60_000);
  for (const target of TARGETS) {
    it(`${target.name}: ${RUNS} inputs, no failure (${target.about})`, () => {
      const report = fuzz(target, { runs: RUNS, seed: SEED });
      const f = report.failure;
      assert.equal(f, undefined, f && `${f.error}\ninput ${f.hex}\nminimised ${f.minimisedHex}: ${f.minimisedError}`);
      assert.ok(report.runs >= RUNS);
    });
  }
});

describe("fuzzing: valid inputs round-trip (fast-check properties)", () => {
  it("a stream of valid messages, fragmented and interleaved with pings, comes out of the frame parser as sent", () => {
    const message = fc.record({ text: fc.boolean(), data: fc.string({ unit: "binary", maxLength: 50 }), cuts: fc.array(fc.nat(), { maxLength: 3 }) });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 5 }), fc.nat(), (messages, seed) => {
        const frames: Uint8Array[] = [];
        for (const m of messages) {
          const bytes = m.text ? new TextEncoder().encode(m.data) : new TextEncoder().encode(m.data).reverse();
          const points = [...new Set(m.cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const pieces = [...points, bytes.length].map((end, i, all) => bytes.subarray(i === 0 ? 0 : all[i - 1]!, end));
          pieces.forEach((piece, i) => {
            frames.push(encodeFrame({ fin: i === pieces.length - 1, rsv: 0, opcode: i === 0 ? (m.text ? 1 : 2) : 0, payload: piece, lengthForm: "minimal", masked: false }));
            if (i < pieces.length - 1) frames.push(encodeFrame({ fin: true, rsv: 0, opcode: 9, payload: Uint8Array.of(i), lengthForm: "minimal", masked: false }));
          });
        }
        const got: Array<string | Uint8Array> = [];
        const receiver = new Receiver(
          { onMessage: (d) => got.push(d), onPing: () => {}, onPong: () => {}, onClose: () => {}, onError: (e) => assert.fail(e.message) },
          { maxMessageBytes: 1 << 16, maxFrameBytes: 1 << 16 },
        );
        const all = Uint8Array.from(Buffer.concat(frames));
        const cut = all.length === 0 ? 0 : seed % all.length;
        receiver.push(all.subarray(0, cut));
        receiver.push(all.subarray(cut));
        assert.deepEqual(
          got,
          messages.map((m) => (m.text ? m.data : new TextEncoder().encode(m.data).reverse())),
        );
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("a valid 101 is accepted, in any chunking, with the bytes after it intact", () => {
    fc.assert(
      fc.property(validHandshakes, fc.nat(), (bytes, seed) => {
        const parser = new HandshakeResponseParser(4096);
        const cut = seed % (bytes.length + 1);
        let result = parser.push(bytes.subarray(0, cut));
        if (!result.done) result = parser.push(bytes.subarray(cut));
        assert.ok(result.done, "the head is complete");
        validateHandshakeResponse(result.head, { accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocols: ["chat", "v2.json"] });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("a valid ws:// or wss:// URL parses to its parts", () => {
    fc.assert(
      fc.property(validUrls, ({ url, secure, host, port, resource }) => {
        const parsed = parseWebSocketUrl(url);
        assert.deepEqual([parsed.secure, parsed.host, parsed.port, parsed.resource], [secure, host, port, resource]);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("fuzzing: Node and XS answer the same inputs alike (tests/fuzz/parity.ts)", function () {
  this.timeout(120_000);
  it(`the JSON loop and the frame parser, ${PARITY_RUNS} inputs each`, async function () {
    const xs = await startTestXsEngine({ log: () => {} });
    try {
      for (const report of await checkParity(xs, PARITY_RUNS, SEED)) {
        assert.equal(report.mismatchCount, 0, `${report.target}: ${report.mismatchCount} of ${report.inputs} inputs answered differently:\n${report.mismatches.join("\n")}`);
        assert.equal(report.inputs, PARITY_RUNS);
      }
      xs.check();
    } finally {
      await xs.close();
    }
  });
});
