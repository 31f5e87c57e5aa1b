/**
 * The XS side of what Improv WiFi needs across the bridge: the console serial port (the
 * device's UART, DeviceHost.serial). Node keeps the port (hosts/node/serial.ts, shared with
 * the log); hosts/xs/improv-bridge.ts serves it. (WiFi scans are the setup portal's:
 * listener.ts.)
 *
 * - Received bytes are delivered as they arrive and queued here until read (bounded: a
 *   reader that does not read loses what overflows, as a UART's FIFO would).
 * - Writes are synchronous calls, so the answer says whether Node's bounded output queue took
 *   them, and they reach the port in order with the log lines posted before them.
 */
import type { ConsoleSerial, ConsoleSerialOptions } from "../../../src/shared/host.js";
import { takeBytes } from "../../../src/shared/byte-queue.js";
import { call, onDelivery, powers } from "./bridge.js";
import { Command, Delivery } from "./protocol.js";

/** Received bytes kept for the reader at most; beyond, they are dropped (and counted). */
export const MAX_XS_SERIAL_INPUT_BYTES = 16 * 1024;

let open: XsConsoleSerial | undefined;

/** The console serial port, Node's (hosts/node/serial.ts SerialConsole), read from XS. */
export class XsConsoleSerial implements ConsoleSerial {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private closed = false;
  /** Bytes dropped because the reader left them unread past MAX_XS_SERIAL_INPUT_BYTES. */
  dropped = 0;

  constructor(private readonly options: ConsoleSerialOptions) {
    if (open !== undefined) throw new Error("the console serial port is open already (one reader at a time)");
    // Throws Node's error (no port, one gone) here, as the Node host's constructor does.
    call(Command.SERIAL_OPEN);
    open = this;
  }

  read(count?: number): Uint8Array | undefined {
    if (this.closed || this.queued === 0) return undefined;
    const wanted = count === undefined ? this.queued : Math.min(Math.floor(count), this.queued);
    if (!(wanted > 0)) return undefined;
    this.queued -= wanted;
    return takeBytes(this.queue, wanted);
  }

  write(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    return call(Command.SERIAL_WRITE, (writer) => writer.bytes(bytes)).u8() === 1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    if (open === this) open = undefined;
    call(Command.SERIAL_CLOSE);
  }

  /** @internal Node delivered bytes. */
  received(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.queued + bytes.length > MAX_XS_SERIAL_INPUT_BYTES) {
      this.dropped += bytes.length;
      return;
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
    this.options.onReadable?.(this.queued);
  }

  /** @internal The port went away. */
  failed(message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    if (open === this) open = undefined;
    this.options.onError?.(message);
  }
}

onDelivery(Delivery.SERIAL_READABLE, (reader) => {
  // The delivery's buffer is ours alone: no copy.
  open?.received(reader.rest());
});
onDelivery(Delivery.SERIAL_ERROR, (reader) => {
  open?.failed(powers.decode(reader.rest()));
});
