/**
 * hosts/node/serial.ts SerialConsole, the simulated device's UART, over a scripted stream: log
 * lines and Improv writes go out whole and in order through one bounded queue; received bytes
 * go to the one reader; a port that goes away is reported once.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ConsoleSerial } from "../../../src/shared/host.js";
import { MAX_SERIAL_INPUT_BYTES, MAX_SERIAL_OUTPUT_BYTES, SerialConsole, type SerialStream } from "../../../hosts/node/serial.js";

/** A port whose output never drains unless the test says so. */
class ScriptedStream extends EventEmitter {
  readonly written: Buffer[] = [];
  writableLength = 0;
  paused = false;
  closed = false;
  write(chunk: Buffer): boolean {
    this.written.push(chunk);
    this.writableLength += chunk.length;
    return true;
  }
  drain(): void {
    this.writableLength = 0;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  close(callback?: () => void): void {
    this.closed = true;
    callback?.();
  }
}

function rig() {
  const stream = new ScriptedStream();
  const lost: string[] = [];
  const drops: number[] = [];
  const uart = new SerialConsole("/dev/ttyTEST", stream as unknown as SerialStream, {
    onLost: (message) => lost.push(message),
    onDropped: (dropped) => drops.push(dropped),
  });
  return { stream, uart, lost, drops };
}

describe("SerialConsole (the simulated device's UART)", function () {
  it("writes log lines and Improv packets whole, in order, through one queue", function () {
    const { stream, uart } = rig();
    const reader = new uart.serial({});
    uart.write('{"event":"a"}\n');
    assert.equal(reader.write(new Uint8Array([0x49, 0x4d])), true);
    uart.write('{"event":"b"}\n');
    assert.equal(Buffer.concat(stream.written).toString("latin1"), '{"event":"a"}\nIM{"event":"b"}\n');
  });

  it("copies what it writes: the caller may reuse its buffer", function () {
    const { stream, uart } = rig();
    const bytes = new Uint8Array([1, 2, 3]);
    new uart.serial({}).write(bytes);
    bytes.fill(9);
    assert.deepEqual([...stream.written[0]!], [1, 2, 3]);
  });

  it("drops (and counts) whatever would take the output queue past its bound, whole", function () {
    const { stream, uart, drops } = rig();
    const reader = new uart.serial({});
    const line = "x".repeat(1023) + "\n";
    for (let i = 0; i < MAX_SERIAL_OUTPUT_BYTES / 1024; i++) uart.write(line);
    assert.equal(stream.writableLength, MAX_SERIAL_OUTPUT_BYTES);
    uart.write("one more\n");
    assert.equal(reader.write(new Uint8Array(10)), false);
    assert.equal(uart.dropped, 2);
    assert.deepEqual(drops, [1, 2]);
    stream.drain();
    assert.equal(reader.write(new Uint8Array(10)), true, "room again once the port drained");
  });

  it("hands received bytes to the one reader, in any amounts, pausing the port past MAX_SERIAL_INPUT_BYTES until read", function () {
    const { stream, uart } = rig();
    const readable: number[] = [];
    const reader: ConsoleSerial = new uart.serial({ onReadable: (count) => readable.push(count) });
    assert.throws(() => new uart.serial({}), /open already \(one reader at a time\)/);
    stream.emit("data", Buffer.from("abc"));
    stream.emit("data", Buffer.from("def"));
    assert.deepEqual(readable, [3, 6]);
    assert.equal(Buffer.from(reader.read(2)!).toString(), "ab");
    assert.equal(Buffer.from(reader.read()!).toString(), "cdef");
    assert.equal(reader.read(), undefined);
    stream.emit("data", Buffer.alloc(MAX_SERIAL_INPUT_BYTES + 1));
    assert.equal(stream.paused, true);
    reader.read();
    assert.equal(stream.paused, false);
  });

  it("loses received bytes while nobody reads, as a UART does; a closed reader frees the port for another", function () {
    const { stream, uart } = rig();
    stream.emit("data", Buffer.from("early"));
    const first = new uart.serial({});
    assert.equal(first.read(), undefined);
    first.close();
    assert.equal(first.write(new Uint8Array(1)), false);
    const second = new uart.serial({});
    stream.emit("data", Buffer.from("late"));
    assert.equal(Buffer.from(second.read()!).toString(), "late");
  });

  it("reports a port that went away once, to the CLI and to the reader; then writes nothing", function () {
    const { stream, uart, lost } = rig();
    const errors: string[] = [];
    const reader = new uart.serial({ onError: (message) => errors.push(message ?? "") });
    stream.emit("close");
    stream.emit("error", new Error("EIO"));
    assert.deepEqual(lost, ["the port closed"]);
    assert.deepEqual(errors, ["the port closed"]);
    assert.equal(reader.write(new Uint8Array(1)), false);
    uart.write("after\n");
    assert.equal(stream.written.length, 0);
    assert.throws(() => new uart.serial({}), /the serial port \/dev\/ttyTEST is gone/);
  });

  it("close() closes the port", async function () {
    const { stream, uart } = rig();
    await uart.close();
    assert.equal(stream.closed, true);
  });
});
