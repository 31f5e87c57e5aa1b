/**
 * Faults on request, for trying what the device does when its code goes wrong: the `fault`
 * request, present only when the build config says `faults=true` (the desktop's --faults).
 * Never in a production build: anyone who can send requests could stop the device.
 *
 *   {"type":"fault","id":1,"kind":"hang"}    a handler that never returns: the watchdog
 *                                            resets the device (next hello: reset "watchdog")
 *   {"type":"fault","id":1,"kind":"crash"}   an exception nobody catches, thrown from a timer
 *                                            after the reply: the device panics and restarts
 *                                            (next hello: reset "panic")
 *
 * Sent at every boot, "crash" makes the boot loop that leads to safe mode.
 */
import { describe, RequestErrorCode, requestError } from "../shared/errors.js";
import type { Timers } from "../shared/host.js";
import { defineHandler, type RequestHandler } from "../device/handlers.js";

/** The request type. */
export const FAULT_TYPE = "fault";
/** The kinds of fault. */
export const FAULT_KINDS: readonly string[] = Object.freeze(["hang", "crash"]);

/** How long after its reply a crash is thrown, ms: the reply goes out first. */
const CRASH_DELAY_MS = 50;

/** The `fault` handler, over the device's timers (a crash is thrown from one of them). */
export function faultHandler(timers: Timers, log: (event: string, fields: Record<string, unknown>) => void): RequestHandler<string, Record<string, unknown>> {
  return defineHandler({
    parse(message) {
      const kind = message.kind;
      if (typeof kind !== "string" || !FAULT_KINDS.includes(kind)) {
        throw requestError(RequestErrorCode.BAD_REQUEST, `fault needs "kind": "hang" or "crash", got ${describe(kind)}`);
      }
      return kind;
    },
    handle(kind) {
      log("fault_injected", { kind });
      if (kind === "hang") hang();
      timers.set(() => {
        throw new Error("fault injected: crash (an exception nobody catches)");
      }, CRASH_DELAY_MS);
      return { kind, inMs: CRASH_DELAY_MS };
    },
  });
}

/** A turn that never ends: only a watchdog gets the device out of it. */
function hang(): never {
  for (;;) {
    // spin
  }
}
