/**
 * `npm run monitor -- --port /dev/ttyUSB0 [--baud 115200]`: watches a device over serial.
 * Device lines go to stdout; the monitor's own lines (opened, gone, reconnected, errors) go to
 * stderr, so `--raw > capture.log` captures exactly what the device sent.
 * See USAGE in options.ts and docs/monitor.md.
 */
import { LineSplitter, type Line } from "./line-splitter.js";
import { parseArguments, USAGE, UsageError, type MonitorOptions } from "./options.js";
import { formatPortList, listPorts } from "./ports.js";
import { localTime, renderLine } from "./render.js";
import { PortSession, type PortOpener } from "./session.js";
import { paint } from "../../hosts/node/log-format.js";

/** A partial line is shown after this long without a byte, ms (the device reset mid-line). */
export const PARTIAL_LINE_IDLE_MS = 300;
/** After Ctrl-C, how long closing the port may take before we exit anyway, ms. */
const CLOSE_TIMEOUT_MS = 2_000;

function colourFor(stream: NodeJS.WriteStream, forced: boolean | undefined): boolean {
  return forced ?? (Boolean(stream.isTTY) && !process.env.NO_COLOR);
}

type SerialportModule = typeof import("serialport");

/** serialport, loaded only when a port is needed, with a clear message when its binding is broken. */
async function loadSerialport(): Promise<SerialportModule> {
  try {
    return await import("serialport");
  } catch (error) {
    throw new Error(
      `the serialport package could not be loaded (${(error as Error).message}).\n` +
        "Run `npm install` in the project; on a platform without a prebuilt binding, `npm rebuild serialport` builds it (needs a C++ compiler and Python).",
    );
  }
}

async function list(forcedColour: boolean | undefined): Promise<number> {
  const { SerialPort } = await loadSerialport();
  const ports = await listPorts(() => SerialPort.list());
  process.stdout.write(formatPortList(ports, colourFor(process.stdout, forcedColour)));
  return 0;
}

async function monitor(options: MonitorOptions): Promise<number> {
  const { SerialPort } = await loadSerialport();
  const colour = colourFor(process.stdout, options.colour);
  const statusColour = colourFor(process.stderr, options.colour);
  const status = (text: string): void => {
    process.stderr.write(`${localTime(Date.now())} ${paint(36, `monitor: ${text}`, statusColour)}\n`);
  };

  let session: PortSession | undefined;
  let outputBlocked = false;
  const write = (output: string | Uint8Array): void => {
    if (!process.stdout.write(output) && !outputBlocked) {
      // The reader (a pager, a slow pipe) is behind: stop reading the port instead of
      // buffering without bound; the OS keeps a little, the rest is lost as on any terminal.
      outputBlocked = true;
      session?.pause();
      process.stdout.once("drain", () => {
        outputBlocked = false;
        session?.resume();
      });
    }
  };
  const splitter = new LineSplitter((line: Line) => {
    const output = renderLine(line, options.raw ? { ...options, colour: false } : { ...options, colour });
    if (output !== undefined) write(output);
  });
  let idleTimer: NodeJS.Timeout | undefined;

  const open: PortOpener = (path, baudRate) =>
    new Promise((resolve, reject) => {
      const port = new SerialPort({ path, baudRate, autoOpen: false });
      port.open((error) => (error ? reject(error) : resolve(port)));
    });

  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = async (code: number, farewell?: string): Promise<void> => {
      if (finished) return;
      finished = true;
      clearTimeout(idleTimer);
      splitter.flush();
      setTimeout(() => resolve(code), CLOSE_TIMEOUT_MS).unref();
      await session?.stop();
      if (farewell) status(farewell);
      resolve(code);
    };
    session = new PortSession(options.port, options.baudRate, open, {
      data(chunk) {
        splitter.push(chunk, Date.now());
        clearTimeout(idleTimer);
        if (splitter.pending > 0) idleTimer = setTimeout(() => splitter.flush(), PARTIAL_LINE_IDLE_MS);
      },
      lost() {
        clearTimeout(idleTimer);
        splitter.flush();
      },
      status,
      fatal(text) {
        process.stderr.write(`monitor: ${text}\n`);
        void finish(1);
      },
    });
    // A repeated signal is ignored: one Ctrl-C often arrives twice (from the terminal and
    // forwarded by npm), and closing is bounded by CLOSE_TIMEOUT_MS anyway.
    const quit = (): void => void finish(0, `closed ${options.port}`);
    process.on("SIGINT", quit);
    process.on("SIGTERM", quit);
    // A reader that went away (`| head`): nothing more to show, quit as after Ctrl-C.
    process.stdout.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EPIPE") void finish(0);
    });
    void session.start(options.wait);
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let command;
  try {
    command = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`monitor: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  switch (command.kind) {
    case "help":
      process.stdout.write(USAGE);
      return 0;
    case "list":
      return list(command.colour);
    case "monitor":
      return monitor(command.options);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Let stdout drain before exiting: process.exit would cut a piped output short.
    process.exitCode = code;
    setTimeout(() => process.exit(code), 50).unref();
    process.stdout.write("", () => process.exit(code));
  },
  (error: Error) => {
    process.stderr.write(`monitor: ${error.message}\n`);
    process.exit(1);
  },
);
