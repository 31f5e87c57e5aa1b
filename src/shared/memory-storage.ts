/**
 * Storage in memory, with the limits of the ESP32's NVS (where Moddable's `preference` module
 * keeps its values), so a test on the desktop fails where the chip would. It lives in src/
 * (portable ECMAScript) so the XS desktop host and tests of src/ can use it as well as Node;
 * hosts/node/file-storage.ts applies the same checks to its file.
 *
 * NVS (ESP-IDF, "Non-volatile storage library"): namespace and key names are ASCII strings of
 * at most 15 characters (NVS_KEY_NAME_MAX_SIZE is 16 with the terminating NUL); a string
 * value is limited to 4000 bytes including its terminating NUL, so 3999 bytes of UTF-8, and
 * a NUL inside a value would silently cut it short on the chip.
 */
import { invalidArgument } from "./errors.js";
import type { Storage } from "./host.js";
import { utf8Length } from "../websocket/utf8.js";

/** Longest domain (NVS namespace) or key name, characters (ASCII). */
export const NVS_MAX_NAME_CHARS = 15;

/** NVS stores a string value in at most this many bytes, its terminating NUL included. */
export const NVS_MAX_VALUE_BYTES = 4000;

/** Longest value set() accepts, bytes of UTF-8: NVS_MAX_VALUE_BYTES less the NUL. */
export const MAX_STORAGE_VALUE_BYTES = NVS_MAX_VALUE_BYTES - 1;

/**
 * Throws ERR_INVALID_ARGUMENT unless `name` is a domain or key name NVS accepts: a string of
 * 1 to 15 printable ASCII characters.
 */
export function checkStorageName(kind: "domain" | "key", name: unknown): void {
  if (typeof name !== "string" || name === "") {
    throw invalidArgument(`storage ${kind} must be a non-empty string, got ${typeof name === "string" ? '""' : typeof name}`);
  }
  if (name.length > NVS_MAX_NAME_CHARS) {
    throw invalidArgument(
      `storage ${kind} ${JSON.stringify(name)} is ${name.length} characters; NVS allows at most ${NVS_MAX_NAME_CHARS}`,
    );
  }
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit < 0x20 || unit > 0x7e) {
      throw invalidArgument(`storage ${kind} ${JSON.stringify(name)} must be printable ASCII (NVS names are ASCII)`);
    }
  }
}

/**
 * Throws ERR_INVALID_ARGUMENT unless `value` can be stored under domain/key on the chip:
 * a string of at most MAX_STORAGE_VALUE_BYTES bytes of UTF-8 with no NUL character.
 * The message names the key and the limit, never the value (it may be a password).
 */
export function checkStorageValue(domain: string, key: string, value: unknown): void {
  const where = `${domain}/${key}`;
  if (typeof value !== "string") throw invalidArgument(`storage value of ${where} must be a string, got ${typeof value}`);
  const bytes = utf8Length(value);
  if (bytes > MAX_STORAGE_VALUE_BYTES) {
    throw invalidArgument(
      `storage value of ${where} is ${bytes} bytes; NVS stores at most ${MAX_STORAGE_VALUE_BYTES} ` +
        `(${NVS_MAX_VALUE_BYTES} with its terminating NUL)`,
    );
  }
  if (value.indexOf("\u0000") >= 0) {
    throw invalidArgument(`storage value of ${where} contains a NUL character; NVS would cut it short there`);
  }
}

/** Storage in memory (tests, and hosts without persistence). Values last as long as the object. */
export class MemoryStorage implements Storage {
  private readonly domains = new Map<string, Map<string, string>>();

  get(domain: string, key: string): string | undefined {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    return this.domains.get(domain)?.get(key);
  }

  set(domain: string, key: string, value: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    checkStorageValue(domain, key, value);
    let keys = this.domains.get(domain);
    if (keys === undefined) {
      keys = new Map();
      this.domains.set(domain, keys);
    }
    keys.set(key, value);
  }

  delete(domain: string, key: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    const keys = this.domains.get(domain);
    if (keys === undefined) return;
    keys.delete(key);
    if (keys.size === 0) this.domains.delete(domain);
  }

  /** The keys set in `domain` (as Moddable's Preference.keys gives them). */
  keys(domain: string): string[] {
    checkStorageName("domain", domain);
    return [...(this.domains.get(domain)?.keys() ?? [])];
  }
}
