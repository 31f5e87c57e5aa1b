/**
 * The provisioning core (src/provisioning/provisioner.ts) on a virtual clock: a real WiFi
 * manager over the simulated WiFi, memory storage (NVS's limits), and a server link the
 * test plays (it says when a connection opens). What a user or a server gives is checked
 * first, tried, kept only once it proved itself, put back when it did not; each outcome is
 * reported once; a factory reset erases what was kept.
 */
import assert from "node:assert/strict";
import { loadNetworks, WifiManager } from "../../src/device/wifi.js";
import { SERVER_STORAGE, loadProvisioned, Provisioner, type ProvisionOutcome } from "../../src/provisioning/provisioner.js";
import { ProvisionError } from "../../src/shared/errors.js";
import type { Log, WifiNetwork } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { PlayedLink } from "../support/played-link.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { seededRandom } from "../support/wifi-rig.js";

const BUILD_URL = "ws://10.0.0.1:8080/";
const NEW_URL = "ws://10.0.0.9:9000/";
const HOME = { ssid: "home", password: "home-secret-1" };
const CAFE = { ssid: "cafe", password: "cafe-secret-22" };

function rig(options: { networks?: WifiNetwork[]; build?: WifiNetwork; accessPoints?: WifiNetwork[] } = {}) {
  const clock = new VirtualClock();
  const storage = new MemoryStorage();
  const logs: Array<{ event: string; fields: Record<string, unknown> }> = [];
  const log: Log = (_level, event, fields) => logs.push({ event, fields: fields ?? {} });
  const sim = new SimWifi({ timers: clock, accessPoints: options.accessPoints ?? [HOME, CAFE] });
  const link = new PlayedLink(BUILD_URL);
  const wifi = new WifiManager({
    driver: sim,
    timers: clock,
    random: seededRandom(7),
    networks: options.networks ?? [],
    // The link is up while WiFi is, and opens when the test says so.
    onOffline: () => {
      link.open = false;
    },
  });
  const core = new Provisioner({
    storage,
    timers: clock,
    log,
    link,
    wifi,
    build: { network: options.build, url: BUILD_URL, deviceId: "dev-1" },
    deviceId: "dev-1",
    serverTrialMs: 5_000,
  });
  const outcomes: ProvisionOutcome[] = [];
  const joined: string[] = [];
  const listener = { onOutcome: (o: ProvisionOutcome) => outcomes.push(o), onJoined: (ssid: string) => joined.push(ssid) };
  /** The server accepts a connection now. */
  const serverOpens = (): void => {
    link.open = true;
    core.linkOpened();
  };
  return { clock, storage, logs, sim, link, wifi, core, outcomes, joined, listener, serverOpens };
}

function fieldOf(thrown: () => void): { field: string; code: string; message: string } {
  try {
    thrown();
  } catch (error) {
    assert.ok(error instanceof ProvisionError, String(error));
    return { field: error.field, code: error.code, message: error.message };
  }
  assert.fail("expected a ProvisionError");
}

describe("Provisioner", () => {
  describe("checks what it is given, before anything changes", () => {
    it("names the field at fault", () => {
      const { core } = rig();
      assert.equal(fieldOf(() => core.check({ network: { ssid: "", password: "" } })).field, "ssid");
      assert.equal(fieldOf(() => core.check({ network: { ssid: "x".repeat(33), password: "" } })).field, "ssid");
      assert.equal(fieldOf(() => core.check({ network: { ssid: "a", password: "short" } })).field, "password");
      assert.equal(fieldOf(() => core.check({ network: { ssid: "a", password: "g".repeat(64) } })).field, "password");
      assert.equal(fieldOf(() => core.check({ url: "http://x/" })).field, "url");
      assert.equal(fieldOf(() => core.check({ url: "ws://" + "a".repeat(600) })).field, "url");
      assert.equal(fieldOf(() => core.check({ deviceId: "two words" })).field, "name");
    });

    it("never quotes a password", () => {
      const { core } = rig();
      const { message } = fieldOf(() => core.check({ network: { ssid: "a", password: "SECRETpw".repeat(9) } }));
      assert.ok(!message.includes("SECRET"), message);
    });

    it("keeps only what would change; an open network and a 64-hex-digit key are fine", () => {
      const { core } = rig();
      assert.deepEqual(core.check({ url: BUILD_URL, deviceId: "dev-1" }), {});
      assert.deepEqual(core.check({ network: { ssid: "open", password: "" } }), { network: { ssid: "open", password: "" } });
      core.check({ network: { ssid: "psk", password: "ab".repeat(32) } });
    });

    it("a refused apply() changes nothing and reports nothing", () => {
      const { core, link, outcomes, listener } = rig();
      assert.throws(() => core.apply({ network: HOME, url: "ftp://x/" }, "portal", listener), ProvisionError);
      assert.equal(core.state, "idle");
      assert.deepEqual(link.urls, []);
      assert.deepEqual(outcomes, []);
    });
  });

  describe("tries, then keeps what proved itself", () => {
    it("a network, then the server: joined, saved, reached, reported online", () => {
      const { core, clock, storage, outcomes, joined, listener, serverOpens, wifi } = rig();
      wifi.start();
      core.apply({ network: HOME, url: BUILD_URL, deviceId: "kitchen" }, "portal", listener);
      assert.equal(core.state, "joining");
      assert.deepEqual(core.trying, { ssid: "home", deviceId: "kitchen" });
      assert.deepEqual(loadNetworks({}, storage), [], "nothing saved before it proved itself");
      clock.advance(600);
      assert.deepEqual(joined, ["home"]);
      assert.deepEqual(loadNetworks({}, storage), [HOME], "the network proved itself: saved");
      assert.equal(core.state, "connecting");
      assert.deepEqual(loadProvisioned(storage), {}, "the name is not saved before the server answers");
      serverOpens();
      assert.equal(outcomes.length, 1);
      assert.equal(outcomes[0]!.result, "online");
      assert.equal(outcomes[0]!.source, "portal");
      assert.match(outcomes[0]!.message, /Joined "home" and reached the server at ws:\/\/10\.0\.0\.1:8080\//);
      assert.deepEqual(loadProvisioned(storage), { deviceId: "kitchen" });
      assert.equal(core.name, "kitchen");
      assert.equal(core.last, outcomes[0]);
    });

    it("a wrong password: reported, nothing saved, the old name and URL untouched", () => {
      const { core, clock, storage, outcomes, link, listener } = rig();
      core.apply({ network: { ssid: "home", password: "not-the-password" }, url: NEW_URL }, "portal", listener);
      clock.advance(300);
      assert.deepEqual(outcomes.map((o) => [o.result, o.ssid]), [["wrong_password", "home"]]);
      assert.match(outcomes[0]!.message, /"home" refused the password/);
      assert.deepEqual(loadNetworks({}, storage), []);
      assert.equal(link.url, BUILD_URL, "the server was never tried");
      assert.equal(core.state, "idle");
    });

    it("a network not in range: ap_not_found, said in words", () => {
      const { core, clock, outcomes, listener } = rig();
      core.apply({ network: { ssid: "elsewhere", password: "" } }, "portal", listener);
      clock.advance(300);
      assert.equal(outcomes[0]!.result, "ap_not_found");
      assert.match(outcomes[0]!.message, /No network named "elsewhere" answered/);
    });

    it("a server that does not answer within serverTrialMs: the old URL and name come back; the network stays", () => {
      const { core, clock, storage, outcomes, link, listener } = rig();
      core.apply({ network: HOME, url: NEW_URL, deviceId: "kitchen" }, "portal", listener);
      clock.advance(600);
      assert.equal(link.url, NEW_URL, "trying the new server");
      assert.deepEqual(link.names, ["kitchen"]);
      core.linkClosed("could not connect to 10.0.0.9:9000: connection refused");
      clock.advance(4_999);
      assert.equal(outcomes.length, 0);
      clock.advance(1);
      assert.equal(outcomes[0]!.result, "server_unreachable");
      assert.equal(outcomes[0]!.detail, "could not connect to 10.0.0.9:9000: connection refused");
      assert.match(outcomes[0]!.message, /Joined "home", but the server at ws:\/\/10\.0\.0\.9:9000\/ did not answer: could not connect/);
      assert.equal(link.url, BUILD_URL, "the old URL is back");
      assert.deepEqual(link.names, ["kitchen", "dev-1"], "and the old name");
      assert.equal(core.name, "dev-1");
      assert.deepEqual(loadProvisioned(storage), {}, "neither was saved");
      assert.deepEqual(loadNetworks({}, storage), [HOME], "the network that worked is kept");
    });

    it("without WiFi, a server trial says so", () => {
      const { core, clock, outcomes, listener } = rig();
      core.apply({ url: NEW_URL }, "server", listener);
      clock.advance(5_000);
      assert.equal(outcomes[0]!.detail, "the device has no WiFi link");
    });

    it("the same server with a new name: reconnects so the hello carries it", () => {
      const { core, link, outcomes, listener, serverOpens, storage } = rig();
      link.open = true;
      core.apply({ deviceId: "porch" }, "server", listener);
      assert.deepEqual(link.urls, [BUILD_URL], "reconnected to the same URL");
      serverOpens();
      assert.equal(outcomes[0]!.result, "online");
      assert.deepEqual(loadProvisioned(storage), { deviceId: "porch" });
    });

    it("nothing new while connected: online at once", () => {
      const { core, link, outcomes, listener } = rig();
      link.open = true;
      core.apply({ url: BUILD_URL }, "portal", listener);
      assert.equal(outcomes[0]!.result, "online");
    });

    it("a newer apply() supersedes one under way, which reports superseded and puts its changes back", () => {
      const { core, clock, outcomes, link } = rig();
      const first: ProvisionOutcome[] = [];
      core.apply({ url: NEW_URL, deviceId: "one" }, "server", { onOutcome: (o) => first.push(o) });
      core.apply({ network: CAFE }, "portal", { onOutcome: (o) => outcomes.push(o) });
      assert.deepEqual(first.map((o) => o.result), ["superseded"]);
      assert.equal(link.url, BUILD_URL);
      assert.equal(core.name, "dev-1");
      clock.advance(600);
      assert.equal(core.state, "connecting");
    });

    it("a listener that throws is logged; the core carries on", () => {
      const { core, clock, logs } = rig();
      core.apply({ network: { ssid: "nowhere", password: "" } }, "portal", {
        onOutcome: () => {
          throw new Error("listener bug");
        },
      });
      clock.advance(300);
      assert.equal(core.state, "idle");
      assert.ok(logs.some((l) => l.event === "provision_listener_failed"));
    });
  });

  describe("saved networks", () => {
    it("lists the build's and the saved ones, marks the one in use, never a password", () => {
      const { core, clock, wifi } = rig({ networks: [HOME], build: HOME });
      wifi.start();
      clock.advance(600);
      core.saveNetwork(CAFE);
      assert.deepEqual(core.networks(), [
        { ssid: "home", source: "build", inUse: true },
        { ssid: "cafe", source: "saved", inUse: false },
      ]);
      assert.ok(!JSON.stringify(core.networks()).includes("secret"));
      assert.deepEqual(wifi.list.map((n) => n.ssid), ["home", "cafe"], "the manager tries it when home fails");
    });

    it("forgets a saved network; refuses the build's, the one in use, and an unknown one", () => {
      const { core, clock, wifi, storage } = rig({ accessPoints: [HOME, CAFE] });
      core.apply({ network: CAFE }, "portal");
      clock.advance(600);
      core.saveNetwork(HOME);
      assert.equal(fieldOf(() => core.forgetNetwork("cafe")).code, "in_use");
      assert.equal(fieldOf(() => core.forgetNetwork("nope")).code, "not_found");
      core.forgetNetwork("home");
      assert.deepEqual(loadNetworks({}, storage).map((n) => n.ssid), ["cafe"]);
      assert.deepEqual(wifi.list.map((n) => n.ssid), ["cafe"]);
      const build = rig({ networks: [HOME], build: HOME });
      assert.equal(fieldOf(() => build.core.forgetNetwork("home")).code, "read_only");
    });
  });

  describe("factory reset", () => {
    it("erases what was kept, ends a trial (cancelled), and goes back to the build's settings", () => {
      const { core, clock, storage, link, wifi, outcomes, listener } = rig({ build: undefined });
      core.apply({ network: HOME, deviceId: "kitchen", url: NEW_URL }, "portal");
      clock.advance(600);
      core.linkOpened();
      storage.set("settings", "values", '{"telemetryIntervalMs":5000}');
      core.apply({ network: CAFE }, "server", listener);
      core.factoryReset("server");
      assert.deepEqual(outcomes.map((o) => o.result), ["cancelled"]);
      assert.equal(storage.get("wifi", "networks"), undefined);
      assert.equal(storage.get(SERVER_STORAGE.domain, SERVER_STORAGE.key), undefined);
      assert.equal(storage.get("settings", "values"), undefined);
      assert.equal(link.url, BUILD_URL);
      assert.equal(core.name, "dev-1");
      assert.deepEqual(wifi.list, []);
      assert.equal(core.last, undefined);
      clock.advance(60_000);
      assert.equal(wifi.state, "idle", "nothing to try: the portal's cue");
    });
  });

  describe("loadProvisioned", () => {
    it("reads what was kept, and skips what does not fit", () => {
      const storage = new MemoryStorage();
      assert.deepEqual(loadProvisioned(storage), {});
      storage.set(SERVER_STORAGE.domain, SERVER_STORAGE.key, JSON.stringify({ url: NEW_URL, deviceId: "ok-name" }));
      assert.deepEqual(loadProvisioned(storage), { url: NEW_URL, deviceId: "ok-name" });
      storage.set(SERVER_STORAGE.domain, SERVER_STORAGE.key, JSON.stringify({ url: 5, deviceId: "bad name" }));
      assert.deepEqual(loadProvisioned(storage), {});
      storage.set(SERVER_STORAGE.domain, SERVER_STORAGE.key, "{not json");
      const events: string[] = [];
      assert.deepEqual(loadProvisioned(storage, (_l, event) => events.push(event)), {});
      assert.deepEqual(events, ["provision_corrupt"]);
    });
  });
});
