import assert from "node:assert/strict";
import type { Line, LineEnd } from "../../../tools/monitor/line-splitter.js";
import { eventMatcher } from "../../../tools/monitor/options.js";
import { localTime } from "../../../src/shared/log-format.js";
import { lineText, renderLine, type RenderOptions } from "../../../tools/monitor/render.js";

const AT = new Date(2026, 0, 1, 9, 8, 7, 65).getTime();
const PRETTY: RenderOptions = { raw: false, colour: false, minLevel: "debug", events: [], onlyJson: false };

function line(text: string | Uint8Array, end: LineEnd = "newline", continuation = false): Line {
  return { raw: typeof text === "string" ? Buffer.from(text, "utf8") : text, receivedAt: AT, end, continuation };
}

function pretty(text: string | Uint8Array, options: Partial<RenderOptions> = {}, end: LineEnd = "newline"): string | undefined {
  const out = renderLine(line(text, end), { ...PRETTY, ...options });
  assert.ok(out === undefined || typeof out === "string");
  return out;
}

const record = (level: string, event: string, more = ""): string => `{"t":"2026-01-01T10:00:00.123Z","level":"${level}","event":"${event}"${more}}\n`;

describe("renderLine", function () {
  it("starts every line with the local time it came, HH:MM:SS.mmm", function () {
    assert.equal(localTime(AT), "09:08:07.065");
    assert.equal(pretty("hello\r\n"), "09:08:07.065 hello\n");
  });

  it("makes a log line readable and shows any other line as it came, without its \\r\\n", function () {
    assert.equal(pretty(record("info", "ws_open", ',"url":"ws://h/"')), "09:08:07.065 10:00:00.123 info  ws_open url=ws://h/\n");
    assert.equal(pretty("rst:0x1 (POWERON_RESET),boot:0x13\r\r\n"), "09:08:07.065 rst:0x1 (POWERON_RESET),boot:0x13\n");
  });

  it("dims other lines when colouring, and keeps the device's own colours then (ESP-IDF logs), dropping them otherwise", function () {
    const idf = "\x1b[0;32mI (31) boot: ESP-IDF v5.1\x1b[0m\n";
    assert.equal(pretty(idf, { colour: true }), "09:08:07.065 \x1b[2m\x1b[0;32mI (31) boot: ESP-IDF v5.1\x1b[0m\x1b[0m\n");
    assert.equal(pretty(idf), "09:08:07.065 I (31) boot: ESP-IDF v5.1\n");
  });

  it("shows garbage and control characters as escapes: nothing from the device drives the terminal", function () {
    const out = pretty(Uint8Array.of(0xff, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0x07, 0x08, 0x41, 0x0a))!;
    assert.equal(out, "09:08:07.065 \uFFFD\\x00\\x1b[2J\\x07\\x08A\n");
  });

  it("leaves out blank lines", function () {
    assert.equal(pretty("\r\n"), undefined);
    assert.equal(pretty("   \n"), undefined);
  });

  it("marks a partial line, a cut line and its continuation", function () {
    assert.equal(pretty('{"t":"x","lev', {}, "partial"), '09:08:07.065 {"t":"x","lev [no end of line]\n');
    assert.equal(pretty("abcd", {}, "cut"), "09:08:07.065 abcd [cut at 4 bytes; continues on the next line]\n");
    assert.equal(renderLine(line("ef\n", "newline", true), PRETTY), "09:08:07.065 [continued] ef\n");
    assert.equal(renderLine(line("\n", "newline", true), PRETTY), undefined, "a cut line's bare newline shows nothing");
  });

  it("shows a log line glued to the partial line a reset left, apart from it", function () {
    const glued = '{"t":"2026-01-01T10:00:00.000Z","level":"warn","event":"ws_cl\xff\x00' + record("error", "boot");
    assert.equal(pretty(glued), '09:08:07.065 {"t":"2026-01-01T10:00:00.000Z","level":"warn","event":"ws_cl\u00ff\\x00\n09:08:07.065 10:00:00.123 error boot\n');
    // A nested "t" inside a valid record is not a glue point.
    assert.equal(pretty(record("info", "e", ',"x":{"t":1}')), '09:08:07.065 10:00:00.123 info  e x={"t":1}\n');
  });

  describe("filters", function () {
    const lines = [record("debug", "tick"), record("info", "ws_open"), record("warn", "ws_slow"), record("error", "wifi_lost"), record("fatal", "odd"), "Guru Meditation Error\n"];
    const shown = (options: Partial<RenderOptions>): string[] =>
      lines.filter((text) => pretty(text, options) !== undefined).map((text) => /"event":"(\w+)"/.exec(text)?.[1] ?? text.trim());

    it("--level shows that level and above, a level it does not know, and every non-JSON line", function () {
      assert.deepEqual(shown({ minLevel: "warn" }), ["ws_slow", "wifi_lost", "odd", "Guru Meditation Error"]);
      assert.deepEqual(shown({ minLevel: "debug" }), ["tick", "ws_open", "ws_slow", "wifi_lost", "odd", "Guru Meditation Error"]);
    });

    it("--event shows the events any matcher accepts, and every non-JSON line", function () {
      assert.deepEqual(shown({ events: [eventMatcher("ws_")] }), ["ws_open", "ws_slow", "Guru Meditation Error"]);
      assert.deepEqual(shown({ events: [eventMatcher("ws_"), eventMatcher("^t")] }), ["tick", "ws_open", "ws_slow", "Guru Meditation Error"]);
    });

    it("--only-json hides the non-JSON lines; filters combine", function () {
      assert.deepEqual(shown({ onlyJson: true, minLevel: "info", events: [eventMatcher("w")] }), ["ws_open", "ws_slow", "wifi_lost"]);
    });
  });

  describe("--raw", function () {
    it("gives the line's bytes untouched: terminator, garbage, control characters", function () {
      const raw = Uint8Array.of(0xff, 0x1b, 0x5b, 0x6d, 0x0d, 0x0a);
      const out = renderLine(line(raw), { ...PRETTY, raw: true });
      assert.deepEqual(out, raw);
      assert.deepEqual(renderLine(line("half", "partial"), { ...PRETTY, raw: true }), Buffer.from("half"));
    });

    it("still filters", function () {
      const options: RenderOptions = { ...PRETTY, raw: true, minLevel: "warn" };
      assert.equal(renderLine(line(record("info", "e")), options), undefined);
      assert.ok(renderLine(line(record("error", "e")), options));
      assert.ok(renderLine(line("boot\n"), options));
      assert.equal(renderLine(line("boot\n"), { ...options, onlyJson: true }), undefined);
    });
  });

  it("reads a line's text without \\n and any \\r before it, garbage as U+FFFD", function () {
    assert.equal(lineText(Buffer.from("a\r\r\n")), "a");
    assert.equal(lineText(Buffer.from("a\rb")), "a\rb");
    assert.equal(lineText(Uint8Array.of(0x61, 0xc3)), "a\uFFFD");
  });
});
