/**
 * The simulated device on the Node host:
 *
 *   node dist/hosts/node/device.js [options]
 *   npm run device -- --url ws://127.0.0.1:8080/
 *
 * Runs the firmware's Device (src/device/device.ts) over the Node host, a simulated WiFi and a
 * JSON file for storage, printing one log line per event on stdout, as the ESP32's serial port
 * would: readable on a terminal, JSON lines when piped (what the monitor and the tests read);
 * --log-format chooses.
 */
import { Device } from "../../src/device/device.js";
import { formatDeviceLine } from "../../src/shared/log-format.js";
import { rmSync } from "node:fs";
import { fileProblem, runCommand, SetupError, wantsColour, type ParsedFlags } from "./cli.js";
import { createNodeDeviceHost } from "./device-host.js";
import { DEVICE_COMMAND, deviceArguments, type DeviceArguments } from "./device-options.js";
import type { LineSink } from "./host.js";

/** How long a stop (closing the connection with 1001) may take before the process exits anyway. */
const STOP_GRACE_MS = 3_000;

/** Where the log lines go: stdout as they are (JSON), or made readable (text). */
function logSink(format: "text" | "json"): LineSink {
  if (format === "json") return process.stdout;
  const colour = wantsColour(process.stdout);
  return { write: (line: string) => process.stdout.write(`${formatDeviceLine(line.replace(/\n$/, ""), colour)}\n`) };
}

function main(parsed: ParsedFlags): Promise<void> | void {
  const args = deviceArguments(parsed, process.stdout.isTTY === true);
  // A reader of our stdout went away (piped into `head`, or a monitor that quit): nothing left to report to.
  process.stdout.on("error", () => process.exit(0));
  if (args.factoryReset) factoryReset(args.storage);
  if (args.engine === "xs") return mainInXs(args);
  const host = createNodeDeviceHost({ storage: args.storage, logLevel: args.logLevel, out: logSink(args.logFormat) });
  const device = new Device({ host, config: args.config, explicitSettings: args.explicitSettings });
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(0); // a second Ctrl-C: leave at once
    stopping = true;
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    device.stop(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  device.start();
}

/**
 * --factory-reset: the storage file goes (saved networks, the provisioned server and name,
 * settings), so the device starts with its build's settings only, as a chip whose reset
 * button was held.
 */
function factoryReset(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch (error) {
    throw new SetupError(`--factory-reset: cannot erase ${path}: ${fileProblem(error)}`);
  }
  process.stderr.write(`device: factory reset: ${path} erased\n`);
}

/** The same device inside XS (hosts/xs): the same log lines on stdout, the same exits. */
async function mainInXs(args: DeviceArguments): Promise<void> {
  const [{ runDeviceInXs }, { FileStorage }, { createJsonLog }] = await Promise.all([
    import("../xs/run.js"),
    import("./file-storage.js"),
    import("./host.js"),
  ]);
  const out = logSink(args.logFormat);
  const storage = new FileStorage(args.storage, { log: createJsonLog(out, args.logLevel) });
  const device = await runDeviceInXs({
    config: args.config,
    explicitSettings: args.explicitSettings,
    storage,
    logLevel: args.logLevel,
    out,
  });
  device.engine.onFailure((error) => {
    process.stderr.write(`device: ${error.stack ?? error.message}\n`);
    process.exit(1);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(0);
    stopping = true;
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    device.stop().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

void runCommand(DEVICE_COMMAND, process.argv.slice(2), main);
