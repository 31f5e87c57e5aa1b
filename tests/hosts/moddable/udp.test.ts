/**
 * The Moddable host's UDP socket (hosts/moddable/udp.ts) over a fake shaped like the SDK's
 * ECMA-419 `embedded:io/socket/udp`.
 */
import assert from "node:assert/strict";
import { createUdpSocketClass, type Ecma419Datagram, type Ecma419UdpConstructor } from "../../../hosts/moddable/udp.js";

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
