/**
 * tools/provision/client.ts, `npm run provision`'s side of Improv: what it sends, and how it
 * reads the device's answers among log lines: a state, a result, a scan's results up to the
 * empty one, an error that fails the command, silence that times it out.
 */
import assert from "node:assert/strict";
import {
  encodeImprovByte,
  encodeRpcCommand,
  encodeRpcResult,
  encodeWifiSettings,
  ImprovCommand,
  ImprovError,
  ImprovState,
  ImprovType,
} from "../../../src/provisioning/improv.js";
import { ImprovClient, ImprovDeviceError, ImprovTimeoutError } from "../../../tools/provision/client.js";

function rig(writable = true) {
  const sent: string[] = [];
  let other = "";
  const client = new ImprovClient(
    { write: (bytes) => (sent.push(Buffer.from(bytes).toString("hex")), writable) },
    { onOther: (bytes) => (other += Buffer.from(bytes).toString("utf8")) },
  );
  /** The device answers (after the command went out). */
  const answer = (...packets: Uint8Array[]) => setImmediate(() => client.receive(Buffer.concat(packets)));
  return { client, sent, answer, other: () => other };
}

const state = (value: number) => encodeImprovByte(ImprovType.CURRENT_STATE, value);
const error = (value: number) => encodeImprovByte(ImprovType.ERROR_STATE, value);
const log = (text: string) => new TextEncoder().encode(text);

describe("ImprovClient (npm run provision)", function () {
  it("asks for the state: ready is the whole answer; provisioned comes with the redirect URL", async function () {
    const { client, sent, answer, other } = rig();
    answer(log('{"event":"x"}\n'), error(ImprovError.NONE), state(ImprovState.READY));
    assert.deepEqual(await client.currentState(1_000), { state: ImprovState.READY, url: undefined });
    assert.deepEqual(sent, [Buffer.from(encodeRpcCommand(ImprovCommand.CURRENT_STATE)).toString("hex")]);
    assert.equal(other(), '{"event":"x"}\n\n\n', "the log line, then each packet's newline");
    answer(error(0), state(ImprovState.PROVISIONED), log("between\n"), encodeRpcResult(ImprovCommand.CURRENT_STATE, ["http://10.0.0.5/"]));
    assert.deepEqual(await client.currentState(1_000), { state: ImprovState.PROVISIONED, url: "http://10.0.0.5/" });
  });

  it("reads the device info, and a scan's results up to the empty one", async function () {
    const { client, answer } = rig();
    answer(error(0), encodeRpcResult(ImprovCommand.DEVICE_INFO, ["moorline", "0.1.0", "esp32", "kitchen", "extra"]));
    assert.deepEqual(await client.deviceInfo(1_000), { firmware: "moorline", version: "0.1.0", hardware: "esp32", name: "kitchen", more: ["extra"] });
    answer(
      error(0),
      encodeRpcResult(ImprovCommand.WIFI_NETWORKS, ["home", "-50", "YES"]),
      encodeRpcResult(ImprovCommand.DEVICE_INFO, ["not", "for", "us", "!"]),
      encodeRpcResult(ImprovCommand.WIFI_NETWORKS, ["cafe", "-81", "NO"]),
      encodeRpcResult(ImprovCommand.WIFI_NETWORKS, []),
    );
    assert.deepEqual(await client.scan(1_000), [
      { ssid: "home", rssi: -50, secure: true },
      { ssid: "cafe", rssi: -81, secure: false },
    ]);
  });

  it("sends WiFi settings and resolves once provisioned, with the URL", async function () {
    const { client, sent, answer } = rig();
    answer(error(0), state(ImprovState.PROVISIONING), state(ImprovState.PROVISIONED), encodeRpcResult(ImprovCommand.WIFI_SETTINGS, []));
    assert.deepEqual(await client.provision("home", "pw-1", 1_000), { url: undefined });
    assert.deepEqual(sent, [Buffer.from(encodeWifiSettings("home", "pw-1")).toString("hex")]);
    assert.equal(client.state, ImprovState.PROVISIONED);
  });

  it("fails the command with the device's error, or after its timeout", async function () {
    const { client, answer } = rig();
    answer(error(0), state(ImprovState.PROVISIONING), state(ImprovState.READY), error(ImprovError.UNABLE_TO_CONNECT));
    await assert.rejects(client.provision("home", "wrong", 1_000), (caught: unknown) => {
      assert.ok(caught instanceof ImprovDeviceError);
      assert.equal(caught.code, ImprovError.UNABLE_TO_CONNECT);
      assert.equal(caught.message, "the device says: unable to connect");
      return true;
    });
    await assert.rejects(client.deviceInfo(30), (caught: unknown) => caught instanceof ImprovTimeoutError && /within 30 ms/.test(caught.message));
  });

  it("runs one command at a time, and fails at once when the port cannot be written", async function () {
    const { client } = rig();
    const first = client.deviceInfo(50);
    await assert.rejects(client.scan(50), /one Improv command at a time/);
    await assert.rejects(first, ImprovTimeoutError);
    await assert.rejects(rig(false).client.deviceInfo(1_000), /the serial port is not open/);
  });
});
