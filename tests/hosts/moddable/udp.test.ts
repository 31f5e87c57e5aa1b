/**
 * The Moddable host's UDP socket, resolver and wall clock (hosts/moddable/udp.ts,
 * wall-clock.ts) against fakes that behave like the SDK 8.2.3 modules they adapt: the
 * ECMA-419 UDP (binds in its constructor, queues datagrams as ArrayBuffers with address and
 * port, onReadable(count)), Net.resolve, and Date.now with Time.set taking whole seconds.
 */
import assert from "node:assert/strict";

import { createResolver, createUdpSocketClass, type Ecma419Datagram, type Ecma419UdpOptions } from "../../../hosts/moddable/udp.js";
import { createWallClock } from "../../../hosts/moddable/wall-clock.js";
import { deferred, within } from "../../support/wait.js";

/** The SDK's UDP as far as the adapter sees it. */
class FakeSdkUdp {
  static made: FakeSdkUdp[] = [];
  static bindFails = false;
  readonly options: Ecma419UdpOptions;
  readonly written: Array<{ bytes: Uint8Array; address: string; port: number }> = [];
  queue: Ecma419Datagram[] = [];
  closed = false;

  constructor(options: Ecma419UdpOptions) {
    if (FakeSdkUdp.bindFails) throw new Error("bind failed");
    this.options = options;
    FakeSdkUdp.made.push(this);
  }
  read(): Ecma419Datagram | undefined {
    return this.queue.shift();
  }
  write(bytes: Uint8Array, address: string, port: number): void {
    if (this.closed) throw new Error("closed");
    this.written.push({ bytes: bytes.slice(), address, port });
  }
  close(): void {
    this.closed = true;
  }
  /** Datagrams arrive: queued, then one onReadable with the count (as lwIP's udpDeliver does). */
  arrive(...datagrams: Array<[string, string, number]>): void {
    for (const [text, address, port] of datagrams) {
      const buffer = new TextEncoder().encode(text).buffer as ArrayBuffer;
      this.queue.push(Object.assign(buffer, { address, port }));
    }
    this.options.onReadable?.(this.queue.length);
  }
}

const UdpSocket = createUdpSocketClass(FakeSdkUdp);

describe("Moddable host: UDP, resolver and wall clock (hosts/moddable/udp.ts, wall-clock.ts)", function () {
  beforeEach(() => {
    FakeSdkUdp.made = [];
    FakeSdkUdp.bindFails = false;
  });

  it("hands each queued datagram over with its sender, and writes (bytes, address, port)", function () {
    const got: string[] = [];
    const socket = new UdpSocket({ onMessage: (bytes, address, port) => got.push(`${new TextDecoder().decode(bytes)} ${address}:${port}`) });
    const sdk = FakeSdkUdp.made[0]!;
    assert.equal(sdk.options.port, undefined, "any port");
    assert.equal(sdk.options.format, "buffer");
    socket.send("10.0.0.1", 123, Uint8Array.of(9));
    assert.deepEqual(sdk.written, [{ bytes: Uint8Array.of(9), address: "10.0.0.1", port: 123 }]);
    sdk.arrive(["one", "10.0.0.1", 123], ["two", "10.0.0.2", 5353]);
    assert.deepEqual(got, ["one 10.0.0.1:123", "two 10.0.0.2:5353"]);
    socket.close();
    assert.ok(sdk.closed);
    assert.throws(() => socket.send("10.0.0.1", 123, Uint8Array.of(1)), /send after close/);
  });

  it("binds the port asked for (a DNS server's 53)", function () {
    new UdpSocket({ port: 53 }).close();
    assert.equal(FakeSdkUdp.made[0]!.options.port, 53);
  });

  it("turns the SDK's throw at bind into onError, later, and refuses sends on that socket", async function () {
    FakeSdkUdp.bindFails = true;
    const failed = deferred<string | undefined>();
    const socket = new UdpSocket({ port: 53, onError: (message) => failed.resolve(message) });
    assert.equal(failed.settled, false, "not from inside the constructor");
    assert.equal(await within(failed.promise, 1000, "onError"), "cannot use UDP port 53: bind failed");
    assert.throws(() => socket.send("10.0.0.1", 53, Uint8Array.of(1)), /failed/);
  });

  it("refuses a host name (resolve first) and a bad port before the SDK sees them", function () {
    const socket = new UdpSocket({});
    assert.throws(() => socket.send("pool.ntp.org", 123, Uint8Array.of(1)), { name: "TypeError" });
    assert.throws(() => socket.send("10.0.0.1", 65536, Uint8Array.of(1)), { name: "RangeError" });
    assert.throws(() => new UdpSocket({ port: -1 }), { name: "RangeError" });
    assert.deepEqual(FakeSdkUdp.made[0]!.written, []);
  });

  describe("createResolver (Net.resolve)", function () {
    it("passes names to Net.resolve and its answer on; a failure says which name", async function () {
      const asked: string[] = [];
      const resolve = createResolver((name, callback) => {
        asked.push(name);
        setImmediate(() => callback(name, name === "pool.ntp.org" ? "162.159.200.1" : undefined));
      });
      const found = deferred<string | undefined>();
      resolve("pool.ntp.org", (address) => found.resolve(address));
      assert.equal(await within(found.promise, 1000, "the address"), "162.159.200.1");
      const missing = deferred<[string | undefined, string | undefined]>();
      resolve("nowhere.invalid", (address, error) => missing.resolve([address, error]));
      assert.deepEqual(await within(missing.promise, 1000, "the failure"), [undefined, "cannot resolve nowhere.invalid"]);
      assert.deepEqual(asked, ["pool.ntp.org", "nowhere.invalid"]);
    });

    it("answers an address literal itself, later, and a full lookup queue (Net.resolve throws) as a failure", async function () {
      const resolve = createResolver(() => {
        throw new Error("DNS queue full");
      });
      const literal = deferred<string | undefined>();
      resolve("192.168.1.1", (address) => literal.resolve(address));
      assert.equal(literal.settled, false, "never from inside the call");
      assert.equal(await within(literal.promise, 1000, "the literal"), "192.168.1.1");
      const queued = deferred<string | undefined>();
      resolve("pool.ntp.org", (_address, error) => queued.resolve(error));
      assert.equal(await within(queued.promise, 1000, "the failure"), "cannot resolve pool.ntp.org: DNS queue full");
    });
  });

  describe("createWallClock (Date.now, Time.set)", function () {
    it("trusts the simulator's clock, the computer's, when told so (config systemClock), and never sets it", function () {
      const clock = createWallClock({ now: () => 1_800_000_000_000, setSeconds: () => assert.fail("not set") }, { systemSynced: true });
      assert.equal(clock.systemSynced, true);
      assert.equal(clock.now(), 1_800_000_000_000);
    });

    /** A chip's clock: starts at `start`, Time.set takes whole seconds (usec = 0). */
    function chip(start: number) {
      let base = start;
      let elapsed = 0;
      const sets: number[] = [];
      return {
        api: { now: () => base + elapsed, setSeconds: (seconds: number) => (sets.push(seconds), (base = seconds * 1000 - elapsed)) },
        advance: (ms: number) => (elapsed += ms),
        sets,
      };
    }

    it("sets the platform clock in whole seconds and keeps the milliseconds itself", function () {
      const c = chip(0);
      const clock = createWallClock(c.api);
      assert.equal(clock.systemSynced, false, "nobody else keeps a chip's clock");
      clock.set(Date.UTC(2027, 0, 1, 0, 0, 0, 750));
      assert.deepEqual(c.sets, [Date.UTC(2027, 0, 1) / 1000]);
      assert.equal(clock.now(), Date.UTC(2027, 0, 1, 0, 0, 0, 750));
      c.advance(1000);
      assert.equal(clock.now(), Date.UTC(2027, 0, 1, 0, 0, 1, 750));
      assert.equal(c.api.now(), Date.UTC(2027, 0, 1, 0, 0, 1), "what the SDK's TLS reads is within a second");
    });

    it("starts at 1970 when unset, whatever the platform clock reads (the simulator as a chip: config clockUnset)", function () {
      const c = chip(Date.UTC(2026, 11, 6));
      const clock = createWallClock(c.api, { unset: true, systemSynced: true });
      assert.equal(clock.now(), 0);
      assert.equal(clock.systemSynced, false, "an unset clock is nobody's to trust");
      c.advance(5000);
      assert.equal(clock.now(), 5000);
      // In the simulator Time.set does nothing: the offset carries the whole correction.
      const simulator = { now: () => Date.UTC(2026, 11, 6) + 5000, setSeconds: () => {} };
      const simulated = createWallClock(simulator, { unset: true });
      simulated.set(Date.UTC(2026, 11, 6, 0, 0, 7));
      assert.equal(simulated.now(), Date.UTC(2026, 11, 6, 0, 0, 7));
    });
  });
});
