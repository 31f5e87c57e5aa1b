/**
 * Serial ports on the desktop, over the `serialport` package: loading it (a native binding,
 * with a clear message when it is broken) and opening a port, for the monitor, `npm run
 * provision` and the simulated device; and the simulated device's UART itself.
 *
 * `npm run device -- --serial PATH` makes PATH (a tty: one end of a socat pty pair, a USB
 * serial adapter) the device's UART, as UART0 is the ESP32's: its log lines go there, one
 * JSON object a line, and Improv WiFi is read from there and answered there (DeviceHost.serial,
 * src/provisioning/improv-service.ts). Log lines and Improv packets go through one bounded
 * output queue, each whole, so neither is ever cut by the other.
 */
import type { Duplex } from "node:stream";
import type { ConsoleSerial, ConsoleSerialConstructor, ConsoleSerialOptions } from "../../src/shared/host.js";
import { takeBytes } from "../../src/shared/byte-queue.js";
import { SetupError } from "./cli.js";

export type SerialportModule = typeof import("serialport");

/** The ESP32 ROM bootloader's and our firmware's UART speed, bit/s. */
export const DEFAULT_BAUD = 115_200;

/** serialport, loaded only when a port is needed, with a clear message when its binding is broken. */
export async function loadSerialport(): Promise<SerialportModule> {
  try {
    return await import("serialport");
  } catch (error) {
    throw new SetupError(
      `the serialport package could not be loaded (${(error as Error).message}).\n` +
        "Run `npm install` in the project; on a platform without a prebuilt binding, `npm rebuild serialport` builds it (needs a C++ compiler and Python).",
    );
  }
}

/**
 * Opens `path` at `baudRate` (8N1, raw: no echo, no line editing); rejects with serialport's
 * error, which tools/monitor/ports.ts classifyOpenError and explainOpenFailure put in words.
 */
export function openSerialPort(module: SerialportModule, path: string, baudRate: number): Promise<InstanceType<SerialportModule["SerialPort"]>> {
  return new Promise((resolve, reject) => {
    const port = new module.SerialPort({ path, baudRate, autoOpen: false });
    port.open((error) => (error ? reject(error) : resolve(port)));
  });
}

/** Bytes waiting to be written to the tty at most; beyond, log lines and writes are dropped (and counted). */
export const MAX_SERIAL_OUTPUT_BYTES = 64 * 1024;
/** Received bytes waiting for the reader at most; beyond, the port is paused until it reads. */
export const MAX_SERIAL_INPUT_BYTES = 16 * 1024;

/** What the console needs of an open port (serialport's SerialPort has all of it). */
export type SerialStream = Pick<Duplex, "write" | "writableLength" | "on" | "pause" | "resume" | "removeAllListeners"> & {
  close(callback?: (error?: Error | null) => void): void;
};

export interface SerialConsoleEvents {
  /** The port closed or failed (a pty whose other end went away, a cable pulled). */
  onLost?: (message: string) => void;
  /** The output queue was full: a line or write was dropped (`dropped` counts them all). */
  onDropped?: (dropped: number) => void;
}

/**
 * The simulated device's UART: log lines (write, a LineSink) and Improv's bytes (the
 * ConsoleSerial of `serial`) out, in order; received bytes to the one reader that `serial`
 * opened, if any (with none, they are lost, as on a UART nobody reads).
 */
export class SerialConsole {
  /** DeviceHost.serial: opens the reader of this port (one at a time). */
  readonly serial: ConsoleSerialConstructor;
  /** Lines and writes dropped because the output queue was full. */
  dropped = 0;
  private reader: { options: ConsoleSerialOptions; queue: Uint8Array[]; queued: number } | undefined;
  private paused = false;
  private lost = false;

  constructor(
    readonly path: string,
    private readonly port: SerialStream,
    private readonly events: SerialConsoleEvents = {},
  ) {
    port.on("data", (chunk: Uint8Array) => this.received(chunk));
    port.on("close", () => this.gone("the port closed"));
    port.on("error", (error: Error) => this.gone(error.message));
    const owner = this;
    this.serial = class NodeConsoleSerial implements ConsoleSerial {
      private closed = false;
      constructor(options: ConsoleSerialOptions) {
        if (owner.lost) throw new Error(`the serial port ${owner.path} is gone`);
        if (owner.reader !== undefined) throw new Error(`the serial port ${owner.path} is open already (one reader at a time)`);
        owner.reader = { options, queue: [], queued: 0 };
      }
      read(count?: number): Uint8Array | undefined {
        return this.closed ? undefined : owner.read(count);
      }
      write(bytes: Uint8Array): boolean {
        return !this.closed && owner.writeBytes(bytes);
      }
      close(): void {
        if (this.closed) return;
        this.closed = true;
        owner.reader = undefined;
        owner.resumeInput();
      }
    };
  }

  /** Opens `path` (a tty) as the device's UART; rejects with serialport's error. */
  static async open(path: string, events: SerialConsoleEvents = {}, baudRate = DEFAULT_BAUD): Promise<SerialConsole> {
    const port = await openSerialPort(await loadSerialport(), path, baudRate);
    return new SerialConsole(path, port as unknown as SerialStream, events);
  }

  /** One log line (a LineSink's write: the text ends with "\n"). */
  write(line: string): void {
    this.writeBytes(Buffer.from(line, "utf8"));
  }

  /** Queues `bytes` whole, or drops them (false) when the output queue is full or the port gone. */
  writeBytes(bytes: Uint8Array): boolean {
    if (this.lost) return false;
    if (this.port.writableLength + bytes.length > MAX_SERIAL_OUTPUT_BYTES) {
      this.dropped++;
      this.events.onDropped?.(this.dropped);
      return false;
    }
    // Copied: the caller may reuse its buffer once this returns.
    this.port.write(Buffer.from(bytes));
    return true;
  }

  /** Closes the port once what was written has gone out. */
  close(): Promise<void> {
    this.lost = true;
    this.port.removeAllListeners("close");
    this.port.removeAllListeners("data");
    this.port.removeAllListeners("error");
    this.port.on("error", () => {});
    return new Promise((resolve) => {
      try {
        this.port.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  private received(chunk: Uint8Array): void {
    const reader = this.reader;
    if (reader === undefined) return;
    reader.queue.push(chunk);
    reader.queued += chunk.length;
    if (reader.queued > MAX_SERIAL_INPUT_BYTES && !this.paused) {
      this.paused = true;
      this.port.pause();
    }
    reader.options.onReadable?.(reader.queued);
  }

  private read(count?: number): Uint8Array | undefined {
    const reader = this.reader;
    if (reader === undefined || reader.queued === 0) return undefined;
    const wanted = count === undefined ? reader.queued : Math.min(Math.max(0, Math.floor(count)), reader.queued);
    if (wanted === 0) return undefined;
    const bytes = takeBytes(reader.queue, wanted);
    reader.queued -= wanted;
    if (reader.queued === 0) this.resumeInput();
    return bytes;
  }

  private resumeInput(): void {
    if (!this.paused || this.lost) return;
    this.paused = false;
    this.port.resume();
  }

  private gone(message: string): void {
    if (this.lost) return;
    this.lost = true;
    const reader = this.reader;
    this.reader = undefined;
    this.events.onLost?.(message);
    reader?.options.onError?.(message);
  }
}
