/**
 * The XS host's bridge (hosts/xs/engine.ts and hosts/xs/xs-side/): each interface of
 * src/shared/host.ts inside the real XS engine, served by Node, checked through the probe program
 * against real sockets on 127.0.0.1, Node's timers, crypto, storage and SimWifi; and how
 * failures inside XS show on Node (the XS error with its stack, never a hang).
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { ErrorCode, WebSocketError } from "../../../src/shared/errors.js";
import { MemoryStorage } from "../../../src/shared/memory-storage.js";
import { XsEngine, type DeliverySample } from "../../../hosts/xs/engine.js";
import { Delivery } from "../../../hosts/xs/xs-side/protocol.js";
import { ModuleLoader } from "../../../hosts/xs/loader.js";
import { XsError } from "../../../hosts/xs/xs-errors.js";
import { XsnapWorkerError } from "../../../hosts/xs/xsnap-worker.js";
import { startTestXsEngine, TEST_PROGRAM_ROOT } from "../../support/engines.js";
import { closedPort, deferred, listenLoopback, until, within } from "../../support/wait.js";

interface ProbeEvent {
  event: Record<string, unknown>;
  bytes: Uint8Array;
}

/** An engine running the probe, with its events collected. */
async function startProbe(options: Parameters<typeof XsEngine.start>[0] = {}) {
  const failures: Error[] = [];
  const engine = await startTestXsEngine({ log: () => {}, onFailure: (error) => failures.push(error), ...options });
  const events: ProbeEvent[] = [];
  const handle = await engine.startProgram("probe", {}, (event, bytes) => events.push({ event, bytes: bytes.slice() }));
  const call = (op: string, args: Record<string, unknown> = {}, bytes?: Uint8Array) => engine.call(handle, op, args, bytes);
  const next = async (match: (e: Record<string, unknown>) => boolean, what: string) => {
    await until(() => events.some((e) => match(e.event)), 5000, what);
    return events.find((e) => match(e.event))!;
  };
  return { engine, events, call, next, failures };
}

describe("the XS host's bridge (hosts/xs)", function () {
  this.timeout(10_000);
  let probe: Awaited<ReturnType<typeof startProbe>>;
  const storage = new MemoryStorage();

  before(async function () {
    probe = await startProbe({ storage, wifi: { connectDelayMs: 10, gotIPDelayMs: 10, failDelayMs: 10 } });
  });

  after(async function () {
    await probe.engine.close();
  });

  afterEach(function () {
    assert.deepEqual(probe.failures.map((f) => f.stack), [], "no uncaught exception inside XS");
  });

  it("runs the compiled modules in a compartment whose only global beyond ECMAScript is the host's", async function () {
    const { value } = await probe.call("globals");
    assert.deepEqual(value, ["__xsHost"]);
  });

  describe("TCP sockets, against a real server on 127.0.0.1", function () {
    let server: Server;
    let port: number;
    let accepted: Socket[];

    beforeEach(async function () {
      accepted = [];
      server = createServer((socket) => {
        accepted.push(socket);
        socket.on("error", () => {});
      });
      port = await listenLoopback(server);
    });

    afterEach(async function () {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("connects (first onWritable), carries bytes both ways, and reports the peer's close after the data", async function () {
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port, nodelay: true })).value;
      const writable = await probe.next((e) => e.event === "writable" && e.id === id, "onWritable");
      assert.equal(writable.event.count, 64 * 1024);
      await until(() => accepted.length === 1, 2000, "the server's accept");
      const atServer = deferred<Buffer>();
      accepted[0]!.once("data", (data) => atServer.resolve(data));
      await probe.call("tcp-write", { id }, new Uint8Array([1, 2, 3, 250]));
      assert.deepEqual([...(await within(atServer.promise, 2000, "bytes at the server"))], [1, 2, 3, 250]);
      accepted[0]!.end(Buffer.from("bye"));
      const data = await probe.next((e) => e.event === "data" && e.id === id, "the server's bytes");
      assert.equal(Buffer.from(data.bytes).toString(), "bye");
      const error = await probe.next((e) => e.event === "error" && e.id === id, "onError");
      assert.equal(error.event.message, "peer closed the connection");
      assert.ok(probe.events.indexOf(data) < probe.events.indexOf(error), "the data first, then the end");
    });

    it("keeps received bytes until read, in any portions, and delivers large transfers whole", async function () {
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port, autoRead: false })).value;
      await probe.next((e) => e.event === "writable" && e.id === id, "onWritable");
      await until(() => accepted.length === 1, 2000, "the server's accept");
      const sent = Buffer.alloc(300 * 1024);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 31) & 0xff;
      accepted[0]!.write(sent);
      const received: Buffer[] = [];
      let total = 0;
      while (total < sent.length) {
        await until(() => probe.events.some((e) => e.event.event === "readable" && e.event.id === id), 5000, "onReadable");
        probe.events.splice(0);
        // Read in odd portions: 1000 bytes, then the rest of what is queued.
        for (const count of [1000, undefined]) {
          const reply = await probe.call("tcp-read", count === undefined ? { id } : { id, count });
          if (reply.value !== null) {
            received.push(Buffer.from(reply.bytes));
            total += reply.bytes.length;
          }
        }
      }
      assert.ok(Buffer.concat(received).equals(sent), "every byte, in order");
    });

    it("refuses a write beyond the space onWritable reported, throwing inside XS", async function () {
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port })).value;
      await probe.next((e) => e.event === "writable" && e.id === id, "onWritable");
      await assert.rejects(probe.call("tcp-write", { id }, new Uint8Array(64 * 1024 + 1)), (error: Error & { xsStack?: string }) => {
        assert.equal(error.name, "RangeError");
        assert.match(error.message, /^write of 65537 bytes exceeds the writable space \(65536 bytes\); wait for onWritable$/);
        assert.match(error.xsStack!, /xs-side\/host\.js:\d+/, "the XS stack names the XS side's file");
        return true;
      });
      await probe.call("tcp-close", { id });
    });

    it("refuses a write before the connection is open", async function () {
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port })).value;
      await assert.rejects(probe.call("tcp-write", { id }, new Uint8Array(1)), /write before the connection is open/);
      await probe.call("tcp-close", { id });
    });

    it("reports the socket's space again once XS has written more than half of it, not after every write", async function () {
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port })).value;
      await probe.next((e) => e.event === "writable" && e.id === id, "onWritable");
      await until(() => accepted.length === 1, 2000, "the server's accept");
      let received = 0;
      accepted[0]!.on("data", (data: Buffer) => (received += data.length));
      probe.events.splice(0);
      // XS still has 63 KiB of its 64: nothing to report.
      await probe.call("tcp-write", { id }, new Uint8Array(1024));
      await until(() => received === 1024, 2000, "the bytes at the server");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(probe.events.filter((e) => e.event.event === "writable").length, 0, "no report while XS has most of the space");
      // Below half: the space taken back is reported.
      await probe.call("tcp-write", { id }, new Uint8Array(40 * 1024));
      const writable = await probe.next((e) => e.event === "writable" && e.id === id, "onWritable after the large write");
      assert.ok((writable.event.count as number) > 64 * 1024 - 41 * 1024, `reported ${String(writable.event.count)} bytes`);
      await probe.call("tcp-close", { id });
    });

    it("reports a refused connection as the Node host words it, and leaves nothing open", async function () {
      const refused = await closedPort();
      const id = (await probe.call("tcp-open", { host: "127.0.0.1", port: refused })).value;
      const error = await probe.next((e) => e.event === "error" && e.id === id, "onError");
      assert.equal(error.event.message, "connection refused");
      assert.deepEqual((await probe.call("stats")).value, { timers: 0, sockets: 0 });
    });

    it("rejects a bad port inside XS, synchronously, as NodeTcpSocket does", async function () {
      await assert.rejects(probe.call("tcp-open", { host: "127.0.0.1", port: 70000 }), {
        name: "RangeError",
        message: "TCP port must be an integer 1..65535, got 70000",
      });
    });
  });

  describe("memory", function () {
    it("reads what is alive from a heap snapshot: slots and chunk bytes, a buffer held showing in the chunks", async function () {
      const before = await probe.engine.liveMemory();
      await probe.call("hold", { bytes: 100_000 });
      const holding = await probe.engine.liveMemory();
      await probe.call("hold", { bytes: 0 });
      const after = await probe.engine.liveMemory();
      assert.ok(before.slots > 1000 && before.chunkBytes > 10_000, JSON.stringify(before));
      assert.ok(holding.chunkBytes - before.chunkBytes >= 100_000, `held: ${holding.chunkBytes - before.chunkBytes} more chunk bytes`);
      assert.ok(holding.chunkBytes - after.chunkBytes >= 100_000, `released: ${holding.chunkBytes - after.chunkBytes} fewer`);
      assert.equal(holding.slotBytes, holding.slots * 32);
    });

    it("samples what each delivery left alive, before anything else runs, until told to stop", async function () {
      const samples: DeliverySample[] = [];
      const before = await probe.engine.liveMemory();
      probe.engine.sampleEachDelivery((sample) => samples.push(sample));
      await probe.call("hold", { bytes: 100_000 });
      await probe.call("hold", { bytes: 0 });
      probe.engine.sampleEachDelivery(undefined);
      await probe.call("hold", { bytes: 100_000 });
      await probe.call("hold", { bytes: 0 });
      await probe.engine.heap();
      assert.deepEqual(samples.map((s) => s.kind), [Delivery.CALL, Delivery.CALL]);
      const [holding, released] = samples as [DeliverySample, DeliverySample];
      assert.ok(holding.chunkBytes - before.chunkBytes >= 100_000, `held: ${holding.chunkBytes - before.chunkBytes} more chunk bytes`);
      assert.ok(holding.chunkBytes - released.chunkBytes >= 100_000, `released: ${holding.chunkBytes - released.chunkBytes} fewer`);
      for (const sample of samples) assert.ok(sample.slotsBound >= sample.slots, JSON.stringify(sample));
    });
  });

  describe("timers and the clock", function () {
    it("fires a timer after its delay, with a now() that follows Node's monotonic clock", async function () {
      const before = performance.now();
      const id = (await probe.call("timer-set", { ms: 30 })).value;
      const fired = await probe.next((e) => e.event === "timer" && e.id === id, "the timer");
      const { setAt, now } = fired.event as { setAt: number; now: number };
      assert.ok(now - setAt >= 29, `fired ${now - setAt} ms after being set`);
      assert.ok(setAt >= before - 1 && now <= performance.now() + 1, "XS's now() is Node's performance.now() timeline");
    });

    it("does not fire a cleared timer", async function () {
      const id = (await probe.call("timer-set", { ms: 20 })).value;
      await probe.call("timer-clear", { id });
      const marker = (await probe.call("timer-set", { ms: 60 })).value;
      await probe.next((e) => e.event === "timer" && e.id === marker, "the later timer");
      assert.ok(!probe.events.some((e) => e.event.event === "timer" && e.event.id === id));
    });

    it("never goes backwards", async function () {
      let last = -Infinity;
      for (let i = 0; i < 20; i++) {
        const { value } = await probe.call("now");
        assert.ok((value as number) >= last);
        last = value as number;
      }
    });
  });

  it("draws random bytes from Node's crypto, each byte used once", async function () {
    const a = (await probe.call("random", { count: 300 })).bytes;
    const b = (await probe.call("random", { count: 16 })).bytes;
    assert.equal(a.length, 300);
    assert.equal(b.length, 16);
    assert.ok(new Set(a).size > 150, "300 random bytes take many values");
    assert.notDeepEqual([...b], [...a.subarray(0, 16)]);
  });

  describe("storage", function () {
    it("sets, gets and deletes values in Node's storage", async function () {
      await probe.call("storage-set", { domain: "wifi", key: "ssid", value: "h\u00e9llo" });
      assert.equal(storage.get("wifi", "ssid"), "h\u00e9llo");
      assert.equal((await probe.call("storage-get", { domain: "wifi", key: "ssid" })).value, "h\u00e9llo");
      await probe.call("storage-delete", { domain: "wifi", key: "ssid" });
      assert.equal((await probe.call("storage-get", { domain: "wifi", key: "ssid" })).value, null);
    });

    it("refuses a name NVS would refuse with the same WebSocketError as on Node", async function () {
      await assert.rejects(probe.call("storage-set", { domain: "wifi", key: "a-key-longer-than-15", value: "x" }), (error: unknown) => {
        assert.ok(error instanceof WebSocketError);
        assert.equal(error.code, ErrorCode.INVALID_ARGUMENT);
        assert.match(error.message, /NVS allows at most 15/);
        return true;
      });
    });
  });

  it("drives Node's SimWifi and receives its notifications", async function () {
    await probe.call("wifi-connect", { ssid: "moorline-sim", password: "simulated-wifi" });
    await probe.next((e) => e.event === "wifi" && e.notification === "gotIP", "gotIP");
    assert.deepEqual((await probe.call("wifi-status")).value, { rssi: -58, address: "192.168.4.2" });
    await probe.call("wifi-connect", { ssid: "moorline-sim", password: "wrong" });
    const failed = await probe.next((e) => e.event === "wifi" && e.reason !== null, "the failed attempt");
    assert.deepEqual([failed.event.notification, failed.event.reason], ["disconnect", "wrong_password"]);
    await assert.rejects(probe.call("wifi-connect", { ssid: "", password: "" }), { message: "ssid required" });
  });

  describe("failures inside XS", function () {
    it("a call that throws rejects with the XS error and its stack", async function () {
      await assert.rejects(probe.call("throw", { message: "bad input" }), (error: Error & { xsStack: string }) => {
        assert.ok(error instanceof TypeError);
        assert.equal(error.message, "bad input");
        // Each frame: the compiled file and line XS ran, and the TypeScript line it came from.
        assert.match(error.xsStack, /^TypeError: bad input\n at call \(dist\/tests\/support\/xs\/probe\.js:\d+ = tests\/support\/xs\/probe\.ts:\d+\)/);
        return true;
      });
    });

    it("an exception escaping a timer callback is reported as an XsError with the XS stack", async function () {
      const own = await startProbe();
      try {
        await own.call("throw-in-timer", { ms: 5, message: "from a timer" });
        await until(() => own.failures.length > 0, 2000, "the failure");
        const failure = own.failures[0]!;
        assert.ok(failure instanceof XsError);
        assert.equal(failure.message, "uncaught exception in XS: RangeError: from a timer");
        assert.match(failure.xsStack, /probe\.ts:\d+\)\n at \(dist\/hosts\/xs\/xs-side\/host\.js:\d+ = hosts\/xs\/xs-side\/host\.ts:\d+\)/);
        // The worker goes on.
        assert.equal(typeof (await own.call("now")).value, "number");
      } finally {
        await own.engine.close();
      }
    });

    it("a worker that dies fails what waits on it, saying how it died", async function () {
      const own = await startProbe();
      const pending = own.call("timer-set", { ms: 1000 });
      await pending;
      own.engine.worker.kill("SIGKILL");
      await assert.rejects(own.call("now"), (error: Error) => error instanceof XsnapWorkerError);
      await until(() => own.failures.length > 0, 2000, "the failure");
      assert.match(own.failures[0]!.message, /the XS worker moorline-xs died: signal SIGKILL/);
      await own.engine.close();
    });

    it("a delivery that never ends is stopped by the watchdog, not waited for", async function () {
      const own = await startProbe();
      // Bounded from here on, not while the probe loads (which a loaded machine may take longer over).
      own.engine.worker.setRequestTimeout(300);
      try {
        await assert.rejects(
          within(own.call("hang"), 3000, "the watchdog"),
          // timedOut: the desktop chip reports such a death as reset "watchdog" (hosts/node/chip-xs.ts).
          (error: Error & { timedOut?: boolean }) => /did not answer within 300 ms/.test(error.message) && error.timedOut === true,
        );
        assert.equal(own.engine.isClosed, true);
      } finally {
        await own.engine.close();
      }
    });
  });

  describe("what XS may load", function () {
    it("the engine a user runs starts the host's programs, and refuses the tests' programs and their modules", async function () {
      const failures: Error[] = [];
      const engine = await XsEngine.start({ log: () => {}, onFailure: (error) => failures.push(error) });
      try {
        await engine.load("echo-agent");
        await assert.rejects(engine.startProgram("probe", {}, () => {}), /^Error: no XS program "probe" in dist\/hosts\/xs\/xs-side \(run npm run build\)$/);
        await assert.rejects(
          engine.worker.evaluate(`__moorlineImport("/tests/support/xs/probe.js")`),
          /XS may not load "\/tests\/support\/xs\/probe\.js": only modules of dist\/src, dist\/hosts\/xs\/xs-side\n/,
        );
      } finally {
        await engine.close();
      }
    });

    it("serves the firmware, the host's XS side and the program roots given, and nothing else of dist/", function () {
      const user = new ModuleLoader();
      const tests = new ModuleLoader([TEST_PROGRAM_ROOT]);
      assert.match(user.source("/src/websocket/url.js"), /\n\/\/# sourceURL=dist\/src\/websocket\/url\.js\n$/);
      assert.match(user.source("/hosts/xs/xs-side/device.js"), /registerProgram\("device"/);
      assert.match(tests.source("/tests/support/xs/probe.js"), /registerProgram\("probe"/);
      assert.equal(tests.programModule("probe"), "/tests/support/xs/probe.js");
      assert.equal(tests.programModule("device"), "/hosts/xs/xs-side/device.js");
      const refused = ["/tests/support/xs/probe.js", "/hosts/node/host.js", "/hosts/xs/engine.js", "/src/../hosts/node/host.js", "/src/./x.js", "src/websocket/url.js", "/src/websocket/url.js.map"];
      for (const specifier of refused) {
        assert.throws(() => user.source(specifier), { message: `XS may not load ${JSON.stringify(specifier)}: only modules of dist/src, dist/hosts/xs/xs-side` });
      }
      assert.throws(() => tests.source("/tests/support/wait.js"), /XS may not load "\/tests\/support\/wait\.js": only modules of dist\/src, dist\/hosts\/xs\/xs-side, dist\/tests\/support\/xs$/);
    });

    it("takes program roots as folders under dist/, never a way out of it", async function () {
      for (const root of ["../etc", "tests/../..", "/tmp", "", "tests/./support", "tests/support/"]) {
        await assert.rejects(XsEngine.start({ log: () => {}, programRoots: [root] }), {
          name: "TypeError",
          message: `programRoots: each must be a folder under dist/ such as "tests/support/xs", got ${JSON.stringify(root)}`,
        });
      }
    });

    it("names a program as a module name, not a path", async function () {
      await assert.rejects(probe.engine.startProgram("../xs-side/device", {}, () => {}), {
        name: "TypeError",
        message: `an XS program's name is lowercase letters, digits and -, got "../xs-side/device"`,
      });
    });
  });

  it("reports the XS heap after a garbage collection", async function () {
    const first = await probe.engine.heap();
    const second = await probe.engine.heap();
    assert.ok(first.currentHeapCount > 1000, `${first.currentHeapCount} slots in use`);
    assert.ok(Math.abs(second.currentHeapCount - first.currentHeapCount) < 100, "stable when nothing happens");
  });
});
