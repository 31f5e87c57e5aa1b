/**
 * Storage over one JSON file for the desktop simulator, with the limits of the ESP32's NVS
 * (checks shared with src/shared/memory-storage.ts), so what would fail on the chip fails here too.
 *
 * The file holds {"domain": {"key": "value"}}. It is read once, at construction, and written
 * whole on every change: write a temporary file beside it, flush it to disk, rename it over
 * the old one. A crash or power cut mid-write leaves the old file or the new one, never half
 * of each. The file is created (with its folder) on the first write. One process owns a file:
 * changes made by another process while this one runs are overwritten.
 *
 * A file cut short all the same (a file system that lost its tail) is not all lost: every
 * value whose line is whole is kept (the file is written one value a line), the rest is
 * reported, as NVS keeps every entry whose write completed.
 */
import { readFileSync } from "node:fs";
import type { Log, Storage } from "../../src/shared/host.js";
import { checkStorageName, checkStorageValue } from "../../src/shared/memory-storage.js";
import { writeFileAtomic } from "./atomic-file.js";

export interface FileStorageOptions {
  /** Where a corrupt file is reported (once, when it is read). */
  log?: Log;
}

export class FileStorage implements Storage {
  readonly path: string;
  private readonly domains = new Map<string, Map<string, string>>();

  /**
   * Reads `path` if it exists. A file that is not valid JSON of the expected shape is
   * reported once through `log` (event storage_file_corrupt, level warn) and the storage
   * keeps the values whose lines are whole (a file cut short), or starts empty; the first
   * write replaces it. A file that cannot be read at all (no permission, a folder) throws:
   * that is a setup mistake, not data to discard.
   */
  constructor(path: string, options: FileStorageOptions = {}) {
    if (typeof path !== "string" || path === "") throw new TypeError("FileStorage needs a file path");
    this.path = path;
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw new Error(`cannot read storage file ${path}: ${(error as Error).message}`);
    }
    const problem = this.load(text);
    if (problem !== undefined) {
      this.domains.clear();
      const kept = this.salvage(text);
      options.log?.("warn", "storage_file_corrupt", {
        path,
        problem,
        action: kept === 0 ? "starting empty" : `kept the ${kept} values whose lines were whole`,
      });
    }
  }

  get(domain: string, key: string): string | undefined {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    return this.domains.get(domain)?.get(key);
  }

  /** Stores `value` and writes the file before returning; a failed write changes nothing. */
  set(domain: string, key: string, value: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    checkStorageValue(domain, key, value);
    const keys = this.domains.get(domain);
    const previous = keys?.get(key);
    if (previous === value) return;
    this.update(() => {
      if (keys === undefined) this.domains.set(domain, new Map([[key, value]]));
      else keys.set(key, value);
    }, () => {
      if (keys === undefined) this.domains.delete(domain);
      else if (previous === undefined) keys.delete(key);
      else keys.set(key, previous);
    });
  }

  delete(domain: string, key: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    const keys = this.domains.get(domain);
    const previous = keys?.get(key);
    if (keys === undefined || previous === undefined) return;
    this.update(() => {
      keys.delete(key);
      if (keys.size === 0) this.domains.delete(domain);
    }, () => {
      keys.set(key, previous);
      this.domains.set(domain, keys);
    });
  }

  /** The keys set in `domain`. */
  keys(domain: string): string[] {
    checkStorageName("domain", domain);
    return [...(this.domains.get(domain)?.keys() ?? [])];
  }

  /** Applies a change, writes the file, and undoes the change in memory if writing fails. */
  private update(apply: () => void, undo: () => void): void {
    apply();
    try {
      this.write();
    } catch (error) {
      undo();
      throw error;
    }
  }

  /** Fills `domains` from the file's text; returns what is wrong with it, if anything. */
  private load(text: string): string | undefined {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return `not JSON (${(error as Error).message})`;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "not a JSON object";
    for (const [domain, entries] of Object.entries(parsed)) {
      if (typeof entries !== "object" || entries === null || Array.isArray(entries)) {
        return `domain ${JSON.stringify(domain)} is not an object`;
      }
      const keys = new Map<string, string>();
      for (const [key, value] of Object.entries(entries as Record<string, unknown>)) {
        if (typeof value !== "string") return `value of ${domain}/${key} is not a string`;
        keys.set(key, value);
      }
      this.domains.set(domain, keys);
    }
    return undefined;
  }

  /**
   * The values of a damaged file in the layout write() makes (one `  "domain": {` line per
   * domain, one `    "key": "value"` line per value) whose lines are whole: a line cut short
   * never matches (its string is not closed). Returns how many were kept.
   */
  private salvage(text: string): number {
    const STRING = '"(?:[^"\\\\]|\\\\.)*"';
    const domainLine = new RegExp(`^  (${STRING}): \\{$`);
    const valueLine = new RegExp(`^    (${STRING}): (${STRING}),?$`);
    let keys: Map<string, string> | undefined;
    let kept = 0;
    for (const line of text.split("\n")) {
      const domain = domainLine.exec(line);
      if (domain) {
        keys = new Map();
        this.domains.set(JSON.parse(domain[1]!) as string, keys);
        continue;
      }
      const value = valueLine.exec(line);
      if (value && keys) {
        keys.set(JSON.parse(value[1]!) as string, JSON.parse(value[2]!) as string);
        kept++;
        continue;
      }
      keys = undefined;
    }
    for (const [name, entries] of this.domains) if (entries.size === 0) this.domains.delete(name);
    return kept;
  }

  /** Writes the whole store atomically (atomic-file.ts), readable by this user only: it holds WiFi passwords and the auth token. */
  private write(): void {
    const record: Record<string, Record<string, string>> = {};
    for (const [domain, keys] of this.domains) record[domain] = Object.fromEntries(keys);
    try {
      writeFileAtomic(this.path, JSON.stringify(record, null, 2) + "\n", 0o600);
    } catch (error) {
      throw new Error(`cannot write storage file ${this.path}: ${(error as Error).message}`);
    }
  }
}
