/**
 * The setup form's decoding and the page's escaping (src/provisioning/form.ts).
 */
import assert from "node:assert/strict";
import { decodeForm, escapeHtml, MAX_FORM_FIELDS } from "../../src/provisioning/form.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function fields(text: string): Record<string, string> {
  const result = decodeForm(bytes(text));
  assert.ok(result.ok, result.ok ? "" : result.message);
  return Object.fromEntries(result.fields);
}

function refused(text: string | Uint8Array): string {
  const result = decodeForm(typeof text === "string" ? bytes(text) : text);
  assert.equal(result.ok, false);
  return result.ok ? "" : result.message;
}

describe("decodeForm", () => {
  it("reads names and values: + is a space, %XX a byte, the bytes UTF-8", () => {
    assert.deepEqual(fields("ssid=Caf%C3%A9+%26+Bar&password=a%2Bb%3D%25&url=ws%3A%2F%2Fh%3A1%2F"), {
      ssid: "Café & Bar",
      password: "a+b=%",
      url: "ws://h:1/",
    });
  });

  it("takes a field without = as empty, skips empty parts, and an empty body as no field", () => {
    assert.deepEqual(fields("a&&b=&c=1&"), { a: "", b: "", c: "1" });
    assert.deepEqual(fields(""), {});
  });

  it("refuses bad percent-encoding, naming the field, never its value", () => {
    assert.match(refused("ssid=ok&password=secret%G1"), /field "password" is not UTF-8 text with valid percent-encoding/);
    assert.match(refused("password=secret%"), /field "password"/);
    assert.match(refused("password=secret%4"), /field "password"/);
    assert.ok(!refused("password=topsecret%zz").includes("topsecret"));
  });

  it("refuses values that are not UTF-8 (decoded or raw)", () => {
    assert.match(refused("ssid=%FF%FE"), /field "ssid"/);
    assert.match(refused(new Uint8Array([0x73, 0x3d, 0xc3])), /field "s"/);
  });

  it("refuses a field named twice, an overlong name and too many fields", () => {
    assert.match(refused("ssid=a&ssid=b"), /field "ssid" is given twice/);
    assert.match(refused(`${"n".repeat(40)}=1`), /field 1 has a name that is not short UTF-8 text/);
    const many = Array.from({ length: MAX_FORM_FIELDS + 1 }, (_, i) => `f${i}=1`).join("&");
    assert.match(refused(many), new RegExp(`more than ${MAX_FORM_FIELDS} fields`));
  });

  it("names a field with markup safely", () => {
    assert.match(refused("<b>=1&<b>=2"), /field "\?b\?" is given twice/);
  });
});

describe("escapeHtml", () => {
  it("escapes the five characters that matter in text and attributes", () => {
    assert.equal(escapeHtml(`<script>alert("x")</script> & 'y'`), "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;");
  });

  it("keeps text, tabs and newlines; replaces controls and lone surrogates", () => {
    assert.equal(escapeHtml("Café ☕ 🐱\tok\n"), "Café ☕ 🐱\tok\n");
    assert.equal(escapeHtml("a\u0000b\u001bc\u007f"), "a\uFFFDb\uFFFDc\uFFFD");
    assert.equal(escapeHtml("x\uD800y"), "x\uFFFDy");
  });
});
