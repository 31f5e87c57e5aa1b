/**
 * Who may connect to the companion server when it runs with a device registry (--devices
 * FILE, server/registry.ts): every WebSocket opening handshake is checked here before the
 * upgrade (docs/protocol.md, "Who may connect").
 *
 *   Moorline-Device: <device id>        the id the device claims
 *   Authorization: Bearer <token>       the token registered for that id
 *
 * A missing or wrong part gets the same 401, whatever was wrong (the log says what, the
 * device is not told). Repeated failures are made expensive, in two fixed-size tables, one
 * keyed by the address they come from (an IPv6 address by its /64, which one host usually
 * holds whole), one by the device id they claim:
 *   - after `slowAfter` failures within `windowMs`, each further 401 is sent only after a
 *     delay that doubles from `slowStepMs` up to `maxDelayMs`;
 *   - after `refuseAfter` failures within `windowMs`, the address (or id) is locked out for
 *     `lockoutMs`: its attempts get 429 with Retry-After at once, without checking a token.
 *     Neither lockout applies to an attempt for an id from the address that last proved
 *     that id: an impostor hammering a device's id from elsewhere, or failing devices that
 *     share its address, cannot keep the device itself out.
 * And whatever the failures, at most `maxPerAddress` attempts of one address are under way
 * at once (429 beyond), and at most `maxChecks` token checks (scrypt: CPU and 16 MiB each) run
 * at once (503 with Retry-After beyond): a burst of bad attempts costs a bounded amount of
 * CPU and memory and good devices still get in.
 *
 * Time is injected (now, sleep) so the tables can be tested on a virtual clock.
 */
import { isAuthToken, isDeviceId } from "../src/auth/credentials.js";
import type { UnstampedEvent } from "./events.js";
import { RegistryError, type DeviceRegistry, type RegistryChange } from "./registry.js";

export interface AuthLimits {
  /** Failures (per address, per device id) answered at once; the next ones are delayed. */
  slowAfter: number;
  /** Failures within windowMs that lock the address (or id) out. */
  refuseAfter: number;
  /** Failures older than this are forgotten, ms. */
  windowMs: number;
  /** How long a lockout lasts, ms. */
  lockoutMs: number;
  /** The first delayed 401 waits this long; each next failure doubles it, ms. */
  slowStepMs: number;
  /** No 401 waits longer, ms. */
  maxDelayMs: number;
  /** Entries per table (addresses, device ids); beyond, the least recently seen is forgotten. */
  maxTracked: number;
  /** Token checks under way at once, over every address. */
  maxChecks: number;
  /** Attempts of one address under way at once (being checked, or waiting out their delay). */
  maxPerAddress: number;
}

export const DEFAULT_AUTH_LIMITS: Readonly<AuthLimits> = Object.freeze({
  slowAfter: 3,
  refuseAfter: 20,
  windowMs: 10 * 60_000,
  lockoutMs: 60_000,
  slowStepMs: 250,
  maxDelayMs: 5_000,
  maxTracked: 4096,
  maxChecks: 8,
  // A quarter of maxChecks: one address (an attacker's) can never hold every check, so a good
  // device arriving meanwhile is checked, not told 503.
  maxPerAddress: 2,
});

/** What was wrong with a refused attempt: for the server's log, never for the device. */
export type RefusalReason =
  | "no_device_id"
  | "bad_device_id"
  | "no_token"
  | "unknown_device"
  | "wrong_token"
  | "locked_out"
  | "too_many_at_once"
  | "busy"
  | "check_failed";

export type AuthVerdict =
  | { admit: true; device: string }
  | {
      admit: false;
      status: 401 | 429 | 503;
      reason: RefusalReason;
      /** The id claimed, when it is one (never arbitrary text). */
      device: string | null;
      /** For 429 and 503: when to come back, seconds. */
      retryAfterS?: number;
      /** How long the answer was held back, ms. */
      delayMs: number;
      /** Failures counted against the address (or the id, whichever is more) in the window. */
      failures: number;
    };

interface Failures {
  count: number;
  /** When the window of `count` began, ms. */
  since: number;
  /** The lockout's end, ms; 0 when not locked. */
  lockedUntil: number;
  /** The device-id table: the address that last proved the id. */
  goodAddress?: string;
}

/**
 * Failure counts by key (an address, or a device id), in a table of at most maxTracked
 * entries: the least recently touched is forgotten first when a new key needs room, so a
 * flood of distinct keys cannot grow it. Pure: the caller gives the time.
 */
export class FailureTable {
  private readonly entries = new Map<string, Failures>();

  constructor(private readonly limits: Readonly<AuthLimits>) {}

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds left of `key`'s lockout at `now`; 0 when it is not locked out. */
  lockedFor(key: string, now: number): number {
    const entry = this.current(key, now);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  /** Failures of `key` in the current window. */
  failures(key: string, now: number): number {
    return this.current(key, now)?.count ?? 0;
  }

  /** Counts a failure of `key`; `locked` is true when this one started a lockout. */
  fail(key: string, now: number): { count: number; locked: boolean } {
    const entry = this.touch(key, now);
    entry.count++;
    const locked = entry.count >= this.limits.refuseAfter && entry.lockedUntil === 0;
    if (locked) entry.lockedUntil = now + this.limits.lockoutMs;
    return { count: entry.count, locked };
  }

  /** `key` proved itself: its failures are forgotten, and `address` remembered as its own. */
  succeed(key: string, now: number, address?: string): void {
    const entry = this.touch(key, now);
    entry.count = 0;
    entry.since = now;
    entry.lockedUntil = 0;
    if (address !== undefined) entry.goodAddress = address;
  }

  /** The address that last proved `key`, if remembered. */
  goodAddress(key: string): string | undefined {
    return this.entries.get(key)?.goodAddress;
  }

  /** The delay before a 401 for a key with `count` failures, ms. */
  delayFor(count: number): number {
    const { slowAfter, slowStepMs, maxDelayMs } = this.limits;
    if (count <= slowAfter) return 0;
    // 2^30 is past any cap already; a bounded exponent keeps the product finite.
    const delay = slowStepMs * 2 ** Math.min(30, count - slowAfter - 1);
    return delay < maxDelayMs ? delay : maxDelayMs;
  }

  /** The entry of `key` with an expired window or lockout reset, or undefined. */
  private current(key: string, now: number): Failures | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.lockedUntil !== 0 && now >= entry.lockedUntil) {
      // A lockout served: the count starts again, so the next refuseAfter failures lock again.
      entry.count = 0;
      entry.since = now;
      entry.lockedUntil = 0;
    } else if (entry.lockedUntil === 0 && now - entry.since >= this.limits.windowMs) {
      entry.count = 0;
      entry.since = now;
    }
    return entry;
  }

  /** The entry of `key`, made if needed (evicting the least recently touched), now the most recent. */
  private touch(key: string, now: number): Failures {
    let entry = this.current(key, now);
    if (entry) {
      this.entries.delete(key);
    } else {
      while (this.entries.size >= this.limits.maxTracked) this.entries.delete(this.entries.keys().next().value!);
      entry = { count: 0, since: now, lockedUntil: 0 };
    }
    this.entries.set(key, entry);
    return entry;
  }
}

/**
 * The key of an address in the failure table: IPv4 as it is (an IPv4-mapped IPv6 address as
 * its IPv4), IPv6 by its first 64 bits (a host is usually given a whole /64: counting its
 * addresses one by one would let it dodge every limit).
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  const [head = "", tail] = address.split("%")[0]!.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((group) => group.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}

/** Checks the limits, naming the bad one. */
export function resolveAuthLimits(partial: Partial<AuthLimits> = {}): AuthLimits {
  const limits = { ...DEFAULT_AUTH_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (!(name in DEFAULT_AUTH_LIMITS)) throw new RangeError(`auth.${name} is not a limit (${Object.keys(DEFAULT_AUTH_LIMITS).join(", ")})`);
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`auth.${name} must be a positive integer, got ${String(value)}`);
    }
  }
  if (limits.slowAfter > limits.refuseAfter) throw new RangeError(`auth.slowAfter (${limits.slowAfter}) must be at most auth.refuseAfter (${limits.refuseAfter})`);
  if (limits.maxPerAddress >= limits.maxChecks) {
    throw new RangeError(`auth.maxPerAddress (${limits.maxPerAddress}) must be below auth.maxChecks (${limits.maxChecks}): one address must not hold every check`);
  }
  return limits;
}

/** What the handshake request says about who it is. */
export interface Claim {
  /** The peer's address (request.socket.remoteAddress). */
  address: string;
  /** The Authorization header, as Node gives it. */
  authorization: string | undefined;
  /** The Moorline-Device header(s), as Node gives them. */
  device: string | string[] | undefined;
}

export interface GatekeeperOptions {
  registry: DeviceRegistry;
  limits?: Partial<AuthLimits>;
  /** Receives the lockout and registry events (the server's log). */
  report: (event: UnstampedEvent) => void;
  /** Default Date.now. */
  now?: () => number;
  /** Resolves after `ms`; default an unref'd setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** `Bearer <token>` (the scheme is case-insensitive, RFC 7235 section 2.1): the token, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
  return match && isAuthToken(match[1]) ? match[1] : undefined;
}

export class Gatekeeper {
  readonly registry: DeviceRegistry;
  readonly limits: Readonly<AuthLimits>;
  private readonly addresses: FailureTable;
  private readonly devices: FailureTable;
  /** Attempts under way per address key; an entry is deleted at 0. */
  private readonly underWay = new Map<string, number>();
  private checks = 0;
  private readonly report: (event: UnstampedEvent) => void;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** The registry's last error, reported once until it changes. */
  private lastRegistryError = "";

  constructor(options: GatekeeperOptions) {
    this.registry = options.registry;
    this.limits = resolveAuthLimits(options.limits);
    this.addresses = new FailureTable(this.limits);
    this.devices = new FailureTable(this.limits);
    this.report = options.report;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
  }

  /** Entries in the failure tables (each at most limits.maxTracked). */
  tracked(): { addresses: number; devices: number } {
    return { addresses: this.addresses.size, devices: this.devices.size };
  }

  /**
   * Decides on one opening handshake. Resolves (never rejects) with admit and the device id,
   * or a refusal to send, after its delay. The device header's id is the one authenticated:
   * the connection belongs to it.
   */
  async check(claim: Claim): Promise<AuthVerdict> {
    const address = addressKey(claim.address);
    const now = this.now();
    const id = typeof claim.device === "string" && isDeviceId(claim.device) ? claim.device : null;
    const refuse = (status: 429 | 503, reason: RefusalReason, retryAfterMs: number): AuthVerdict => ({
      admit: false,
      status,
      reason,
      device: id,
      retryAfterS: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      delayMs: 0,
      failures: Math.max(this.addresses.failures(address, now), id === null ? 0 : this.devices.failures(id, now)),
    });

    // The address that last proved this id is let through the lockouts (of the address and
    // the id): a device sharing its address with failing ones (a NAT, a desk of simulators)
    // and one whose id an impostor hammers from elsewhere both keep getting in. What such an
    // attempt costs is still bounded by maxPerAddress and maxChecks, and its 401s slowed.
    const proven = id !== null && this.devices.goodAddress(id) === address;
    if (!proven) {
      const addressLock = this.addresses.lockedFor(address, now);
      if (addressLock > 0) return refuse(429, "locked_out", addressLock);
      const deviceLock = id === null ? 0 : this.devices.lockedFor(id, now);
      if (deviceLock > 0) return refuse(429, "locked_out", deviceLock);
    }
    const mine = this.underWay.get(address) ?? 0;
    if (mine >= this.limits.maxPerAddress) return refuse(429, "too_many_at_once", 1000);

    this.underWay.set(address, mine + 1);
    try {
      if (id === null) return await this.fail(address, null, claim.device === undefined ? "no_device_id" : "bad_device_id");
      const token = bearerToken(claim.authorization);
      if (token === undefined) return await this.fail(address, id, "no_token");
      if (this.checks >= this.limits.maxChecks) return refuse(503, "busy", 1000);
      this.checks++;
      let known: boolean;
      let valid: boolean;
      try {
        await this.refreshRegistry();
        known = this.registry.has(id);
        valid = await this.registry.verify(id, token);
      } catch (error) {
        // scrypt itself failed (out of memory, say): the server's trouble, not the device's.
        this.report({ event: "registry_error", file: this.registry.path, message: `checking a token failed: ${error instanceof Error ? error.message : String(error)}` });
        return refuse(503, "check_failed", 1000);
      } finally {
        this.checks--;
      }
      if (!valid) return await this.fail(address, id, known ? "wrong_token" : "unknown_device");
      this.devices.succeed(id, this.now(), address);
      return { admit: true, device: id };
    } finally {
      const left = (this.underWay.get(address) ?? 1) - 1;
      if (left <= 0) this.underWay.delete(address);
      else this.underWay.set(address, left);
    }
  }

  /**
   * Reads the registry file again if it changed (the tests and the operator change it while
   * the server runs): resolves with what changed, or undefined. A file that became unusable
   * is reported once (registry_error) and the devices read before stay in force.
   */
  async refreshRegistry(): Promise<RegistryChange | undefined> {
    try {
      const change = await this.registry.refresh();
      if (change) {
        this.lastRegistryError = "";
        this.report({ event: "registry", action: "reloaded", file: this.registry.path, devices: change.size, revoked: change.revoked });
      }
      return change;
    } catch (error) {
      const message = error instanceof RegistryError ? error.message : String(error);
      if (message !== this.lastRegistryError) {
        this.lastRegistryError = message;
        this.report({ event: "registry_error", file: this.registry.path, message });
      }
      return undefined;
    }
  }

  /** Counts a failure against the address (and the id), reports a lockout it starts, and holds the 401 back as the counts say. */
  private async fail(address: string, id: string | null, reason: RefusalReason): Promise<AuthVerdict> {
    const now = this.now();
    const byAddress = this.addresses.fail(address, now);
    if (byAddress.locked) this.report({ event: "auth_lockout", key: "address", value: address, failures: byAddress.count, lockoutMs: this.limits.lockoutMs });
    let count = byAddress.count;
    if (id !== null) {
      const byDevice = this.devices.fail(id, now);
      if (byDevice.locked) this.report({ event: "auth_lockout", key: "device", value: id, failures: byDevice.count, lockoutMs: this.limits.lockoutMs });
      if (byDevice.count > count) count = byDevice.count;
    }
    const delayMs = this.addresses.delayFor(count);
    if (delayMs > 0) await this.sleep(delayMs);
    return { admit: false, status: 401, reason, device: id, delayMs, failures: count };
  }
}
