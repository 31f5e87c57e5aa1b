/**
 * The Moddable host's WiFi driver (hosts/moddable/wifi.ts) over a WiFi class shaped like the
 * SDK's legacy `wifi` module: one listener object, static connect/disconnect, notifications
 * passed on, the ESP32's -1 disconnect code read as a rejected password, and RSSI and address
 * read from Net only while there is a link.
 */
import assert from "node:assert/strict";
import { ESP32_WRONG_PASSWORD, ModdableWifi, type NetGet, type WifiApi, type WifiListener } from "../../../hosts/moddable/wifi.js";
import type { WifiDisconnectReason, WifiNotification } from "../../../src/shared/host.js";

type NetKey = "RSSI" | "IP" | "MAC" | "IP ap";

function fakeSdk(net: Partial<Record<NetKey, unknown>> = { RSSI: -61, IP: "192.168.1.23" }) {
  const calls: string[] = [];
  const listeners: WifiListener[] = [];
  class FakeWiFi {
    constructor(options: undefined, onNotify: WifiListener) {
      calls.push(`new ${JSON.stringify(options)}`);
      listeners.push(onNotify);
    }
    static connect(options: { ssid: string; password?: string }): void {
      calls.push(`connect ${JSON.stringify(options)}`);
    }
    static disconnect(): void {
      calls.push("disconnect");
    }
    static set mode(value: number) {
      calls.push(`mode ${value}`);
    }
    static accessPoint(options: Record<string, unknown>): void {
      calls.push(`accessPoint ${JSON.stringify(options)}`);
    }
    static scan(_options: object, callback: (item?: Record<string, unknown>) => void): void {
      calls.push("scan");
      callback({ ssid: "home", rssi: -50, channel: 6, authentication: "wpa2_psk" });
      callback({ ssid: "cafe", rssi: -70, channel: 1, authentication: "none" });
      callback({ rssi: -20 });
      callback(undefined);
    }
  }
  const netGet: NetGet = (property, nif) => {
    calls.push(`Net.get ${property}${nif === undefined ? "" : ` ${nif}`}`);
    const value = net[(nif === "ap" ? `${property} ap` : property) as NetKey];
    if (value instanceof Error) throw value;
    return value;
  };
  return { api: FakeWiFi as unknown as WifiApi, netGet, calls, listeners };
}

function driver(net?: Partial<Record<NetKey, unknown>>) {
  const sdk = fakeSdk(net);
  const wifi = new ModdableWifi(sdk.api, sdk.netGet);
  const heard: Array<[WifiNotification, WifiDisconnectReason | undefined]> = [];
  wifi.onNotify = (notification, reason) => heard.push([notification, reason]);
  /** The SDK calling the listener, as its notifications arrive. */
  const notify = (message: string, code?: number) => sdk.listeners[0]!(message, code);
  return { sdk, wifi, heard, notify };
}

describe("Moddable host WiFi (hosts/moddable/wifi.ts)", function () {
  it("makes one listener on the first connect and joins with WiFi.connect", function () {
    const { sdk, wifi } = driver();
    wifi.connect({ ssid: "Home", password: "secret123" });
    wifi.connect({ ssid: "Office", password: "other-pass" });
    assert.deepEqual(sdk.calls, ['new undefined', 'connect {"ssid":"Home","password":"secret123"}', 'connect {"ssid":"Office","password":"other-pass"}']);
    assert.equal(sdk.listeners.length, 1);
  });

  it("joins an open network without a password", function () {
    const { sdk, wifi } = driver();
    wifi.connect({ ssid: "Cafe", password: "" });
    assert.equal(sdk.calls[1], 'connect {"ssid":"Cafe"}');
  });

  it("passes on connect, gotIP, lostIP and disconnect, and drops the rest", function () {
    const { wifi, heard, notify } = driver();
    wifi.connect({ ssid: "Home", password: "secret123" });
    for (const message of ["start", "connect", "gotIP", "station_connect", "lostIP", "station_disconnect", "disconnect"]) notify(message);
    assert.deepEqual(heard, [
      ["connect", undefined],
      ["gotIP", undefined],
      ["lostIP", undefined],
      ["disconnect", undefined],
    ]);
  });

  it("reads the ESP32's disconnect code -1 as a wrong password, and any other code as no reason", function () {
    const { wifi, heard, notify } = driver();
    wifi.connect({ ssid: "Home", password: "typo" });
    notify("disconnect", ESP32_WRONG_PASSWORD);
    notify("disconnect", 0);
    notify("disconnect", 201);
    assert.deepEqual(heard, [
      ["disconnect", "wrong_password"],
      ["disconnect", undefined],
      ["disconnect", undefined],
    ]);
  });

  it("reports RSSI while associated and the address while online, from Net.get", function () {
    const { wifi, notify } = driver();
    assert.equal(wifi.rssi(), undefined);
    assert.equal(wifi.address(), undefined);
    wifi.connect({ ssid: "Home", password: "secret123" });
    notify("connect");
    assert.equal(wifi.rssi(), -61);
    assert.equal(wifi.address(), undefined);
    notify("gotIP");
    assert.equal(wifi.address(), "192.168.1.23");
    notify("lostIP");
    assert.equal(wifi.address(), undefined);
    assert.equal(wifi.rssi(), -61);
    notify("disconnect");
    assert.equal(wifi.rssi(), undefined);
  });

  it("reports nothing when Net has no answer (the simulator's RSSI) or throws", function () {
    const { wifi, notify } = driver({ RSSI: undefined, IP: new Error("no interface") });
    wifi.connect({ ssid: "Home", password: "secret123" });
    notify("connect");
    notify("gotIP");
    assert.equal(wifi.rssi(), undefined);
    assert.equal(wifi.address(), undefined);
  });

  it("disconnect() leaves the network, and does nothing before any connect", function () {
    const { sdk, wifi, notify } = driver();
    wifi.disconnect();
    assert.deepEqual(sdk.calls, []);
    wifi.connect({ ssid: "Home", password: "secret123" });
    notify("connect");
    notify("gotIP");
    wifi.disconnect();
    assert.equal(sdk.calls.at(-1), "disconnect");
    assert.equal(wifi.address(), undefined);
    assert.equal(wifi.rssi(), undefined);
  });

  it("tells nobody when no listener is set", function () {
    const { wifi, notify } = driver();
    wifi.onNotify = undefined;
    wifi.connect({ ssid: "Home", password: "secret123" });
    assert.doesNotThrow(() => notify("gotIP"));
  });

  describe("provisioning: scan, access point, MAC", function () {
    it("opens the access point beside the station (mode 3), open without a password, and closes it (mode 1)", function () {
      const { sdk, wifi } = driver({ "IP ap": "192.168.4.1" });
      wifi.startAccessPoint({ ssid: "moorline-ABCD", password: "" });
      wifi.startAccessPoint({ ssid: "moorline-ABCD", password: "setup-pass" });
      assert.deepEqual(sdk.calls, [
        "mode 3",
        'accessPoint {"ssid":"moorline-ABCD","station":true}',
        "mode 3",
        'accessPoint {"ssid":"moorline-ABCD","password":"setup-pass","station":true}',
      ]);
      assert.equal(wifi.accessPointAddress(), "192.168.4.1");
      wifi.stopAccessPoint();
      wifi.stopAccessPoint();
      assert.deepEqual(sdk.calls.slice(-2), ["Net.get IP ap", "mode 1"]);
      assert.equal(wifi.accessPointAddress(), undefined);
    });

    it("asks Net for the station's address and MAC by name (the ESP32 answers nothing otherwise in AP+station mode)", function () {
      const { sdk, wifi, notify } = driver({ IP: "10.0.0.5", MAC: "24:0a:c4:12:ab:cd" });
      wifi.connect({ ssid: "Home", password: "secret123" });
      notify("gotIP");
      assert.equal(wifi.address(), "10.0.0.5");
      assert.equal(wifi.macAddress(), "24:0a:c4:12:ab:cd");
      assert.ok(sdk.calls.includes("Net.get IP station"));
      assert.ok(sdk.calls.includes("Net.get MAC station"));
    });

    it("turns the radio on (station mode) to read the MAC of a device that has joined nothing yet", function () {
      const net: Partial<Record<NetKey, unknown>> = {};
      const { sdk, wifi } = driver(net);
      Object.defineProperty(sdk.api, "mode", {
        set: (value: number) => {
          sdk.calls.push(`mode ${value}`);
          net.MAC = "24:0a:c4:00:12:34"; // the ESP32's netif exists once the radio is on
        },
      });
      assert.equal(wifi.macAddress(), "24:0a:c4:00:12:34");
      assert.deepEqual(sdk.calls, ["Net.get MAC station", "mode 1", "Net.get MAC station"]);
    });

    it("scans: each network heard, 'none' as open, incomplete items skipped, then the list", function () {
      const { wifi } = driver();
      const lists: unknown[] = [];
      wifi.scan((networks) => void lists.push(networks));
      assert.deepEqual(lists, [[
        { ssid: "home", rssi: -50, secure: true, channel: 6 },
        { ssid: "cafe", rssi: -70, secure: false, channel: 1 },
      ]]);
    });
  });
});
