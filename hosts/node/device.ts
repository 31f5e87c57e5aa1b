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
 * With --serial PATH the tty PATH is the device's UART, as UART0 is the ESP32's: the chip opens
 * it once and keeps it across resets; the same log lines (JSON) go there, the chip's own
 * included, and the firmware answers Improv WiFi there (hosts/node/serial.ts; its bytes are
 * relayed to the run, hosts/node/serial-relay.ts for the worker thread).
 */
import { OUTBOX_STORAGE_DOMAIN } from "../../src/health/outbox-store.js";
import { FACTORY_RESET_STORAGE } from "../../src/provisioning/provisioner.js";
import type { Log } from "../../src/shared/host.js";
import { formatDeviceLine } from "../../src/shared/log-format.js";
import { Chip, STOP_GRACE_MS } from "./chip.js";
import { fileProblem, runCommand, SetupError, wantsColour, type ParsedFlags } from "./cli.js";
import { DEVICE_COMMAND, deviceArguments } from "./device-options.js";
import { FileStorage } from "./file-storage.js";
import { chipStatePath, slotsPath } from "./firmware.js";
import { ensureSigningKey } from "./firmware-keys.js";
import { createJsonLog, type LineSink } from "./host.js";
import { SerialConsole } from "./serial.js";
import { classifyOpenError, explainOpenFailure } from "../../tools/monitor/ports.js";

/** Where the log lines go: stdout as they are (JSON), or made readable (text). */
function logSink(format: "text" | "json"): LineSink {
  if (format === "json") return process.stdout;
  const colour = wantsColour(process.stdout);
  return { write: (line: string) => process.stdout.write(`${formatDeviceLine(line.replace(/\n$/, ""), colour)}\n`) };
}

/** Signals this close together are one stop request, ms. */
const SAME_STOP_REQUEST_MS = 1000;
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

/** How long the last lines may take to reach the UART at exit, ms. */
const UART_CLOSE_GRACE_MS = 500;

async function main(parsed: ParsedFlags): Promise<void> {
  const args = deviceArguments(parsed, process.stdout.isTTY === true);
  // A reader of our stdout went away (piped into `head`, or a monitor that quit): nothing left to report to.
  process.stdout.on("error", () => process.exit(0));
  const uart = args.serial === undefined ? undefined : await openUart(args.serial);
  // The UART gets JSON lines, as the chip's does; stdout what --log-format says.
  const out = both(logSink(args.logFormat), uart);
  const log = createJsonLog(out, args.logLevel);
  if (args.factoryReset) factoryReset(args.storage, log);
  const engine = args.engine === "xs" ? (await import("./chip-xs.js")).bootOnXs : (await import("./chip-node.js")).bootOnNode;
  // The owner's update key, its public half built into the firmware as the ESP32 build does it.
  let otaPublicKey: string;
  try {
    otaPublicKey = ensureSigningKey(args.otaKeys).base64;
  } catch (error) {
    throw new SetupError(`--ota-keys ${args.otaKeys}: ${(error as Error).message}`);
  }
  const chip = new Chip({
    statePath: chipStatePath(args.storage),
    slotsPath: slotsPath(args.storage),
    engine,
    watchdogMs: args.watchdogMs,
    config: { ...args.config, otaPublicKey },
    explicitSettings: args.explicitSettings,
    clock: args.clock,
    storagePath: args.storage,
    logLevel: args.logLevel,
    out,
    log,
    ...(uart ? { serial: uart } : {}),
  });
  let stoppingSince: number | undefined;
  /** Exits once the UART has sent what it holds (bounded). */
  const exit = async (code: number): Promise<never> => {
    if (uart) await Promise.race([uart.close(), new Promise((resolve) => setTimeout(resolve, UART_CLOSE_GRACE_MS))]);
    process.exit(code);
  };
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
    void chip.stop().then(() => exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await chip.powerOn();
  } catch (error) {
    // The firmware could not start at all (the XS engine is missing, say).
    throw new SetupError(`the firmware cannot start: ${(error as Error).message}`);
  }
  await exit(0);
}

/**
 * --factory-reset, before the chip powers on: what the firmware's factory reset erases
 * (src/provisioning FACTORY_RESET_STORAGE: saved networks, the provisioned server and name,
 * settings, the stored token; and the durable outbox), as on a chip whose reset button was
 * held. The boot record, the clock's last good time and the firmware update's records stay,
 * as they do there; so do the chip's memory and update slots (<name>.chip.json, <name>.slots/):
 * the chip boots the image it booted before.
 */
function factoryReset(path: string, log: Log): void {
  try {
    const storage = new FileStorage(path, { log });
    for (const { domain, key } of FACTORY_RESET_STORAGE) storage.delete(domain, key);
    for (const key of storage.keys(OUTBOX_STORAGE_DOMAIN)) storage.delete(OUTBOX_STORAGE_DOMAIN, key);
  } catch (error) {
    throw new SetupError(`--factory-reset: cannot erase the settings in ${path}: ${fileProblem(error)}`);
  }
  process.stderr.write(`device: factory reset: the saved networks, server, name, settings, token and unsent telemetry in ${path} erased\n`);
}

void runCommand(DEVICE_COMMAND, process.argv.slice(2), main);
