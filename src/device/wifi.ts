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
 *   start() with no network to try: IDLE (until setNetworks() or trial() gives one)
 *
 * Provisioning (src/provisioning) changes the list while running: setNetworks() replaces it
 * (the link in use stays when its network is still listed), and trial() tries one network
 * now, alone, reports "online" or why not, and on failure resumes the rounds over the list,
 * the network in use before the trial first. A network that proved itself in a trial goes
 * first in the list; saving it is the provisioning's business.
 *
 * Assumption about the driver, true of Moddable's: connect() supersedes whatever attempt or
 * link came before, so notifications of a superseded attempt are not delivered (the
 * simulator's state machine replaces its pending step; the ESP32 driver clears its config,
 * and a "disconnect" of the old association is absorbed by the new attempt's own retries).
 */
import { backoffDelay, randomUnit, resolveBackoff, type BackoffPolicy } from "./backoff.js";
import { ErrorCode, invalidArgument, invalidOption, WebSocketError } from "../shared/errors.js";
import type {
  Log,
  RandomSource,
  TimerId,
  Timers,
  WifiDisconnectReason,
  WifiDriver,
  WifiNetwork,
  WifiNotification,
} from "../shared/host.js";
import { checkCallbacks, checkMethods, checkObject, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";
import { networkProblem } from "./wifi-networks.js";

export {
  loadNetworks,
  MAX_PASSWORD_BYTES,
  MAX_SAVED_NETWORKS,
  MAX_SSID_BYTES,
  networkProblem,
  saveNetwork,
  WIFI_STORAGE,
} from "./wifi-networks.js";

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

/** Why the device went offline: a failure, the address lost, or a trial leaving the link. */
export type OfflineReason = WifiFailure | "lostIP" | "switching";

/** What a trial() reports, once. */
export type TrialResult = "online" | WifiFailure;

export interface WifiManagerOptions {
  driver: WifiDriver;
  timers: Timers;
  random: RandomSource;
  log?: Log;
  /** Tried in order; may be empty (nothing to try until setNetworks() or trial()). */
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
  onOffline?: (reason: OfflineReason) => void;
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

/**
 * Failed rounds counted at most: backoffDelay clamps its exponent anyway (the window reaches
 * the cap long before), this only keeps the counter a small integer whatever the uptime.
 */
const MAX_COUNTED_ROUNDS = 64;

const CALLBACK_NAMES = Object.freeze(["onOnline", "onOffline", "onState", "log"] as const);

/** The networks option, validated and copied (a later change by the caller has no effect). */
function copyNetworks(value: unknown): WifiNetwork[] {
  if (!Array.isArray(value) || value.length > MAX_WIFI_NETWORKS) {
    throw invalidOption("networks", `an array of at most ${MAX_WIFI_NETWORKS} networks`, value);
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
  /** Keys are SSIDs of `networks` (and of a trial's), so its size is bounded by MAX_WIFI_NETWORKS + 1. */
  private readonly lastFailures = new Map<string, WifiFailure>();
  /** start() was called, and stop() has not been since. */
  private running = false;
  /** The trial under way: its network, who hears the result, the network in use before it. */
  private trialRun: { network: WifiNetwork; onResult: (result: TrialResult) => void; fallback: string | undefined } | undefined;

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
    if (this.running) return;
    this.running = true;
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
    this.running = false;
    this.trialRun = undefined;
    this.token++;
    this.clearTimer();
    this.network = undefined;
    if (this.driver.onNotify === this.notify) this.driver.onNotify = undefined;
    if (wasRunning) this.disconnectDriver();
    this.enter(WifiState.STOPPED, {});
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

  /** The networks tried in rounds, in order (copies: never a password to change). */
  get list(): readonly WifiNetwork[] {
    return this.networks;
  }

  /** A trial is under way. */
  get trying(): boolean {
    return this.trialRun !== undefined;
  }

  /**
   * Replaces the networks tried in rounds (validated like the option). The link in use, or
   * the attempt under way, goes on when its network is still listed (same SSID and
   * password); otherwise it is left (onOffline when it was online) and a new round starts.
   * While idle for want of a network, a round starts; during a backoff wait, the next round
   * uses the new list; during a trial, the rounds that follow a failure do.
   */
  setNetworks(networks: readonly WifiNetwork[]): void {
    const list = copyNetworks(networks);
    this.networks = list;
    for (const ssid of Array.from(this.lastFailures.keys())) {
      if (!list.some((network) => network.ssid === ssid)) this.lastFailures.delete(ssid);
    }
    if (!this.running || this.trialRun !== undefined) return;
    const current = this.network;
    if (current === undefined) {
      if (this.current === WifiState.IDLE) this.beginRound(-1);
      return;
    }
    const at = list.findIndex((network) => network.ssid === current.ssid && network.password === current.password);
    if (at >= 0) {
      // The round goes on after the network being tried, in the new list's order.
      this.network = list[at];
      this.preferred = -1;
      this.position = at;
      return;
    }
    this.log?.("info", "wifi_network_removed", { ssid: current.ssid });
    if (this.current === WifiState.ONLINE) {
      this.clearTimer();
      this.disconnectDriver();
      this.beginRound(-1, "link_lost");
    } else {
      this.disconnectDriver();
      this.beginRound(-1);
    }
  }

  /**
   * Tries `network` now, alone, whatever was going on (a link in use is left: onOffline
   * "switching"), and calls `onResult` once: "online" (the network is then in use, and first
   * in the list), or why it failed, after which the rounds over the list resume, the network
   * in use before the trial first. A newer trial replaces one under way, whose onResult is
   * then never called; stop() ends it the same way. Throws ERR_INVALID_ARGUMENT (never
   * quoting the password) for a network that cannot be joined.
   */
  trial(network: WifiNetwork, onResult: (result: TrialResult) => void): void {
    const problem = typeof network === "object" && network !== null ? networkProblem(network.ssid, network.password) : "not a network";
    if (problem !== undefined) throw invalidArgument(`cannot try the network: ${problem}`);
    if (typeof onResult !== "function") throw invalidArgument("trial() needs an onResult function");
    const candidate = Object.freeze({ ssid: network.ssid, password: network.password });
    const online = this.current === WifiState.ONLINE ? this.network : undefined;
    const fallback = online?.ssid ?? this.trialRun?.fallback;
    this.running = true;
    this.trialRun = { network: candidate, onResult, fallback };
    this.log?.("info", "wifi_trial", { ssid: candidate.ssid });
    this.attemptNetwork(candidate, online !== undefined ? "switching" : undefined);
  }

  /**
   * Ends the trial under way without a result (its onResult is never called): the attempt is
   * left and the rounds over the list resume, the network in use before the trial first.
   */
  cancelTrial(): void {
    const run = this.trialRun;
    if (run === undefined) return;
    this.trialRun = undefined;
    this.log?.("info", "wifi_trial_cancelled", { ssid: run.network.ssid });
    const wasOnline = this.current === WifiState.ONLINE;
    this.clearTimer();
    this.disconnectDriver();
    this.network = undefined;
    this.beginRound(this.networks.findIndex((network) => network.ssid === run.fallback), wasOnline ? "switching" : undefined);
  }

  // -------------------------------------------------------------------------------------

  /** Index into `networks` of the round's attempt at `position`: the preferred one first. */
  private indexAt(position: number): number {
    const preferred = this.preferred;
    if (preferred < 0) return position;
    if (position === 0) return preferred;
    return position <= preferred ? position - 1 : position;
  }

  private beginRound(preferred: number, offlineReason?: OfflineReason): void {
    this.preferred = preferred;
    this.position = 0;
    if (this.networks.length > 0) {
      this.attemptNetwork(this.networks[this.indexAt(0)]!, offlineReason);
      return;
    }
    // Nothing to try: idle until provisioning gives a network.
    const token = ++this.token;
    this.clearTimer();
    this.network = undefined;
    this.log?.("warn", "wifi_no_networks", {});
    this.enter(WifiState.IDLE, {});
    if (token === this.token && offlineReason !== undefined) this.call("onOffline", () => this.onOffline?.(offlineReason));
  }

  /**
   * Tries the network at this round's position. The state and the attempt's deadline are in
   * place before connect() is called, so a driver that notifies from inside connect() (none
   * of Moddable's does; a fake might) finds the manager ready for it.
   */
  private attemptNetwork(network: WifiNetwork, offlineReason?: OfflineReason): void {
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
    const run = this.trialRun;
    if (run !== undefined && run.network === this.network) {
      this.endTrial(run, failure);
      return;
    }
    this.position++;
    if (this.position < this.networks.length) this.attemptNetwork(this.networks[this.indexAt(this.position)]!);
    else this.backOff();
  }

  /**
   * A trial is over: its result is reported, and unless the callback started something
   * else, a failed one gives way to the rounds, the network in use before it first.
   */
  private endTrial(run: { network: WifiNetwork; onResult: (result: TrialResult) => void; fallback: string | undefined }, result: TrialResult): void {
    this.trialRun = undefined;
    const token = this.token;
    this.call("trial", () => run.onResult(result));
    if (result === "online" || token !== this.token || this.trialRun !== undefined || !this.running) return;
    this.network = undefined;
    this.beginRound(this.networks.findIndex((network) => network.ssid === run.fallback));
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
    const run = this.trialRun;
    const trialled = run !== undefined && run.network === this.network ? run.network : undefined;
    if (trialled !== undefined) {
      // It proved itself: first in the list from now on, replacing a network of its name.
      const others = this.networks.filter((network) => network.ssid !== trialled.ssid);
      this.networks = [trialled, ...others.slice(0, MAX_WIFI_NETWORKS - 1)];
    }
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
    this.enter(WifiState.ONLINE, { ssid }, address);
    if (token !== this.token) return;
    this.call("onOnline", () => this.onOnline?.(ssid, address));
    if (run !== undefined && trialled !== undefined && token === this.token) this.endTrial(run, "online");
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
  private goOffline(reason: OfflineReason, disconnect: boolean): void {
    this.clearTimer();
    const network = this.network!;
    this.log?.("warn", "wifi_offline", { ssid: network.ssid, reason });
    // After "lostIP" the radio may still be associated: leave, so the reconnect starts clean
    // (a new association runs DHCP again).
    if (disconnect) this.disconnectDriver();
    this.beginRound(this.networks.findIndex((known) => known.ssid === network.ssid), reason);
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
