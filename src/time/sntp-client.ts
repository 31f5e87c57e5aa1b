/**
 * An SNTP client (RFC 4330, client mode of RFC 5905) over the host's UDP sockets: asks its
 * servers in turn until one gives a time that passes every check of ntp-packet.ts, then asks
 * again every intervalMs. It never sets a clock: each good answer goes to onSample, and the
 * clock service (clock.ts) decides what to do with it.
 *
 * One exchange at a time, on a socket of its own (opened for the request, closed with the
 * answer, so a late or duplicated datagram of an earlier exchange finds no socket):
 *
 *   resolve the server's name -> send the request (a random nonce as its Transmit Timestamp)
 *   -> wait up to timeoutMs for the answer:
 *      - a datagram from elsewhere, too short, of another mode or version, or whose Origin
 *        Timestamp is not the nonce: ignored and counted; the wait goes on (a forged or
 *        stale packet must not end a good exchange);
 *      - the server's own answer (nonce matched) failing a check (stratum, leap 3, zero or
 *        ancient transmit time, an unknown kiss code): rejected and counted; the next server
 *        is asked at once (waiting longer would bring nothing better);
 *      - a kiss-o'-death: RATE holds that server for a while, doubling each time (at least
 *        RATE_HOLD_MS); DENY and RSTR hold it for DENY_HOLD_MS (RFC 5905 section 7.4: stop
 *        querying it); the next server is asked;
 *      - a good answer: onSample; the next exchange in intervalMs (less up to a tenth, drawn
 *        at random, so a fleet started together does not stay in step).
 *
 * When every server failed (or is held) in one round, the next round waits a backoff delay
 * (src/device/backoff.ts's policy, full jitter; never before the first held server is free
 * again when all are held). One timer at most: the answer's deadline or the wait.
 *
 * start() and stop() follow the network: nothing is sent while it is down, and a start soon
 * after a good answer waits out the rest of the interval instead of asking again.
 */
import { backoffDelay, randomUnit, resolveBackoff, type BackoffPolicy } from "../device/backoff.js";
import type { Log, LogLevel, RandomSource, Resolver, TimerId, Timers, UdpSocket, UdpSocketConstructor } from "../shared/host.js";
import { checkFunction, checkInteger, checkMethods, MAX_TIMEOUT_MS, optionalInteger } from "../shared/options.js";
import { invalidOption } from "../shared/errors.js";
import { answerTime, checkAnswer, IgnoreReason, KissCode, makeRequest, NTP_NONCE_BYTES, type KissCodeValue } from "./ntp-packet.js";
import type { NtpServer } from "./servers.js";

/** How long an answer may take, ms: a server farther than this is no use for the time anyway. */
export const DEFAULT_SNTP_TIMEOUT_MS = 3_000;
/** How often a synced device asks again, ms (RFC 4330 section 10: at most once a minute or so). */
export const DEFAULT_SNTP_INTERVAL_MS = 3_600_000;
/** The shortest interval allowed, ms (RFC 4330 section 10: never more often than every 15 s). */
export const MIN_SNTP_INTERVAL_MS = 15_000;
/** Waits between failed rounds: 4 s growing to 5 min, full jitter, at least 1 s. */
export const DEFAULT_SNTP_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 4_000, capMs: 300_000, minMs: 1_000 });
/** A RATE kiss holds its server at least this long (an NTP poll of 2^6 s), doubling each time, ms. */
export const RATE_HOLD_MS = 64_000;
/** DENY and RSTR hold their server this long: the server asked not to be queried, ms. */
export const DENY_HOLD_MS = 86_400_000;

/** A good answer, as the clock service needs it. */
export interface SntpSample {
  /** UTC milliseconds at `monotonicMs`. */
  timeMs: number;
  /** The host's monotonic clock (timers.now()) when the answer arrived. */
  monotonicMs: number;
  /** The server as configured ("host:port"). */
  server: string;
  /** The address it was reached at. */
  address: string;
  stratum: number;
  /** The exchange's network delay (round trip less the server's own hold time), ms. */
  delayMs: number;
}

export interface SntpStats {
  /** Requests sent. */
  requests: number;
  /** Good answers used. */
  answers: number;
  /** Datagrams ignored: from another peer, malformed, or not answering our request. */
  ignored: number;
  /** Answers of the server asked that failed a check (stratum, leap, time). */
  rejected: number;
  /** Kiss-o'-death answers honoured. */
  kisses: number;
  /** Exchanges without any usable answer within timeoutMs. */
  timeouts: number;
}

export interface SntpClientOptions {
  /** Asked in order, the last one that answered first. At least one. */
  servers: readonly NtpServer[];
  udp: UdpSocketConstructor;
  resolve: Resolver;
  timers: Timers;
  random: RandomSource;
  log?: Log;
  /** Answers whose transmit time is earlier than this are rejected (before_build_time), UTC ms. */
  earliestMs: number;
  /** How long to wait for an answer, ms (default DEFAULT_SNTP_TIMEOUT_MS). */
  timeoutMs?: number;
  /** How long after a good answer to ask again, ms (default DEFAULT_SNTP_INTERVAL_MS). */
  intervalMs?: number;
  /** The wait between failed rounds (merged over DEFAULT_SNTP_BACKOFF). */
  backoff?: Partial<BackoffPolicy>;
  /** Each good answer. Called from a socket callback; a throw is logged and ignored. */
  onSample(sample: SntpSample): void;
}

interface Exchange {
  index: number;
  socket: UdpSocket | undefined;
  nonce: Uint8Array;
  address: string;
  sentAt: number;
}

export class SntpClient {
  private readonly servers: readonly NtpServer[];
  private readonly options: SntpClientOptions;
  private readonly timeoutMs: number;
  private readonly intervalMs: number;
  private readonly policy: BackoffPolicy;
  /** Per server: monotonic ms before which it is not asked (kiss-o'-death). */
  private readonly heldUntil: number[];
  /** Per server: the last RATE hold, ms (0: none since its last good answer). */
  private readonly rateHold: number[];
  private readonly counters: SntpStats = { requests: 0, answers: 0, ignored: 0, rejected: 0, kisses: 0, timeouts: 0 };

  private running = false;
  /** Numbers each exchange; a callback of an older one (or of a stopped client) is ignored. */
  private generation = 0;
  private exchange: Exchange | undefined;
  private timer: TimerId | undefined;
  /** The server asked next. */
  private cursor = 0;
  /** Servers asked (or skipped as held) in the current round. */
  private tried = 0;
  /** Rounds failed since the last good answer: the backoff's exponent. */
  private failedRounds = 0;
  /** timers.now() of the last good answer; undefined before the first. */
  private lastAnswerAt: number | undefined;
  private readonly onDeadline = (): void => this.deadline();
  private readonly onWaitOver = (): void => {
    this.timer = undefined;
    this.tried = 0;
    this.attempt();
  };

  /** Validates the options (errors name the bad one); sends nothing until start(). */
  constructor(options: SntpClientOptions) {
    if (!Array.isArray(options.servers) || options.servers.length === 0) {
      throw invalidOption("servers", "at least one NTP server", options.servers);
    }
    checkFunction("udp", options.udp, "a UDP socket constructor");
    checkFunction("resolve", options.resolve);
    checkFunction("onSample", options.onSample);
    checkMethods("timers", options.timers, ["set", "clear", "now"]);
    checkFunction("random", options.random);
    checkInteger("earliestMs", options.earliestMs, 0, Number.MAX_SAFE_INTEGER, "milliseconds");
    this.servers = options.servers;
    this.options = options;
    this.timeoutMs = optionalInteger("timeoutMs", options.timeoutMs, DEFAULT_SNTP_TIMEOUT_MS, 1, 60_000, "milliseconds");
    this.intervalMs = optionalInteger("intervalMs", options.intervalMs, DEFAULT_SNTP_INTERVAL_MS, MIN_SNTP_INTERVAL_MS, MAX_TIMEOUT_MS, "milliseconds");
    this.policy = resolveBackoff(options.backoff, "backoff", DEFAULT_SNTP_BACKOFF);
    this.heldUntil = options.servers.map(() => 0);
    this.rateHold = options.servers.map(() => 0);
  }

  /**
   * The network is up: asks now, or, within intervalMs of the last good answer, when the
   * interval is over. Does nothing when already running.
   */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.tried = 0;
    const last = this.lastAnswerAt;
    const due = last === undefined ? 0 : last + this.intervalMs - this.options.timers.now();
    if (due > 0) this.wait(due);
    else this.attempt();
  }

  /** The network is down: the exchange under way is abandoned, nothing is sent until start(). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.generation++;
    this.endExchange();
    this.clearTimer();
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** The servers, "host:port", in the configured order. */
  get serverLabels(): string[] {
    return this.servers.map((server) => server.label);
  }

  /** A snapshot of the counters. */
  get stats(): Readonly<SntpStats> {
    return { ...this.counters };
  }

  // --- one round: each server once, until one answers ---

  private attempt(): void {
    if (!this.running) return;
    const count = this.servers.length;
    const now = this.options.timers.now();
    while (this.tried < count) {
      const index = this.cursor;
      if (this.heldUntil[index]! <= now) {
        this.query(index);
        return;
      }
      this.cursor = (index + 1) % count;
      this.tried++;
    }
    this.roundFailed(now);
  }

  private query(index: number): void {
    const server = this.servers[index]!;
    const generation = ++this.generation;
    this.log("debug", "ntp_request", { server: server.label });
    try {
      this.options.resolve(server.host, (address, error) => {
        if (generation !== this.generation) return;
        if (address === undefined || address === "") {
          this.failed(index, "resolve", error ?? "cannot resolve the host name");
          return;
        }
        this.send(index, generation, address);
      });
    } catch (error) {
      this.failed(index, "resolve", messageOf(error));
    }
  }

  private send(index: number, generation: number, address: string): void {
    const server = this.servers[index]!;
    const nonce = new Uint8Array(NTP_NONCE_BYTES);
    this.options.random(nonce);
    const exchange: Exchange = { index, socket: undefined, nonce, address, sentAt: 0 };
    this.exchange = exchange;
    try {
      exchange.socket = new this.options.udp({
        onMessage: (bytes, from, port) => this.received(generation, bytes, from, port),
        onError: (message) => {
          if (generation === this.generation && this.exchange === exchange) this.failed(index, "socket", message ?? "the UDP socket failed");
        },
      });
      exchange.sentAt = this.options.timers.now();
      exchange.socket.send(address, server.port, makeRequest(nonce));
    } catch (error) {
      this.failed(index, "socket", messageOf(error));
      return;
    }
    this.counters.requests++;
    this.timer = this.options.timers.set(this.onDeadline, this.timeoutMs);
  }

  private received(generation: number, bytes: Uint8Array, from: string, port: number): void {
    const exchange = this.exchange;
    if (generation !== this.generation || exchange === undefined) return;
    const server = this.servers[exchange.index]!;
    if (from !== exchange.address || port !== server.port) {
      this.ignore(server, IgnoreReason.WRONG_PEER, `${from}:${port}`);
      return;
    }
    const verdict = checkAnswer(bytes, exchange.nonce, this.options.earliestMs);
    if (verdict.kind === "ignored") {
      const reason = verdict.reason;
      if (reason === IgnoreReason.SHORT || reason === IgnoreReason.MODE || reason === IgnoreReason.VERSION || reason === IgnoreReason.ORIGIN) {
        // Not provably the server's answer to this request: keep waiting for that.
        this.ignore(server, reason, verdict.detail);
        return;
      }
      this.counters.rejected++;
      this.failed(exchange.index, reason, verdict.detail);
      return;
    }
    if (verdict.kind === "kiss") {
      this.kissed(exchange.index, verdict.code);
      return;
    }
    const arrivedAt = this.options.timers.now();
    const { timeMs, delayMs } = answerTime(verdict.receiveMs, verdict.transmitMs, arrivedAt - exchange.sentAt);
    this.counters.answers++;
    this.endExchange();
    this.clearTimer();
    this.failedRounds = 0;
    this.rateHold[exchange.index] = 0;
    this.lastAnswerAt = arrivedAt;
    // The next exchange starts with this server: it works.
    this.cursor = exchange.index;
    this.wait(this.intervalMs - Math.floor(randomUnit(this.options.random) * (this.intervalMs / 10)));
    const sample: SntpSample = {
      timeMs,
      monotonicMs: arrivedAt,
      server: server.label,
      address: exchange.address,
      stratum: verdict.stratum,
      delayMs,
    };
    try {
      this.options.onSample(sample);
    } catch (error) {
      this.log("error", "ntp_callback_failed", { error: messageOf(error) });
    }
  }

  private ignore(server: NtpServer, reason: string, detail: string | undefined): void {
    this.counters.ignored++;
    this.log("debug", "ntp_ignored", { server: server.label, reason, ...(detail !== undefined ? { detail } : {}) });
  }

  private kissed(index: number, code: KissCodeValue): void {
    const server = this.servers[index]!;
    this.counters.kisses++;
    let holdMs: number;
    if (code === KissCode.RATE) {
      const last = this.rateHold[index]!;
      holdMs = last === 0 ? RATE_HOLD_MS : Math.min(last * 2, DENY_HOLD_MS);
      this.rateHold[index] = holdMs;
    } else {
      holdMs = DENY_HOLD_MS;
    }
    this.heldUntil[index] = this.options.timers.now() + holdMs;
    this.log("warn", "ntp_kiss", { server: server.label, code, holdMs });
    this.next(index);
  }

  private deadline(): void {
    this.timer = undefined;
    const exchange = this.exchange;
    if (exchange === undefined) return;
    this.counters.timeouts++;
    this.failed(exchange.index, "timeout", `no answer within ${this.timeoutMs} ms`);
  }

  /** The exchange with server `index` is over without a time: the next server, now. */
  private failed(index: number, reason: string, detail: string | undefined): void {
    this.log("info", "ntp_failed", { server: this.servers[index]!.label, reason, ...(detail !== undefined ? { detail } : {}) });
    this.next(index);
  }

  private next(index: number): void {
    this.endExchange();
    this.clearTimer();
    this.cursor = (index + 1) % this.servers.length;
    this.tried++;
    this.attempt();
  }

  /** Every server failed or is held: wait (backoff, and at least until one is free), then a new round. */
  private roundFailed(now: number): void {
    const attempt = this.failedRounds;
    this.failedRounds = attempt + 1;
    let delayMs = backoffDelay(attempt, this.policy, randomUnit(this.options.random));
    let free = Number.POSITIVE_INFINITY;
    for (const until of this.heldUntil) free = until < free ? until : free;
    const held = free > now + delayMs;
    if (held) delayMs = free - now;
    this.log("warn", "ntp_retry", { delayMs, attempt, servers: this.serverLabels, ...(held ? { held: true } : {}) });
    this.wait(delayMs);
  }

  // --- helpers ---

  private wait(ms: number): void {
    this.clearTimer();
    this.timer = this.options.timers.set(this.onWaitOver, ms);
  }

  private endExchange(): void {
    const socket = this.exchange?.socket;
    this.exchange = undefined;
    if (socket === undefined) return;
    try {
      socket.close();
    } catch {
      // Closing a failed socket: nothing more to do with it.
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.options.timers.clear(this.timer);
    this.timer = undefined;
  }

  private log(level: LogLevel, event: string, fields: Record<string, unknown>): void {
    this.options.log?.(level, event, fields);
  }
}

function messageOf(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
