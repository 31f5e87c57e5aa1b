/**
 * The device's UART across the desktop chip's worker thread (chip-node.ts, firmware-worker.ts).
 * The chip process owns the tty (hosts/node/serial.ts SerialConsole: one OS handle, opened
 * once, kept across resets as UART0 outlives the firmware); each run of the firmware in a
 * worker reads and writes it through messages:
 *
 *   worker -> chip  { serial: "open" }            opens the console's reader for this run
 *                   { serial: "write", bytes }    queued after the log lines posted before it
 *                   { serial: "read", count }     the firmware consumed `count` bytes: credit
 *                   { serial: "close" }
 *   chip -> worker  { serialBytes }               received bytes, at most the credit given
 *                   { serialError }               the port failed or went away
 *
 * Received bytes are credited, not pushed: the chip hands over at most
 * MAX_RELAYED_INPUT_BYTES the firmware has not read yet, and leaves the rest in the console's
 * own queue, which pauses the tty when full. Nothing is lost and both sides stay bounded.
 * Writes cannot be answered synchronously across threads: write() says true once the bytes
 * are relayed, and a tty whose output queue is full drops them in the chip process (counted,
 * and said once on stderr by hosts/node/device.ts), as it does for log lines.
 */
import type { ConsoleSerial, ConsoleSerialConstructor, ConsoleSerialOptions } from "../../src/shared/host.js";
import { takeBytes } from "../../src/shared/byte-queue.js";
import { MAX_SERIAL_INPUT_BYTES, type SerialConsole } from "./serial.js";

/** Received bytes the worker may hold unread at most. */
export const MAX_RELAYED_INPUT_BYTES = MAX_SERIAL_INPUT_BYTES;

export type SerialFromWorker =
  | { serial: "open" }
  | { serial: "write"; bytes: Uint8Array }
  | { serial: "read"; count: number }
  | { serial: "close" };
export type SerialToWorker = { serialBytes: Uint8Array } | { serialError: string };

/** Whether a worker's message is one of the relay's. */
export function isSerialMessage(message: unknown): message is SerialFromWorker {
  return typeof message === "object" && message !== null && typeof (message as { serial?: unknown }).serial === "string";
}

/**
 * The chip's half, for one run: serves the worker's messages over `console`; end() when the
 * run is over (the reader is closed, so the next run can open its own).
 */
export class SerialRelay {
  private reader: ConsoleSerial | undefined;
  private credit = MAX_RELAYED_INPUT_BYTES;
  private ended = false;

  constructor(
    private readonly console: SerialConsole,
    private readonly toWorker: (message: SerialToWorker) => void,
  ) {}

  handle(message: SerialFromWorker): void {
    if (this.ended) return;
    switch (message.serial) {
      case "open":
        this.open();
        return;
      case "write":
        this.console.writeBytes(message.bytes);
        return;
      case "read":
        this.credit = Math.min(MAX_RELAYED_INPUT_BYTES, this.credit + Math.max(0, message.count));
        this.pump();
        return;
      case "close":
        this.closeReader();
        return;
    }
  }

  end(): void {
    this.ended = true;
    this.closeReader();
  }

  private open(): void {
    if (this.reader !== undefined) {
      this.toWorker({ serialError: "the console serial port is open already (one reader at a time)" });
      return;
    }
    try {
      this.credit = MAX_RELAYED_INPUT_BYTES;
      this.reader = new this.console.serial({
        onReadable: () => this.pump(),
        onError: (message) => {
          this.reader = undefined;
          if (!this.ended) this.toWorker({ serialError: message ?? "the port failed" });
        },
      });
    } catch (error) {
      this.toWorker({ serialError: (error as Error).message });
    }
  }

  /** Hands over what the console holds, up to the credit. */
  private pump(): void {
    const reader = this.reader;
    while (reader !== undefined && this.credit > 0 && !this.ended) {
      const bytes = reader.read(this.credit);
      if (bytes === undefined) return;
      this.credit -= bytes.length;
      this.toWorker({ serialBytes: bytes });
    }
  }

  private closeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    reader?.close();
  }
}

/**
 * The worker's half: DeviceHost.serial for the firmware, over messages to the chip
 * (`toChip`); `received` takes the chip's messages. One reader at a time.
 */
export function createRelayedSerial(toChip: (message: SerialFromWorker) => void): {
  serial: ConsoleSerialConstructor;
  received(message: SerialToWorker): void;
} {
  let open: RelayedSerial | undefined;

  class RelayedSerial implements ConsoleSerial {
    private queue: Uint8Array[] = [];
    private queued = 0;
    private closed = false;

    constructor(private readonly options: ConsoleSerialOptions) {
      if (open !== undefined) throw new Error("the console serial port is open already (one reader at a time)");
      open = this;
      toChip({ serial: "open" });
    }

    read(count?: number): Uint8Array | undefined {
      if (this.closed || this.queued === 0) return undefined;
      const wanted = count === undefined ? this.queued : Math.min(Math.floor(count), this.queued);
      if (!(wanted > 0)) return undefined;
      this.queued -= wanted;
      toChip({ serial: "read", count: wanted });
      return takeBytes(this.queue, wanted);
    }

    write(bytes: Uint8Array): boolean {
      if (this.closed) return false;
      // Structured-cloned: the caller may reuse its buffer once this returns.
      toChip({ serial: "write", bytes });
      return true;
    }

    close(): void {
      if (this.closed) return;
      this.end();
      toChip({ serial: "close" });
    }

    /** The chip's bytes (never more than the credit it was given). */
    bytes(chunk: Uint8Array): void {
      if (this.closed) return;
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.options.onReadable?.(this.queued);
    }

    failed(message: string): void {
      if (this.closed) return;
      this.end();
      this.options.onError?.(message);
    }

    private end(): void {
      this.closed = true;
      this.queue = [];
      this.queued = 0;
      if (open === this) open = undefined;
    }
  }

  return {
    serial: RelayedSerial,
    received(message) {
      if ("serialBytes" in message) open?.bytes(message.serialBytes);
      else open?.failed(message.serialError);
    },
  };
}
