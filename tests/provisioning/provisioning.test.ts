/**
 * When the portal opens and closes (src/provisioning/provisioning.ts), on a virtual clock
 * with the simulated WiFi: at once with no network to try; after portalTimeoutMs of every
 * network failing, not before; never while online; closed closeDelayMs after the device
 * reached its server. Also the access point's name, hello's and status's fields, and the
 * factory-reset button (src/provisioning/factory-reset.ts).
 */
import assert from "node:assert/strict";
import { parseDeviceConfig } from "../../src/device/config.js";
import { WifiManager, WifiState } from "../../src/device/wifi.js";
import { FactoryResetButton } from "../../src/provisioning/factory-reset.js";
import { accessPointName, Provisioning } from "../../src/provisioning/provisioning.js";
import type { DeviceHost, TcpListener, TcpListenerOptions, WifiNetwork } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { PlayedLink } from "../support/played-link.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { seededRandom } from "../support/wifi-rig.js";

class IdleListener implements TcpListener {
  constructor(readonly options: TcpListenerOptions) {}
  get port(): number {
    return this.options.port;
  }
  accept(): undefined {
    return undefined;
  }
  close(): void {}
}

const HOME = { ssid: "home", password: "home-secret-1" };

function rig(networks: WifiNetwork[], extra: Record<string, unknown> = {}) {
  const clock = new VirtualClock();
  const sim = new SimWifi({ timers: clock, accessPoints: [HOME] });
  const events: string[] = [];
  let pressed = false;
  const host = {
    tcp: class {} as never,
    timers: clock,
    random: seededRandom(1),
    log: (_level: string, event: string) => void events.push(event),
    wifi: sim,
    storage: new MemoryStorage(),
    listener: IdleListener,
    factoryResetButton: () => pressed,
  } as DeviceHost;
  const config = parseDeviceConfig({ url: "ws://10.0.0.1:8080/", deviceId: "dev-1", portalPort: 8081, dnsPort: 0, portalTimeoutMs: 10_000, ...extra });
  let provisioning: Provisioning | undefined;
  const wifi = new WifiManager({
    driver: sim,
    timers: clock,
    random: seededRandom(2),
    networks,
    onState: (state) => provisioning?.wifiChanged(state),
  });
  provisioning = new Provisioning({
    host,
    config,
    wifi,
    link: new PlayedLink(config.url),
    deviceId: "dev-1",
    buildNetwork: undefined,
    closeDelayMs: 3_000,
  });
  const press = (down: boolean): void => {
    pressed = down;
  };
  return { clock, sim, wifi, provisioning, events, host, press };
}

describe("when the portal opens and closes", () => {
  it("opens at once when there is no network to try, with the access point moorline-XXXX", () => {
    const { provisioning, wifi, sim } = rig([]);
    provisioning.start();
    wifi.start();
    assert.equal(provisioning.portal!.isOpen, true);
    assert.deepEqual(sim.accessPoint, { ssid: "moorline-726C", password: "" });
  });

  it("opens after portalTimeoutMs of every network failing, not before; the station keeps trying", () => {
    const { provisioning, wifi, clock, sim } = rig([{ ssid: "home", password: "changed-password" }]);
    provisioning.start();
    wifi.start();
    clock.advance(9_999);
    assert.equal(provisioning.portal!.isOpen, false);
    clock.advance(1);
    assert.equal(provisioning.portal!.isOpen, true);
    const attempts = sim.connectCount;
    clock.advance(120_000);
    assert.ok(sim.connectCount > attempts, "the known networks are still tried behind the portal");
  });

  it("after a power cut, a saved network that comes back takes the device online and closes the portal by itself", () => {
    const { provisioning, wifi, clock, sim } = rig([HOME]);
    sim.dropLink(); // the router is still booting when the device comes back
    provisioning.start();
    wifi.start();
    clock.advance(10_000);
    assert.equal(provisioning.portal!.isOpen, true);
    sim.restore();
    clock.advance(121_000); // at most one backoff round (120 s) and an attempt
    assert.equal(wifi.state, WifiState.ONLINE);
    provisioning.linkOpened(); // the server accepts the device
    clock.advance(3_000);
    assert.equal(provisioning.portal!.isOpen, false);
  });

  it("never opens while WiFi is online, and the clock starts again when the link goes", () => {
    const { provisioning, wifi, clock, sim } = rig([HOME]);
    provisioning.start();
    wifi.start();
    clock.advance(600);
    assert.equal(wifi.state, WifiState.ONLINE);
    clock.advance(60_000);
    assert.equal(provisioning.portal!.isOpen, false);
    sim.dropLink();
    clock.advance(9_999);
    assert.equal(provisioning.portal!.isOpen, false);
    clock.advance(1);
    assert.equal(provisioning.portal!.isOpen, true);
  });

  /** Started with nothing to try, set up through the portal, online: the portal's close is pending. */
  function provisioned() {
    const r = rig([]);
    r.provisioning.start();
    r.wifi.start();
    r.provisioning.core.apply({ network: HOME }, "portal");
    r.clock.advance(600);
    r.provisioning.linkOpened();
    return r;
  }

  it("closes closeDelayMs after the device reached its server (the page says done meanwhile)", () => {
    const { provisioning, clock, sim } = provisioned();
    assert.equal(provisioning.portal!.isOpen, true);
    clock.advance(2_999);
    assert.equal(provisioning.portal!.isOpen, true);
    clock.advance(1);
    assert.equal(provisioning.portal!.isOpen, false);
    assert.equal(sim.accessPoint, undefined, "the access point is closed");
  });

  it("stays open when the device goes offline before it closed", () => {
    const { provisioning, clock, sim } = provisioned();
    sim.dropLink();
    clock.advance(60_000);
    assert.equal(provisioning.portal!.isOpen, true);
  });

  it("reopens at once after a factory reset leaves nothing to try", () => {
    const { provisioning, clock } = provisioned();
    clock.advance(3_000);
    assert.equal(provisioning.portal!.isOpen, false);
    provisioning.core.factoryReset("server");
    assert.equal(provisioning.portal!.isOpen, true);
  });

  it("there is no portal without a listener, an access point, or a port", () => {
    const noPort = rig([], { portalPort: 0 });
    assert.equal(noPort.provisioning.portal, undefined);
  });

  it("stop() closes it and leaves no timer", () => {
    const { provisioning, wifi, clock } = rig([HOME]);
    provisioning.start();
    provisioning.stop();
    wifi.stop();
    assert.equal(clock.size, 0);
  });

  it("status says where the page is and how the last settings went; hello only once there is an outcome", () => {
    const { provisioning, wifi, clock } = rig([]);
    provisioning.start();
    wifi.start();
    assert.deepEqual(provisioning.report("hello"), {});
    provisioning.core.apply({ network: { ssid: "home", password: "wrong-password" } }, "portal");
    clock.advance(300);
    assert.deepEqual(provisioning.report("status"), {
      provisioning: { state: "idle", portal: { url: "http://127.0.0.1:8081/" }, last: { result: "wrong_password", source: "portal", ssid: "home" } },
    });
    assert.deepEqual(provisioning.report("hello"), { provisioning: { last: { result: "wrong_password", source: "portal", ssid: "home" } } });
  });
});

describe("accessPointName", () => {
  it("takes the last two bytes of the MAC, upper case", () => {
    assert.equal(accessPointName("24:0a:c4:12:ab:cd", "x"), "moorline-ABCD");
    assert.equal(accessPointName("240AC412ABCD", "x"), "moorline-ABCD");
  });

  it("without a MAC, a stable hash of the device's name", () => {
    assert.equal(accessPointName(undefined, "mcsim"), accessPointName(undefined, "mcsim"));
    assert.notEqual(accessPointName(undefined, "mcsim"), accessPointName(undefined, "mcsim-2"));
    assert.match(accessPointName(undefined, "mcsim"), /^moorline-[0-9A-F]{4}$/);
  });
});

describe("the factory-reset button", () => {
  function button(windowMs = 3_000) {
    const clock = new VirtualClock();
    let pressed = false;
    const resets: number[] = [];
    const events: string[] = [];
    const watcher = new FactoryResetButton({
      pressed: () => pressed,
      timers: clock,
      holdMs: 5_000,
      windowMs,
      log: (_level, event) => void events.push(event),
      onReset: () => resets.push(clock.now()),
    });
    return { clock, watcher, resets, events, press: (down: boolean) => (pressed = down) };
  }

  it("a press that begins within the window and lasts holdMs resets", () => {
    const { clock, watcher, resets, events, press } = button();
    watcher.start();
    clock.advance(1_000);
    press(true);
    clock.advance(4_900);
    assert.deepEqual(resets, []);
    clock.advance(200);
    assert.equal(resets.length, 1);
    assert.ok(resets[0]! >= 6_000 && resets[0]! <= 6_100);
    assert.deepEqual(events, ["factory_reset_hold"]);
    assert.equal(clock.size, 0);
  });

  it("a press released early does nothing, and the button is not read again", () => {
    const { clock, watcher, resets, events, press } = button();
    watcher.start();
    press(true);
    clock.advance(2_000);
    press(false);
    clock.advance(200);
    press(true);
    clock.advance(60_000);
    assert.deepEqual(resets, []);
    assert.deepEqual(events, ["factory_reset_hold", "factory_reset_released"]);
  });

  it("no press within the window: nothing, ever after", () => {
    const { clock, watcher, resets, press } = button();
    watcher.start();
    clock.advance(3_100);
    assert.equal(clock.size, 0);
    press(true);
    clock.advance(60_000);
    assert.deepEqual(resets, []);
  });

  it("the device's button resets the device (the Provisioning wires it)", () => {
    const { provisioning, clock, press, events, wifi } = rig([], { factoryResetPin: 0, factoryResetHoldMs: 2_000 });
    press(true);
    provisioning.start();
    wifi.start();
    clock.advance(2_100);
    assert.ok(events.includes("factory_reset"));
  });
});
