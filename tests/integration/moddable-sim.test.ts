/**
 * The firmware built by the real Moddable SDK and run in its simulator (mcsim, headless under
 * Xvfb) against the companion server: hello, telemetry and acks, an echo request, and the
 * reconnect after a server restart. It runs `npm run sim -- --headless` exactly as a user
 * does (tools/moddable.ts).
 *
 * Needs the SDK ($MODDABLE, its tools built), Linux and xvfb-run: skipped otherwise, so CI
 * on a fresh machine (which cannot have the SDK) is never failed by it.
 *
 * The simulator keeps settings in $TMP/modpreferences.json (the SDK's config.file.root), shared
 * by every simulated app: the test sets the telemetry interval to 1 s to see telemetry soon,
 * and puts back the manifest's 10 s at the end.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseLogLine } from "../../hosts/node/log-format.js";
import { start, type CompanionEvent, type CompanionServer } from "../../server/companion.js";
import { node, REPO_ROOT, type Child } from "../support/child-process.js";
import { within } from "../support/wait.js";

function event<E extends CompanionEvent["event"]>(
  server: CompanionServer,
  name: E,
  match: (e: Extract<CompanionEvent, { event: E }>) => boolean,
  ms: number,
): Promise<Extract<CompanionEvent, { event: E }>> {
  const test = (e: CompanionEvent): e is Extract<CompanionEvent, { event: E }> =>
    e.event === name && match(e as Extract<CompanionEvent, { event: E }>);
  const seen = server.history.find(test);
  if (seen) return Promise.resolve(seen);
  return within(
    new Promise((resolve) => {
      const listener = (e: CompanionEvent) => {
        if (test(e)) {
          server.events.off("event", listener);
          resolve(e);
        }
      };
      server.events.on("event", listener);
    }),
    ms,
    `the server's ${name} event`,
  );
}

describe("the firmware in Moddable's simulator (needs the Moddable SDK)", function () {
  this.timeout(240_000);
  let server: CompanionServer | undefined;
  let sim: Child | undefined;

  before(function () {
    if (!process.env.MODDABLE) {
      console.log("      (skipped: $MODDABLE is not set; install the Moddable SDK to run the firmware in its simulator)");
      this.skip();
    }
    if (process.platform !== "linux") this.skip();
  });

  afterEach(async function () {
    if (sim) {
      sim.kill("SIGTERM"); // the wrapper stops mcsim and Xvfb, then exits
      await sim.exited;
    }
    await server?.close();
  });

  it("says hello, sends telemetry that is acknowledged, echoes, and comes back after a server restart", async function () {
    server = await start({ port: 0 });
    const port = server.port;
    sim = node(join(REPO_ROOT, "dist", "tools", "moddable.js"), [
      "sim",
      "--headless",
      `url=ws://127.0.0.1:${port}/`,
      "deviceId=mcsim-test",
    ]);

    const hello = await event(server, "hello", () => true, 180_000); // includes the build
    assert.equal(hello.device, "mcsim-test");
    assert.deepEqual(hello.capabilities, ["echo", "ping", "status", "config"]);

    const [setting] = server.execute("config set telemetryIntervalMs 1000");
    const set = await event(server, "reply", (e) => e.id === setting!.id, 10_000);
    assert.equal(set.ok, true);
    const telemetry = await event(server, "telemetry", () => true, 10_000);
    assert.ok((telemetry.acked as number) >= 1);

    const [echo] = server.execute("echo hello from XS");
    const reply = await event(server, "reply", (e) => e.id === echo!.id, 10_000);
    assert.deepEqual(reply.result, { payload: "hello from XS" });

    // The server goes away, then comes back on the same port: the device reconnects.
    await server.close();
    await sim.line(/"event":"ws_closed"/, 10_000, "the device to see the close");
    server = await start({ port });
    const again = await event(server, "hello", () => true, 30_000);
    assert.equal(again.device, "mcsim-test");
    assert.equal(again.boot, hello.boot, "the same boot: the device reconnected, it did not restart");

    const [restore] = server.execute("config set telemetryIntervalMs 10000");
    await event(server, "reply", (e) => e.id === restore!.id, 10_000);

    // Every line the firmware printed is one the serial monitor's parser reads.
    const lines = sim.stdout.split("\n").filter((line) => line.startsWith("{"));
    assert.ok(lines.length > 10);
    for (const line of lines) assert.ok(parseLogLine(line), line);
  });
});
