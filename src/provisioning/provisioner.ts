/**
 * The provisioning core: the one place where new settings (a WiFi network, the server's URL,
 * the device's name) are checked, tried, kept once they have proved themselves, and
 * reported. The setup page (portal.ts), the server's requests (requests.ts) and Improv over
 * serial all go through apply().
 *
 * Keep the old until the new has proved itself:
 *   1. a network is tried alone (WifiManager.trial); it is saved only once it gave the
 *      device an address, and on failure the device goes back to the networks it knew;
 *   2. then the server: the supervisor is pointed at the new URL (and the hello carries the
 *      new name); they are saved only once a WebSocket connection opened within
 *      serverTrialMs, and otherwise the old URL and name come back.
 * Nothing is written before it proved itself, so a power cut in the middle boots the device
 * with the settings it had, and a bad URL (from the page or from a server) never strands it.
 *
 * Outcomes, reported once per apply() to its listener and kept as `last` for status and
 * hello: online, wrong_password, ap_not_found, timeout, link_lost (WiFi), server_unreachable,
 * superseded (a newer apply() came), cancelled (factory reset).
 */
import { AUTH_TOKEN_STORAGE, isDeviceId } from "../auth/credentials.js";
import { MAX_URL_CHARS } from "../device/config.js";
import { WifiState, type TrialResult, type WifiManager } from "../device/wifi.js";
import { forgetNetwork, loadNetworks, networkProblem, saveNetwork } from "../device/wifi-networks.js";
import { provisionError, ProvisionErrorCode } from "../shared/errors.js";
import type { Log, Storage, TimerId, Timers, WifiNetwork } from "../shared/host.js";
import { checkInteger, MAX_TIMEOUT_MS } from "../shared/options.js";
import { utf8Length } from "../websocket/utf8.js";

/** Settings to try; an absent field keeps what the device has. */
export interface Candidate {
  network?: WifiNetwork;
  url?: string;
  /** The device's name, hello's `device`. */
  deviceId?: string;
}

/** Who gave the settings (logs and status say so). */
export type ProvisionSource = "portal" | "server" | "improv" | "button";

export type ProvisionResult = TrialResult | "server_unreachable" | "superseded" | "cancelled";

export interface ProvisionOutcome {
  result: ProvisionResult;
  source: ProvisionSource;
  /** For humans: what happened (no password, no token). */
  message: string;
  ssid?: string;
  url?: string;
  /** server_unreachable: how the last attempt ended (the client's words). */
  detail?: string;
  /** When, host.timers.now() milliseconds. */
  at: number;
}

/** Hears how one apply() goes. */
export interface ProvisionListener {
  /** The network gave an address (before the server is tried): Improv's "provisioned". */
  onJoined?(ssid: string): void;
  /** The end, once. */
  onOutcome?(outcome: ProvisionOutcome): void;
}

/** What the core drives: the supervisor and the JSON loop, as far as it needs them. */
export interface ServerLink {
  readonly url: string;
  /** Throws for a URL the supervisor cannot use (ERR_INVALID_URL, TLS options needing wss://). */
  setUrl(url: string): void;
  /** A connection is open now. */
  readonly open: boolean;
  /** The name the next hello carries. */
  rename(deviceId: string): void;
  /** Checks a URL as setUrl would, without using it. */
  checkUrl(url: string): void;
}

export interface ProvisionerOptions {
  storage: Storage;
  timers: Timers;
  log: Log;
  link: ServerLink;
  /** The device's WiFi manager; absent: a device whose link is always up (no network to set). */
  wifi?: WifiManager;
  /** The firmware's own settings: its network (if any), URL and name, restored by a factory reset. */
  build: { network: WifiNetwork | undefined; url: string; deviceId: string };
  /** The name in use now (the stored one, or the build's). */
  deviceId: string;
  /** How long the server may take to accept a connection with new settings, ms (default 30000). */
  serverTrialMs?: number;
  /** After a factory reset has wiped storage (the device may restart, or reload its settings). */
  onFactoryReset?(): void;
}

/**
 * The supervisor's first attempts back off at most 1 s, then 2 s, 4 s...: 30 s covers a few
 * attempts and a TLS handshake on the chip, which takes a few seconds.
 */
export const DEFAULT_SERVER_TRIAL_MS = 30_000;

/** Where the provisioned URL and name are kept (NVS: names of at most 15 characters). */
export const SERVER_STORAGE = Object.freeze({ domain: "provision", key: "server" } as const);

/**
 * What a factory reset erases: every key a provisioning or a server's request wrote, and the
 * auth token stored for this device (src/auth/credentials.ts). Kept: the clock's last good
 * time (src/time/clock.ts: a lower bound for certificate dates, no one's data) and the health
 * record (src/health/health.ts: the boot counter and safe mode describe the hardware's life),
 * and a firmware update's records (src/ota/records.ts: a transfer's checkpoint, the image on
 * trial), which go with the update slots, as the ESP32's OTA partitions and otadata outlive
 * an erase of its settings: a trial still ends in a confirmation or a rollback.
 * The durable outbox (src/health: telemetry not acknowledged yet) is dropped by the device
 * itself (its onFactoryReset), which holds it in RAM too.
 */
export const FACTORY_RESET_STORAGE: ReadonlyArray<{ domain: string; key: string }> = Object.freeze([
  Object.freeze({ domain: "wifi", key: "networks" }),
  SERVER_STORAGE,
  Object.freeze({ domain: "settings", key: "values" }),
  AUTH_TOKEN_STORAGE,
]);

/** The settings a provisioning saved, read back at boot (invalid parts are skipped with a log line). */
export function loadProvisioned(storage: Storage, log?: Log): { url?: string; deviceId?: string } {
  let text: string | undefined;
  try {
    text = storage.get(SERVER_STORAGE.domain, SERVER_STORAGE.key);
  } catch (error) {
    log?.("warn", "provision_unreadable", { error });
    return {};
  }
  if (text === undefined) return {};
  let record: unknown;
  try {
    record = text.length <= 2 * MAX_URL_CHARS ? JSON.parse(text) : undefined;
  } catch {
    record = undefined;
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    log?.("warn", "provision_corrupt", { ...SERVER_STORAGE });
    return {};
  }
  const { url, deviceId } = record as Record<string, unknown>;
  const out: { url?: string; deviceId?: string } = {};
  if (typeof url === "string" && url.length <= MAX_URL_CHARS) out.url = url;
  if (isDeviceId(deviceId)) out.deviceId = deviceId;
  return out;
}

type Stage = "idle" | "joining" | "connecting";

interface Trial {
  id: number;
  candidate: Candidate;
  source: ProvisionSource;
  listener: ProvisionListener | undefined;
  stage: Stage;
  /** What to put back when the server does not answer. */
  previous: { url: string; deviceId: string } | undefined;
  timer: TimerId | undefined;
}

export class Provisioner {
  private readonly options: ProvisionerOptions;
  private readonly serverTrialMs: number;
  private trial: Trial | undefined;
  private lastId = 0;
  private lastOutcome: ProvisionOutcome | undefined;
  /** How the last connection attempt ended, for a server_unreachable's detail. */
  private lastClose: string | undefined;
  private deviceId: string;

  constructor(options: ProvisionerOptions) {
    this.options = options;
    this.serverTrialMs = options.serverTrialMs === undefined
      ? DEFAULT_SERVER_TRIAL_MS
      : checkInteger("serverTrialMs", options.serverTrialMs, 1, MAX_TIMEOUT_MS, "milliseconds");
    this.deviceId = options.deviceId;
  }

  /** "idle", or the stage of the settings being tried. */
  get state(): Stage {
    return this.trial?.stage ?? "idle";
  }

  /** The settings being tried (never the password). */
  get trying(): { ssid?: string; url?: string; deviceId?: string } | undefined {
    const candidate = this.trial?.candidate;
    if (candidate === undefined) return undefined;
    return {
      ...(candidate.network ? { ssid: candidate.network.ssid } : {}),
      ...(candidate.url !== undefined ? { url: candidate.url } : {}),
      ...(candidate.deviceId !== undefined ? { deviceId: candidate.deviceId } : {}),
    };
  }

  /** The last outcome, until the next one. */
  get last(): ProvisionOutcome | undefined {
    return this.lastOutcome;
  }

  /** The name the device goes by. */
  get name(): string {
    return this.deviceId;
  }

  /** The server's URL in use. */
  get url(): string {
    return this.options.link.url;
  }

  /**
   * Checks `candidate` (throws a ProvisionError naming the field, before anything changes),
   * then tries it as the header says; the listener hears how it went. A trial under way is
   * ended first, as superseded.
   */
  apply(candidate: Candidate, source: ProvisionSource, listener?: ProvisionListener): void {
    const checked = this.check(candidate);
    this.end("superseded");
    const trial: Trial = { id: ++this.lastId, candidate: checked, source, listener, stage: "joining", previous: undefined, timer: undefined };
    this.trial = trial;
    this.options.log("info", "provision_start", { source, ...this.trying });
    const network = checked.network;
    if (network === undefined) {
      this.tryServer(trial);
      return;
    }
    this.options.wifi!.trial(network, (result) => this.joined(trial, result));
  }

  /** Checks the fields given; returns the candidate with only what would change. */
  check(candidate: Candidate): Candidate {
    const checked: Candidate = {};
    if (candidate.network !== undefined) {
      const { ssid, password } = candidate.network;
      const problem = networkProblem(ssid, password);
      if (problem !== undefined) throw provisionError(problem.indexOf("password") >= 0 ? "password" : "ssid", problem);
      const passwordProblem = wpaProblem(password);
      if (passwordProblem !== undefined) throw provisionError("password", passwordProblem);
      if (this.options.wifi === undefined) {
        throw provisionError("ssid", "this device does not manage WiFi (its link is always up)", ProvisionErrorCode.NO_WIFI);
      }
      checked.network = { ssid, password };
    }
    if (candidate.url !== undefined) {
      const url = candidate.url;
      if (typeof url !== "string" || url === "" || url.length > MAX_URL_CHARS) {
        throw provisionError("url", `the server's URL must be 1 to ${MAX_URL_CHARS} characters`);
      }
      try {
        this.options.link.checkUrl(url);
      } catch (error) {
        throw provisionError("url", error instanceof Error ? error.message : String(error));
      }
      if (url !== this.options.link.url) checked.url = url;
    }
    if (candidate.deviceId !== undefined) {
      if (!isDeviceId(candidate.deviceId)) {
        throw provisionError("name", "the device's name must be 1 to 64 letters, digits or . _ : -");
      }
      if (candidate.deviceId !== this.deviceId) checked.deviceId = candidate.deviceId;
    }
    return checked;
  }

  // --- the device's hooks ---------------------------------------------------------------

  /** A WebSocket connection opened (the supervisor's onOpen). */
  linkOpened(): void {
    this.lastClose = undefined;
    const trial = this.trial;
    if (trial !== undefined && trial.stage === "connecting") this.serverAnswered(trial);
  }

  /** A connection, or an attempt, ended (the supervisor's onClose): its words for a report. */
  linkClosed(reason: string): void {
    this.lastClose = reason;
  }

  // --- saved networks -------------------------------------------------------------------

  /** The networks the device knows, without passwords: the build's, then the saved ones. */
  networks(): Array<{ ssid: string; source: "build" | "saved"; inUse: boolean }> {
    const wifi = this.options.wifi;
    const build = this.options.build.network;
    const inUse = wifi !== undefined && wifi.state === WifiState.ONLINE ? wifi.ssid : undefined;
    return this.known().map((network) => ({
      ssid: network.ssid,
      source: build !== undefined && network.ssid === build.ssid ? "build" : "saved",
      inUse: network.ssid === inUse,
    }));
  }

  /** Saves a network for later (it is tried when the ones before it fail). */
  saveNetwork(network: WifiNetwork): void {
    const checked = this.check({ network }).network!;
    saveNetwork(this.options.storage, checked);
    this.options.log("info", "provision_network_saved", { ssid: checked.ssid });
    this.options.wifi!.setNetworks(this.known());
  }

  /** Forgets a saved network; refuses the build's, and the one the device is online through. */
  forgetNetwork(ssid: string): void {
    const wifi = this.options.wifi;
    if (wifi === undefined) throw provisionError("ssid", "this device does not manage WiFi", ProvisionErrorCode.NO_WIFI);
    if (typeof ssid !== "string" || ssid === "") throw provisionError("ssid", "the ssid must be a non-empty string");
    if (this.options.build.network?.ssid === ssid) {
      throw provisionError("ssid", `"${ssid}" is the firmware's own network (its build config): it cannot be removed`, ProvisionErrorCode.READ_ONLY);
    }
    if (wifi.state === WifiState.ONLINE && wifi.ssid === ssid) {
      throw provisionError(
        "ssid",
        `the device is online through "${ssid}": removing it would strand the device; move it to another network first`,
        ProvisionErrorCode.IN_USE,
      );
    }
    if (!forgetNetwork(this.options.storage, ssid)) {
      throw provisionError("ssid", `no saved network is named "${ssid}"`, ProvisionErrorCode.NOT_FOUND);
    }
    this.options.log("info", "provision_network_forgotten", { ssid });
    wifi.setNetworks(this.known());
  }

  /**
   * Back to the firmware's own settings: the trial under way ends (cancelled), everything
   * provisioning or the server stored is erased, and the device goes on with the build's
   * network (none: the portal opens), URL and name.
   */
  factoryReset(source: ProvisionSource): void {
    const { storage, log, link, wifi, build } = this.options;
    this.end("cancelled");
    for (const { domain, key } of FACTORY_RESET_STORAGE) {
      try {
        storage.delete(domain, key);
      } catch (error) {
        log("error", "factory_reset_failed", { domain, key, error });
      }
    }
    log("warn", "factory_reset", { source });
    this.lastOutcome = undefined;
    this.deviceId = build.deviceId;
    link.rename(build.deviceId);
    if (link.url !== build.url) link.setUrl(build.url);
    wifi?.setNetworks(build.network ? [build.network] : []);
    this.options.onFactoryReset?.();
  }

  // --- the trial --------------------------------------------------------------------------

  /** Ends the trial under way, if any, with `result`; a network still being tried is let go. */
  private end(result: "superseded" | "cancelled"): void {
    const trial = this.trial;
    if (trial === undefined) return;
    if (trial.stage === "joining") this.options.wifi?.cancelTrial();
    this.finish(trial, result);
  }

  private joined(trial: Trial, result: TrialResult): void {
    if (this.trial !== trial) return;
    const network = trial.candidate.network!;
    if (result !== "online") {
      this.finish(trial, result);
      return;
    }
    // It gave an address: saved now, first among the saved ones (tried right after the build's).
    try {
      saveNetwork(this.options.storage, network);
    } catch (error) {
      this.options.log("error", "provision_save_failed", { what: "network", error });
    }
    this.options.wifi!.setNetworks(this.known());
    this.options.log("info", "provision_joined", { ssid: network.ssid });
    notify(this.options.log, () => trial.listener?.onJoined?.(network.ssid));
    if (this.trial === trial) this.tryServer(trial);
  }

  private tryServer(trial: Trial): void {
    const { link, timers } = this.options;
    trial.stage = "connecting";
    const { url, deviceId } = trial.candidate;
    trial.previous = { url: link.url, deviceId: this.deviceId };
    if (deviceId !== undefined) {
      this.deviceId = deviceId;
      link.rename(deviceId);
    }
    if (url !== undefined) {
      link.setUrl(url);
    } else if (deviceId !== undefined && link.open) {
      // Same server, new name: reconnect, so the hello says it.
      link.setUrl(link.url);
    } else if (link.open) {
      this.serverAnswered(trial);
      return;
    }
    trial.timer = timers.set(() => this.serverSilent(trial), this.serverTrialMs);
  }

  private serverAnswered(trial: Trial): void {
    const { url, deviceId } = trial.candidate;
    if (url !== undefined || deviceId !== undefined) this.saveServer(url, deviceId);
    this.finish(trial, "online");
  }

  private serverSilent(trial: Trial): void {
    trial.timer = undefined;
    if (this.trial !== trial) return;
    const wifi = this.options.wifi;
    if (wifi !== undefined && wifi.state !== WifiState.ONLINE) this.lastClose = "the device has no WiFi link";
    this.finish(trial, "server_unreachable");
  }

  /** Keeps the URL and name that proved themselves (merged with what was stored). */
  private saveServer(url: string | undefined, deviceId: string | undefined): void {
    const stored = loadProvisioned(this.options.storage);
    const record = { ...stored, ...(url !== undefined ? { url } : {}), ...(deviceId !== undefined ? { deviceId } : {}) };
    try {
      this.options.storage.set(SERVER_STORAGE.domain, SERVER_STORAGE.key, JSON.stringify(record));
    } catch (error) {
      this.options.log("error", "provision_save_failed", { what: "server", error });
    }
  }

  /** Ends a trial: puts back what did not prove itself, records and reports the outcome. */
  private finish(trial: Trial, result: ProvisionResult): void {
    if (this.trial !== trial) return;
    this.trial = undefined;
    if (trial.timer !== undefined) this.options.timers.clear(trial.timer);
    const { link, timers, log } = this.options;
    const previous = trial.previous;
    if (result !== "online" && previous !== undefined) {
      if (this.deviceId !== previous.deviceId) {
        this.deviceId = previous.deviceId;
        link.rename(previous.deviceId);
      }
      if (link.url !== previous.url) link.setUrl(previous.url);
    }
    const outcome: ProvisionOutcome = {
      result,
      source: trial.source,
      message: describeOutcome(result, trial.candidate, previous?.url ?? link.url, this.lastClose),
      at: timers.now(),
      ...(trial.candidate.network ? { ssid: trial.candidate.network.ssid } : {}),
      ...(trial.candidate.url !== undefined ? { url: trial.candidate.url } : {}),
      ...(result === "server_unreachable" && this.lastClose !== undefined ? { detail: this.lastClose } : {}),
    };
    this.lastOutcome = outcome;
    log(result === "online" ? "info" : "warn", "provision_outcome", {
      result,
      source: outcome.source,
      ...(outcome.ssid !== undefined ? { ssid: outcome.ssid } : {}),
      ...(outcome.url !== undefined ? { url: outcome.url } : {}),
      ...(outcome.detail !== undefined ? { detail: outcome.detail } : {}),
    });
    notify(log, () => trial.listener?.onOutcome?.(outcome));
  }

  private known(): WifiNetwork[] {
    const build = this.options.build.network;
    return loadNetworks(build ?? {}, this.options.storage);
  }
}

/**
 * WPA2-PSK (IEEE 802.11i, H.4.1): a passphrase of 8 to 63 characters, or the key itself as
 * 64 hex digits; "" is an open network. Checked here so a typo is told at once, not after a
 * 20-second attempt.
 */
function wpaProblem(password: string): string | undefined {
  if (password === "") return undefined;
  const bytes = utf8Length(password);
  if (bytes < 8) return "the password is too short: a WPA2 password has at least 8 characters (leave it empty for an open network)";
  if (bytes === 64 && !/^[0-9A-Fa-f]{64}$/.test(password)) return "a 64-character password must be 64 hex digits (a WPA2 key); a passphrase has at most 63";
  return undefined;
}

/** What the page, a reply and the log say about an outcome. */
function describeOutcome(result: ProvisionResult, candidate: Candidate, url: string, lastClose: string | undefined): string {
  const ssid = candidate.network ? `"${candidate.network.ssid}"` : "the network";
  const server = candidate.url ?? url;
  switch (result) {
    case "online":
      return candidate.network ? `Joined ${ssid} and reached the server at ${server}.` : `Reached the server at ${server}.`;
    case "wrong_password":
      return `${ssid} refused the password.`;
    case "ap_not_found":
      return `No network named ${ssid} answered: check the name, and that the device is in range (2.4 GHz only).`;
    case "timeout":
      return `${ssid} did not give the device an address in time.`;
    case "link_lost":
      return `The link to ${ssid} dropped while joining.`;
    case "server_unreachable":
      return `${candidate.network ? `Joined ${ssid}, but the` : "The"} server at ${server} did not answer${lastClose !== undefined ? `: ${lastClose}` : ""}. The previous server and name are kept.`;
    case "superseded":
      return "Newer settings replaced these before they were tried.";
    case "cancelled":
      return "Cancelled by a factory reset.";
  }
}

/** Calls a listener; a throw is logged, never let into the core. */
function notify(log: Log, callback: () => void): void {
  try {
    callback();
  } catch (error) {
    log("error", "provision_listener_failed", { error });
  }
}
