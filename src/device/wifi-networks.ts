/**
 * The networks WiFi setup tries, and where they come from: the build config's one
 * (`ssid`/`password`, as mcconfig passes them) and those saved in storage (newest first, at
 * most MAX_SAVED_NETWORKS), each checked as the radio would check it (networkProblem).
 * Saving and removing keep the stored list bounded and never quote a password.
 */
import { describe, invalidArgument } from "../shared/errors.js";
import type { Log, Storage, WifiNetwork } from "../shared/host.js";
import { utf8Length } from "../websocket/utf8.js";

/** IEEE 802.11 limits an SSID to 32 octets (Moddable's ESP32 driver throws beyond). */
export const MAX_SSID_BYTES = 32;

/** A WPA2 passphrase is 8..63 characters or 64 hex digits: at most 64 bytes (as Moddable checks). */
export const MAX_PASSWORD_BYTES = 64;

/** Why `ssid`/`password` cannot be joined, or undefined when they can. Never quotes the password. */
export function networkProblem(ssid: unknown, password: unknown): string | undefined {
  if (typeof ssid !== "string" || ssid === "") return "the ssid must be a non-empty string";
  const ssidBytes = utf8Length(ssid);
  if (ssidBytes > MAX_SSID_BYTES) return `the ssid is ${ssidBytes} bytes (at most ${MAX_SSID_BYTES})`;
  if (typeof password !== "string") return "the password must be a string";
  const passwordBytes = utf8Length(password);
  if (passwordBytes > MAX_PASSWORD_BYTES) {
    return `the password is ${passwordBytes} bytes (at most ${MAX_PASSWORD_BYTES})`;
  }
  return undefined;
}

/** Storage domain and key of the saved networks (a JSON array of {ssid, password}). */
export const WIFI_STORAGE = Object.freeze({ domain: "wifi", key: "networks" } as const);

/** Saved networks kept in storage; saving one more drops the oldest. */
export const MAX_SAVED_NETWORKS = 5;

/**
 * Largest stored text parsed, UTF-16 code units: what NVS can hold (4000 bytes). Anything
 * larger was not written by saveNetwork and is treated as corrupt without parsing it.
 */
const MAX_STORED_CHARS = 4000;

/**
 * The saved networks, valid ones only, in stored order (newest first), at most
 * MAX_SAVED_NETWORKS, first of each SSID. Problems go to `log`; never throws for bad content.
 */
function readSaved(storage: Storage, log: Log | undefined, throwOnRead: boolean): WifiNetwork[] {
  const saved: WifiNetwork[] = [];
  let text: string | undefined;
  try {
    text = storage.get(WIFI_STORAGE.domain, WIFI_STORAGE.key);
  } catch (error) {
    if (throwOnRead) throw error;
    log?.("warn", "wifi_saved_networks_unreadable", { error });
    return saved;
  }
  if (text === undefined) return saved;
  const corrupt = (problem: string): WifiNetwork[] => {
    log?.("warn", "wifi_saved_networks_corrupt", { problem, ...WIFI_STORAGE });
    return saved;
  };
  if (typeof text !== "string" || text.length > MAX_STORED_CHARS) return corrupt("not a string of at most 4000 characters");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return corrupt("not JSON");
  }
  if (!Array.isArray(parsed)) return corrupt("not an array");
  let skipped = 0;
  for (const item of parsed as unknown[]) {
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      skipped++;
      continue;
    }
    const record = item as Record<string, unknown>;
    // A saved network without a password is an open one.
    const password = record.password === undefined ? "" : record.password;
    if (networkProblem(record.ssid, password) !== undefined) {
      skipped++;
      continue;
    }
    const ssid = record.ssid as string;
    if (saved.length >= MAX_SAVED_NETWORKS || saved.some((network) => network.ssid === ssid)) continue;
    saved.push({ ssid, password: password as string });
  }
  if (skipped > 0) log?.("warn", "wifi_saved_networks_invalid", { skipped, ...WIFI_STORAGE });
  return saved;
}

/**
 * The networks to try, in order: the build config's (ssid/password, as mcconfig passes
 * them), then those saved in storage (skipping duplicates of an SSID). Corrupt storage is
 * ignored (and reported through `log`), never a crash.
 *
 * Config values arrive as strings from `mcconfig ... ssid=x password=y`: an undefined or
 * empty ssid means "none configured"; an undefined password means an open network. A config
 * network that cannot be joined (non-string, ssid over 32 bytes, password over 64 bytes) is
 * skipped with a log line. Saved networks come newest first (see saveNetwork).
 */
export function loadNetworks(
  config: { ssid?: string; password?: string },
  storage: Storage,
  log?: Log,
): WifiNetwork[] {
  const networks: WifiNetwork[] = [];
  const ssid: unknown = config?.ssid;
  if (ssid !== undefined && ssid !== "") {
    const password: unknown = config.password ?? "";
    const problem = networkProblem(ssid, password);
    if (problem === undefined) networks.push({ ssid: ssid as string, password: password as string });
    else log?.("warn", "wifi_config_invalid", { problem });
  }
  for (const network of readSaved(storage, log, false)) {
    if (!networks.some((known) => known.ssid === network.ssid)) networks.push(network);
  }
  log?.("info", "wifi_networks", { count: networks.length, ssids: networks.map((network) => network.ssid) });
  return networks;
}

/**
 * Adds or replaces a network in storage (bounded: at most MAX_SAVED_NETWORKS, oldest dropped).
 *
 * The saved list is kept newest first, so the network saved last is tried first after the
 * config's (a network just provisioned is the one the user expects). Replacing an SSID moves
 * it to the front. Corrupt stored content is replaced. A network that cannot be joined is
 * refused with ERR_INVALID_ARGUMENT (the message never quotes the password); a storage that
 * cannot be read or written throws its own error.
 */
export function saveNetwork(storage: Storage, network: WifiNetwork): void {
  if (typeof network !== "object" || network === null) {
    throw invalidArgument(`a network must be an object with ssid and password, got ${describe(network)}`);
  }
  const problem = networkProblem(network.ssid, network.password);
  if (problem !== undefined) throw invalidArgument(`cannot save the network: ${problem}`);
  const saved = readSaved(storage, undefined, true).filter((known) => known.ssid !== network.ssid);
  const list: WifiNetwork[] = [{ ssid: network.ssid, password: network.password }];
  for (const known of saved) {
    if (list.length >= MAX_SAVED_NETWORKS) break;
    list.push(known);
  }
  storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, JSON.stringify(list));
}

/** The saved networks, valid ones only, newest first; a storage that cannot be read throws. */
export function savedNetworks(storage: Storage): WifiNetwork[] {
  return readSaved(storage, undefined, true);
}

/**
 * Removes the saved network named `ssid`; returns whether one was saved under that name.
 * Corrupt stored content is left as it is when nothing is removed.
 */
export function forgetNetwork(storage: Storage, ssid: string): boolean {
  const saved = readSaved(storage, undefined, true);
  const kept = saved.filter((known) => known.ssid !== ssid);
  if (kept.length === saved.length) return false;
  if (kept.length === 0) storage.delete(WIFI_STORAGE.domain, WIFI_STORAGE.key);
  else storage.set(WIFI_STORAGE.domain, WIFI_STORAGE.key, JSON.stringify(kept));
  return true;
}
