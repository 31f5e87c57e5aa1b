/**
 * What a fuzz input makes the firmware do, as text, computed by the same portable code on
 * Node and inside XS (tests/support/xs/fuzz-parity.ts), so tests/fuzz/parity.ts can check that
 * both engines answer every input alike: the JSON loop's answers to one message (a fresh
 * DeviceApp each time), and the frame parser's events for a server's byte stream.
 */
import { DeviceApp } from "../../../src/device/app.js";
import { DEVICE_SETTINGS, Settings } from "../../../src/device/settings.js";
import type { Timers, Utf8Codec } from "../../../src/shared/host.js";
import { MemoryStorage } from "../../../src/shared/memory-storage.js";
import { Receiver } from "../../../src/websocket/receiver.js";

/** Timers that never fire: the built-in handlers answer at once. */
const stillTimers: Timers = { set: () => 0, clear: () => {}, now: () => 0 };

/** Everything the device sends in answer to the message `text`, in order. */
export function jsonLoopAnswers(text: string): string[] {
  const sent: string[] = [];
  const app = new DeviceApp({
    identity: { deviceId: "fuzz-1", firmware: "0.1.0", bootId: "5f2c9a1e" },
    timers: stillTimers,
    send: (out) => {
      sent.push(out);
      return true;
    },
    sendBinary: () => true,
    settings: new Settings({ storage: new MemoryStorage(), specs: DEVICE_SETTINGS }),
  });
  app.receive(text);
  return sent;
}

/** The parser's events for `bytes` (limits as the frames target's), one per line. */
export function frameEvents(bytes: Uint8Array, utf8: Utf8Codec): string {
  const events: string[] = [];
  const hex = (data: Uint8Array): string => {
    let out = "";
    for (let i = 0; i < data.length; i++) out += (data[i]! < 16 ? "0" : "") + data[i]!.toString(16);
    return out;
  };
  const receiver = new Receiver(
    {
      onMessage: (data) => events.push(typeof data === "string" ? `text ${JSON.stringify(data)}` : `binary ${hex(data)}`),
      onPing: (payload) => events.push(`ping ${hex(payload)}`),
      onPong: (payload) => events.push(`pong ${hex(payload)}`),
      onClose: (code, reason) => events.push(`close ${code} ${JSON.stringify(reason)}`),
      onError: (error) => events.push(`error ${error.code} ${String(error.closeCode)} ${error.message}`),
    },
    { maxMessageBytes: 600, maxFrameBytes: 300 },
    (data) => utf8.decode(data),
  );
  receiver.push(bytes);
  return events.join("\n");
}
