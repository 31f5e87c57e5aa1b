/**
 * src/provisioning/improv-service.ts, the device's side of Improv over serial, on a virtual
 * clock with a scripted serial port and provisioning core: what a client sends, byte for
 * byte what the device answers (packets written out by hand in improv.test.ts are built here
 * with the codec, whose bytes that file pins down), and what it never does (answer after a
 * stop, log a password, keep a half packet for ever).
 */
import assert from "node:assert/strict";
import type { ConsoleSerial, ConsoleSerialOptions, Log, WifiNetwork, WifiScanResult } from "../../src/shared/host.js";
import {
  encodeImprovByte,
  encodeImprovPacket,
  encodeRpcCommand,
  encodeRpcResult,
  encodeWifiSettings,
  ImprovCommand,
  ImprovError,
  ImprovState,
  ImprovType,
} from "../../src/provisioning/improv.js";
import type { ImprovProvisioning, ProvisionResult } from "../../src/provisioning/improv-provisioning.js";
import { ImprovService, MAX_IMPROV_SCAN_RESULTS, strongestFirst, type ImprovServiceOptions } from "../../src/provisioning/improv-service.js";
import { VirtualClock } from "../support/virtual-clock.js";

function hex(data: Uint8Array): string {
  return Buffer.from(data).toString("hex");
}

const error = (code: number) => hex(encodeImprovByte(ImprovType.ERROR_STATE, code));
const state = (code: number) => hex(encodeImprovByte(ImprovType.CURRENT_STATE, code));
const result = (command: number, strings: string[]) => hex(encodeRpcResult(command, strings));

/** The serial port as the service sees it: the test feeds bytes and reads what was written. */
class ScriptedSerial implements ConsoleSerial {
  static last: ScriptedSerial | undefined;
  static refuse: string | undefined;
  readonly written: string[] = [];
  private queue: Uint8Array[] = [];
  accepts = true;
  closed = false;

  constructor(readonly options: ConsoleSerialOptions) {
    if (ScriptedSerial.refuse !== undefined) throw new Error(ScriptedSerial.refuse);
    ScriptedSerial.last = this;
  }

  read(): Uint8Array | undefined {
    return this.queue.shift();
  }

  write(bytes: Uint8Array): boolean {
    if (!this.accepts) return false;
    this.written.push(hex(bytes));
    return true;
  }

  close(): void {
    this.closed = true;
  }

  /** Bytes arrive, in these chunks. */
  feed(...chunks: Uint8Array[]): void {
    for (const chunk of chunks) {
      this.queue.push(chunk);
      this.options.onReadable?.(chunk.length);
    }
  }

  /** What was written since the last call. */
  take(): string[] {
    return this.written.splice(0);
  }
}

/** A provisioning core the test answers for. */
class ScriptedProvisioning implements ImprovProvisioning {
  isOnline = false;
  url: string | undefined = "http://192.168.4.2/";
  readonly tried: WifiNetwork[] = [];
  answer: ((result: ProvisionResult, detail?: string) => void) | undefined;
  scans: Array<(networks: WifiScanResult[] | undefined, error?: string) => void> = [];
  scan?: ImprovProvisioning["scan"] = (onResult) => this.scans.push(onResult);

  online(): boolean {
    return this.isOnline;
  }
  redirectUrl(): string | undefined {
    return this.url;
  }
  provisionWifi(network: WifiNetwork, onResult: (result: ProvisionResult, detail?: string) => void): void {
    this.tried.push(network);
    this.answer = (outcome, detail) => {
      if (outcome === "joined") this.isOnline = true;
      onResult(outcome, detail);
    };
  }
}

interface LogLine {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

function rig(options: Partial<ImprovServiceOptions> = {}) {
  ScriptedSerial.last = undefined;
  ScriptedSerial.refuse = undefined;
  const clock = new VirtualClock();
  const provisioning = new ScriptedProvisioning();
  const logs: LogLine[] = [];
  const log: Log = (level, event, fields = {}) => logs.push({ level, event, fields });
  const service = new ImprovService({
    serial: ScriptedSerial,
    provisioning,
    timers: clock,
    log,
    info: { firmware: "moorline", version: "0.1.0", hardware: "node", name: "sim-1" },
    ...options,
  });
  service.start();
  const port = ScriptedSerial.last!;
  return { clock, provisioning, logs, service, port, events: (name: string) => logs.filter((line) => line.event === name) };
}

/** Every way of cutting `bytes` in two, and one byte at a time. */
function* chunkings(bytes: Uint8Array): Generator<Uint8Array[]> {
  yield [bytes];
  for (let cut = 1; cut < bytes.length; cut++) yield [bytes.subarray(0, cut), bytes.subarray(cut)];
  yield [...bytes].map((byte) => new Uint8Array([byte]));
}

describe("ImprovService", function () {
  describe("current state and device info", function () {
    it("answers \"current state\" with error 0 then ready, when not online", function () {
      const { port } = rig();
      port.feed(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(port.take(), [error(ImprovError.NONE), state(ImprovState.READY)]);
    });

    it("when online: provisioned, then the redirect URL as the result of \"current state\" (an empty list without one)", function () {
      const { port, provisioning } = rig();
      provisioning.isOnline = true;
      port.feed(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(port.take(), [error(0), state(ImprovState.PROVISIONED), result(ImprovCommand.CURRENT_STATE, ["http://192.168.4.2/"])]);
      provisioning.url = undefined;
      port.feed(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(port.take(), [error(0), state(ImprovState.PROVISIONED), result(ImprovCommand.CURRENT_STATE, [])]);
    });

    it("answers \"device info\" with firmware, version, hardware and device name", function () {
      const { port } = rig();
      port.feed(encodeRpcCommand(ImprovCommand.DEVICE_INFO));
      assert.deepEqual(port.take(), [error(0), result(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", "node", "sim-1"])]);
    });
  });

  describe("send WiFi settings", function () {
    it("says provisioning, tries the network, then says provisioned with the redirect URL", function () {
      const { port, provisioning, events } = rig();
      port.feed(encodeWifiSettings("home", "home-secret"));
      assert.deepEqual(port.take(), [error(0), state(ImprovState.PROVISIONING)]);
      assert.deepEqual(provisioning.tried, [{ ssid: "home", password: "home-secret" }]);
      // Asked meanwhile, the state is provisioning.
      port.feed(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(port.take(), [error(0), state(ImprovState.PROVISIONING)]);
      provisioning.answer!("joined");
      assert.deepEqual(port.take(), [state(ImprovState.PROVISIONED), result(ImprovCommand.WIFI_SETTINGS, ["http://192.168.4.2/"])]);
      assert.deepEqual(events("improv_provisioned").map((line) => line.fields), [{ ssid: "home", result: "joined" }]);
    });

    for (const [outcome, code] of [
      ["wrong_password", ImprovError.UNABLE_TO_CONNECT],
      ["network_not_found", ImprovError.UNABLE_TO_CONNECT],
      ["timeout", ImprovError.UNABLE_TO_CONNECT],
      ["failed", ImprovError.UNABLE_TO_CONNECT],
      ["invalid", ImprovError.INVALID_RPC],
    ] as const) {
      it(`when the core says ${outcome}: back to ready, then error ${code}`, function () {
        const { port, provisioning, events } = rig();
        port.feed(encodeWifiSettings("home", "nope"));
        port.take();
        provisioning.answer!(outcome, "why");
        assert.deepEqual(port.take(), [state(ImprovState.READY), error(code)]);
        assert.deepEqual(events("improv_provisioning_failed").map((line) => line.fields), [{ ssid: "home", result: outcome, detail: "why" }]);
        // Ready for the next one.
        port.feed(encodeWifiSettings("home", "better"));
        assert.deepEqual(port.take(), [error(0), state(ImprovState.PROVISIONING)]);
      });
    }

    it("takes one network at a time: settings during a provisioning get \"unknown error\"", function () {
      const { port, provisioning } = rig();
      port.feed(encodeWifiSettings("home", "a-secret"));
      port.take();
      port.feed(encodeWifiSettings("office", "b-secret"));
      assert.deepEqual(port.take(), [error(ImprovError.UNKNOWN)]);
      assert.equal(provisioning.tried.length, 1);
    });

    it("tells the client it failed when the core never answers, and ignores a late answer", function () {
      const { port, provisioning, clock } = rig({ provisionTimeoutMs: 28_000 });
      port.feed(encodeWifiSettings("home", "secret"));
      port.take();
      clock.advance(27_999);
      assert.deepEqual(port.take(), []);
      clock.advance(1);
      assert.deepEqual(port.take(), [state(ImprovState.READY), error(ImprovError.UNABLE_TO_CONNECT)]);
      provisioning.answer!("wrong_password");
      assert.deepEqual(port.take(), []);
      assert.equal(clock.size, 0, "no timer left");
    });

    it("refuses settings that are not two strings with \"invalid RPC packet\", trying nothing", function () {
      const { port, provisioning } = rig();
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_SETTINGS, new Uint8Array([4, 0x68, 0x6f, 0x6d, 0x65])));
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_SETTINGS, new Uint8Array([9, 0x68])));
      assert.deepEqual(port.take(), [error(ImprovError.INVALID_RPC), error(ImprovError.INVALID_RPC)]);
      assert.equal(provisioning.tried.length, 0);
    });

    it("never logs the password", function () {
      const { port, provisioning, logs } = rig();
      port.feed(encodeWifiSettings("home", "hunter2-secret"));
      provisioning.answer!("wrong_password", "wrong_password");
      port.feed(encodeWifiSettings("home", "hunter3-secret"));
      provisioning.answer!("joined");
      assert.ok(logs.length >= 4);
      assert.doesNotMatch(JSON.stringify(logs), /hunter/);
    });
  });

  describe("scan", function () {
    it("answers each network heard once (strongest first), then an empty result", function () {
      const { port, provisioning } = rig();
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
      assert.deepEqual(port.take(), [error(0)]);
      provisioning.scans[0]!([
        { ssid: "cafe", rssi: -80, secure: false },
        { ssid: "home", rssi: -71, secure: true },
        { ssid: "", rssi: -40, secure: true },
        { ssid: "home", rssi: -52.4, secure: true },
      ]);
      assert.deepEqual(port.take(), [
        result(ImprovCommand.WIFI_NETWORKS, ["home", "-52", "YES"]),
        result(ImprovCommand.WIFI_NETWORKS, ["cafe", "-80", "NO"]),
        result(ImprovCommand.WIFI_NETWORKS, []),
      ]);
    });

    it("answers a request made during a scan with that scan's results", function () {
      const { port, provisioning } = rig();
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS), encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
      assert.equal(provisioning.scans.length, 1);
      provisioning.scans[0]!([]);
      assert.deepEqual(port.take(), [error(0), error(0), result(ImprovCommand.WIFI_NETWORKS, [])]);
    });

    it("says \"unknown error\" when the scan fails or never answers, and \"unknown RPC command\" when the driver cannot scan", function () {
      const { port, provisioning, clock } = rig({ scanTimeoutMs: 15_000 });
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
      provisioning.scans[0]!(undefined, "radio busy");
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
      clock.advance(15_000);
      provisioning.scans[1]!([{ ssid: "late", rssi: -50, secure: true }]);
      assert.deepEqual(port.take(), [error(0), error(ImprovError.UNKNOWN), error(0), error(ImprovError.UNKNOWN)]);
      provisioning.scan = undefined;
      port.feed(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
      assert.deepEqual(port.take(), [error(ImprovError.UNKNOWN_RPC)]);
    });

    it("reports at most MAX_IMPROV_SCAN_RESULTS networks", function () {
      const heard = Array.from({ length: 40 }, (_, i) => ({ ssid: `net-${i}`, rssi: -30 - i, secure: true }));
      const best = strongestFirst(heard);
      assert.equal(best.length, MAX_IMPROV_SCAN_RESULTS);
      assert.deepEqual(best.map((network) => network.ssid).slice(0, 2), ["net-0", "net-1"]);
    });
  });

  describe("what is not a good command", function () {
    it("answers a bad checksum with \"invalid RPC packet\" and the next packet as usual", function () {
      const { port } = rig();
      const bad = encodeRpcCommand(ImprovCommand.CURRENT_STATE);
      bad[bad.length - 2] ^= 0x01;
      port.feed(bad, encodeRpcCommand(ImprovCommand.DEVICE_INFO));
      assert.deepEqual(port.take(), [error(ImprovError.INVALID_RPC), error(0), result(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", "node", "sim-1"])]);
    });

    it("answers an unknown command (hostname, device name, network state, 0xee) with \"unknown RPC command\"", function () {
      const { port, events } = rig();
      for (const command of [0x05, 0x06, 0x07, 0xee]) port.feed(encodeRpcCommand(command));
      assert.deepEqual(port.take(), [0x05, 0x06, 0x07, 0xee].map(() => error(ImprovError.UNKNOWN_RPC)));
      assert.deepEqual(events("improv_unknown_command").map((line) => line.fields.command), [0x05, 0x06, 0x07, 0xee]);
    });

    it("answers RPC data whose length byte does not add up with \"invalid RPC packet\"", function () {
      const { port } = rig();
      port.feed(encodeImprovPacket(ImprovType.RPC_COMMAND, new Uint8Array([ImprovCommand.CURRENT_STATE, 3, 0])));
      port.feed(encodeImprovPacket(ImprovType.RPC_COMMAND, new Uint8Array([ImprovCommand.CURRENT_STATE])));
      assert.deepEqual(port.take(), [error(ImprovError.INVALID_RPC), error(ImprovError.INVALID_RPC)]);
    });

    it("ignores packets that go from the device to the client, and text", function () {
      const { port } = rig();
      port.feed(encodeImprovByte(ImprovType.CURRENT_STATE, ImprovState.READY), encodeRpcResult(1, ["x"]), new TextEncoder().encode("hello IMPROVED\n"));
      assert.deepEqual(port.take(), []);
    });

    it("answers a command split anywhere, among other bytes", function () {
      const stream = Buffer.concat([Buffer.from("noise\n"), encodeRpcCommand(ImprovCommand.CURRENT_STATE), Buffer.from("more")]);
      for (const chunks of chunkings(stream)) {
        const { port } = rig();
        port.feed(...chunks);
        assert.deepEqual(port.take(), [error(0), state(ImprovState.READY)], `${chunks.length} chunks`);
      }
    });

    it("forgets a half packet after packetTimeoutMs of silence", function () {
      const { port, clock, events } = rig({ packetTimeoutMs: 1_000 });
      const whole = encodeRpcCommand(ImprovCommand.CURRENT_STATE);
      port.feed(whole.subarray(0, 8));
      clock.advance(1_001);
      port.feed(whole);
      assert.deepEqual(port.take(), [error(0), state(ImprovState.READY)]);
      assert.equal(events("improv_bad_packet")[0]?.fields.problem, "incomplete");
      // Within the timeout, the rest of a packet still counts.
      port.feed(whole.subarray(0, 8));
      clock.advance(999);
      port.feed(whole.subarray(8));
      assert.deepEqual(port.take(), [error(0), state(ImprovState.READY)]);
    });
  });

  describe("the port", function () {
    it("without a port (the constructor throws): logs improv_unavailable and does nothing", function () {
      ScriptedSerial.refuse = "port in use";
      const logs: string[] = [];
      const service = new ImprovService({
        serial: ScriptedSerial,
        provisioning: new ScriptedProvisioning(),
        timers: new VirtualClock(),
        log: (_level, event, fields) => logs.push(`${event} ${String((fields?.error as Error)?.message)}`),
        info: { firmware: "moorline", version: "0.1.0", hardware: "esp32", name: "x" },
      });
      service.start();
      assert.deepEqual(logs, ["improv_unavailable port in use"]);
      service.stop();
      ScriptedSerial.refuse = undefined;
    });

    it("stop() closes it and sends nothing more, even for a provisioning under way", function () {
      const { port, provisioning, service } = rig();
      port.feed(encodeWifiSettings("home", "secret"));
      port.take();
      service.stop();
      assert.equal(port.closed, true);
      provisioning.answer!("joined");
      port.feed(encodeRpcCommand(ImprovCommand.CURRENT_STATE));
      assert.deepEqual(port.take(), []);
    });

    it("stops when the port fails", function () {
      const { port, events } = rig();
      port.options.onError?.("unplugged");
      assert.equal(port.closed, true);
      assert.deepEqual(events("improv_serial_lost").map((line) => line.fields), [{ error: "unplugged" }]);
    });

    it("counts the writes the host's queue refused", function () {
      const { port, service, events } = rig();
      port.accepts = false;
      port.feed(encodeRpcCommand(ImprovCommand.DEVICE_INFO));
      assert.equal(service.dropped, 2);
      assert.equal(events("improv_write_dropped").length, 2);
    });

    it("checks its options, naming the bad one", function () {
      const base = { serial: ScriptedSerial, provisioning: new ScriptedProvisioning(), timers: new VirtualClock(), info: { firmware: "a", version: "b", hardware: "c", name: "d" } };
      assert.throws(() => new ImprovService({ ...base, serial: undefined as never }), /option serial must be a console serial constructor/);
      assert.throws(() => new ImprovService({ ...base, info: { ...base.info, name: "n".repeat(61) } }), /option info.name must be a string of at most 60 characters/);
      assert.throws(() => new ImprovService({ ...base, packetTimeoutMs: 0 }), /option packetTimeoutMs must be an integer from 1/);
    });
  });
});
