/**
 * src/health/outbox-slots.ts: records laid out in one storage value, each line checksummed, so
 * a value cut short or damaged is found out record by record.
 */
import assert from "node:assert/strict";
import { decodeSlot, encodeSlot, headerBytes, isUnreadable, recordBytes, SLOT_VALUE_BYTES, type DecodedSlot } from "../../src/health/outbox-slots.js";

const records = [
  { seq: 7, text: '{"type":"telemetry","boot":"b1","seq":7,"data":{"t":21.5}}' },
  { seq: 8, text: '{"type":"telemetry","boot":"b1","seq":8,"data":{"note":"señal ✓ 🙂"}}' },
  { seq: 9, text: '{"type":"telemetry","boot":"b1","seq":9,"data":{}}' },
];

function decoded(value: string): DecodedSlot {
  const slot = decodeSlot(value);
  if (isUnreadable(slot)) assert.fail(`unreadable: ${slot.problem}`);
  return slot;
}

describe("outbox slots", function () {
  it("give back what was written: chunk, boot, every record in order", function () {
    const slot = decoded(encodeSlot(42, "b1", records));
    assert.equal(slot.chunk, 42);
    assert.equal(slot.boot, "b1");
    assert.deepEqual(slot.records, records);
    assert.equal(slot.lost, 0);
    assert.deepEqual(slot.problems, []);
  });

  it("size a slot in UTF-8 bytes as storage counts them, never under", function () {
    const value = encodeSlot(123456, "d2964916", records);
    const bytes = Buffer.byteLength(value, "utf8");
    const estimate = headerBytes(123456, "d2964916") + records.reduce((sum, record) => sum + recordBytes(record), 0);
    // The estimate allows 4 digits for the count and ends every line with a newline.
    assert.ok(estimate >= bytes && estimate - bytes <= 4, `estimate ${estimate}, actual ${bytes}`);
    assert.equal(SLOT_VALUE_BYTES, 3999, "NVS: 4000 bytes with the terminating NUL");
  });

  it("skip a record cut in half (a write cut short), keeping those before it", function () {
    const value = encodeSlot(3, "b1", records);
    const cut = value.slice(0, value.lastIndexOf('"seq":9') + 3);
    const slot = decoded(cut);
    assert.deepEqual(slot.records.map((record) => record.seq), [7, 8]);
    assert.equal(slot.lost, 1);
    assert.match(slot.problems[0]!, /record seq 9 checksum mismatch/);
  });

  it("count the records missing when the value ends early", function () {
    const value = encodeSlot(3, "b1", records);
    const slot = decoded(value.slice(0, value.indexOf("\n8 ")));
    assert.deepEqual(slot.records.map((record) => record.seq), [7]);
    assert.equal(slot.lost, 2);
    assert.match(slot.problems[0]!, /2 of 3 records missing/);
  });

  it("skip a damaged record (one character changed) and keep the others", function () {
    const value = encodeSlot(3, "b1", records).replace("21.5", "21.6");
    const slot = decoded(value);
    assert.deepEqual(slot.records.map((record) => record.seq), [8, 9]);
    assert.equal(slot.lost, 1);
  });

  it("do not let a record pass for another boot's (the checksum covers the boot)", function () {
    const value = encodeSlot(3, "b1", records);
    // A valid header for boot b2 with three records, over b1's record lines.
    const header = encodeSlot(3, "b2", [{ seq: 1, text: "x" }, { seq: 2, text: "y" }, { seq: 3, text: "z" }]).split("\n")[0]!;
    const slot = decoded([header, ...value.split("\n").slice(1)].join("\n"));
    assert.equal(slot.boot, "b2");
    assert.deepEqual(slot.records, [], "every line was made for boot b1");
    assert.equal(slot.lost, 3);
  });

  it("refuse a value whose header is not one: not a slot, cut, or damaged", function () {
    for (const value of ["", "m1 3 b1", "hello", encodeSlot(3, "b1", records).replace("m1 3 ", "m1 4 "), '{"settings":1}']) {
      const slot = decodeSlot(value);
      assert.ok(isUnreadable(slot), `${JSON.stringify(value.slice(0, 20))} is not readable`);
    }
    const slot = decodeSlot(encodeSlot(3, "b1", records).replace("m1 3 ", "m1 4 "));
    assert.ok(isUnreadable(slot) && /checksum/.test(slot.problem));
  });

  it("hold an empty chunk", function () {
    const slot = decoded(encodeSlot(1, "b1", []));
    assert.deepEqual(slot.records, []);
    assert.equal(slot.lost, 0);
  });
});
