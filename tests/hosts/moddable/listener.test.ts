/**
 * The Moddable host's TCP listener (hosts/moddable/listener.ts) over fakes shaped like the
 * SDK's ECMA-419 `embedded:io/socket/listener` and `tcp` (taking an accepted connection with
 * `from`).
 */
import assert from "node:assert/strict";
import { createListenerClass, type Ecma419AcceptingTcp, type Ecma419ListenerConstructor } from "../../../hosts/moddable/listener.js";
import type { Ecma419Callbacks } from "../../../hosts/moddable/tcp.js";

function fakes() {
  const pending: string[] = [];
  const calls: string[] = [];
  let onReadable: ((count: number) => void) | undefined;
  const sockets: Array<{ from: unknown; callbacks: Ecma419Callbacks; written: Uint8Array[]; closed: boolean; inbox: ArrayBuffer[] }> = [];
  class Listener {
    constructor(options: { port: number; onReadable?: (count: number) => void }) {
      calls.push(`listen ${options.port}`);
      onReadable = options.onReadable;
    }
    read(): unknown {
      return pending.shift();
    }
    close(): void {
      calls.push("close");
    }
  }
  class TCP {
    private readonly record: (typeof sockets)[number];
    constructor(options: { from: unknown; format: "buffer" } & Ecma419Callbacks) {
      this.record = { from: options.from, callbacks: options, written: [], closed: false, inbox: [] };
      sockets.push(this.record);
    }
    read(count?: number): ArrayBuffer | undefined {
      const next = this.record.inbox.shift();
      if (next !== undefined && count !== undefined && count < next.byteLength) throw new Error("invalid");
      return next;
    }
    write(bytes: Uint8Array): void {
      this.record.written.push(bytes);
    }
    close(): void {
      this.record.closed = true;
    }
  }
  const connect = (name: string): void => {
    pending.push(name);
    onReadable?.(pending.length);
  };
  return { Listener: Listener as unknown as Ecma419ListenerConstructor, TCP: TCP as unknown as Ecma419AcceptingTcp, calls, sockets, connect };
}

describe("Moddable host listener (hosts/moddable/listener.ts)", function () {
  it("listens on the port, tells of waiting connections, and gives each as a TcpSocket over new TCP({from})", function () {
    const sdk = fakes();
    const ListenerClass = createListenerClass(sdk);
    const counts: number[] = [];
    const listener = new ListenerClass({ port: 80, address: "192.168.4.1", onReadable: (count) => counts.push(count) });
    assert.equal(listener.port, 80);
    sdk.connect("phone-1");
    assert.deepEqual(counts, [1]);
    const errors: string[] = [];
    let space = 0;
    const socket = listener.accept({ onWritable: (count) => (space = count), onError: (message) => errors.push(message ?? "") })!;
    assert.equal(sdk.sockets[0]!.from, "phone-1");
    assert.equal(listener.accept({}), undefined, "nobody else waits");
    sdk.sockets[0]!.callbacks.onWritable!(5744);
    assert.equal(space, 5744);
    sdk.sockets[0]!.inbox.push(new TextEncoder().encode("GET /").buffer);
    sdk.sockets[0]!.callbacks.onReadable!(5);
    assert.equal(new TextDecoder().decode(socket.read()), "GET /");
    socket.write(new Uint8Array([1, 2]));
    assert.deepEqual(sdk.sockets[0]!.written.map((b) => Array.from(b)), [[1, 2]]);
    sdk.sockets[0]!.callbacks.onError!();
    assert.deepEqual(errors, ["connection failed or closed (a client of the portal)"]);
    listener.close();
    sdk.connect("phone-2");
    assert.deepEqual(counts, [1], "nothing after close()");
    assert.deepEqual(sdk.calls, ["listen 80", "close"]);
  });

  it("refuses port 0 (the SDK would not say which port it got)", function () {
    const ListenerClass = createListenerClass(fakes());
    assert.throws(() => new ListenerClass({ port: 0 }), /listener port must be an integer 1\.\.65535/);
  });
});
