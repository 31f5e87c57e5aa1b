import assert from "node:assert/strict";
import { LineSplitter, MAX_LINE_BYTES, type Line } from "../../../tools/monitor/line-splitter.js";

const bytes = (text: string): Uint8Array => Buffer.from(text, "latin1");
const text = (raw: Uint8Array): string => Buffer.from(raw).toString("latin1");

function splitter(maxLineBytes?: number): { lines: Line[]; split: LineSplitter } {
  const lines: Line[] = [];
  return { lines, split: new LineSplitter((line) => lines.push(line), maxLineBytes) };
}

describe("LineSplitter", function () {
  it("hands out each line with its own terminator, \\n or \\r\\n, as received", function () {
    const { lines, split } = splitter();
    split.push(bytes("ets Jun  8 2016\r\n\r\n{\"event\":\"a\"}\nhalf"), 1000);
    assert.deepEqual(
      lines.map((line) => [text(line.raw), line.end]),
      [
        ["ets Jun  8 2016\r\n", "newline"],
        ["\r\n", "newline"],
        ['{"event":"a"}\n', "newline"],
      ],
    );
    assert.equal(split.pending, 4);
  });

  it("gives the same lines whatever the chunking, down to single bytes", function () {
    const input = 'boot\r\n{"t":"x","event":"e","v":"\u00e9"}\n\nlast line\r\n';
    const expected = ["boot\r\n", '{"t":"x","event":"e","v":"\u00e9"}\n', "\n", "last line\r\n"];
    const all = bytes(input);
    for (let cut = 0; cut <= all.length; cut++) {
      const { lines, split } = splitter();
      split.push(all.subarray(0, cut), 0);
      split.push(all.subarray(cut), 0);
      assert.deepEqual(lines.map((line) => text(line.raw)), expected, `cut at ${cut}`);
    }
    const { lines, split } = splitter();
    for (const byte of all) split.push(Uint8Array.of(byte), 0);
    assert.deepEqual(lines.map((line) => text(line.raw)), expected, "byte by byte");
  });

  it("stamps a line with the time its first byte came", function () {
    const { lines, split } = splitter();
    split.push(bytes("slow "), 1000);
    split.push(bytes("line\nnext"), 1250);
    split.push(bytes("\n"), 1300);
    assert.deepEqual(lines.map((line) => line.receivedAt), [1000, 1250]);
  });

  it("hands out a pending partial line on flush, marked partial, and nothing when none is pending", function () {
    const { lines, split } = splitter();
    split.flush();
    assert.equal(lines.length, 0);
    split.push(bytes('{"t":"x","lev'), 5);
    split.flush();
    assert.deepEqual(lines.map((line) => [text(line.raw), line.end, line.receivedAt]), [['{"t":"x","lev', "partial", 5]]);
    assert.equal(split.pending, 0);
    split.push(bytes("el\n"), 9);
    assert.deepEqual(lines.map((line) => text(line.raw)), ['{"t":"x","lev', "el\n"]);
  });

  it("cuts a line that reaches the limit into pieces, losing nothing, and marks the pieces", function () {
    const { lines, split } = splitter(8);
    split.push(bytes("0123456789abcdefghij\nok\n"), 0);
    assert.deepEqual(
      lines.map((line) => [text(line.raw), line.end, line.continuation]),
      [
        ["01234567", "cut", false],
        ["89abcdef", "cut", true],
        ["ghij\n", "newline", true],
        ["ok\n", "newline", false],
      ],
    );
  });

  it("holds at most the limit, however long the device goes without a newline", function () {
    const { lines, split } = splitter();
    const chunk = new Uint8Array(4096).fill(0xff);
    for (let i = 0; i < 100; i++) {
      split.push(chunk, i);
      assert.ok(split.pending < MAX_LINE_BYTES);
    }
    assert.equal(lines.length, Math.floor((100 * 4096) / MAX_LINE_BYTES));
    assert.ok(lines.every((line) => line.raw.length === MAX_LINE_BYTES && line.end === "cut"));
  });

  it("hands out copies: a line stays as it was after more bytes come", function () {
    const { lines, split } = splitter();
    split.push(bytes("first\n"), 0);
    split.push(bytes("SECOND\n"), 0);
    assert.equal(text(lines[0]!.raw), "first\n");
  });

  it("refuses a limit that is not a positive integer", function () {
    assert.throws(() => new LineSplitter(() => {}, 0), RangeError);
    assert.throws(() => new LineSplitter(() => {}, 1.5), RangeError);
  });
});
