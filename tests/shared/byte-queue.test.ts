/** takeBytes: the front of a queue of received chunks, as the hosts' sockets read it. */
import assert from "node:assert/strict";

import { takeBytes } from "../../src/shared/byte-queue.js";

const bytes = (...values: number[]) => new Uint8Array(values);

describe("takeBytes", () => {
  it("gives a view of the first chunk, without copying, when it holds all that is asked", () => {
    const chunk = bytes(1, 2, 3, 4);
    const queue = [chunk, bytes(5)];
    const out = takeBytes(queue, 3);
    assert.deepEqual(out, bytes(1, 2, 3));
    assert.equal(out.buffer, chunk.buffer, "a view, not a copy");
    assert.deepEqual(queue, [bytes(4), bytes(5)]);
  });

  it("drops a chunk taken whole, handing the chunk itself", () => {
    const chunk = bytes(1, 2);
    const queue = [chunk, bytes(3)];
    assert.equal(takeBytes(queue, 2), chunk);
    assert.deepEqual(queue, [bytes(3)]);
  });

  it("joins chunks into one copy when the bytes span several, leaving the rest queued", () => {
    const queue = [bytes(1), bytes(2, 3), bytes(4, 5, 6)];
    assert.deepEqual(takeBytes(queue, 5), bytes(1, 2, 3, 4, 5));
    assert.deepEqual(queue, [bytes(6)]);
    assert.deepEqual(takeBytes(queue, 1), bytes(6));
    assert.deepEqual(queue, []);
  });
});
