/**
 * The device's side of Improv WiFi over serial (https://www.improv-wifi.com/serial/): it
 * reads the console serial port, which the log shares, and answers the RPC commands that
 * browser flashers (ESP Web Tools) and Home Assistant send right after flashing:
 *
 *   send WiFi settings  -> error 0 | state provisioning | then either
 *                          state provisioned | result [redirect URL]
 *                          or state ready | error "unable to connect" (or "invalid RPC")
 *   current state       -> error 0 | state | when provisioned, result [redirect URL]
 *   device info         -> error 0 | result [firmware, version, hardware, device name]
 *   scan WiFi networks  -> error 0 | one result [ssid, rssi, "YES"/"NO"] per network | result []
 *   anything else       -> error "unknown RPC command"; a bad checksum or lengths that do not
 *                          add up -> error "invalid RPC packet"
 *
 * Every well-formed known command is answered by an error state 0 first: the spec asks the
 * device to clear the error state when a command arrives.
 *
 * Serial needs no button press: the service is always "authorized" (state ready, 0x02).
 * What it does with a network is the provisioning core's business (improv-provisioning.ts):
 * it tries it and keeps it only when it works. The password is never logged.
 */
import type { ConsoleSerial, ConsoleSerialConstructor, Log, TimerId, Timers, WifiScanResult } from "../shared/host.js";
import { checkCallbacks, checkFunction, checkMethods, checkObject, checkString, optionalInteger, MAX_TIMEOUT_MS } from "../shared/options.js";
import {
  decodeRpc,
  decodeWifiSettings,
  encodeImprovByte,
  encodeRpcResult,
  IMPROV_ERROR_NAMES,
  ImprovCommand,
  ImprovError,
  ImprovParser,
  ImprovState,
  ImprovType,
} from "./improv.js";
import type { ImprovProvisioning, ProvisionResult } from "./improv-provisioning.js";

/**
 * A packet begun and not finished this long after its last byte is forgotten, ms: at 115200
 * baud a whole packet takes 23 ms, so a longer silence means the sender stopped mid-packet.
 */
export const DEFAULT_IMPROV_PACKET_TIMEOUT_MS = 1_000;

/**
 * Longest a scan may take before it is answered with "unknown error", ms: an ESP32 scans
 * every channel in about 2.5 s.
 */
export const DEFAULT_IMPROV_SCAN_TIMEOUT_MS = 15_000;

/**
 * Longest a provisioning may take before the client is told it failed, ms. A join is
 * bounded by the WiFi manager's attempt timeout (20 s): this only guards against a core that
 * never answers. The Improv SDK's client gives up after 30 s.
 */
export const DEFAULT_IMPROV_PROVISION_TIMEOUT_MS = 28_000;

/** Networks reported per scan, strongest first: what fits a phone's screen, bounded. */
export const MAX_IMPROV_SCAN_RESULTS = 16;

/** The device info strings: firmware name, firmware version, hardware chip, device name. */
export interface ImprovDeviceInfo {
  firmware: string;
  version: string;
  hardware: string;
  name: string;
}

export interface ImprovServiceOptions {
  /** The console serial port (DeviceHost.serial). */
  serial: ConsoleSerialConstructor;
  provisioning: ImprovProvisioning;
  timers: Timers;
  log?: Log;
  info: ImprovDeviceInfo;
  /** See DEFAULT_IMPROV_PACKET_TIMEOUT_MS. */
  packetTimeoutMs?: number;
  /** See DEFAULT_IMPROV_SCAN_TIMEOUT_MS. */
  scanTimeoutMs?: number;
  /** See DEFAULT_IMPROV_PROVISION_TIMEOUT_MS. */
  provisionTimeoutMs?: number;
}

/** The Improv state's name, for logs and status. */
export type ImprovStateName = "ready" | "provisioning" | "provisioned";

const COMMAND_NAMES: Readonly<Record<number, string>> = Object.freeze({
  [ImprovCommand.WIFI_SETTINGS]: "wifi_settings",
  [ImprovCommand.CURRENT_STATE]: "current_state",
  [ImprovCommand.DEVICE_INFO]: "device_info",
  [ImprovCommand.WIFI_NETWORKS]: "wifi_networks",
});

/** Info strings are at most this long (four of them fit one packet with room to spare). */
const MAX_INFO_CHARS = 60;

export class ImprovService {
  private readonly serialConstructor: ConsoleSerialConstructor;
  private readonly provisioning: ImprovProvisioning;
  private readonly timers: Timers;
  private readonly log: Log | undefined;
  private readonly info: readonly string[];
  private readonly packetTimeoutMs: number;
  private readonly scanTimeoutMs: number;
  private readonly provisionTimeoutMs: number;
  private readonly parser: ImprovParser;

  private port: ConsoleSerial | undefined;
  private running = false;
  /** When the last byte came, ms (timers.now()). */
  private lastByteAt = 0;
  /** The SSID being provisioned, while it is. */
  private provisioningSsid: string | undefined;
  private provisionTimer: TimerId | undefined;
  private scanTimer: TimerId | undefined;
  /** Bumped by each provisioning, scan and stop(): a late answer of an older one is ignored. */
  private token = 0;
  private provisionToken = 0;
  private scanToken = 0;
  /** Writes the port's host refused (its output queue was full), for status and tests. */
  dropped = 0;

  constructor(options: ImprovServiceOptions) {
    const given = checkObject("options", options);
    checkFunction("serial", options.serial, "a console serial constructor");
    checkMethods("provisioning", options.provisioning, ["online", "redirectUrl", "provisionWifi"]);
    checkMethods("timers", options.timers, ["set", "clear", "now"]);
    checkCallbacks(given, ["log"]);
    const info = checkObject("info", options.info);
    this.info = (["firmware", "version", "hardware", "name"] as const).map((key) => checkString(`info.${key}`, info[key], MAX_INFO_CHARS));
    this.packetTimeoutMs = optionalInteger("packetTimeoutMs", options.packetTimeoutMs, DEFAULT_IMPROV_PACKET_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, "milliseconds");
    this.scanTimeoutMs = optionalInteger("scanTimeoutMs", options.scanTimeoutMs, DEFAULT_IMPROV_SCAN_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, "milliseconds");
    this.provisionTimeoutMs = optionalInteger("provisionTimeoutMs", options.provisionTimeoutMs, DEFAULT_IMPROV_PROVISION_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, "milliseconds");
    this.serialConstructor = options.serial;
    this.provisioning = options.provisioning;
    this.timers = options.timers;
    this.log = options.log;
    this.parser = new ImprovParser({
      onPacket: (type, data) => this.packet(type, data),
      onBadPacket: (problem) => {
        if (problem === "checksum") {
          this.log?.("warn", "improv_bad_packet", { problem: "checksum" });
          this.sendError(ImprovError.INVALID_RPC);
        } else {
          this.log?.("debug", "improv_bad_packet", { problem: "incomplete", timeoutMs: this.packetTimeoutMs });
        }
      },
    });
  }

  /**
   * Opens the console port and answers Improv there. A port that cannot be opened is logged
   * (improv_unavailable) and the service stays off: the device runs on without it.
   */
  start(): void {
    if (this.running) return;
    try {
      this.port = new this.serialConstructor({
        onReadable: () => this.readable(),
        onError: (message) => {
          this.log?.("warn", "improv_serial_lost", { error: message ?? "the port failed" });
          this.stop();
        },
      });
    } catch (error) {
      this.log?.("warn", "improv_unavailable", { error });
      return;
    }
    this.running = true;
    this.log?.("info", "improv_ready", { state: this.stateName });
  }

  /** Stops reading; an answer still due is not sent. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.token++;
    this.provisioningSsid = undefined;
    this.clearTimer("provisionTimer");
    this.clearTimer("scanTimer");
    this.parser.reset();
    const port = this.port;
    this.port = undefined;
    try {
      port?.close();
    } catch (error) {
      this.log?.("warn", "improv_serial_close_failed", { error });
    }
  }

  /** What a client asking for the current state is told. */
  get stateName(): ImprovStateName {
    if (this.provisioningSsid !== undefined) return "provisioning";
    return this.provisioning.online() ? "provisioned" : "ready";
  }

  // --- reading ------------------------------------------------------------------------

  private readable(): void {
    for (;;) {
      const port = this.port;
      if (!this.running || port === undefined) return;
      const bytes = port.read();
      if (bytes === undefined || bytes.length === 0) return;
      const now = this.timers.now();
      if (this.parser.inPacket && now - this.lastByteAt > this.packetTimeoutMs) this.parser.reset();
      this.lastByteAt = now;
      this.parser.push(bytes);
    }
  }

  private packet(type: number, data: Uint8Array): void {
    if (type !== ImprovType.RPC_COMMAND) {
      // States, errors and results go from the device to the client, not the other way.
      this.log?.("debug", "improv_ignored", { type });
      return;
    }
    const rpc = decodeRpc(data);
    if ("problem" in rpc) {
      this.log?.("warn", "improv_bad_packet", { problem: rpc.problem });
      this.sendError(ImprovError.INVALID_RPC);
      return;
    }
    const name = COMMAND_NAMES[rpc.command];
    if (name === undefined) {
      this.log?.("warn", "improv_unknown_command", { command: rpc.command });
      this.sendError(ImprovError.UNKNOWN_RPC);
      return;
    }
    this.log?.("debug", "improv_command", { command: name });
    switch (rpc.command) {
      case ImprovCommand.WIFI_SETTINGS:
        this.wifiSettings(rpc.payload);
        return;
      case ImprovCommand.CURRENT_STATE:
        this.sendError(ImprovError.NONE);
        this.sendState();
        if (this.stateName === "provisioned") this.sendRedirect(ImprovCommand.CURRENT_STATE);
        return;
      case ImprovCommand.DEVICE_INFO:
        this.sendError(ImprovError.NONE);
        this.sendResult(ImprovCommand.DEVICE_INFO, this.info);
        return;
      case ImprovCommand.WIFI_NETWORKS:
        this.scan();
        return;
    }
  }

  // --- commands -----------------------------------------------------------------------

  private wifiSettings(payload: Uint8Array): void {
    const settings = decodeWifiSettings(payload);
    if ("problem" in settings) {
      this.log?.("warn", "improv_bad_packet", { problem: settings.problem });
      this.sendError(ImprovError.INVALID_RPC);
      return;
    }
    if (this.provisioningSsid !== undefined) {
      // One at a time (clients wait for the answer before sending more).
      this.log?.("warn", "improv_busy", { ssid: settings.ssid, provisioning: this.provisioningSsid });
      this.sendError(ImprovError.UNKNOWN);
      return;
    }
    const ssid = settings.ssid;
    this.provisioningSsid = ssid;
    const token = (this.provisionToken = ++this.token);
    this.log?.("info", "improv_wifi_settings", { ssid });
    this.sendError(ImprovError.NONE);
    this.sendState();
    this.provisionTimer = this.timers.set(() => {
      this.provisionTimer = undefined;
      this.provisioned(token, ssid, "timeout", `no answer within ${this.provisionTimeoutMs} ms`);
    }, this.provisionTimeoutMs);
    try {
      this.provisioning.provisionWifi({ ssid, password: settings.password }, (result, detail) => this.provisioned(token, ssid, result, detail));
    } catch (error) {
      this.provisioned(token, ssid, "failed", (error as Error).message);
    }
  }

  /** The provisioning of `ssid` ended (once per provisioning: later answers are ignored). */
  private provisioned(token: number, ssid: string, result: ProvisionResult, detail?: string): void {
    if (token !== this.provisionToken || this.provisioningSsid === undefined || !this.running) {
      this.log?.("debug", "improv_late_result", { ssid, result });
      return;
    }
    this.provisionToken = 0;
    this.provisioningSsid = undefined;
    this.clearTimer("provisionTimer");
    const fields: Record<string, unknown> = { ssid, result };
    if (detail !== undefined) fields.detail = detail;
    if (result === "joined") {
      this.log?.("info", "improv_provisioned", fields);
      this.sendState();
      this.sendRedirect(ImprovCommand.WIFI_SETTINGS);
      return;
    }
    this.log?.("warn", "improv_provisioning_failed", fields);
    this.sendState();
    this.sendError(result === "invalid" ? ImprovError.INVALID_RPC : ImprovError.UNABLE_TO_CONNECT);
  }

  private scan(): void {
    const scan = this.provisioning.scan;
    if (scan === undefined) {
      // The driver cannot scan: the spec's answer to a command a device does not do.
      this.log?.("info", "improv_unknown_command", { command: ImprovCommand.WIFI_NETWORKS, reason: "this WiFi driver cannot scan" });
      this.sendError(ImprovError.UNKNOWN_RPC);
      return;
    }
    this.sendError(ImprovError.NONE);
    // A scan under way answers this request too.
    if (this.scanToken !== 0) return;
    const token = (this.scanToken = ++this.token);
    this.scanTimer = this.timers.set(() => {
      this.scanTimer = undefined;
      this.scanned(token, undefined, `no answer within ${this.scanTimeoutMs} ms`);
    }, this.scanTimeoutMs);
    try {
      scan((networks, error) => this.scanned(token, networks, error));
    } catch (error) {
      this.scanned(token, undefined, (error as Error).message);
    }
  }

  private scanned(token: number, networks: readonly WifiScanResult[] | undefined, error?: string): void {
    if (token !== this.scanToken || !this.running) return;
    this.scanToken = 0;
    this.clearTimer("scanTimer");
    if (!Array.isArray(networks)) {
      this.log?.("warn", "improv_scan_failed", { error: error ?? "no result" });
      this.sendError(ImprovError.UNKNOWN);
      return;
    }
    const best = strongestFirst(networks);
    this.log?.("debug", "improv_scan", { heard: networks.length, reported: best.length });
    for (const network of best) {
      this.sendResult(ImprovCommand.WIFI_NETWORKS, [network.ssid, String(Math.round(network.rssi)), network.secure ? "YES" : "NO"]);
    }
    this.sendResult(ImprovCommand.WIFI_NETWORKS, []);
  }

  // --- writing ------------------------------------------------------------------------

  private sendState(): void {
    const state = this.stateName === "provisioning" ? ImprovState.PROVISIONING : this.stateName === "provisioned" ? ImprovState.PROVISIONED : ImprovState.READY;
    this.write(encodeImprovByte(ImprovType.CURRENT_STATE, state));
  }

  private sendError(error: number): void {
    if (error !== ImprovError.NONE) this.log?.("debug", "improv_error_sent", { error: IMPROV_ERROR_NAMES[error] ?? error });
    this.write(encodeImprovByte(ImprovType.ERROR_STATE, error));
  }

  /** The answer once provisioned: the redirect URL, or an empty list when there is none. */
  private sendRedirect(command: number): void {
    let url: string | undefined;
    try {
      url = this.provisioning.redirectUrl();
    } catch (error) {
      this.log?.("warn", "improv_redirect_failed", { error });
    }
    this.sendResult(command, url === undefined || url === "" ? [] : [url]);
  }

  private sendResult(command: number, strings: readonly string[]): void {
    let packet: Uint8Array;
    try {
      packet = encodeRpcResult(command, strings);
    } catch (error) {
      // Only a redirect URL or an SSID out of bounds can do this: the client hears why not.
      this.log?.("warn", "improv_result_too_long", { command: COMMAND_NAMES[command] ?? command, error });
      this.sendError(ImprovError.UNKNOWN);
      return;
    }
    this.write(packet);
  }

  private write(packet: Uint8Array): void {
    const port = this.port;
    if (!this.running || port === undefined) return;
    let queued = false;
    try {
      queued = port.write(packet);
    } catch (error) {
      this.log?.("warn", "improv_write_failed", { error });
      return;
    }
    if (!queued) {
      this.dropped++;
      this.log?.("warn", "improv_write_dropped", { bytes: packet.length, dropped: this.dropped });
    }
  }

  private clearTimer(which: "provisionTimer" | "scanTimer"): void {
    const timer = this[which];
    if (timer === undefined) return;
    this.timers.clear(timer);
    this[which] = undefined;
    if (which === "scanTimer") this.scanToken = 0;
  }
}

/**
 * The networks a scan heard, each SSID once (its strongest signal), hidden ones (empty SSID)
 * left out, strongest first, at most MAX_IMPROV_SCAN_RESULTS.
 */
export function strongestFirst(networks: readonly WifiScanResult[]): WifiScanResult[] {
  const best: WifiScanResult[] = [];
  for (const network of networks) {
    if (typeof network !== "object" || network === null || typeof network.ssid !== "string" || network.ssid === "") continue;
    if (typeof network.rssi !== "number" || !Number.isFinite(network.rssi)) continue;
    const known = best.findIndex((other) => other.ssid === network.ssid);
    if (known < 0) best.push(network);
    else if (best[known]!.rssi < network.rssi) best[known] = network;
  }
  best.sort((a, b) => b.rssi - a.rssi);
  return best.slice(0, MAX_IMPROV_SCAN_RESULTS);
}
