/**
 * server/auth.ts, the handshake checks, on a virtual clock: the failure tables (slowed, then
 * locked out, forgotten after their window, never more entries than their bound), the
 * address keys, and the gatekeeper's verdicts: one 401 for whatever was wrong, 429 at once
 * while locked out or for too many attempts at once, 503 when too many checks run, and the
 * address that proved an id let through the lockouts. The server around it, on real sockets,
 * is tests/server/companion-auth.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addressKey,
  DEFAULT_AUTH_LIMITS,
  FailureTable,
  Gatekeeper,
  resolveAuthLimits,
  type AuthLimits,
  type AuthVerdict,
  type Claim,
} from "../../server/auth.js";
import type { UnstampedEvent } from "../../server/events.js";
import { DeviceRegistry, type RegistryChange } from "../../server/registry.js";
import { VirtualClock } from "../support/virtual-clock.js";

const LIMITS: AuthLimits = { ...DEFAULT_AUTH_LIMITS, slowAfter: 2, refuseAfter: 5, windowMs: 60_000, lockoutMs: 10_000, slowStepMs: 100, maxDelayMs: 400, maxTracked: 64 };

describe("handshake checks (server/auth.ts)", function () {
  describe("FailureTable", function () {
    it("answers the first slowAfter failures at once, then doubles the delay from slowStepMs up to maxDelayMs", function () {
      const table = new FailureTable(LIMITS);
      assert.deepEqual([1, 2, 3, 4, 5, 6, 40, 5000].map((count) => table.delayFor(count)), [0, 0, 100, 200, 400, 400, 400, 400]);
    });

    it("locks a key out at refuseAfter failures, once, for lockoutMs; then counts afresh", function () {
      const table = new FailureTable(LIMITS);
      const results = [];
      for (let i = 0; i < 6; i++) results.push(table.fail("a", 1000));
      assert.deepEqual(results.map((r) => r.locked), [false, false, false, false, true, false], "the lockout starts once");
      assert.equal(table.lockedFor("a", 1000), 10_000);
      assert.equal(table.lockedFor("a", 10_999), 1);
      assert.equal(table.lockedFor("a", 11_000), 0, "served");
      assert.equal(table.failures("a", 11_000), 0, "the count starts again");
      assert.equal(table.fail("a", 11_000).count, 1);
    });

    it("forgets failures older than windowMs", function () {
      const table = new FailureTable(LIMITS);
      for (let i = 0; i < 4; i++) table.fail("a", 0);
      assert.equal(table.failures("a", 59_999), 4);
      assert.equal(table.failures("a", 60_000), 0);
      assert.equal(table.fail("a", 60_000).locked, false);
    });

    it("a success forgets the key's failures and remembers the address that proved it", function () {
      const table = new FailureTable(LIMITS);
      for (let i = 0; i < 5; i++) table.fail("sim-1", 0);
      assert.ok(table.lockedFor("sim-1", 0) > 0);
      table.succeed("sim-1", 1, "10.0.0.7");
      assert.equal(table.lockedFor("sim-1", 1), 0);
      assert.equal(table.failures("sim-1", 1), 0);
      assert.equal(table.goodAddress("sim-1"), "10.0.0.7");
    });

    it("never holds more than maxTracked keys: the least recently touched goes first", function () {
      const table = new FailureTable({ ...LIMITS, maxTracked: 3 });
      table.fail("a", 0);
      table.fail("b", 0);
      table.fail("c", 0);
      table.fail("a", 1); // a is now the most recent
      table.fail("d", 2);
      assert.equal(table.size, 3);
      assert.equal(table.failures("b", 2), 0, "b was forgotten");
      assert.equal(table.failures("a", 2), 2);
      for (let i = 0; i < 10_000; i++) table.fail(`flood-${i}`, 3);
      assert.equal(table.size, 3);
    });
  });

  describe("addressKey", function () {
    it("keeps IPv4 as it is, unwraps IPv4-mapped IPv6, and keys IPv6 by its /64", function () {
      assert.equal(addressKey("127.0.0.1"), "127.0.0.1");
      assert.equal(addressKey("::ffff:192.168.1.20"), "192.168.1.20");
      assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
      assert.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
      assert.equal(addressKey("2001:0db8:0001:0002:aaaa::1"), "2001:db8:1:2::/64");
      assert.equal(addressKey("2001:db8::1"), "2001:db8:0:0::/64");
      assert.equal(addressKey("::1"), "0:0:0:0::/64");
      assert.equal(addressKey("fe80::1%eth0"), "fe80:0:0:0::/64");
    });
  });

  describe("resolveAuthLimits", function () {
    it("fills in the defaults and names a bad limit", function () {
      assert.deepEqual(resolveAuthLimits(), DEFAULT_AUTH_LIMITS);
      assert.equal(resolveAuthLimits({ lockoutMs: 5 }).lockoutMs, 5);
      assert.throws(() => resolveAuthLimits({ maxChecks: 0 }), /auth\.maxChecks must be a positive integer, got 0/);
      assert.throws(() => resolveAuthLimits({ windowMs: 1.5 }), /auth\.windowMs/);
      assert.throws(() => resolveAuthLimits({ bogus: 1 } as Partial<AuthLimits>), /auth\.bogus is not a limit/);
      assert.throws(() => resolveAuthLimits({ slowAfter: 9, refuseAfter: 3 }), /slowAfter \(9\) must be at most auth\.refuseAfter \(3\)/);
    });
  });

  describe("Gatekeeper", function () {
    let folder: string;
    let registry: DeviceRegistry;
    let token: string;
    let clock: VirtualClock;
    let reports: UnstampedEvent[];
    let gate: Gatekeeper;
    before(async () => {
      folder = mkdtempSync(join(tmpdir(), "moorline-auth-"));
      registry = DeviceRegistry.open(join(folder, "devices.json"), { create: true });
      token = await registry.add("sim-1");
    });
    after(() => rmSync(folder, { recursive: true, force: true }));
    beforeEach(() => {
      clock = new VirtualClock();
      reports = [];
      gate = gatekeeper(registry);
    });

    function gatekeeper(from: DeviceRegistry, limits: Partial<AuthLimits> = LIMITS): Gatekeeper {
      return new Gatekeeper({
        registry: from,
        limits,
        report: (event) => reports.push(event),
        now: () => clock.now(),
        sleep: (ms) => new Promise((resolve) => clock.set(resolve, ms)),
      });
    }

    /** A registry of one device whose check is `verify` (to hold checks open, or make them fail). */
    const fakeRegistry = (verify: () => Promise<boolean>): DeviceRegistry =>
      ({ path: "fake", size: 1, has: () => true, refresh: async (): Promise<RegistryChange | undefined> => undefined, verify }) as unknown as DeviceRegistry;

    const claim = (over: Partial<Claim> = {}): Claim => ({ address: "10.0.0.7", authorization: `Bearer ${token}`, device: "sim-1", ...over });

    /**
     * Waits for `promise`, advancing the virtual clock while it waits on it (a delayed 401);
     * the token checks themselves take real time (scrypt). Bounded: 5 s of real time.
     */
    async function settle<T>(promise: Promise<T>): Promise<T> {
      let done = false;
      const watched = promise.finally(() => (done = true));
      for (let i = 0; i < 2500 && !done; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2));
        if (!done && clock.size > 0) clock.advance(50);
      }
      assert.ok(done, "settled within 5 s");
      return watched;
    }

    const check = (what: Claim, on = gate): Promise<AuthVerdict> => settle(on.check(what));

    it("admits the right token for the id, naming the device", async function () {
      assert.deepEqual(await check(claim()), { admit: true, device: "sim-1" });
    });

    it("refuses with the same 401 whatever was wrong, telling only the log which part", async function () {
      const cases: Array<[Partial<Claim>, string, string | null]> = [
        [{ device: undefined }, "no_device_id", null],
        [{ device: "not an id" }, "bad_device_id", null],
        [{ device: ["sim-1", "sim-2"] }, "bad_device_id", null],
        [{ authorization: undefined }, "no_token", "sim-1"],
        [{ authorization: `Basic ${token}` }, "no_token", "sim-1"],
        [{ authorization: `Bearer ${token} extra` }, "no_token", "sim-1"],
        [{ authorization: "Bearer wrong-token" }, "wrong_token", "sim-1"],
        [{ device: "sim-2" }, "unknown_device", "sim-2"],
      ];
      for (const [over, reason, device] of cases) {
        // A fresh gatekeeper each time, so none of these is slowed by the others.
        const verdict = await check(claim(over), gatekeeper(registry));
        assert.equal(verdict.admit, false);
        if (verdict.admit) continue;
        assert.deepEqual([verdict.status, verdict.reason, verdict.device, verdict.delayMs], [401, reason, device, 0], JSON.stringify(over));
      }
    });

    it("accepts the scheme in any case and spaces around the token (RFC 7235 section 2.1)", async function () {
      assert.equal((await check(claim({ authorization: `bearer  ${token} ` }))).admit, true);
    });

    it("slows the 401s of a failing address, then locks it out with 429 at once, without checking", async function () {
      const verdicts: AuthVerdict[] = [];
      for (let i = 0; i < 7; i++) verdicts.push(await check(claim({ address: "10.0.0.66", authorization: "Bearer guess", device: `dev-${i}` })));
      assert.deepEqual(
        verdicts.map((v) => (v.admit ? "admit" : `${v.status}:${v.delayMs}`)),
        ["401:0", "401:0", "401:100", "401:200", "401:400", "429:0", "429:0"],
      );
      const locked = verdicts[5]!;
      assert.ok(!locked.admit && locked.reason === "locked_out" && locked.retryAfterS === 10);
      assert.deepEqual(reports, [{ event: "auth_lockout", key: "address", value: "10.0.0.66", failures: 5, lockoutMs: 10_000 }]);
      // Locked out even with the right token: a locked address is not checked at all.
      assert.equal((await check(claim({ address: "10.0.0.66" }))).admit, false);
      // Served: attempts are checked again.
      clock.advance(10_000);
      assert.equal((await check(claim({ address: "10.0.0.66" }))).admit, true);
    });

    it("locks out an id hammered from many addresses, but not for the address that proved it", async function () {
      assert.equal((await check(claim({ address: "10.0.0.7" }))).admit, true, "the device proves its id from its address");
      for (let i = 0; i < 5; i++) await check(claim({ address: `10.9.0.${i}`, authorization: "Bearer guess" }));
      assert.deepEqual(reports.at(-1), { event: "auth_lockout", key: "device", value: "sim-1", failures: 5, lockoutMs: 10_000 });
      const impostor = await check(claim({ address: "10.9.0.99" }));
      assert.ok(!impostor.admit && impostor.status === 429, "another address, even with the token, waits out the lockout");
      assert.deepEqual(await check(claim({ address: "10.0.0.7" })), { admit: true, device: "sim-1" }, "the device's own address gets in");
    });

    it("lets the address that proved an id through that address's own lockout (devices sharing a NAT)", async function () {
      assert.equal((await check(claim({ address: "10.0.0.8" }))).admit, true);
      for (let i = 0; i < 5; i++) await check(claim({ address: "10.0.0.8", authorization: "Bearer guess", device: `other-${i}` }));
      const other = await check(claim({ address: "10.0.0.8", device: "other-9", authorization: "Bearer guess" }));
      assert.ok(!other.admit && other.status === 429, "the failing neighbours are locked out");
      assert.equal((await check(claim({ address: "10.0.0.8" }))).admit, true, "the proven device is not");
    });

    it("bounds the attempts under way: maxPerAddress per address (429), maxChecks in all (503)", async function () {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const slow = fakeRegistry(async () => {
        await held;
        return false;
      });
      const narrow = gatekeeper(slow, { ...LIMITS, maxPerAddress: 2, maxChecks: 3 });
      const pending = [narrow.check(claim({ address: "10.1.0.1" })), narrow.check(claim({ address: "10.1.0.1" }))];
      const third = await narrow.check(claim({ address: "10.1.0.1" }));
      assert.ok(!third.admit && third.status === 429 && third.reason === "too_many_at_once" && third.retryAfterS === 1);
      pending.push(narrow.check(claim({ address: "10.1.0.2" })));
      const busy = await narrow.check(claim({ address: "10.1.0.3" }));
      assert.ok(!busy.admit && busy.status === 503 && busy.reason === "busy" && busy.retryAfterS === 1);
      release();
      const settled = await settle(Promise.all(pending));
      assert.deepEqual(settled.map((v) => (v.admit ? "admit" : v.status)), [401, 401, 401]);
      const after = await settle(narrow.check(claim({ address: "10.1.0.3", authorization: undefined })));
      assert.ok(!after.admit && after.status === 401, "the counts went back down: checked again");
    });

    it("a check that fails (scrypt out of memory, say) is the server's trouble: 503, reported, not counted against the device", async function () {
      const broken = fakeRegistry(async () => {
        throw new RangeError("Invalid scrypt params: memory limit exceeded");
      });
      const failing = gatekeeper(broken);
      const verdict = await check(claim(), failing);
      assert.ok(!verdict.admit && verdict.status === 503 && verdict.reason === "check_failed" && verdict.failures === 0);
      assert.deepEqual(reports, [{ event: "registry_error", file: "fake", message: "checking a token failed: Invalid scrypt params: memory limit exceeded" }]);
    });

    it("reads a registry file changed by another process before checking, and reports it", async function () {
      const file = join(folder, "changing.json");
      const mine = DeviceRegistry.open(file, { create: true });
      const first = await mine.add("dev-a");
      const changing = gatekeeper(mine);
      const cli = DeviceRegistry.open(file);
      const second = await cli.add("dev-b");
      cli.remove("dev-a");
      assert.equal((await check(claim({ device: "dev-b", authorization: `Bearer ${second}` }), changing)).admit, true);
      assert.equal((await check(claim({ device: "dev-a", authorization: `Bearer ${first}` }), changing)).admit, false);
      assert.deepEqual(reports.filter((e) => e.event === "registry"), [
        { event: "registry", action: "reloaded", file, devices: 1, revoked: ["dev-a"] },
      ]);
    });
  });
});
