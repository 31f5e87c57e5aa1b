/**
 * Fuzz target: the JSON loop's envelope handling (src/device/app.ts with its built-in
 * handlers and src/shared/json.ts), one fresh DeviceApp per input, the input given as the
 * text of one message. Whatever arrives: receive() neither throws nor hits its internal-error
 * path; the device sends at most one message back; it is the input echoed byte for byte (not
 * our envelope), or a `reply` / `error` whose code is one of docs/protocol.md's; a request
 * with a valid id gets exactly one reply carrying that id; a reply stays within
 * maxReplyBytes; no `__proto__` or `constructor` key changes Object.prototype; and an echo
 * request's payload comes back as it went (the round trip).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_APP_LIMITS, DEVICE_MESSAGE_TYPES } from "../../../src/device/app.js";
import { RequestErrorCode } from "../../../src/shared/errors.js";
import { harness } from "../../support/device-app.js";
import type { FuzzTarget } from "../target.js";

const CODES = new Set<string>(Object.values(RequestErrorCode));
const PROTOTYPE_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join(",");

function json(value: unknown): string {
  return JSON.stringify(value) ?? "null";
}

const id = fc.oneof(fc.integer(), fc.string({ maxLength: 70 }), fc.constantFrom(null, true, 1.5, -0, 2 ** 53, "", {}, []));
const keys = fc.constantFrom("telemetryIntervalMs", "__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", "x".repeat(70));
const request = fc
  .record(
    {
      type: fc.oneof(fc.constantFrom("echo", "ping", "status", "config", "ack", "reboot", ...DEVICE_MESSAGE_TYPES, "__proto__", "constructor"), fc.string({ maxLength: 8 })),
      id,
      payload: fc.jsonValue({ maxDepth: 4 }),
      action: fc.constantFrom("get", "set", "delete"),
      key: keys,
      value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.integer({ min: 0, max: 4_000_000 })),
      boot: fc.constantFrom("5f2c9a1e", "other"),
      seq: fc.oneof(fc.nat(), fc.integer(), fc.double()),
    },
    { requiredKeys: ["type"] },
  )
  .map(json);

/** Bombs within maxJsonBytes, and the numbers the engines once read differently. */
const bombs = fc.oneof(
  fc.integer({ min: 1, max: 200 }).map((depth) => `{"type":"echo","id":1,"payload":${"[".repeat(depth)}${"]".repeat(depth)}}`),
  fc.integer({ min: 1, max: 400 }).map((count) => `{"type":"echo","id":2,"payload":{${Array.from({ length: count }, (_, i) => `"k${i}":${i}`).join(",")}}}`),
  fc.constantFrom("__proto__", "constructor", "prototype").chain((key) =>
    fc.constantFrom(
      `{"type":"config","id":3,"action":"set","key":"${key}","value":{"polluted":true}}`,
      `{"type":"config","id":4,"action":"get","key":"${key}"}`,
      `{"type":"echo","id":5,"payload":{"${key}":{"polluted":true}}}`,
      `{"${key}":{"polluted":true},"type":"ping","id":6}`,
      `{"type":"ping","id":7,"${key}":{"type":"status"}}`,
    ),
  ),
  fc.constantFrom("1e309", "-1E+400", "1" + "0".repeat(309), `{"type":"echo","id":8,"payload":1e309}`, `[${"9".repeat(300)}]`, "0." + "0".repeat(300) + "1"),
  fc.integer({ min: 8100, max: 8300 }).map((size) => `{"type":"echo","id":9,"payload":"${"x".repeat(size - 34)}"}`),
);

export const jsonLoopTarget: FuzzTarget = {
  name: "json-loop",
  about: "src/device/app.ts (envelope, dispatch, built-in handlers) and src/shared/json.ts, one message per input",
  inputs: fc.oneof({ weight: 4, arbitrary: request }, { weight: 2, arbitrary: bombs }, { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) }).map((text) => new TextEncoder().encode(text)),
  maxBytes: 9000,
  check(bytes) {
    const text = new TextDecoder().decode(bytes);
    const h = harness({ log: (_level, event) => {
      assert.notEqual(event, "app_internal_error", "the loop's internal error path");
    } });
    h.app.receive(text);
    assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(","), PROTOTYPE_KEYS, "Object.prototype changed");
    assert.equal(({} as Record<string, unknown>).polluted, undefined, "Object.prototype polluted");
    const sent = h.texts.splice(0);
    assert.ok(sent.length <= 1, `${sent.length} messages sent for one input`);

    let input: unknown;
    let parsedOk = true;
    try {
      input = JSON.parse(text);
    } catch {
      parsedOk = false;
    }
    const envelope = parsedOk && input !== null && typeof input === "object" && !Array.isArray(input) && typeof (input as { type?: unknown }).type === "string";
    if (sent.length === 0) {
      // Only ours coming back, or an ack, get no answer.
      assert.ok(envelope, `no answer to ${text.slice(0, 80)}`);
      const type = (input as { type: string }).type;
      assert.ok(type === "ack" || DEVICE_MESSAGE_TYPES.includes(type), `no answer to type ${type}`);
      return;
    }
    const out = sent[0]!;
    if (out === text) return; // the echo of what is not our envelope
    const answer = JSON.parse(out) as { type: string; id?: unknown; result?: unknown; error?: { code: string; message: string } };
    assert.ok(answer.type === "reply" || answer.type === "error", `sent a ${answer.type}`);
    assert.ok(new TextEncoder().encode(out).length <= DEFAULT_APP_LIMITS.maxReplyBytes, `a reply of ${out.length} characters`);
    if (answer.error) {
      assert.ok(CODES.has(answer.error.code), `error code ${answer.error.code}`);
      assert.equal(typeof answer.error.message, "string");
    }
    if (answer.type === "reply") {
      const request = input as { id: unknown; type: string; payload?: unknown };
      assert.ok(envelope && Object.prototype.hasOwnProperty.call(request, "id"), "a reply to a request");
      assert.deepEqual(answer.id, request.id, "the reply carries the request's id");
      if (request.type === "echo" && answer.result !== undefined) {
        assert.equal(json((answer.result as { payload: unknown }).payload), json(request.payload), "the echo's payload round-trips");
      }
    } else if (envelope && Object.prototype.hasOwnProperty.call(input, "id") && !["bad_json", "too_large", "too_deep"].includes(answer.error!.code)) {
      // Text it could read with an id gets an `error` message (no id to answer) only when the id is invalid.
      const requestId = (input as { id: unknown }).id;
      const validId = (typeof requestId === "string" && requestId.length >= 1 && requestId.length <= 64) || Number.isSafeInteger(requestId);
      const type = (input as { type: string }).type;
      assert.ok(!validId || type === "ack", `an error message instead of a reply for id ${json(requestId)}`);
    }
  },
};
