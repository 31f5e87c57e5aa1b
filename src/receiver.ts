/**
 * The frame parser: a pure incremental state machine (RFC 6455 section 5). It takes bytes
 * in any chunking, down to one byte at a time, and emits events; it never touches a socket.
 * STUB: signatures are the contract; implementation pending.
 */
import type { WebSocketError } from "./errors.js";

export interface ReceiverEvents {
  /** A complete message: a string for text (validated UTF-8), bytes for binary. */
  onMessage(data: string | Uint8Array): void;
  /** A ping's payload (0..125 bytes). The client answers with a pong. */
  onPing(payload: Uint8Array): void;
  /** A pong's payload. */
  onPong(payload: Uint8Array): void;
  /**
   * A valid close frame: `code` is 1005 when the frame had no payload. After this the
   * receiver ignores all further input.
   */
  onClose(code: number, reason: string): void;
  /**
   * A protocol violation: the error carries its close code (1002, 1007 or 1009). After this
   * the receiver ignores all further input.
   */
  onError(error: WebSocketError): void;
}

export interface ReceiverLimits {
  /** Largest reassembled message, bytes. */
  maxMessageBytes: number;
  /** Largest single frame payload, bytes. */
  maxFrameBytes: number;
}

export class Receiver {
  constructor(events: ReceiverEvents, limits: ReceiverLimits) {
    void events; void limits;
    throw new Error("not implemented");
  }
  /** Feeds bytes from the server. Safe to call after close or error (input is ignored). */
  push(chunk: Uint8Array): void {
    void chunk;
    throw new Error("not implemented");
  }
  /** True once a close frame was received or an error was reported. */
  get stopped(): boolean {
    throw new Error("not implemented");
  }
}
