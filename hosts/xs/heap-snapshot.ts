/**
 * The sizes inside an XS heap snapshot (moved out of engine.ts): the engine's liveMemory()
 * and the bench read a snapshot's live slots and chunk bytes with snapshotSections.
 */

/** sizeof(txSlot) in the xsnap-worker built here (64-bit); 16 on the ESP32. */
export const XS_SLOT_BYTES = 32;

/**
 * The sizes of an XS heap snapshot's live slots (its HEAP section) and chunks (BLOC): the
 * snapshot is an atom "XS_M" of atoms, each a big-endian u32 size (header included) and a
 * 4-letter tag (xsSnapshot.c fxWriteSnapshot).
 */
export function snapshotSections(snapshot: Uint8Array): { heapBytes: number; chunkBytes: number } {
  const view = new DataView(snapshot.buffer, snapshot.byteOffset, snapshot.length);
  const tag = (at: number) => String.fromCharCode(...snapshot.subarray(at + 4, at + 8));
  if (snapshot.length < 8 || tag(0) !== "XS_M") throw new Error("not an XS snapshot");
  let heapBytes = -1;
  let chunkBytes = -1;
  for (let at = 8; at + 8 <= snapshot.length; ) {
    const size = view.getUint32(at);
    if (size < 8) throw new Error(`bad snapshot section at ${at}`);
    if (tag(at) === "HEAP") heapBytes = size - 8;
    if (tag(at) === "BLOC") chunkBytes = size - 8;
    at += size;
  }
  if (heapBytes < 0 || chunkBytes < 0) throw new Error("the snapshot has no HEAP or BLOC section");
  return { heapBytes, chunkBytes };
}
