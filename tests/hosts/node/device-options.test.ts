/**
 * The simulated device's flags (hosts/node/device-options.ts). The clock: which wall clock
 * the device gets (the OS's, trusted; one at 1970; or the OS time waiting for NTP), the NTP
 * servers it asks, and errors that name the flag typed. Provisioning: no portal on the
 * desktop unless asked for, the flags reaching the config, what contradicts, and which values
 * given for this run win over the provisioned ones.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { parseFlags, UsageError } from "../../../hosts/node/cli.js";
import { DEVICE_COMMAND, deviceArguments } from "../../../hosts/node/device-options.js";

describe("the device's clock flags (hosts/node/device-options.ts)", function () {
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-clock-flags-"))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const args = (...argv: string[]) => deviceArguments(parseFlags(DEVICE_COMMAND, ["--storage", join(folder, "d.json"), ...argv]), false);

  it("by default: the OS clock, trusted at once (npm start works offline), the NTP Pool configured but not asked", function () {
    const parsed = args();
    assert.deepEqual(parsed.clock, { unset: false, systemSynced: true });
    assert.deepEqual(parsed.config.ntp, ["0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org"]);
  });

  it("--clock-unset: a clock at 1970, trusted only once NTP answers", function () {
    assert.deepEqual(args("--clock-unset").clock, { unset: true, systemSynced: false });
  });

  it("--ntp (repeatable): those servers, in order; alone, the OS time waits for them", function () {
    const parsed = args("--ntp", "127.0.0.1:1123", "--ntp", "time.example");
    assert.deepEqual(parsed.config.ntp, ["127.0.0.1:1123", "time.example"]);
    assert.deepEqual(parsed.clock, { unset: false, systemSynced: false });
  });

  it("--ntp-interval-ms and --clock-fallback-ms set the config keys", function () {
    const parsed = args("--ntp-interval-ms", "60000", "--clock-fallback-ms", "30000");
    assert.equal(parsed.config.ntpIntervalMs, 60_000);
    assert.equal(parsed.config.clockFallbackMs, 30_000);
  });

  it("names the flag typed in errors", function () {
    assert.throws(() => args("--ntp", "time.example:99999"), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, '--ntp must be host[:port] with a port from 1 to 65535, got "time.example:99999"');
      return true;
    });
    assert.throws(() => args("--ntp-interval-ms", "1000"), { message: /^--ntp-interval-ms must be an integer from 15000/ });
  });
});

describe("the device's provisioning flags (hosts/node/device-options.ts)", function () {
  let folder: string;
  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-provisioning-flags-"))));
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  const args = (...argv: string[]) => deviceArguments(parseFlags(DEVICE_COMMAND, ["--storage", join(folder, "d.json"), ...argv]), false);

  it("no portal and no DNS server unless asked for (port 80 and 53 would need privileges)", () => {
    const { config, factoryReset } = args();
    assert.equal(config.portalPort, 0);
    assert.equal(config.dnsPort, 0);
    assert.equal(factoryReset, false);
  });

  it("sets the portal's ports, timeouts and password, and --factory-reset", () => {
    const { config, factoryReset } = args(
      "--ssid", "", "--password", "",
      "--portal-port", "8081", "--dns-port", "5300", "--portal-timeout-ms", "30000", "--server-trial-ms", "5000",
      "--ap-password", "setup-pass", "--factory-reset",
    );
    assert.deepEqual(
      [config.ssid, config.portalPort, config.dnsPort, config.portalTimeoutMs, config.serverTrialMs, config.apPassword],
      ["", 8081, 5300, 30000, 5000, "setup-pass"],
    );
    assert.equal(factoryReset, true);
  });

  it("refuses what cannot be: a portal without WiFi, a port out of range, a short access point password (not quoted)", () => {
    assert.throws(() => args("--no-wifi", "--portal-port", "8081"), (error: Error) => error instanceof UsageError && /--portal-port and --no-wifi contradict each other/.test(error.message));
    assert.throws(() => args("--portal-port", "70000"), /--portal-port must be an integer from 1 to 65535/);
    assert.throws(() => args("--ap-password", "short-pw".slice(0, 5)), (error: Error) => /--ap-password must be empty .* or 8 to 63 printable ASCII characters/.test(error.message) && !error.message.includes("short"));
  });

  it("a --url or --device-id given wins over the provisioned one for this run (explicit)", () => {
    assert.deepEqual(args("--url", "ws://127.0.0.1:9/", "--device-id", "x-1").explicitSettings, ["url", "deviceId"]);
    assert.deepEqual(args().explicitSettings, []);
  });
});
