/**
 * src/provisioning/improv-provisioning.ts: Improv's provisioning over the provisioning core
 * (src/provisioning/provisioner.ts), a real WiFi manager, a simulated WiFi and memory storage,
 * on a virtual clock. A network is saved only once it has given an address; a failed one
 * leaves storage and the manager's list as they were; the core reports the outcome as
 * Improv's (source "improv").
 */
import assert from "node:assert/strict";
import type { Log, Storage, WifiNetwork } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { loadNetworks, WIFI_STORAGE, WifiManager } from "../../src/device/wifi.js";
import { createWifiProvisioning, type ProvisionResult } from "../../src/provisioning/improv-provisioning.js";
import { Provisioner } from "../../src/provisioning/provisioner.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { PlayedLink } from "../support/played-link.js";
import { VirtualClock } from "../support/virtual-clock.js";

const HOME = { ssid: "home", password: "home-secret" };

function rig(options: { redirectUrl?: string; storage?: Storage; networks?: WifiNetwork[]; wifi?: false } = {}) {
  const clock = new VirtualClock();
  const sim = new SimWifi({ timers: clock, accessPoints: [{ ...HOME, rssi: -61 }, { ssid: "cafe", password: "" }] });
  const storage = options.storage ?? new MemoryStorage();
  const logs: string[] = [];
  const log: Log = (_level, event, fields) => logs.push(`${event} ${JSON.stringify(fields ?? {})}`);
  const wifi =
    options.wifi === false
      ? undefined
      : new WifiManager({ driver: sim, timers: clock, random: (into) => into.fill(0), networks: options.networks ?? [{ ssid: "gone", password: "x" }], log });
  wifi?.start();
  clock.advance(300);
  const link = new PlayedLink("ws://10.0.0.1:8080/");
  const core = new Provisioner({
    storage,
    timers: clock,
    log,
    link,
    ...(wifi ? { wifi } : {}),
    build: { network: undefined, url: link.url, deviceId: "dev-1" },
    deviceId: "dev-1",
    serverTrialMs: 5_000,
  });
  const provisioning = createWifiProvisioning({ core, wifi, driver: sim, redirectUrl: options.redirectUrl ?? "" });
  const results: string[] = [];
  const record = (result: ProvisionResult, detail?: string) => results.push(detail === undefined ? result : `${result} (${detail})`);
  return { clock, sim, storage, wifi, core, link, provisioning, results, record, logs };
}

describe("createWifiProvisioning (Improv over the provisioning core)", function () {
  it("joins, then saves the network (newest first) and says joined; the core goes on to the server", function () {
    const { provisioning, results, record, clock, storage, logs, core, link } = rig();
    assert.equal(provisioning.online(), false);
    provisioning.provisionWifi(HOME, record);
    assert.equal(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key), undefined, "nothing saved before it worked");
    clock.advance(600);
    assert.deepEqual(results, ["joined"]);
    assert.equal(provisioning.online(), true);
    assert.deepEqual(loadNetworks({}, storage), [HOME]);
    assert.ok(logs.some((line) => line === 'provision_joined {"ssid":"home"}'));
    assert.doesNotMatch(logs.join("\n"), /home-secret/);
    // The server answers: the core's outcome is Improv's, once (Improv has had its answer).
    link.open = true;
    core.linkOpened();
    assert.deepEqual([core.last?.result, core.last?.source, core.last?.ssid], ["online", "improv", "home"]);
    assert.deepEqual(results, ["joined"]);
  });

  it("saves nothing for a wrong password or a missing network, each said as such", function () {
    const storage = new MemoryStorage();
    const { provisioning, results, record, clock } = rig({ storage });
    provisioning.provisionWifi({ ssid: "home", password: "mistyped-1" }, record);
    clock.advance(300);
    provisioning.provisionWifi({ ssid: "nowhere", password: "" }, record);
    clock.advance(300);
    assert.deepEqual(results, [
      'wrong_password ("home" refused the password.)',
      'network_not_found (No network named "nowhere" answered: check the name, and that the device is in range (2.4 GHz only).)',
    ]);
    assert.equal(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key), undefined);
  });

  it("says invalid for settings no network can have (the core's ssid and password checks)", function () {
    const { provisioning, results, record } = rig();
    provisioning.provisionWifi({ ssid: "x".repeat(33), password: "" }, record);
    provisioning.provisionWifi({ ssid: "home", password: "short" }, record);
    assert.deepEqual(results, [
      "invalid (the ssid is 33 bytes (at most 32))",
      "invalid (the password is too short: a WPA2 password has at least 8 characters (leave it empty for an open network))",
    ]);
  });

  it("a newer provisioning supersedes one under way: the first says failed, the second goes on", function () {
    const { provisioning, results, record, clock } = rig();
    provisioning.provisionWifi({ ssid: "cafe", password: "" }, record);
    provisioning.provisionWifi(HOME, record);
    assert.deepEqual(results, ["failed (Newer settings replaced these before they were tried.)"]);
    clock.advance(600);
    assert.deepEqual(results.slice(1), ["joined"]);
  });

  it("says failed on a device without a WiFi manager", function () {
    const { provisioning } = rig({ wifi: false });
    const results: string[] = [];
    provisioning.provisionWifi(HOME, (result, detail) => results.push(`${result}: ${detail}`));
    assert.deepEqual(results, ["failed: this device does not manage WiFi (its link is always up)"]);
    assert.equal(provisioning.online(), false);
  });

  it("still says joined when storage refuses the network (the core logs it)", function () {
    const storage = new MemoryStorage();
    const { provisioning, results, record, clock, logs } = rig({ storage });
    storage.set = () => {
      throw new Error("flash worn out");
    };
    provisioning.provisionWifi(HOME, record);
    clock.advance(600);
    assert.deepEqual(results, ["joined"]);
    assert.ok(logs.some((line) => line.startsWith("provision_save_failed")));
  });

  it("gives the redirect URL once online, with {address} as the station's address", function () {
    const { provisioning, record, clock } = rig({ redirectUrl: "http://{address}:8080/setup" });
    assert.equal(provisioning.redirectUrl(), undefined, "not online yet");
    provisioning.provisionWifi(HOME, record);
    clock.advance(600);
    assert.equal(provisioning.redirectUrl(), "http://192.168.4.2:8080/setup");
    assert.equal(rig().provisioning.redirectUrl(), undefined, "none configured");
  });

  it("scans with the driver when it can", function () {
    const { provisioning, clock, core } = rig();
    const heard: unknown[] = [];
    provisioning.scan!((networks) => heard.push(networks));
    clock.advance(300);
    // As the driver hears them (the Improv service sorts them, strongest first).
    assert.deepEqual(heard, [[{ ssid: "home", rssi: -61, secure: true }, { ssid: "cafe", rssi: -55, secure: false }]]);
    const blind = { connect() {}, disconnect() {}, rssi: () => undefined, address: () => undefined, onNotify: undefined };
    assert.equal(createWifiProvisioning({ core, wifi: undefined, driver: blind }).scan, undefined);
  });
});
