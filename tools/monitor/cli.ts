/**
 * `npm run monitor -- --port /dev/ttyUSB0 [--baud 115200]`: watches a device over serial;
 * `npm run -s device | npm run -s monitor -- --stdin`: the same for lines from a pipe.
 * Device lines go to stdout; the monitor's own lines (opened, gone, reconnected, errors) go to
 * stderr, so `--raw > capture.log` captures exactly what the device sent.
 * See MONITOR_COMMAND in options.ts and docs/monitor.md.
 */
import { exitWhenDrained, runCommand, wantsColour, type ParsedFlags } from "../../hosts/node/cli.js";
import { loadSerialport, openSerialPort } from "../../hosts/node/serial.js";
import { localTime, paint, SGR } from "../../src/shared/log-format.js";
import { LineSplitter, type Line } from "./line-splitter.js";
import { MONITOR_COMMAND, monitorCommand, type MonitorOptions } from "./options.js";
import { formatPortList, listPorts } from "./ports.js";
import { renderLine } from "./render.js";
import { PortSession, type PortOpener } from "./session.js";

/** A partial line is shown after this long without a byte, ms (the device reset mid-line). */
export const PARTIAL_LINE_IDLE_MS = 300;
/** After Ctrl-C, how long closing the port may take before we exit anyway, ms. */
const CLOSE_TIMEOUT_MS = 2_000;

function colourFor(stream: NodeJS.WriteStream, forced: boolean | undefined): boolean {
  return forced ?? wantsColour(stream);
}

async function list(forcedColour: boolean | undefined): Promise<number> {
  const { SerialPort } = await loadSerialport();
  const ports = await listPorts(() => SerialPort.list());
  process.stdout.write(formatPortList(ports, colourFor(process.stdout, forcedColour)));
  return 0;
}

/** Where device lines go: rendered, written to stdout; a slow reader pauses the source. */
interface Output {
  /** Takes bytes from the device that came now. */
  data(chunk: Uint8Array): void;
  /** The source paused or ended: a pending partial line is complete. */
  flush(): void;
  /** The monitor's own line, on stderr. */
  status(text: string): void;
}

/**
 * The rendering pipeline both sources share: lines split (a partial one shown after
 * PARTIAL_LINE_IDLE_MS of silence), rendered, written; when stdout's reader falls behind, the
 * source is paused (`pause`) until it drains, instead of buffering without bound.
 */
function createOutput(options: MonitorOptions, source: { pause(): void; resume(): void }): Output {
  const colour = colourFor(process.stdout, options.colour);
  const statusColour = colourFor(process.stderr, options.colour);
  let outputBlocked = false;
  const write = (output: string | Uint8Array): void => {
    if (!process.stdout.write(output) && !outputBlocked) {
      // The reader (a pager, a slow pipe) is behind: stop reading the source instead of
      // buffering without bound; the OS keeps a little, the rest is lost as on any terminal.
      outputBlocked = true;
      source.pause();
      process.stdout.once("drain", () => {
        outputBlocked = false;
        source.resume();
      });
    }
  };
  const splitter = new LineSplitter((line: Line) => {
    const output = renderLine(line, options.raw ? { ...options, colour: false } : { ...options, colour });
    if (output !== undefined) write(output);
  });
  let idleTimer: NodeJS.Timeout | undefined;
  return {
    data(chunk) {
      splitter.push(chunk, Date.now());
      clearTimeout(idleTimer);
      if (splitter.pending > 0) idleTimer = setTimeout(() => splitter.flush(), PARTIAL_LINE_IDLE_MS);
    },
    flush() {
      clearTimeout(idleTimer);
      splitter.flush();
    },
    status(text) {
      process.stderr.write(`${localTime(Date.now())} ${paint(SGR.cyan, `monitor: ${text}`, statusColour)}\n`);
    },
  };
}

/** Quits on Ctrl-C, SIGTERM, and when stdout's reader goes away (`| head`). */
function onQuit(quit: () => void): void {
  // A repeated signal is ignored: one Ctrl-C often arrives twice (from the terminal and
  // forwarded by npm), and closing is bounded by CLOSE_TIMEOUT_MS anyway.
  process.on("SIGINT", quit);
  process.on("SIGTERM", quit);
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") quit();
  });
}

async function monitor(options: MonitorOptions): Promise<number> {
  if (options.port === "-") return monitorStdin(options);
  const serialport = await loadSerialport();
  let session: PortSession | undefined;
  const output = createOutput(options, { pause: () => session?.pause(), resume: () => session?.resume() });

  const open: PortOpener = (path, baudRate) => openSerialPort(serialport, path, baudRate);

  return new Promise<number>((resolve) => {
    let finished = false;
    const finish = async (code: number, farewell?: string): Promise<void> => {
      if (finished) return;
      finished = true;
      output.flush();
      setTimeout(() => resolve(code), CLOSE_TIMEOUT_MS).unref();
      await session?.stop();
      if (farewell) output.status(farewell);
      resolve(code);
    };
    session = new PortSession(options.port, options.baudRate, open, {
      data: (chunk) => output.data(chunk),
      lost: () => output.flush(),
      status: (text) => output.status(text),
      fatal(text) {
        process.stderr.write(`monitor: ${text}\n`);
        void finish(1);
      },
    });
    onQuit(() => void finish(0, `closed ${options.port}`));
    void session.start(options.wait);
  });
}

/** The same rendering for lines read from standard input, until it ends (exit 0). */
function monitorStdin(options: MonitorOptions): Promise<number> {
  const input = process.stdin;
  const output = createOutput(options, { pause: () => input.pause(), resume: () => input.resume() });
  return new Promise<number>((resolve) => {
    const finish = (): void => {
      output.flush();
      resolve(0);
    };
    input.on("data", (chunk: Buffer) => output.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
    input.once("end", finish);
    input.once("error", (error) => {
      process.stderr.write(`monitor: cannot read standard input: ${error.message}\n`);
      output.flush();
      resolve(1);
    });
    onQuit(finish);
  });
}

async function main(parsed: ParsedFlags): Promise<number> {
  const command = monitorCommand(parsed);
  switch (command.kind) {
    case "help": // printed by runCommand
      return 0;
    case "list":
      return list(command.colour);
    case "monitor":
      return monitor(command.options);
  }
}

void runCommand(MONITOR_COMMAND, process.argv.slice(2), main).then(exitWhenDrained);
