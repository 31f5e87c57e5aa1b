/**
 * What the setup page reads and writes: the fields of a submitted form
 * (application/x-www-form-urlencoded, as the WHATWG URL standard's "urlencoded parser" reads
 * it, but strict) and text made safe to put in HTML.
 *
 * Strict decoding: a "%" not followed by two hex digits, a decoded value that is not UTF-8, a
 * field named twice or too many fields are errors naming the field (the browser never sends
 * them; a hostile client does), where the WHATWG parser would pass them through.
 */
import { decodeUtf8, isValidUtf8 } from "../websocket/utf8.js";

/** Fields decoded per form at most: the setup form has five. */
export const MAX_FORM_FIELDS = 16;
/** Longest field name kept, characters (ours are short words). */
const MAX_FIELD_NAME_CHARS = 32;

export type FormResult = { ok: true; fields: Map<string, string> } | { ok: false; message: string };

const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const PERCENT = 0x25;
const PLUS = 0x2b;

/** Decodes a form body; the message of a failure names the field, never its value. */
export function decodeForm(body: Uint8Array): FormResult {
  const fields = new Map<string, string>();
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end < 0) end = body.length;
    if (end > start) {
      if (fields.size >= MAX_FORM_FIELDS) return { ok: false, message: `more than ${MAX_FORM_FIELDS} fields` };
      const part = body.subarray(start, end);
      const equals = part.indexOf(EQUALS);
      const name = decodeComponent(equals < 0 ? part : part.subarray(0, equals));
      if (name === undefined || name.length > MAX_FIELD_NAME_CHARS) {
        return { ok: false, message: `field ${fields.size + 1} has a name that is not short UTF-8 text` };
      }
      const value = decodeComponent(equals < 0 ? new Uint8Array(0) : part.subarray(equals + 1));
      if (value === undefined) return { ok: false, message: `field "${safeName(name)}" is not UTF-8 text with valid percent-encoding` };
      if (fields.has(name)) return { ok: false, message: `field "${safeName(name)}" is given twice` };
      fields.set(name, value);
    }
    start = end + 1;
  }
  return { ok: true, fields };
}

/** One name or value: "+" is a space, "%XX" a byte; the bytes must be UTF-8. Undefined otherwise. */
function decodeComponent(bytes: Uint8Array): string | undefined {
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte === PLUS) {
      out[length++] = 0x20;
    } else if (byte === PERCENT) {
      const high = hexValue(bytes[i + 1]);
      const low = hexValue(bytes[i + 2]);
      if (high < 0 || low < 0) return undefined;
      out[length++] = (high << 4) | low;
      i += 2;
    } else {
      out[length++] = byte;
    }
  }
  const decoded = out.subarray(0, length);
  return isValidUtf8(decoded) ? decodeUtf8(decoded) : undefined;
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** A field name for a message: letters, digits, "-" and "_" only. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "?");
}

/**
 * `text` safe in HTML text and in a double- or single-quoted attribute: & < > " ' as
 * character references; C0 controls but tab and newline (an SSID may hold any byte) and lone
 * surrogates as U+FFFD, which every browser shows as a replacement mark.
 */
export function escapeHtml(text: string): string {
  let out = "";
  for (const character of text) {
    switch (character) {
      case "&":
        out += "&amp;";
        break;
      case "<":
        out += "&lt;";
        break;
      case ">":
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case "'":
        out += "&#39;";
        break;
      default: {
        const point = character.codePointAt(0)!;
        const control = (point < 0x20 && point !== 0x09 && point !== 0x0a) || point === 0x7f;
        out += control || (point >= 0xd800 && point <= 0xdfff) ? "\uFFFD" : character;
      }
    }
  }
  return out;
}
