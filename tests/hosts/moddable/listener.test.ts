/**
 * The Moddable host's TCP listener and UDP socket (hosts/moddable/listener.ts, udp.ts) over
 * fakes shaped like the SDK's ECMA-419 `embedded:io/socket/listener`, `tcp` (taking an
 * accepted connection with `from`) and `udp`.
 */
import assert from "node:assert/strict";
import { createListenerClass, type Ecma419AcceptingTcp, type Ecma419ListenerConstructor } from "../../../hosts/moddable/listener.js";
import type { Ecma419Callbacks } from "../../../hosts/moddable/tcp.js";
import { createUdpSocketClass, type Ecma419Datagram, type Ecma419UdpConstructor } from "../../../hosts/moddable/udp.js";

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

describe("Moddable host UDP (hosts/moddable/udp.ts)", function () {
  function fakeUdp() {
    const sent: Array<[number[], string, number]> = [];
    const inbox: Ecma419Datagram[] = [];
    let options: { port?: number; onReadable?: (count: number) => void } = {};
    let closed = false;
    class UDP {
      constructor(given: typeof options) {
        options = given;
      }
      read(): Ecma419Datagram | undefined {
        return inbox.shift();
      }
      write(bytes: Uint8Array, address: string, port: number): void {
        sent.push([Array.from(bytes), address, port]);
      }
      close(): void {
        closed = true;
      }
    }
    return { UDP: UDP as unknown as Ecma419UdpConstructor, sent, inbox, options: () => options, closed: () => closed };
  }

  it("binds the port, passes each datagram on with its sender, sends, and closes", function () {
    const sdk = fakeUdp();
    const Socket = createUdpSocketClass(sdk.UDP);
    const heard: Array<[number[], string, number]> = [];
    const socket = new Socket({ port: 53, onMessage: (bytes, address, port) => heard.push([Array.from(bytes), address, port]) });
    assert.equal(sdk.options().port, 53);
    const datagram = (bytes: number[], address: string, port: number): Ecma419Datagram => Object.assign(new Uint8Array(bytes).buffer, { address, port });
    sdk.inbox.push(datagram([1, 2, 3], "192.168.4.2", 5000), datagram([4], "192.168.4.3", 5001));
    sdk.options().onReadable!(2);
    assert.deepEqual(heard, [[[1, 2, 3], "192.168.4.2", 5000], [[4], "192.168.4.3", 5001]]);
    socket.send("192.168.4.2", 5000, new Uint8Array([9]));
    assert.deepEqual(sdk.sent, [[[9], "192.168.4.2", 5000]]);
    socket.close();
    assert.ok(sdk.closed());
    assert.throws(() => socket.send("192.168.4.2", 5000, new Uint8Array([9])), /send after close/);
  });
});
