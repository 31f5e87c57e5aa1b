/**
 * A DeviceApp (src/device/app.ts) on a virtual clock with a fake `send` that records every
 * text: the harness of the tests of the JSON loop, its built-in handlers and its telemetry
 * (tests/device/app.test.ts, handlers.test.ts, telemetry.test.ts).
 */
import assert from "node:assert/strict";
import { DeviceApp, type DeviceAppOptions } from "../../src/device/app.js";
import type { LogLevel } from "../../src/shared/host.js";
import { DEVICE_SETTINGS, Settings } from "../../src/device/settings.js";
import { MemoryStorage } from "../../src/shared/memory-storage.js";
import { VirtualClock } from "./virtual-clock.js";

export const BOOT = "5f2c9a1e";

export interface LogLine {
  level: LogLevel;
  event: string;
  fields?: Record<string, unknown>;
}

export type Message = Record<string, unknown>;

/** Lets promise callbacks (microtasks) run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function harness(options: Partial<DeviceAppOptions> = {}, storage = new MemoryStorage()) {
  const clock = new VirtualClock();
  const settings = new Settings({ storage, specs: DEVICE_SETTINGS });
  const logs: LogLine[] = [];
  const texts: string[] = [];
  const binaries: Uint8Array[] = [];
  const h = {
    clock,
    storage,
    settings,
    logs,
    texts,
    binaries,
    /** What send() answers: false simulates no connection or a full send buffer. */
    accept: true,
    app: undefined as unknown as DeviceApp,
    /** Texts sent since the last take(), parsed. */
    take(): Message[] {
      return texts.splice(0).map((text) => JSON.parse(text) as Message);
    },
    /** Feeds `message` (an object is serialised) and returns what the device sent in answer. */
    feed(message: unknown): Message[] {
      h.app.receive(typeof message === "string" ? message : JSON.stringify(message));
      return h.take();
    },
    events(name: string): LogLine[] {
      return logs.filter((line) => line.event === name);
    },
  };
  h.app = new DeviceApp({
    identity: { deviceId: "sim-1", firmware: "0.1.0", bootId: BOOT },
    timers: clock,
    log: (level, event, fields) => logs.push({ level, event, fields }),
    send: (text) => {
      if (!h.accept) return false;
      texts.push(text);
      return true;
    },
    sendBinary: (bytes) => {
      if (!h.accept) return false;
      binaries.push(bytes);
      return true;
    },
    settings,
    freeMemory: () => 81234,
    ...options,
  });
  return h;
}

/** The one reply to a request, checked for type and id. */
export function onlyReply(sent: Message[], id: unknown): Message {
  assert.equal(sent.length, 1, `exactly one message, got ${JSON.stringify(sent)}`);
  assert.equal(sent[0].type, "reply");
  assert.deepEqual(sent[0].id, id);
  return sent[0];
}

export function errorOf(message: Message): { code: string; message: string } {
  const error = message.error as { code: string; message: string };
  assert.ok(error && typeof error.code === "string" && typeof error.message === "string", JSON.stringify(message));
  return error;
}

/** A good request after a bad one is still answered: the loop goes on. */
export function assertStillAnswers(h: AppHarness): void {
  const reply = onlyReply(h.feed({ type: "ping", id: "after" }), "after");
  assert.deepEqual((reply.result as Message).pong, true);
}

export type AppHarness = ReturnType<typeof harness>;
