/**
 * A real browser for the captive portal's tests and its screenshot: Debian's Chromium,
 * headless, driven by playwright-core (which downloads no browser of its own), with a fresh
 * profile and everything that would reach the internet turned off.
 *
 * playwright-core's own typings need the DOM's (HTMLElement...), which this project's
 * TypeScript does not load (src/ must not see them): it is imported by a name TypeScript
 * does not resolve, and what the tests use of it is declared here.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The parts of playwright-core's Page the tests use. */
export interface Page {
  goto(url: string): Promise<unknown>;
  title(): Promise<string>;
  content(): Promise<string>;
  check(selector: string): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  click(selector: string): Promise<void>;
  waitForURL(url: string): Promise<void>;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  locator(selector: string): { evaluateAll<T>(callback: (elements: Array<{ value?: string }>) => T): Promise<T> };
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  close(): Promise<void>;
}

export interface BrowserContext {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface Chromium {
  launchPersistentContext(
    profile: string,
    options: { executablePath: string; headless: boolean; args: string[]; viewport: { width: number; height: number } },
  ): Promise<BrowserContext>;
}

/** The package, by a name TypeScript leaves alone (see above). */
const PLAYWRIGHT: string = "playwright-core";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

export const MISSING_CHROMIUM = "chromium is missing: apt-get install chromium";

/** Whether the browser is installed and starts. */
export function haveChromium(): boolean {
  return spawnSync(CHROMIUM, ["--version"], { stdio: "ignore" }).status === 0;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Starts Chromium headless with a new profile (removed on close). No QUIC, no background
 * networking, no component updates, no sync: the only traffic is the test's.
 */
export async function launchBrowser(viewport = { width: 420, height: 760 }): Promise<Browser> {
  const { chromium } = (await import(PLAYWRIGHT)) as { chromium: Chromium };
  const profile = mkdtempSync(join(tmpdir(), "moorline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
