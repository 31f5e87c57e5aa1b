/**
 * The XS host's UTF-8 codec (hosts/xs/xs-side/host.ts xsUtf8): decodeChecked takes every text
 * message that arrives whole (ASCII shown by XS's native decoder, anything else validated in
 * JavaScript), so it must accept exactly what src/websocket/utf8.ts's validator accepts
 * (RFC 3629) and decode it as TextDecoder does:
 * checked here on every 1- and 2-byte string, every lead byte of 3 and 4 bytes against every
 * second byte, and random strings, inside the real XS engine.
 */
import assert from "node:assert/strict";
import { decodeUtf8, isValidUtf8 } from "../../../src/websocket/utf8.js";
import { startTestXsEngine } from "../../support/engines.js";
import { toHex } from "../../support/frames.js";
import type { XsEngine } from "../../../hosts/xs/engine.js";

/** Strings per call into XS. */
const BATCH = 4096;

function* cases(): Generator<Uint8Array> {
  for (let a = 0; a < 256; a++) yield Uint8Array.of(a);
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) yield Uint8Array.of(a, b);
  const thirds = [0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0];
  for (const a of [0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef]) {
    for (let b = 0; b < 256; b++) for (const c of thirds) yield Uint8Array.of(a, b, c);
  }
  for (const a of [0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xf7, 0xf8, 0xff]) {
    for (let b = 0; b < 256; b++) for (const c of [0x41, 0x80, 0xbf]) for (const d of [0x41, 0x80, 0xbf]) yield Uint8Array.of(a, b, c, d);
  }
  // NUL, a byte order mark kept, text around characters of every length.
  yield Uint8Array.of(0x41, 0x00, 0x42);
  yield Uint8Array.of(0xef, 0xbb, 0xbf, 0x41);
  yield new TextEncoder().encode("{\"t\":\"κόσμε €😀\"} ".repeat(40));
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  for (let i = 0; i < 4000; i++) {
    const bytes = new Uint8Array(1 + (next() % 24));
    // Mostly plausible UTF-8 bytes, so that valid strings are common too.
    const pool = [0x41, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xa0, 0x90, 0x8f];
    for (let j = 0; j < bytes.length; j++) bytes[j] = next() % 3 === 0 ? next() & 0xff : pool[next() % pool.length]!;
    yield bytes;
  }
}

describe("the XS host's UTF-8 codec (hosts/xs)", function () {
  this.timeout(60_000);
  let engine: XsEngine;
  let handle: number;

  before(async function () {
    engine = await startTestXsEngine({ log: () => {} });
    handle = await engine.startProgram("probe", {}, () => {});
  });

  after(async function () {
    await engine.close();
  });

  it("decodeChecked accepts exactly the well-formed UTF-8 and decodes it as TextDecoder does", async function () {
    const all = [...cases()];
    let valid = 0;
    for (let from = 0; from < all.length; from += BATCH) {
      const batch = all.slice(from, from + BATCH);
      const joined = new Uint8Array(batch.reduce((sum, bytes) => sum + bytes.length, 0));
      let at = 0;
      for (const bytes of batch) {
        joined.set(bytes, at);
        at += bytes.length;
      }
      const reply = await engine.call(handle, "utf8-decode-checked", { lengths: batch.map((bytes) => bytes.length) }, joined);
      const texts = reply.value as Array<string | null>;
      batch.forEach((bytes, i) => {
        const expected = isValidUtf8(bytes) ? decodeUtf8(bytes) : null;
        if (expected !== null) valid++;
        assert.equal(texts[i], expected, `bytes ${toHex(bytes)}`);
      });
    }
    assert.ok(valid > 10_000, `valid strings among the cases: ${valid}`);
  });
});
