/**
 * The WiFi manager on a virtual clock, against the simulated WiFi driver (and a tiny fake
 * driver where a test needs notifications the simulator would not send): networks tried in
 * order, failures told apart, backoff with full jitter between rounds, reconnection when the
 * link or the address goes, a stop that leaves nothing running, and credentials never logged.
 * Then loading and saving networks.
 */
import assert from "node:assert/strict";
import { backoffDelay } from "../../src/device/backoff.js";
import type { Log, RandomSource, Storage, WifiNetwork } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import {
  DEFAULT_WIFI_ATTEMPT_TIMEOUT_MS,
  DEFAULT_WIFI_BACKOFF,
  DEFAULT_WIFI_STABLE_MS,
  loadNetworks,
  MAX_SAVED_NETWORKS,
  saveNetwork,
  WIFI_STORAGE,
  WifiManager,
  WifiState,
  type WifiManagerOptions,
} from "../../src/device/wifi.js";
import { createJsonLog } from "../../hosts/node/host.js";
import type { SimAccessPoint } from "../../hosts/node/sim-wifi.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { FakeDriver, maxRandom, rig, seededRandom, zeroRandom, type LogRecord } from "../support/wifi-rig.js";

const HOME: SimAccessPoint = { ssid: "home", password: "home-secret-1" };
const OFFICE: SimAccessPoint = { ssid: "office", password: "office-secret-2" };

describe("WifiManager", () => {
  describe("options", () => {
    const valid = (): WifiManagerOptions => ({
      driver: new FakeDriver(),
      timers: new VirtualClock(),
      random: zeroRandom,
      networks: [{ ssid: "home", password: "pw" }],
    });
    const rejects = (change: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(() => new WifiManager({ ...valid(), ...change } as WifiManagerOptions), (error: Error & { code?: string }) => {
        assert.equal(error.code, "ERR_INVALID_OPTION");
        assert.match(error.message, pattern);
        return true;
      });

    it("accepts a minimal configuration and starts idle", () => {
      const manager = new WifiManager(valid());
      assert.equal(manager.state, WifiState.IDLE);
      assert.equal(manager.online, false);
      assert.equal(manager.ssid, undefined);
      assert.equal(manager.failures.size, 0);
    });

    it("names the bad option", () => {
      rejects({ driver: {} }, /option driver must be an object with connect, disconnect, address/);
      rejects({ timers: undefined }, /option timers/);
      rejects({ random: 3 }, /option random must be a function/);
      rejects({ log: "yes" }, /option log must be a function/);
      rejects({ onOnline: true }, /option onOnline must be a function/);
      rejects({ networks: new Array(9).fill({ ssid: "x", password: "" }) }, /option networks must be an array of at most 8/);
      rejects({ networks: [{ ssid: "", password: "" }] }, /networks\[0\].*non-empty/);
      rejects({ networks: [{ ssid: "x".repeat(33), password: "" }] }, /networks\[0\].*33 bytes \(at most 32\)/);
      rejects({ attemptTimeoutMs: 0 }, /option attemptTimeoutMs must be an integer from 1/);
      rejects({ stableMs: -1 }, /option stableMs must be an integer from 0/);
      rejects({ backoff: { capMs: 10 } }, /option backoff.capMs must be at least backoff.baseMs \(2000\)/);
      rejects({ backoff: { jitter: true } }, /option backoff.jitter/);
    });

    it("never quotes a password in an option error", () => {
      const password = "p".repeat(65) + "-topsecret";
      assert.throws(
        () => new WifiManager({ ...valid(), networks: [{ ssid: "home", password }] }),
        (error: Error) => {
          assert.match(error.message, /networks\[0\].*password is 75 bytes \(at most 64\)/);
          assert.ok(!error.message.includes("topsecret"));
          return true;
        },
      );
    });

    it("copies the networks: changing the caller's list later has no effect", () => {
      const networks = [{ ssid: "home", password: HOME.password }];
      const { manager, clock, seen } = rig([HOME], networks);
      networks[0]!.ssid = "elsewhere";
      manager.start();
      clock.advance(600);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600"]);
    });
  });

  describe("joining", () => {
    it("joins the first network: connecting, associated, online with the address", () => {
      const { manager, clock, seen, states, events, sim } = rig([HOME, OFFICE], [HOME, OFFICE]);
      manager.start();
      assert.equal(manager.state, WifiState.CONNECTING);
      assert.equal(manager.ssid, "home");
      clock.advance(300);
      assert.equal(manager.state, WifiState.ASSOCIATED);
      clock.advance(300);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.equal(manager.online, true);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600"]);
      assert.deepEqual(
        states.map((s) => `${s.state} ${s.ssid}`),
        ["connecting home", "associated home", "online home"],
      );
      // One log line per state change, naming the state and the network.
      assert.deepEqual(
        events("wifi_state").map((r) => r.fields),
        [
          { state: "connecting", ssid: "home" },
          { state: "associated", ssid: "home" },
          { state: "online", ssid: "home", address: "192.168.4.2" },
        ],
      );
      assert.equal(sim.connectCount, 1);
      assert.equal(manager.failures.size, 0);
    });

    it("start() while running does nothing", () => {
      const { manager, clock, sim } = rig([HOME], [HOME]);
      manager.start();
      clock.advance(100);
      manager.start();
      clock.advance(500);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.equal(sim.connectCount, 1);
    });

    it("moves on after a wrong password and joins the second network", () => {
      const { manager, clock, seen, events, sim } = rig(
        [HOME, OFFICE],
        [{ ssid: "home", password: "not-it" }, OFFICE],
      );
      manager.start();
      clock.advance(300); // the wrong password is refused
      assert.equal(manager.ssid, "office");
      assert.equal(manager.state, WifiState.CONNECTING);
      clock.advance(600);
      assert.deepEqual(seen, ["online office 192.168.4.2 at 900"]);
      assert.deepEqual([...manager.failures], [["home", "wrong_password"]]);
      assert.deepEqual(events("wifi_wrong_password").map((r) => [r.level, r.fields]), [["warn", { ssid: "home" }]]);
      assert.equal(sim.connectCount, 2);
    });

    it("reports a missing access point and a wrong password distinctly", () => {
      const { manager, clock, events } = rig(
        [HOME],
        [{ ssid: "cafe", password: "whatever" }, { ssid: "home", password: "wrong" }],
      );
      manager.start();
      clock.advance(600);
      assert.equal(manager.state, WifiState.BACKOFF);
      assert.deepEqual(Object.fromEntries(manager.failures), { cafe: "ap_not_found", home: "wrong_password" });
      assert.deepEqual(events("wifi_ap_not_found").map((r) => r.fields), [{ ssid: "cafe" }]);
      assert.deepEqual(events("wifi_wrong_password").map((r) => r.fields), [{ ssid: "home" }]);
    });

    it("treats Moddable's simulated failure password \"invalid!\" as a wrong password", () => {
      const { manager, clock } = rig([{ ssid: "home", password: "invalid!" }], [{ ssid: "home", password: "invalid!" }]);
      manager.start();
      clock.advance(300);
      assert.equal(manager.failures.get("home"), "wrong_password");
    });

    it("counts a \"disconnect\" without reason as a missing access point before association, a lost link after", () => {
      const fake = new FakeDriver();
      const { manager, events } = rig([], [{ ssid: "a", password: "" }, { ssid: "b", password: "" }], {}, fake);
      manager.start();
      fake.emit("disconnect");
      assert.equal(manager.failures.get("a"), "ap_not_found");
      assert.equal(manager.ssid, "b");
      fake.emit("connect");
      fake.emit("disconnect");
      assert.equal(manager.failures.get("b"), "link_lost");
      assert.deepEqual(events("wifi_link_lost").map((r) => r.fields), [{ ssid: "b" }]);
      assert.deepEqual(fake.calls, ["connect a", "connect b"]);
    });

    it("ignores notifications that mean nothing in the current state", () => {
      const fake = new FakeDriver();
      const { manager, seen } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      fake.emit("lostIP"); // no address yet: nothing to lose
      assert.equal(manager.state, WifiState.CONNECTING);
      fake.emit("connect");
      fake.emit("connect");
      assert.equal(manager.state, WifiState.ASSOCIATED);
      fake.emit("gotIP");
      fake.emit("gotIP"); // a renewed lease
      fake.emit("connect");
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(seen, ["online a 10.0.0.7 at 0"]);
    });

    it("goes online on \"gotIP\" even when the driver skipped \"connect\"", () => {
      const fake = new FakeDriver();
      const { manager, seen } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      fake.emit("gotIP");
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(seen, ["online a 10.0.0.7 at 0"]);
    });
  });

  describe("attempt timeout", () => {
    it("gives up on a network that never answers, disconnects it and tries the next", () => {
      const fake = new FakeDriver();
      const { manager, clock, events } = rig([], [{ ssid: "a", password: "" }, { ssid: "b", password: "" }], { attemptTimeoutMs: 5_000 }, fake);
      manager.start();
      clock.advance(4_999);
      assert.equal(manager.ssid, "a");
      clock.advance(1);
      assert.equal(manager.failures.get("a"), "timeout");
      assert.deepEqual(fake.calls, ["connect a", "disconnect", "connect b"]);
      assert.deepEqual(events("wifi_attempt_timeout").map((r) => r.fields), [{ ssid: "a", timeoutMs: 5_000 }]);
    });

    it("counts from connect(), so an association without an address times out too", () => {
      const { manager, clock, sim } = rig([HOME], [HOME, OFFICE], { attemptTimeoutMs: 2_000 });
      sim.loseIP(); // DHCP down: association works, no address comes
      manager.start();
      clock.advance(300);
      assert.equal(manager.state, WifiState.ASSOCIATED);
      clock.advance(1_700);
      assert.equal(manager.failures.get("home"), "timeout");
      assert.equal(manager.ssid, "office");
    });

    it("defaults to 20 s", () => {
      const fake = new FakeDriver();
      const { manager, clock } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      clock.advance(DEFAULT_WIFI_ATTEMPT_TIMEOUT_MS - 1);
      assert.equal(manager.state, WifiState.CONNECTING);
      clock.advance(1);
      assert.equal(manager.state, WifiState.BACKOFF);
    });
  });

  describe("backoff between rounds", () => {
    /** Runs `rounds` failed rounds over two absent networks; returns each backoff's delay and when the next round began. */
    function failRounds(random: RandomSource, rounds: number, backoff?: WifiManagerOptions["backoff"]) {
      const { manager, clock, states } = rig([], [{ ssid: "a", password: "" }, { ssid: "b", password: "" }], { random, backoff });
      manager.start();
      const delays: number[] = [];
      for (let round = 0; round < rounds; round++) {
        clock.advance(600); // both attempts fail (300 ms each)
        assert.equal(manager.state, WifiState.BACKOFF, `round ${round}`);
        const entered = states.at(-1)!;
        delays.push(entered.retryInMs!);
        clock.advance(entered.retryInMs! - 1);
        assert.equal(manager.state, WifiState.BACKOFF, "not before the delay is over");
        clock.advance(1);
        assert.equal(manager.state, WifiState.CONNECTING, "a new round at the end of the delay");
        assert.equal(manager.ssid, "a", "from the first network");
      }
      return { manager, delays, states };
    }

    it("waits a delay within the full-jitter window, which doubles each round up to the cap", () => {
      const { baseMs, capMs, minMs } = DEFAULT_WIFI_BACKOFF;
      for (let seed = 1; seed <= 50; seed++) {
        const { delays } = failRounds(seededRandom(seed), 9);
        delays.forEach((delay, round) => {
          const window = Math.min(capMs, baseMs * 2 ** round);
          assert.ok(delay >= minMs && delay <= window, `seed ${seed} round ${round}: ${delay} not in [${minMs}, ${window}]`);
          assert.ok(Number.isInteger(delay));
        });
      }
    });

    it("grows: at the top of each window the delays are 2 s, 4 s, 8 s ... capped at 120 s", () => {
      const { delays } = failRounds(maxRandom, 9);
      assert.deepEqual(delays, [1_999, 3_999, 7_999, 15_999, 31_999, 63_999, 119_999, 119_999, 119_999]);
    });

    it("never goes below minMs, so even a random source of zeros cannot make it spin", () => {
      const { delays } = failRounds(zeroRandom, 5);
      assert.deepEqual(delays, [500, 500, 500, 500, 500]);
    });

    it("is fully jittered: a fleet's delays spread over the whole window", () => {
      // Round 3's window is [500, 16000] ms; 200 devices should land across all of it.
      const sample: number[] = [];
      for (let seed = 1; seed <= 200; seed++) sample.push(failRounds(seededRandom(seed * 7919), 4).delays[3]!);
      const quarters = [0, 0, 0, 0];
      for (const delay of sample) quarters[Math.min(3, Math.floor(delay / 4_000))]!++;
      for (const count of quarters) assert.ok(count >= 25, `quarters ${quarters.join(",")}: each should hold about 50`);
      assert.ok(new Set(sample).size > 150, "delays are not clustered on a few values");
    });

    it("follows backoffDelay for the round number, with the policy given", () => {
      const backoff = { baseMs: 1_000, capMs: 5_000, minMs: 200 };
      const { delays } = failRounds(maxRandom, 5, backoff);
      assert.deepEqual(delays, [0, 1, 2, 3, 4].map((round) => backoffDelay(round, { ...backoff }, 1 - 2 ** -32)));
    });

    it("reports the delay and the last failure when entering BACKOFF", () => {
      const { states } = failRounds(maxRandom, 1);
      const backoff = states.find((s) => s.state === WifiState.BACKOFF)!;
      assert.equal(backoff.failure, "ap_not_found");
      assert.equal(backoff.retryInMs, 1_999);
      assert.equal(backoff.ssid, undefined);
    });

    it("resets after being online for stableMs, not before", () => {
      const networks = [HOME];
      const run = (onlineMs: number) => {
        const { manager, clock, sim, states } = rig([], networks, { random: maxRandom, stableMs: 10_000 });
        manager.start();
        // Three failed rounds: 2 s, 4 s, then 8 s of backoff; the next one would be 16 s.
        clock.advance(300 + 1_999);
        clock.advance(300 + 3_999);
        clock.advance(300);
        assert.equal(states.at(-1)!.retryInMs, 7_999);
        sim.setAccessPoint(HOME);
        clock.advance(7_999 + 600);
        assert.equal(manager.state, WifiState.ONLINE);
        clock.advance(onlineMs);
        sim.dropLink(); // the reconnect round fails too: radio down
        clock.advance(300);
        return states.at(-1)!;
      };
      assert.deepEqual([run(9_999).state, run(9_999).retryInMs], [WifiState.BACKOFF, 15_999]);
      assert.deepEqual([run(10_000).state, run(10_000).retryInMs], [WifiState.BACKOFF, 1_999]);
    });

    it("with stableMs 0 a link resets the backoff as soon as it is up", () => {
      const { manager, clock, sim, states } = rig([], [HOME], { random: maxRandom, stableMs: 0 });
      manager.start();
      clock.advance(300 + 1_999);
      clock.advance(300); // second failed round: 4 s of backoff, the next would be 8 s
      sim.setAccessPoint(HOME);
      clock.advance(3_999 + 600);
      assert.equal(manager.state, WifiState.ONLINE);
      sim.dropLink();
      clock.advance(300);
      assert.equal(states.at(-1)!.retryInMs, 1_999);
      assert.equal(DEFAULT_WIFI_STABLE_MS, 60_000);
    });
  });

  describe("losing the network while online", () => {
    function online() {
      const r = rig([OFFICE], [{ ssid: "home", password: HOME.password }, OFFICE], { random: maxRandom });
      r.manager.start();
      r.clock.advance(300 + 600);
      assert.equal(r.manager.ssid, "office");
      assert.equal(r.manager.state, WifiState.ONLINE);
      r.seen.length = 0;
      return r;
    }

    it("on lostIP: onOffline at once, then the same network again first", () => {
      const { manager, clock, sim, seen, events } = online();
      sim.loseIP();
      // Synchronously, before any timer ran.
      assert.deepEqual(seen, ["offline lostIP at 900"]);
      assert.equal(manager.online, false);
      assert.equal(manager.state, WifiState.CONNECTING);
      assert.equal(manager.ssid, "office", "the lost network is tried first, not the list's first");
      assert.deepEqual(events("wifi_offline").map((r) => r.fields), [{ ssid: "office", reason: "lostIP" }]);
      sim.restore();
      clock.advance(600);
      assert.deepEqual(seen, ["offline lostIP at 900", "online office 192.168.4.2 at 1500"]);
    });

    it("reports the state as no longer online inside onOffline", () => {
      let stateInside: string | undefined;
      let onlineInside: boolean | undefined;
      const r = rig([OFFICE], [OFFICE], {
        onOffline: () => {
          stateInside = r.manager.state;
          onlineInside = r.manager.online;
        },
      });
      r.manager.start();
      r.clock.advance(600);
      r.sim.loseIP();
      assert.equal(onlineInside, false);
      assert.equal(stateInside, WifiState.CONNECTING);
    });

    it("on disconnect: onOffline with the reason at once, the lost network first, then the rest, then backoff", () => {
      const { manager, clock, sim, seen, states } = online();
      const before = states.length;
      sim.dropLink();
      assert.deepEqual(seen, ["offline link_lost at 900"]);
      clock.advance(600); // office, then home: the radio hears nothing
      assert.deepEqual(
        states.slice(before).map((s) => `${s.state} ${s.ssid ?? ""}`.trim()),
        ["connecting office", "connecting home", "backoff"],
      );
      // The first failed round (the one before ended online): the first backoff step.
      assert.equal(states.at(-1)!.retryInMs, 1_999);
      sim.restore();
      clock.advance(1_999 + 300); // a normal round again: home (absent) first
      assert.equal(manager.ssid, "office");
      clock.advance(600);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(seen.slice(1), ["online office 192.168.4.2 at 4399"]);
    });

    it("a \"disconnect\" without reason while online is a lost link", () => {
      const fake = new FakeDriver();
      const { manager, seen } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      fake.emit("gotIP");
      fake.emit("disconnect");
      assert.deepEqual(seen, ["online a 10.0.0.7 at 0", "offline link_lost at 0"]);
      assert.deepEqual(fake.calls, ["connect a", "connect a"]);
    });

    it("after lostIP it leaves the network before joining again (a fresh association runs DHCP again)", () => {
      const fake = new FakeDriver();
      const { manager } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      fake.emit("gotIP");
      fake.emit("lostIP");
      assert.equal(manager.state, WifiState.CONNECTING);
      assert.deepEqual(fake.calls, ["connect a", "disconnect", "connect a"]);
    });
  });

  describe("stop()", () => {
    const cases: Array<[string, (r: ReturnType<typeof rig>) => void]> = [
      ["connecting", () => {}],
      ["associated", (r) => r.clock.advance(300)],
      ["online", (r) => r.clock.advance(600)],
      ["backoff", (r) => { r.sim.removeAccessPoint("home"); r.clock.advance(300); }],
    ];
    for (const [state, reach] of cases) {
      it(`from ${state}: disconnects, clears every timer, ends STOPPED`, () => {
        const r = rig([HOME], [HOME]);
        r.manager.start();
        reach(r);
        assert.equal(r.manager.state, state);
        r.manager.stop();
        assert.equal(r.manager.state, WifiState.STOPPED);
        assert.equal(r.manager.online, false);
        assert.equal(r.manager.ssid, undefined);
        assert.equal(r.sim.state, "idle");
        assert.equal(r.clock.size, 0, "no timer left, neither the manager's nor the driver's");
        assert.equal(r.events("wifi_state").at(-1)!.fields.state, "stopped");
      });
    }

    it("acts on no notification that arrives later", () => {
      const fake = new FakeDriver();
      const { manager, seen, states, clock } = rig([], [{ ssid: "a", password: "" }], {}, fake);
      manager.start();
      const late = fake.onNotify!;
      manager.stop();
      assert.equal(fake.onNotify, undefined, "the manager unhooked itself");
      const count = states.length;
      late("connect");
      late("gotIP");
      late("disconnect", "wrong_password");
      assert.equal(manager.state, WifiState.STOPPED);
      assert.equal(states.length, count);
      assert.deepEqual(seen, []);
      assert.equal(manager.failures.size, 0);
      assert.equal(clock.size, 0);
      assert.deepEqual(fake.calls, ["connect a", "disconnect"]);
    });

    it("does not call onOffline (the caller is the one taking the network down)", () => {
      const { manager, clock, seen } = rig([HOME], [HOME]);
      manager.start();
      clock.advance(600);
      manager.stop();
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600"]);
    });

    it("is harmless twice and before start(), and start() runs again afterwards", () => {
      const { manager, clock, seen, sim } = rig([HOME], [HOME]);
      manager.stop();
      manager.stop();
      assert.equal(manager.state, WifiState.STOPPED);
      assert.equal(sim.connectCount, 0);
      manager.start();
      clock.advance(600);
      assert.deepEqual(seen, ["online home 192.168.4.2 at 600"]);
    });

    it("may be called from the application's callbacks", () => {
      const r = rig([HOME], [HOME], { onOnline: () => r.manager.stop() });
      r.manager.start();
      r.clock.advance(600);
      assert.equal(r.manager.state, WifiState.STOPPED);
      assert.equal(r.clock.size, 0);
      const r2 = rig([HOME], [HOME], { onOffline: () => r2.manager.stop() });
      r2.manager.start();
      r2.clock.advance(600);
      r2.sim.dropLink();
      assert.equal(r2.manager.state, WifiState.STOPPED);
      assert.equal(r2.sim.connectCount, 1, "no reconnect after a stop from onOffline");
      assert.equal(r2.clock.size, 0);
    });
  });

  describe("robustness", () => {
    it("logs an application callback that throws and carries on", () => {
      const { manager, clock, events } = rig([HOME], [HOME], {
        onState: () => {
          throw new Error("app bug");
        },
        onOnline: () => {
          throw new Error("app bug");
        },
      });
      manager.start();
      clock.advance(600);
      assert.equal(manager.state, WifiState.ONLINE);
      assert.deepEqual(
        events("wifi_callback_error").map((r) => r.fields.callback),
        ["onState", "onState", "onState", "onOnline"],
      );
    });

    it("survives a driver whose connect() throws: the attempt times out", () => {
      const fake = new FakeDriver();
      fake.connect = () => {
        throw new Error("esp_wifi_connect failed");
      };
      const { manager, clock, events } = rig([], [{ ssid: "a", password: "" }], { attemptTimeoutMs: 1_000, random: zeroRandom }, fake);
      manager.start();
      assert.equal(events("wifi_driver_error").length, 1);
      clock.advance(1_000);
      assert.equal(manager.state, WifiState.BACKOFF);
      assert.equal(manager.failures.get("a"), "timeout");
    });

    it("stays bounded over a long outage: one timer, one failure per network", () => {
      const { manager, clock, sim } = rig([], [{ ssid: "a", password: "" }, { ssid: "b", password: "" }]);
      manager.start();
      for (let hour = 0; hour < 24; hour++) {
        clock.advance(3_600_000);
        assert.ok(clock.size <= 2, `timers pending: ${clock.size}`); // the manager's one, the driver's one
        assert.equal(manager.failures.size, 2);
      }
      // With the 120 s cap, a day holds at least 24 h / (120 s + 0.6 s) rounds, each two attempts.
      assert.ok(sim.connectCount > 1_400, `attempts in a day: ${sim.connectCount}`);
      assert.ok(sim.connectCount < 2 * 86_400_000 / DEFAULT_WIFI_BACKOFF.minMs);
    });
  });

  describe("credentials in logs", () => {
    it("never writes a password in any log line, whatever happens", () => {
      const passwords = ["home-secret-1", "office-secret-2", "cafe-secret-3"];
      const fake = { ssid: "cafe", password: passwords[2]! };
      const { manager, clock, sim, lines } = rig(
        [HOME, OFFICE],
        [{ ssid: "home", password: "wrong-secret-4" }, fake, OFFICE],
        { attemptTimeoutMs: 1_000, stableMs: 1_000 },
      );
      manager.start();
      clock.advance(2_000);
      sim.loseIP();
      clock.advance(5_000);
      sim.restore();
      clock.advance(200_000);
      sim.dropLink();
      clock.advance(10_000);
      sim.restore();
      clock.advance(200_000);
      manager.stop();
      const storage = new MemoryStorage();
      saveNetwork(storage, { ssid: "saved", password: "saved-secret-5" });
      storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, '[{"ssid":"x","password":7},"bad"]');
      const log = createJsonLog({ write: (line: string) => lines.push(line) }, "debug");
      loadNetworks({ ssid: "y".repeat(40), password: "config-secret-6" }, storage, log);
      loadNetworks({ ssid: "home", password: "config-secret-7" }, storage, log);
      assert.ok(lines.length > 20, "the scenario produced a real log");
      for (const secret of [...passwords, "wrong-secret-4", "saved-secret-5", "config-secret-6", "config-secret-7", "secret"]) {
        const leaked = lines.filter((line) => line.includes(secret));
        assert.deepEqual(leaked, [], `a log line holds ${secret}`);
      }
      // Each line is one JSON object, as a serial monitor shows it.
      for (const line of lines) assert.equal(typeof JSON.parse(line), "object");
    });
  });
});

describe("loadNetworks", () => {
  const silent: Log = () => {};
  const capture = () => {
    const records: LogRecord[] = [];
    const log: Log = (level, event, fields) => records.push({ level, event, fields: fields ?? {} });
    return { records, log };
  };
  const stored = (value: string): Storage => {
    const storage = new MemoryStorage();
    storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, value);
    return storage;
  };

  it("puts the build config's network first, then the saved ones, skipping a saved duplicate", () => {
    const storage = stored(JSON.stringify([{ ssid: "b", password: "2" }, { ssid: "a", password: "old" }, { ssid: "c", password: "3" }]));
    assert.deepEqual(loadNetworks({ ssid: "a", password: "1" }, storage, silent), [
      { ssid: "a", password: "1" },
      { ssid: "b", password: "2" },
      { ssid: "c", password: "3" },
    ]);
  });

  it("takes mcconfig's strings as they come: no ssid or an empty one means none, no password means open", () => {
    const storage = new MemoryStorage();
    assert.deepEqual(loadNetworks({}, storage), []);
    assert.deepEqual(loadNetworks({ ssid: "", password: "x" }, storage), []);
    assert.deepEqual(loadNetworks({ ssid: "open" }, storage), [{ ssid: "open", password: "" }]);
    assert.deepEqual(loadNetworks({ ssid: "open", password: "" }, storage), [{ ssid: "open", password: "" }]);
  });

  it("skips a config network that cannot be joined, with a log line", () => {
    const { records, log } = capture();
    assert.deepEqual(loadNetworks({ ssid: "s".repeat(33), password: "x" }, new MemoryStorage(), log), []);
    assert.deepEqual(loadNetworks({ ssid: "s", password: "p".repeat(65) }, new MemoryStorage(), log), []);
    assert.deepEqual(loadNetworks({ ssid: 42 as unknown as string }, new MemoryStorage(), log), []);
    assert.deepEqual(records.filter((r) => r.event === "wifi_config_invalid").map((r) => r.fields.problem), [
      "the ssid is 33 bytes (at most 32)",
      "the password is 65 bytes (at most 64)",
      "the ssid must be a non-empty string",
    ]);
  });

  it("ignores corrupt storage with a log line, never throws", () => {
    for (const [text, problem] of [
      ["{not json", "not JSON"],
      ['{"ssid":"a"}', "not an array"],
      ["null", "not an array"],
    ] as const) {
      const { records, log } = capture();
      assert.deepEqual(loadNetworks({ ssid: "cfg", password: "" }, stored(text), log), [{ ssid: "cfg", password: "" }]);
      assert.deepEqual(records.filter((r) => r.event === "wifi_saved_networks_corrupt").map((r) => [r.level, r.fields.problem]), [["warn", problem]]);
    }
  });

  it("skips entries of the wrong shape, counted in one log line", () => {
    const { records, log } = capture();
    const text = JSON.stringify([
      "home",
      null,
      [1],
      { ssid: "" },
      { ssid: 5, password: "x" },
      { ssid: "ok", password: 5 },
      { ssid: "ok", password: "pw" },
      { ssid: "open" },
    ]);
    assert.deepEqual(loadNetworks({}, stored(text), log), [
      { ssid: "ok", password: "pw" },
      { ssid: "open", password: "" },
    ]);
    assert.deepEqual(records.filter((r) => r.event === "wifi_saved_networks_invalid").map((r) => r.fields.skipped), [6]);
  });

  it("takes at most MAX_SAVED_NETWORKS saved networks", () => {
    const many = Array.from({ length: 9 }, (_, i) => ({ ssid: `n${i}`, password: "" }));
    const networks = loadNetworks({ ssid: "cfg" }, stored(JSON.stringify(many)), silent);
    assert.equal(networks.length, 1 + MAX_SAVED_NETWORKS);
    assert.deepEqual(networks.map((n) => n.ssid), ["cfg", "n0", "n1", "n2", "n3", "n4"]);
  });

  it("survives a storage that throws on read", () => {
    const { records, log } = capture();
    const broken: Storage = {
      get: () => {
        throw new Error("nvs get fail");
      },
      set: () => {},
      delete: () => {},
    };
    assert.deepEqual(loadNetworks({ ssid: "cfg" }, broken, log), [{ ssid: "cfg", password: "" }]);
    assert.equal(records.filter((r) => r.event === "wifi_saved_networks_unreadable").length, 1);
  });

  it("logs which networks it will try (SSIDs only)", () => {
    const { records, log } = capture();
    loadNetworks({ ssid: "cfg", password: "pw" }, new MemoryStorage(), log);
    assert.deepEqual(records.find((r) => r.event === "wifi_networks")!.fields, { count: 1, ssids: ["cfg"] });
  });
});

describe("saveNetwork", () => {
  const saved = (storage: Storage) => JSON.parse(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key)!) as WifiNetwork[];

  it("stores a JSON array under WIFI_STORAGE, newest first, read back by loadNetworks", () => {
    const storage = new MemoryStorage();
    saveNetwork(storage, { ssid: "a", password: "1" });
    saveNetwork(storage, { ssid: "b", password: "2" });
    assert.deepEqual(saved(storage), [{ ssid: "b", password: "2" }, { ssid: "a", password: "1" }]);
    assert.deepEqual(loadNetworks({}, storage).map((n) => n.ssid), ["b", "a"]);
  });

  it("replaces a network of the same SSID and moves it to the front", () => {
    const storage = new MemoryStorage();
    for (const ssid of ["a", "b", "c"]) saveNetwork(storage, { ssid, password: "old" });
    saveNetwork(storage, { ssid: "a", password: "new" });
    assert.deepEqual(saved(storage), [
      { ssid: "a", password: "new" },
      { ssid: "c", password: "old" },
      { ssid: "b", password: "old" },
    ]);
  });

  it("keeps at most MAX_SAVED_NETWORKS, dropping the oldest", () => {
    const storage = new MemoryStorage();
    for (let i = 0; i < 8; i++) saveNetwork(storage, { ssid: `n${i}`, password: "" });
    assert.deepEqual(saved(storage).map((n) => n.ssid), ["n7", "n6", "n5", "n4", "n3"]);
  });

  it("fits NVS even at the worst case: five networks of the longest, most escaped credentials", () => {
    const storage = new MemoryStorage(); // enforces the ESP32's 4000-byte value limit
    for (let i = 0; i < MAX_SAVED_NETWORKS; i++) {
      saveNetwork(storage, { ssid: String(i) + "\u0001".repeat(31), password: "\u0000\u001f\"\\".repeat(16) });
    }
    assert.equal(saved(storage).length, MAX_SAVED_NETWORKS);
  });

  it("replaces corrupt stored content", () => {
    const storage = new MemoryStorage();
    storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, "{oops");
    saveNetwork(storage, { ssid: "a", password: "1" });
    assert.deepEqual(saved(storage), [{ ssid: "a", password: "1" }]);
  });

  it("refuses a network that cannot be joined, without quoting the password", () => {
    const storage = new MemoryStorage();
    const refuses = (network: unknown, pattern: RegExp) =>
      assert.throws(() => saveNetwork(storage, network as WifiNetwork), (error: Error & { code?: string }) => {
        assert.equal(error.code, "ERR_INVALID_ARGUMENT");
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("hunter2"));
        return true;
      });
    refuses({ ssid: "", password: "hunter2" }, /ssid must be a non-empty string/);
    refuses({ ssid: "x".repeat(33), password: "hunter2" }, /ssid is 33 bytes/);
    refuses({ ssid: "a", password: "hunter2".repeat(10) }, /password is 70 bytes \(at most 64\)/);
    refuses({ ssid: "a" }, /password must be a string/);
    refuses(null, /must be an object/);
    assert.equal(storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key), undefined);
  });
});
