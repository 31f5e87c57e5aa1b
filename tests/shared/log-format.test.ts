/**
 * The firmware's log format (src/shared/log-format.ts): the one JSON line every host writes,
 * the level scale and its filter, and the readable line every reader makes of it.
 */
import assert from "node:assert/strict";
import { createJsonLog } from "../../hosts/node/host.js";
import { invalidArgument } from "../../src/shared/errors.js";
import {
  createLog,
  deviceTime,
  errorMessage,
  formatDeviceLine,
  formatLogLine,
  formatLogRecord,
  formatValue,
  isLogLevel,
  levelRank,
  levelShown,
  localTime,
  LOG_LEVELS,
  parseLogLine,
  printable,
} from "../../src/shared/log-format.js";

/** One line exactly as the device's log writes it. */
function logged(level: "debug" | "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): string {
  let line = "";
  createJsonLog({ write: (text: string) => (line = text) }, "debug")(level, event, fields);
  return line.replace(/\n$/, "");
}

describe("log-format (src/shared/log-format.ts)", function () {
  describe("levels", function () {
    it("are debug < info < warn < error, in a frozen table", function () {
      assert.deepEqual(LOG_LEVELS, ["debug", "info", "warn", "error"]);
      assert.ok(Object.isFrozen(LOG_LEVELS));
      assert.deepEqual(["debug", "info", "warn", "error", "fatal", "INFO"].map(isLogLevel), [true, true, true, true, false, false]);
    });

    it("filter once: a level at or above the minimum passes, one we don't know always does", function () {
      assert.deepEqual(LOG_LEVELS.map((level) => levelShown(level, "warn")), [false, false, true, true]);
      assert.deepEqual(LOG_LEVELS.map((level) => levelShown(level, "debug")), [true, true, true, true]);
      assert.equal(levelShown("fatal", "error"), true, "a filter never hides what it cannot judge");
    });
  });

  describe("formatLogLine and createLog (what every host writes)", function () {
    const T = "2026-01-01T00:00:00.000Z";

    it("writes t, level, event, then the fields in their order, one line", function () {
      assert.equal(formatLogLine(T, "info", "ws_open", { url: "ws://h/", attempt: 2 }), `{"t":"${T}","level":"info","event":"ws_open","url":"ws://h/","attempt":2}`);
    });

    it("shows bytes by length, bigints as text, errors by name, code and message", function () {
      const line = formatLogLine(T, "warn", "e", { bytes: new Uint8Array(5), big: 2n ** 70n, error: invalidArgument("bad"), plain: new TypeError("x") });
      assert.deepEqual(JSON.parse(line), {
        t: T,
        level: "warn",
        event: "e",
        bytes: "<5 bytes>",
        big: "1180591620717411303424",
        error: { name: "WebSocketError", code: "ERR_INVALID_ARGUMENT", message: "bad" },
        plain: { name: "TypeError", message: "x" },
      });
    });

    it("keeps t, level and event: a field of that name is written with a _ prefix; any other name is a field", function () {
      const fields = JSON.parse('{"event":"mine","t":1,"__proto__":{"x":1},"toString":"s"}') as Record<string, unknown>;
      const record = JSON.parse(formatLogLine(T, "info", "real", fields)) as Record<string, unknown>;
      assert.equal(record.event, "real");
      assert.equal(record._event, "mine");
      assert.equal(record._t, 1);
      assert.deepEqual(Object.keys(record), ["t", "level", "event", "_event", "_t", "__proto__", "toString"]);
    });

    it("never throws: a field it cannot serialise becomes a note", function () {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const record = JSON.parse(formatLogLine(T, "error", "odd", { cyclic })) as Record<string, unknown>;
      assert.equal(record.event, "odd");
      assert.match(String(record.logError), /circular/i);
    });

    it("createLog prints lines at or above its level, with the clock it is given, and refuses a level it does not know", function () {
      const lines: string[] = [];
      const log = createLog({ print: (line) => lines.push(line), minLevel: "warn", now: () => T });
      log("info", "hidden");
      log("warn", "shown", { n: 1 });
      assert.deepEqual(lines, [`{"t":"${T}","level":"warn","event":"shown","n":1}\n`]);
      assert.throws(() => createLog({ print: () => {}, minLevel: "loud" as "info", now: () => T }), { name: "RangeError", message: 'unknown log level "loud"' });
    });
  });

  describe("errorMessage", function () {
    it("is an error's message, or the text of anything else thrown", function () {
      assert.equal(errorMessage(new RangeError("too big")), "too big");
      assert.equal(errorMessage("plain"), "plain");
      assert.equal(errorMessage(42), "42");
    });
  });

  describe("parseLogLine", function () {
    it("reads back what createJsonLog writes: time, level, event and the other fields in order", function () {
      const record = parseLogLine(logged("warn", "ws_close", { code: 1006, reason: "" }));
      assert.ok(record);
      assert.match(String(record.t), /^\d{4}-\d\d-\d\dT/);
      assert.equal(record.level, "warn");
      assert.equal(record.event, "ws_close");
      assert.deepEqual(Object.entries(record.fields), [["code", 1006], ["reason", ""]]);
    });

    it("takes a line with \\r or spaces around it", function () {
      assert.equal(parseLogLine(' {"t":"x","level":"info","event":"a"}\r')?.event, "a");
    });

    it("gives undefined for anything that is not a log record", function () {
      for (const line of [
        "",
        "ets Jun  8 2016 00:22:57",
        '{"t":"2026-01-01T00:00:00.000Z","level":"info","event":"ws_cl',
        "[1,2]",
        '{"level":"info"}',
        '{"event":42}',
        "null",
        "{}",
      ]) {
        assert.equal(parseLogLine(line), undefined, line);
      }
    });

    it("calls a record without a string level info", function () {
      assert.equal(parseLogLine('{"event":"x","level":3}')?.level, "info");
    });
  });

  describe("formatLogRecord", function () {
    it("writes device time, level padded to 5, event, then key=value", function () {
      const record = parseLogLine('{"t":"2026-01-01T10:00:00.123Z","level":"info","event":"ws_open","url":"ws://h/","attempt":2,"ok":true,"rtt":{"ms":3},"none":null}')!;
      assert.equal(formatLogRecord(record, false), '10:00:00.123 info  ws_open url=ws://h/ attempt=2 ok=true rtt={"ms":3} none=null');
    });

    it("quotes a string value that is empty or holds spaces, = or quotes, so the line reads back unambiguously", function () {
      const record = parseLogLine(JSON.stringify({ t: 0, level: "info", event: "e", a: "", b: "two words", c: "k=v", d: 'say "hi"', e: "plain" }))!;
      assert.equal(formatLogRecord(record, false), '0.000s info  e a="" b="two words" c="k=v" d="say \\"hi\\"" e=plain');
    });

    it("shows control characters from the device as escapes, never raw", function () {
      const record = parseLogLine(JSON.stringify({ level: "info\x1b[2J", event: "x\x1b]0;pwned\x07", msg: "a\x1bb", ["k\r"]: 1 }))!;
      const text = formatLogRecord(record, false);
      assert.doesNotMatch(text, /[\x00-\x1f\x7f]/);
      assert.equal(text, 'info\\x1b[2J x\\x1b]0;pwned\\x07 msg="a\\u001bb" k\\r=1');
    });

    it("colours the level (error red, warn yellow, info green, debug grey) only when asked", function () {
      const record = (level: string) => parseLogLine(JSON.stringify({ t: "2026-01-01T10:00:00.000Z", level, event: "e" }))!;
      assert.ok(formatLogRecord(record("error"), true).includes("\x1b[31merror\x1b[0m"));
      assert.ok(formatLogRecord(record("warn"), true).includes("\x1b[33mwarn \x1b[0m"));
      assert.ok(formatLogRecord(record("info"), true).includes("\x1b[32minfo \x1b[0m"));
      assert.ok(formatLogRecord(record("debug"), true).includes("\x1b[90mdebug\x1b[0m"));
      assert.doesNotMatch(formatLogRecord(record("error"), false), /\x1b/);
    });

    it("leaves out a time it cannot read", function () {
      assert.equal(formatLogRecord(parseLogLine('{"t":"soon","level":"info","event":"e"}')!, false), "info  e");
    });
  });

  describe("formatDeviceLine", function () {
    it("formats log lines and returns any other line as it is", function () {
      assert.match(formatDeviceLine(logged("info", "hello", { n: 1 }), false), /^\d\d:\d\d:\d\d\.\d{3} info  hello n=1$/);
      assert.equal(formatDeviceLine("rst:0x1 (POWERON_RESET)", false), "rst:0x1 (POWERON_RESET)");
    });
  });

  describe("helpers", function () {
    it("ranks the levels debug < info < warn < error, and knows no other", function () {
      assert.deepEqual(["debug", "info", "warn", "error", "fatal"].map(levelRank), [0, 1, 2, 3, undefined]);
    });

    it("reads the device time from an ISO string or milliseconds of uptime", function () {
      assert.equal(deviceTime("2026-01-01T10:00:00.123Z"), "10:00:00.123");
      assert.equal(deviceTime(12345), "12.345s");
      assert.equal(deviceTime(undefined), "");
    });

    it("shows a local clock time as HH:MM:SS.mmm", function () {
      assert.equal(localTime(new Date(2026, 0, 2, 3, 4, 5, 67).getTime()), "03:04:05.067");
    });

    it("shows a value as key=value does: bare words, quoted text, JSON for the rest", function () {
      assert.deepEqual(["plain", "", "a b", 3, null, [1], { a: 1 }].map(formatValue), ["plain", '""', '"a b"', "3", "null", "[1]", '{"a":1}']);
    });

    it("escapes C0 and C1 controls but keeps tabs and text", function () {
      assert.equal(printable("a\tb\r\n\x00\x7f\u009bé"), "a\tb\\r\\n\\x00\\x7f\\x9bé");
    });
  });
});
