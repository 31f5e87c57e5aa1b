/**
 * What the updater keeps in storage (domain "ota"; NVS on the ESP32, so each value is small
 * and written rarely), read back defensively: a record that does not parse is dropped with a
 * log line, never trusted.
 *
 *   transfer  the image being received: its version, size, sha256 and the offset written so
 *             far (a multiple of the store's block), so a reboot resumes there. Written when a
 *             transfer starts, every checkpointBytes, when it pauses; deleted when it ends.
 *   trial     written just before a new image is made the one to boot: which image, from
 *             which version, and (if the new image gives up on itself) why. The next boot
 *             reads it to know whether the update held or was rolled back.
 *   result    the last update's outcome ("updated" or "rolled_back", with why), for hello and
 *             status, kept until the next update's outcome replaces it; a rolled-back image is not
 *             taken again.
 */
import type { Log, Storage } from "../shared/host.js";
import { parseJsonObject } from "../shared/json.js";
import { isVersion, MAX_IMAGE_BYTES } from "./manifest.js";

export const OTA_STORAGE_DOMAIN = "ota";
export const OtaRecordKey = Object.freeze({ TRANSFER: "transfer", TRIAL: "trial", RESULT: "result" } as const);
type RecordKey = (typeof OtaRecordKey)[keyof typeof OtaRecordKey];

/** Longest reason or detail kept in a record, characters. */
export const MAX_REASON_CHARS = 120;

export interface TransferRecord {
  version: string;
  size: number;
  sha256: string;
  /** Bytes written and durable, from the start of the slot. */
  offset: number;
}

export interface TrialRecord {
  /** The image on trial. */
  version: string;
  sha256: string;
  /** The version it replaced. */
  from: string;
  /** Set by the image on trial when it gives up on itself (the confirmation deadline passed). */
  reason?: string;
  detail?: string;
}

export interface ResultRecord {
  state: "updated" | "rolled_back";
  /** The image the update was to. */
  version: string;
  sha256: string;
  from?: string;
  /** rolled_back: why (a reset reason such as "panic", or "not_confirmed", "self_check_failed"). */
  reason?: string;
  detail?: string;
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

const isText = (value: unknown): value is string => typeof value === "string" && value.length <= MAX_REASON_CHARS;

/** Reads and writes the records in `storage`; failures are logged, never thrown. */
export class OtaRecords {
  constructor(
    private readonly storage: Storage,
    private readonly log: Log,
  ) {}

  transfer(): TransferRecord | undefined {
    return this.read(OtaRecordKey.TRANSFER, (value) => {
      const { version, size, sha256, offset } = value;
      if (!isVersion(version) || !isSize(size) || !isDigest(sha256)) return undefined;
      if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0 || offset > size) return undefined;
      return { version, size, sha256, offset };
    });
  }

  trial(): TrialRecord | undefined {
    return this.read(OtaRecordKey.TRIAL, (value) => {
      const { version, sha256, from, reason, detail } = value;
      if (!isVersion(version) || !isDigest(sha256) || !isVersion(from)) return undefined;
      const record: TrialRecord = { version, sha256, from };
      if (isText(reason)) record.reason = reason;
      if (isText(detail)) record.detail = detail;
      return record;
    });
  }

  result(): ResultRecord | undefined {
    return this.read(OtaRecordKey.RESULT, (value) => {
      const { state, version, sha256, from, reason, detail } = value;
      if ((state !== "updated" && state !== "rolled_back") || !isVersion(version) || !isDigest(sha256)) return undefined;
      const record: ResultRecord = { state, version, sha256 };
      if (isVersion(from)) record.from = from;
      if (isText(reason)) record.reason = reason;
      if (isText(detail)) record.detail = detail;
      return record;
    });
  }

  write(key: RecordKey, record: TransferRecord | TrialRecord | ResultRecord): boolean {
    try {
      this.storage.set(OTA_STORAGE_DOMAIN, key, JSON.stringify(record));
      return true;
    } catch (error) {
      this.log("error", "ota_record_not_saved", { record: key, error: String(error) });
      return false;
    }
  }

  delete(key: RecordKey): void {
    try {
      this.storage.delete(OTA_STORAGE_DOMAIN, key);
    } catch (error) {
      this.log("error", "ota_record_not_deleted", { record: key, error: String(error) });
    }
  }

  private read<T>(key: RecordKey, check: (value: Record<string, unknown>) => T | undefined): T | undefined {
    let text: string | undefined;
    try {
      text = this.storage.get(OTA_STORAGE_DOMAIN, key);
    } catch (error) {
      this.log("error", "ota_record_unreadable", { record: key, error: String(error) });
      return undefined;
    }
    if (text === undefined) return undefined;
    const value = parseJsonObject(text);
    const record = value === undefined ? undefined : check(value);
    if (record === undefined) {
      this.log("warn", "ota_record_corrupt", { record: key, bytes: text.length, action: "ignored" });
      this.delete(key);
    }
    return record;
  }
}

function isSize(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= MAX_IMAGE_BYTES;
}

function isDigest(value: unknown): value is string {
  return typeof value === "string" && HEX_DIGEST.test(value);
}
