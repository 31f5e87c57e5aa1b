/**
 * Improv WiFi over serial as a user meets it: the simulated device (`npm run device --
 * --serial PATH`, a child process, on both engines) has one end of a socat pty pair as its
 * UART; the test is the browser on the other end (ESP Web Tools' part), with a real serial port
 * opened by `serialport`, or runs `npm run provision` there. Packets are compared byte for
 * byte; the device's log lines share the port, as on the chip; the companion server (in this
 * process) sees the device come online.
 *
 * The device starts with a network that is not there (--ssid nowhere), so its WiFi is
 * failing, as a freshly flashed device's would be, until Improv hands it the simulated access
 * point's credentials.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SIM_NETWORK } from "../../hosts/node/device-host.js";
import { loadSerialport, openSerialPort } from "../../hosts/node/serial.js";
import { start, type CompanionServer } from "../../server/companion.js";
import {
  decodeRpc,
  decodeStrings,
  encodeImprovByte,
  encodeImprovPacket,
  encodeRpcCommand,
  encodeRpcResult,
  encodeWifiSettings,
  ImprovCommand,
  ImprovError,
  ImprovParser,
  ImprovState,
  ImprovType,
} from "../../src/provisioning/improv.js";
import { node, type Child } from "../support/child-process.js";
import { ENGINES, engineArgs, useEngine, type EngineName } from "../support/engines.js";
import { needSocat, PtyPair } from "../support/pty.js";
import { until, within } from "../support/wait.js";

/** Every wait here is bounded by this, ms; each normally takes well under a second. */
const SEE_MS = 8_000;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

// What the device must send, built with the codec (whose bytes improv.test.ts pins down by
// hand), newline included. One of them, written out: the state "ready".
const READY = "494d50524f5601010102e20a";
const errorPacket = (code: number) => hex(encodeImprovByte(ImprovType.ERROR_STATE, code));
const statePacket = (state: number) => hex(encodeImprovByte(ImprovType.CURRENT_STATE, state));
const resultPacket = (command: number, strings: string[]) => hex(encodeRpcResult(command, strings));

/** The strings of an RPC result packet given as hex (as ImprovPeer records it). */
function decodeResult(packet: string): string[] {
  const bytes = Buffer.from(packet, "hex");
  const rpc = decodeRpc(bytes.subarray(9, 9 + bytes[8]!));
  assert.ok(!("problem" in rpc));
  const strings = decodeStrings(rpc.payload);
  assert.ok(Array.isArray(strings));
  return strings;
}

/** The browser's end of the UART: writes commands, reads packets and log lines. */
class ImprovPeer {
  /** Every byte received, in order. */
  raw = Buffer.alloc(0);
  /** Each packet received (re-encoded: the same bytes, newline added), in order. */
  readonly packets: string[] = [];
  /** Bytes that are not packets: the device's log. */
  text = "";
  private readonly parser = new ImprovParser({
    onPacket: (type, data) => this.packets.push(hex(encodeImprovPacket(type, data))),
    onBadPacket: (problem) => this.packets.push(`bad packet: ${problem}`),
    onOther: (bytes) => (this.text += Buffer.from(bytes).toString("utf8")),
  });

  private constructor(private readonly port: Awaited<ReturnType<typeof openSerialPort>>) {
    port.on("data", (chunk: Buffer) => {
      this.raw = Buffer.concat([this.raw, chunk]);
      this.parser.push(chunk);
    });
  }

  static async open(path: string): Promise<ImprovPeer> {
    return new ImprovPeer(await openSerialPort(await loadSerialport(), path, 115_200));
  }

  write(bytes: Uint8Array): void {
    this.port.write(Buffer.from(bytes));
  }

  /** Waits for `count` packets after the first `from`; returns them. */
  async next(from: number, count: number, what: string): Promise<string[]> {
    await until(() => this.packets.length >= from + count, SEE_MS, `${what} (packets so far: ${JSON.stringify(this.packets.slice(from))})`);
    return this.packets.slice(from, from + count);
  }

  /** Sends `packet`, then waits for `count` packets in answer. */
  async exchange(packet: Uint8Array, count: number, what: string): Promise<string[]> {
    const from = this.packets.length;
    this.write(packet);
    return this.next(from, count, what);
  }

  /** The device's log lines on the port so far, parsed (each must be one JSON object). */
  logLines(): Array<Record<string, unknown>> {
    return this.text
      .split("\n")
      .slice(0, -1)
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}

for (const engine of ENGINES) describe(`Improv WiFi over serial, the simulated device's --serial [${engine}]`, function () {
  useEngine(engine);
  this.timeout(40_000);

  let dir: string;
  let pty: PtyPair;
  let server: CompanionServer;
  let device: Child | undefined;
  let peer: ImprovPeer | undefined;

  before(function () {
    needSocat(this);
  });

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), "moorline-improv-"));
    pty = new PtyPair(dir);
    await pty.start({ openPeer: false });
    server = await start({ port: 0 });
  });

  afterEach(async function () {
    await stopDevice();
    await peer?.close();
    peer = undefined;
    await pty.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts the device on the pty, failing to join "nowhere" (unless given --ssid), and waits until Improv listens. */
  async function startDevice(extra: string[] = []): Promise<Child> {
    device = node("dist/hosts/node/device.js", [
      ...engineArgs(engine),
      ...["--serial", pty.dev, "--url", server.url, "--device-id", "improv-1", "--storage", join(dir, "device.json")],
      ...(extra.includes("--ssid") ? [] : ["--ssid", "nowhere", "--password", "not-here"]),
      "--log-format",
      "json",
      ...extra,
    ]);
    await device.line(/"event":"improv_ready"/, SEE_MS, "Improv to listen");
    return device;
  }

  async function stopDevice(): Promise<void> {
    const child = device;
    device = undefined;
    if (!child) return;
    child.kill("SIGTERM");
    await child.waitForExit(SEE_MS, "the device to stop").catch(() => child.kill());
  }

  async function connect(): Promise<ImprovPeer> {
    peer = await ImprovPeer.open(pty.peer);
    return peer;
  }

  function hardware(name: EngineName): string {
    return name === "xs" ? "xs" : "node";
  }

  it("answers current state and device info byte for byte, between its log lines", async function () {
    await startDevice();
    const port = await connect();
    assert.deepEqual(await port.exchange(encodeRpcCommand(ImprovCommand.CURRENT_STATE), 2, "the state"), [errorPacket(ImprovError.NONE), READY]);
    assert.deepEqual(await port.exchange(encodeRpcCommand(ImprovCommand.DEVICE_INFO), 2, "the device info"), [
      errorPacket(ImprovError.NONE),
      resultPacket(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", hardware(engine), "improv-1"]),
    ]);
    // Each packet went out whole, newline included, with the log around it.
    for (const packet of port.packets) assert.ok(port.raw.toString("hex").includes(packet), `sent whole: ${packet}`);
    await until(() => port.logLines().some((line) => line.event === "wifi_ap_not_found"), SEE_MS, "the device's log on the port");
    assert.ok(port.logLines().every((line) => typeof line.t === "string" && typeof line.event === "string"), "the log lines are whole JSON lines");
  });

  it("answers a bad checksum with \"invalid RPC packet\" and unknown commands with \"unknown RPC command\", then carries on", async function () {
    await startDevice();
    const port = await connect();
    const bad = encodeRpcCommand(ImprovCommand.CURRENT_STATE);
    bad[bad.length - 2] = (bad[bad.length - 2]! + 1) & 0xff;
    assert.deepEqual(await port.exchange(bad, 1, "the answer to a bad checksum"), [errorPacket(ImprovError.INVALID_RPC)]);
    assert.deepEqual(await port.exchange(encodeRpcCommand(0x05), 1, "the answer to an unknown command"), [errorPacket(ImprovError.UNKNOWN_RPC)]);
    assert.deepEqual(
      await port.exchange(encodeImprovPacket(ImprovType.RPC_COMMAND, new Uint8Array([ImprovCommand.DEVICE_INFO, 7])), 1, "the answer to a bad length"),
      [errorPacket(ImprovError.INVALID_RPC)],
    );
    // Noise, then a command cut in two with a pause between: answered as usual.
    const from = port.packets.length;
    const command = encodeRpcCommand(ImprovCommand.CURRENT_STATE);
    port.write(Buffer.from("hello IMPROVED world\r\n"));
    port.write(command.subarray(0, 5));
    await new Promise((resolve) => setTimeout(resolve, 100));
    port.write(command.subarray(5));
    assert.deepEqual(await port.next(from, 2, "the state after noise"), [errorPacket(ImprovError.NONE), READY]);
    await until(() => port.logLines().some((line) => line.event === "improv_unknown_command"), SEE_MS, "the log line of the unknown command");
  });

  it("joins the simulated WiFi after \"send WiFi settings\" (the server sees it), and the network survives a restart", async function () {
    await startDevice(["--improv-url", "http://{address}/setup"]);
    const port = await connect();
    const url = "http://192.168.4.2/setup";
    assert.deepEqual(await port.exchange(encodeWifiSettings(SIM_NETWORK.ssid, SIM_NETWORK.password), 2, "provisioning"), [
      errorPacket(ImprovError.NONE),
      statePacket(ImprovState.PROVISIONING),
    ]);
    assert.deepEqual(await port.next(2, 2, "provisioned"), [statePacket(ImprovState.PROVISIONED), resultPacket(ImprovCommand.WIFI_SETTINGS, [url])]);
    await server.waitFor("hello", (event) => event.device === "improv-1", SEE_MS);
    const stored = JSON.parse(readFileSync(join(dir, "device.json"), "utf8")) as { wifi: { networks: string } };
    assert.deepEqual(JSON.parse(stored.wifi.networks), [SIM_NETWORK]);
    assert.doesNotMatch(port.text + device!.stdout, new RegExp(SIM_NETWORK.password), "the password is in no log line");

    // Restarted with the same (failing) build network, it joins the saved one by itself.
    await stopDevice();
    await port.close();
    peer = undefined;
    const helloes = server.history.filter((event) => event.event === "hello").length;
    const again = await startDevice(["--improv-url", "http://{address}/setup"]);
    await again.line(new RegExp(`"event":"wifi_state","state":"online","ssid":"${SIM_NETWORK.ssid}"`), SEE_MS, "the saved network joined");
    await until(() => server.history.filter((event) => event.event === "hello").length > helloes, SEE_MS, "a second hello");
    const second = await connect();
    assert.deepEqual(await second.exchange(encodeRpcCommand(ImprovCommand.CURRENT_STATE), 3, "the state after the restart"), [
      errorPacket(ImprovError.NONE),
      statePacket(ImprovState.PROVISIONED),
      resultPacket(ImprovCommand.CURRENT_STATE, [url]),
    ]);
  });

  it("keeps the UART across a crash and reset, as UART0 outlives the firmware: the chip's lines, then the next run's Improv", async function () {
    await startDevice(["--ssid", SIM_NETWORK.ssid, "--password", SIM_NETWORK.password, "--faults"]);
    const port = await connect();
    const hello = await server.waitFor("hello", (event) => event.device === "improv-1", SEE_MS);
    assert.deepEqual(await port.exchange(encodeRpcCommand(ImprovCommand.CURRENT_STATE), 3, "the state before"), [
      errorPacket(ImprovError.NONE),
      statePacket(ImprovState.PROVISIONED),
      resultPacket(ImprovCommand.CURRENT_STATE, []),
    ]);
    // A crash: the run ends without closing its reader (the chip takes the UART back).
    server.send(`#${hello.conn}`, 'send {"type":"fault","kind":"crash"}');
    // The chip's own lines reach the port, then the next run's, on the same open tty.
    const afterBoot = (): Array<Record<string, unknown>> => {
      const lines = port.logLines();
      const boot = lines.findIndex((line) => line.event === "chip_boot" && line.reset === "panic");
      return boot < 0 ? [] : lines.slice(boot);
    };
    await until(() => port.logLines().some((line) => line.event === "chip_reset"), SEE_MS, "the chip's reset line on the port");
    await until(() => afterBoot().some((line) => line.event === "improv_ready"), SEE_MS, "the next run's Improv on the port");
    // The new run reads the same port: a command is answered.
    assert.deepEqual(await port.exchange(encodeRpcCommand(ImprovCommand.DEVICE_INFO), 2, "the device info from the next run"), [
      errorPacket(ImprovError.NONE),
      resultPacket(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", hardware(engine), "improv-1"]),
    ]);
  });

  it("says \"unable to connect\" for a wrong password, and saves nothing", async function () {
    await startDevice();
    const port = await connect();
    await port.exchange(encodeWifiSettings(SIM_NETWORK.ssid, "not-the-password"), 2, "provisioning");
    assert.deepEqual(await port.next(2, 2, "the failure"), [statePacket(ImprovState.READY), errorPacket(ImprovError.UNABLE_TO_CONNECT)]);
    await until(() => port.logLines().some((line) => line.event === "improv_provisioning_failed"), SEE_MS, "the failure in the log");
    const failure = port.logLines().find((line) => line.event === "improv_provisioning_failed")!;
    assert.equal(failure.result, "wrong_password");
    const stored = (() => {
      try {
        return readFileSync(join(dir, "device.json"), "utf8");
      } catch {
        return "";
      }
    })();
    assert.doesNotMatch(stored, /networks/);
  });

  it("lists the networks it hears, strongest first, then an empty result", async function () {
    await startDevice();
    const port = await connect();
    const end = resultPacket(ImprovCommand.WIFI_NETWORKS, []);
    port.write(encodeRpcCommand(ImprovCommand.WIFI_NETWORKS));
    await until(() => port.packets.includes(end), SEE_MS, `the scan's end (packets: ${JSON.stringify(port.packets)})`);
    const [first, ...rest] = port.packets;
    assert.equal(first, errorPacket(ImprovError.NONE));
    assert.equal(rest.pop(), end);
    // The simulated access point is the strongest the simulated WiFi has (-58 dBm).
    assert.equal(rest[0], resultPacket(ImprovCommand.WIFI_NETWORKS, [SIM_NETWORK.ssid, "-58", "YES"]));
    const heard = rest.map((packet) => decodeResult(packet));
    assert.deepEqual(heard.map(([, rssi]) => Number(rssi)), heard.map(([, rssi]) => Number(rssi)).sort((a, b) => b - a));
    for (const [ssid, , auth] of heard) assert.ok(ssid !== "" && (auth === "YES" || auth === "NO"), ssid);
  });

  it("is provisioned by `npm run provision`, end to end", async function () {
    await startDevice();
    const provision = node("dist/tools/provision/cli.js", [
      ...["--port", pty.peer, "--scan", "--ssid", SIM_NETWORK.ssid, "--password", SIM_NETWORK.password],
    ]);
    const exit = await within(provision.exited, 30_000, "npm run provision to finish");
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${provision.stderr}`);
    const lines = provision.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 4), [`device: improv-1 (moorline 0.1.0 on ${hardware(engine)})`, "state: ready", "networks:", lines[3]]);
    // The strongest first, its name padded to the longest one heard.
    assert.match(lines[3]!, new RegExp(`^  ${SIM_NETWORK.ssid} +-58 dBm  secured$`));
    assert.deepEqual(lines.slice(-3), [`joining ${SIM_NETWORK.ssid}...`, `joined ${SIM_NETWORK.ssid}`, ""]);
    await server.waitFor("hello", (event) => event.device === "improv-1", SEE_MS);
    // Asked again, it says it is provisioned.
    const state = node("dist/tools/provision/cli.js", ["--port", pty.peer]);
    assert.deepEqual(await within(state.exited, 20_000, "the second provision"), { code: 0, signal: null }, state.stderr);
    assert.match(state.stdout, /^state: provisioned$/m);
  });

  it("`npm run provision` exits 1 saying why when the device cannot join", async function () {
    await startDevice();
    const provision = node("dist/tools/provision/cli.js", ["--port", pty.peer, "--ssid", "elsewhere", "--password", "whatever-1"]);
    assert.deepEqual(await within(provision.exited, 30_000, "npm run provision to finish"), { code: 1, signal: null });
    assert.match(provision.stdout, /^joining elsewhere\.\.\.$/m);
    assert.match(provision.stderr, /^provision: the device could not join elsewhere \(unable to connect\): check the network's name and password/m);
    assert.doesNotMatch(provision.stderr + provision.stdout, /whatever-1/);
  });
});
