/**
 * The firmware's Storage over Moddable's `preference` module: NVS on the ESP32, a JSON file
 * under the simulator's `config.file.root` on the desktop.
 *
 * NVS's limits (domain and key names of 1 to 15 ASCII characters, string values of at most
 * 3999 bytes) are checked here before the SDK sees a value, with the same errors as
 * MemoryStorage (ERR_INVALID_ARGUMENT naming the key, never the value): the SDK's own
 * refusals are terse, and the simulator's file would accept what the chip rejects.
 * A stored value that is not a string (written by other firmware) reads as absent.
 *
 * Portable on purpose: the Preference object is passed in (host.ts gives the SDK's), so it
 * is tested on Node.
 */
import type { Storage } from "../../src/shared/host.js";
import { checkStorageName, checkStorageValue } from "../../src/shared/memory-storage.js";

/** Moddable's Preference (`import Preference from "preference"`), as far as used here. */
export interface PreferenceApi {
  get(domain: string, key: string): unknown;
  set(domain: string, key: string, value: string): void;
  delete(domain: string, key: string): void;
}

export class PreferenceStorage implements Storage {
  private readonly preference: PreferenceApi;

  constructor(preference: PreferenceApi) {
    this.preference = preference;
  }

  get(domain: string, key: string): string | undefined {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    const value = this.preference.get(domain, key);
    return typeof value === "string" ? value : undefined;
  }

  set(domain: string, key: string, value: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    checkStorageValue(domain, key, value);
    this.preference.set(domain, key, value);
  }

  delete(domain: string, key: string): void {
    checkStorageName("domain", domain);
    checkStorageName("key", key);
    this.preference.delete(domain, key);
  }
}
