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
 * Provisioning (src/provisioning): the access point runs beside the station (`WiFi.mode` 3,
 * station and access point: the ESP32's AP+station mode; the simulator accepts it too), so
 * the device keeps trying its networks while the setup portal is open; closing it goes back
 * to station only (mode 1). On the ESP32 Net.get answers nothing without an interface name
 * in that mode, so the station's address and the MAC are asked for by name ("station"), the
 * access point's as "ap" (192.168.4.1 by default). A scan lists what `WiFi.scan` reports,
 * one network per callback, then the end; "authentication" "none" is an open network. The
 * simulator lists a fixed set of networks of its own, and has no MAC (the portal then names
 * its access point after the device's name).
 *
 * Portable on purpose: the SDK's WiFi class and Net.get are passed in (host.ts gives them),
 * so the mapping is tested on Node.
 */
import type {
  AccessPointOptions,
  WifiDisconnectReason,
  WifiDriver,
  WifiNetwork,
  WifiNotification,
  WifiScanResult,
} from "../../src/shared/host.js";

/** What the SDK passes to a WiFi listener: a message, and on the ESP32 a code with "disconnect". */
export type WifiListener = (message: string, code?: number) => void;

/** One network as `WiFi.scan` reports it. */
export interface SdkScanItem {
  ssid?: string;
  rssi?: number;
  channel?: number;
  authentication?: string;
}

/** Moddable's legacy WiFi class (`import WiFi from "wifi"`), as far as this driver uses it. */
export interface WifiApi {
  new (options: undefined, onNotify: WifiListener): unknown;
  connect(options: { ssid: string; password?: string }): void;
  disconnect(): void;
  /** 0 off, 1 station, 2 access point, 3 both. */
  mode?: number;
  accessPoint?(options: { ssid: string; password?: string; station?: boolean }): void;
  /** Calls back once per network heard, then once with nothing. */
  scan?(options: Record<string, never>, callback: (item?: SdkScanItem) => void): void;
}

/** `Net.get` from `import Net from "net"`, for the properties used here, of an interface. */
export type NetGet = (property: "RSSI" | "IP" | "MAC", nif?: "station" | "ap") => unknown;

/** WiFi.mode: the station alone, or the station and the access point. */
const STATION_MODE = 1;
const STATION_AND_ACCESS_POINT_MODE = 3;

/** Networks a scan keeps at most (a crowded place hears dozens; the portal lists 16). */
const MAX_SCAN_ITEMS = 32;

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
  private accessPointUp = false;

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
    const value = this.read("IP", "station");
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  scan(onDone: (networks: WifiScanResult[] | undefined, error?: string) => void): void {
    const scan = this.api.scan;
    if (scan === undefined) throw new Error("this WiFi cannot scan");
    const heard: WifiScanResult[] = [];
    scan.call(this.api, {}, (item) => {
      if (item === undefined || item === null) {
        onDone(heard);
        return;
      }
      if (heard.length >= MAX_SCAN_ITEMS || typeof item.ssid !== "string" || typeof item.rssi !== "number") return;
      heard.push({
        ssid: item.ssid,
        rssi: item.rssi,
        secure: item.authentication !== "none",
        ...(typeof item.channel === "number" ? { channel: item.channel } : {}),
      });
    });
  }

  startAccessPoint(options: AccessPointOptions): void {
    const api = this.api;
    if (api.accessPoint === undefined) throw new Error("this WiFi has no access point");
    api.mode = STATION_AND_ACCESS_POINT_MODE;
    // An open access point has no password at all: the ESP32 refuses one of under 8 bytes.
    api.accessPoint(options.password === "" ? { ssid: options.ssid, station: true } : { ssid: options.ssid, password: options.password, station: true });
    this.accessPointUp = true;
  }

  stopAccessPoint(): void {
    if (!this.accessPointUp) return;
    this.accessPointUp = false;
    this.api.mode = STATION_MODE;
  }

  accessPointAddress(): string | undefined {
    if (!this.accessPointUp) return undefined;
    const value = this.read("IP", "ap");
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  /**
   * The station's MAC. The ESP32 knows it only once its radio is on: a device that has joined
   * nothing yet (unprovisioned) turns it on in station mode first, as it is about to open its
   * access point anyway.
   */
  macAddress(): string | undefined {
    let value = this.read("MAC", "station");
    if ((value === undefined || value === "") && this.listener === undefined && !this.accessPointUp) {
      try {
        this.api.mode = STATION_MODE;
      } catch {
        return undefined;
      }
      value = this.read("MAC", "station");
    }
    return typeof value === "string" && value !== "" ? value : undefined;
  }

  private read(property: "RSSI" | "IP" | "MAC", nif?: "station" | "ap"): unknown {
    try {
      return nif === undefined ? this.netGet(property) : this.netGet(property, nif);
    } catch {
      return undefined; // no such interface (yet): nothing to report
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
