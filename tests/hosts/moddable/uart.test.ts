/**
 * The Moddable host's console UART (hosts/moddable/uart.ts) over a fake that behaves like the
 * SDK's ECMA-419 Serial on the ESP32 (modules/io/serial/esp32/serial.c): a 128-byte transmit
 * FIFO, write() throwing "output full" past it, onWritable when it empties, read() giving an
 * ArrayBuffer of what the receive FIFO holds. Log lines and Improv packets go out whole and
 * in order; what does not fit the bounded queue is dropped whole and reported once drained.
 */
import assert from "node:assert/strict";
import type { ConsoleSerial } from "../../../src/shared/host.js";
import { consolePins, ConsoleUart, MAX_UART_OUTPUT_BYTES, type Ecma419Serial, type Ecma419SerialOptions } from "../../../hosts/moddable/uart.js";

const FIFO_BYTES = 128;

class FakeSdkSerial implements Ecma419Serial {
  static last: FakeSdkSerial | undefined;
  static refuse: string | undefined;
  /** What went out on the wire. */
  wire: number[] = [];
  /** Bytes in the transmit FIFO, not yet on the wire. */
  fifo = 0;
  received: number[] = [];

  constructor(readonly options: Ecma419SerialOptions) {
    if (FakeSdkSerial.refuse) throw new Error(FakeSdkSerial.refuse);
    FakeSdkSerial.last = this;
  }
  read(): ArrayBuffer | undefined {
    if (this.received.length === 0) return undefined;
    return new Uint8Array(this.received.splice(0)).buffer;
  }
  write(bytes: Uint8Array): void {
    if (bytes.length > FIFO_BYTES - this.fifo) throw new Error("output full");
    this.fifo += bytes.length;
    this.wire.push(...bytes);
  }
  close(): void {}
  /** The FIFO empties onto the wire; the ISR posts onWritable. */
  transmit(): void {
    this.fifo = 0;
    this.options.onWritable(FIFO_BYTES);
  }
  /** Bytes arrive; the ISR posts onReadable. */
  arrive(text: string): void {
    this.received.push(...Buffer.from(text, "latin1"));
    this.options.onReadable(this.received.length);
  }
  wireText(): string {
    return Buffer.from(this.wire).toString("latin1");
  }
}

function rig() {
  FakeSdkSerial.refuse = undefined;
  const uart = new ConsoleUart(FakeSdkSerial, { transmit: 1, receive: 3 });
  const sdk = FakeSdkSerial.last!;
  const drops: number[] = [];
  uart.onDropped = (lines) => drops.push(lines);
  return { uart, sdk, drops };
}

/** Lets the FIFO empty until everything queued is on the wire (bounded). */
function flush(sdk: FakeSdkSerial): void {
  for (let i = 0; i < 1_000; i++) sdk.transmit();
}

describe("ConsoleUart (the ESP32's UART0 for the log and Improv)", function () {
  it("opens UART0 at 115200 baud on the pins given, in buffer format", function () {
    const { sdk } = rig();
    assert.deepEqual({ ...sdk.options, onReadable: typeof sdk.options.onReadable, onWritable: typeof sdk.options.onWritable }, {
      port: 0,
      transmit: 1,
      receive: 3,
      baud: 115_200,
      format: "buffer",
      onReadable: "function",
      onWritable: "function",
    });
  });

  it("throws what the SDK throws when UART0 is taken (debug and instrumented builds)", function () {
    FakeSdkSerial.refuse = "port in use";
    assert.throws(() => new ConsoleUart(FakeSdkSerial, { transmit: 1, receive: 3 }), /port in use/);
    FakeSdkSerial.refuse = undefined;
  });

  it("sends log lines and Improv packets whole and in order, never more than the FIFO takes", function () {
    const { uart, sdk } = rig();
    const improv: ConsoleSerial = new uart.serial({});
    const line = `{"event":"${"x".repeat(300)}"}\n`;
    uart.print(line);
    assert.equal(improv.write(new TextEncoder().encode("IMPROV-PACKET\n")), true);
    uart.print("é after\n");
    assert.equal(sdk.wire.length, 0, "nothing before the first onWritable");
    sdk.transmit();
    assert.equal(sdk.wire.length, FIFO_BYTES);
    flush(sdk);
    assert.equal(Buffer.from(sdk.wire).toString("utf8"), `${line}IMPROV-PACKET\né after\n`);
  });

  it("drops a line that does not fit the queue whole, and reports the drops once it has drained", function () {
    const { uart, sdk, drops } = rig();
    const line = "y".repeat(1023) + "\n";
    for (let i = 0; i < MAX_UART_OUTPUT_BYTES / 1024; i++) uart.print(line);
    uart.print("lost\n");
    const improv = new uart.serial({});
    assert.equal(improv.write(new Uint8Array(1)), false);
    assert.equal(uart.dropped, 2);
    assert.deepEqual(drops, []);
    flush(sdk);
    assert.deepEqual(drops, [2]);
    assert.equal(sdk.wireText(), line.repeat(MAX_UART_OUTPUT_BYTES / 1024));
  });

  it("waits for the next onWritable when the FIFO is fuller than it said", function () {
    const { uart, sdk } = rig();
    sdk.transmit();
    sdk.fifo = FIFO_BYTES; // something else filled it
    uart.print("later\n");
    assert.equal(sdk.wire.length, 0);
    sdk.transmit();
    assert.equal(sdk.wireText(), "later\n");
  });

  it("hands received bytes to the one reader; with none they are lost, as a UART's", function () {
    const { uart, sdk } = rig();
    sdk.arrive("early");
    const counts: number[] = [];
    const reader = new uart.serial({ onReadable: (count) => counts.push(count) });
    assert.throws(() => new uart.serial({}), /open already/);
    sdk.arrive("IMP");
    sdk.arrive("ROV");
    assert.deepEqual(counts, [3, 6]);
    assert.equal(Buffer.from(reader.read(4)!).toString(), "IMPR");
    assert.equal(Buffer.from(reader.read()!).toString(), "OV");
    assert.equal(reader.read(), undefined);
    reader.close();
    assert.equal(reader.write(new Uint8Array(1)), false);
    new uart.serial({});
  });

  it("takes UART0's pins from the build config (mcconfig passes strings), else the ESP32's 1 and 3", function () {
    assert.deepEqual(consolePins({}), { transmit: 1, receive: 3 });
    assert.deepEqual(consolePins({ consoleTransmit: "43", consoleReceive: 44 }), { transmit: 43, receive: 44 });
    assert.deepEqual(consolePins({ consoleTransmit: "x", consoleReceive: 99 }), { transmit: 1, receive: 3 });
  });
});
