/**
 * `npm run bench -- --only flash`: what the durable outbox (src/health/outbox-store.ts) costs
 * the flash, measured by running the whole firmware (src/device/device.ts, default config) for
 * simulated hours on a virtual clock, over storage with the ESP32's NVS limits that counts
 * every write, against an in-memory server that acknowledges telemetry, or none.
 *
 * The figures: storage writes (set or delete) per hour, bytes written per hour, and what that
 * means for the flash, with NVS's layout (ESP-IDF "Non-volatile storage library"): a string
 * value takes one 32-byte entry for its header and one per 32 bytes of data (its NUL included);
 * a page holds 126 entries; NVS fills its pages in turn and erases a full page when it reclaims
 * it, so each page is erased about once per (126 x pages) entries written; a delete only
 * flips bits in its page's entry map. The ESP32 build's NVS partition is the SDK's default
 * (24 KB: 6 pages); typical SPI NOR flash is specified for 100,000 erase cycles per sector.
 */
import { parseDeviceConfig } from "../src/device/config.js";
import { Device } from "../src/device/device.js";
import type { DeviceHost, WifiDriver } from "../src/shared/host.js";
import { MemoryStorage } from "../src/shared/memory-storage.js";
import { utf8Length } from "../src/websocket/utf8.js";
import { parseClientFrames, parseRequest, switchingProtocols } from "../tests/support/client-frames.js";
import { fakeTcp } from "../tests/support/fake-tcp.js";
import { serverFrame } from "../tests/support/frames.js";
import { VirtualClock } from "../tests/support/virtual-clock.js";

/** NVS (ESP-IDF): bytes per entry, entries per 4 KB page. */
export const NVS_ENTRY_BYTES = 32;
export const NVS_ENTRIES_PER_PAGE = 126;
/** The Moddable SDK's ESP32 partition table: nvs 0x6000 bytes, 6 pages. */
export const NVS_PAGES = 6;
/** Erase cycles a typical SPI NOR flash sector is specified for. */
export const FLASH_ERASE_CYCLES = 100_000;

const HOUR_MS = 3_600_000;
const STEP_MS = 100;
/** Counting starts after this: the boot and its boot record's writes (1 at boot, 1 once stable) are not the outbox's, ms. */
const WARM_UP_MS = 60_000;

/** NVS-limited storage that counts writes, bytes and the entries NVS would use. */
class MeteredStorage extends MemoryStorage {
  sets = 0;
  deletes = 0;
  bytes = 0;
  entries = 0;
  override set(domain: string, key: string, value: string): void {
    super.set(domain, key, value);
    const length = utf8Length(value) + 1;
    this.sets++;
    this.bytes += length;
    this.entries += 1 + Math.ceil(length / NVS_ENTRY_BYTES);
  }
  override delete(domain: string, key: string): void {
    super.delete(domain, key);
    this.deletes++;
  }
}

export interface FlashScenario {
  name: string;
  /** The server acknowledges each record this long after it arrives, ms; undefined: the server is unreachable. */
  ackDelayMs: number | undefined;
  telemetryIntervalMs: number;
  hours: number;
}

export interface FlashResult extends FlashScenario {
  writesPerHour: number;
  setsPerHour: number;
  deletesPerHour: number;
  bytesPerHour: number;
  entriesPerHour: number;
  /** Erases of each NVS page per hour, and the years of this until FLASH_ERASE_CYCLES. */
  erasesPerPagePerHour: number;
  years: number;
}

const NO_WIFI: WifiDriver = { connect: () => {}, disconnect: () => {}, onNotify: undefined, rssi: () => undefined, address: () => undefined };

/** Runs the firmware for `scenario.hours` simulated hours after a minute's warm-up (the boot's own writes are not counted). */
export function simulateFlash(scenario: FlashScenario): FlashResult {
  const clock = new VirtualClock();
  const storage = new MeteredStorage();
  const { tcp, sockets } = fakeTcp();
  const host: DeviceHost = { tcp, timers: clock, random: (into) => into.fill(7), wifi: NO_WIFI, storage, log: () => {} };
  const device = new Device({
    host,
    config: parseDeviceConfig({ url: "ws://127.0.0.1:8080/", telemetryIntervalMs: scenario.telemetryIntervalMs }),
  });
  device.start();
  const opened = new Set<unknown>();
  const start = { sets: 0, deletes: 0, bytes: 0, entries: 0 };
  for (let t = 0; t < WARM_UP_MS + scenario.hours * HOUR_MS; t += STEP_MS) {
    if (t === WARM_UP_MS) Object.assign(start, { sets: storage.sets, deletes: storage.deletes, bytes: storage.bytes, entries: storage.entries });
    clock.advance(STEP_MS);
    const socket = sockets[sockets.length - 1];
    if (socket === undefined || socket.closed) continue;
    if (!opened.has(socket)) {
      opened.add(socket);
      if (scenario.ackDelayMs === undefined) {
        socket.fail("connection refused");
        continue;
      }
      socket.connect();
      socket.receive(switchingProtocols(parseRequest(socket.takeWritten())));
      continue;
    }
    const ackDelayMs = scenario.ackDelayMs;
    if (ackDelayMs === undefined) continue;
    for (const frame of parseClientFrames(socket.takeWritten())) {
      if (frame.opcode === 9) {
        socket.receive(serverFrame({ opcode: 10, payload: frame.payload }));
        continue;
      }
      if (frame.opcode !== 1) continue;
      const message = JSON.parse(Buffer.from(frame.payload).toString("utf8")) as { type: string; boot?: string; seq?: number };
      if (message.type !== "telemetry") continue;
      const ack = JSON.stringify({ type: "ack", boot: message.boot, seq: message.seq });
      clock.set(() => {
        if (!socket.closed) socket.receive(serverFrame({ opcode: 1, payload: ack }));
      }, ackDelayMs);
    }
  }
  // Not stopped: a clean stop's final flush is not part of an hour's running (the clock just stops).
  const hours = scenario.hours;
  const sets = (storage.sets - start.sets) / hours;
  const deletes = (storage.deletes - start.deletes) / hours;
  const entries = (storage.entries - start.entries) / hours;
  const erases = entries / (NVS_ENTRIES_PER_PAGE * NVS_PAGES);
  return {
    ...scenario,
    writesPerHour: sets + deletes,
    setsPerHour: sets,
    deletesPerHour: deletes,
    bytesPerHour: (storage.bytes - start.bytes) / hours,
    entriesPerHour: entries,
    erasesPerPagePerHour: erases,
    years: erases === 0 ? Infinity : FLASH_ERASE_CYCLES / erases / (24 * 365),
  };
}

/** The scenarios the bench runs: the default telemetry rate, in touch and cut off; a fast rate cut off. */
export function flashScenarios(quick: boolean): FlashScenario[] {
  const hours = quick ? 1 : 2;
  return [
    { name: "in touch: every record acknowledged within 50 ms", ackDelayMs: 50, telemetryIntervalMs: 10_000, hours },
    { name: "slow server: acknowledged 5 s after it arrives", ackDelayMs: 5000, telemetryIntervalMs: 10_000, hours },
    { name: "server unreachable (every connection refused)", ackDelayMs: undefined, telemetryIntervalMs: 10_000, hours },
    { name: "unreachable, a record every second (budget-bound)", ackDelayMs: undefined, telemetryIntervalMs: 1000, hours },
  ];
}
