/**
 * The Moddable host's WiFi driver (hosts/moddable/wifi.ts) over a WiFi class shaped like the
 * SDK's legacy `wifi` module: one listener object, static connect/disconnect, notifications
 * passed on, the ESP32's -1 disconnect code read as a rejected password, and RSSI and address
 * read from Net only while there is a link.
 */
import assert from "node:assert/strict";
import { ESP32_WRONG_PASSWORD, ModdableWifi, type NetGet, type WifiApi, type WifiListener } from "../../../hosts/moddable/wifi.js";
import type { WifiDisconnectReason, WifiNotification } from "../../../src/shared/host.js";

function fakeSdk(net: Partial<Record<"RSSI" | "IP", unknown>> = { RSSI: -61, IP: "192.168.1.23" }) {
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
  }
  const netGet: NetGet = (property) => {
    calls.push(`Net.get ${property}`);
    const value = net[property];
    if (value instanceof Error) throw value;
    return value;
  };
  return { api: FakeWiFi as unknown as WifiApi, netGet, calls, listeners };
}

function driver(net?: Partial<Record<"RSSI" | "IP", unknown>>) {
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
});
