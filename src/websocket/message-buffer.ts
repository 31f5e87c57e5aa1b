/**
 * The bytes of a fragmented message (RFC 6455 section 5.4) as the receiver assembles it:
 * each fragment is copied out of the input into one buffer, so no fragment keeps the
 * (possibly much larger) read buffer it arrived in alive. The buffer grows geometrically up
 * to the message limit, and to the exact length at the final fragment; the receiver checks
 * the limits before it asks for room.
 */

/**
 * Smallest buffer a fragmented message starts with, bytes: many tiny fragments then cost a
 * few copies, while a message's buffer never exceeds maxMessageBytes.
 */
const MIN_MESSAGE_BUFFER = 256;

export class MessageBuffer {
  /** The buffer (its first `length` bytes are the message so far); undefined while empty. */
  bytes: Uint8Array | undefined = undefined;
  /** Bytes of the message received so far, fragments whole. */
  length = 0;

  /** At most this many bytes, ever (maxMessageBytes). */
  constructor(private readonly maxBytes: number) {}

  /**
   * Makes the buffer hold at least `needed` bytes (at most maxBytes: the receiver's header
   * checks came first). It doubles, so a message of many small fragments costs few copies;
   * at the final fragment (`final`) it grows to the exact length.
   */
  reserve(needed: number, final: boolean): void {
    const current = this.bytes;
    const capacity = current === undefined ? 0 : current.length;
    if (needed <= capacity) return;
    let size = needed;
    if (!final) {
      const doubled = capacity * 2 > MIN_MESSAGE_BUFFER ? capacity * 2 : MIN_MESSAGE_BUFFER;
      if (doubled > size) size = doubled < this.maxBytes ? doubled : this.maxBytes;
    }
    const grown = new Uint8Array(size);
    if (current !== undefined && this.length > 0) grown.set(current.subarray(0, this.length));
    this.bytes = grown;
  }

  /**
   * The message received, with the buffer released. `exact`: never a view into a larger
   * buffer (a copy when the buffer had grown past it).
   */
  take(exact: boolean): Uint8Array {
    const buffer = this.bytes;
    const total = this.length;
    this.clear();
    if (buffer === undefined) return new Uint8Array(0);
    if (total === buffer.length) return buffer;
    return exact ? buffer.slice(0, total) : buffer.subarray(0, total);
  }

  /** Forgets the message and releases its buffer. */
  clear(): void {
    this.bytes = undefined;
    this.length = 0;
  }
}
