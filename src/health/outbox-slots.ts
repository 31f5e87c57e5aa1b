/**
 * How telemetry records are laid out in storage (src/health/outbox-store.ts): one storage value
 * ("slot") per chunk of records written together, each line checksummed, so that a value cut
 * short or damaged (a power cut in the middle of a write, a flash fault) is found out record by
 * record and never read as data.
 *
 *   m1 <chunk> <boot> <count> <sum>        the header: format, chunk number (increasing across
 *                                          boots: the order chunks were written in), the boot
 *                                          that made the records, how many follow
 *   <seq> <sum> <record text>              one line per record, oldest first
 *
 * Lines are separated by "\n" (JSON.stringify never puts a raw newline in a record). Each
 * <sum> is FNV-1a (32 bits, 8 hex digits) of the rest of its line, the record's line also
 * covering the header's boot, so a record cannot pass for another boot's. A slot fits NVS's
 * limit on a string value (MAX_STORAGE_VALUE_BYTES).
 */
import { MAX_STORAGE_VALUE_BYTES } from "../shared/memory-storage.js";
import { utf8Length } from "../websocket/utf8.js";

/** The format's tag, first on every slot. */
export const SLOT_FORMAT = "m1";

/** A record as a slot holds it. */
export interface SlotRecord {
  readonly seq: number;
  readonly text: string;
}

/** A slot read back: what it says, and what was wrong with parts of it. */
export interface DecodedSlot {
  chunk: number;
  boot: string;
  /** The records whose lines are whole and whose checksums match, in order. */
  records: SlotRecord[];
  /** Records the header announced that could not be read (cut, damaged). */
  lost: number;
  /** What was wrong with each record lost (for the log). */
  problems: string[];
}

/** The header of a slot cannot be read: nothing in it can be trusted. */
export interface UnreadableSlot {
  problem: string;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the UTF-16 code units of `text`, continuing from `hash`. */
function fnv(text: string, hash: number = FNV_OFFSET): number {
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, FNV_PRIME) >>> 0;
  }
  return hash;
}

function hex8(value: number): string {
  const text = value.toString(16);
  return "00000000".slice(text.length) + text;
}

function headerSum(chunk: number, boot: string, count: number): string {
  return hex8(fnv(`${SLOT_FORMAT} ${chunk} ${boot} ${count}`));
}

function recordSum(boot: string, seq: number, text: string): string {
  return hex8(fnv(text, fnv(`${boot} ${seq} `)));
}

/** Bytes a slot's header takes (its newline included), at most. */
export function headerBytes(chunk: number, boot: string): number {
  // count: at most 4 digits (a slot holds fewer than 4000 bytes).
  return `${SLOT_FORMAT} ${chunk} ${boot} 0000 00000000\n`.length + utf8Length(boot) - boot.length;
}

/** Bytes `record` takes in a slot (its newline included). */
export function recordBytes(record: SlotRecord): number {
  return `${record.seq} 00000000 \n`.length + utf8Length(record.text);
}

/** Bytes a slot may hold: NVS's limit on a string value. */
export const SLOT_VALUE_BYTES = MAX_STORAGE_VALUE_BYTES;

/** The slot's text for `records` (which must fit SLOT_VALUE_BYTES: see headerBytes, recordBytes). */
export function encodeSlot(chunk: number, boot: string, records: readonly SlotRecord[]): string {
  let text = `${SLOT_FORMAT} ${chunk} ${boot} ${records.length} ${headerSum(chunk, boot, records.length)}`;
  for (const record of records) text += `\n${record.seq} ${recordSum(boot, record.seq, record.text)} ${record.text}`;
  return text;
}

const HEADER = /^m1 (\d{1,15}) (\S{1,64}) (\d{1,4}) ([0-9a-f]{8})$/;
const RECORD = /^(\d{1,15}) ([0-9a-f]{8}) /;

/** Reads a slot back; each record is checked on its own. */
export function decodeSlot(value: string): DecodedSlot | UnreadableSlot {
  const lines = value.split("\n");
  const header = HEADER.exec(lines[0]!);
  if (header === null) return { problem: "no valid header (not a slot of this format, or cut short)" };
  const chunk = Number(header[1]);
  const boot = header[2]!;
  const count = Number(header[3]);
  if (header[4] !== headerSum(chunk, boot, count)) return { problem: "header checksum mismatch" };
  const slot: DecodedSlot = { chunk, boot, records: [], lost: 0, problems: [] };
  let lastSeq = 0;
  for (let i = 1; i <= count; i++) {
    const line = lines[i];
    if (line === undefined) {
      slot.lost += count - i + 1;
      slot.problems.push(`${count - i + 1} of ${count} records missing (the value was cut short)`);
      break;
    }
    const match = RECORD.exec(line);
    const seq = match === null ? NaN : Number(match[1]);
    const text = match === null ? "" : line.slice(match[0].length);
    if (match === null || !(seq > lastSeq) || match[2] !== recordSum(boot, seq, text)) {
      slot.lost++;
      slot.problems.push(match === null ? `record ${i} of ${count} unreadable` : `record seq ${match[1]} checksum mismatch (cut or damaged)`);
      continue;
    }
    lastSeq = seq;
    slot.records.push({ seq, text });
  }
  if (lines.length > count + 1) slot.problems.push(`${lines.length - count - 1} unexpected lines after the records`);
  return slot;
}

export function isUnreadable(slot: DecodedSlot | UnreadableSlot): slot is UnreadableSlot {
  return (slot as UnreadableSlot).problem !== undefined;
}
