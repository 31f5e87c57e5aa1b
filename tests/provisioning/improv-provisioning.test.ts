/**
 * src/provisioning/improv-provisioning.ts: provisioning over the real WiFi manager, a
 * simulated WiFi and memory storage, on a virtual clock. A network is saved only once it has
 * given an address; a failed one leaves storage and the manager's list as they were.
 */
import assert from "node:assert/strict";
import type { Log, Storage, WifiNetwork } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { loadNetworks, WIFI_STORAGE, WifiManager } from "../../src/device/wifi.js";
import { createWifiProvisioning, type ProvisionResult } from "../../src/provisioning/improv-provisioning.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { VirtualClock } from "../support/virtual-clock.js";

const HOME = { ssid: "home", password: "home-secret" };

function rig(options: { redirectUrl?: string; storage?: Storage; networks?: WifiNetwork[] } = {}) {
  const clock = new VirtualClock();
  const sim = new SimWifi({ timers: clock, accessPoints: [{ ...HOME, rssi: -61 }, { ssid: "cafe", password: "" }] });
  const storage = options.storage ?? new MemoryStorage();
  const logs: string[] = [];
  const log: Log = (_level, event, fields) => logs.push(`${event} ${JSON.stringify(fields ?? {})}`);
  const wifi = new WifiManager({ driver: sim, timers: clock, random: (into) => into.fill(0), networks: options.networks ?? [{ ssid: "gone", password: "x" }], log });
  wifi.start();
  clock.advance(300);
  const provisioning = createWifiProvisioning({ wifi, driver: sim, storage, log, redirectUrl: options.redirectUrl ?? "" });
  const results: string[] = [];
  const record = (result: ProvisionResult, detail?: string) => results.push(detail === undefined ? result : `${result} (${detail})`);
  return { clock, sim, storage, wifi, provisioning, results, record, logs };
}

describe("createWifiProvisioning", function () {
  it("joins, then saves the network (newest first) and says joined", function () {
    const { provisioning, results, record, clock, storage, logs } = rig();
    assert.equal(provisioning.online(), false);
    provisioning.provisionWifi(HOME, record);
    assert.equal(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key), undefined, "nothing saved before it worked");
    clock.advance(600);
    assert.deepEqual(results, ["joined"]);
    assert.equal(provisioning.online(), true);
    assert.deepEqual(loadNetworks({}, storage), [HOME]);
    assert.ok(logs.some((line) => line === 'wifi_saved {"ssid":"home"}'));
    assert.doesNotMatch(logs.join("\n"), /home-secret/);
  });

  it("saves nothing for a wrong password or a missing network, each said as such", function () {
    const storage = new MemoryStorage();
    const { provisioning, results, record, clock } = rig({ storage });
    provisioning.provisionWifi({ ssid: "home", password: "mistyped" }, record);
    clock.advance(300);
    provisioning.provisionWifi({ ssid: "nowhere", password: "x" }, record);
    clock.advance(300);
    assert.deepEqual(results, ["wrong_password (wrong_password)", "network_not_found (ap_not_found)"]);
    assert.equal(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key), undefined);
  });

  it("says invalid for settings no network can have, and failed when a join is under way", function () {
    const { provisioning, results, record } = rig();
    provisioning.provisionWifi({ ssid: "x".repeat(33), password: "" }, record);
    provisioning.provisionWifi(HOME, record);
    provisioning.provisionWifi(HOME, record);
    assert.deepEqual(results, [
      "invalid (cannot join the network: the ssid is 33 bytes (at most 32))",
      "failed (a network is being tried already (home))",
    ]);
  });

  it("says failed on a device without a WiFi manager", function () {
    const provisioning = createWifiProvisioning({ wifi: undefined, driver: new SimWifi({ timers: new VirtualClock() }), storage: new MemoryStorage() });
    const results: string[] = [];
    provisioning.provisionWifi(HOME, (result, detail) => results.push(`${result}: ${detail}`));
    assert.deepEqual(results, ["failed: this device runs without WiFi management (started with no network: --no-wifi)"]);
    assert.equal(provisioning.online(), false);
  });

  it("still says joined when storage refuses the network, with the reason", function () {
    const storage = new MemoryStorage();
    const { provisioning, results, record, clock, logs } = rig({ storage });
    storage.set = () => {
      throw new Error("flash worn out");
    };
    provisioning.provisionWifi(HOME, record);
    clock.advance(600);
    assert.deepEqual(results, ["joined (joined, but the network could not be saved: it is lost at the next restart)"]);
    assert.ok(logs.some((line) => line.startsWith("wifi_save_failed")));
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
    const { provisioning, clock } = rig();
    const heard: unknown[] = [];
    provisioning.scan!((networks) => heard.push(networks));
    clock.advance(300);
    assert.deepEqual(heard, [[{ ssid: "home", rssi: -61, secure: true }, { ssid: "cafe", rssi: -55, secure: false }].sort((a, b) => b.rssi - a.rssi)]);
    const blind = { connect() {}, disconnect() {}, rssi: () => undefined, address: () => undefined, onNotify: undefined };
    assert.equal(createWifiProvisioning({ wifi: undefined, driver: blind, storage: new MemoryStorage() }).scan, undefined);
  });
});
