/**
 * The captive portal's routes and pages (src/provisioning/portal.ts, pages.ts), answered
 * directly (the server under them is tested in http-server.test.ts): the captive-portal
 * probes of Android, iOS, Windows and Firefox redirected to the page; the form checked field
 * by field, every message on the page; hostile names escaped; posts from elsewhere refused;
 * the scan's list.
 */
import assert from "node:assert/strict";
import { WifiManager } from "../../src/device/wifi.js";
import type { HttpRequest } from "../../src/provisioning/http-request.js";
import { MAX_LISTED_NETWORKS, Portal, strongestFirst } from "../../src/provisioning/portal.js";
import { signalBars } from "../../src/provisioning/pages.js";
import { Provisioner } from "../../src/provisioning/provisioner.js";
import type { TcpListener, TcpListenerOptions } from "../../src/shared/host.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { SimWifi } from "../../hosts/node/sim-wifi.js";
import { PlayedLink } from "../support/played-link.js";
import { VirtualClock } from "../support/virtual-clock.js";
import { seededRandom } from "../support/wifi-rig.js";

/** A listener that accepts nothing: the routes are called directly. */
class IdleListener implements TcpListener {
  static last: IdleListener | undefined;
  closed = false;
  constructor(readonly options: TcpListenerOptions) {
    IdleListener.last = this;
  }
  get port(): number {
    return this.options.port;
  }
  accept(): undefined {
    return undefined;
  }
  close(): void {
    this.closed = true;
  }
}

const HOSTILE_SSID = `<img src=x onerror=alert(1)>"'&`;

function rig(port = 8081) {
  const clock = new VirtualClock();
  const logs: string[] = [];
  const log = (_level: string, event: string): void => void logs.push(event);
  const sim = new SimWifi({
    timers: clock,
    accessPoints: [
      { ssid: "home", password: "home-secret-1", rssi: -50 },
      { ssid: HOSTILE_SSID, password: "", rssi: -90 },
    ],
    accessPointAddress: "192.168.4.1",
  });
  const wifi = new WifiManager({ driver: sim, timers: clock, random: seededRandom(3), networks: [] });
  const link = new PlayedLink("ws://10.0.0.1:8080/");
  const provisioner = new Provisioner({
    storage: new MemoryStorage(),
    timers: clock,
    log,
    wifi,
    link,
    build: { network: undefined, url: link.url, deviceId: "dev-1" },
    deviceId: "dev-1",
  });
  const portal = new Portal({
    driver: sim,
    listener: IdleListener,
    timers: clock,
    log,
    provisioner,
    currentUrl: () => link.url,
    apName: () => "moorline-72AB",
    apPassword: "",
    httpPort: port,
    dnsPort: 0,
  });
  const authority = port === 80 ? "192.168.4.1" : `192.168.4.1:${port}`;
  const request = (method: string, path: string, options: Partial<HttpRequest> & { form?: string } = {}): HttpRequest => ({
    method,
    path,
    query: "",
    minorVersion: 1,
    host: authority,
    contentType: options.form !== undefined ? "application/x-www-form-urlencoded" : "",
    origin: "",
    body: new TextEncoder().encode(options.form ?? ""),
    ...options,
  });
  return { clock, sim, wifi, provisioner, portal, request, authority, logs };
}

describe("the captive portal", () => {
  it("opens the access point and its server, scans, and closes them all", () => {
    const { portal, sim, clock, logs } = rig();
    assert.equal(portal.open(), true);
    assert.deepEqual(sim.accessPoint, { ssid: "moorline-72AB", password: "" });
    assert.deepEqual(portal.address, { host: "192.168.4.1", port: 8081 });
    assert.equal(IdleListener.last!.options.address, "192.168.4.1");
    clock.advance(300);
    assert.ok(logs.includes("portal_scan"));
    portal.close();
    assert.equal(sim.accessPoint, undefined);
    assert.ok(IdleListener.last!.closed);
    assert.equal(portal.isOpen, false);
  });

  it("stays closed, saying why, when the radio refuses the access point", () => {
    const { portal, sim, logs } = rig();
    sim.startAccessPoint = () => {
      throw new Error("esp_wifi_set_mode failed");
    };
    assert.equal(portal.open(), false);
    assert.equal(portal.isOpen, false);
    assert.ok(logs.includes("portal_open_failed"));
  });

  describe("routes", () => {
    it("redirects the captive-portal probes of Android, iOS, Windows and Firefox to the page", () => {
      const { portal, request, authority } = rig();
      const probes: Array<[string, string]> = [
        ["connectivitycheck.gstatic.com", "/generate_204"],
        ["clients3.google.com", "/generate_204"],
        ["captive.apple.com", "/hotspot-detect.html"],
        ["www.apple.com", "/library/test/success.html"],
        ["www.msftconnecttest.com", "/connecttest.txt"],
        ["www.msftconnecttest.com", "/redirect"],
        ["www.msftncsi.com", "/ncsi.txt"],
        ["detectportal.firefox.com", "/canonical.html"],
      ];
      for (const [host, path] of probes) {
        const answer = portal.handle(request("GET", path, { host }));
        assert.equal(answer.status, 302, `${host}${path}`);
        assert.deepEqual(answer.headers, [["Location", `http://${authority}/`]]);
      }
      // Any other path of the portal's own address too.
      assert.equal(portal.handle(request("GET", "/generate_204")).status, 302);
      assert.equal(portal.handle(request("GET", "/favicon.ico")).status, 302);
    });

    it("serves the page at /, for HTTP/1.0 without Host too, and at any IP address with its port", () => {
      const { portal, request } = rig();
      assert.equal(portal.handle(request("GET", "/")).status, 200);
      assert.equal(portal.handle(request("GET", "/", { host: undefined, minorVersion: 0 })).status, 200);
      assert.equal(portal.handle(request("GET", "/", { host: "127.0.0.1:8081" })).status, 200);
      assert.equal(portal.handle(request("GET", "/", { host: "127.0.0.1:9999" })).status, 302, "another port is not the portal");
      assert.equal(portal.handle(request("GET", "/", { host: "127.0.0.1" })).status, 302);
      const form = "ssid=home&password=home-secret-1&url=ws%3A%2F%2F10.0.0.1%3A8080%2F&name=dev-1";
      assert.equal(portal.handle(request("POST", "/save", { form, host: "127.0.0.1:8081", origin: "http://127.0.0.1:8081" })).status, 303);
      assert.equal(portal.handle(request("POST", "/save", { form, host: "127.0.0.1:8081", origin: "http://192.168.4.1:8081" })).status, 403);
    });

    it("405 with Allow for other methods", () => {
      const { portal, request } = rig();
      const answer = portal.handle(request("DELETE", "/"));
      assert.equal(answer.status, 405);
      assert.deepEqual(answer.headers, [["Allow", "GET, HEAD, POST"]]);
    });

    it("refuses a post from another host or another origin (403), and to an unknown path (404)", () => {
      const { portal, request } = rig();
      const form = "ssid=home&password=home-secret-1&url=ws%3A%2F%2F10.0.0.1%3A8080%2F&name=dev-1";
      assert.equal(portal.handle(request("POST", "/save", { form, host: "evil.example" })).status, 403);
      assert.equal(portal.handle(request("POST", "/save", { form, origin: "http://evil.example" })).status, 403);
      assert.equal(portal.handle(request("POST", "/elsewhere", { form })).status, 404);
    });
  });

  describe("the page", () => {
    it("lists the networks heard, strongest first, escaping every name", () => {
      const { portal, request, clock } = rig();
      portal.open();
      clock.advance(300);
      const page = portal.handle(request("GET", "/")).body!;
      assert.ok(page.indexOf(">home<") < page.indexOf("&lt;img"), "strongest first");
      assert.ok(!page.includes("<img"), "no markup from the air");
      assert.ok(page.includes("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
      assert.ok(page.includes(`value="&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"`));
      assert.ok(!page.includes("<script"), "no script at all");
      assert.ok(Buffer.byteLength(page) < 4096, `small: ${Buffer.byteLength(page)} bytes`);
    });

    it("shows every mistake of a submission at once, next to its field, with what was typed (never the password)", () => {
      const { portal, request } = rig();
      const form = "ssid=&other=&password=TOPSECRETPW-short&url=http%3A%2F%2Fx%2F%3Cb%3E&name=two+words";
      const answer = portal.handle(request("POST", "/save", { form }));
      assert.equal(answer.status, 400);
      const page = answer.body!;
      assert.match(page, /id="ssid-error">Choose a network, or type the name of another one\./);
      assert.match(page, /id="url-error">[^<]*http:\/\/x\/&lt;b&gt;/);
      assert.match(page, /id="name-error">The device&#39;s name must be 1 to 64 letters/);
      assert.ok(page.includes(`value="http://x/&lt;b&gt;"`), "the URL as typed, escaped");
      assert.ok(!page.includes("TOPSECRETPW"));
      const password = portal.handle(request("POST", "/save", { form: "ssid=home&password=1234567&url=ws%3A%2F%2Fh%2F&name=a" })).body!;
      assert.match(password, /id="password-error">The password is too short: a WPA2 password has at least 8 characters/);
    });

    it("refuses a body that is not a form (415), and bad percent-encoding (400 with the form)", () => {
      const { portal, request } = rig();
      assert.equal(portal.handle(request("POST", "/save", { contentType: "text/plain", form: "x" })).status, 415);
      const answer = portal.handle(request("POST", "/save", { form: "ssid=home&password=%ZZ" }));
      assert.equal(answer.status, 400);
      assert.match(answer.body!, /The form could not be read: field &quot;password&quot; is not UTF-8/);
    });

    it("a good submission is tried (303 to /), the page says so and refreshes, then tells the outcome", () => {
      const { portal, request, clock } = rig();
      portal.open();
      clock.advance(300);
      const form = "ssid=home&password=wrong-password&url=ws%3A%2F%2F10.0.0.1%3A8080%2F&name=porch";
      const answer = portal.handle(request("POST", "/save", { form }));
      assert.equal(answer.status, 303);
      assert.deepEqual(answer.headers, [["Location", "/"]]);
      const trying = portal.handle(request("GET", "/")).body!;
      assert.match(trying, /Joining &quot;home&quot;/);
      assert.match(trying, /<meta http-equiv="refresh" content="2">/);
      clock.advance(300);
      const failed = portal.handle(request("GET", "/")).body!;
      assert.match(failed, /class="bad" role="status">&quot;home&quot; refused the password\./);
      assert.ok(failed.includes(`value="porch"`), "what was typed is kept");
      assert.ok(failed.includes(`value="home" checked`));
    });

    it("a hidden network typed under Other, shown there again with its outcome", () => {
      const { portal, request, provisioner, clock } = rig();
      portal.handle(request("POST", "/save", { form: "ssid=&other=hidden-net&password=&url=ws%3A%2F%2F10.0.0.1%3A8080%2F&name=dev-1" }));
      assert.deepEqual(provisioner.trying, { ssid: "hidden-net" });
      clock.advance(300);
      const page = portal.handle(request("GET", "/")).body!;
      assert.match(page, /No network named &quot;hidden-net&quot; answered/);
      assert.match(page, /value="" checked>Other:<input type="text" name="other" maxlength="32" aria-label="Network name" value="hidden-net">/);
    });
  });

  it("strongestFirst: each name once at its best, hidden ones out, at most MAX_LISTED_NETWORKS", () => {
    const heard = [
      { ssid: "a", rssi: -80, secure: true },
      { ssid: "a", rssi: -40, secure: true },
      { ssid: "", rssi: -30, secure: true },
      { ssid: "b", rssi: -60, secure: false },
      ...Array.from({ length: 30 }, (_, i) => ({ ssid: `n${i}`, rssi: -70 - i, secure: true })),
    ];
    const listed = strongestFirst(heard);
    assert.equal(listed.length, MAX_LISTED_NETWORKS);
    assert.deepEqual(listed.slice(0, 3), [
      { ssid: "a", rssi: -40, secure: true },
      { ssid: "b", rssi: -60, secure: false },
      { ssid: "n0", rssi: -70, secure: true },
    ]);
    assert.deepEqual([-50, -55, -60, -67, -70, -75, -90].map(signalBars), [4, 4, 3, 3, 2, 2, 1]);
  });
});
