/**
 * src/shared/json.ts: JSON from the network is bounded in size and nesting depth before it is
 * parsed, and parsing never throws.
 */
import assert from "node:assert/strict";
import { clip, nestingExceeds, parseJson } from "../../src/shared/json.js";

const limits = { maxBytes: 8192, maxDepth: 16 };

function nested(depth: number, open = "[", close = "]"): string {
  return open.repeat(depth) + close.repeat(depth);
}

describe("parseJson", () => {
  describe("accepts JSON within the limits", () => {
    for (const text of ['{"type":"ping","id":1}', "[1,2,3]", "42", '"hi"', "null", "true", ' {"a" : [ {} ] } ']) {
      it(`parses ${text.trim()}`, () => {
        assert.deepEqual(parseJson(text, limits), { ok: true, value: JSON.parse(text) });
      });
    }

    it("accepts exactly maxDepth levels", () => {
      const result = parseJson(nested(16), limits);
      assert.equal(result.ok, true);
    });

    it("accepts exactly maxBytes UTF-8 bytes", () => {
      const text = JSON.stringify("x".repeat(8190)); // 8192 bytes with the quotes
      assert.equal(parseJson(text, limits).ok, true);
    });

    it("keeps __proto__ as an ordinary own property", () => {
      const result = parseJson('{"__proto__":{"polluted":true}}', limits);
      assert.ok(result.ok);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.ok(Object.prototype.hasOwnProperty.call(result.value, "__proto__"));
    });
  });

  describe("bad_json", () => {
    for (const text of ["hello", "", "{", '{"a":1,}', "[1,2", "{'a':1}", "undefined", "]]]]"]) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        const result = parseJson(text, limits);
        assert.equal(result.ok, false);
        assert.ok(!result.ok);
        assert.equal(result.code, "bad_json");
        assert.match(result.message, /^not JSON: /);
      });
    }

    it("cuts the engine's message, which may quote the input", () => {
      const result = parseJson("x".repeat(5000), limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "bad_json");
      assert.ok(result.message.length <= "not JSON: ".length + 80 + 3, result.message);
    });

    it("refuses a value that is not a string", () => {
      const result = parseJson(42 as unknown as string, limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "bad_json");
    });
  });

  describe("too_large", () => {
    it("refuses more than maxBytes code units without parsing", () => {
      const result = parseJson("[" + "1,".repeat(5000) + "1]", limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_large");
      assert.match(result.message, /maxJsonBytes \(8192 bytes\)/);
    });

    it("counts UTF-8 bytes: 3000 euro signs are 9000 bytes", () => {
      const text = JSON.stringify("€".repeat(3000));
      assert.ok(text.length < 8192);
      const result = parseJson(text, limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_large");
      assert.match(result.message, /9002 bytes/);
    });

    it("checks the size before the depth", () => {
      const result = parseJson(nested(10_000), limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_large");
    });
  });

  describe("too_deep", () => {
    it("refuses maxDepth + 1 levels of arrays", () => {
      const result = parseJson(nested(17), limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_deep");
      assert.match(result.message, /maxJsonDepth \(16 levels\)/);
    });

    it("refuses mixed objects and arrays", () => {
      const text = '{"a":'.repeat(9) + "[".repeat(8) + "]".repeat(8) + "}".repeat(9);
      const result = parseJson(text, limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_deep");
    });

    it("refuses 10,000 levels without throwing (the native stack is never reached)", () => {
      for (const [open, close] of [["[", "]"], ['{"a":', "}"]]) {
        const text = nested(10_000, open, close);
        const result = parseJson(text, { maxBytes: 1 << 20, maxDepth: 16 });
        assert.ok(!result.ok);
        assert.equal(result.code, "too_deep");
      }
    });

    it("refuses deep nesting even when the text is malformed after it", () => {
      const result = parseJson("[".repeat(100), limits);
      assert.ok(!result.ok);
      assert.equal(result.code, "too_deep");
    });
  });
});

describe("numbers the engines would answer differently (issue 17)", () => {
  // XS's JSON.parse fails on a number written with 256 or more characters, V8's accepts it;
  // both turn 1e309 into Infinity, which a reply then sends as null. Each is refused here,
  // on every engine, with bad_json.
  const refused: Array<[string, string, RegExp]> = [
    ["310 digits (1e309 written out)", "1" + "0".repeat(309), /a number of 310 characters \(at most 255\)/],
    ["256 characters, a finite value", "0." + "0".repeat(253) + "1", /a number of 256 characters/],
    ["1e309 in an object", '{"type":"echo","id":1,"payload":1e309}', /number 1e309 is beyond the range of a double/],
    ["-1E+400 in an array", "[-1E+400]", /number -1E\+400 is beyond the range/],
    ["1.7976931348623159e308 (rounds to Infinity)", "1.7976931348623159e308", /beyond the range/],
  ];
  for (const [what, text, message] of refused) {
    it(`refuses ${what}`, () => {
      const result = parseJson(text, limits);
      assert.ok(!result.ok, `accepted ${text.slice(0, 40)}`);
      assert.equal(result.code, "bad_json");
      assert.match(result.message, message);
    });
  }

  const accepted = ["1.7976931348623157e308", "-1e308", "1e-400", "0." + "0".repeat(252) + "1", "1" + "0".repeat(254), "[1e2,2E-3,-0.5e+1]"];
  for (const text of accepted) {
    it(`accepts ${text.length > 30 ? `a number of ${text.length} characters` : text}`, () => {
      assert.deepEqual(parseJson(text, limits), { ok: true, value: JSON.parse(text) });
    });
  }

  it("leaves numbers inside strings alone", () => {
    const text = JSON.stringify({ n: "1e309", long: "9".repeat(300) });
    assert.deepEqual(parseJson(text, limits), { ok: true, value: JSON.parse(text) });
  });

  it("reports the first problem in the text: a number before too deep nesting", () => {
    const result = parseJson("[1e999," + "[".repeat(20) + "]".repeat(20) + "]", limits);
    assert.ok(!result.ok);
    assert.equal(result.code, "bad_json");
    const deep = parseJson("[".repeat(20) + "1e999" + "]".repeat(20), limits);
    assert.ok(!deep.ok);
    assert.equal(deep.code, "too_deep");
  });
});

describe("nestingExceeds", () => {
  it("ignores brackets inside strings", () => {
    assert.equal(nestingExceeds(JSON.stringify({ a: "[[[[[[[[[[{{{{{{{{" }), 2), false);
  });

  it("is not fooled by escaped quotes", () => {
    // The string holds \" and then brackets: they are still inside the string.
    assert.equal(nestingExceeds('["\\"[[[[["]', 1), false);
    // An escaped backslash ends with the string's quote: the brackets after it count.
    assert.equal(nestingExceeds('["\\\\",[[[]]]]', 3), true);
    assert.equal(nestingExceeds('["\\\\",[[[]]]]', 4), false);
  });

  it("counts depth, not the number of brackets", () => {
    assert.equal(nestingExceeds("[[],[],[],[],[]]", 2), false);
    assert.equal(nestingExceeds("[[[]]]", 2), true);
  });

  it("a scalar has depth 0", () => {
    assert.equal(nestingExceeds("42", 0), false);
    assert.equal(nestingExceeds("[]", 0), true);
  });
});

describe("clip", () => {
  it("leaves short text alone and marks a cut", () => {
    assert.equal(clip("abc", 3), "abc");
    assert.equal(clip("abcd", 3), "abc...");
  });
});
