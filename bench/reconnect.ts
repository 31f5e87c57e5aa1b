/**
 * Time to reconnect after a server restart: a device (the whole firmware, src/device/device.ts, on
 * Node or inside XS) is connected to the bench's server; the server process is killed, stays
 * down `downMs`, and a new one listens on the same port. The figure is the new server's time
 * from listening to the device's first message (its hello), measured inside the server.
 *
 * With the firmware's defaults (backoff 1 s base, full jitter, 100 ms floor), it is mostly
 * the remaining backoff delay: the device retries at a random moment of a window that
 * doubles with each failed attempt. `afterHandshakeMs` is the part after the 101 was sent.
 */
import type { EngineName } from "../tests/support/engines.js";
import { startDeviceOn } from "../tests/support/on-engine.js";
import { ServerProcess } from "./processes.js";

export interface ReconnectSample {
  engine: EngineName;
  /** Listening again -> the device's first message, ms. */
  totalMs: number;
  /** The server's 101 -> the device's first message, ms. */
  afterHandshakeMs: number;
}

export async function reconnectOnce(engine: EngineName, downMs: number): Promise<ReconnectSample> {
  let server = await ServerProcess.start("echo");
  const port = server.port;
  const device = await startDeviceOn(engine, { url: server.url, config: { heartbeatIntervalMs: 0 } });
  try {
    await server.waitFor((r) => r.event === "first-message", 15_000, "the device's hello");
    await server.kill();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    server = await ServerProcess.start("echo", port);
    const first = await server.waitFor((r) => r.event === "first-message", 120_000, "the device's first message after the restart");
    return { engine, totalMs: first.msSinceListening as number, afterHandshakeMs: first.msSinceConnection as number };
  } finally {
    await device.stop().catch(() => {});
    await server.stop();
  }
}
