/**
 * Fuzz target: the captive portal's strict HTTP/1.1 request parser
 * (src/provisioning/http-request.ts), its form decoding and HTML escaping
 * (src/provisioning/form.ts). Each input is what a phone sends the portal. Fed whole, cut at
 * hash-chosen places and byte by byte, the outcome is the same; the parser never throws and
 * never holds a head over maxHeadBytes or a body over maxBodyBytes. A reference reading of
 * RFC 9112 (below, whole-input) lists what is wrong with the input, each with the status
 * that says so (400, 411, 413, 414, 431, 501, 505): the parser refuses exactly when the list
 * is not empty, with one of its statuses and a message of printable ASCII; otherwise it
 * returns the request the reference reads, body and all, once the body is in. A body is
 * decoded as Node's URLSearchParams (the WHATWG urlencoded parser, what a browser's form
 * encoding is read with) decodes it, refused only for what the strict decoder names (bad
 * percent-encoding, bytes that are not UTF-8, a name twice, too many fields, a long name);
 * and escapeHtml's output has no raw < > & " ' and reads back as its input.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeForm, escapeHtml, MAX_FORM_FIELDS } from "../../../src/provisioning/form.js";
import type { HttpParseResult, HttpRequestParser } from "../../../src/provisioning/http-request.js";
import { HTTP_FUZZ_LIMITS as LIMITS, httpOutcome } from "../../support/xs/fuzz-observe.js";
import { chunkings, toHex, type FuzzTarget } from "../target.js";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const trim = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, "");

interface Reading {
  /** What is wrong with the input, as the statuses that say so. */
  reasons: Set<number>;
  /** The head ended (CRLF CRLF). */
  complete: boolean;
  /** The request as the parser must give it, as httpOutcome writes it (no reasons, body in). */
  outcome: string | undefined;
  body: Uint8Array | undefined;
}

/** The input read by RFC 9112's rules, as strictly as the portal's documentation says. */
function reference(bytes: Uint8Array): Reading {
  const text = String.fromCharCode(...bytes);
  const end = text.indexOf("\r\n\r\n");
  const complete = end >= 0;
  const head = complete ? text.slice(0, end + 4) : text;
  const reasons = new Set<number>();
  if (head.length > LIMITS.maxHeadBytes) reasons.add(431);
  const firstLf = text.indexOf("\n");
  if ((firstLf < 0 ? text.length : firstLf + 1) > LIMITS.maxRequestLineBytes) reasons.add(414);
  // Section 2.2: lines end in CRLF (a CR last may still get its LF); no control byte but HTAB.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(head) || /\r(?!\n|$)/.test(head) || /(^|[^\r])\n/.test(head)) reasons.add(400);
  const lines = head.split("\r\n").slice(0, -1); // the complete lines
  let request: [method: string, path: string, query: string, minor: number] | undefined;
  if (lines.length > 0) {
    // Section 3: method SP request-target SP HTTP-version.
    const parts = lines[0]!.split(" ");
    const version = /^HTTP\/([0-9])\.([0-9])$/.exec(parts[2] ?? "");
    if (parts.length !== 3 || !TOKEN.test(parts[0]!) || parts[0]!.length > 16 || version === null) reasons.add(400);
    else if (version[1] !== "1") reasons.add(505);
    const target = parts[1] ?? "";
    const absolute = /^http:\/\/[^/?]+/i.exec(target);
    const rest = absolute === null ? target : target.slice(absolute[0].length) || "/";
    if (!/^[\u0021-\u007e]+$/.test(target) || target.includes("#") || !rest.startsWith("/")) reasons.add(400);
    const question = rest.indexOf("?");
    if (version !== null) request = [parts[0]!, question < 0 ? rest : rest.slice(0, question), question < 0 ? "" : rest.slice(question + 1), Number(version[2])];
  }
  // Section 5: field-name ":" OWS field-value OWS, no folding, no space before the colon.
  const fields = new Map<string, string[]>();
  let count = 0;
  for (const line of lines.slice(1)) {
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) reasons.add(400);
    else {
      const name = line.slice(0, colon).toLowerCase();
      fields.set(name, [...(fields.get(name) ?? []), trim(line.slice(colon + 1))]);
    }
    if (++count > LIMITS.maxFields) reasons.add(431);
  }
  const lengths = fields.get("content-length") ?? [];
  if (lengths.some((value) => !/^[0-9]{1,10}$/.test(value)) || new Set(lengths.map(Number)).size > 1) reasons.add(400);
  const length = lengths.length > 0 ? Number(lengths[0]) : undefined;
  if (complete && request !== undefined) {
    const hosts = fields.get("host")?.length ?? 0;
    if (request[3] >= 1 && hosts !== 1) reasons.add(400); // section 3.2: exactly one Host in 1.1
    if (fields.has("transfer-encoding")) reasons.add(length === undefined ? 501 : 400); // section 6.1, 6.3
    if (length === undefined && request[0] === "POST") reasons.add(411);
    if (length !== undefined && length > LIMITS.maxBodyBytes) reasons.add(413);
  }
  if (!complete || reasons.size > 0 || request === undefined || bytes.length < head.length + (length ?? 0)) {
    return { reasons, complete, outcome: undefined, body: undefined };
  }
  const body = bytes.subarray(head.length, head.length + (length ?? 0));
  const last = (name: string) => fields.get(name)?.at(-1);
  const parts = [...request, last("host")?.toLowerCase() ?? null, last("content-type") ?? "", last("origin")?.toLowerCase() ?? "", toHex(body)];
  return { reasons, complete, outcome: `request ${JSON.stringify(parts)}`, body };
}

/** escapeHtml: nothing that could end a text or an attribute, and the text read back as it was. */
function checkEscaped(text: string): void {
  const out = escapeHtml(text);
  assert.ok(!/[<>"']|&(?!(amp|lt|gt|quot|#39);)/.test(out), `escapeHtml(${JSON.stringify(text)}) = ${JSON.stringify(out)}`);
  const back = out.replace(/&(amp|lt|gt|quot|#39);/g, (_, name: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[name]!);
  const shown = text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
  assert.equal(back, shown, "escapeHtml reads back as its input (controls and lone surrogates as U+FFFD)");
}

/** decodeForm against URLSearchParams, where the body is text the WHATWG parser reads unambiguously. */
function checkForm(body: Uint8Array): void {
  const result = decodeForm(body);
  if (result.ok) for (const value of result.fields.values()) checkEscaped(value);
  else assert.match(result.message, /^[ -~]+$/, "a refusal's message is printable ASCII");
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return; // raw bytes that are not UTF-8: the WHATWG parser replaces them; ours may join them with %XX
  }
  if (text.includes("\ufffd")) return;
  // "&" first: the constructor would drop a leading "?", a form body keeps it.
  const entries = [...new URLSearchParams(`&${text}`)];
  const names = entries.map(([name]) => name);
  const refuse =
    entries.length > MAX_FORM_FIELDS ||
    new Set(names).size !== names.length ||
    names.some((name) => name.length > 32) ||
    /%(?![0-9A-Fa-f]{2})/.test(text) ||
    entries.some(([name, value]) => (name + value).includes("\ufffd"));
  assert.equal(result.ok, !refuse, `decodeForm ${result.ok ? "accepted" : `refused (${result.message})`} ${JSON.stringify(text.slice(0, 200))}`);
  if (result.ok) assert.deepEqual([...result.fields], entries, "the fields as URLSearchParams reads them");
}

function read(chunks: readonly Uint8Array[]): string {
  const held = (parser: HttpRequestParser, result: HttpParseResult) => {
    const { head, body } = parser as unknown as { head: Uint8Array; body: Uint8Array };
    assert.ok(head.length <= LIMITS.maxHeadBytes, `a head buffer of ${head.length} bytes`);
    assert.ok(body.length <= LIMITS.maxBodyBytes, `a body buffer of ${body.length} bytes`);
    if (result.kind === "error") assert.match(result.error.message, /^[ -~]+$/, "a refusal's message is printable ASCII");
  };
  return httpOutcome(chunks, held);
}

const formValue = fc.oneof(fc.string({ unit: "binary", maxLength: 24 }), fc.constantFrom("Café & Bar", "a+b=%", "ws://h:1/", "<script>'\"&", "\u0000\r\n"));
const form = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom("ssid", "password", "url", "name", "other"), fc.string({ maxLength: 6 })), formValue), { maxLength: 6 })
  .map((entries) => new URLSearchParams(entries).toString());
const header = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("Content-Type: application/x-www-form-urlencoded", "Origin: http://192.168.4.1", "ORIGIN:HTTP://Setup", "Accept: */*", "Connection: close") },
  { weight: 1, arbitrary: fc.constantFrom("host:setup.moorline", "Transfer-Encoding: chunked", "Content-Length: 5", "Content-Length: 99999999999", "User-Agent: " + "x".repeat(100), " folded", "Bad Name: x", "NoColon", "X:\t y \t") },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/), fc.stringMatching(/^[ -~]{0,20}$/)).map(([name, value]) => `${name}: ${value}`),
  },
);
const request = fc
  .record({
    method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom("GET", "POST") }, { weight: 1, arbitrary: fc.constantFrom("HEAD", "PUT", "get", "G\tET", "X".repeat(20), "") }),
    target: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom("/", "/save", "/generate_204", "/hotspot-detect.html", "/status?json=1", "http://192.168.4.1/save", "HTTP://a") },
      { weight: 1, arbitrary: fc.constantFrom("*", "/a#b", "a", "/é", "/" + "p".repeat(120), "") },
    ),
    version: fc.oneof({ weight: 8, arbitrary: fc.constantFrom("HTTP/1.1", "HTTP/1.0") }, { weight: 1, arbitrary: fc.constantFrom("HTTP/2.0", "HTTP/1.1x", "http/1.1", "HTTP/0.9") }),
    headers: fc.array(header, { maxLength: 6 }),
    host: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    body: fc.oneof({ weight: 4, arbitrary: form }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) }),
    length: fc.oneof({ weight: 6, arbitrary: fc.constant("exact") }, { weight: 1, arbitrary: fc.constantFrom("none", "short", "long") }),
    eol: fc.oneof({ weight: 12, arbitrary: fc.constant("\r\n") }, { weight: 1, arbitrary: fc.constantFrom("\n", "\r") }),
  })
  .map((r) => {
    const body = new TextEncoder().encode(r.method === "POST" ? r.body : "");
    const length = { exact: body.length, none: undefined, short: Math.max(0, body.length - 3), long: body.length + 3 }[r.length];
    const lines = [`${r.method} ${r.target} ${r.version}`, ...(r.host ? ["Host: 192.168.4.1"] : []), ...r.headers, ...(length === undefined || body.length === 0 ? [] : [`Content-Length: ${length}`])];
    const head = new Uint8Array([...lines, "", ""].join(r.eol).split("").map((c) => c.charCodeAt(0) & 0xff));
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return out;
  });

export const httpTarget: FuzzTarget = {
  name: "http",
  about: "src/provisioning/http-request.ts and form.ts (decodeForm, escapeHtml) against a reading of RFC 9112 and Node's URLSearchParams, any chunking",
  inputs: request,
  maxBytes: 1024,
  check(bytes) {
    const expected = reference(bytes);
    let first: string | undefined;
    for (const [way, chunks] of chunkings(bytes, 700)) {
      const outcome = read(chunks);
      if (first === undefined) first = outcome;
      else assert.equal(outcome, first, `fed ${way}`);
    }
    const outcome = first!;
    const reasons = [...expected.reasons].sort().join(", ");
    if (expected.reasons.size > 0) {
      const status = /^error (\d+) /.exec(outcome)?.[1];
      assert.ok(status !== undefined && expected.reasons.has(Number(status)), `${outcome.slice(0, 200)}; the input's faults: ${reasons}`);
    } else if (expected.outcome === undefined) {
      assert.equal(outcome, "more", "waiting for the rest of the request");
    } else {
      assert.ok(outcome.startsWith(expected.outcome), `${outcome.slice(0, 300)}, expected ${expected.outcome.slice(0, 300)}`);
      if (expected.body!.length > 0) checkForm(expected.body!);
    }
    // The escaping of any text, lone surrogates included: the input read as UTF-16 code units.
    const units: number[] = [];
    for (let i = 0; i + 1 < bytes.length && units.length < 200; i += 2) units.push((bytes[i]! << 8) | bytes[i + 1]!);
    checkEscaped(String.fromCharCode(...units));
  },
};
