/**
 * WiFi setup: joins the first network that works from an ordered list (build config first,
 * then networks saved in storage), retries with backoff and full jitter, and tells the
 * device when it is online (has an IP) and when it is not. The WebSocket is attempted only
 * while online (the device wires onOnline/onOffline to the supervisor's setNetwork).
 *
 * The manager is a state machine over the driver's notifications (named as Moddable's `wifi`
 * module names them):
 *
 *   IDLE --start()--> CONNECTING --"connect"--> ASSOCIATED --"gotIP"--> ONLINE
 *   CONNECTING/ASSOCIATED --"disconnect" or attemptTimeoutMs--> next network (CONNECTING),
 *                                           or, after the round's last one, BACKOFF
 *   BACKOFF --delay--> CONNECTING (a new round from the first network)
 *   ONLINE --"lostIP"/"disconnect"--> onOffline(), then CONNECTING (the lost network first)
 *   any --stop()--> STOPPED
 *
 * Assumption about the driver, true of Moddable's: connect() supersedes whatever attempt or
 * link came before, so notifications of a superseded attempt are not delivered (the
 * simulator's state machine replaces its pending step; the ESP32 driver clears its config,
 * and a "disconnect" of the old association is absorbed by the new attempt's own retries).
 */
import { backoffDelay, randomUnit, resolveBackoff, type BackoffPolicy } from "./backoff.js";
import { describe, ErrorCode, invalidArgument, invalidOption, invalidState, WebSocketError } from "../shared/errors.js";
import type {
  Log,
  RandomSource,
  Storage,
  TimerId,
  Timers,
  WifiDisconnectReason,
  WifiDriver,
  WifiNetwork,
  WifiNotification,
} from "../shared/host.js";
import { checkCallbacks, checkMethods, checkObject, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";
import { utf8Length } from "../websocket/utf8.js";

export const WifiState = Object.freeze({
  IDLE: "idle",
  /** Joining a network (waiting for "connect"). */
  CONNECTING: "connecting",
  /** Associated (got "connect"), waiting for "gotIP". */
  ASSOCIATED: "associated",
  /** Has an IP address: the WebSocket may run. */
  ONLINE: "online",
  /** Every network failed this round: waiting out the backoff delay. */
  BACKOFF: "backoff",
  STOPPED: "stopped",
} as const);
export type WifiStateValue = (typeof WifiState)[keyof typeof WifiState];

/** Why an attempt on one network failed, reported distinctly (logs, status). */
export type WifiFailure = WifiDisconnectReason | "timeout";

/** How a join() ended: the network gave an address, why it did not, or stop() came first. */
export type WifiJoinOutcome = "online" | WifiFailure | "stopped";

export interface WifiManagerOptions {
  driver: WifiDriver;
  timers: Timers;
  random: RandomSource;
  log?: Log;
  /** Tried in order; at least one. */
  networks: readonly WifiNetwork[];
  /** An attempt on one network that has no IP after this long fails, ms (default 20000). */
  attemptTimeoutMs?: number;
  /** Delay between rounds over all networks (defaults: base 2 s, cap 120 s, min 500 ms). */
  backoff?: Partial<BackoffPolicy>;
  /** Online this long resets the backoff, ms (default 60000). */
  stableMs?: number;
  /** Got an IP address. */
  onOnline?: (ssid: string, address: string | undefined) => void;
  /** Lost the IP or the link (after having been online). */
  onOffline?: (reason: WifiFailure | "lostIP") => void;
  /** State changes, for logs and status. */
  onState?: (state: WifiStateValue, detail?: { ssid?: string; failure?: WifiFailure; retryInMs?: number }) => void;
}

/**
 * Default time from connect() to an IP address before the attempt is given up, ms. An ESP32
 * scans all channels (about 2 s), authenticates and runs DHCP; 20 s leaves room for a slow
 * DHCP server without leaving a dead network in the way for long.
 */
export const DEFAULT_WIFI_ATTEMPT_TIMEOUT_MS = 20_000;

/**
 * Default backoff between rounds, slower than the WebSocket's: a round already took up to
 * attemptTimeoutMs per network, and an access point that is down (power cut, reboot) is
 * typically back within a minute or two, not seconds.
 */
export const DEFAULT_WIFI_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 2_000, capMs: 120_000, minMs: 500 });

/** Default time online after which the backoff starts again from its first step, ms. */
export const DEFAULT_WIFI_STABLE_MS = 60_000;

/** Most networks a manager accepts: the config's one plus MAX_SAVED_NETWORKS fit easily. */
export const MAX_WIFI_NETWORKS = 8;

/** IEEE 802.11 limits an SSID to 32 octets (Moddable's ESP32 driver throws beyond). */
export const MAX_SSID_BYTES = 32;

/** A WPA2 passphrase is 8..63 characters or 64 hex digits: at most 64 bytes (as Moddable checks). */
export const MAX_PASSWORD_BYTES = 64;

/**
 * Failed rounds counted at most: backoffDelay clamps its exponent anyway (the window reaches
 * the cap long before), this only keeps the counter a small integer whatever the uptime.
 */
const MAX_COUNTED_ROUNDS = 64;

const CALLBACK_NAMES = Object.freeze(["onOnline", "onOffline", "onState", "log"] as const);

/** Why `ssid`/`password` cannot be joined, or undefined when they can. Never quotes the password. */
function networkProblem(ssid: unknown, password: unknown): string | undefined {
  if (typeof ssid !== "string" || ssid === "") return "the ssid must be a non-empty string";
  const ssidBytes = utf8Length(ssid);
  if (ssidBytes > MAX_SSID_BYTES) return `the ssid is ${ssidBytes} bytes (at most ${MAX_SSID_BYTES})`;
  if (typeof password !== "string") return "the password must be a string";
  const passwordBytes = utf8Length(password);
  if (passwordBytes > MAX_PASSWORD_BYTES) {
    return `the password is ${passwordBytes} bytes (at most ${MAX_PASSWORD_BYTES})`;
  }
  return undefined;
}

/** The networks option, validated and copied (a later change by the caller has no effect). */
function copyNetworks(value: unknown): WifiNetwork[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_WIFI_NETWORKS) {
    throw invalidOption("networks", `an array of 1 to ${MAX_WIFI_NETWORKS} networks`, value);
  }
  const networks: WifiNetwork[] = [];
  for (let i = 0; i < value.length; i++) {
    const item = value[i] as unknown;
    if (typeof item !== "object" || item === null) throw invalidOption(`networks[${i}]`, "an object with ssid and password", item);
    const { ssid, password } = item as Record<string, unknown>;
    const problem = networkProblem(ssid, password);
    if (problem !== undefined) {
      // Not invalidOption: its message quotes the value, and this one may be a password.
      throw new WebSocketError(ErrorCode.INVALID_OPTION, `option networks[${i}] is not usable: ${problem}`);
    }
    networks.push(Object.freeze({ ssid: ssid as string, password: password as string }));
  }
  return networks;
}

const DISCONNECT_REASONS: readonly string[] = Object.freeze(["wrong_password", "ap_not_found", "link_lost"]);

/** Log event of each failure, so a wrong password and a missing access point read differently. */
const FAILURE_EVENTS: Readonly<Record<WifiFailure, string>> = Object.freeze({
  wrong_password: "wifi_wrong_password",
  ap_not_found: "wifi_ap_not_found",
  link_lost: "wifi_link_lost",
  timeout: "wifi_attempt_timeout",
});

export class WifiManager {
  private readonly driver: WifiDriver;
  private readonly timers: Timers;
  private readonly random: RandomSource;
  private readonly log: Log | undefined;
  /** Tried in order; join() puts a network first for as long as it is tried or works. */
  private networks: readonly WifiNetwork[];
  private readonly attemptTimeoutMs: number;
  private readonly policy: BackoffPolicy;
  private readonly stableMs: number;
  private readonly onOnline: WifiManagerOptions["onOnline"];
  private readonly onOffline: WifiManagerOptions["onOffline"];
  private readonly onState: WifiManagerOptions["onState"];

  private current: WifiStateValue = WifiState.IDLE;
  /** The network being tried or in use; undefined in IDLE, BACKOFF and STOPPED. */
  private network: WifiNetwork | undefined;
  /** Attempts made in this round (the next one is at this position of the round's order). */
  private position = 0;
  /** Index of the network tried first this round (the one just lost), or -1 for list order. */
  private preferred = -1;
  /** Rounds that failed since the last stable link: the backoff's attempt number. */
  private failedRounds = 0;
  private lastFailure: WifiFailure | undefined;
  /** The one pending timer: attempt timeout, backoff delay or stable period (never two at once). */
  private timer: TimerId | undefined;
  /**
   * Bumped by start(), stop() and each attempt. A callback of the user's (onState, onOffline)
   * may call stop() or start(); the code that called it compares tokens to know it must not
   * carry on with a plan that is no longer current.
   */
  private token = 0;
  /** The network join() is trying, and the list as it was before (put back when it fails). */
  private trial: { network: WifiNetwork; before: readonly WifiNetwork[]; onOutcome: ((outcome: WifiJoinOutcome) => void) | undefined } | undefined;
  /** Keys are SSIDs of `networks`, so its size is bounded by MAX_WIFI_NETWORKS. */
  private readonly lastFailures = new Map<string, WifiFailure>();

  /** Validates options (errors name the bad one). */
  constructor(options: WifiManagerOptions) {
    const given = checkObject("options", options);
    checkMethods("driver", options.driver, ["connect", "disconnect", "address"]);
    checkMethods("timers", options.timers, ["set", "clear", "now"]);
    if (typeof options.random !== "function") throw invalidOption("random", "a function", options.random);
    checkCallbacks(given, CALLBACK_NAMES);
    this.networks = copyNetworks(options.networks);
    this.attemptTimeoutMs = optionalInteger(
      "attemptTimeoutMs",
      options.attemptTimeoutMs,
      DEFAULT_WIFI_ATTEMPT_TIMEOUT_MS,
      1,
      MAX_TIMEOUT_MS,
      "milliseconds",
    );
    this.stableMs = optionalInteger("stableMs", options.stableMs, DEFAULT_WIFI_STABLE_MS, 0, MAX_TIMEOUT_MS, "milliseconds");
    this.policy = resolveBackoff(options.backoff, "backoff", DEFAULT_WIFI_BACKOFF);
    this.driver = options.driver;
    this.timers = options.timers;
    this.random = options.random;
    this.log = options.log;
    this.onOnline = options.onOnline;
    this.onOffline = options.onOffline;
    this.onState = options.onState;
  }

  /**
   * Starts the first round (from IDLE, or again after stop(): failures and backoff start
   * afresh). While already running it does nothing.
   */
  start(): void {
    if (this.current !== WifiState.IDLE && this.current !== WifiState.STOPPED) return;
    this.token++;
    this.lastFailures.clear();
    this.failedRounds = 0;
    this.lastFailure = undefined;
    this.beginRound(-1);
  }

  /**
   * Disconnects and stops retrying; timers cleared. Notifications that arrive later are
   * ignored. onOffline is not called: the caller is the one taking the network down.
   */
  stop(): void {
    if (this.current === WifiState.STOPPED) return;
    const wasRunning = this.current !== WifiState.IDLE;
    this.token++;
    this.clearTimer();
    this.network = undefined;
    if (this.driver.onNotify === this.notify) this.driver.onNotify = undefined;
    if (wasRunning) this.disconnectDriver();
    const trial = this.endTrial();
    this.enter(WifiState.STOPPED, {});
    if (trial) this.call("onOutcome", () => trial.onOutcome?.("stopped"));
  }

  /**
   * Tries `network` now, ahead of the others: settings just received (Improv, the setup
   * portal). A new round starts from it at once, superseding the attempt or link in progress
   * (onOffline first, when online). `onOutcome` hears once how that attempt ended.
   *
   * A network that got an address stays first for the rest of this run (persisting it is the
   * caller's: saveNetwork); one that failed is taken out again, the list is as it was before
   * (a network of the same SSID with its old password included), and the round goes on from
   * its first network: a mistyped password never replaces settings that worked.
   *
   * Throws ERR_INVALID_ARGUMENT for a network that cannot be joined (never quoting the
   * password), ERR_INVALID_STATE when the manager is not running or a join() is under way.
   */
  join(network: WifiNetwork, onOutcome?: (outcome: WifiJoinOutcome) => void): void {
    if (typeof network !== "object" || network === null) {
      throw invalidArgument(`a network must be an object with ssid and password, got ${describe(network)}`);
    }
    const problem = networkProblem(network.ssid, network.password);
    if (problem !== undefined) throw invalidArgument(`cannot join the network: ${problem}`);
    if (onOutcome !== undefined && typeof onOutcome !== "function") throw invalidArgument(`onOutcome must be a function, got ${describe(onOutcome)}`);
    if (this.current === WifiState.IDLE || this.current === WifiState.STOPPED) throw invalidState(`join() needs a running WiFi manager (it is ${this.current})`);
    if (this.trial !== undefined) throw invalidState(`a network is being tried already (${this.trial.network.ssid})`);
    const entry = Object.freeze({ ssid: network.ssid, password: network.password });
    const before = this.networks;
    const others = before.filter((known) => known.ssid !== entry.ssid);
    this.networks = [entry, ...others.slice(0, MAX_WIFI_NETWORKS - 1)];
    this.trial = { network: entry, before, onOutcome };
    this.lastFailures.delete(entry.ssid);
    this.log?.("info", "wifi_join", { ssid: entry.ssid });
    this.beginRound(-1, this.current === WifiState.ONLINE ? "link_lost" : undefined);
  }

  get state(): WifiStateValue {
    return this.current;
  }

  get online(): boolean {
    return this.current === WifiState.ONLINE;
  }

  /** The network in use or being tried. */
  get ssid(): string | undefined {
    return this.network?.ssid;
  }

  /**
   * The last failure per SSID since start, for status replies. An SSID's entry is removed
   * when that network gets an IP address, so the map shows what is wrong now, not history.
   */
  get failures(): ReadonlyMap<string, WifiFailure> {
    return this.lastFailures;
  }

  // -------------------------------------------------------------------------------------

  /** Index into `networks` of the round's attempt at `position`: the preferred one first. */
  private indexAt(position: number): number {
    const preferred = this.preferred;
    if (preferred < 0) return position;
    if (position === 0) return preferred;
    return position <= preferred ? position - 1 : position;
  }

  private beginRound(preferred: number, offlineReason?: WifiFailure | "lostIP"): void {
    this.preferred = preferred;
    this.position = 0;
    this.attempt(offlineReason);
  }

  /**
   * Tries the network at this round's position. The state and the attempt's deadline are in
   * place before connect() is called, so a driver that notifies from inside connect() (none
   * of Moddable's does; a fake might) finds the manager ready for it.
   */
  private attempt(offlineReason?: WifiFailure | "lostIP"): void {
    const network = this.networks[this.indexAt(this.position)]!;
    const token = ++this.token;
    this.clearTimer();
    this.network = network;
    this.timer = this.timers.set(this.attemptTimedOut, this.attemptTimeoutMs);
    this.enter(WifiState.CONNECTING, { ssid: network.ssid });
    if (token !== this.token) return;
    if (offlineReason !== undefined) {
      // Reported once the state no longer says online, and before the reconnect starts, so
      // the device has taken its WebSocket down before any new "gotIP" can arrive.
      this.call("onOffline", () => this.onOffline?.(offlineReason));
      if (token !== this.token) return;
    }
    this.driver.onNotify = this.notify;
    try {
      this.driver.connect(network);
    } catch (error) {
      // A driver that refuses (Moddable throws when esp_wifi_connect fails) is left to the
      // attempt's deadline: the failure is counted as a timeout and the round goes on at
      // the pace of attemptTimeoutMs, never in a tight loop.
      this.log?.("error", "wifi_driver_error", { operation: "connect", ssid: network.ssid, error });
    }
  }

  /** The driver's notifications, for the attempt or link of the current token only. */
  private readonly notify = (notification: WifiNotification, reason?: WifiDisconnectReason): void => {
    const known = typeof reason === "string" && DISCONNECT_REASONS.includes(reason) ? reason : undefined;
    switch (this.current) {
      case WifiState.CONNECTING:
      case WifiState.ASSOCIATED:
        if (notification === "connect") {
          if (this.current === WifiState.CONNECTING) this.enter(WifiState.ASSOCIATED, { ssid: this.network!.ssid });
        } else if (notification === "gotIP") {
          this.goOnline();
        } else if (notification === "disconnect") {
          // Without a reason: not even associated means nothing answered (no such access
          // point in range); associated and then dropped means the link went.
          this.fail(known ?? (this.current === WifiState.CONNECTING ? "ap_not_found" : "link_lost"), false);
        }
        // "lostIP" before any IP: nothing to lose.
        return;
      case WifiState.ONLINE:
        if (notification === "lostIP") this.goOffline("lostIP", true);
        else if (notification === "disconnect") this.goOffline(known ?? "link_lost", false);
        // "connect"/"gotIP" while online (a renewed lease): nothing changes.
        return;
      default:
        // IDLE, BACKOFF, STOPPED: no attempt is under way. A late "disconnect" of an attempt
        // that was given up (or of stop()) lands here and means nothing.
        return;
    }
  };

  private readonly attemptTimedOut = (): void => {
    this.timer = undefined;
    if (this.current !== WifiState.CONNECTING && this.current !== WifiState.ASSOCIATED) return;
    // The driver is still trying: make it stop before the next network is tried.
    this.fail("timeout", true);
  };

  private fail(failure: WifiFailure, disconnect: boolean): void {
    this.clearTimer();
    const ssid = this.network!.ssid;
    this.lastFailures.set(ssid, failure);
    this.lastFailure = failure;
    this.log?.(
      "warn",
      FAILURE_EVENTS[failure],
      failure === "timeout" ? { ssid, timeoutMs: this.attemptTimeoutMs } : { ssid },
    );
    if (disconnect) this.disconnectDriver();
    const trial = this.trial?.network === this.network ? this.endTrial() : undefined;
    if (trial) {
      // The networks there were before join(), from the first.
      this.position = 0;
      const token = this.token;
      this.call("onOutcome", () => trial.onOutcome?.(failure));
      if (token === this.token) this.attempt();
      return;
    }
    this.position++;
    if (this.position < this.networks.length) this.attempt();
    else this.backOff();
  }

  /** Ends join()'s trial, putting the list back as it was; returns the trial, if there was one. */
  private endTrial(): WifiManager["trial"] {
    const trial = this.trial;
    if (trial === undefined) return undefined;
    this.trial = undefined;
    this.networks = trial.before;
    // lastFailures is keyed by the list's SSIDs only.
    if (!this.networks.some((known) => known.ssid === trial.network.ssid)) this.lastFailures.delete(trial.network.ssid);
    return trial;
  }

  private backOff(): void {
    const delay = backoffDelay(this.failedRounds, this.policy, randomUnit(this.random));
    if (this.failedRounds < MAX_COUNTED_ROUNDS) this.failedRounds++;
    this.token++;
    this.clearTimer();
    this.network = undefined;
    this.timer = this.timers.set(this.backoffOver, delay);
    this.enter(WifiState.BACKOFF, { failure: this.lastFailure, retryInMs: delay });
  }

  private readonly backoffOver = (): void => {
    this.timer = undefined;
    if (this.current !== WifiState.BACKOFF) return;
    this.beginRound(-1);
  };

  private goOnline(): void {
    const token = ++this.token;
    this.clearTimer();
    const ssid = this.network!.ssid;
    this.lastFailures.delete(ssid);
    let address: string | undefined;
    try {
      address = this.driver.address();
    } catch (error) {
      this.log?.("error", "wifi_driver_error", { operation: "address", ssid, error });
    }
    if (this.stableMs === 0) this.failedRounds = 0;
    else this.timer = this.timers.set(this.stable, this.stableMs);
    const trial = this.trial?.network === this.network ? this.trial : undefined;
    // Joined: the network keeps its place at the head of the list.
    if (trial) this.trial = undefined;
    this.enter(WifiState.ONLINE, { ssid }, address);
    if (token !== this.token) return;
    this.call("onOnline", () => this.onOnline?.(ssid, address));
    if (trial && token === this.token) this.call("onOutcome", () => trial.onOutcome?.("online"));
  }

  /** Online for stableMs: the next failure starts the backoff from its first step. */
  private readonly stable = (): void => {
    this.timer = undefined;
    if (this.current !== WifiState.ONLINE) return;
    if (this.failedRounds > 0) this.log?.("debug", "wifi_backoff_reset", { ssid: this.network?.ssid });
    this.failedRounds = 0;
  };

  /**
   * The link or the address went while online: reconnect at once, the lost network first
   * (it is the one most likely to come back), then the others; when that round fails too,
   * the usual backoff applies (not reset unless the link had been stable).
   */
  private goOffline(reason: WifiFailure | "lostIP", disconnect: boolean): void {
    this.clearTimer();
    const network = this.network!;
    this.log?.("warn", "wifi_offline", { ssid: network.ssid, reason });
    // After "lostIP" the radio may still be associated: leave, so the reconnect starts clean
    // (a new association runs DHCP again).
    if (disconnect) this.disconnectDriver();
    this.beginRound(this.networks.indexOf(network), reason);
  }

  private disconnectDriver(): void {
    try {
      this.driver.disconnect();
    } catch (error) {
      this.log?.("error", "wifi_driver_error", { operation: "disconnect", error });
    }
  }

  /** One log line per state change (and per new attempt), then onState. Never a password. */
  private enter(
    state: WifiStateValue,
    detail: { ssid?: string; failure?: WifiFailure; retryInMs?: number },
    address?: string,
  ): void {
    this.current = state;
    const fields: Record<string, unknown> = { state };
    if (detail.ssid !== undefined) fields.ssid = detail.ssid;
    if (address !== undefined) fields.address = address;
    if (detail.failure !== undefined) fields.failure = detail.failure;
    if (detail.retryInMs !== undefined) {
      fields.retryInMs = detail.retryInMs;
      fields.round = this.failedRounds;
    }
    this.log?.("info", "wifi_state", fields);
    this.call("onState", () => this.onState?.(state, detail));
  }

  /** A throwing callback of the application is logged; the WiFi state machine goes on. */
  private call(name: string, callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.log?.("error", "wifi_callback_error", { callback: name, error });
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.timers.clear(this.timer);
    this.timer = undefined;
  }
}

/** Storage domain and key of the saved networks (a JSON array of {ssid, password}). */
export const WIFI_STORAGE = Object.freeze({ domain: "wifi", key: "networks" } as const);

/** Saved networks kept in storage; saving one more drops the oldest. */
export const MAX_SAVED_NETWORKS = 5;

/**
 * Largest stored text parsed, UTF-16 code units: what NVS can hold (4000 bytes). Anything
 * larger was not written by saveNetwork and is treated as corrupt without parsing it.
 */
const MAX_STORED_CHARS = 4000;

/**
 * The saved networks, valid ones only, in stored order (newest first), at most
 * MAX_SAVED_NETWORKS, first of each SSID. Problems go to `log`; never throws for bad content.
 */
function readSaved(storage: Storage, log: Log | undefined, throwOnRead: boolean): WifiNetwork[] {
  const saved: WifiNetwork[] = [];
  let text: string | undefined;
  try {
    text = storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key);
  } catch (error) {
    if (throwOnRead) throw error;
    log?.("warn", "wifi_saved_networks_unreadable", { error });
    return saved;
  }
  if (text === undefined) return saved;
  const corrupt = (problem: string): WifiNetwork[] => {
    log?.("warn", "wifi_saved_networks_corrupt", { problem, ...WIFI_STORAGE });
    return saved;
  };
  if (typeof text !== "string" || text.length > MAX_STORED_CHARS) return corrupt("not a string of at most 4000 characters");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return corrupt("not JSON");
  }
  if (!Array.isArray(parsed)) return corrupt("not an array");
  let skipped = 0;
  for (const item of parsed as unknown[]) {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      skipped++;
      continue;
    }
    const record = item as Record<string, unknown>;
    // A saved network without a password is an open one.
    const password = record.password === undefined ? "" : record.password;
    if (networkProblem(record.ssid, password) !== undefined) {
      skipped++;
      continue;
    }
    const ssid = record.ssid as string;
    if (saved.length >= MAX_SAVED_NETWORKS || saved.some((network) => network.ssid === ssid)) continue;
    saved.push({ ssid, password: password as string });
  }
  if (skipped > 0) log?.("warn", "wifi_saved_networks_invalid", { skipped, ...WIFI_STORAGE });
  return saved;
}

/**
 * The networks to try, in order: the build config's (ssid/password, as mcconfig passes
 * them), then those saved in storage (skipping duplicates of an SSID). Corrupt storage is
 * ignored (and reported through `log`), never a crash.
 *
 * Config values arrive as strings from `mcconfig ... ssid=x password=y`: an undefined or
 * empty ssid means "none configured"; an undefined password means an open network. A config
 * network that cannot be joined (non-string, ssid over 32 bytes, password over 64 bytes) is
 * skipped with a log line. Saved networks come newest first (see saveNetwork).
 */
export function loadNetworks(
  config: { ssid?: string; password?: string },
  storage: Storage,
  log?: Log,
): WifiNetwork[] {
  const networks: WifiNetwork[] = [];
  const ssid: unknown = config?.ssid;
  if (ssid !== undefined && ssid !== "") {
    const password: unknown = config.password ?? "";
    const problem = networkProblem(ssid, password);
    if (problem === undefined) networks.push({ ssid: ssid as string, password: password as string });
    else log?.("warn", "wifi_config_invalid", { problem });
  }
  for (const network of readSaved(storage, log, false)) {
    if (!networks.some((known) => known.ssid === network.ssid)) networks.push(network);
  }
  log?.("info", "wifi_networks", { count: networks.length, ssids: networks.map((network) => network.ssid) });
  return networks;
}

/**
 * Adds or replaces a network in storage (bounded: at most MAX_SAVED_NETWORKS, oldest dropped).
 *
 * The saved list is kept newest first, so the network saved last is tried first after the
 * config's (a network just provisioned is the one the user expects). Replacing an SSID moves
 * it to the front. Corrupt stored content is replaced. A network that cannot be joined is
 * refused with ERR_INVALID_ARGUMENT (the message never quotes the password); a storage that
 * cannot be read or written throws its own error.
 */
export function saveNetwork(storage: Storage, network: WifiNetwork): void {
  if (typeof network !== "object" || network === null) {
    throw invalidArgument(`a network must be an object with ssid and password, got ${describe(network)}`);
  }
  const problem = networkProblem(network.ssid, network.password);
  if (problem !== undefined) throw invalidArgument(`cannot save the network: ${problem}`);
  const saved = readSaved(storage, undefined, true).filter((known) => known.ssid !== network.ssid);
  const list: WifiNetwork[] = [{ ssid: network.ssid, password: network.password }];
  for (const known of saved) {
    if (list.length >= MAX_SAVED_NETWORKS) break;
    list.push(known);
  }
  storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, JSON.stringify(list));
}
