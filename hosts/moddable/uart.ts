/**
 * The ESP32's console UART (UART0, the USB-serial bridge's) as the firmware's own, over the
 * SDK's ECMA-419 `embedded:io/serial`: the log's lines go out through it, and Improv WiFi
 * (DeviceHost.serial) reads and answers through it.
 *
 * What the SDK gives (8.2.3): in a release build nothing holds UART0 (the debugger is
 * `debugger_none.c`, whose trace() output is dropped: "serial console output is suppressed"),
 * so the firmware opens it; in a debug build (-d) xsbug owns it and in an instrumented build
 * (-i) the console does (its driver installed, its pins taken), and the SDK's Serial throws
 * ("in use", "port in use"): console.ts then leaves the log to trace() and there is no Improv.
 *
 * The SDK's Serial on the ESP32 (modules/io/serial/esp32/serial.c) writes into the 128-byte
 * hardware FIFO only: write() throws ("output full") past the space onWritable reported. So
 * this adapter keeps one bounded output queue, fed by whole log lines and whole Improv
 * packets in the order they come, and drains it as onWritable reports room. read() returns
 * an ArrayBuffer of what the FIFO holds.
 *
 * Portable on purpose: the SDK's Serial is passed in, so the adapter is tested on Node
 * against a fake with the same FIFO behaviour.
 */
import type { ConsoleSerial, ConsoleSerialConstructor, ConsoleSerialOptions } from "../../src/shared/host.js";
import { takeBytes } from "../../src/shared/byte-queue.js";
import { encodeUtf8 } from "../../src/websocket/utf8.js";

/** Options of the SDK's ECMA-419 Serial constructor that this adapter uses. */
export interface Ecma419SerialOptions {
  /** The UART: 0 for the console. */
  port: number;
  /** GPIO numbers: UART0 is TX 1, RX 3 on the ESP32 (43/44 on the S3, 21/20 on the C3). */
  transmit: number;
  receive: number;
  baud: number;
  format: "buffer";
  onReadable: (count: number) => void;
  onWritable: (count: number) => void;
}

/** The SDK's ECMA-419 Serial, as far as this adapter uses it. */
export interface Ecma419Serial {
  /** All bytes the receive FIFO holds, or undefined when none. */
  read(): ArrayBuffer | undefined;
  /** Throws ("output full") past the space onWritable reported. */
  write(bytes: Uint8Array): void;
  close(): void;
}

export type Ecma419SerialConstructor = new (options: Ecma419SerialOptions) => Ecma419Serial;

/** The console's speed, bit/s: the ROM bootloader's and `npm run monitor`'s. */
export const CONSOLE_BAUD = 115_200;

/**
 * Bytes waiting to go out at most (about 0.35 s of UART at 115200 baud): a burst of log lines
 * at boot fits; beyond, a line or packet is dropped whole, and counted.
 */
export const MAX_UART_OUTPUT_BYTES = 4096;

/** Received bytes kept for the reader at most (the FIFO holds 128). */
export const MAX_UART_INPUT_BYTES = 512;

/** UART0's pins: the build config's consoleTransmit and consoleReceive, else the ESP32's own. */
export function consolePins(config: Readonly<Record<string, unknown>>): { transmit: number; receive: number } {
  const pin = (key: string, fallback: number): number => {
    const value = config[key];
    const number = typeof value === "string" && /^[0-9]{1,2}$/.test(value) ? Number(value) : value;
    return typeof number === "number" && Number.isInteger(number) && number >= 0 && number <= 48 ? number : fallback;
  };
  return { transmit: pin("consoleTransmit", 1), receive: pin("consoleReceive", 3) };
}

export class ConsoleUart {
  /** DeviceHost.serial: the reader of this UART (one at a time). */
  readonly serial: ConsoleSerialConstructor;
  /** Lines and writes dropped because the output queue was full. */
  dropped = 0;
  /** Told once the output queue has drained after drops, with how many there were since the last time. */
  onDropped: ((lines: number) => void) | undefined;

  private readonly uart: Ecma419Serial;
  private readonly output: Uint8Array[] = [];
  private queued = 0;
  /** Bytes the FIFO takes now: the last onWritable count, minus what was written since. */
  private space = 0;
  private unreported = 0;
  private reader: { options: ConsoleSerialOptions; queue: Uint8Array[]; queued: number } | undefined;

  /** Opens the UART; throws what the SDK throws when it is taken (debug and instrumented builds). */
  constructor(Serial: Ecma419SerialConstructor, pins: { transmit: number; receive: number }) {
    this.uart = new Serial({
      port: 0,
      transmit: pins.transmit,
      receive: pins.receive,
      baud: CONSOLE_BAUD,
      format: "buffer",
      onReadable: () => this.readable(),
      onWritable: (count) => {
        this.space = count;
        this.drain();
      },
    });
    const owner = this;
    this.serial = class ModdableConsoleSerial implements ConsoleSerial {
      private closed = false;
      constructor(options: ConsoleSerialOptions) {
        if (owner.reader !== undefined) throw new Error("the console UART is open already (one reader at a time)");
        owner.reader = { options, queue: [], queued: 0 };
      }
      read(count?: number): Uint8Array | undefined {
        const reader = owner.reader;
        if (this.closed || reader === undefined || reader.queued === 0) return undefined;
        const wanted = count === undefined ? reader.queued : Math.min(Math.floor(count), reader.queued);
        if (!(wanted > 0)) return undefined;
        reader.queued -= wanted;
        return takeBytes(reader.queue, wanted);
      }
      write(bytes: Uint8Array): boolean {
        return !this.closed && owner.enqueue(bytes);
      }
      close(): void {
        if (this.closed) return;
        this.closed = true;
        owner.reader = undefined;
      }
    };
  }

  /** One log line (its text ends with "\n"), for the log's print. */
  print(line: string): void {
    this.enqueue(encodeUtf8(line));
  }

  /** Queues `bytes` (kept, not copied) whole behind what is queued; false when they do not fit. */
  private enqueue(bytes: Uint8Array): boolean {
    if (this.queued + bytes.length > MAX_UART_OUTPUT_BYTES) {
      this.dropped++;
      this.unreported++;
      return false;
    }
    this.output.push(bytes);
    this.queued += bytes.length;
    this.drain();
    return true;
  }

  /** Writes what the FIFO takes now. */
  private drain(): void {
    while (this.space > 0 && this.queued > 0) {
      const head = this.output[0]!;
      const count = Math.min(this.space, head.length);
      try {
        this.uart.write(count === head.length ? head : head.subarray(0, count));
      } catch {
        // The FIFO is fuller than it said: wait for the next onWritable.
        this.space = 0;
        return;
      }
      this.space -= count;
      this.queued -= count;
      if (count === head.length) this.output.shift();
      else this.output[0] = head.subarray(count);
    }
    if (this.queued === 0 && this.unreported > 0) {
      const lines = this.unreported;
      this.unreported = 0;
      this.onDropped?.(lines);
    }
  }

  private readable(): void {
    const buffer = this.uart.read();
    const reader = this.reader;
    // Nobody reads: the bytes are lost, as a UART's are.
    if (buffer === undefined || buffer.byteLength === 0 || reader === undefined) return;
    const bytes = new Uint8Array(buffer);
    if (reader.queued + bytes.length > MAX_UART_INPUT_BYTES) return;
    reader.queue.push(bytes);
    reader.queued += bytes.length;
    reader.options.onReadable?.(reader.queued);
  }
}
