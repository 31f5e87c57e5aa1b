/**
 * What the integration tests of the whole device share: a scratch folder, companion servers
 * in this process, and devices as users run them (DeviceProcess, on the engine under test)
 * with their storage in that folder and quick reconnects; all of it gone after each test.
 *
 *   const world = new DeviceWorld("moorline-health-", engine);   // in beforeEach
 *   const s = await world.server();  const d = world.device(s.url, "--faults");
 *   await world.cleanup();                                         // in afterEach
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { start, type CompanionServer } from "../../server/companion.js";
import { DeviceProcess } from "./device-process.js";
import { engineArgs, type EngineName } from "./engines.js";

export class DeviceWorld {
  readonly folder: string;
  readonly devices: DeviceProcess[] = [];
  readonly servers: CompanionServer[] = [];

  /** `args`: device options every device of this world gets, after the common ones. */
  constructor(prefix: string, private readonly engine: EngineName, private readonly args: readonly string[] = []) {
    this.folder = mkdtempSync(join(tmpdir(), prefix));
  }

  /** A companion server on 127.0.0.1, any free port, with a long history for waitFor(). */
  async server(options: Parameters<typeof start>[0] = {}): Promise<CompanionServer> {
    const made = await start({ port: 0, historyLength: 5000, ...options });
    this.servers.push(made);
    return made;
  }

  /** A device connecting to `url`, no WiFi, storage in the folder, backoff of 100 to 500 ms. */
  device(url: string, ...args: string[]): DeviceProcess {
    const made = new DeviceProcess([
      ...engineArgs(this.engine),
      "--url", url,
      "--no-wifi",
      "--storage", join(this.folder, "device.json"),
      "--backoff-base-ms", "100",
      "--backoff-cap-ms", "500",
      ...this.args,
      ...args,
    ]);
    this.devices.push(made);
    return made;
  }

  /** Kills every device, closes every server, removes the folder. */
  async cleanup(): Promise<void> {
    for (const device of this.devices.splice(0)) device.kill();
    for (const server of this.servers.splice(0)) await server.close();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
