/**
 * The companion server's output (server/format.ts): readable lines for people (colour is
 * decided by hosts/node/cli.ts wantsColour), and JSON lines for machines.
 */
import assert from "node:assert/strict";
import type { CompanionEvent } from "../../server/events.js";
import { formatHuman, formatJson, SUMMARY_CHARS, summary } from "../../server/format.js";

const T = new Date(2025, 0, 2, 3, 4, 5, 67).toISOString();

describe("companion output (server/format.ts)", function () {
  it("starts with the plain 'listening on <url>' line scripts wait for", function () {
    const event: CompanionEvent = { t: T, event: "listening", url: "ws://127.0.0.1:8765/", host: "127.0.0.1", port: 8765 };
    assert.equal(formatHuman(event, true), "listening on ws://127.0.0.1:8765/");
  });

  it("writes a failed TLS handshake with the client's address and what went wrong", function () {
    const event: CompanionEvent = { t: T, event: "tls_error", remote: "127.0.0.1:50123", message: "http request (ERR_SSL_HTTP_REQUEST)" };
    assert.equal(formatHuman(event, false), "03:04:05.067 127.0.0.1:50123 TLS handshake failed http request (ERR_SSL_HTTP_REQUEST)");
  });

  it("writes telemetry as time, device, type, seq and data, marking duplicates and gaps", function () {
    const base = { t: T, event: "telemetry", conn: 1, device: "sim-1", boot: "b1", uptimeMs: 1, data: { rssi: -61 }, missed: 0, duplicates: 0, gaps: 0, acked: 42 } as const;
    assert.equal(formatHuman({ ...base, seq: 42, outcome: "next" }, false), '03:04:05.067 sim-1 telemetry seq=42 {"rssi":-61}');
    assert.match(formatHuman({ ...base, seq: 40, outcome: "duplicate", duplicates: 3 }, false), /seq=40 .* DUPLICATE \(3 so far\)$/);
    assert.match(formatHuman({ ...base, seq: 50, outcome: "gap", missed: 7, gaps: 1, acked: null }, false), /GAP: 7 missed \(1 gaps so far\) \(not acked\)$/);
  });

  it("writes a hello with why the device restarted, its boot count, and safe mode", function () {
    const base = { t: T, event: "hello", conn: 1, device: "sim-1", firmware: "0.1.0", boot: "b1", capabilities: ["echo", "reboot"], ota: null } as const;
    const none = { reset: null, boots: null, safeMode: null, rebootReason: null };
    assert.equal(formatHuman({ ...base, ...none }, false), "03:04:05.067 sim-1 hello firmware=0.1.0 boot=b1 capabilities=echo,reboot");
    assert.equal(
      formatHuman({ ...base, reset: "software", boots: 12, safeMode: false, rebootReason: "new settings" }, false),
      "03:04:05.067 sim-1 hello firmware=0.1.0 boot=b1 capabilities=echo,reboot reset=software boots=12 rebootReason=new settings",
    );
    assert.match(formatHuman({ ...base, reset: "panic", boots: 6, safeMode: true, rebootReason: null }, false), /reset=panic boots=6 SAFE MODE$/);
  });

  it("writes replies with their id, result or error, and round-trip time", function () {
    const base = { t: T, event: "reply", conn: 2, device: null, id: 7, matched: true, request: "echo", rttMs: 0.4 } as const;
    assert.equal(formatHuman({ ...base, ok: true, result: { payload: "hi" } }, false), '03:04:05.067 conn#2 \u2190 reply id=7 (echo) ok {"payload":"hi"} 0.4 ms');
    assert.match(formatHuman({ ...base, ok: false, error: { code: "unknown_type" }, matched: false, request: null, rttMs: null }, false), /error \{"code":"unknown_type"\} \(no such request\)$/);
  });

  it("shows a reply whole: a status too long for one line is pretty-printed below it, indented, nothing cut", function () {
    const result = {
      firmware: "0.1.0",
      uptimeMs: 123456,
      wifi: "online",
      link: "open",
      supervisor: { state: "open", stats: { connects: 3, reconnects: 2, heartbeatTimeouts: 1, attempt: 0 } },
      app: { counters: { telemetrySeq: 42, ignored: 0, errorsSent: 0, requests: 7 }, telemetryIntervalMs: 10000 },
      note: "x".repeat(300),
    };
    const event = { t: T, event: "reply", conn: 1, device: "sim-1", id: 3, matched: true, request: "status", rttMs: 0.4, ok: true, result } as const;
    const [head, ...body] = formatHuman(event, false).split("\n");
    assert.equal(head, "03:04:05.067 sim-1 \u2190 reply id=3 (status) ok 0.4 ms");
    assert.ok(body.length > 10, "one line per key");
    assert.ok(body.every((line) => line.startsWith("  ")), "indented under its event");
    assert.equal(body[1], '    "firmware": "0.1.0",');
    assert.deepEqual(JSON.parse(body.join("\n")), result, "the whole status, nothing cut");
  });

  it("escapes control characters a device sends, in summaries and in whole replies", function () {
    assert.equal(summary("a\u001b[2Jb\u009b"), "a\\x1b[2Jb\\x9b");
    const event = { t: T, event: "reply", conn: 1, device: "sim-1", id: 1, matched: true, request: "echo", rttMs: 1, ok: true, result: { payload: "\u009b".repeat(200) } } as const;
    assert.doesNotMatch(formatHuman(event, false), /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });

  it("writes requests with their type, id and fields", function () {
    const base = { t: T, event: "request", conn: 1, device: "sim-1" } as const;
    assert.equal(
      formatHuman({ ...base, id: 3, type: "config", body: { type: "config", id: 3, action: "get", key: "k" } }, false),
      '03:04:05.067 sim-1 \u2192 config id=3 {"action":"get","key":"k"}',
    );
    assert.equal(formatHuman({ ...base, id: 4, type: "ping", body: { type: "ping", id: 4 } }, false), "03:04:05.067 sim-1 \u2192 ping id=4");
  });

  it("writes each step of a firmware update on the device's line, and the transfers at `ota`", function () {
    const base = { t: T, event: "ota", conn: 1, device: "sim-1", version: "0.2.0" } as const;
    const lines: Array<[Record<string, unknown>, string]> = [
      [{ state: "offered", target: "desktop", size: 642971 }, "offered 0.2.0 (desktop, 642971 bytes)"],
      [{ state: "accepted", offset: 0, size: 642971, percent: 0 }, "accepted 0.2.0: sending 642971 bytes"],
      [{ state: "accepted", offset: 65536, size: 642971, percent: 10 }, "accepted 0.2.0: resuming at 65536/642971 bytes (10%)"],
      [{ state: "progress", offset: 321485, size: 642971, percent: 50, bytesPerSecond: 2048 * 1024 }, "0.2.0 321485/642971 bytes (50%), 2048 KiB/s"],
      [{ state: "installed" }, "installed 0.2.0: the device restarts into it"],
      [{ state: "refused", code: "downgrade", message: "0.0.9 is older" }, "refused 0.2.0: downgrade (0.0.9 is older)"],
      [{ state: "paused", offset: 4096, size: 8192, percent: 50 }, "paused 0.2.0 at 4096/8192 bytes (50%): the connection closed (resumes when it is back)"],
      [{ state: "trial", from: "0.1.0" }, "0.2.0 on trial (from 0.1.0): confirmed once its connection proves stable"],
      [{ state: "updated", from: "0.1.0" }, "updated to 0.2.0 from 0.1.0: confirmed"],
      [{ state: "rolled_back", reason: "panic", detail: "boom" }, "ROLLED BACK 0.2.0: panic (boom)"],
    ];
    for (const [fields, text] of lines) assert.equal(formatHuman({ ...base, ...fields } as CompanionEvent, false), `03:04:05.067 sim-1 ota ${text}`);
    assert.equal(
      formatHuman({ t: T, event: "ota_status", image: { file: "b.img", version: "0.2.0", target: "desktop", size: 8192 }, transfers: [{ conn: 2, device: "sim-1", state: "sending", version: "0.2.0", offset: 4096, size: 8192 }] }, false),
      "03:04:05.067 server ota offering 0.2.0 (desktop, 8192 bytes) from b.img\n  #2 sim-1 sending 0.2.0: 4096/8192 bytes (50%)",
    );
  });

  it("colours with ANSI escapes when asked", function () {
    const event: CompanionEvent = { t: T, event: "close", conn: 1, device: "sim-1", code: 1006, reason: "", durationMs: 1500 };
    assert.equal(formatHuman(event, false), "03:04:05.067 sim-1 close 1006 after 1.5 s");
    assert.match(formatHuman(event, true), /\u001b\[33mclose\u001b\[0m/);
  });

  it("cuts long summaries to one line", function () {
    const long = summary({ data: "x".repeat(1000) });
    assert.equal(long.length, SUMMARY_CHARS);
    assert.ok(long.endsWith("\u2026"));
  });

  it("writes one JSON line per event, the time first", function () {
    const event: CompanionEvent = { t: T, event: "closed" };
    assert.equal(formatJson(event), `{"t":"${T}","event":"closed"}`);
  });
});
