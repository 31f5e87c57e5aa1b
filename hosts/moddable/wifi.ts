/**
 * The firmware's WifiDriver over Moddable's legacy `wifi` module (the one with a simulator
 * implementation; the ECMA-419 `embedded:network/interface/wifi` has none).
 *
 * The SDK's notifications are passed on as they are ("connect", "gotIP", "lostIP",
 * "disconnect"); the rest ("start" on the ESP32, "station_connect"/"station_disconnect" in
 * access-point mode) mean nothing to a station and are dropped. On the ESP32 a "disconnect"
 * carries a code: -1 when the access point rejected the password (a 4-way handshake or MIC
 * failure), which becomes "wrong_password"; any other code says nothing certain, so no reason
 * is given and src/device/wifi.ts tells "ap_not_found" from "link_lost" by whether it had associated.
 * Moddable's simulator always joins, except with the password "invalid!", which it answers
 * with a plain "disconnect" (so the manager reports ap_not_found there).
 *
 * One WiFi object is made, on the first connect(), and kept: the simulator allows only one at
 * a time, and on the ESP32 the object is only the notification listener (connecting and
 * leaving are static calls).
 *
 * Signal strength and address come from `Net.get("RSSI")` and `Net.get("IP")`, only while
 * the driver believes it is associated / has an address: Net.get answers about the radio, and
 * in the simulator about the desktop's own network whatever the simulated WiFi says.
 *
 * Portable on purpose: the SDK's WiFi class and Net.get are passed in (host.ts gives them),
 * so the mapping is tested on Node.
 */
import type { WifiDisconnectReason, WifiDriver, WifiNetwork, WifiNotification } from "../../src/shared/host.js";

/** What the SDK passes to a WiFi listener: a message, and on the ESP32 a code with "disconnect". */
export type WifiListener = (message: string, code?: number) => void;

/** Moddable's legacy WiFi class (`import WiFi from "wifi"`), as far as this driver uses it. */
export interface WifiApi {
  new (options: undefined, onNotify: WifiListener): unknown;
  connect(options: { ssid: string; password?: string }): void;
  disconnect(): void;
}

/** `Net.get` from `import Net from "net"`, for the two properties used here. */
export type NetGet = (property: "RSSI" | "IP") => unknown;

/** The ESP32's "disconnect" code for a password the access point rejected. */
export const ESP32_WRONG_PASSWORD = -1;

const PASSED_ON: readonly string[] = Object.freeze(["connect", "gotIP", "lostIP", "disconnect"]);

export class ModdableWifi implements WifiDriver {
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;

  private readonly api: WifiApi;
  private readonly netGet: NetGet;
  private listener: unknown;
  private associated = false;
  private online = false;

  constructor(api: WifiApi, netGet: NetGet) {
    this.api = api;
    this.netGet = netGet;
  }

  connect(network: WifiNetwork): void {
    if (this.listener === undefined) this.listener = new this.api(undefined, this.notified);
    this.associated = false;
    this.online = false;
    // An open network has no password: the SDK then joins without security.
    this.api.connect(network.password === "" ? { ssid: network.ssid } : { ssid: network.ssid, password: network.password });
  }

  disconnect(): void {
    this.associated = false;
    this.online = false;
    if (this.listener !== undefined) this.api.disconnect();
  }

  rssi(): number | undefined {
    if (!this.associated) return undefined;
    const value = this.read("RSSI");
    return typeof value === "number" && Number.isFinite(value) ? value : undefined;
  }

  address(): string | undefined {
    if (!this.online) return undefined;
    const value = this.read("IP");
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  private read(property: "RSSI" | "IP"): unknown {
    try {
      return this.netGet(property);
    } catch {
      return undefined; // no station interface (yet): nothing to report
    }
  }

  private readonly notified: WifiListener = (message, code) => {
    if (PASSED_ON.indexOf(message) < 0) return;
    const notification = message as WifiNotification;
    switch (notification) {
      case "connect":
        this.associated = true;
        break;
      case "gotIP":
        this.associated = true;
        this.online = true;
        break;
      case "lostIP":
        this.online = false;
        break;
      case "disconnect":
        this.associated = false;
        this.online = false;
        break;
    }
    if (notification === "disconnect" && code === ESP32_WRONG_PASSWORD) this.onNotify?.("disconnect", "wrong_password");
    else this.onNotify?.(notification);
  };
}
