/**
 * Provisioning end to end, as a user does it: the simulated device started unprovisioned
 * (`npm run device -- --ssid "" --password "" --portal-port N`, on Node and inside XS), its
 * setup page opened in a real browser (headless Chromium), a network chosen, the password and
 * the server typed, and the device seen on the companion server; a wrong password and a
 * server that does not answer shown on the page; hostile requests answered with errors while
 * the device carries on; the settings kept across a restart; the server's requests (saved
 * networks, a new server, a factory reset) and --factory-reset; the portal's DNS answers
 * where the host has UDP.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, type CompanionServer } from "../../server/companion.js";
import { haveChromium, launchBrowser, MISSING_CHROMIUM, type Browser } from "../../tools/browser.js";
import { jsonLines, node, type Child } from "../support/child-process.js";
import { ENGINES, engineArgs, useEngine } from "../support/engines.js";
import { formPost, rawRequest } from "../support/raw-http.js";
import { closedPort, delay, until } from "../support/wait.js";

/** The simulated WiFi's network (hosts/node/device-host.ts SIM_NETWORK). */
const SIM = { ssid: "moorline-sim", password: "simulated-wifi" };

/** The device's JSON log events so far. */
const events = jsonLines;

interface Running {
  child: Child;
  port: number;
}

for (const engine of ENGINES) describe(`provisioning end to end [${engine}]`, function () {
  useEngine(engine);
  this.timeout(90_000);
  let browser: Browser | undefined;
  let folder: string;
  let storage: string;
  let server: CompanionServer;
  const children: Child[] = [];

  before(async function () {
    if (!haveChromium()) {
      if (process.env.CI) throw new Error(MISSING_CHROMIUM);
      console.log(`      (skipped: ${MISSING_CHROMIUM})`);
      this.skip();
    }
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    folder = mkdtempSync(join(tmpdir(), "moorline-portal-"));
    storage = join(folder, "device.json");
    server = await start({ port: 0 });
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill();
      await child.waitForExit(5_000).catch(() => {});
    }
    await server.close();
    rmSync(folder, { recursive: true, force: true });
  });

  /** The device's command line, unprovisioned unless told otherwise; resolves once the portal is open. */
  async function device(extra: string[] = [], options: { portal?: boolean; port?: number } = {}): Promise<Running> {
    const port = options.port ?? (await closedPort());
    const child = node("dist/hosts/node/device.js", [
      ...engineArgs(engine),
      "--log-format",
      "json",
      "--storage",
      storage,
      "--portal-port",
      String(port),
      ...extra,
    ]);
    children.push(child);
    if (options.portal !== false) {
      await child.line(/"event":"portal_open"/, 20_000, "the portal to open");
      // Node listens a moment after the portal says it is open.
      await until(() => child.stdout.includes('"event":"portal_scan"'), 10_000, "the first scan");
      for (let i = 0; (await rawRequest(port, [`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`])).status !== 200; i++) {
        assert.ok(i < 50, "the page answers");
        await delay(100);
      }
    }
    return { child, port };
  }

  async function unprovisioned(extra: string[] = []): Promise<Running> {
    return device(["--ssid", "", "--password", "", "--server-trial-ms", "3000", ...extra]);
  }

  /** Fills the setup page and submits it. */
  async function submit(port: number, fields: { ssid: string; password: string; url: string; name: string }) {
    const page = await browser!.context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.check(`input[name="ssid"][value="${fields.ssid}"]`);
    await page.fill('input[name="password"]', fields.password);
    await page.fill('input[name="url"]', fields.url);
    await page.fill('input[name="name"]', fields.name);
    await Promise.all([page.waitForURL(`http://127.0.0.1:${port}/`), page.click('button:text("Connect")')]);
    return page;
  }

  it("a new user opens the page, chooses the network, types the password and the server, and the device comes online", async () => {
    const { child, port } = await unprovisioned();
    const open = events(child).find((e) => e.event === "portal_open")!;
    assert.equal(open.ssid, "moorline-726C");
    assert.equal(open.url, `http://127.0.0.1:${port}/`);

    const page = await browser!.context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    assert.equal(await page.title(), "moorline-726C");
    await page.waitForSelector('label:has-text("moorline-sim")');
    const names = await page.locator('input[name="ssid"]').evaluateAll((inputs) => inputs.map((input) => input.value));
    assert.deepEqual(names, ["moorline-sim", "Café & Bar", "Garden <guest>", ""], "strongest first, names as heard");
    await page.close();

    const form = await submit(port, { ...SIM, url: server.url, name: "porch-1" });
    const hello = await server.waitFor("hello", (e) => e.device === "porch-1", 20_000);
    assert.equal(hello.device, "porch-1");
    await form.waitForSelector('text=Joined "moorline-sim" and reached the server', { timeout: 20_000 });
    assert.match(await form.content(), /<h1>Done<\/h1>/);
    await form.close();
    // The access point closes once the device is online (15 s later, so the page could say so).
    await child.line(/"event":"portal_closed"/, 25_000, "the portal to close");
    const stored = JSON.parse(readFileSync(storage, "utf8")) as Record<string, Record<string, string>>;
    assert.deepEqual(JSON.parse(stored.wifi!.networks!), [SIM]);
    assert.deepEqual(JSON.parse(stored.provision!.server!), { url: server.url, deviceId: "porch-1" });
  });

  it("a wrong password, then a server that does not answer, each shown on the page; then it works", async () => {
    const { port } = await unprovisioned();
    const wrong = await submit(port, { ssid: SIM.ssid, password: "not-the-password", url: server.url, name: "porch-2" });
    await wrong.waitForSelector('text="moorline-sim" refused the password.', { timeout: 20_000 });
    await wrong.close();

    const unreachable = `ws://127.0.0.1:${await closedPort()}/`;
    const silent = await submit(port, { ...SIM, url: unreachable, name: "porch-2" });
    await silent.waitForSelector(`text=Joined "moorline-sim", but the server at ${unreachable} did not answer`, { timeout: 20_000 });
    assert.match(await silent.content(), /connection refused/);
    await silent.close();

    const good = await submit(port, { ...SIM, url: server.url, name: "porch-2" });
    await server.waitFor("hello", (e) => e.device === "porch-2", 20_000);
    await good.close();
  });

  it("answers hostile requests with errors, escapes what they typed, and stays usable", async () => {
    const { child, port } = await unprovisioned();
    const host = `127.0.0.1:${port}`;
    const longSsid = await rawRequest(port, [formPost(host, `ssid=${"A".repeat(1000)}&password=x&url=ws%3A%2F%2Fh%2F&name=n`)]);
    assert.equal(longSsid.status, 400);
    assert.match(longSsid.body, /The ssid is 1000 bytes \(at most 32\)\./);
    const markup = await rawRequest(port, [formPost(host, "ssid=moorline-sim&password=simulated-wifi&url=%3Cscript%3Ealert(1)%3C%2Fscript%3E&name=%3Cb%3E")]);
    assert.equal(markup.status, 400);
    assert.ok(!markup.body.includes("<script>") && !markup.body.includes("<b>"), "nothing they typed is markup on the page");
    assert.ok(markup.body.includes("&lt;script&gt;alert(1)&lt;/script&gt;"));
    const percent = await rawRequest(port, [formPost(host, "ssid=moorline-sim&password=%E0%A4&url=x&name=y")]);
    assert.equal(percent.status, 400);
    assert.match(percent.body, /field &quot;password&quot; is not UTF-8 text with valid percent-encoding/);
    const huge = await rawRequest(port, [formPost(host, "x".repeat(200_000))]);
    assert.equal(huge.status, 413);
    assert.equal((await rawRequest(port, [`GET /${"a".repeat(5000)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`])).status, 414);
    const fields = Array.from({ length: 64 }, (_, i) => `X-F${i}: ${i}\r\n`).join("");
    assert.equal((await rawRequest(port, [`GET / HTTP/1.1\r\nHost: ${host}\r\n${fields}\r\n`])).status, 431);
    assert.equal((await rawRequest(port, ["GET / HTTP/1.1\nHost: x\n\n"])).status, 400);
    const forged = await rawRequest(port, [formPost(host, "ssid=moorline-sim&password=simulated-wifi&url=ws%3A%2F%2Fh%2F&name=n", "/save", "Origin: http://evil.example\r\n")]);
    assert.equal(forged.status, 403);

    // Slow clients take every connection (four): they get 408 after 10 s, or are turned away
    // (one more than fits; one whose first byte had not arrived may yield to a newcomer); none
    // is kept longer, and the page is back.
    const slow = Array.from({ length: 5 }, () =>
      rawRequest(port, Array.from("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + "z".repeat(200)), { pauseMs: 100, timeoutMs: 25_000 }),
    );
    const answers = await Promise.all(slow);
    const statuses = answers.map((a) => a.status).join(",");
    assert.ok(answers.filter((a) => a.status === 408).length >= 3, `408 for the slow ones: ${statuses}`);
    assert.ok(answers.every((a) => a.error !== "the test gave up waiting"), `every slow client was cut off: ${statuses}`);
    assert.equal((await rawRequest(port, [`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`])).status, 200);

    // Unharmed: it takes good settings and comes online.
    const page = await submit(port, { ...SIM, url: server.url, name: "tough-1" });
    await server.waitFor("hello", (e) => e.device === "tough-1", 20_000);
    await page.close();
    assert.equal(child.process.exitCode, null);
    assert.ok(!/Error|exception/i.test(child.stderr), child.stderr);
  });

  it("keeps the settings across a restart: the known network is joined and the portal stays closed", async () => {
    const first = await unprovisioned();
    const page = await submit(first.port, { ...SIM, url: server.url, name: "kept-1" });
    await server.waitFor("hello", (e) => e.device === "kept-1" && e.conn === 1, 20_000);
    await page.close();
    first.child.kill("SIGTERM");
    await first.child.waitForExit(10_000);

    // The same command line as the first start: the stored network, server and name win.
    const second = await device(["--ssid", "", "--password", ""], { portal: false, port: first.port });
    const hello = await server.waitFor("hello", (e) => e.device === "kept-1" && e.conn === 2, 20_000);
    assert.notEqual(hello.boot, undefined);
    await delay(500);
    assert.ok(!events(second.child).some((e) => e.event === "portal_open"), "no portal: the device has a network that works");
    assert.equal((await rawRequest(first.port, ["GET / HTTP/1.1\r\nHost: x\r\n\r\n"])).error, "ECONNREFUSED");
  });

  it("answers the server's requests: saved networks, a new server tried and given up, a factory reset", async () => {
    const { child, port } = await unprovisioned();
    const page = await submit(port, { ...SIM, url: server.url, name: "remote-1" });
    await server.waitFor("hello", (e) => e.device === "remote-1", 20_000);
    await page.close();
    const request = async (json: string): Promise<Record<string, unknown>> => {
      const [sent] = server.send(undefined, `send ${json}`);
      const reply = await server.waitFor("reply", (e) => e.id === sent!.id, 10_000);
      return reply as unknown as Record<string, unknown>;
    };

    const list = await request('{"type":"wifi","action":"list"}');
    assert.deepEqual(list.result, { networks: [{ ssid: "moorline-sim", source: "saved", inUse: true }] });
    const add = await request('{"type":"wifi","action":"add","ssid":"office","password":"office-secret-9"}');
    assert.deepEqual((add.result as Record<string, unknown>).saved, "office");
    const inUse = await request('{"type":"wifi","action":"remove","ssid":"moorline-sim"}');
    assert.equal((inUse.error as Record<string, unknown>).code, "in_use");
    const removed = await request('{"type":"wifi","action":"remove","ssid":"office"}');
    assert.deepEqual(removed.result, { removed: "office", networks: [{ ssid: "moorline-sim", source: "saved", inUse: true }] });
    const bad = await request('{"type":"server","action":"set","url":"http://nope/"}');
    assert.equal((bad.error as Record<string, unknown>).code, "bad_request");

    // A server that does not answer: the device tries it, gives up, comes back with the old one.
    const unreachable = `ws://127.0.0.1:${await closedPort()}/`;
    const trying = await request(`{"type":"server","action":"set","url":"${unreachable}"}`);
    assert.deepEqual(trying.result, { trying: { url: unreachable } });
    await server.waitFor("hello", (e) => e.device === "remote-1" && e.conn === 2, 20_000);
    const status = await request('{"type":"status"}');
    const last = (status.result as { provisioning: { last: Record<string, unknown> } }).provisioning.last;
    assert.equal(last.result, "server_unreachable");
    assert.equal(last.source, "server");
    assert.equal(last.url, unreachable);
    const get = await request('{"type":"server","action":"get"}');
    assert.deepEqual(get.result, { url: server.url, name: "remote-1" });

    // A second server that answers: the device moves there for good.
    const other = await start({ port: 0 });
    try {
      await request(`{"type":"server","action":"set","url":"${other.url}","name":"remote-2"}`);
      await other.waitFor("hello", (e) => e.device === "remote-2", 20_000);
      // Kept once the connection opened (right after the hello went out).
      const kept = (): string | undefined => (JSON.parse(readFileSync(storage, "utf8")) as Record<string, Record<string, string>>).provision?.server;
      await until(() => kept() === JSON.stringify({ url: other.url, deviceId: "remote-2" }), 5_000, "the new server to be kept");
      const [sent] = other.send(undefined, 'send {"type":"factory_reset"}');
      const refused = await other.waitFor("reply", (e) => e.id === sent!.id, 10_000);
      assert.equal((refused as unknown as { error: { code: string } }).error.code, "bad_request", "a reset needs confirm: true");
      other.send(undefined, 'send {"type":"factory_reset","confirm":true}');
      await child.line(/"event":"factory_reset"/, 10_000, "the factory reset");
      // The portal is open (still, or again), with the setup form, not "done".
      const page = await rawRequest(port, [`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`]);
      assert.match(page.body, /<h1>Set up moorline-726C<\/h1>/);
      assert.match(page.body, /value="sim-1"/, "the build's name is back");
      const wiped = JSON.parse(readFileSync(storage, "utf8")) as Record<string, unknown>;
      assert.equal((wiped.wifi as Record<string, unknown> | undefined)?.networks, undefined);
      assert.equal((wiped.provision as Record<string, unknown> | undefined)?.server, undefined);
    } finally {
      await other.close();
    }
  });

  it("--factory-reset erases the settings before starting (networks, token, unsent telemetry): the portal opens again", async () => {
    writeFileSync(
      storage,
      JSON.stringify({
        wifi: { networks: JSON.stringify([SIM]) },
        auth: { token: "stored-token-to-forget" },
        outbox: { s0: "an unsent record of the owner before" },
      }),
    );
    const { child } = await device(["--factory-reset", "--ssid", "", "--password", ""]);
    assert.match(child.stderr, /device: factory reset: .*device\.json erased/);
    const left = existsSync(storage) ? readFileSync(storage, "utf8") : "";
    for (const gone of ["moorline-sim", "stored-token-to-forget", "the owner before"]) assert.ok(!left.includes(gone), gone);
  });

  it("answers DNS: every name is the device's address", async function () {
    const dnsPort = await closedPort();
    await unprovisioned(["--dns-port", String(dnsPort)]);
    const socket = createSocket("udp4");
    try {
      const query = Buffer.from([0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, ...Buffer.from("captive"), 5, ...Buffer.from("apple"), 3, ...Buffer.from("com"), 0, 0, 1, 0, 1]);
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no DNS answer")), 5_000);
        socket.on("message", (message) => {
          clearTimeout(timer);
          resolve(message);
        });
        socket.send(query, dnsPort, "127.0.0.1");
      });
      assert.deepEqual(Array.from(answer.subarray(0, 4)), [0xbe, 0xef, 0x85, 0x00]);
      assert.deepEqual(Array.from(answer.subarray(-4)), [127, 0, 0, 1]);
    } finally {
      socket.close();
    }
  });
});
