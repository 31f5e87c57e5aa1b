/**
 * Only the right devices get in, end to end with real processes on loopback: the companion
 * server's command line with a device registry (`node dist/server/cli.js --devices FILE`) and
 * simulated devices (`node dist/hosts/node/device.js`, on both engines: with --engine xs the
 * firmware runs inside XS). The right token admits a device, whether given on its command
 * line or stored in its storage by provisioning; a wrong token, a missing one, another
 * device's, and a device removed while connected are each refused with 401, and the device
 * reports ERR_UNAUTHORIZED and waits at the long end of its backoff instead of retrying soon.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStorage } from "../../hosts/node/file-storage.js";
import { DeviceRegistry } from "../../server/registry.js";
import { saveAuthToken } from "../../src/auth/credentials.js";
import { node, type Child } from "../support/child-process.js";
import { ENGINES, engineArgs } from "../support/engines.js";
import { delay } from "../support/wait.js";

/** The devices' backoff: a refused token waits [CAP / 2, CAP], any other failure from BASE. */
const BASE_MS = 100;
const CAP_MS = 2000;

type Json = Record<string, unknown>;

/** The JSON lines a child printed, with their `event`. */
function lines(child: Child): Json[] {
  return child.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Json);
}

const events = (child: Child, name: string): Json[] => lines(child).filter((line) => line.event === name);

for (const engine of ENGINES) {
  describe(`only registered devices get in: server and devices as processes [${engine}]`, function () {
    this.timeout(60_000);
    let folder: string;
    let file: string;
    let tokens: Record<string, string>;
    let server: Child;
    let url: string;
    const children: Child[] = [];

    before(async function () {
      folder = mkdtempSync(join(tmpdir(), "moorline-auth-it-"));
      file = join(folder, "devices.json");
      const registry = DeviceRegistry.open(file, { create: true });
      tokens = {};
      for (const id of ["good-1", "good-2", "other-1", "gone-1"]) tokens[id] = await registry.add(id);
      server = node("dist/server/cli.js", ["--devices", file, "--port", "0", "--json"]);
      url = (await server.line(/"event":"listening".*"url":"(ws:\/\/[^"]+)"/, 10_000, "the server to listen"))[1]!;
    });

    afterEach(async function () {
      for (const child of children.splice(0)) {
        child.kill("SIGTERM");
        await child.waitForExit(8000).catch(() => {});
      }
    });

    after(async function () {
      server.kill("SIGTERM");
      await server.waitForExit(8000).catch(() => {});
      rmSync(folder, { recursive: true, force: true });
    });

    let made = 0;
    /** A device process; each has storage of its own unless given one. */
    function device(id: string, token: string | undefined, storage = join(folder, `${id}-${engine}-${++made}.json`)): Child {
      const args = [
        ...engineArgs(engine),
        "--url", url, "--no-wifi", "--device-id", id,
        "--backoff-base-ms", String(BASE_MS), "--backoff-cap-ms", String(CAP_MS),
        "--storage", storage, "--log-format", "json", "--log-level", "debug",
      ];
      const child = node("dist/hosts/node/device.js", [...args, ...(token === undefined ? [] : ["--auth-token", token])]);
      children.push(child);
      return child;
    }

    /**
     * Asserts the device was refused (ERR_UNAUTHORIZED, 401), and waits at the long end each
     * time: no two attempts closer than CAP / 2 over `watchMs`.
     */
    async function assertRefusedAndWaiting(child: Child, watchMs: number, opens = 0): Promise<void> {
      await child.line(/"event":"ws_unauthorized"/, 20_000, "the refusal");
      await delay(watchMs);
      const refusals = events(child, "ws_unauthorized");
      for (const refusal of refusals) {
        assert.equal(refusal.status, 401);
        assert.ok(Number(refusal.delayMs) >= CAP_MS / 2 && Number(refusal.delayMs) <= CAP_MS, `waits ${String(refusal.delayMs)} ms`);
      }
      const backoffs = events(child, "ws_backoff").filter((line) => line.error === "ERR_UNAUTHORIZED");
      assert.equal(backoffs.length, refusals.length, "each refusal is reported distinctly as ERR_UNAUTHORIZED");
      // Attempts: the first at once, then one per wait of at least CAP / 2.
      assert.ok(refusals.length <= 1 + Math.ceil(watchMs / (CAP_MS / 2)), `${refusals.length} refusals in ${watchMs} ms: no tight loop`);
      assert.equal(events(child, "ws_open").length, opens, "never admitted (again)");
    }

    it("admits the right token, given on the command line or stored by provisioning", async function () {
      const given = device("good-1", tokens["good-1"]);
      // good-2's token is in its storage (auth/token), as provisioning (or npm start) leaves it.
      const storagePath = join(folder, `good-2-${engine}.json`);
      saveAuthToken(new FileStorage(storagePath), tokens["good-2"]!);
      const stored = device("good-2", undefined, storagePath);
      await given.line(/"event":"ws_open"/, 20_000, "good-1's connection");
      await stored.line(/"event":"ws_open"/, 20_000, "good-2's connection");
      assert.equal(events(stored, "auth_token")[0]!.source, "stored");
      await server.line(/"event":"hello".*"device":"good-1"/, 5000, "good-1's hello");
      await server.line(/"event":"hello".*"device":"good-2"/, 5000, "good-2's hello");
      for (const child of [given, stored]) {
        for (const token of Object.values(tokens)) assert.ok(!child.stdout.includes(token), "no token in the device's log");
      }
    });

    it("refuses a wrong token, a missing one and another device's with 401; each device backs off at the long end", async function () {
      const wrong = device("good-1", "not-the-right-token");
      const missing = device("good-2", undefined);
      const borrowed = device("other-1", tokens["good-1"]);
      await Promise.all([wrong, missing, borrowed].map((child) => assertRefusedAndWaiting(child, 3000)));
      const refused = lines(server).filter((line) => line.event === "auth_refused");
      const reasons = (id: string) => refused.filter((line) => line.device === id).map((line) => line.reason);
      assert.ok(reasons("good-1").includes("wrong_token"));
      assert.ok(reasons("good-2").includes("no_token"));
      assert.ok(reasons("other-1").includes("wrong_token"));
      for (const token of Object.values(tokens)) assert.ok(!server.stdout.includes(token), "no token in the server's log");
    });

    it("closes a device removed while connected (4003), then refuses it with 401, and it backs off", async function () {
      const gone = device("gone-1", tokens["gone-1"]);
      await gone.line(/"event":"ws_open"/, 20_000, "gone-1's connection");
      const removed = node("dist/server/cli.js", ["--devices", file, "--remove-device", "gone-1"]);
      assert.equal((await removed.waitForExit(10_000)).code, 0);
      await gone.line(/"event":"ws_closed".*"code":4003/, 10_000, "the close for a revoked device");
      await assertRefusedAndWaiting(gone, 2500, 1);
    });
  });
}
