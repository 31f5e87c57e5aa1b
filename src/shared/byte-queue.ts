/**
 * Received bytes waiting for a reader, as a queue of chunks: shared by the hosts' sockets
 * (the Node host's, and the XS host's on the far side of its bridge).
 */

/**
 * Takes `count` bytes (1 to the number queued) from the front of `queue`, updating it in
 * place. A reader taking whole chunks gets a view of the first chunk, no copy; otherwise the
 * bytes are copied once into a new array.
 */
export function takeBytes(queue: Uint8Array[], count: number): Uint8Array {
  const first = queue[0]!;
  if (first.length === count) {
    // The whole chunk: itself, not a new view of it.
    queue.shift();
    return first;
  }
  if (first.length > count) {
    queue[0] = first.subarray(count);
    return first.subarray(0, count);
  }
  const out = new Uint8Array(count);
  let offset = 0;
  while (offset < count) {
    const chunk = queue[0]!;
    const take = Math.min(chunk.length, count - offset);
    out.set(chunk.subarray(0, take), offset);
    offset += take;
    if (take === chunk.length) queue.shift();
    else queue[0] = chunk.subarray(take);
  }
  return out;
}
