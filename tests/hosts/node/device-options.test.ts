/**
 * The simulated device's clock flags (hosts/node/device-options.ts): which wall clock the
 * device gets (the OS's, trusted; one at 1970; or the OS time waiting for NTP), the NTP
 * servers it asks, and errors that name the flag typed.
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
