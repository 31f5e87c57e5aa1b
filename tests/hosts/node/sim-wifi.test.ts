/**
 * The simulated WiFi driver: the notifications Moddable's simulator gives ("connect", then
 * "gotIP"; "disconnect" after disconnect(); the password "invalid!" fails), the scripted
 * failures (wrong password, access point absent) and link events (link lost, address lost,
 * both back), on a virtual clock and on Node's real timers.
 */
import assert from "node:assert/strict";
import type { WifiDisconnectReason, WifiNotification } from "../../../src/shared/host.js";
import { nodeTimers } from "../../../hosts/node/host.js";
import { SIM_WIFI_DEFAULTS, SimWifi, type SimWifiOptions } from "../../../hosts/node/sim-wifi.js";
import { VirtualClock } from "../../support/virtual-clock.js";
import { until } from "../../support/wait.js";

function simulated(options: Partial<SimWifiOptions> = {}) {
  const clock = new VirtualClock();
  const wifi = new SimWifi({
    timers: clock,
    accessPoints: [
      { ssid: "home", password: "home-pass", rssi: -48 },
      { ssid: "open", password: "" },
    ],
    ...options,
  });
  const heard: string[] = [];
  wifi.onNotify = (notification: WifiNotification, reason?: WifiDisconnectReason) =>
    heard.push(`${clock.now()} ${notification}${reason === undefined ? "" : ` ${reason}`}`);
  return { clock, wifi, heard };
}

describe("SimWifi", () => {
  describe("joining", () => {
    it("says connect, then gotIP, 300 ms apart by default, and reports address and RSSI once online", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "home", password: "home-pass" });
      assert.deepEqual(heard, [], "nothing from inside connect()");
      assert.equal(wifi.state, "connecting");
      assert.equal(wifi.address(), undefined);
      assert.equal(wifi.rssi(), undefined);
      clock.advance(300);
      assert.equal(wifi.rssi(), -48);
      assert.equal(wifi.address(), undefined, "no address before gotIP");
      clock.advance(300);
      assert.deepEqual(heard, ["300 connect", "600 gotIP"]);
      assert.equal(wifi.state, "online");
      assert.equal(wifi.address(), "192.168.4.2");
      assert.equal(wifi.ssid, "home");
      assert.equal(clock.size, 0);
      assert.equal(SIM_WIFI_DEFAULTS.connectDelayMs + SIM_WIFI_DEFAULTS.gotIPDelayMs, 600);
    });

    it("takes its delays and address from the options", () => {
      const { clock, wifi, heard } = simulated({ connectDelayMs: 1_000, gotIPDelayMs: 1_000, address: "10.1.2.3" });
      wifi.connect({ ssid: "open", password: "" });
      clock.advance(2_000);
      assert.deepEqual(heard, ["1000 connect", "2000 gotIP"]);
      assert.equal(wifi.address(), "10.1.2.3");
      assert.equal(wifi.rssi(), SIM_WIFI_DEFAULTS.rssi);
    });

    it("refuses a wrong password with \"disconnect\" \"wrong_password\" after failDelayMs", () => {
      const { clock, wifi, heard } = simulated({ failDelayMs: 700 });
      wifi.connect({ ssid: "home", password: "guess" });
      clock.advance(699);
      assert.deepEqual(heard, []);
      clock.advance(1);
      assert.deepEqual(heard, ["700 disconnect wrong_password"]);
      assert.equal(wifi.state, "idle");
    });

    it("fails the password \"invalid!\" always, as Moddable's simulator does", () => {
      const { clock, wifi, heard } = simulated({ accessPoints: [{ ssid: "lab", password: "invalid!" }] });
      wifi.connect({ ssid: "lab", password: "invalid!" });
      clock.advance(300);
      assert.deepEqual(heard, ["300 disconnect wrong_password"]);
    });

    it("reports an unknown SSID with \"disconnect\" \"ap_not_found\"", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "cafe", password: "x" });
      clock.advance(300);
      assert.deepEqual(heard, ["300 disconnect ap_not_found"]);
    });

    it("throws like Moddable's ESP32 driver for an SSID or password it cannot take", () => {
      const { wifi } = simulated();
      assert.throws(() => wifi.connect({ ssid: "", password: "" }), /ssid required/);
      assert.throws(() => wifi.connect({ ssid: "s".repeat(33), password: "" }), /ssid too long - 32 bytes max/);
      assert.throws(() => wifi.connect({ ssid: "home", password: "p".repeat(65) }), /password too long - 64 bytes max/);
      assert.equal(wifi.connectCount, 0);
    });

    it("lets connect() supersede an attempt: the first one's notifications never come", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "cafe", password: "" });
      clock.advance(100);
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(1_000);
      assert.deepEqual(heard, ["400 connect", "700 gotIP"]);
      assert.equal(wifi.connectCount, 2);
    });
  });

  describe("leaving", () => {
    it("says \"disconnect\" after disconnect(), unless connect() comes first", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(600);
      wifi.disconnect();
      assert.equal(wifi.address(), undefined);
      clock.advance(50);
      assert.deepEqual(heard.slice(2), ["650 disconnect"]);
      wifi.connect({ ssid: "home", password: "home-pass" });
      wifi.disconnect();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(600);
      assert.deepEqual(heard.slice(3), ["950 connect", "1250 gotIP"]);
    });

    it("says nothing after disconnect() when idle or when nobody listens, and holds no timer", () => {
      const { clock, wifi, heard } = simulated();
      wifi.disconnect();
      assert.equal(clock.size, 0);
      wifi.connect({ ssid: "home", password: "home-pass" });
      wifi.onNotify = undefined;
      wifi.disconnect();
      assert.equal(clock.size, 0);
      assert.deepEqual(heard, []);
    });

    it("close() drops whatever was pending", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "home", password: "home-pass" });
      wifi.close();
      assert.equal(clock.size, 0);
      clock.advance(10_000);
      assert.deepEqual(heard, []);
      assert.equal(wifi.state, "idle");
    });
  });

  describe("scripted link events", () => {
    function online() {
      const s = simulated();
      s.wifi.connect({ ssid: "home", password: "home-pass" });
      s.clock.advance(600);
      s.heard.length = 0;
      return s;
    }

    it("dropLink(): \"disconnect\" \"link_lost\" at once; every connect meanwhile finds no access point; restore() ends it", () => {
      const { clock, wifi, heard } = online();
      wifi.dropLink();
      assert.deepEqual(heard, ["600 disconnect link_lost"]);
      assert.equal(wifi.state, "idle");
      assert.equal(wifi.rssi(), undefined);
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(300);
      assert.deepEqual(heard.slice(1), ["900 disconnect ap_not_found"]);
      wifi.restore();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(600);
      assert.deepEqual(heard.slice(2), ["1200 connect", "1500 gotIP"]);
    });

    it("dropLink() during an attempt: it finds no access point when it would have associated", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(100);
      wifi.dropLink();
      clock.advance(1_000);
      assert.deepEqual(heard, ["300 disconnect ap_not_found"]);
    });

    it("loseIP(): \"lostIP\" at once, still associated; no address until restore(), then \"gotIP\"", () => {
      const { clock, wifi, heard } = online();
      wifi.loseIP();
      assert.deepEqual(heard, ["600 lostIP"]);
      assert.equal(wifi.state, "associated");
      assert.equal(wifi.address(), undefined);
      assert.equal(wifi.rssi(), -48);
      clock.advance(60_000);
      assert.deepEqual(heard, ["600 lostIP"], "DHCP stays down");
      wifi.restore();
      clock.advance(300);
      assert.deepEqual(heard, ["600 lostIP", "60900 gotIP"]);
    });

    it("while the address is lost, a new association gets \"connect\" but no \"gotIP\"", () => {
      const { clock, wifi, heard } = online();
      wifi.loseIP();
      wifi.disconnect();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(10_000);
      assert.deepEqual(heard, ["600 lostIP", "900 connect"]);
    });

    it("removeAccessPoint(): the link to it is lost; later attempts find it absent; setAccessPoint() brings it back", () => {
      const { clock, wifi, heard } = online();
      wifi.removeAccessPoint("home");
      assert.deepEqual(heard, ["600 disconnect link_lost"]);
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(300);
      assert.deepEqual(heard.slice(1), ["900 disconnect ap_not_found"]);
      wifi.setAccessPoint({ ssid: "home", password: "changed", rssi: -70 });
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(300);
      assert.deepEqual(heard.slice(2), ["1200 disconnect wrong_password"]);
      wifi.connect({ ssid: "home", password: "changed" });
      clock.advance(600);
      assert.equal(wifi.rssi(), -70);
    });

    it("an access point removed during an attempt is found absent when association would happen", () => {
      const { clock, wifi, heard } = simulated();
      wifi.connect({ ssid: "home", password: "home-pass" });
      clock.advance(100);
      wifi.removeAccessPoint("home");
      clock.advance(200);
      assert.deepEqual(heard, ["300 disconnect ap_not_found"]);
    });
  });

  describe("provisioning: scan, access point, MAC", () => {
    it("scans the access points in range after scanDelayMs, one scan at a time, none while the radio is down", () => {
      const clock = new VirtualClock();
      const wifi = new SimWifi({ timers: clock, accessPoints: [{ ssid: "home", password: "pw-12345", rssi: -50 }, { ssid: "open", password: "" }] });
      const results: unknown[] = [];
      wifi.scan((networks) => void results.push(networks));
      assert.throws(() => wifi.scan(() => {}), /already scanning/);
      clock.advance(SIM_WIFI_DEFAULTS.scanDelayMs - 1);
      assert.equal(results.length, 0);
      clock.advance(1);
      assert.deepEqual(results[0], [
        { ssid: "home", rssi: -50, secure: true },
        { ssid: "open", rssi: SIM_WIFI_DEFAULTS.rssi, secure: false },
      ]);
      wifi.dropLink();
      wifi.scan((networks) => void results.push(networks));
      clock.advance(SIM_WIFI_DEFAULTS.scanDelayMs);
      assert.deepEqual(results[1], []);
      assert.equal(wifi.scanCount, 2);
    });

    it("opens an access point beside the station, checked as the ESP32 checks it, at 127.0.0.1 by default", () => {
      const clock = new VirtualClock();
      const wifi = new SimWifi({ timers: clock, accessPoints: [{ ssid: "home", password: "pw" }] });
      assert.equal(wifi.accessPointAddress(), undefined);
      assert.throws(() => wifi.startAccessPoint({ ssid: "x".repeat(33), password: "" }), /32 bytes max/);
      assert.throws(() => wifi.startAccessPoint({ ssid: "ap", password: "short" }), /8 bytes min/);
      wifi.startAccessPoint({ ssid: "moorline-726C", password: "" });
      assert.deepEqual(wifi.accessPoint, { ssid: "moorline-726C", password: "" });
      assert.equal(wifi.accessPointAddress(), "127.0.0.1");
      const heard: string[] = [];
      wifi.onNotify = (notification) => heard.push(notification);
      wifi.connect({ ssid: "home", password: "pw" });
      clock.advance(1000);
      assert.deepEqual(heard, ["connect", "gotIP"], "the station works while the access point is up");
      wifi.stopAccessPoint();
      assert.equal(wifi.accessPoint, undefined);
      assert.equal(wifi.macAddress(), SIM_WIFI_DEFAULTS.mac);
    });
  });

  describe("options", () => {
    it("refuses bad delays and access points with a message naming them", () => {
      const clock = new VirtualClock();
      assert.throws(() => new SimWifi({ timers: clock, connectDelayMs: -1 }), /connectDelayMs must be a non-negative integer/);
      assert.throws(() => new SimWifi({ timers: clock, failDelayMs: 1.5 }), /failDelayMs/);
      assert.throws(() => new SimWifi({ timers: clock, accessPoints: [{ ssid: "", password: "" }] }), /ssid must be a string of 1 to 32 bytes/);
      assert.throws(
        () => new SimWifi({ timers: clock, accessPoints: [{ ssid: "a", password: undefined as unknown as string }] }),
        /needs a string password/,
      );
      assert.throws(() => new SimWifi({} as SimWifiOptions), /needs options with timers/);
    });
  });

  describe("scan()", () => {
    it("close() cancels scans not yet answered", () => {
      const { clock, wifi } = simulated();
      let answered = false;
      wifi.scan(() => (answered = true));
      wifi.close();
      assert.equal(clock.size, 0);
      clock.advance(1_000);
      assert.equal(answered, false);
    });
  });

  describe("on Node's real timers", () => {
    it("joins with real delays", async () => {
      const wifi = new SimWifi({
        timers: nodeTimers,
        accessPoints: [{ ssid: "home", password: "pw" }],
        connectDelayMs: 20,
        gotIPDelayMs: 20,
      });
      const heard: string[] = [];
      wifi.onNotify = (notification) => heard.push(notification);
      const started = Date.now();
      wifi.connect({ ssid: "home", password: "pw" });
      await until(() => heard.length === 2, 2_000, "connect and gotIP");
      assert.deepEqual(heard, ["connect", "gotIP"]);
      assert.ok(Date.now() - started >= 35, "the delays were waited");
      wifi.close();
    });
  });
});
