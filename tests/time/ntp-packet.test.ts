/**
 * src/time/ntp-packet.ts: the request's bytes, NTP timestamps across eras, and every check an
 * answer must pass (RFC 4330 section 5, RFC 5905 sections 7.3, 7.4 and 8), each failing alone.
 */
import assert from "node:assert/strict";

import {
  answerTime,
  checkAnswer,
  IgnoreReason,
  makeRequest,
  NTP_PACKET_BYTES,
  NTP_UNIX_OFFSET_SECONDS,
  ntpToUnixMs,
} from "../../src/time/ntp-packet.js";
import { ntpAnswer } from "../support/ntp.js";

const NONCE = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const NOW = Date.UTC(2026, 11, 6, 12, 0, 0, 250);
const EARLIEST = Date.UTC(2026, 10, 30);

/** A correct answer to a request with NONCE, with `fields` changed. */
function answer(fields: Parameters<typeof ntpAnswer>[1] = {}): Uint8Array {
  return new Uint8Array(ntpAnswer(Buffer.from(makeRequest(NONCE)), { timeMs: NOW, ...fields }));
}

describe("SNTP packets (src/time/ntp-packet.ts)", function () {
  describe("the request", function () {
    it("is 48 bytes: LI 0, version 4, mode 3 (client), the nonce as Transmit Timestamp, zeros elsewhere", function () {
      const request = makeRequest(NONCE);
      assert.equal(request.length, NTP_PACKET_BYTES);
      assert.equal(request[0], 0b00_100_011);
      assert.deepEqual([...request.subarray(40, 48)], [...NONCE]);
      assert.ok(request.subarray(1, 40).every((byte) => byte === 0), "nothing of the device's clock is disclosed");
    });
  });

  describe("timestamps", function () {
    it("reads seconds since 1900 and the binary fraction as Unix milliseconds", function () {
      assert.equal(ntpToUnixMs(NTP_UNIX_OFFSET_SECONDS, 0), 0);
      assert.equal(ntpToUnixMs(NTP_UNIX_OFFSET_SECONDS + 1, 2 ** 31), 1500);
    });

    it("puts a seconds field without its top bit in era 1 (2036-02-07 to 2104): RFC 4330 section 3", function () {
      // The last second of era 0, and the first seconds of era 1.
      assert.equal(new Date(ntpToUnixMs(0xffffffff, 0)).toISOString(), "2036-02-07T06:28:15.000Z");
      assert.equal(new Date(ntpToUnixMs(0, 0)).toISOString(), "2036-02-07T06:28:16.000Z");
      assert.equal(new Date(ntpToUnixMs(10, 0)).toISOString(), "2036-02-07T06:28:26.000Z");
    });
  });

  describe("checking an answer", function () {
    it("accepts a correct answer and gives the server's receive and transmit times", function () {
      const verdict = checkAnswer(answer(), NONCE, EARLIEST);
      assert.equal(verdict.kind, "time");
      assert.ok(verdict.kind === "time");
      assert.ok(Math.abs(verdict.transmitMs - NOW) < 1, String(verdict.transmitMs));
      assert.equal(verdict.stratum, 2);
      assert.equal(verdict.leap, 0);
    });

    it("accepts longer answers (extension fields, a MAC) and a leap-second warning (LI 1)", function () {
      assert.equal(checkAnswer(answer({ length: 68 }), NONCE, EARLIEST).kind, "time");
      assert.equal(checkAnswer(answer({ leap: 1 }), NONCE, EARLIEST).kind, "time");
    });

    const refused: Array<[string, Parameters<typeof ntpAnswer>[1], string]> = [
      ["shorter than 48 bytes", { length: 47 }, IgnoreReason.SHORT],
      ["mode 3 (a client's request reflected back)", { mode: 3 }, IgnoreReason.MODE],
      ["mode 5 (broadcast)", { mode: 5 }, IgnoreReason.MODE],
      ["version 0", { version: 0 }, IgnoreReason.VERSION],
      ["version 5", { version: 5 }, IgnoreReason.VERSION],
      ["an Origin Timestamp that is not our nonce", { origin: "wrong" }, IgnoreReason.ORIGIN],
      ["stratum 0 without a known kiss code", { stratum: 0, referenceId: "XFOO" }, IgnoreReason.KISS_OTHER],
      ["stratum 16 (unsynchronized)", { stratum: 16 }, IgnoreReason.STRATUM],
      ["stratum 255", { stratum: 255 }, IgnoreReason.STRATUM],
      ["leap indicator 3 (the server is not synchronized)", { leap: 3 }, IgnoreReason.UNSYNCHRONIZED],
      ["a zero Transmit Timestamp", { timeMs: 0 }, IgnoreReason.TRANSMIT_ZERO],
      ["a time years before the build time", { timeMs: Date.UTC(2019, 0, 1) }, IgnoreReason.BEFORE_BUILD],
    ];
    for (const [what, fields, reason] of refused) {
      it(`ignores ${what} (${reason})`, function () {
        const verdict = checkAnswer(answer(fields), NONCE, EARLIEST);
        assert.deepEqual(verdict.kind === "ignored" ? verdict.reason : verdict, reason);
      });
    }

    it("checks the origin before believing anything: a forged kiss-o'-death is ignored", function () {
      const verdict = checkAnswer(answer({ stratum: 0, referenceId: "DENY", origin: "wrong" }), NONCE, EARLIEST);
      assert.deepEqual(verdict, { kind: "ignored", reason: IgnoreReason.ORIGIN });
    });

    for (const code of ["RATE", "DENY", "RSTR"]) {
      it(`reports the kiss-o'-death ${code} (stratum 0, RFC 5905 section 7.4)`, function () {
        assert.deepEqual(checkAnswer(answer({ stratum: 0, referenceId: code }), NONCE, EARLIEST), { kind: "kiss", code });
      });
    }

    it("prints an unprintable kiss code safely", function () {
      const verdict = checkAnswer(answer({ stratum: 0, referenceId: "\u0001AB\n" }), NONCE, EARLIEST);
      assert.deepEqual(verdict, { kind: "ignored", reason: IgnoreReason.KISS_OTHER, detail: "?AB?" });
    });
  });

  describe("the time of an answer", function () {
    it("is the transmit time plus half the network delay (round trip less the server's hold)", function () {
      assert.deepEqual(answerTime(1000, 1010, 50), { timeMs: 1030, delayMs: 40 });
    });

    it("clamps a server's claimed hold time into [0, round trip]: a liar moves it by half a round trip at most", function () {
      assert.deepEqual(answerTime(1000, 9_000, 50), { timeMs: 9_000, delayMs: 0 });
      assert.deepEqual(answerTime(9_000, 1000, 50), { timeMs: 1025, delayMs: 50 });
      assert.deepEqual(answerTime(1000, 1000, -5), { timeMs: 1000, delayMs: 0 });
    });
  });
});
