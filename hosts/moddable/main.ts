/**
 * The firmware's entry on Moddable (the manifest's `creation.main`): reads the build
 * configuration (`mc/config`: the manifest's `config`, overridden by `mcconfig ... key=value`,
 * whose values arrive as strings), validates it with src/device/config.ts, builds the DeviceHost and
 * starts the device.
 *
 * The module only exports a function, which the runtime calls once its setup phase is done:
 * importing it does nothing, so it can be preloaded (built into flash at link time).
 *
 * A configuration that does not parse is reported once, as a JSON log line naming the key
 * ({"level":"error","event":"config_invalid","error":{"code":"ERR_INVALID_OPTION",...}}), and
 * the device stays idle: a build with a typo in its URL is fixed by rebuilding, not by
 * reconnecting forever. So is a `ca` that names no certificate resource in the firmware.
 */
import config from "mc/config";
import { parseDeviceConfig, type DeviceConfig } from "../../src/device/config.js";
import { Device } from "../../src/device/device.js";
import { invalidOption } from "../../src/shared/errors.js";
import type { LogLevel } from "../../src/shared/host.js";
import { isLogLevel } from "../../src/shared/log-format.js";
import { createModdableHost, moddableResource } from "./host.js";
import { createTraceLog } from "./log.js";
import { loadCa } from "./tls.js";

/** `config.logLevel`, when it names a level (default "info"). */
function logLevelOf(raw: Readonly<Record<string, unknown>>): LogLevel {
  const level = raw.logLevel;
  return isLogLevel(level) ? level : "info";
}

/** A boolean config key: true in the manifest, "true" from mcconfig's command line. */
function isTrue(value: unknown): boolean {
  return value === true || value === "true";
}

export default function main(): void {
  const raw = config as Readonly<Record<string, unknown>>;
  const logLevel = logLevelOf(raw);
  let deviceConfig: DeviceConfig;
  try {
    deviceConfig = parseDeviceConfig(raw);
    // On Moddable the CA is a resource built into the firmware: check it is there, and a
    // DER certificate, before the first connection.
    if (deviceConfig.ca !== "") {
      try {
        loadCa(deviceConfig.ca, moddableResource);
      } catch (error) {
        throw invalidOption("config.ca", `the name of a certificate resource (${(error as Error).message})`, deviceConfig.ca);
      }
    }
  } catch (error) {
    // Before the host exists (its WiFi listener is made once): a log of our own.
    const log = createTraceLog({ print: (line) => trace(line) });
    log("error", "config_invalid", {
      error,
      hint: "fix the manifest's config or the key=value given to mcconfig, then rebuild",
    });
    return;
  }
  // config systemClock (the simulators): the computer's clock, trusted; clockUnset (testing):
  // the wall clock starts at 1970 even in the simulator, as on a chip.
  const host = createModdableHost({
    logLevel,
    factoryResetPin: deviceConfig.factoryResetPin,
    clockUnset: isTrue(raw.clockUnset),
    systemClock: isTrue(raw.systemClock),
  });
  if (raw.logLevel !== undefined && logLevel !== raw.logLevel) {
    host.log("warn", "config_ignored", { key: "logLevel", value: raw.logLevel, using: logLevel });
  }
  if (deviceConfig.ssid === "") {
    host.log("warn", "wifi_not_configured", {
      hint: "networks saved in storage are tried; with none, the setup portal opens (or build with ssid=<network> password=<passphrase>)",
    });
  }
  const device = new Device({ host, config: deviceConfig });
  device.start();
}
