/**
 * The device's clock against real NTP peers on 127.0.0.1, on both engines: Debian's chrony
 * (its own clock, on a free port, controlling nothing), hostile servers on raw UDP (wrong
 * origin, kiss-o'-death, stratum 0, leap 3, a time years in the past, silence), and wss:// held
 * back until the clock is trusted: the device started from its command line with
 * --clock-unset reaches a wss:// server whose certificate is valid only from today once NTP
 * answers, and not before (saying why).
 *
 * chrony is installed by .ci/run: without it these tests fail on CI and are skipped
 * elsewhere, with a message.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServer, type WebSocket } from "ws";

import { createCertificateAuthority, issueCertificate, type Issued } from "../../server/certificates.js";
import { SOURCE_DATE_MS } from "../../src/time/clock.js";
import { Child, node } from "../support/child-process.js";
import { engineArgs, ENGINES, useEngine } from "../support/engines.js";
import {
  ntpAnswer,
  requireChronyd,
  startChrony,
  startNtpRelay,
  startScriptedNtp,
  type ChronyServer,
  type NtpPeer,
  type ScriptedNtpServer,
} from "../support/ntp.js";
import { startDeviceOn, type EngineDevice, type LogLine } from "../support/on-engine.js";
import { startTlsEchoServer, type TlsEchoServer } from "../support/tls-server.js";
import { delay, until, within } from "../support/wait.js";

const DAY_MS = 86_400_000;

/** A WebSocket server on 127.0.0.1 (ws://) or with `tls` (wss://), that records the devices' JSON messages and can ask them for status. */
interface Recorder {
  url: string;
  messages: Array<Record<string, unknown>>;
  /** Sends a status request to the connected device; resolves with its result. */
  status(): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return recorderOver(`ws://127.0.0.1:${(server.address() as { port: number }).port}/`, server, async () => {
    for (const client of server.clients) client.terminate();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

function recorderOver(url: string, server: { clients: Set<WebSocket> } | { on(event: "connection", listener: (socket: WebSocket) => void): unknown }, close: () => Promise<void>): Recorder {
  const messages: Array<Record<string, unknown>> = [];
  const sockets: WebSocket[] = [];
  let nextId = 1;
  const attach = (socket: WebSocket): void => {
    sockets.push(socket);
    socket.on("error", () => {});
    socket.on("message", (data) => {
      try {
        messages.push(JSON.parse(String(data)) as Record<string, unknown>);
      } catch {
        // Not ours to judge here.
      }
    });
  };
  if ("on" in server) server.on("connection", attach);
  return {
    url,
    messages,
    async status() {
      const socket = sockets.at(-1);
      assert.ok(socket, "a device is connected");
      const id = nextId++;
      socket.send(JSON.stringify({ type: "status", id }));
      await until(() => messages.some((m) => m.type === "reply" && m.id === id), 5000, "the status reply");
      return messages.find((m) => m.type === "reply" && m.id === id)!.result as Record<string, unknown>;
    },
    close,
  };
}

function events(logs: readonly LogLine[], name: string): Array<Record<string, unknown>> {
  return logs.filter((line) => line.event === name).map((line) => line.fields);
}

/** The start of today, UTC. */
function today(): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

for (const engine of ENGINES) {
  describe(`the device's clock from NTP servers on 127.0.0.1 [${engine}]`, function () {
    useEngine(engine);
    this.timeout(40_000);
    let chrony: ChronyServer;
    let recorder: Recorder;
    const devices: EngineDevice[] = [];
    const peers: NtpPeer[] = [];

    before(async function () {
      const chronyd = requireChronyd(this);
      chrony = await startChrony(chronyd);
      recorder = await startRecorder();
    });
    afterEach(async function () {
      for (const device of devices.splice(0)) await within(device.stop(), 10_000, "the device to stop");
      for (const peer of peers.splice(0)) await peer.close();
    });
    after(async function () {
      await recorder?.close();
      await chrony?.close();
    });

    async function start(deviceId: string, config: Record<string, unknown>, url = recorder.url): Promise<EngineDevice> {
      const device = await startDeviceOn(engine, { url, clock: { unset: true }, config: { deviceId, ...config } });
      devices.push(device);
      return device;
    }

    it("starts at 1970, sets its clock from chrony, and tells the server the time, trusted, from ntp", async function () {
      const d = await start(`ntp-${engine}`, { ntp: chrony.label });
      assert.equal(new Date(events(d.logs, "clock_restored")[0]!.was as string).getUTCFullYear(), 1970);
      await until(() => events(d.logs, "clock_synced").length > 0, 5000, "clock_synced");
      assert.equal(events(d.logs, "clock_synced")[0]!.server, chrony.label);
      await until(() => recorder.messages.some((m) => m.type === "hello" && m.device === `ntp-${engine}`), 5000, "hello");
      const status = await recorder.status();
      assert.ok(Math.abs((status.time as number) - Date.now()) < 1000, `status.time ${status.time} is the time now`);
      const clock = status.clock as Record<string, unknown>;
      assert.equal(clock.trusted, true);
      assert.equal(clock.source, "ntp");
      assert.equal(clock.server, chrony.label);
      assert.ok((clock.offsetMs as number) > Date.now() - SOURCE_DATE_MS - 60_000, "the correction from the build time to now");
    });

    it("passes hostile servers by, each for its own reason, and uses only the real server's time", async function () {
      const now = () => Date.now();
      const scripted = async (answer: (request: Buffer) => Buffer | undefined): Promise<ScriptedNtpServer> => {
        const server = await startScriptedNtp((request) => answer(request));
        peers.push(server);
        return server;
      };
      const wrongOrigin = await scripted((request) => ntpAnswer(request, { origin: "wrong", timeMs: now() + 3 * 365 * DAY_MS }));
      const deny = await scripted((request) => ntpAnswer(request, { stratum: 0, referenceId: "DENY" }));
      const rate = await scripted((request) => ntpAnswer(request, { stratum: 0, referenceId: "RATE" }));
      const stratum0 = await scripted((request) => ntpAnswer(request, { stratum: 0, referenceId: "\u0000\u0000\u0000\u0000" }));
      const leap3 = await scripted((request) => ntpAnswer(request, { leap: 3, timeMs: now() + 365 * DAY_MS }));
      const ancient = await scripted((request) => ntpAnswer(request, { timeMs: now() - 7 * 365 * DAY_MS }));
      const silent = await scripted(() => undefined);
      const hostile = [wrongOrigin, deny, rate, stratum0, leap3, ancient, silent];
      const d = await start(`ntp-hostile-${engine}`, { ntp: [...hostile, chrony].map((server) => server.label).join(",") });
      await until(() => events(d.logs, "clock_synced").length > 0, 15_000, "clock_synced");

      assert.deepEqual(
        hostile.map((server) => server.requests),
        [1, 1, 1, 1, 1, 1, 1],
        "each hostile server asked once, in turn",
      );
      const ignored = events(d.logs, "ntp_ignored");
      assert.deepEqual(ignored.map((fields) => [fields.server, fields.reason]), [[wrongOrigin.label, "origin_mismatch"]]);
      const kisses = events(d.logs, "ntp_kiss");
      assert.deepEqual(kisses, [
        { server: deny.label, code: "DENY", holdMs: DAY_MS },
        { server: rate.label, code: "RATE", holdMs: 64_000 },
      ]);
      const failed = events(d.logs, "ntp_failed").map((fields) => [fields.server, fields.reason]);
      assert.deepEqual(failed, [
        [wrongOrigin.label, "timeout"],
        [stratum0.label, "kiss_other"],
        [leap3.label, "unsynchronized"],
        [ancient.label, "before_build_time"],
        [silent.label, "timeout"],
      ]);
      assert.equal(events(d.logs, "clock_synced")[0]!.server, chrony.label);
      await until(() => recorder.messages.some((m) => m.type === "hello" && m.device === `ntp-hostile-${engine}`), 5000, "hello");
      const status = await recorder.status();
      assert.ok(Math.abs((status.time as number) - Date.now()) < 1000, "the real time: none of the hostile ones");
      const ntp = (status.clock as { ntp: Record<string, number> }).ntp;
      assert.equal(ntp.ignored, 1);
      assert.equal(ntp.rejected, 3);
      assert.equal(ntp.kisses, 2);
      assert.equal(ntp.timeouts, 2);
      assert.equal(ntp.answers, 1);
    });

    describe("wss:// and an untrusted clock (the fallback of config clockFallbackMs)", function () {
      let ca: Issued;
      let fromToday: TlsEchoServer;
      let olderThanBuild: TlsEchoServer;

      before(async function () {
        // A CA valid from before the firmware's build time: only the servers' dates differ.
        ca = createCertificateAuthority("moorline clock test CA", { notBefore: new Date(SOURCE_DATE_MS - 30 * DAY_MS) });
        const names = ["127.0.0.1"];
        const newer = issueCertificate({ commonName: "127.0.0.1", names, issuer: ca, notBefore: today(), notAfter: new Date(today().getTime() + 30 * DAY_MS) });
        const older = issueCertificate({ commonName: "127.0.0.1", names, issuer: ca, notBefore: new Date(SOURCE_DATE_MS - DAY_MS) });
        fromToday = await startTlsEchoServer({ cert: newer.cert, key: newer.key });
        olderThanBuild = await startTlsEchoServer({ cert: older.cert, key: older.key });
      });
      after(async function () {
        await fromToday?.close();
        await olderThanBuild?.close();
      });

      it("tries wss:// after clockFallbackMs, and waits for NTP again when the certificate is newer than the clock can vouch for", async function () {
        const silent = await startScriptedNtp(() => undefined);
        peers.push(silent);
        const d = await start(`fallback-new-${engine}`, { ntp: silent.label, clockFallbackMs: 500, ca: ca.cert }, fromToday.url);
        await until(() => events(d.logs, "clock_fallback_ended").length > 0, 8000, "clock_fallback_ended");
        assert.equal(events(d.logs, "clock_wait").length, 1);
        const backoff = events(d.logs, "ws_backoff")[0]!;
        assert.equal(backoff.error, "ERR_TLS_CERT_NOT_YET_VALID", "the host judged the dates by the device's clock");
        assert.equal(fromToday.requests, 0, "no application byte reached the server");
      });

      it("connects under the fallback to a server whose certificate is older than the build time", async function () {
        const silent = await startScriptedNtp(() => undefined);
        peers.push(silent);
        const d = await start(`fallback-old-${engine}`, { ntp: silent.label, clockFallbackMs: 500, ca: ca.cert }, olderThanBuild.url);
        await until(() => d.logs.some((line) => line.event === "ws_open"), 8000, "ws_open");
        assert.equal(events(d.logs, "clock_fallback").length, 1);
        assert.equal(events(d.logs, "clock_synced").length, 0, "without NTP");
      });
    });
  });
}

describe("a device started at 1970 (--clock-unset) and a wss:// server whose certificate is valid only from today", function () {
  this.timeout(60_000);
  let chrony: ChronyServer;
  let folder: string;
  let caFile: string;
  let server: TlsEchoServer;
  const hellos: Array<Record<string, unknown>> = [];

  before(async function () {
    const chronyd = requireChronyd(this);
    chrony = await startChrony(chronyd);
    folder = mkdtempSync(join(tmpdir(), "moorline-ntp-"));
    const ca = createCertificateAuthority("moorline clock test CA", { notBefore: new Date(SOURCE_DATE_MS - 30 * DAY_MS) });
    caFile = join(folder, "ca.pem");
    writeFileSync(caFile, ca.cert);
    const cert = issueCertificate({ commonName: "127.0.0.1", names: ["127.0.0.1"], issuer: ca, notBefore: today(), notAfter: new Date(today().getTime() + 30 * DAY_MS) });
    server = await startTlsEchoServer({
      cert: cert.cert,
      key: cert.key,
      onConnection: (socket) =>
        socket.on("message", (data) => {
          const message = JSON.parse(String(data)) as Record<string, unknown>;
          if (message.type === "hello") hellos.push(message);
        }),
    });
  });
  after(async function () {
    await server?.close();
    await chrony?.close();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  for (const engine of ENGINES) {
    it(`[${engine}] does not connect while NTP cannot answer (clock_wait names the server), and connects once it does`, async function () {
      const relay = await startNtpRelay(chrony);
      // The server is shared by the engines' tests: count from here.
      const seenBefore = server.secureConnections + server.requests;
      const deviceId = `clock-unset-${engine}`;
      const child: Child = node("dist/hosts/node/device.js", [
        ...engineArgs(engine),
        ...["--url", server.url, "--ca", caFile, "--no-wifi", "--clock-unset", "--ntp", relay.label],
        ...["--device-id", deviceId, "--storage", join(folder, `${engine}.json`), "--log-format", "json"],
      ]);
      try {
        const [wait] = await child.line(/^\{.*"event":"clock_wait".*\}$/, 10_000, "the clock_wait line");
        const fields = JSON.parse(wait) as Record<string, unknown>;
        assert.deepEqual(fields.servers, [relay.label]);
        assert.match(fields.reads as string, /^\d{4}-/);
        // A full NTP timeout and a retry later: still nothing sent to the server.
        await delay(4000);
        assert.ok(relay.requests >= 1, "NTP was asked");
        assert.equal(server.secureConnections + server.requests - seenBefore, 0, "no connection to the wss:// server");
        assert.doesNotMatch(child.stdout, /"event":"ws_connecting"|ERR_TLS_CERT_NOT_YET_VALID/);

        relay.forwarding = true;
        await child.line(/"event":"clock_synced"/, 15_000, "clock_synced through the relay");
        await child.line(/"event":"ws_open"/, 10_000, "ws_open");
        await until(() => hellos.some((hello) => hello.device === deviceId), 5000, "the hello");
        const hello = hellos.find((message) => message.device === deviceId)!;
        assert.deepEqual(hello.clock, { trusted: true, source: "ntp" });
        assert.ok(Math.abs((hello.time as number) - Date.now()) < 5000, `hello.time ${hello.time}`);
        assert.equal((child.stdout.match(/"event":"clock_wait"/g) ?? []).length, 1, "one clock_wait line");
      } finally {
        child.kill("SIGTERM");
        await child.waitForExit(10_000).catch(() => child.kill());
        await relay.close();
      }
    });
  }
});
