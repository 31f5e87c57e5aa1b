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
import { esp32Budget, ESP32_XS_BYTES, type Budget, type Creation, type DeviceNeed } from "./device-budget.js";
import { xsDeviceHeap, type LiveMemory } from "./xs-device.js";
import type { DeliverySample } from "../hosts/xs/engine.js";
import { Delivery } from "../hosts/xs/xs-side/protocol.js";
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

function manifestCreation(): Creation & { keys: { initial: number } } {
  return (JSON.parse(readFileSync(join(REPO_ROOT, "manifest.json"), "utf8")) as { creation: Creation & { keys: { initial: number } } }).creation;
}

/**
 * The SDK's TLS on the chip, which the desktop figures leave out (there TLS is Node's, on the
 * far side of the bridge): the SDK's own guideline for what a handshake needs free
 * (documentation/network/securesocket.md, "Memory": 10 KB of chunk heap, 6 KB of slot heap,
 * 2 KB of system heap, 4 KB of stack; "a rough guideline ... varies depending on the site").
 * Not measured here. What it covers, from the SDK's sources (modules/crypt/ssl, TLS 1.2): the
 * record being read (one buffer of the record's length: the Certificate message is the
 * largest, the server's chain), the chain's X.509 decoding and its signature checks (BigInt
 * chunks of a few hundred bytes each for RSA-2048), a copy of the server's certificate kept in
 * the session, the key exchange, the running handshake digests and the session's keys.
 */
export const SDK_TLS_FREE = { chunkBytes: 10 * 1024, slotBytes: 6 * 1024, stackBytes: 4 * 1024 };
/**
 * The largest message the WebSocket layer takes (config maxMessageBytes, 16 KiB), and what is
 * live at once while one arrives on the chip: two buffers of its size at most (the SDK's TLS
 * record and our copy of it, then our copy and the message's buffer, then that buffer and its
 * text). On the desktop it arrives in one delivery and is gone at its end, so it is added.
 */
const LARGE_MESSAGE_BYTES = 16 * 1024;
const LARGE_MESSAGE_LIVE_BYTES = 2 * LARGE_MESSAGE_BYTES;

/**
 * The device in XS over wss:// (bench/xs-device.ts): live slots and chunk bytes, peaks, growth;
 * and whether the manifest's creation sizes hold it on an ESP32 without PSRAM
 * (bench/device-budget.ts). Returns whether nothing grew.
 */
export async function deviceHeapSection(plan: Plan, records: FigureRecord[], { say, progress }: Output): Promise<boolean> {
  progress(`xs: the whole device over wss://, ${plan.deviceMessages.toLocaleString("en-US")} messages, ${plan.deviceReconnects} reconnects`);
  const heap = await xsDeviceHeap(plan.deviceMessages, plan.deviceReconnects);
  const own = (memory: LiveMemory): LiveMemory => ({ slots: memory.slots - heap.loaded.slots, chunkBytes: memory.chunkBytes - heap.loaded.chunkBytes });
  const connected = own(heap.connected);
  const growthMessages = { slots: heap.afterMessages.slots - heap.beforeMessages.slots, chunkBytes: heap.afterMessages.chunkBytes - heap.beforeMessages.chunkBytes };
  const growthReconnects = { slots: heap.afterReconnects.slots - heap.beforeReconnects.slots, chunkBytes: heap.afterReconnects.chunkBytes - heap.beforeReconnects.chunkBytes };
  /** The device's own share of each delivery's samples, and their peaks. */
  const peaks = (samples: DeliverySample[]) => {
    const rows = samples.map((sample) => ({ kind: sample.kind, bound: sample.slotsBound - heap.loaded.slots, ...own(sample) }));
    return {
      rows,
      slots: Math.max(...rows.map((r) => r.slots)),
      chunkBytes: Math.max(...rows.map((r) => r.chunkBytes)),
      bound: Math.max(...rows.map((r) => r.bound)),
    };
  };
  const handshake = peaks(heap.handshakeSamples);
  const large = peaks(heap.message16kSamples);
  const single = (value: number) => summarize([value]);
  const esp32 = (slots: number) => slots * SLOT_BYTES_ESP32;
  const kib = (value: number) => bytes(value);
  const count = (value: number) => value.toLocaleString("en-US");
  records.push(
    record("xs_device_heap", "moorline", "xs", null, null, single(connected.slots), "slots", {
      note: `the device's own live slots, connected over wss:// with telemetry, heartbeat and the JSON loop running: ${esp32(connected.slots)} B at ${SLOT_BYTES_ESP32} B/slot (ESP32), plus ${connected.chunkBytes} chunk bytes; over the ${heap.loaded.slots} slots and ${heap.loaded.chunkBytes} chunk bytes of the engine with its modules loaded (in flash on the chip)`,
    }),
    record("xs_device_chunk_bytes", "moorline", "xs", null, null, single(connected.chunkBytes), "B", { note: "the device's own live chunk bytes (64-bit build: arrays' items are 32-byte slots here, 16 on the ESP32)" }),
    record("xs_device_heap_peak_tls", "moorline", "xs", null, null, single(handshake.slots), "slots", { note: `most slots live at the end of a delivery, from the WiFi's address to the hello (a collection after each; TLS itself is Node's here): ${esp32(handshake.slots)} B on the ESP32; chunks ${handshake.chunkBytes} B; ${heap.handshakeSamples.length} deliveries` }),
    record("xs_device_heap_peak_tls_bound", "moorline", "xs", null, null, single(handshake.bound), "slots", { note: "the most slots a delivery of the handshake held at its end, its own garbage included (live before it plus all it allocated): an upper bound of its live peak" }),
    record("xs_device_heap_peak_16k", "moorline", "xs", 16 * 1024, "text", single(large.slots), "slots", { note: `the same around a 16 KB request (the JSON loop refuses it: its limit is 8 KiB); its upper bound ${large.bound}; chunks ${large.chunkBytes} B, the message's bytes and text (gone at its delivery's end) not included` }),
    record("xs_device_growth_messages", "moorline", "xs", 64, null, single(growthMessages.slots), "slots", { note: `over ${heap.messages} echo requests after ${heap.warmMessages}; chunk bytes: ${growthMessages.chunkBytes}` }),
    record("xs_device_growth_reconnects", "moorline", "xs", null, null, single(growthReconnects.slots), "slots", { note: `over ${heap.reconnects} reconnections (TCP dropped by the server) after ${heap.warmReconnects}; chunk bytes: ${growthReconnects.chunkBytes}` }),
  );
  say();
  say("The whole device in XS (src/device/device.ts: supervisor, heartbeat, JSON loop, outbox), over wss:// to the");
  say("companion server, telemetry every second: live memory from heap snapshots (a full collection first).");
  say(table([
    ["", "slots", "on the ESP32 (16 B/slot)", "chunk bytes"],
    ["engine with the device's modules loaded (flash on the chip)", count(heap.loaded.slots), kib(esp32(heap.loaded.slots)), kib(heap.loaded.chunkBytes)],
    ["xs_device_heap: the device's own, connected", count(connected.slots), kib(esp32(connected.slots)), kib(connected.chunkBytes)],
    ["live peak, TLS handshake (TLS itself is Node's here)", count(handshake.slots), kib(esp32(handshake.slots)), kib(handshake.chunkBytes)],
    ["live peak, a 16 KB message", count(large.slots), kib(esp32(large.slots)), `${kib(large.chunkBytes)} + the message (at most ${kib(LARGE_MESSAGE_LIVE_BYTES)} live in its delivery)`],
    [`growth over ${count(heap.messages)} messages`, String(growthMessages.slots), kib(esp32(growthMessages.slots)), String(growthMessages.chunkBytes)],
    [`growth over ${heap.reconnects} reconnects`, String(growthReconnects.slots), kib(esp32(growthReconnects.slots)), String(growthReconnects.chunkBytes)],
  ]));
  say("The peaks, delivery by delivery (the device's own share): XS collects after each, then a heap snapshot reads what");
  say("it left live; its slots at its end before that collection (garbage included) bound what it held at its most.");
  const kindName = (kind: number) => Object.entries(Delivery).find(([, value]) => value === kind)?.[0] ?? String(kind);
  say(table([
    ["moment", "delivery", "slots at its end, garbage included", "live slots after it", "live chunk bytes after it"],
    ...handshake.rows.map((row, i) => [i === 0 ? "WiFi address to hello" : "", kindName(row.kind), count(row.bound), count(row.slots), count(row.chunkBytes)]),
    ...large.rows.map((row, i) => [i === 0 ? "a 16 KB message" : "", kindName(row.kind), count(row.bound), count(row.slots), count(row.chunkBytes)]),
  ]));

  // On the chip: the live peaks, the SDK's TLS at the handshake, a largest message's buffers;
  // XS keeps what it grew, so the worst is both peaks together.
  const creation = manifestCreation();
  const tlsSlots = SDK_TLS_FREE.slotBytes / SLOT_BYTES_ESP32;
  const needs: [string, DeviceNeed][] = [
    ["TLS handshake (live peak + the SDK's TLS)", { slots: handshake.slots + tlsSlots, chunkBytes: handshake.chunkBytes + SDK_TLS_FREE.chunkBytes, largestChunk: 0 }],
    ["a 16 KB message (live peak + the message)", { slots: large.slots, chunkBytes: large.chunkBytes + LARGE_MESSAGE_LIVE_BYTES, largestChunk: LARGE_MESSAGE_BYTES }],
  ];
  const worst: DeviceNeed = {
    slots: Math.max(...needs.map(([, n]) => n.slots)),
    chunkBytes: Math.max(...needs.map(([, n]) => n.chunkBytes)),
    largestChunk: LARGE_MESSAGE_BYTES,
  };
  needs.push(["both (XS keeps what it grew)", worst]);
  const boundNeed: DeviceNeed = { ...needs[0]![1], slots: handshake.bound + tlsSlots };
  const percent = (part: number) => `${((part / ESP32_XS_BYTES) * 100).toFixed(1)}%`;
  const verdict = (budget: Budget) =>
    budget.fits ? `fits, margin ${count(budget.marginBytes)} B (${percent(budget.marginBytes)})` : `does NOT fit: over by ${count(-budget.marginBytes)} B`;
  const budgetRow = (label: string, need: DeviceNeed) => {
    const budget = esp32Budget(creation, need);
    return { budget, row: [label, count(need.slots), count(budget.heapSlots), kib(need.chunkBytes), kib(budget.chunkBytes), count(budget.totalBytes), verdict(budget)] };
  };
  const rows = needs.map(([label, need]) => budgetRow(label, need));
  const bound = budgetRow("handshake, all its garbage live (upper bound)", boundNeed);
  const total = rows[2]!.budget;
  records.push(
    record("xs_device_slot_need", "moorline", "xs", null, null, single(worst.slots), "slots", { note: `the live peak with the SDK's TLS (${tlsSlots} slots), against heap.initial ${creation.heap.initial} (+${creation.heap.incremental})` }),
    record("xs_device_chunk_need", "moorline", "xs", null, null, single(worst.chunkBytes), "B", { note: `the live chunk peak with a 16 KB message's ${LARGE_MESSAGE_LIVE_BYTES} B or the SDK's TLS (${SDK_TLS_FREE.chunkBytes} B), against chunk.initial ${creation.chunk.initial} (+${creation.chunk.incremental})` }),
    record("xs_device_esp32_bytes", "moorline", "xs", null, null, single(total.totalBytes), "B", { note: `what XS would hold on an ESP32 under manifest.json's creation at the device's worst (slot heap ${total.heapBytes} B, chunk heap ${total.chunkBytes} B, stack ${total.stackBytes} B), of the ${ESP32_XS_BYTES} B an ESP32 without PSRAM leaves XS: ${verdict(total)}` }),
  );
  say(`manifest.json creation: heap ${count(creation.heap.initial)} slots (+${creation.heap.incremental}), chunk ${kib(creation.chunk.initial)} (+${kib(creation.chunk.incremental)}), stack ${creation.stack} slots,`);
  say(`keys ${creation.keys.initial}: ${count(esp32Budget(creation, { slots: 0, chunkBytes: 0, largestChunk: 0 }).totalBytes)} B at start. On an ESP32 without PSRAM (XS has about ${count(ESP32_XS_BYTES)} B), with the SDK's`);
  say(`TLS guideline (${kib(SDK_TLS_FREE.chunkBytes)} of chunks, ${tlsSlots} slots) and a largest message's two buffers (${kib(LARGE_MESSAGE_LIVE_BYTES)}) added:`);
  say(table([
    ["moment", "slots needed", "slot heap", "chunks needed", "chunk heap", "XS in all (B)", "against ~100 KB"],
    ...rows.map((r) => r.row),
    bound.row,
  ]));
  say("The slot heap grows by its increment when fewer than one would stay free; the chunk heap by a block of at least the");
  say("chunk asked for (a 16 KiB buffer that does not fit adds 16 KiB at once). XS gives none back.");
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
