/**
 * The XS figures: compute per echoed message (xsnap's meter, exact), the echo agent's heap over
 * 10,000 messages, the whole device's memory (bench/xs-device.ts) against the manifest's
 * creation sizes, and, with --profile, where an echo's steps go (bench/xs-meter-profile.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KINDS, type Output, type Plan } from "./plan.js";
import { bytes, num, record, sizeLabel, table, type FigureRecord } from "./report.js";
import { mode, summarize } from "./stats.js";
import { SLOT_BYTES_DESKTOP, SLOT_BYTES_ESP32, xsComputePerEcho, xsHeapOverMessages } from "./xs.js";
import { xsDeviceHeap, type LiveMemory } from "./xs-device.js";
import { xsMeterProfile } from "./xs-meter-profile.js";
import { REPO_ROOT } from "./processes.js";

/**
 * Echoes measured per XS compute figure, by message size: whole periods of what recurs (a
 * draw of 64 mask keys every 64 frames, a crossing for 1 KiB of random bytes every 256, a
 * report of the socket's space when XS has written half its buffer: every ~470 echoes of 64 B,
 * every other one of 16 KB), so the average is what an echo costs in the long run.
 */
const XS_ECHOES: Record<number, number> = { 64: 1024, 16384: 128 };
/** The XS heap verdict is over this many messages (issue 4). */
const HEAP_MESSAGES = 10_000;

export async function xsSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<boolean> {
  say("XS costs: the firmware's echo agent inside the XS engine (hosts/xs) echoes what a ws server sends; steps per echo");
  say("from xsnap's meter, exact (the same in both runs, each in a fresh engine).");
  const rows: string[][] = [["message", "steps per echo (average)", "most echoes", "the others", "echoes", "2 runs: total", "identical runs", "deliveries/echo"]];
  for (const size of [64, 16 * 1024]) {
    for (const kind of KINDS) {
      const runs = [];
      for (let run = 0; run < plan.xsRuns; run++) {
        progress(`xs: compute per echo, ${sizeLabel(size)} ${kind}, run ${run + 1}/${plan.xsRuns}`);
        runs.push(await xsComputePerEcho(size, kind, XS_ECHOES[size]!));
      }
      const first = runs[0]!;
      const totals = runs.map((r) => r.total);
      // Deterministic: every echo of every run cost the same steps as in the first run.
      const identical = runs.every((r) => r.each.length === first.each.length && r.each.every((steps, i) => steps === first.each[i]));
      const typical = mode(first.each);
      // The echoes that cost more than most: how many, and by how much.
      const extraCounts = new Map<number, number>();
      for (const steps of first.each) if (steps !== typical) extraCounts.set(steps - typical, (extraCounts.get(steps - typical) ?? 0) + 1);
      const extras = [...extraCounts.entries()].sort((a, b) => a[0] - b[0]).map(([extra, count]) => `${count} x ${extra > 0 ? "+" : ""}${extra.toLocaleString("en-US")}`);
      const echoes = XS_ECHOES[size]!;
      records.push(
        record("xs_compute_per_echo", "moorline", "xs", size, kind, summarize(runs.map((r) => r.perEcho)), "steps", {
          note: `average over ${echoes} echoes; ${typical} steps for most, ${extras.join(", ") || "no other"} (mask key draws, random bytes from Node, socket space reports); totals ${totals.join(" / ")}; ${identical ? "identical" : "NOT identical"} across runs`,
        }),
      );
      rows.push([
        `${sizeLabel(size)} ${kind}`,
        num(first.perEcho, 6),
        typical.toLocaleString("en-US"),
        extras.join(", "),
        String(echoes),
        totals.map((t) => t.toLocaleString("en-US")).join(" / "),
        identical ? "yes" : `NO (differ by ${Math.max(...totals) - Math.min(...totals)})`,
        num(first.deliveriesPerEcho),
      ]);
    }
  }
  say(table(rows));
  say("A meter step is XS's unit of computation (about one bytecode). The others: every 64th echo draws 64 mask keys");
  say("from the XS host's random pool, every 256th refills that pool from Node (a synchronous crossing), and the socket's");
  say("space is reported (a delivery of its own) when XS has written half the socket's buffer since the last report.");

  progress(`xs: heap over ${HEAP_MESSAGES.toLocaleString("en-US")} messages`);
  const heap = await xsHeapOverMessages(HEAP_MESSAGES);
  const slots = (count: number) =>
    `${count.toLocaleString("en-US")} slots (${bytes(count * SLOT_BYTES_DESKTOP)} here, ${bytes(count * SLOT_BYTES_ESP32)} on an ESP32)`;
  const single = (value: number) => summarize([value]);
  records.push(record("xs_heap_loaded", "moorline", "xs", null, null, single(heap.loaded), "slots", { note: "the realm's built-ins and the loaded modules, before the agent starts" }));
  records.push(record("xs_heap_connected", "moorline", "xs", null, null, single(heap.connected), "slots", { note: `${heap.connected - heap.loaded} slots more than loaded (the agent, its client and host objects); ${heap.connected * SLOT_BYTES_DESKTOP} bytes at ${SLOT_BYTES_DESKTOP} B/slot (64-bit); strings and buffers not included` }));
  records.push(record("xs_heap_after_messages", "moorline", "xs", 64, null, single(heap.end), "slots", { note: `after ${heap.warmMessages + heap.messages} echoed 64-byte messages, text and binary in turn` }));
  records.push(record("xs_heap_growth", "moorline", "xs", 64, null, single(heap.growth), "slots", { note: `over ${heap.messages} messages after ${heap.warmMessages}` }));
  records.push(record("xs_echo_rtt", "moorline", "xs", 64, null, single((heap.wallMs / heap.messages) * 1000), "us", { note: "server-driven echo through the Node-XS bridge, wall time on this machine" }));
  say();
  say("XS heap: live slots after a full GC (meter.currentHeapCount), ESP32 default limits, 64-byte messages, text and binary in turn");
  say(`  modules loaded, nothing started:  ${slots(heap.loaded)}`);
  say(`  after connecting:                 ${slots(heap.connected)}: the agent's own ${slots(heap.connected - heap.loaded)}`);
  say(`  after ${heap.warmMessages} messages:               ${slots(heap.warm)}`);
  say(`  after ${(heap.warmMessages + heap.messages / 2).toLocaleString("en-US")} messages:             ${slots(heap.midpoint)}`);
  say(`  after ${(heap.warmMessages + heap.messages).toLocaleString("en-US")} messages:            ${slots(heap.end)}`);
  say(`  XS system allocation (slots + chunks, meter.allocate): ${bytes(heap.allocateConnected)} connected, ${bytes(heap.allocateEnd)} at the end`);
  say(`  echo round trip through XS: ${num((heap.wallMs / heap.messages) * 1000)} us per message (wall time, bridge included)`);
  const ok = heap.growth <= 0;
  say(`  heap growth over ${heap.messages.toLocaleString("en-US")} messages: ${heap.growth} slots (${ok ? "OK" : "FAILED: the heap grows with the message count"})`);
  return ok;
}

// --- the whole device -----------------------------------------------------------------------

/** The manifest's XS creation sizes (manifest.json "creation"). */
interface Creation {
  chunk: { initial: number; incremental: number };
  heap: { initial: number; incremental: number };
  stack: number;
}

function manifestCreation(): Creation {
  return (JSON.parse(readFileSync(join(REPO_ROOT, "manifest.json"), "utf8")) as { creation: Creation }).creation;
}

/**
 * The SDK's guideline for a TLS handshake's memory (documentation/network/securesocket.md,
 * "Memory"): chunk heap, slot heap (bytes), stack (bytes) that should be free. On the desktop
 * TLS is Node's, so the device figures do not include it: it is added for the chip.
 */
export const SDK_TLS_FREE = { chunkBytes: 10 * 1024, slotBytes: 6 * 1024, stackBytes: 4 * 1024 };

/**
 * The device in XS over wss:// (bench/xs-device.ts): live slots and chunk bytes, peaks, growth;
 * and whether the manifest's creation sizes hold it on the chip. Returns whether nothing grew.
 */
export async function deviceHeapSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<boolean> {
  progress(`xs: the whole device over wss://, ${plan.deviceMessages.toLocaleString("en-US")} messages, ${plan.deviceReconnects} reconnects`);
  const heap = await xsDeviceHeap(plan.deviceMessages, plan.deviceReconnects);
  const own = (memory: LiveMemory): LiveMemory => ({ slots: memory.slots - heap.loaded.slots, chunkBytes: memory.chunkBytes - heap.loaded.chunkBytes });
  const connected = own(heap.connected);
  const growthMessages = { slots: heap.afterMessages.slots - heap.beforeMessages.slots, chunkBytes: heap.afterMessages.chunkBytes - heap.beforeMessages.chunkBytes };
  const growthReconnects = { slots: heap.afterReconnects.slots - heap.beforeReconnects.slots, chunkBytes: heap.afterReconnects.chunkBytes - heap.beforeReconnects.chunkBytes };
  const handshakePeak = heap.handshakePeakSlots - heap.loaded.slots;
  const largePeak = heap.message16kPeakSlots - heap.loaded.slots;
  const single = (value: number) => summarize([value]);
  const esp32 = (slots: number) => slots * SLOT_BYTES_ESP32;
  records.push(
    record("xs_device_heap", "moorline", "xs", null, null, single(connected.slots), "slots", {
      note: `the device's own live slots, connected over wss:// with telemetry, heartbeat and the JSON loop running: ${esp32(connected.slots)} B at ${SLOT_BYTES_ESP32} B/slot (ESP32), plus ${connected.chunkBytes} chunk bytes; over the ${heap.loaded.slots} slots and ${heap.loaded.chunkBytes} chunk bytes of the engine with its modules loaded (in flash on the chip)`,
    }),
    record("xs_device_chunk_bytes", "moorline", "xs", null, null, single(connected.chunkBytes), "B", { note: "the device's own live chunk bytes (64-bit build: arrays' items are 32-byte slots here, 16 on the ESP32)" }),
    record("xs_device_heap_peak_tls", "moorline", "xs", null, null, single(handshakePeak), "slots", { note: `most slots in use at a delivery's end from a collection before connecting to the hello (garbage included; TLS itself is Node's here): ${esp32(handshakePeak)} B on the ESP32` }),
    record("xs_device_heap_peak_16k", "moorline", "xs", 16 * 1024, "text", single(largePeak), "slots", { note: `the same around a 16 KB request (the JSON loop refuses it: its limit is 8 KiB); its bytes and text are chunks` }),
    record("xs_device_growth_messages", "moorline", "xs", 64, null, single(growthMessages.slots), "slots", { note: `over ${heap.messages} echo requests after ${heap.warmMessages}; chunk bytes: ${growthMessages.chunkBytes}` }),
    record("xs_device_growth_reconnects", "moorline", "xs", null, null, single(growthReconnects.slots), "slots", { note: `over ${heap.reconnects} reconnections (TCP dropped by the server) after ${heap.warmReconnects}; chunk bytes: ${growthReconnects.chunkBytes}` }),
  );
  const kib = (value: number) => bytes(value);
  say();
  say("The whole device in XS (src/device/device.ts: supervisor, heartbeat, JSON loop, outbox), over wss:// to the");
  say("companion server, telemetry every second: live memory from heap snapshots (a full collection first).");
  say(table([
    ["", "slots", "on the ESP32 (16 B/slot)", "chunk bytes"],
    ["engine with the device's modules loaded (flash on the chip)", heap.loaded.slots.toLocaleString("en-US"), kib(esp32(heap.loaded.slots)), kib(heap.loaded.chunkBytes)],
    ["xs_device_heap: the device's own, connected", connected.slots.toLocaleString("en-US"), kib(esp32(connected.slots)), kib(connected.chunkBytes)],
    ["peak during the TLS handshake (upper bound, TLS itself is Node's)", handshakePeak.toLocaleString("en-US"), kib(esp32(handshakePeak)), "-"],
    ["peak around a 16 KB message (upper bound)", largePeak.toLocaleString("en-US"), kib(esp32(largePeak)), `+ ${kib(2 * heap.largePayloadChars)} (its bytes and its text, at most)`],
    [`growth over ${heap.messages.toLocaleString("en-US")} messages`, String(growthMessages.slots), kib(esp32(growthMessages.slots)), String(growthMessages.chunkBytes)],
    [`growth over ${heap.reconnects} reconnects`, String(growthReconnects.slots), kib(esp32(growthReconnects.slots)), String(growthReconnects.chunkBytes)],
  ]));
  // Against the manifest's creation. Slots: the handshake's peak plus the SDK's TLS. Chunks: at
  // the handshake, the device's connected chunks plus the SDK's TLS; with a 16 KB message, the
  // connected chunks plus the message's bytes and its text (2 x 16 KiB; the TLS handshake is
  // over by then).
  const creation = manifestCreation();
  const slotNeed = handshakePeak + SDK_TLS_FREE.slotBytes / SLOT_BYTES_ESP32;
  const chunkNeedHandshake = connected.chunkBytes + SDK_TLS_FREE.chunkBytes;
  const chunkNeedLarge = connected.chunkBytes + 2 * 16 * 1024;
  const percent = (margin: number, of: number) => `${Math.round((margin / of) * 100)}%`;
  records.push(
    record("xs_device_slot_need", "moorline", "xs", null, null, single(slotNeed), "slots", { note: `the TLS handshake's peak and the SDK's TLS (${SDK_TLS_FREE.slotBytes / SLOT_BYTES_ESP32} slots), against heap.initial ${creation.heap.initial}` }),
    record("xs_device_chunk_need_tls", "moorline", "xs", null, null, single(chunkNeedHandshake), "B", { note: `connected chunks and the SDK's TLS (${SDK_TLS_FREE.chunkBytes} B), against chunk.initial ${creation.chunk.initial}` }),
    record("xs_device_chunk_need_16k", "moorline", "xs", 16 * 1024, null, single(chunkNeedLarge), "B", { note: `connected chunks, a 16 KB message's bytes and its text, against chunk.initial ${creation.chunk.initial}` }),
  );
  say(`manifest.json creation: heap ${creation.heap.initial} slots (+${creation.heap.incremental} at a time), chunk ${kib(creation.chunk.initial)} (+${kib(creation.chunk.incremental)}), stack ${creation.stack} slots.`);
  const verdict = (need: number, initial: number, unit: (v: number) => string) =>
    need <= initial ? `fits, margin ${unit(initial - need)} (${percent(initial - need, initial)})` : `over by ${unit(need - initial)}: the heap grows by its increments`;
  say(`  slots, TLS handshake: the peak ${handshakePeak} + the SDK's TLS ${SDK_TLS_FREE.slotBytes / SLOT_BYTES_ESP32} = ${Math.round(slotNeed)} of ${creation.heap.initial}: ${verdict(slotNeed, creation.heap.initial, (v) => `${Math.round(v)} slots`)}`);
  say(`  chunks, TLS handshake: connected ${kib(connected.chunkBytes)} + the SDK's TLS ${kib(SDK_TLS_FREE.chunkBytes)} = ${kib(chunkNeedHandshake)} of ${kib(creation.chunk.initial)}: ${verdict(chunkNeedHandshake, creation.chunk.initial, kib)}`);
  say(`  chunks, a 16 KB message: connected ${kib(connected.chunkBytes)} + its bytes and its text (32 KiB) = ${kib(chunkNeedLarge)} of ${kib(creation.chunk.initial)}: ${verdict(chunkNeedLarge, creation.chunk.initial, kib)}`);
  const ok = growthMessages.slots <= 0 && growthReconnects.slots <= 0 && growthMessages.chunkBytes <= 0 && growthReconnects.chunkBytes <= 0;
  say(`  growth: ${ok ? "none (OK)" : "FAILED: the device's memory grows"}`);
  return ok;
}

// --- where an echo's steps go (--profile) -------------------------------------------------------

/** The XS meter profile of a 64 B echo, text and binary: self steps per function, exact. */
export async function xsProfileSection(records: FigureRecord[], { say, progress }: Output): Promise<void> {
  for (const kind of KINDS) {
    progress(`profile: XS, 64 B ${kind}`);
    const plain = records.find((r) => r.figure === "xs_compute_per_echo" && r.size === 64 && r.kind === kind)?.median ?? (await xsComputePerEcho(64, kind, XS_ECHOES[64]!)).perEcho;
    const profile = await xsMeterProfile(64, kind, 256, plain);
    if (profile === undefined) {
      say("XS meter profile skipped: @babel/core (installed with istanbul-lib-instrument) is missing");
      return;
    }
    say(`XS, 64 B ${kind} echo: ${num(profile.plainPerEcho, 5)} steps without probes; ${num(profile.correctedPerEcho, 5)} counted by the probes once their own cost`);
    say(`(${num(profile.overhead.inside)} steps per call in the callee, ${num(profile.overhead.outside)} in the caller, measured) is taken off; ${num(profile.callsPerEcho)} calls per echo.`);
    say(table([
      ["self steps", "%", "calls", "function", "where"],
      ...profile.rows.slice(0, 16).map((row) => [num(row.selfPerEcho), ((row.selfPerEcho / profile.correctedPerEcho) * 100).toFixed(1), num(row.callsPerEcho), row.name, row.where]),
    ]));
    say();
  }
}
