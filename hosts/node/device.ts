/**
 * The simulated device on the Node host:
 *
 *   node dist/hosts/node/device.js [options]
 *   npm run device -- --url ws://127.0.0.1:8080/
 *
 * Runs the firmware's Device (src/device/device.ts) over the Node host, a simulated WiFi and a
 * JSON file for storage, printing one log line per event on stdout, as the ESP32's serial port
 * would: readable on a terminal, JSON lines when piped (what the monitor and the tests read);
 * --log-format chooses. With --serial PATH the tty PATH is the device's UART: the same log
 * lines (JSON) go there, and Improv WiFi is answered there (hosts/node/serial.ts).
 */
import { Device } from "../../src/device/device.js";
import { formatDeviceLine } from "../../src/shared/log-format.js";
import { runCommand, SetupError, wantsColour, type ParsedFlags } from "./cli.js";
import { createNodeDeviceHost } from "./device-host.js";
import { DEVICE_COMMAND, deviceArguments, type DeviceArguments } from "./device-options.js";
import type { LineSink } from "./host.js";
import { SerialConsole } from "./serial.js";
import { classifyOpenError, explainOpenFailure } from "../../tools/monitor/ports.js";

/** How long a stop (closing the connection with 1001) may take before the process exits anyway. */
const STOP_GRACE_MS = 3_000;

/** Where the log lines go: stdout as they are (JSON), or made readable (text). */
function logSink(format: "text" | "json"): LineSink {
  if (format === "json") return process.stdout;
  const colour = wantsColour(process.stdout);
  return { write: (line: string) => process.stdout.write(`${formatDeviceLine(line.replace(/\n$/, ""), colour)}\n`) };
}

/**
 * The --serial tty, opened, or a SetupError saying why not. Its problems are reported on
 * stderr (the log may be what is failing).
 */
async function openUart(path: string): Promise<SerialConsole> {
  let reportedDrop = false;
  try {
    return await SerialConsole.open(path, {
      onLost: (message) => process.stderr.write(`device: the serial port ${path} is gone (${message}); the device runs on without it\n`),
      onDropped: (dropped) => {
        if (reportedDrop) return;
        reportedDrop = true;
        process.stderr.write(`device: nobody reads ${path}: its output is full, lines are dropped (${dropped} so far)\n`);
      },
    });
  } catch (error) {
    const kind = classifyOpenError(error, path);
    if (kind === "missing") {
      throw new SetupError(
        `--serial ${path}: no such tty. To make a pair of connected ones:\n` +
          "  socat -d -d pty,raw,echo=0,link=/tmp/moorline-uart pty,raw,echo=0,link=/tmp/moorline-host\n" +
          "then --serial /tmp/moorline-uart here, and --port /tmp/moorline-host for npm run monitor or npm run provision.",
      );
    }
    throw new SetupError(`--serial ${explainOpenFailure(kind, path, error)}`);
  }
}

/** Lines to `first`, then to the UART too. */
function both(first: LineSink, uart: SerialConsole | undefined): LineSink {
  if (uart === undefined) return first;
  return {
    write(line: string) {
      first.write(line);
      uart.write(line);
    },
  };
}

async function main(parsed: ParsedFlags): Promise<void> {
  const args = deviceArguments(parsed, process.stdout.isTTY === true);
  // A reader of our stdout went away (piped into `head`, or a monitor that quit): nothing left to report to.
  process.stdout.on("error", () => process.exit(0));
  const uart = args.serial === undefined ? undefined : await openUart(args.serial);
  if (args.engine === "xs") return mainInXs(args, uart);
  // The UART gets JSON lines, as the chip's does; stdout what --log-format says.
  const host = createNodeDeviceHost({
    storage: args.storage,
    logLevel: args.logLevel,
    out: both(logSink(args.logFormat), uart),
    ...(uart ? { serial: uart.serial } : {}),
  });
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

/** The same device inside XS (hosts/xs): the same log lines on stdout, the same exits. */
async function mainInXs(args: DeviceArguments, uart: SerialConsole | undefined): Promise<void> {
  const [{ runDeviceInXs }, { FileStorage }, { createJsonLog }] = await Promise.all([
    import("../xs/run.js"),
    import("./file-storage.js"),
    import("./host.js"),
  ]);
  const out = both(logSink(args.logFormat), uart);
  const storage = new FileStorage(args.storage, { log: createJsonLog(out, args.logLevel) });
  const device = await runDeviceInXs({
    config: args.config,
    explicitSettings: args.explicitSettings,
    storage,
    logLevel: args.logLevel,
    out,
    ...(uart ? { serial: uart } : {}),
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
