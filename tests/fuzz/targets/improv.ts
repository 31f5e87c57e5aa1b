/**
 * Fuzz target: the Improv serial codec (src/provisioning/improv.ts) against a reference
 * reading of the packet format (below, whole-input): "IMPROV", version 1, type, length,
 * data, and the checksum (the sum of every byte before it, modulo 256). Each input is what a
 * serial line carries, log text and packets mixed; fed whole, cut at hash-chosen places and
 * byte by byte, then reset() (the line went quiet), the parser must find exactly the
 * reference's packets, drop exactly its bad checksums, report a packet cut off as
 * incomplete, and hand back every other byte, in order. It never throws, and holds one
 * buffer of 255 bytes, never another. Each packet's data then goes through the RPC and string
 * decoders, which never throw, decode strings as Node's TextDecoder does, and give back what
 * the encoders wrote (the round trip).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeRpc,
  decodeStrings,
  decodeWifiSettings,
  encodeImprovByte,
  encodeImprovPacket,
  encodeRpcCommand,
  encodeRpcResult,
  encodeWifiSettings,
  ImprovCommand,
  ImprovParser,
  ImprovType,
  MAX_IMPROV_DATA_BYTES,
} from "../../../src/provisioning/improv.js";
import { improvEvents } from "../../support/xs/fuzz-observe.js";
import { concat } from "../../support/frames.js";
import { chunkings, toHex, type FuzzTarget } from "../target.js";

const HEADER = new TextEncoder().encode("IMPROV");
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The events the format asks for (as improvEvents writes them), and the data of each good packet. */
function reference(bytes: Uint8Array): { events: string[]; packets: Array<{ type: number; data: Uint8Array }> } {
  const events: string[] = [];
  const packets: Array<{ type: number; data: Uint8Array }> = [];
  let other = "";
  const flush = () => {
    if (other !== "") events.push(`other ${other}`);
    other = "";
  };
  const headerAt = (i: number) => HEADER.every((b, k) => bytes[i + k] === b);
  let i = 0;
  while (i < bytes.length) {
    const rest = bytes.length - i;
    if (rest < HEADER.length && HEADER.subarray(0, rest).every((b, k) => bytes[i + k] === b)) {
      other += toHex(bytes.subarray(i)); // a header begun when the line went quiet: text after all
      break;
    }
    if (!headerAt(i) || (i + 6 < bytes.length && bytes[i + 6] !== 1)) {
      // Not a packet of version 1: "IMPROV" then anything else is text, and so is every other byte.
      const skip = headerAt(i) ? HEADER.length : 1;
      other += toHex(bytes.subarray(i, i + skip));
      i += skip;
      continue;
    }
    // A packet: header, version, type, length, data, checksum; cut off if the input ends first.
    const checksumAt = i + 9 + (bytes[i + 8] ?? 0);
    flush();
    if (i + 8 >= bytes.length || checksumAt >= bytes.length) {
      events.push("bad incomplete");
      break;
    }
    let sum = 0;
    for (let k = i; k < checksumAt; k++) sum += bytes[k]!;
    if ((sum & 0xff) === bytes[checksumAt]) {
      const data = bytes.subarray(i + 9, checksumAt);
      events.push(`packet ${bytes[i + 7]} ${toHex(data)}`);
      packets.push({ type: bytes[i + 7]!, data });
    } else events.push("bad checksum");
    i = checksumAt + 1;
  }
  flush();
  return { events, packets };
}

/** The decoders on one packet's data: no throw, strings as TextDecoder reads them, and the way back. */
function checkDecoders(type: number, data: Uint8Array, packet: () => Uint8Array): void {
  const rpc = decodeRpc(data);
  if ("problem" in rpc) {
    assert.ok(data.length < 2 || data[1] !== data.length - 2, `decodeRpc refused ${toHex(data)}: ${rpc.problem}`);
    return;
  }
  assert.equal(data[1], data.length - 2);
  const strings = decodeStrings(rpc.payload);
  // The reference: length-prefixed strings of UTF-8, to the last byte.
  const expected: string[] = [];
  let at = 0;
  let valid = true;
  while (valid && at < rpc.payload.length) {
    const length = rpc.payload[at]!;
    if (at + 1 + length > rpc.payload.length) valid = false;
    else {
      try {
        expected.push(utf8.decode(rpc.payload.subarray(at + 1, at + 1 + length)));
      } catch {
        valid = false;
      }
      at += 1 + length;
    }
  }
  assert.equal(Array.isArray(strings), valid, `decodeStrings of ${toHex(rpc.payload)}`);
  if (!Array.isArray(strings)) {
    assert.ok(!/[\u0000-\u001f]/.test(strings.problem), strings.problem);
    return;
  }
  assert.deepEqual(strings, expected);
  if (type === ImprovType.RPC_RESULT) assert.deepEqual(encodeRpcResult(rpc.command, strings), packet(), "an RPC result re-encoded");
  const wifi = decodeWifiSettings(rpc.payload);
  assert.equal("problem" in wifi, strings.length !== 2);
  if (type === ImprovType.RPC_COMMAND && rpc.command === ImprovCommand.WIFI_SETTINGS && !("problem" in wifi)) {
    assert.deepEqual(encodeWifiSettings(wifi.ssid, wifi.password), packet(), "WiFi settings re-encoded");
  }
}

/** Log lines as a device prints them, now and then with the header's letters in them. */
const logLine = fc
  .tuple(fc.constantFrom("", "I (123) wifi: ", "IMPROVED ", "IMPRO", "IMPROV", "[moorline] "), fc.stringMatching(/^[ -~]{0,40}$/), fc.constantFrom("\n", "\r\n", ""))
  .map(([prefix, text, end]) => new TextEncoder().encode(prefix + text + end));
const text = fc.string({ unit: "binary", maxLength: 16 });
const packet = fc.oneof(
  fc.tuple(fc.constantFrom(ImprovType.CURRENT_STATE, ImprovType.ERROR_STATE), fc.nat(255)).map(([type, value]) => encodeImprovByte(type, value)),
  fc.tuple(text, text).map(([ssid, password]) => encodeWifiSettings(ssid, password)),
  fc.tuple(fc.nat(5), fc.uint8Array({ maxLength: 40 })).map(([command, data]) => encodeRpcCommand(command, data)),
  fc.tuple(fc.nat(5), fc.array(text, { maxLength: 5 })).map(([command, strings]) => encodeRpcResult(command, strings)),
  fc.tuple(fc.nat(255), fc.uint8Array({ maxLength: MAX_IMPROV_DATA_BYTES })).map(([type, data]) => encodeImprovPacket(type, data)),
);
const line = fc.oneof({ weight: 4, arbitrary: packet }, { weight: 4, arbitrary: logLine }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }) });

export const improvTarget: FuzzTarget = {
  name: "improv",
  about: "src/provisioning/improv.ts (parser among log lines, RPC and string decoders) against a reference reading of the format, any chunking",
  inputs: fc.array(line, { maxLength: 8 }).map((lines) => concat(...lines)),
  check(bytes) {
    const { events: expected, packets } = reference(bytes);
    for (const [way, chunks] of chunkings(bytes, 700)) {
      const held = (parser: ImprovParser) => {
        const data = (parser as unknown as { data: Uint8Array }).data;
        assert.equal(data.length, MAX_IMPROV_DATA_BYTES, "the one data buffer");
      };
      assert.deepEqual(improvEvents(chunks, held), expected, `fed ${way}`);
    }
    for (const { type, data } of packets) checkDecoders(type, data, () => encodeImprovPacket(type, data));
  },
};
