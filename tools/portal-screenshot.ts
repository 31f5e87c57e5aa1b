/**
 * The setup page's picture for the README (docs/portal.png): the simulated device started
 * unprovisioned with its portal, the page opened in headless Chromium at a phone's width, a
 * network chosen and a password typed, then the screenshot.
 *
 *   npm run -s build && node dist/tools/portal-screenshot.js [out.png]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { haveChromium, launchBrowser, MISSING_CHROMIUM } from "./browser.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A free loopback port (taken from the OS, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

async function main(): Promise<void> {
  const out = process.argv[2] ?? join(ROOT, "docs", "portal.png");
  if (!haveChromium()) throw new Error(MISSING_CHROMIUM);
  const folder = mkdtempSync(join(tmpdir(), "moorline-shot-"));
  const port = await freePort();
  const device = spawn(process.execPath, [
    join(ROOT, "dist/hosts/node/device.js"),
    "--ssid", "", "--password", "",
    "--portal-port", String(port),
    "--storage", join(folder, "device.json"),
    "--url", "ws://192.168.1.20:8080/",
    "--device-id", "kitchen-1",
    "--log-format", "json",
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  device.stdout.setEncoding("utf8").on("data", (text: string) => (output += text));
  // A phone's width; as tall as the page.
  const browser = await launchBrowser({ width: 420, height: 600 });
  try {
    for (let i = 0; !output.includes('"event":"portal_scan"'); i++) {
      if (i > 100) throw new Error(`the device's portal did not open: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.check('input[name="ssid"][value="moorline-sim"]');
    await page.fill('input[name="password"]', "simulated-wifi");
    await page.screenshot({ path: out, fullPage: true });
    process.stdout.write(`portal-screenshot: ${out}\n`);
  } finally {
    await browser.close();
    device.kill("SIGTERM");
    rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  process.stderr.write(`portal-screenshot: ${error.message}\n`);
  process.exitCode = 1;
});
