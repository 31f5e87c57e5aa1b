/**
 * The Node side of what Improv WiFi needs across the bridge (xs-side/improv-bridge.ts): the
 * device's console serial port, which Node keeps (hosts/node/serial.ts SerialConsole, shared
 * with the log lines XS posts). WiFi scans are the setup portal's (listener-bridge.ts
 * WIFI_SCAN). engine.ts dispatches the commands here and calls shutDown() when the worker ends.
 */
import type { ConsoleSerial } from "../../src/shared/host.js";
import type { SerialConsole } from "../node/serial.js";
import { ANSWER_OK, Command, Delivery, type Reader, type Writer } from "./xs-side/protocol.js";

/** Queues a delivery to XS (the engine's); `write` fills its body when its turn comes. */
export type DeliverEvent = (kind: number, write: (writer: Writer) => void | false) => void;

const OK = new Uint8Array([ANSWER_OK]);

export class ImprovBridge {
  private reader: ConsoleSerial | undefined;

  constructor(
    private readonly deliver: DeliverEvent,
    private readonly console: SerialConsole | undefined,
  ) {}

  /** Answers a command of XS (a throw becomes the failed answer, rethrown inside XS); undefined: not one of these. */
  command(kind: number, body: Reader): Uint8Array | undefined {
    switch (kind) {
      case Command.SERIAL_OPEN:
        this.open();
        return OK;
      case Command.SERIAL_WRITE: {
        const accepted = this.reader !== undefined && this.reader.write(body.rest());
        return new Uint8Array([ANSWER_OK, accepted ? 1 : 0]);
      }
      case Command.SERIAL_CLOSE:
        this.closeReader();
        return OK;
      default:
        return undefined;
    }
  }

  /** The worker ended: stop reading the port (the log keeps it). */
  shutDown(): void {
    this.closeReader();
  }

  private open(): void {
    if (this.console === undefined) throw new Error("this device has no console serial port (start it with --serial PATH)");
    if (this.reader !== undefined) throw new Error("the console serial port is open already (one reader at a time)");
    const reader: ConsoleSerial = new this.console.serial({
      onReadable: () => {
        // Handed over as they come: XS queues them (bounded) until its reader reads.
        for (let bytes = reader.read(); bytes !== undefined; bytes = reader.read()) {
          const chunk = bytes;
          this.deliver(Delivery.SERIAL_READABLE, (writer) => {
            if (this.reader !== reader) return false;
            writer.bytes(chunk);
          });
        }
      },
      onError: (message) => {
        if (this.reader !== reader) return;
        this.reader = undefined;
        this.deliver(Delivery.SERIAL_ERROR, (writer) => writer.bytes(Buffer.from(message ?? "the port failed", "utf8")));
      },
    });
    this.reader = reader;
  }

  private closeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    reader?.close();
  }
}
