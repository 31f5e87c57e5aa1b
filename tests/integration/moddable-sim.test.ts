/**
 * The firmware built by the real Moddable SDK and run in its simulator (mcsim, headless under
 * Xvfb) against the companion server: hello, telemetry and acks, an echo request, and the
 * reconnect after a server restart. It runs `npm run sim -- --headless` exactly as a user
 * does (tools/moddable.ts).
 *
 * Needs the SDK ($MODDABLE, its tools built), Linux and xvfb-run: skipped otherwise, so CI
 * on a fresh machine (which cannot have the SDK) is never failed by it.
 *
 * The simulator keeps settings in $TMP/modpreferences.json (the SDK's config.file.root), shared
 * by every simulated app: the test sets the telemetry interval to 1 s to see telemetry soon,
 * and puts back the manifest's 10 s at the end. Each case starts with the boot record erased
 * (a fresh chip): every case ends its simulator with a kill, before a stable connection, and
 * five such boots in a row would put the firmware in safe mode (src/health), as on a chip.
 *
 * The wss:// case builds a scratch copy of the firmware (MOORLINE_ROOT) with a CA made for
 * the run in its certs/, and runs it against servers with every kind of certificate, in turn,
 * on one port: the device connects through Moddable's TLS, then is refused by each bad
 * server with its own error code, backing off, and comes back to a good one.
 *
 * The clock case builds another scratch copy with config clockUnset (the simulator's clock
 * starts at 1970, as a chip's) and an NTP server on 127.0.0.1 (chrony, through a relay that
 * answers only when told): the device waits, saying so, and reaches a wss:// server whose
 * certificate is valid only from today once NTP answers, over the SDK's ECMA-419 UDP.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseLogLine } from "../../src/shared/log-format.js";
import { start, type CompanionServer } from "../../server/companion.js";
import { issueCertificate, type Issued } from "../../server/certificates.js";
import { testCertificates } from "../support/certs.js";
import { Child, node, REPO_ROOT } from "../support/child-process.js";
import { der } from "../support/tls-records.js";
import { findChronyd, startChrony, startNtpRelay, CHRONY_MISSING, type ChronyServer, type NtpRelay } from "../support/ntp.js";
import { delay } from "../support/wait.js";

/** A scratch copy of what mcconfig builds, named `name` (the build's name under $MODDABLE/build), with `ca` as certs/test-ca.der. */
function scratchFirmware(name: string, ca: Issued): { root: string; remove(): void } {
  const scratch = mkdtempSync(join(tmpdir(), `${name}-`));
  const root = join(scratch, name);
  mkdirSync(root);
  for (const entry of ["manifest.json", "src", "hosts", "certs"]) cpSync(join(REPO_ROOT, entry), join(root, entry), { recursive: true });
  symlinkSync(join(REPO_ROOT, "node_modules"), join(root, "node_modules"));
  writeFileSync(join(root, "certs", "test-ca.der"), der(ca.cert));
  return { root, remove: () => rmSync(scratch, { recursive: true, force: true }) };
}

/** Erases the simulator's boot record (the health domain of its preference file): a fresh chip. */
function eraseBootRecord(): void {
  const file = join(tmpdir(), "modpreferences.json");
  if (!existsSync(file)) return;
  const preferences = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  delete preferences.health;
  writeFileSync(file, JSON.stringify(preferences));
}

describe("the firmware in Moddable's simulator (needs the Moddable SDK)", function () {
  this.timeout(240_000);
  let server: CompanionServer | undefined;
  let sim: Child | undefined;

  before(function () {
    if (!process.env.MODDABLE) {
      console.log("      (skipped: $MODDABLE is not set; install the Moddable SDK to run the firmware in its simulator)");
      this.skip();
    }
    if (process.platform !== "linux") this.skip();
  });

  beforeEach(eraseBootRecord);

  afterEach(async function () {
    if (sim) {
      sim.kill("SIGTERM"); // the wrapper stops mcsim and Xvfb, then exits
      await sim.exited;
    }
    await server?.close();
  });

  it("says hello, sends telemetry that is acknowledged, echoes, and comes back after a server restart", async function () {
    server = await start({ port: 0 });
    const port = server.port;
    sim = node(join(REPO_ROOT, "dist", "tools", "moddable.js"), [
      "sim",
      "--headless",
      `url=ws://127.0.0.1:${port}/`,
      "deviceId=mcsim-test",
    ]);

    const hello = await server.waitFor("hello", () => true, 180_000); // includes the build
    assert.equal(hello.device, "mcsim-test");
    assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config", "reboot", "wifi", "server", "factory_reset"]);
    // The simulator has no reset reason and cannot restart its program (hosts/moddable/chip-sim.ts).
    assert.equal(hello.reset, "unknown");
    assert.equal(hello.safeMode, false);
    assert.ok(Number.isInteger(hello.boots) && (hello.boots as number) >= 1, "the boot counter, in the simulator's preference file");
    const [reboot] = server.execute("reboot please");
    const refused = await server.waitFor("reply", (e) => e.id === reboot!.id, 10_000);
    assert.equal((refused.error as { code?: string }).code, "unsupported");

    const [setting] = server.execute("config set telemetryIntervalMs 1000");
    const set = await server.waitFor("reply", (e) => e.id === setting!.id, 10_000);
    assert.equal(set.ok, true);
    const telemetry = await server.waitFor("telemetry", () => true, 10_000);
    assert.ok((telemetry.acked as number) >= 1);

    const [echo] = server.execute("echo hello from XS");
    const reply = await server.waitFor("reply", (e) => e.id === echo!.id, 10_000);
    assert.deepEqual(reply.result, { payload: "hello from XS" });

    // The server goes away, then comes back on the same port: the device reconnects.
    await server.close();
    await sim.line(/"event":"ws_closed"/, 10_000, "the device to see the close");
    server = await start({ port });
    const again = await server.waitFor("hello", () => true, 30_000);
    assert.equal(again.device, "mcsim-test");
    assert.equal(again.boot, hello.boot, "the same boot: the device reconnected, it did not restart");

    const [restore] = server.execute("config set telemetryIntervalMs 10000");
    await server.waitFor("reply", (e) => e.id === restore!.id, 10_000);

    // Every line the firmware printed is one the serial monitor's parser reads.
    const lines = sim.stdout.split("\n").filter((line) => line.startsWith("{"));
    assert.ok(lines.length > 10);
    for (const line of lines) assert.ok(parseLogLine(line), line);
  });
  it("over wss://, trusts the CA built into it, and refuses every bad certificate with its own error (Moddable's TLS)", async function () {
    const certs = testCertificates();
    const local = ["127.0.0.1", "::1", "localhost"];
    // A server certificate, then its CA: Moddable's TLS needs the chain.
    const chain = (issued: Issued, ca: Issued = certs.ca) => ({ cert: issued.cert + ca.cert, key: issued.key });
    const otherKey = issueCertificate({ commonName: "127.0.0.1", names: local, issuer: certs.ca });

    // A scratch copy of what mcconfig builds, with the run's CA as certs/test-ca.der. Its
    // folder's name is the build's name under $MODDABLE/build: the same on every run.
    const firmware = scratchFirmware("moorline-wss", certs.ca);
    const root = firmware.root;
    try {
      server = await start({ port: 0, tls: chain(certs.good) });
      const port = server.port;
      sim = new Child(
        process.execPath,
        [
          join(REPO_ROOT, "dist", "tools", "moddable.js"),
          "sim",
          "--headless",
          `url=wss://127.0.0.1:${port}/`,
          "deviceId=mcsim-wss",
          "ca=test-ca",
          `pins=${certs.goodPin},${"A".repeat(43)}=`,
          "backoffBaseMs=200",
          "backoffCapMs=2000",
        ],
        { env: { ...process.env, MOORLINE_ROOT: root } },
      );

      const hello = await server.waitFor("hello", () => true, 180_000); // includes the build
      assert.equal(hello.device, "mcsim-wss");
      const [echo] = server.execute("echo over TLS");
      const reply = await server.waitFor("reply", (e) => e.id === echo!.id, 10_000);
      assert.deepEqual(reply.result, { payload: "over TLS" });
      const telemetry = await server.waitFor("telemetry", () => true, 30_000);
      assert.ok((telemetry.acked as number) >= 1);

      // Each bad server in turn on the same port: refused with its code, nothing sent to it.
      const refusals: Array<[string, { cert: string; key: string }, string, RegExp]> = [
        ["an unknown CA", chain(certs.unknownCa, certs.otherCa), "ERR_TLS_UNKNOWN_CA", /certificate for 127\.0\.0\.1 is signed by an unknown CA \(issuer CN=some other CA/],
        ["another name", chain(certs.wrongHost), "ERR_TLS_HOSTNAME_MISMATCH", /not valid for 127\.0\.0\.1: it names DNS:other\.example, IP:127\.0\.0\.2/],
        ["an expired certificate", chain(certs.expired), "ERR_TLS_CERT_EXPIRED", /certificate for 127\.0\.0\.1 expired on /],
        ["a self-signed certificate", { cert: certs.selfSigned.cert, key: certs.selfSigned.key }, "ERR_TLS_SELF_SIGNED", /is self-signed/],
        ["a key that is not pinned", chain(otherKey), "ERR_TLS_PIN_MISMATCH", new RegExp(`\\(pin ${otherKey.pin.replace(/[+/]/g, "\\$&")}\\) is not one of the pinned keys \\(2 given\\)`)],
      ];
      for (const [what, tls, code, message] of refusals) {
        await server.close();
        server = await start({ port, tls });
        const [, reason] = await sim.line(new RegExp(`"event":"ws_backoff".*"reason":"([^"]*)","error":"${code}"`), 20_000, `the device to refuse ${what}`);
        assert.match(reason!, message, what);
        assert.equal(server.history.filter((e) => e.event === "connect").length, 0, `${what}: no WebSocket request reached the server`);
      }

      // A good server again: the device, backing off all along, connects (the same boot).
      await server.close();
      server = await start({ port, tls: chain(certs.good) });
      const again = await server.waitFor("hello", () => true, 20_000);
      assert.equal(again.boot, hello.boot, "the same boot: refused connections never restarted the device");

      const lines = sim.stdout.split("\n").filter((line) => line.startsWith("{"));
      for (const line of lines) assert.ok(parseLogLine(line), line);
      assert.doesNotMatch(sim.stdout, /XS abort/, "no SDK exception escaped");
    } finally {
      if (sim) {
        sim.kill("SIGTERM");
        await sim.exited;
        sim = undefined;
      }
      firmware.remove();
    }
  });

  it("starts at 1970 (clockUnset), waits for NTP before wss://, and connects once chrony answers, to a certificate valid only from today", async function () {
    const chronyd = findChronyd();
    if (chronyd === undefined) {
      if (process.env.CI) throw new Error(CHRONY_MISSING);
      console.log(`      (skipped: ${CHRONY_MISSING})`);
      this.skip();
    }
    const certs = testCertificates();
    const day = new Date();
    const today = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate()));
    const fromToday = issueCertificate({
      commonName: "127.0.0.1",
      names: ["127.0.0.1"],
      issuer: certs.ca,
      notBefore: today,
      notAfter: new Date(today.getTime() + 30 * 86_400_000),
    });
    const firmware = scratchFirmware("moorline-ntp", certs.ca);
    let chrony: ChronyServer | undefined;
    let relay: NtpRelay | undefined;
    try {
      chrony = await startChrony(chronyd);
      relay = await startNtpRelay(chrony);
      server = await start({ port: 0, tls: { cert: fromToday.cert + certs.ca.cert, key: fromToday.key } });
      sim = new Child(
        process.execPath,
        [
          join(REPO_ROOT, "dist", "tools", "moddable.js"),
          "sim",
          "--headless",
          `url=wss://127.0.0.1:${server.port}/`,
          "deviceId=mcsim-ntp",
          "ca=test-ca",
          `ntp=${relay.label}`,
          "clockUnset=true",
        ],
        { env: { ...process.env, MOORLINE_ROOT: firmware.root } },
      );
      const [wait] = await sim.line(/^\{.*"event":"clock_wait".*\}$/, 180_000, "clock_wait"); // includes the build
      assert.deepEqual((JSON.parse(wait!) as { servers: string[] }).servers, [relay.label]);
      // An NTP timeout and a retry later: nothing sent to the wss:// server.
      await delay(5000);
      assert.ok(relay.requests >= 1, "NTP was asked, over the SDK's UDP");
      assert.equal(server.history.filter((e) => e.event === "connect").length, 0, "no connection before the clock is trusted");
      assert.doesNotMatch(sim.stdout, /ERR_TLS_CERT_NOT_YET_VALID/);

      relay.forwarding = true;
      await sim.line(/"event":"clock_synced"/, 30_000, "clock_synced");
      const hello = await server.waitFor("hello", () => true, 30_000);
      assert.equal(hello.device, "mcsim-ntp");
      const [status] = server.execute("status");
      const reply = await server.waitFor("reply", (e) => e.id === status!.id, 10_000);
      const result = reply.result as { time: number; clock: { trusted: boolean; source: string } };
      assert.ok(Math.abs(result.time - Date.now()) < 5000, `status.time ${result.time}`);
      assert.equal(result.clock.trusted, true);
      assert.equal(result.clock.source, "ntp");
      assert.doesNotMatch(sim.stdout, /XS abort/);
    } finally {
      if (sim) {
        sim.kill("SIGTERM");
        await sim.exited;
        sim = undefined;
      }
      await relay?.close();
      await chrony?.close();
      firmware.remove();
    }
  });
});
