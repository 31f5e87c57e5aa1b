/**
 * Device settings: a fixed schema of named values, each validated, persisted and observable.
 *
 * Where a value comes from, first match wins:
 *   1. a value given explicitly at start (a command-line flag on the desktop: `initial`, with
 *      its key in `explicit`), for this run only: what the user just typed is what they mean;
 *   2. a value stored by set() (the server's `config set`: persistent, survives reboots);
 *   3. the build config (`mcconfig ... telemetryIntervalMs=5000`, passed in as `initial`);
 *   4. the schema's default.
 * Only values set with set() are stored, so a new firmware's defaults and build config still
 * apply to every setting nobody changed. At start, one log line names each stored value in
 * effect instead of the build config's (setting_stored), and one each explicit value in
 * effect instead of a stored one (setting_explicit): where a value came from is never silent.
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
import {
  checkBoolean,
  checkInteger,
  checkObject,
  checkString,
  MAX_TIMEOUT_MS,
  type Unit,
} from "../shared/options.js";
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
  /** What the value counts, for error messages. */
  unit?: Unit;
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
export const DEVICE_SETTINGS = Object.freeze({
  telemetryIntervalMs: Object.freeze({
    type: "integer",
    min: 1_000,
    max: MAX_TIMEOUT_MS,
    unit: "milliseconds",
    default: 10_000,
    description: "time between two telemetry records, milliseconds (1 s to 1 day)",
  } as const),
} as const satisfies SettingSpecs);

/** Where settings are stored (NVS: both names at most 15 characters). */
export const SETTINGS_STORAGE = Object.freeze({ domain: "settings", key: "values" } as const);

/** Most keys accepted in `explicit`: the build config has a few dozen at most. */
export const MAX_EXPLICIT_KEYS = 64;
/** Longest key accepted in `explicit`, characters. */
const MAX_KEY_CHARS = 64;
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
  /**
   * Keys whose `initial` value was given explicitly at start (a command-line flag on the
   * desktop, as opposed to a build's configuration): that value wins over a stored one for
   * this run, and the stored one stays stored (it applies again at a start without the
   * flag, until set() replaces it). Keys the schema does not have are ignored, so a host may
   * list every configuration key it was given.
   */
  explicit?: readonly string[];
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
    const explicit = checkExplicit(options.explicit);
    const fromStart = this.applyInitial(options.initial, explicit);
    this.loadStored(fromStart);
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
    const problem = validate(key, spec, value);
    if (problem !== undefined) throw requestError(RequestErrorCode.BAD_REQUEST, problem);
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

  /**
   * Applies the build config's values over the defaults. Returns the keys whose value was
   * given explicitly at start and accepted: a stored value does not replace those.
   */
  private applyInitial(initial: Readonly<Record<string, unknown>> | undefined, explicit: readonly string[]): string[] {
    const fromStart: string[] = [];
    if (initial === undefined || initial === null) return fromStart;
    for (const key of Object.keys(this.specs)) {
      // undefined is "not configured", as an absent key.
      if (!Object.prototype.hasOwnProperty.call(initial, key) || initial[key] === undefined) continue;
      const spec = this.specs[key];
      const value = fromConfig(spec, initial[key]);
      const problem = validate(key, spec, value);
      if (problem !== undefined) {
        this.log("warn", "setting_config_ignored", { key, reason: problem });
        continue;
      }
      this.values[key] = value as SettingValue;
      if (explicit.includes(key)) fromStart.push(key);
    }
    return fromStart;
  }

  /**
   * Reads the stored values: each is kept (it is what set() persisted) and applied, unless
   * its key is in `fromStart` (given explicitly at start). Either way one line says which
   * value won over which.
   */
  private loadStored(fromStart: readonly string[]): void {
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
      const problem = validate(key, spec, record[key]);
      if (problem !== undefined) {
        this.log("warn", "setting_stored_ignored", { key, reason: problem });
        continue;
      }
      const stored = record[key] as SettingValue;
      this.stored[key] = stored;
      // String settings may hold secrets: their lines name the key only.
      const secret = spec.type === "string";
      if (fromStart.includes(key)) {
        this.log("info", "setting_explicit", secret ? { key } : { key, value: this.values[key], stored });
        continue;
      }
      this.log("info", "setting_stored", secret ? { key } : { key, value: stored, build: this.values[key] });
      this.values[key] = stored;
    }
  }
}

/**
 * Why `value` does not fit `spec` (the shared option checks' message, naming `key`, the
 * constraint and the value), or undefined when it does.
 */
function validate(key: string, spec: SettingSpec, value: unknown): string | undefined {
  try {
    switch (spec.type) {
      case "integer":
        checkInteger(key, value, spec.min, spec.max, spec.unit);
        break;
      case "boolean":
        checkBoolean(key, value);
        break;
      case "string":
        checkString(key, value, spec.maxLength);
        break;
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The explicit option: a bounded list of keys (unknown ones are ignored, not refused). */
function checkExplicit(value: unknown): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_EXPLICIT_KEYS) {
    throw invalidOption("explicit", `an array of at most ${MAX_EXPLICIT_KEYS} setting keys`, value);
  }
  for (let i = 0; i < value.length; i++) checkString(`explicit[${i}]`, value[i], MAX_KEY_CHARS);
  return value as readonly string[];
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
  checkObject(name, spec);
  if (spec.type === "integer") {
    checkInteger(`${name}.min`, spec.min, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    checkInteger(`${name}.max`, spec.max, spec.min, Number.MAX_SAFE_INTEGER);
  } else if (spec.type === "string") {
    checkInteger(`${name}.maxLength`, spec.maxLength, 0, MAX_STORED_SETTINGS_BYTES, "characters");
  } else if (spec.type !== "boolean") {
    throw invalidOption(`${name}.type`, '"integer", "boolean" or "string"', (spec as { type: unknown }).type);
  }
  const problem = validate(key, spec, spec.default);
  if (problem !== undefined) throw invalidOption(`${name}.default`, `a value that fits the spec (${problem})`, spec.default);
}

function clipKey(key: string): string {
  return key.length > 32 ? key.slice(0, 32) + "..." : key;
}

function errorMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 120 ? text.slice(0, 120) + "..." : text;
}
