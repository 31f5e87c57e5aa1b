/**
 * The WiFi manager's provisioning side (src/device/wifi.ts): no network to try, a list that
 * changes while running (setNetworks), one network tried alone (trial) with the old ones
 * back after a failure, and a trial called off (cancelTrial). On a virtual clock, against
 * the simulated WiFi (300 ms per step: online 600 ms after connect, a failure after 300 ms).
 */
import assert from "node:assert/strict";
import { WifiState, type TrialResult } from "../../src/device/wifi.js";
import type { SimAccessPoint } from "../../hosts/node/sim-wifi.js";
import { rig } from "../support/wifi-rig.js";

const HOME: SimAccessPoint = { ssid: "home", password: "home-secret-1" };
const OFFICE: SimAccessPoint = { ssid: "office", password: "office-secret-2" };
const NEW: SimAccessPoint = { ssid: "new-net", password: "new-secret-33" };

describe("WifiManager for provisioning", () => {
  describe("with no network to try", () => {
    it("stays idle after start(), says so once, and starts a round when setNetworks() gives one", () => {
      const { manager, clock, events, seen } = rig([HOME], []);
      manager.start();
      assert.equal(manager.state, WifiState.IDLE);
      assert.equal(events("wifi_no_networks").length, 1);
      clock.advance(60_000);
      assert.equal(manager.state, WifiState.IDLE, "nothing is retried: there is nothing to try");
      manager.setNetworks([HOME]);
      assert.equal(manager.state, WifiState.CONNECTING);
      clock.advance(600);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 60600"]);
    });
  });

  describe("setNetworks()", () => {
    it("keeps the link in use when its network is still listed", () => {
      const { manager, clock, sim } = rig([HOME, OFFICE], [HOME]);
      manager.start();
      clock.advance(600);
      const connects = sim.connectCount;
      manager.setNetworks([OFFICE, HOME]);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.equal(manager.ssid, "home");
      assert.equal(sim.connectCount, connects, "no reconnection");
      assert.deepEqual(manager.list.map((n) => n.ssid), ["office", "home"]);
    });

    it("leaves a network that is no longer listed (offline first), and goes idle when none is left", () => {
      const { manager, clock, seen } = rig([HOME], [HOME]);
      manager.start();
      clock.advance(600);
      manager.setNetworks([]);
      assert.equal(manager.state, WifiState.IDLE);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600", "offline link_lost at 600"]);
    });

    it("during a backoff wait, the next round uses the new list", () => {
      const { manager, clock } = rig([OFFICE], [HOME]);
      manager.start();
      clock.advance(300);
      assert.equal(manager.state, WifiState.BACKOFF);
      manager.setNetworks([OFFICE]);
      assert.equal(manager.state, WifiState.BACKOFF);
      clock.advance(2_000 + 600);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.equal(manager.ssid, "office");
    });

    it("refuses a list that cannot be joined, keeping the old one", () => {
      const { manager } = rig([HOME], [HOME]);
      assert.throws(() => manager.setNetworks([{ ssid: "", password: "" }]), /networks\[0\]/);
      assert.deepEqual(manager.list.map((n) => n.ssid), ["home"]);
    });
  });

  describe("trial()", () => {
    function trialRig(accessPoints: SimAccessPoint[], networks: SimAccessPoint[]) {
      const r = rig(accessPoints, networks);
      const results: Array<{ result: TrialResult; at: number }> = [];
      const onResult = (result: TrialResult): void => {
        results.push({ result, at: r.clock.now() });
      };
      return { ...r, results, onResult };
    }

    it("from idle with nothing to try: joins the network, reports online once, and lists it first", () => {
      const { manager, clock, results, onResult, seen } = trialRig([NEW], []);
      manager.start();
      manager.trial(NEW, onResult);
      assert.equal(manager.trying, true);
      assert.equal(manager.state, WifiState.CONNECTING);
      clock.advance(600);
      assert.deepEqual(results, [{ result: "online", at: 600 }]);
      assert.equal(manager.trying, false);
      assert.deepEqual(manager.list, [{ ssid: NEW.ssid, password: NEW.password }]);
      assert.deepEqual(seen, ["online new-net 192.168.4.2 at 600"]);
    });

    it("leaves the link in use (offline: switching), and on success stays on the new network", () => {
      const { manager, clock, results, onResult, seen } = trialRig([HOME, NEW], [HOME]);
      manager.start();
      clock.advance(600);
      manager.trial(NEW, onResult);
      clock.advance(600);
      assert.deepEqual(results, [{ result: "online", at: 1200 }]);
      assert.equal(manager.ssid, "new-net");
      assert.deepEqual(manager.list.map((n) => n.ssid), ["new-net", "home"]);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600", "offline switching at 600", "online new-net 192.168.4.2 at 1200"]);
    });

    it("a wrong password: reported, then back to the network in use before", () => {
      const { manager, clock, results, onResult } = trialRig([HOME, NEW], [HOME]);
      manager.start();
      clock.advance(600);
      manager.trial({ ssid: NEW.ssid, password: "not-the-one" }, onResult);
      clock.advance(300);
      assert.deepEqual(results, [{ result: "wrong_password", at: 900 }]);
      assert.equal(manager.ssid, "home", "trying the old network again at once");
      clock.advance(600);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(manager.list.map((n) => n.ssid), ["home"], "the failed network is not listed");
    });

    it("a network not in range: ap_not_found; one that never answers: timeout after attemptTimeoutMs", () => {
      const missing = trialRig([HOME], [HOME]);
      missing.manager.trial({ ssid: "nowhere", password: "" }, missing.onResult);
      missing.clock.advance(300);
      assert.deepEqual(missing.results.map((r) => r.result), ["ap_not_found"]);

      const silent = trialRig([HOME, NEW], [HOME]);
      silent.manager.start();
      silent.clock.advance(600);
      silent.sim.loseIP(); // associations work, no address comes
      silent.manager.trial(NEW, silent.onResult);
      silent.clock.advance(20_000);
      assert.deepEqual(silent.results, [{ result: "timeout", at: 20_600 }]);
    });

    it("a failed trial from idle with nothing listed goes back to idle", () => {
      const { manager, clock, results, onResult } = trialRig([NEW], []);
      manager.start();
      manager.trial({ ssid: NEW.ssid, password: "wrong-password" }, onResult);
      clock.advance(300);
      assert.deepEqual(results.map((r) => r.result), ["wrong_password"]);
      assert.equal(manager.state, WifiState.IDLE);
    });

    it("a newer trial replaces one under way, whose result never comes", () => {
      const { manager, clock, results, onResult } = trialRig([HOME, NEW], []);
      manager.trial(HOME, () => assert.fail("the replaced trial must not report"));
      clock.advance(100);
      manager.trial(NEW, onResult);
      clock.advance(600);
      assert.deepEqual(results.map((r) => r.result), ["online"]);
      assert.equal(manager.ssid, "new-net");
    });

    it("cancelTrial() lets the network go without a result and resumes the rounds", () => {
      const { manager, clock, results, onResult, events } = trialRig([HOME, NEW], [HOME]);
      manager.start();
      clock.advance(600);
      manager.trial(NEW, onResult);
      clock.advance(100);
      manager.cancelTrial();
      assert.equal(manager.trying, false);
      clock.advance(600);
      assert.deepEqual(results, []);
      assert.equal(manager.ssid, "home");
      assert.equal(manager.state, WifiState.ONLINE);
      assert.equal(events("wifi_trial_cancelled").length, 1);
    });

    it("refuses a network that cannot be joined, without quoting the password", () => {
      const { manager } = trialRig([], []);
      assert.throws(() => manager.trial({ ssid: "x", password: "p".repeat(70) + "SECRET" }, () => {}), (error: Error) => {
        assert.match(error.message, /cannot try the network: the password is 76 bytes/);
        assert.ok(!error.message.includes("SECRET"));
        return true;
      });
    });

    it("stop() ends a trial: no result, nothing left running", () => {
      const { manager, clock, results, onResult } = trialRig([NEW], []);
      manager.trial(NEW, onResult);
      manager.stop();
      clock.advance(60_000);
      assert.deepEqual(results, []);
      assert.equal(clock.size, 0);
    });
  });
});
