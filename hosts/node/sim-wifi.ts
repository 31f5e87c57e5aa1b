/**
 * A simulated WiFi driver for the desktop, behaving like Moddable's simulator `wifi` module
 * (modules/network/wifi/sim): after connect() it says "connect", then "gotIP" a moment later;
 * the password "invalid!" always fails; disconnect() is followed by a "disconnect" unless a
 * new connect() comes first. Unlike Moddable's, it is scriptable for tests and demos: a table
 * of access points decides what a connect() meets (wrong password, access point absent), and
 * methods play link events (link lost, address lost, both back).
 *
 * Timing goes through the injected Timers, so it runs on a VirtualClock in unit tests and on
 * Node's timers in the desktop simulator. Notifications that answer connect() or disconnect()
 * always come later from a timer, never from inside the call (as on the chip, where they are
 * posted to the XS machine); the scripted events (dropLink, loseIP, restore,
 * removeAccessPoint) notify from inside the script's call, so a test sees the effect at once.
 *
 * address() is a made-up station address for logs and status replies: nothing routes through
 * it; the desktop's own network stack carries the traffic.
 *
 * For provisioning it also scans (the access points in range, after scanDelayMs) and opens
 * an access point of its own beside the station, as the ESP32's AP+station mode does. That
 * access point is only a record (which name, which password): its "address" is 127.0.0.1 by
 * default, where the desktop's portal listens, so the captive portal's DNS answers lead
 * there.
 */
import type {
  AccessPointOptions,
  TimerId,
  Timers,
  WifiDisconnectReason,
  WifiDriver,
  WifiNetwork,
  WifiNotification,
  WifiScanResult,
} from "../../src/shared/host.js";

export interface SimAccessPoint {
  ssid: string;
  /** "" for an open network. */
  password: string;
  /** Signal strength in dBm (default -55: a good link). */
  rssi?: number;
}

export interface SimWifiOptions {
  timers: Timers;
  /** The access points in range (default none). */
  accessPoints?: readonly SimAccessPoint[];
  /** From connect() to "connect", ms (default 300). Moddable's simulator takes about a second. */
  connectDelayMs?: number;
  /** From "connect" to "gotIP", ms (default 300). */
  gotIPDelayMs?: number;
  /** From connect() to the "disconnect" of a failed attempt (wrong password, no such AP), ms (default 300). */
  failDelayMs?: number;
  /** From disconnect() to its "disconnect" notification, ms (default 50). */
  leaveDelayMs?: number;
  /** The station address reported while online (default "192.168.4.2"). */
  address?: string;
  /** From scan() to its answer, ms (default 300; Moddable's simulator takes 1.5 s). */
  scanDelayMs?: number;
  /** The station's MAC address (default 02:6d:6f:6f:72:6c, a locally administered one). */
  mac?: string;
  /** The address of the simulated access point (default "127.0.0.1", where the portal listens). */
  accessPointAddress?: string;
}

/** Moddable's simulator fails any connect with this password; so does this one. */
export const SIM_INVALID_PASSWORD = "invalid!";

export const SIM_WIFI_DEFAULTS = {
  connectDelayMs: 300,
  gotIPDelayMs: 300,
  failDelayMs: 300,
  leaveDelayMs: 50,
  address: "192.168.4.2",
  rssi: -55,
  scanDelayMs: 300,
  mac: "02:6d:6f:6f:72:6c",
  accessPointAddress: "127.0.0.1",
} as const;

/** Where the simulated station is. */
export type SimWifiLinkState = "idle" | "connecting" | "associated" | "online";

/** Bytes of a string as UTF-8 (Buffer-free, like the chip's check). */
function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

function checkDelay(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`SimWifi option ${name} must be a non-negative integer (ms), got ${String(value)}`);
  }
  return value;
}

function checkAccessPoint(ap: SimAccessPoint): Required<SimAccessPoint> {
  if (typeof ap !== "object" || ap === null) throw new TypeError("an access point must be an object {ssid, password, rssi?}");
  if (typeof ap.ssid !== "string" || ap.ssid === "" || utf8Bytes(ap.ssid) > 32) {
    throw new RangeError(`access point ssid must be a string of 1 to 32 bytes, got ${JSON.stringify(ap.ssid)}`);
  }
  if (typeof ap.password !== "string") throw new TypeError(`access point ${JSON.stringify(ap.ssid)} needs a string password ("" when open)`);
  const rssi = ap.rssi ?? SIM_WIFI_DEFAULTS.rssi;
  if (typeof rssi !== "number" || !Number.isFinite(rssi)) {
    throw new RangeError(`access point ${JSON.stringify(ap.ssid)} rssi must be a number (dBm)`);
  }
  return { ssid: ap.ssid, password: ap.password, rssi };
}

export class SimWifi implements WifiDriver {
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;

  private readonly timers: Timers;
  private readonly connectDelayMs: number;
  private readonly gotIPDelayMs: number;
  private readonly failDelayMs: number;
  private readonly leaveDelayMs: number;
  private readonly stationAddress: string;
  private readonly scanDelayMs: number;
  private readonly mac: string;
  private readonly apAddress: string;
  /** The access point opened with startAccessPoint(), until stopAccessPoint(). */
  private ownAccessPoint: AccessPointOptions | undefined;
  private scanTimer: TimerId | undefined;
  private scanCalls = 0;
  private readonly accessPoints = new Map<string, Required<SimAccessPoint>>();
  private link: SimWifiLinkState = "idle";
  private target: WifiNetwork | undefined;
  /** The one pending step (an attempt's next notification, or disconnect()'s). */
  private timer: TimerId | undefined;
  /** dropLink() until restore(): the radio hears no access point. */
  private radioDown = false;
  /** loseIP() until restore(): associations work, DHCP does not answer. */
  private dhcpDown = false;
  private connectCalls = 0;

  constructor(options: SimWifiOptions) {
    if (typeof options !== "object" || options === null || typeof options.timers?.set !== "function") {
      throw new TypeError("SimWifi needs options with timers");
    }
    this.timers = options.timers;
    this.connectDelayMs = checkDelay("connectDelayMs", options.connectDelayMs, SIM_WIFI_DEFAULTS.connectDelayMs);
    this.gotIPDelayMs = checkDelay("gotIPDelayMs", options.gotIPDelayMs, SIM_WIFI_DEFAULTS.gotIPDelayMs);
    this.failDelayMs = checkDelay("failDelayMs", options.failDelayMs, SIM_WIFI_DEFAULTS.failDelayMs);
    this.leaveDelayMs = checkDelay("leaveDelayMs", options.leaveDelayMs, SIM_WIFI_DEFAULTS.leaveDelayMs);
    this.stationAddress = options.address ?? SIM_WIFI_DEFAULTS.address;
    this.scanDelayMs = checkDelay("scanDelayMs", options.scanDelayMs, SIM_WIFI_DEFAULTS.scanDelayMs);
    this.mac = options.mac ?? SIM_WIFI_DEFAULTS.mac;
    this.apAddress = options.accessPointAddress ?? SIM_WIFI_DEFAULTS.accessPointAddress;
    for (const ap of options.accessPoints ?? []) this.setAccessPoint(ap);
  }

  // WifiDriver ----------------------------------------------------------------------------

  /**
   * Starts joining `network`, superseding any attempt or link before it (its pending
   * notifications are dropped, as Moddable's simulator does). Throws like Moddable's ESP32
   * driver for an SSID that is empty or over 32 bytes, or a password over 64 bytes.
   */
  connect(network: WifiNetwork): void {
    const ssid = network?.ssid;
    if (typeof ssid !== "string" || ssid === "") throw new Error("ssid required");
    if (utf8Bytes(ssid) > 32) throw new Error("ssid too long - 32 bytes max");
    const password = typeof network.password === "string" ? network.password : "";
    if (utf8Bytes(password) > 64) throw new Error("password too long - 64 bytes max");
    this.connectCalls++;
    this.cancel();
    this.target = { ssid, password };
    this.link = "connecting";
    const ap = this.radioDown ? undefined : this.accessPoints.get(ssid);
    if (ap === undefined) {
      this.after(this.failDelayMs, () => this.fail("ap_not_found"));
    } else if (password === SIM_INVALID_PASSWORD || password !== ap.password) {
      this.after(this.failDelayMs, () => this.fail("wrong_password"));
    } else {
      this.after(this.connectDelayMs, () => this.associate());
    }
  }

  /**
   * Leaves the network; "disconnect" (no reason) follows unless connect() comes first. With
   * no listener set (the manager unhooks itself before leaving for good) nothing is scheduled,
   * so a stopped device holds no timer.
   */
  disconnect(): void {
    this.cancel();
    const wasActive = this.link !== "idle";
    this.link = "idle";
    this.target = undefined;
    if (wasActive && this.onNotify !== undefined) this.after(this.leaveDelayMs, () => this.emit("disconnect"));
  }

  rssi(): number | undefined {
    if (this.link !== "associated" && this.link !== "online") return undefined;
    return this.accessPoints.get(this.target!.ssid)?.rssi;
  }

  address(): string | undefined {
    return this.link === "online" ? this.stationAddress : undefined;
  }

  /**
   * The access points in range, after scanDelayMs (none while dropLink() lasts). One scan
   * at a time, as Moddable's: a second throws "already scanning".
   */
  scan(onDone: (networks: WifiScanResult[] | undefined, error?: string) => void): void {
    if (this.scanTimer !== undefined) throw new Error("already scanning");
    this.scanCalls++;
    this.scanTimer = this.timers.set(() => {
      this.scanTimer = undefined;
      const heard = this.radioDown
        ? []
        : Array.from(this.accessPoints.values(), (ap) => ({ ssid: ap.ssid, rssi: ap.rssi, secure: ap.password !== "" }));
      onDone(heard);
    }, this.scanDelayMs);
  }

  /** Opens the simulated access point (checked as the ESP32 checks it). */
  startAccessPoint(options: AccessPointOptions): void {
    const ssid = options?.ssid;
    if (typeof ssid !== "string" || ssid === "" || utf8Bytes(ssid) > 32) throw new Error("ssid too long - 32 bytes max");
    const password = options.password ?? "";
    if (password !== "" && (password.length < 8 || utf8Bytes(password) > 64)) throw new Error("password too short - 8 bytes min");
    this.ownAccessPoint = { ssid, password };
  }

  stopAccessPoint(): void {
    this.ownAccessPoint = undefined;
  }

  accessPointAddress(): string | undefined {
    return this.ownAccessPoint === undefined ? undefined : this.apAddress;
  }

  macAddress(): string | undefined {
    return this.mac;
  }

  // Scripting -----------------------------------------------------------------------------

  /** Adds or replaces an access point. An existing link to it is not affected. */
  setAccessPoint(ap: SimAccessPoint): void {
    const checked = checkAccessPoint(ap);
    this.accessPoints.set(checked.ssid, checked);
  }

  /**
   * Takes an access point away. A station associated with it (or online through it) loses
   * the link: "disconnect" with "link_lost". An attempt in progress on it fails later with
   * "ap_not_found" (checked when association would have happened).
   */
  removeAccessPoint(ssid: string): void {
    this.accessPoints.delete(ssid);
    if (this.target?.ssid === ssid && (this.link === "associated" || this.link === "online")) this.loseLink();
  }

  /**
   * The radio goes deaf (out of range, interference) until restore(): a link in place is
   * lost ("disconnect", "link_lost"); an attempt under way, and every connect() meanwhile,
   * finds no access point ("disconnect", "ap_not_found") when it would have associated.
   */
  dropLink(): void {
    this.radioDown = true;
    if (this.link === "associated" || this.link === "online") this.loseLink();
  }

  /**
   * The DHCP lease is lost until restore(): online, the station says "lostIP" and stays
   * associated; associations meanwhile get no "gotIP".
   */
  loseIP(): void {
    this.dhcpDown = true;
    if (this.link === "online") {
      this.link = "associated";
      this.emit("lostIP");
    } else if (this.link === "associated") {
      this.cancel();
    }
  }

  /**
   * Ends dropLink() and loseIP(). A station left associated without an address gets its
   * "gotIP" after gotIPDelayMs; a station that lost its link stays idle until connect().
   */
  restore(): void {
    this.radioDown = false;
    this.dhcpDown = false;
    if (this.link === "associated" && this.timer === undefined) this.after(this.gotIPDelayMs, () => this.online());
  }

  /** The access point opened with startAccessPoint(), or undefined. */
  get accessPoint(): AccessPointOptions | undefined {
    return this.ownAccessPoint;
  }

  /** scan() calls so far. */
  get scanCount(): number {
    return this.scanCalls;
  }

  /** Drops any pending notification and leaves the network silently (end of a test or demo). */
  close(): void {
    this.cancel();
    if (this.scanTimer !== undefined) this.timers.clear(this.scanTimer);
    this.scanTimer = undefined;
    this.link = "idle";
    this.target = undefined;
    this.onNotify = undefined;
  }

  /** Where the station is. */
  get state(): SimWifiLinkState {
    return this.link;
  }

  /** The SSID being joined or in use. */
  get ssid(): string | undefined {
    return this.target?.ssid;
  }

  /** connect() calls so far (tests count attempts with it). */
  get connectCount(): number {
    return this.connectCalls;
  }

  // -------------------------------------------------------------------------------------

  private associate(): void {
    const ap = this.radioDown ? undefined : this.accessPoints.get(this.target!.ssid);
    if (ap === undefined) {
      this.fail("ap_not_found");
      return;
    }
    this.link = "associated";
    this.emit("connect");
    // The listener may have called connect() or disconnect(): only go on if nothing did.
    if (this.link === "associated" && this.timer === undefined && !this.dhcpDown) {
      this.after(this.gotIPDelayMs, () => this.online());
    }
  }

  private online(): void {
    this.link = "online";
    this.emit("gotIP");
  }

  private fail(reason: WifiDisconnectReason): void {
    this.link = "idle";
    this.target = undefined;
    this.emit("disconnect", reason);
  }

  private loseLink(): void {
    this.cancel();
    this.link = "idle";
    this.target = undefined;
    this.emit("disconnect", "link_lost");
  }

  private emit(notification: WifiNotification, reason?: WifiDisconnectReason): void {
    const listener = this.onNotify;
    if (listener === undefined) return;
    if (reason === undefined) listener(notification);
    else listener(notification, reason);
  }

  private after(ms: number, step: () => void): void {
    this.timer = this.timers.set(() => {
      this.timer = undefined;
      step();
    }, ms);
  }

  private cancel(): void {
    if (this.timer === undefined) return;
    this.timers.clear(this.timer);
    this.timer = undefined;
  }
}
