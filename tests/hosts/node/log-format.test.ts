import assert from "node:assert/strict";
import { createJsonLog } from "../../../hosts/node/host.js";
import { deviceTime, formatDeviceLine, formatLogRecord, levelRank, parseLogLine, printable } from "../../../hosts/node/log-format.js";

/** One line exactly as the device's log writes it. */
function logged(level: "debug" | "info" | "warn" | "error", event: string, fields?: Record<string, unknown>): string {
  let line = "";
  createJsonLog({ write: (text: string) => (line = text) }, "debug")(level, event, fields);
  return line.replace(/\n$/, "");
}

describe("log-format", function () {
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

    it("escapes C0 and C1 controls but keeps tabs and text", function () {
      assert.equal(printable("a\tb\r\n\x00\x7f\u009bé"), "a\tb\\r\\n\\x00\\x7f\\x9bé");
    });
  });
});
