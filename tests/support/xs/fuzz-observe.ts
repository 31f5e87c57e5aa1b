/**
 * What a fuzz input makes the firmware do, as text, computed by the same portable code on
 * Node and inside XS (tests/support/xs/fuzz-parity.ts), so tests/fuzz/parity.ts can check that
 * both engines answer every input alike: the JSON loop's answers to one message (a fresh
 * DeviceApp each time), the frame parser's events for a server's byte stream, the MQTT
 * packet parser's events for a broker's, the Improv parser's for a serial line, and the
 * captive portal's outcome for one HTTP request (with its form decoded and escaped). The
 * fuzz targets (tests/fuzz/targets) record their parsers through these same functions, fed in
 * chunks, with a look at the parser after each push (its memory).
 */
import { DeviceApp } from "../../../src/device/app.js";
import { DEVICE_SETTINGS, Settings } from "../../../src/device/settings.js";
import type { Timers, Utf8Codec } from "../../../src/shared/host.js";
import { MemoryStorage } from "../../../src/shared/memory-storage.js";
import { PacketParser } from "../../../src/mqtt/parser.js";
import { decodeForm, escapeHtml } from "../../../src/provisioning/form.js";
import { HttpRequestParser, type HttpParseResult, type HttpRequestLimits } from "../../../src/provisioning/http-request.js";
import { ImprovParser } from "../../../src/provisioning/improv.js";
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

function hex(data: Uint8Array): string {
  let out = "";
  for (let i = 0; i < data.length; i++) out += (data[i]! < 16 ? "0" : "") + data[i]!.toString(16);
  return out;
}

/** The parser's events for `bytes` (limits as the frames target's), one per line. */
export function frameEvents(bytes: Uint8Array, utf8: Utf8Codec): string {
  const events: string[] = [];
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

/** The mqtt target's limit: Remaining Lengths past it are refused (ERR_MQTT_PACKET_TOO_BIG). */
export const MQTT_FUZZ_MAX_PACKET_BYTES = 300;

/**
 * The MQTT packet parser's events for a broker's bytes pushed as `chunks`, one string each:
 * "connack <session present> <code>", "publish <topic as JSON> <payload hex> <qos> <id> <dup>
 * <retain>", "puback <id>", "suback <id> <codes hex>", "pingresp", or "error <code> <close
 * code> <message>" (the last). `afterPush` sees the parser after each push.
 */
export function mqttEvents(chunks: readonly Uint8Array[], afterPush?: (parser: PacketParser) => void): string[] {
  const events: string[] = [];
  const parser = new PacketParser(
    {
      onConnack: (sessionPresent, code) => events.push(`connack ${sessionPresent} ${code}`),
      onPublish: (topic, payload, qos, id, dup, retain) => events.push(`publish ${JSON.stringify(topic)} ${hex(payload)} ${qos} ${id} ${dup} ${retain}`),
      onPuback: (id) => events.push(`puback ${id}`),
      onSuback: (id, codes) => events.push(`suback ${id} ${hex(codes)}`),
      onPingresp: () => events.push("pingresp"),
      onError: (error) => events.push(`error ${error.code} ${String(error.closeCode)} ${error.message}`),
    },
    MQTT_FUZZ_MAX_PACKET_BYTES,
  );
  for (const chunk of chunks) {
    parser.push(chunk);
    afterPush?.(parser);
  }
  return events;
}

/**
 * The Improv parser's events for a serial line's bytes pushed as `chunks`, then reset() (the
 * line went quiet): "packet <type> <data hex>", "bad <problem>", and "other <hex>" for bytes
 * that are no packet's, adjacent runs joined (how a chunking cuts them does not matter).
 */
export function improvEvents(chunks: readonly Uint8Array[], afterPush?: (parser: ImprovParser) => void): string[] {
  const events: string[] = [];
  const parser = new ImprovParser({
    onPacket: (type, data) => events.push(`packet ${type} ${hex(data)}`),
    onBadPacket: (problem) => events.push(`bad ${problem}`),
    onOther: (bytes) => {
      const last = events.length - 1;
      if (last >= 0 && events[last]!.startsWith("other ")) events[last] += hex(bytes);
      else events.push(`other ${hex(bytes)}`);
    },
  });
  for (const chunk of chunks) {
    parser.push(chunk);
    afterPush?.(parser);
  }
  parser.reset();
  return events;
}

/** The http target's limits: small, so inputs of a few hundred bytes reach each. */
export const HTTP_FUZZ_LIMITS: Readonly<HttpRequestLimits> = Object.freeze({ maxHeadBytes: 320, maxRequestLineBytes: 120, maxFields: 8, maxBodyBytes: 200 });

/**
 * What the captive portal makes of one request's bytes pushed as `chunks`: "more" (still
 * waiting), "error <status> <message>", or "request" with the request's parts as JSON and,
 * for a body, its form decoded ("form" and the fields, or "refused" and the message) and
 * each value as escapeHtml writes it. `afterPush` sees the parser and what push returned.
 */
export function httpOutcome(chunks: readonly Uint8Array[], afterPush?: (parser: HttpRequestParser, result: HttpParseResult) => void): string {
  const parser = new HttpRequestParser(HTTP_FUZZ_LIMITS);
  let outcome = "more";
  for (const chunk of chunks) {
    const result = parser.push(chunk);
    afterPush?.(parser, result);
    if (result.kind === "error") outcome = `error ${result.error.status} ${result.error.message}`;
    else if (result.kind === "request") {
      const { method, path, query, minorVersion, host, contentType, origin, body } = result.request;
      outcome = `request ${JSON.stringify([method, path, query, minorVersion, host ?? null, contentType, origin, hex(body)])}`;
      if (body.length > 0) {
        const form = decodeForm(body);
        const fields: string[] = [];
        if (form.ok) form.fields.forEach((value, name) => fields.push(name, value, escapeHtml(value)));
        outcome += form.ok ? ` form ${JSON.stringify(fields)}` : ` refused ${form.message}`;
      }
    }
  }
  return outcome;
}
