/**
 * The device's credentials for its server, and where they live: who it is (its device id,
 * config.deviceId) and the secret that proves it (a bearer token, RFC 6750). Both travel in
 * the WebSocket opening handshake (docs/protocol.md, "Who may connect"):
 *
 *   Authorization: Bearer <token>
 *   Moorline-Device: <device id>
 *
 * The token is a secret like the WiFi password: it never appears in a log line, a status
 * reply or an error message (errors say "(hidden)"). Where it comes from, first match wins,
 * in the order of the settings (src/device/settings.ts):
 *   1. given explicitly at start (the desktop's --auth-token), for this run;
 *   2. stored by provisioning (or `npm start`) under AUTH_TOKEN_STORAGE: domain "auth",
 *      key "token", the token as it is;
 *   3. the build config (`mcconfig ... authToken=...`);
 *   4. none: no Authorization header (a server in development mode admits anyone).
 * One log line at start (auth_token) names the source in use, and any it overrides.
 */
import { invalidArgument, invalidOption } from "../shared/errors.js";
import type { Log, Storage } from "../shared/host.js";

/** Where provisioning stores the token (NVS: both names at most 15 characters). */
export const AUTH_TOKEN_STORAGE = Object.freeze({ domain: "auth", key: "token" } as const);

/** The handshake header that names the device the token is for. */
export const DEVICE_ID_HEADER = "Moorline-Device";

/** Longest token accepted, characters (a server's own tokens, JWTs included, fit). */
export const MAX_AUTH_TOKEN_CHARS = 1024;

/** A device id: what a server logs and keys on; printable ASCII without spaces, 1 to 64. */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** What a device id may be, for messages. */
export const DEVICE_ID_RULE = "1 to 64 letters, digits or ._:-";

/**
 * RFC 6750 section 2.1, b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 * *"=". Nothing else can stand after "Bearer " in the header, so nothing else is a token.
 */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** What a token may be, for messages (which never show the token itself). */
export const AUTH_TOKEN_RULE = `a bearer token: 1 to ${MAX_AUTH_TOKEN_CHARS} letters, digits or -._~+/ then any = padding (RFC 6750 section 2.1)`;

export type AuthTokenSource = "explicit" | "stored" | "config" | "none";

/** Whether `value` is a device id (DEVICE_ID_RULE). */
export function isDeviceId(value: unknown): value is string {
  return typeof value === "string" && DEVICE_ID.test(value);
}

/** Whether `value` is a token this device can send (AUTH_TOKEN_RULE). */
export function isAuthToken(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_AUTH_TOKEN_CHARS && B64TOKEN.test(value);
}

/**
 * `value` as a token, "" meaning none; else ERR_INVALID_OPTION naming `name` and saying
 * "(hidden)" for the value.
 */
export function checkAuthToken(name: string, value: unknown): string {
  if (value === "" || isAuthToken(value)) return value as string;
  throw invalidOption(name, `"" (none) or ${AUTH_TOKEN_RULE}`, typeof value === "string" ? "(hidden)" : value);
}

/**
 * Stores `token` where the device reads it at its next start (provisioning's call). Throws
 * ERR_INVALID_ARGUMENT, never quoting it, for one that is not a token; a storage that cannot
 * write throws its own error.
 */
export function saveAuthToken(storage: Storage, token: string): void {
  if (!isAuthToken(token)) throw invalidArgument(`saveAuthToken() needs ${AUTH_TOKEN_RULE}; the value given is not one (not shown)`);
  storage.set(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key, token);
}

/** Forgets the stored token: the build config's (if any) applies from the next start. */
export function clearAuthToken(storage: Storage): void {
  storage.delete(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key);
}

export interface AuthTokenChoice {
  /** "" when there is none. */
  token: string;
  source: AuthTokenSource;
}

/**
 * The token to use, and where it came from (see the order above). `configToken` is the build
 * config's (already checked by parseDeviceConfig), `explicit` whether it was given at start
 * by the user. A stored value that is not a token (a corrupt entry) is ignored, with a
 * warning naming the storage key, never the value. Logs auth_token (info) once.
 */
export function chooseAuthToken(options: { configToken: string; explicit: boolean; storage: Storage; log?: Log }): AuthTokenChoice {
  const { configToken, explicit, storage, log } = options;
  let stored: string | undefined;
  try {
    stored = storage.get(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key);
  } catch (error) {
    log?.("warn", "auth_token_unreadable", { ...AUTH_TOKEN_STORAGE, message: error instanceof Error ? error.message : String(error) });
  }
  if (stored !== undefined && !isAuthToken(stored)) {
    log?.("warn", "auth_token_stored_invalid", { ...AUTH_TOKEN_STORAGE, problem: `not ${AUTH_TOKEN_RULE}`, action: "ignored" });
    stored = undefined;
  }
  let choice: AuthTokenChoice;
  const overrides: AuthTokenSource[] = [];
  if (explicit) {
    // Typed by the user for this run: even "" (send none) is meant.
    choice = { token: configToken, source: "explicit" };
    if (stored !== undefined) overrides.push("stored");
  } else if (stored !== undefined) {
    choice = { token: stored, source: "stored" };
    if (configToken !== "") overrides.push("config");
  } else if (configToken !== "") {
    choice = { token: configToken, source: "config" };
  } else {
    choice = { token: "", source: "none" };
  }
  log?.("info", "auth_token", { source: choice.source, ...(overrides.length > 0 ? { overrides } : {}) });
  return choice;
}

/** Whether `host` (a URL's, lower-cased, IPv6 without brackets) is this machine: traffic to it never crosses a network. */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

/**
 * Warns (auth_token_cleartext, once) when a token would go over ws:// to another machine:
 * anyone on the path could read it and pose as the device. wss:// (or loopback) is silent.
 */
export function warnCleartextToken(url: { secure: boolean; host: string }, token: string, log: Log | undefined): void {
  if (token === "" || url.secure || isLoopbackHost(url.host)) return;
  log?.("warn", "auth_token_cleartext", { host: url.host, hint: "the token crosses the network unencrypted over ws://: use a wss:// URL" });
}

/**
 * The handshake headers that say who the device is: Authorization (when there is a token)
 * and DEVICE_ID_HEADER.
 */
export function credentialHeaders(deviceId: string, token: string): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  if (token !== "") headers.push(["Authorization", `Bearer ${token}`]);
  headers.push([DEVICE_ID_HEADER, deviceId]);
  return headers;
}
