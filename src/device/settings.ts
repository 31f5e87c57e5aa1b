/**
 * Device settings: a fixed schema of named values, each validated, persisted and observable.
 *
 * Where a value comes from, first match wins: a value stored by set() (persistent, survives
 * reboots), then the build config (`mcconfig ... telemetryIntervalMs=5000`, passed in as
 * `initial`), then the schema's default. Only values set with set() are stored, so a new
 * firmware's defaults and build config still apply to every setting nobody changed.
 *
 * Storage: ONE JSON object under domain "settings", key "values" (NVS names are at most 15
 * characters and values at most 3999 bytes plus a NUL, so one object keeps the count of NVS entries
 * down and its size is checked on every set()). What is stored is re-validated at start-up:
 * text that is not a JSON object is ignored as a whole, a value that no longer fits the
 * schema (or a key the schema no longer has) is ignored on its own, each with a log line.
 *
 * Logs name keys, never string values (a string setting may hold a token).
 */
import { describe, invalidOption, RequestErrorCode, requestError } from "../shared/errors.js";
import type { Log, Storage } from "../shared/host.js";
import { utf8Length } from "../websocket/utf8.js";

interface SpecBase {
  /** For humans: what the setting does, with its unit. */
  description: string;
}

export interface IntegerSettingSpec extends SpecBase {
  type: "integer";
  /** Smallest accepted value, inclusive. */
  min: number;
  /** Largest accepted value, inclusive. */
  max: number;
  default: number;
}

export interface BooleanSettingSpec extends SpecBase {
  type: "boolean";
  default: boolean;
}

export interface StringSettingSpec extends SpecBase {
  type: "string";
  /** Longest accepted value, in UTF-16 code units (JavaScript's string length). */
  maxLength: number;
  default: string;
}

export type SettingSpec = IntegerSettingSpec | BooleanSettingSpec | StringSettingSpec;
export type SettingValue = number | boolean | string;
export type SettingSpecs = Readonly<Record<string, SettingSpec>>;

/** The firmware's settings. */
export const DEVICE_SETTINGS = {
  telemetryIntervalMs: {
    type: "integer",
    min: 1_000,
    max: 86_400_000,
    default: 10_000,
    description: "time between two telemetry records, milliseconds (1 s to 1 day)",
  },
} as const satisfies SettingSpecs;

/** Where settings are stored (NVS: both names at most 15 characters). */
export const SETTINGS_STORAGE = { domain: "settings", key: "values" } as const;
/**
 * Longest stored settings object, bytes of UTF-8: NVS holds a string value in 4000 bytes
 * including its terminating NUL (JSON.stringify escapes any NUL inside, so none is stored).
 */
export const MAX_STORED_SETTINGS_BYTES = 3999;

export type SettingsListener = (key: string, value: SettingValue, previous: SettingValue) => void;

export interface SettingsOptions {
  storage: Storage;
  specs: SettingSpecs;
  log?: Log;
  /**
   * Values from the build config. Keys the schema does not have are ignored without a word
   * (the build config holds other things, WiFi passwords among them). mcconfig passes
   * command-line values as strings, so "5000" is read as an integer and "true"/"false"/
   * "1"/"0" as a boolean where the schema says so. A value that does not fit is ignored with
   * a log line.
   */
  initial?: Readonly<Record<string, unknown>>;
}

export class Settings {
  private readonly storage: Storage;
  private readonly specs: SettingSpecs;
  private readonly log: Log;
  /** The effective value of every setting in the schema. */
  private readonly values: Record<string, SettingValue> = {};
  /** The values set with set() (what is persisted). */
  private readonly stored: Record<string, SettingValue> = {};
  private readonly listeners: SettingsListener[] = [];

  constructor(options: SettingsOptions) {
    this.storage = options.storage;
    this.specs = options.specs;
    this.log = options.log ?? (() => {});
    for (const key of Object.keys(this.specs)) {
      const spec = this.specs[key];
      checkSpec(key, spec);
      this.values[key] = spec.default;
    }
    this.applyInitial(options.initial);
    this.loadStored();
  }

  /** The value of `key`; throws a RequestError (bad_request) for a key not in the schema. */
  get(key: string): SettingValue {
    this.specFor(key);
    return this.values[key];
  }

  /**
   * Validates `value` for `key`, persists it and applies it; listeners hear of it when it
   * differs from the previous value. Returns the value now in effect. Throws a RequestError
   * with code bad_request whose message names the key and the constraint; a storage failure
   * propagates as is, and then nothing changes.
   */
  set(key: string, value: unknown): SettingValue {
    const spec = this.specFor(key);
    const problem = validate(spec, value);
    if (problem !== undefined) {
      throw requestError(RequestErrorCode.BAD_REQUEST, `${key} ${problem}, got ${describe(value)}`);
    }
    const accepted = value as SettingValue;
    const next: Record<string, SettingValue> = { ...this.stored, [key]: accepted };
    const text = JSON.stringify(next);
    const bytes = utf8Length(text);
    if (bytes > MAX_STORED_SETTINGS_BYTES) {
      throw requestError(
        RequestErrorCode.BAD_REQUEST,
        `${key}: stored settings would take ${bytes} bytes, more than the ${MAX_STORED_SETTINGS_BYTES} storage allows`,
      );
    }
    this.storage.set(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key, text);
    this.stored[key] = accepted;
    const previous = this.values[key];
    this.values[key] = accepted;
    if (previous !== accepted) {
      this.log("info", "setting_changed", spec.type === "string" ? { key } : { key, value: accepted, previous });
      for (const listener of this.listeners.slice()) {
        try {
          listener(key, accepted, previous);
        } catch (error) {
          this.log("error", "settings_listener_failed", { key, error: errorMessage(error) });
        }
      }
    }
    return accepted;
  }

  /** Every setting's value, keyed by name (a copy). */
  all(): Record<string, SettingValue> {
    return { ...this.values };
  }

  /** The schema entry of `key`, or undefined. */
  spec(key: string): SettingSpec | undefined {
    return Object.prototype.hasOwnProperty.call(this.specs, key) ? this.specs[key] : undefined;
  }

  /** Calls `listener` after every change of a value; returns a function that unsubscribes. */
  onChange(listener: SettingsListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  private specFor(key: string): SettingSpec {
    const spec = this.spec(key);
    if (spec === undefined) {
      throw requestError(RequestErrorCode.BAD_REQUEST, `unknown setting ${describe(key)}`);
    }
    return spec;
  }

  private applyInitial(initial: Readonly<Record<string, unknown>> | undefined): void {
    if (initial === undefined || initial === null) return;
    for (const key of Object.keys(this.specs)) {
      // undefined is "not configured", as an absent key.
      if (!Object.prototype.hasOwnProperty.call(initial, key) || initial[key] === undefined) continue;
      const spec = this.specs[key];
      const value = fromConfig(spec, initial[key]);
      const problem = validate(spec, value);
      if (problem !== undefined) {
        this.log("warn", "setting_config_ignored", { key, reason: `${key} ${problem}` });
        continue;
      }
      this.values[key] = value as SettingValue;
    }
  }

  private loadStored(): void {
    let text: string | undefined;
    try {
      text = this.storage.get(SETTINGS_STORAGE.domain, SETTINGS_STORAGE.key);
    } catch (error) {
      this.log("error", "settings_read_failed", { error: errorMessage(error) });
      return;
    }
    if (text === undefined) return;
    let parsed: unknown;
    try {
      // Bounded: nothing longer than NVS holds is parsed, and the object is flat (depth 1).
      if (typeof text !== "string" || text.length > MAX_STORED_SETTINGS_BYTES) throw new Error("too long");
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      this.log("warn", "settings_corrupt", { reason: "stored settings are not a JSON object; using defaults" });
      return;
    }
    const record = parsed as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      const spec = this.spec(key);
      if (spec === undefined) {
        this.log("warn", "setting_stored_ignored", { key: clipKey(key), reason: "unknown setting" });
        continue;
      }
      const problem = validate(spec, record[key]);
      if (problem !== undefined) {
        this.log("warn", "setting_stored_ignored", { key, reason: `${key} ${problem}` });
        continue;
      }
      this.stored[key] = record[key] as SettingValue;
      this.values[key] = record[key] as SettingValue;
    }
  }
}

/** Why `value` does not fit `spec` ("must be ..."), or undefined when it does. */
function validate(spec: SettingSpec, value: unknown): string | undefined {
  switch (spec.type) {
    case "integer":
      if (typeof value !== "number" || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        return `must be an integer from ${spec.min} to ${spec.max}`;
      }
      return undefined;
    case "boolean":
      return typeof value === "boolean" ? undefined : "must be true or false";
    case "string":
      if (typeof value !== "string" || value.length > spec.maxLength) {
        return `must be a string of at most ${spec.maxLength} characters`;
      }
      return undefined;
  }
}

/** Build-config values given on mcconfig's command line are strings: read them per spec. */
function fromConfig(spec: SettingSpec, value: unknown): unknown {
  if (typeof value !== "string") return value;
  if (spec.type === "integer" && /^-?[0-9]{1,16}$/.test(value)) return Number(value);
  if (spec.type === "boolean") {
    if (value === "true" || value === "1") return true;
    if (value === "false" || value === "0") return false;
  }
  return value;
}

/** A schema error is the firmware's own bug: fail at start-up, naming the setting. */
function checkSpec(key: string, spec: SettingSpec): void {
  const name = `specs.${key}`;
  if (spec === null || typeof spec !== "object") throw invalidOption(name, "a setting spec", spec);
  if (spec.type === "integer") {
    if (!Number.isSafeInteger(spec.min) || !Number.isSafeInteger(spec.max) || spec.min > spec.max) {
      throw invalidOption(`${name}.min/max`, "safe integers with min <= max", `${spec.min}..${spec.max}`);
    }
  } else if (spec.type === "string") {
    if (!Number.isInteger(spec.maxLength) || spec.maxLength < 0 || spec.maxLength > MAX_STORED_SETTINGS_BYTES) {
      throw invalidOption(`${name}.maxLength`, `an integer from 0 to ${MAX_STORED_SETTINGS_BYTES}`, spec.maxLength);
    }
  } else if (spec.type !== "boolean") {
    throw invalidOption(`${name}.type`, '"integer", "boolean" or "string"', (spec as { type: unknown }).type);
  }
  if (validate(spec, spec.default) !== undefined) {
    throw invalidOption(`${name}.default`, `a value that fits the spec (${validate(spec, spec.default)})`, spec.default);
  }
}

function clipKey(key: string): string {
  return key.length > 32 ? key.slice(0, 32) + "..." : key;
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 120 ? text.slice(0, 120) + "..." : text;
}
