/**
 * The simulated device on the desktop:
 *
 *   node dist/hosts/node/device.js [options]
 *   npm run device -- --url ws://127.0.0.1:8080/
 *
 * Runs the firmware's Device (src/device/device.ts) with a simulated WiFi and a JSON file for
 * storage, on a desktop "chip" (hosts/node/chip.ts) that boots it, restarts it after a reboot
 * request, a crash or a watchdog reset, and tells the next boot why, as an ESP32 does: in a
 * worker thread (--engine node, the default) or inside the XS engine (--engine xs). One log
 * line per event on stdout, as the ESP32's serial port would show them: readable on a
 * terminal, JSON lines when piped (what the monitor and the tests read); --log-format chooses.
 */
import { formatDeviceLine } from "../../src/shared/log-format.js";
import { Chip, STOP_GRACE_MS } from "./chip.js";
import { runCommand, SetupError, wantsColour, type ParsedFlags } from "./cli.js";
import { DEVICE_COMMAND, deviceArguments } from "./device-options.js";
import { chipStatePath } from "./firmware.js";
import { createJsonLog, type LineSink } from "./host.js";

/** Where the log lines go: stdout as they are (JSON), or made readable (text). */
function logSink(format: "text" | "json"): LineSink {
  if (format === "json") return process.stdout;
  const colour = wantsColour(process.stdout);
  return { write: (line: string) => process.stdout.write(`${formatDeviceLine(line.replace(/\n$/, ""), colour)}\n`) };
}

/** Signals this close together are one stop request, ms. */
const SAME_STOP_REQUEST_MS = 1000;

async function main(parsed: ParsedFlags): Promise<void> {
  const args = deviceArguments(parsed, process.stdout.isTTY === true);
  // A reader of our stdout went away (piped into `head`, or a monitor that quit): nothing left to report to.
  process.stdout.on("error", () => process.exit(0));
  const out = logSink(args.logFormat);
  const engine = args.engine === "xs" ? (await import("./chip-xs.js")).bootOnXs : (await import("./chip-node.js")).bootOnNode;
  const chip = new Chip({
    statePath: chipStatePath(args.storage),
    engine,
    watchdogMs: args.watchdogMs,
    config: args.config,
    explicitSettings: args.explicitSettings,
    clock: args.clock,
    storagePath: args.storage,
    logLevel: args.logLevel,
    out,
    log: createJsonLog(out, args.logLevel),
  });
  let stoppingSince: number | undefined;
  const stop = (): void => {
    if (stoppingSince !== undefined) {
      // A second Ctrl-C leaves at once. A signal right behind the first is the same request
      // (npm start: the terminal's SIGINT reaches both processes, then npm start's SIGTERM):
      // the chip must still stop cleanly, or the next boot would say "killed".
      if (Date.now() - stoppingSince > SAME_STOP_REQUEST_MS) process.exit(0);
      return;
    }
    stoppingSince = Date.now();
    setTimeout(() => process.exit(0), STOP_GRACE_MS + 1000).unref();
    void chip.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await chip.powerOn();
  } catch (error) {
    // The firmware could not start at all (the XS engine is missing, say).
    throw new SetupError(`the firmware cannot start: ${(error as Error).message}`);
  }
  process.exit(0);
}

void runCommand(DEVICE_COMMAND, process.argv.slice(2), main);
