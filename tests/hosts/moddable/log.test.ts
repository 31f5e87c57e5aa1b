/**
 * The Moddable host's log (hosts/moddable/log.ts): one JSON line per event through trace(),
 * in exactly the format of the Node host's createJsonLog, so the serial monitor reads a real
 * device as it reads the simulated one.
 */
import assert from "node:assert/strict";
import { createJsonLog } from "../../../hosts/node/host.js";
import { createTraceLog } from "../../../hosts/moddable/log.js";
import { invalidArgument } from "../../../src/shared/errors.js";

const T = "1970-01-01T00:00:05.120Z";

function traced(minLevel?: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  const log = createTraceLog({ print: (line) => lines.push(line), now: () => T, ...(minLevel ? { minLevel } : {}) });
  return { log, lines };
}

describe("Moddable host log (hosts/moddable/log.ts)", function () {
  it("prints one complete JSON line per event: t, level, event, then the fields", function () {
    const { log, lines } = traced();
    log("info", "ws_open", { host: "10.0.0.2", port: 8080 });
    assert.deepEqual(lines, [`{"t":"${T}","level":"info","event":"ws_open","host":"10.0.0.2","port":8080}\n`]);
  });

  it("writes what createJsonLog writes for the same event, but for the time", function () {
    const fields = {
      bytes: new Uint8Array(7),
      big: 12345678901234567890n,
      error: invalidArgument("storage key too long"),
      plain: new RangeError("out of range"),
      event: "shadowed",
      nested: { list: [1, "two", null] },
    };
    const { log, lines } = traced("debug");
    log("warn", "sample", fields);
    const nodeLines: string[] = [];
    createJsonLog({ write: (line: string) => nodeLines.push(line) }, "debug")("warn", "sample", fields);
    const ours = JSON.parse(lines[0]!) as Record<string, unknown>;
    const node = JSON.parse(nodeLines[0]!) as Record<string, unknown>;
    assert.equal(ours.t, T);
    delete ours.t;
    delete node.t;
    assert.deepEqual(ours, node);
    assert.deepEqual(Object.keys(ours), Object.keys(node));
    assert.equal(ours.bytes, "<7 bytes>");
    assert.equal(ours.big, "12345678901234567890");
    assert.deepEqual(ours.error, { name: "WebSocketError", code: "ERR_INVALID_ARGUMENT", message: "storage key too long" });
    assert.deepEqual(ours.plain, { name: "RangeError", message: "out of range" });
    assert.equal(ours.event, "sample");
    assert.equal(ours._event, "shadowed");
  });

  it("prints events at or above the level it was given (info by default)", function () {
    const { log, lines } = traced();
    log("debug", "hidden");
    log("info", "a");
    log("warn", "b");
    log("error", "c");
    assert.deepEqual(lines.map((line) => (JSON.parse(line) as { event: string }).event), ["a", "b", "c"]);
    const quiet = traced("error");
    quiet.log("warn", "hidden");
    quiet.log("error", "shown");
    assert.equal(quiet.lines.length, 1);
  });

  it("never throws from a log call: a field it cannot serialise becomes a note", function () {
    const { log, lines } = traced();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.doesNotThrow(() => log("error", "odd", { cyclic }));
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record.event, "odd");
    assert.equal(record.level, "error");
    assert.equal(typeof record.logError, "string");
  });

  it("uses the device clock's ISO time when no clock is given", function () {
    const lines: string[] = [];
    createTraceLog({ print: (line) => lines.push(line) })("info", "tick");
    assert.match((JSON.parse(lines[0]!) as { t: string }).t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("refuses an unknown level with a RangeError naming it", function () {
    assert.throws(() => createTraceLog({ print: () => {}, minLevel: "loud" as "info" }), {
      name: "RangeError",
      message: 'unknown log level "loud"',
    });
  });
});
