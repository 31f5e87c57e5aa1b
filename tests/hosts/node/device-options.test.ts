/**
 * The simulated device's provisioning flags (hosts/node/device-options.ts): no portal on the
 * desktop unless asked for, the flags reaching the config, what contradicts, and which
 * values given for this run win over the provisioned ones.
 */
import assert from "node:assert/strict";
import { parseFlags, UsageError } from "../../../hosts/node/cli.js";
import { DEVICE_COMMAND, deviceArguments } from "../../../hosts/node/device-options.js";

const args = (...argv: string[]) => deviceArguments(parseFlags(DEVICE_COMMAND, ["--storage", "/tmp/moorline-options-test.json", ...argv]), false);

describe("the device's provisioning flags", () => {
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
