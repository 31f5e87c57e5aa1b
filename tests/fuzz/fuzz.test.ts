/**
 * The short fuzz run of `npm test`: every target (tests/fuzz/targets) for a few hundred inputs
 * from a fixed seed, without coverage guidance (seconds; `npm run fuzz` runs the long,
 * coverage-guided one), plus the round trips of valid inputs as fast-check properties: frames,
 * handshakes, URLs, MQTT packets from the encoder, Improv packets among log lines, and a
 * browser's form through the portal's HTTP parser.
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
import { encodePuback, encodePublish, type PublishFields } from "../../src/mqtt/encoder.js";
import { PacketParser } from "../../src/mqtt/parser.js";
import { decodeForm, escapeHtml, MAX_FORM_FIELDS } from "../../src/provisioning/form.js";
import { DEFAULT_HTTP_REQUEST_LIMITS, HttpRequestParser } from "../../src/provisioning/http-request.js";
import { encodeImprovPacket, ImprovParser } from "../../src/provisioning/improv.js";
import { connack } from "../support/mqtt-packets.js";
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

describe("fuzzing: valid MQTT, Improv and form inputs round-trip (fast-check properties)", () => {
  /** Two cuts of `bytes` chosen by `seed`: three pieces, any of them empty. */
  const cutThree = (bytes: Uint8Array, seed: number): Uint8Array[] => {
    const [a, b] = [seed % (bytes.length + 1), (seed >>> 8) % (bytes.length + 1)].sort((x, y) => x - y) as [number, number];
    return [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
  };

  it("PUBLISH and PUBACK packets from the encoder come out of the packet parser as they went in, in any chunking", () => {
    const publish = fc.record({
      topic: fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 10 }).filter((t) => !/[+#\u0000]/.test(t)), { minLength: 1, maxLength: 4 }).map((levels) => levels.join("/")),
      payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 100 })),
      qos: fc.constantFrom(0 as const, 1 as const),
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId: fc.integer({ min: 1, max: 65535 }),
    });
    const packet = fc.oneof(publish.map((fields): PublishFields => ({ ...fields, dup: fields.dup && fields.qos === 1 })), fc.integer({ min: 1, max: 65535 }));
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 6 }), fc.nat(), (packets, seed) => {
        const got: unknown[] = [];
        const parser = new PacketParser(
          {
            onConnack: () => {},
            onPublish: (topic, payload, qos, packetId, dup, retain) => got.push({ topic, payload: Array.from(payload), qos, packetId: qos === 1 ? packetId : 0, dup, retain }),
            onPuback: (id) => got.push(id),
            onSuback: () => assert.fail("a SUBACK"),
            onPingresp: () => assert.fail("a PINGRESP"),
            onError: (error) => assert.fail(error.message),
          },
          1 << 12,
        );
        const wire = Buffer.concat([connack(0), ...packets.map((p) => (typeof p === "number" ? encodePuback(p) : encodePublish(p)))]);
        for (const piece of cutThree(Uint8Array.from(wire), seed)) parser.push(piece);
        const sent = packets.map((p) =>
          typeof p === "number" ? p : { ...p, payload: Array.from(typeof p.payload === "string" ? new TextEncoder().encode(p.payload) : p.payload), packetId: p.qos === 1 ? p.packetId : 0 },
        );
        assert.deepEqual(got, sent);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("every valid Improv packet among log lines is found, and every log byte handed back in order, in any chunking", () => {
    const logLine = fc.tuple(fc.constantFrom("", "IMPRO", "IMPROV", "IMPROVED: ", "I (42) wifi: "), fc.stringMatching(/^[ -~]{0,30}$/), fc.constantFrom("\n", "\r\n", "")).map((parts) => parts.join(""));
    const packet = fc.record({ type: fc.nat(255), data: fc.uint8Array({ maxLength: 255 }) });
    fc.assert(
      fc.property(fc.array(fc.oneof(logLine, packet), { maxLength: 8 }), fc.nat(), (parts, seed) => {
        const found: unknown[] = [];
        let other = "";
        const parser = new ImprovParser({
          onPacket: (type, data) => found.push({ type, data: Array.from(data) }),
          onBadPacket: (problem) => assert.fail(`a ${problem} packet`),
          onOther: (bytes) => (other += Buffer.from(bytes).toString("latin1")),
        });
        // The line ends in a newline, as log lines do ("IMPROV" last, then silence, is a packet cut off).
        const wire = Buffer.concat([...parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : encodeImprovPacket(p.type, p.data))), Buffer.from("\n")]);
        for (const piece of cutThree(Uint8Array.from(wire), seed)) parser.push(piece);
        parser.reset();
        assert.deepEqual(found, parts.filter((p) => typeof p !== "string").map((p) => ({ type: p.type, data: Array.from(p.data) })));
        // Each packet we send ends in a newline, which is no part of the packet: it comes back as text.
        assert.equal(other, parts.map((p) => (typeof p === "string" ? p : "\n")).join("") + "\n");
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it("a form as a browser encodes it (URLSearchParams), POSTed in any chunking, decodes to its fields, each escaped safely", () => {
    const entries = fc.uniqueArray(fc.tuple(fc.string({ unit: "binary", maxLength: 32 }).filter((n) => n.length <= 32), fc.string({ unit: "binary", maxLength: 60 })), {
      maxLength: MAX_FORM_FIELDS,
      selector: ([name]) => name,
    });
    fc.assert(
      fc.property(entries, fc.nat(), (fields, seed) => {
        const body = new TextEncoder().encode(new URLSearchParams(fields).toString());
        fc.pre(body.length <= DEFAULT_HTTP_REQUEST_LIMITS.maxBodyBytes);
        const head = `POST /save HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`;
        const parser = new HttpRequestParser(DEFAULT_HTTP_REQUEST_LIMITS);
        let result: ReturnType<HttpRequestParser["push"]> = { kind: "more" };
        for (const piece of cutThree(Uint8Array.from(Buffer.concat([Buffer.from(head, "latin1"), body])), seed)) {
          const now = parser.push(piece);
          if (now.kind !== "more") result = now;
        }
        assert.equal(result.kind, "request");
        const form = decodeForm((result as { request: { body: Uint8Array } }).request.body);
        assert.ok(form.ok, form.ok ? "" : form.message);
        assert.deepEqual([...form.fields], fields);
        for (const [, value] of fields) assert.ok(!/[<>"']/.test(escapeHtml(value)), escapeHtml(value));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("fuzzing: Node and XS answer the same inputs alike (tests/fuzz/parity.ts)", function () {
  this.timeout(120_000);
  it(`the JSON loop, the frame parser, the MQTT and Improv parsers and the portal's HTTP parser, ${PARITY_RUNS} inputs each`, async function () {
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
