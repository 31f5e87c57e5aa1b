/**
 * Programs run inside XS on Node's request: the echo agent and the device here; the tests add
 * theirs (tests/support/xs: a WebSocket client and a supervisor driven from Node, a probe of
 * the bridge) from a folder the engine is told of. Node picks each program's handle, starts
 * it with a CALL to the root handle ({op: "start", program, handle, options}) and then talks
 * to it with CALLs to its handle; a program's events reach Node as EMIT posts on its handle.
 *
 * A program module registers itself when the engine loads it (engine.ts load()), so XS
 * parses only what a run needs.
 */
import { describeError, onDelivery, post, powers } from "./bridge.js";
import { Delivery, Post, ROOT_HANDLE } from "./protocol.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };

/** What a CALL returns: a JSON value and, optionally, bytes. */
export interface CallResult {
  value?: Json;
  bytes?: Uint8Array;
}

export interface Program {
  /** Handles one call; throws to fail it (the error goes back to the caller on Node). */
  call(op: string, args: Record<string, Json>, bytes: Uint8Array): CallResult | void;
  /** A snapshot sent with every result of a call, failed or not (a client's readyState...). */
  state?(): Json;
}

/** Sends an event to Node on `handle`. */
export type Emit = (event: Record<string, Json | undefined>, bytes?: Uint8Array) => void;

export type ProgramFactory = (options: Record<string, Json>, emit: Emit) => Program;

const factories = new Map<string, ProgramFactory>();
const running = new Map<number, Program>();

export function registerProgram(name: string, factory: ProgramFactory): void {
  factories.set(name, factory);
}

const EMPTY = new Uint8Array(0);

function writeJsonAndBytes(kind: number, handle: number | undefined, value: unknown, bytes: Uint8Array | undefined): void {
  const json = powers.encode(JSON.stringify(value));
  post(kind, (writer) => {
    if (handle !== undefined) writer.u32(handle);
    writer.prefixed(json);
    if (bytes) writer.bytes(bytes);
  });
}

function emitterFor(handle: number): Emit {
  return (event, bytes) => writeJsonAndBytes(Post.EMIT, handle, event, bytes);
}

/**
 * An error as JSON, with what a Node test asserts on (name, code, closeCode, status) and
 * the XS stack.
 */
export function errorToJson(error: unknown): Json {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), stack: describeError(error) };
  const out: Record<string, Json> = { name: error.name, message: error.message, stack: describeError(error) };
  const fields = error as unknown as Record<string, unknown>;
  for (const key of ["code", "closeCode", "status"]) {
    const value = fields[key];
    if (typeof value === "string" || typeof value === "number") out[key] = value;
  }
  if (fields.cause !== undefined) out.cause = errorToJson(fields.cause);
  return out;
}

const root: Program = {
  call(op, args) {
    if (op === "start") {
      const name = String(args.program);
      const handle = Number(args.handle);
      const factory = factories.get(name);
      if (factory === undefined) throw new Error(`no program ${JSON.stringify(name)} is loaded`);
      if (!Number.isInteger(handle) || handle <= ROOT_HANDLE || running.has(handle)) throw new Error(`bad handle ${handle}`);
      running.set(handle, factory((args.options ?? {}) as Record<string, Json>, emitterFor(handle)));
      return;
    }
    if (op === "end") {
      running.delete(Number(args.handle));
      return;
    }
    throw new Error(`unknown root call ${JSON.stringify(op)}`);
  },
};

onDelivery(Delivery.CALL, (reader) => {
  const handle = reader.u32();
  const request = JSON.parse(powers.decode(reader.prefixed())) as { op: string; args?: Record<string, Json> };
  const bytes = reader.remaining > 0 ? reader.rest() : EMPTY;
  const program = handle === ROOT_HANDLE ? root : running.get(handle);
  let result: CallResult | void;
  try {
    if (program === undefined) throw new Error(`no program runs on handle ${handle}`);
    result = program.call(request.op, request.args ?? {}, bytes);
  } catch (error) {
    writeJsonAndBytes(Post.RESULT, undefined, { ok: false, error: errorToJson(error), state: program?.state?.() ?? null }, undefined);
    return;
  }
  writeJsonAndBytes(Post.RESULT, undefined, { ok: true, value: result?.value ?? null, state: program.state?.() ?? null }, result?.bytes);
});
