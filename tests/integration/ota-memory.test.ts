/**
 * Memory inside XS while a firmware image flows (issue 14): the device (the "device" program,
 * as the desktop chip runs it, with the chip's update store) takes a 4 MiB image from the
 * companion server. What XS holds must not follow the image: one chunk at a time is written,
 * hashed and let go. Measured after a full garbage collection at a tenth of the way and again
 * near the end: the chunk space XS has taken from the system (meter.allocate, a high-water
 * mark) and the live slots (meter.currentHeapCount).
 */
import assert from "node:assert/strict";
import { randomFillSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XsEngine } from "../../hosts/xs/engine.js";
import { NodeFirmwareStore } from "../../hosts/node/firmware-store.js";
import { verifyP256 } from "../../hosts/node/firmware-keys.js";
import { parseImage } from "../../server/ota-image.js";
import { start, type CompanionServer } from "../../server/companion.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { ENGINES } from "../support/engines.js";
import { formatBytes } from "../support/memory.js";
import { imageBytes, testKey, writeImage } from "../support/ota.js";

const IMAGE_BYTES = 4 * 1024 * 1024;

if (ENGINES.includes("xs")) describe("memory while a firmware image flows (integration) [xs]", function () {
  this.timeout(120_000);
  let folder: string;
  let server: CompanionServer | undefined;
  let engine: XsEngine | undefined;

  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-ota-memory-"))));
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    await server?.close();
    server = undefined;
    rmSync(folder, { recursive: true, force: true });
  });

  it(`takes a ${formatBytes(IMAGE_BYTES)} image holding about one chunk: XS's heap does not grow with the bytes received`, async function () {
    const key = testKey(folder);
    const bytes = imageBytes({ version: "0.2.0", key, payload: randomFillSync(new Uint8Array(IMAGE_BYTES)) });
    server = await start({ port: 0, historyLength: 5000, ota: { image: parseImage(bytes), path: writeImage(folder, "big.img", bytes) } });
    const log = () => {};
    engine = await XsEngine.start({
      storage: new MemoryStorage(),
      log,
      firmware: { store: new NodeFirmwareStore({ statePath: join(folder, "d.chip.json"), slotsPath: join(folder, "d.slots"), log }), verify: verifyP256 },
    });
    let restarted = false;
    await engine.startProgram(
      "device",
      {
        // No network to join and no setup portal (as the desktop's --no-wifi): the link is up at once.
        config: { url: server.url, deviceId: "xs-ota", ssid: "", password: "", portalPort: 0, otaPublicKey: key.base64, telemetryIntervalMs: 60_000 },
        logLevel: "warn",
        reset: "power_on",
        firmware: true,
      },
      (event) => {
        if (event.event === "restart") restarted = true;
      },
    );
    await server.waitFor("ota", (e) => e.state === "progress" && (e.percent ?? 0) >= 10, 60_000);
    const early = await engine.heap();
    await server.waitFor("ota", (e) => e.state === "progress" && (e.percent ?? 0) >= 90, 60_000);
    const late = await engine.heap();
    const progressed = (server.history.filter((e) => e.event === "ota" && e.state === "progress").at(-1) as { offset: number }).offset;
    const flowed = `${formatBytes(progressed - Math.floor(IMAGE_BYTES / 10))} flowed in between`;
    const grown = late.allocate - early.allocate;
    assert.ok(grown <= 1024 * 1024, `XS took ${formatBytes(grown)} more from the system (${flowed})`);
    const slots = late.currentHeapCount - early.currentHeapCount;
    assert.ok(slots <= 100, `${slots} more live slots (${flowed})`);
    await server.waitFor("ota", (e) => e.state === "installed", 60_000);
    const deadline = Date.now() + 5000;
    while (!restarted && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(restarted, "verified, activated, and the restart asked for");
    assert.deepEqual(engine.failures, []);
  });
});
