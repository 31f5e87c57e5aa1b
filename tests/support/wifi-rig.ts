/**
 * The WiFi manager's test rig (src/device/wifi.ts): a manager over the simulated WiFi on a
 * virtual clock recording everything it reports, a driver whose notifications a test sends
 * itself, and deterministic random sources for the backoff's jitter.
 */
import type { Log, RandomSource, WifiDisconnectReason, WifiDriver, WifiNetwork, WifiNotification } from "../../src/shared/host.js";
import { WifiManager, type WifiFailure, type WifiManagerOptions, type WifiStateValue } from "../../src/device/wifi.js";
import { createJsonLog } from "../../hosts/node/host.js";
import { SimWifi, type SimAccessPoint } from "../../hosts/node/sim-wifi.js";
import { seededRandom } from "./seeded-random.js";
import { VirtualClock } from "./virtual-clock.js";

export { seededRandom };

/** Every draw is the largest value below 1: each backoff delay is its window's top. */
export const maxRandom: RandomSource = (into) => into.fill(0xff);
/** Every draw is 0: each backoff delay is minMs. */
export const zeroRandom: RandomSource = (into) => into.fill(0);

export interface LogRecord {
  level: string;
  event: string;
  fields: Record<string, unknown>;
}

/** A manager over a simulated WiFi on a virtual clock, recording everything it reports. */
export function rig(
  accessPoints: SimAccessPoint[],
  networks: WifiNetwork[],
  options: Partial<WifiManagerOptions> = {},
  driver?: WifiDriver,
) {
  const clock = new VirtualClock();
  const sim = new SimWifi({ timers: clock, accessPoints });
  const records: LogRecord[] = [];
  const lines: string[] = [];
  // The host's real JSON-lines log, so the password check covers what a serial monitor shows.
  const jsonLog = createJsonLog({ write: (line: string) => lines.push(line) }, "debug");
  const log: Log = (level, event, fields) => {
    records.push({ level, event, fields: fields ?? {} });
    jsonLog(level, event, fields);
  };
  const seen: string[] = [];
  const states: Array<{ state: WifiStateValue; ssid?: string; failure?: WifiFailure; retryInMs?: number; at: number }> = [];
  const manager = new WifiManager({
    driver: driver ?? sim,
    timers: clock,
    random: seededRandom(42),
    log,
    networks,
    onOnline: (ssid, address) => seen.push(`online ${ssid} ${address} at ${clock.now()}`),
    onOffline: (reason) => seen.push(`offline ${reason} at ${clock.now()}`),
    onState: (state, detail) => states.push({ state, ...detail, at: clock.now() }),
    ...options,
  });
  const events = (name: string) => records.filter((record) => record.event === name);
  return { clock, sim, manager, records, lines, seen, states, events };
}

/** A driver whose notifications the test sends itself. */
export class FakeDriver implements WifiDriver {
  onNotify: ((notification: WifiNotification, reason?: WifiDisconnectReason) => void) | undefined;
  calls: string[] = [];
  connect(network: WifiNetwork): void {
    this.calls.push(`connect ${network.ssid}`);
  }
  disconnect(): void {
    this.calls.push("disconnect");
  }
  rssi(): number | undefined {
    return -60;
  }
  address(): string | undefined {
    return "10.0.0.7";
  }
  emit(notification: WifiNotification, reason?: WifiDisconnectReason): void {
    this.onNotify?.(notification, reason);
  }
}

