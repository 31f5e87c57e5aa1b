/**
 * The XS end of the command channel: it answers Node's deliveries (one at a time: xsnap
 * serialises them), queues posts for Node in the answer, makes synchronous calls, and keeps
 * the clock. Everything here runs inside XS; see protocol.ts for the wire format.
 */
import {
  ANSWER_OK,
  Command,
  DELIVERY_HEADER_BYTES,
  Delivery,
  Post,
  Reader,
  Writer,
} from "./protocol.js";
import type { XsPowers } from "./xs-globals.js";

export const powers: XsPowers = (globalThis as unknown as { __xsHost: XsPowers }).__xsHost;

/**
 * Posts for Node, and the record of a synchronous call, waiting to cross. Exported for the
 * socket's writes (out.record), which cost a call less than going through postIdBytes.
 */
export const out = new Writer();

type DeliveryHandler = (reader: Reader) => void;
const handlers = new Map<number, DeliveryHandler>();

/** Work deferred until the current handler has returned (like setImmediate, within the delivery). */
const later: Array<() => void> = [];

/** Registers what handles one kind of delivery. */
export function onDelivery(kind: number, handler: DeliveryHandler): void {
  handlers.set(kind, handler);
}

/**
 * Runs `task` after the current event handler, before the answer goes to Node: how the host
 * reports something "not from inside" the caller's call. (xsnap runs setImmediate callbacks
 * only after handleCommand has answered, too late for their posts to cross.)
 */
export function defer(task: () => void): void {
  later.push(task);
}

/** Writes a post: `write` fills its body. */
export function post(kind: number, write?: (writer: Writer) => void): void {
  const at = out.begin(kind);
  write?.(out);
  out.end(at);
}

/** Posts with a u32 body (the common case: an id). */
export function postId(kind: number, id: number): void {
  out.record(kind, id);
}


/**
 * A synchronous call to Node: `write` fills the command's body; the posts made so far go
 * first, so Node sees everything in the order XS did it. Returns a reader over Node's answer
 * body; throws what Node threw (same name and message).
 */
export function call(kind: number, write?: (writer: Writer) => void): Reader {
  const at = out.begin(kind);
  write?.(out);
  out.end(at);
  const answer = new Uint8Array(powers.issueCommand(out.take()));
  if (answer[0] === ANSWER_OK) return new Reader(answer, 1);
  const text = powers.decode(answer.subarray(1));
  const split = text.indexOf("\u0000");
  const name = split < 0 ? "Error" : text.slice(0, split);
  const message = split < 0 ? text : text.slice(split + 1);
  const error = name === "TypeError" ? new TypeError(message) : name === "RangeError" ? new RangeError(message) : new Error(message);
  if (name !== "TypeError" && name !== "RangeError" && name !== "Error") error.name = name;
  throw error;
}

// --- the clock --------------------------------------------------------------------------

/**
 * Timers.now() must be monotonic, and xsnap's Date.now() and performance.now() both follow
 * the wall clock. Each delivery brings Node's performance.now() (monotonic); between
 * deliveries, XS adds the wall clock's progress since the delivery arrived. A wall-clock step
 * thus lasts at most until the next delivery, and the result never goes backwards.
 */
let nodeAnchor = 0;
let wallAnchor = 0;
let lastNow = 0;

export function now(): number {
  const elapsed = powers.wallNow() - wallAnchor;
  const t = nodeAnchor + (elapsed > 0 ? elapsed : 0);
  if (t > lastNow) lastNow = t;
  return lastNow;
}

// --- answering deliveries ---------------------------------------------------------------

/** "Name: message" and the XS stack, for Node to show; follows `cause`. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return `uncaught value: ${safeString(error)}`;
  const stack = typeof error.stack === "string" ? error.stack : "";
  const head = `${error.name}: ${error.message}`;
  const code = (error as { code?: unknown }).code;
  let text = stack.startsWith(head) ? stack : `${head}\n${stack}`;
  if (code !== undefined) text = text.replace(head, `${head} [${safeString(code)}]`);
  const cause = (error as { cause?: unknown }).cause;
  if (cause !== undefined) text += `\nCaused by: ${describeError(cause)}`;
  return text;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

function reportException(error: unknown): void {
  const text = powers.encode(describeError(error));
  post(Post.EXCEPTION, (writer) => writer.bytes(text));
}

function runLater(): void {
  // Bounded by what the handlers queue; a task may queue more (each runs once).
  while (later.length > 0) {
    const task = later.shift()!;
    try {
      task();
    } catch (error) {
      reportException(error);
    }
  }
}

function handleDelivery(message: ArrayBuffer): ArrayBuffer {
  // The header (kind u8, Node's clock f64) is read directly: this runs for every delivery.
  const reader = new Reader(new Uint8Array(message), DELIVERY_HEADER_BYTES);
  try {
    if (message.byteLength < DELIVERY_HEADER_BYTES) throw new RangeError(`bridge message truncated: ${message.byteLength} bytes, a delivery's header is ${DELIVERY_HEADER_BYTES}`);
    const kind = reader.bytes[0]!;
    nodeAnchor = reader.view.getFloat64(1, true);
    wallAnchor = powers.wallNow();
    if (kind === Delivery.GC) {
      powers.gc();
    } else {
      const handler = handlers.get(kind);
      if (handler === undefined) throw new Error(`no handler for delivery kind ${kind}`);
      handler(reader);
    }
  } catch (error) {
    reportException(error);
  }
  if (later.length > 0) runLater();
  return out.take();
}

powers.setHandler(handleDelivery);

export { Command, Delivery, Post, Reader, Writer };
