/**
 * The Moddable host's TCP socket (hosts/moddable/tcp.ts) over a fake that behaves like the
 * SDK's ECMA-419 socket (modules/io/socket/lwip/tcp.c): an IP address literal only, read()
 * giving ArrayBuffers and throwing past what it holds, write() throwing past the send buffer,
 * callbacks with the SDK socket as `this`. Host names go through Net.resolve first.
 */
import assert from "node:assert/strict";
import type { TcpSocket, TcpSocketOptions } from "../../../src/shared/host.js";
import {
  createTcpSocketClass,
  isAddressLiteral,
  type Ecma419Tcp,
  type Ecma419TcpOptions,
  type Resolve,
} from "../../../hosts/moddable/tcp.js";

/** A socket like the SDK's: what the test feeds it is what read() gives. */
class FakeSdkTcp implements Ecma419Tcp {
  static made: FakeSdkTcp[] = [];
  readonly options: Ecma419TcpOptions;
  buffered: number[] = [];
  space = 5744;
  written: number[][] = [];
  closed = 0;
  reads: Array<number | undefined> = [];

  constructor(options: Ecma419TcpOptions) {
    if (!/^[0-9.:a-fA-F]+$/.test(options.address)) throw new Error("invalid address");
    this.options = options;
    FakeSdkTcp.made.push(this);
  }
  read(count?: number): ArrayBuffer | undefined {
    this.reads.push(count);
    if (this.buffered.length === 0) return undefined;
    const wanted = count ?? this.buffered.length;
    if (wanted <= 0 || wanted > this.buffered.length) throw new Error("invalid");
    return Uint8Array.from(this.buffered.splice(0, wanted)).buffer;
  }
  write(bytes: Uint8Array): void {
    if (bytes.length > this.space) throw new Error("would block");
    this.written.push([...bytes]);
  }
  close(): void {
    this.closed++;
  }
  // The SDK calling back, `this` being the SDK socket.
  connected(): void {
    this.options.onWritable?.call(this as never, this.space);
  }
  receive(bytes: number[]): void {
    this.buffered.push(...bytes);
    this.options.onReadable?.call(this as never, this.buffered.length);
  }
  fail(): void {
    this.options.onError?.call(this as never);
  }
}

/** A resolver that answers when the test says. */
function pendingResolver() {
  const asked: Array<{ name: string; answer: (address?: string) => void }> = [];
  const resolve: Resolve = (name, callback) => asked.push({ name, answer: (address) => callback(name, address) });
  return { resolve, asked };
}

function recorder(host: string, port = 8080, extra: Partial<TcpSocketOptions> = {}) {
  const events: string[] = [];
  const options: TcpSocketOptions = {
    host,
    port,
    nodelay: true,
    onReadable: (count) => events.push(`readable ${count}`),
    onWritable: (count) => events.push(`writable ${count}`),
    onError: (message) => events.push(`error ${message}`),
    ...extra,
  };
  return { options, events };
}

const bytes = (data: Uint8Array | undefined): number[] | undefined => (data === undefined ? undefined : [...data]);

describe("Moddable host TCP (hosts/moddable/tcp.ts)", function () {
  let resolver: ReturnType<typeof pendingResolver>;
  let Tcp: new (options: TcpSocketOptions) => TcpSocket;

  beforeEach(function () {
    FakeSdkTcp.made = [];
    resolver = pendingResolver();
    Tcp = createTcpSocketClass({ TCP: FakeSdkTcp, resolve: resolver.resolve });
  });

  describe("connecting", function () {
    it("opens an IP address at once, in buffer format, with nodelay", function () {
      const { options } = recorder("192.168.1.10", 9000);
      new Tcp(options);
      assert.equal(FakeSdkTcp.made.length, 1);
      const sdk = FakeSdkTcp.made[0]!.options;
      assert.equal(sdk.address, "192.168.1.10");
      assert.equal(sdk.port, 9000);
      assert.equal(sdk.nodelay, true);
      assert.equal(sdk.format, "buffer");
      assert.deepEqual(resolver.asked, []);
    });

    it("resolves a host name with Net.resolve, then opens the address it got", function () {
      const { options, events } = recorder("server.example", 443);
      new Tcp(options);
      assert.equal(FakeSdkTcp.made.length, 0);
      assert.deepEqual(resolver.asked.map((entry) => entry.name), ["server.example"]);
      resolver.asked[0]!.answer("10.1.2.3");
      assert.equal(FakeSdkTcp.made[0]!.options.address, "10.1.2.3");
      FakeSdkTcp.made[0]!.connected();
      assert.deepEqual(events, ["writable 5744"]);
    });

    it("reports a name that does not resolve once, naming it", function () {
      const { options, events } = recorder("nowhere.invalid");
      new Tcp(options);
      resolver.asked[0]!.answer(undefined);
      assert.deepEqual(events, ['error cannot resolve host name "nowhere.invalid"']);
      assert.equal(FakeSdkTcp.made.length, 0);
    });

    it("reports the SDK refusing the resolved address through onError", function () {
      const { options, events } = recorder("odd.example");
      new Tcp(options);
      resolver.asked[0]!.answer("not-an-address");
      assert.deepEqual(events, ["error connection to not-an-address:8080 failed: invalid address"]);
    });

    it("ignores a lookup that answers after close()", function () {
      const { options, events } = recorder("server.example");
      const socket = new Tcp(options);
      socket.close();
      resolver.asked[0]!.answer("10.1.2.3");
      assert.equal(FakeSdkTcp.made.length, 0);
      assert.deepEqual(events, []);
    });

    it("throws for a bad host or port, as the Node host does", function () {
      assert.throws(() => new Tcp(recorder("").options), { name: "TypeError", message: /TCP host must be a non-empty string/ });
      assert.throws(() => new Tcp(recorder("10.0.0.1", 0).options), { name: "RangeError", message: /TCP port must be an integer 1\.\.65535, got 0/ });
      assert.throws(() => new Tcp(recorder("10.0.0.1", 70000).options), RangeError);
    });

    it("tells address literals from names", function () {
      for (const literal of ["127.0.0.1", "10.0.0.255", "::1", "fe80::1"]) assert.equal(isAddressLiteral(literal), true, literal);
      for (const name of ["localhost", "example.com", "256.1.1.1", "1.2.3", "10.0.0.01x"]) assert.equal(isAddressLiteral(name), false, name);
    });
  });

  describe("reading", function () {
    it("gives Uint8Arrays of what onReadable announced, all or up to a count", function () {
      const { options, events } = recorder("10.0.0.1");
      const socket = new Tcp(options);
      const sdk = FakeSdkTcp.made[0]!;
      sdk.receive([1, 2, 3, 4, 5]);
      assert.deepEqual(events, ["readable 5"]);
      const first = socket.read(2);
      assert.ok(first instanceof Uint8Array);
      assert.deepEqual(bytes(first), [1, 2]);
      assert.deepEqual(bytes(socket.read()), [3, 4, 5]);
      assert.equal(socket.read(), undefined);
    });

    it("never asks the SDK for more than it holds (the SDK would throw)", function () {
      const socket = new Tcp(recorder("10.0.0.1").options);
      const sdk = FakeSdkTcp.made[0]!;
      sdk.receive([7, 8, 9]);
      assert.deepEqual(bytes(socket.read(100)), [7, 8, 9]);
      assert.equal(socket.read(1), undefined);
      assert.deepEqual(sdk.reads, [3]);
    });

    it("reads nothing before the connection exists, or for a count under 1", function () {
      const socket = new Tcp(recorder("server.example").options);
      assert.equal(socket.read(), undefined);
      const open = new Tcp(recorder("10.0.0.1").options);
      FakeSdkTcp.made[0]!.receive([1]);
      assert.equal(open.read(0), undefined);
      assert.equal(open.read(0.5), undefined);
    });
  });

  describe("writing", function () {
    it("hands the bytes to the SDK socket", function () {
      const socket = new Tcp(recorder("10.0.0.1").options);
      FakeSdkTcp.made[0]!.connected();
      socket.write(Uint8Array.of(0x81, 0x80));
      socket.write(new Uint8Array(0));
      assert.deepEqual(FakeSdkTcp.made[0]!.written, [[0x81, 0x80]]);
    });

    it("lets the SDK's refusal past the send buffer through (the caller keeps within onWritable)", function () {
      const socket = new Tcp(recorder("10.0.0.1").options);
      FakeSdkTcp.made[0]!.space = 4;
      assert.throws(() => socket.write(new Uint8Array(5)), { message: "would block" });
    });

    it("throws for a write before the name resolved, and after close()", function () {
      const pending = new Tcp(recorder("server.example").options);
      assert.throws(() => pending.write(Uint8Array.of(1)), /before the connection is open/);
      const socket = new Tcp(recorder("10.0.0.1").options);
      socket.close();
      assert.throws(() => socket.write(Uint8Array.of(1)), /write after close\(\)/);
    });
  });

  describe("ending", function () {
    it("reports the SDK's error once, releases its socket, and reports nothing after", function () {
      const { options, events } = recorder("10.0.0.1", 8080);
      const socket = new Tcp(options);
      const sdk = FakeSdkTcp.made[0]!;
      sdk.connected();
      sdk.fail();
      sdk.fail();
      sdk.receive([1]);
      sdk.connected();
      assert.deepEqual(events, ["writable 5744", "error connection failed or closed (10.0.0.1:8080)"]);
      assert.equal(sdk.closed, 1);
      assert.equal(socket.read(), undefined);
      socket.close();
      assert.equal(sdk.closed, 1);
    });

    it("close() closes the SDK socket once, and no callback follows", function () {
      const { options, events } = recorder("10.0.0.1");
      const socket = new Tcp(options);
      const sdk = FakeSdkTcp.made[0]!;
      socket.close();
      socket.close();
      sdk.connected();
      sdk.receive([1, 2]);
      sdk.fail();
      assert.equal(sdk.closed, 1);
      assert.deepEqual(events, []);
    });
  });
});
