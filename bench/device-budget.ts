/**
 * Whether the device's memory, measured in XS on the desktop (bench/xs-device.ts), fits an
 * ESP32 without PSRAM under manifest.json's `creation` sizes: what XS would hold from the
 * system (its slot heap, its chunk heap and its stack; XS gives none of it back), following how
 * XS grows them (the SDK's xs/sources/xsMemory.c):
 * - slots: after a collection that leaves fewer than `heap.incremental` slots free (twice in a
 *   row), XS adds `heap.incremental` slots; so a live need of N slots is held without growth
 *   when N + incremental <= initial. Counted as growing whenever it is not (the cautious side).
 * - chunks: a chunk lies in one block; when none has room after a compacting collection, XS
 *   adds a block of at least the chunk asked for, rounded up to `chunk.incremental`: a 16 KiB
 *   buffer that does not fit grows the chunk heap by 16 KiB or more at once.
 */
import { SLOT_BYTES_ESP32 } from "./xs.js";

/** What an ESP32 without PSRAM leaves XS (the guide's ~100 KB), bytes. */
export const ESP32_XS_BYTES = 100_000;
/** A chunk block's own header (txBlock: three pointers and a spare on 32-bit), bytes: rounded up. */
const BLOCK_HEADER_BYTES = 16;

/** manifest.json's `creation` (the parts that size XS's memory). */
export interface Creation {
  chunk: { initial: number; incremental: number };
  heap: { initial: number; incremental: number };
  /** Slots. */
  stack: number;
}

/** What the device needs live at its worst moment. */
export interface DeviceNeed {
  /** Live slots. */
  slots: number;
  /** Live chunk bytes. */
  chunkBytes: number;
  /** The largest single chunk asked for then, bytes (a 16 KB message's buffer or its text). */
  largestChunk: number;
}

export interface Budget {
  /** Slots XS holds: the initial heap, grown by increments when the need leaves less than one free. */
  heapSlots: number;
  /** Chunk bytes XS holds. */
  chunkBytes: number;
  /** Bytes of each on the ESP32, and in all. */
  heapBytes: number;
  stackBytes: number;
  totalBytes: number;
  /** Slot and chunk increments taken beyond `creation`'s initial sizes. */
  heapIncrements: number;
  chunkGrowthBytes: number;
  /** ESP32_XS_BYTES - totalBytes (negative: does not fit). */
  marginBytes: number;
  fits: boolean;
}

const roundUp = (value: number, step: number) => Math.ceil(value / step) * step;

/** What XS holds on the ESP32 when the device needs `need` (see the file's comment). */
export function esp32Budget(creation: Creation, need: DeviceNeed): Budget {
  const { heap, chunk } = creation;
  let heapSlots = heap.initial;
  if (need.slots + heap.incremental > heap.initial) heapSlots = heap.initial + roundUp(need.slots + heap.incremental - heap.initial, heap.incremental);
  let chunkBytes = chunk.initial;
  if (need.chunkBytes > chunk.initial) {
    const grown = Math.max(need.chunkBytes - chunk.initial, need.largestChunk) + BLOCK_HEADER_BYTES;
    chunkBytes = chunk.initial + roundUp(grown, chunk.incremental);
  }
  const heapBytes = heapSlots * SLOT_BYTES_ESP32;
  const stackBytes = creation.stack * SLOT_BYTES_ESP32;
  const totalBytes = heapBytes + chunkBytes + stackBytes;
  return {
    heapSlots,
    chunkBytes,
    heapBytes,
    stackBytes,
    totalBytes,
    heapIncrements: (heapSlots - heap.initial) / heap.incremental,
    chunkGrowthBytes: chunkBytes - chunk.initial,
    marginBytes: ESP32_XS_BYTES - totalBytes,
    fits: totalBytes <= ESP32_XS_BYTES,
  };
}
