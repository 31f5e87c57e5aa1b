/**
 * The companion server's device registry (`npm run server -- --devices FILE`): the devices
 * allowed to connect, each with a token of its own, kept in a JSON file as slow salted hashes
 * (scrypt, RFC 7914), never in clear. The token itself exists only twice: printed once by
 * --add-device, and on the device.
 *
 *   {
 *     "format": "moorline-devices",
 *     "version": 1,
 *     "devices": {
 *       "sim-1": { "hash": "$scrypt$ln=14,r=8,p=1$<salt>$<key>", "added": "2025-05-01T10:42:01.120Z" }
 *     }
 *   }
 *
 * The hash is a PHC string (salt and key in base64 without padding); its parameters are kept
 * with it, so stronger ones can be chosen later without invalidating the devices already
 * registered. The file is written whole and atomically (hosts/node/atomic-file.ts), readable by
 * its owner only; a file that is not this shape is refused as a whole, with one line naming
 * what is wrong, never half-used. One change at a time: two commands changing the file at the
 * same moment may lose one of the changes.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { readFileSync, statSync, type Stats } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { writeFileAtomic } from "../hosts/node/atomic-file.js";
import { AUTH_TOKEN_RULE, DEVICE_ID_RULE, isAuthToken, isDeviceId } from "../src/auth/credentials.js";
import { printable } from "../src/shared/log-format.js";

export const REGISTRY_FORMAT = "moorline-devices";
export const REGISTRY_VERSION = 1;

/** A registry file larger than this is refused, bytes: ~100,000 devices fit. */
export const MAX_REGISTRY_BYTES = 16 * 1024 * 1024;

/**
 * scrypt's cost for new hashes: N = 2^14, r = 8, p = 1 (16 MiB and ~50 ms per check on a
 * desktop core; RFC 7914 section 2's interactive-login figures). The tokens are 256 random
 * bits, so the hash is not what stops guessing; it keeps a stolen file from being a list of
 * usable tokens even should a weaker token ever be registered.
 */
export const DEFAULT_SCRYPT = Object.freeze({ ln: 14, r: 8, p: 1 });
/** Salt of a new hash, bytes (RFC 7914 section 2 asks for at least 16). */
const SALT_BYTES = 16;
/** Derived key length, bytes. */
const KEY_BYTES = 32;
/** Random bytes in a new token: 256 bits, base64url (43 characters, a valid RFC 6750 b64token; never starting with "-": newToken). */
export const TOKEN_BYTES = 32;

/** Bounds on the parameters a file may ask for: a crafted file must not make a check take a gigabyte. */
const LIMITS = Object.freeze({ ln: [10, 20], r: [1, 16], p: [1, 4], salt: [16, 64], key: [16, 64] } as const);
/** Memory one check may take, bytes (scrypt needs 128 * N * r). */
const MAX_SCRYPT_MEMORY = 256 * 1024 * 1024;

/** A file that cannot be used as a registry: its message is one line naming the file and the problem. */
export class RegistryError extends Error {
  override name = "RegistryError";
}

interface ScryptHash {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

interface Entry {
  /** The PHC string, as stored. */
  phc: string;
  hash: ScryptHash;
  added: string;
}

/** What changed when the file was read again. */
export interface RegistryChange {
  /** Devices that were registered before and are not, or whose token changed: their live connections must go. */
  revoked: string[];
  size: number;
}

function scrypt(token: string, hash: Pick<ScryptHash, "ln" | "r" | "p" | "salt">, length: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** hash.ln, r: hash.r, p: hash.p, maxmem: MAX_SCRYPT_MEMORY + 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCallback(token, hash.salt, length, options, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** Base64 without padding, as PHC strings write it. */
function b64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "");
}

/** A PHC scrypt string parsed and checked against LIMITS; throws a message fragment saying what is wrong. */
function parsePhc(text: unknown): ScryptHash {
  const shape = "a scrypt hash ($scrypt$ln=L,r=R,p=P$<salt>$<key>)";
  if (typeof text !== "string") throw new Error(`is not ${shape}`);
  const match = /^\$scrypt\$ln=([0-9]{1,2}),r=([0-9]{1,2}),p=([0-9]{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(text);
  if (!match) throw new Error(`is not ${shape}`);
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const salt = Buffer.from(match[4]!, "base64");
  const key = Buffer.from(match[5]!, "base64");
  const within = (value: number, [min, max]: readonly [number, number]) => value >= min && value <= max;
  if (!within(ln, LIMITS.ln) || !within(r, LIMITS.r) || !within(p, LIMITS.p) || 128 * 2 ** ln * r > MAX_SCRYPT_MEMORY) {
    throw new Error(`has scrypt parameters out of bounds (ln ${LIMITS.ln.join("-")}, r ${LIMITS.r.join("-")}, p ${LIMITS.p.join("-")}, at most ${MAX_SCRYPT_MEMORY / 1024 / 1024} MiB)`);
  }
  if (!within(salt.length, LIMITS.salt) || !within(key.length, LIMITS.key)) {
    throw new Error(`has a salt or key of the wrong size (salt ${LIMITS.salt.join("-")} bytes, key ${LIMITS.key.join("-")} bytes)`);
  }
  return { ln, r, p, salt, key };
}

/** The registry's entries from the file's text; throws RegistryError naming `path` and what is wrong. */
function parseRegistry(path: string, text: string): Map<string, Entry> {
  const fail = (what: string): never => {
    throw new RegistryError(`${path} is not a usable device registry: ${what}`);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // One line: the parser's message may quote the file's text, newlines and all.
    fail(`not JSON (${printable((error as Error).message).slice(0, 160)})`);
  }
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
  if (!isObject(parsed)) return fail("not a JSON object");
  if (parsed.format !== REGISTRY_FORMAT) fail(`"format" must be "${REGISTRY_FORMAT}"`);
  if (parsed.version !== REGISTRY_VERSION) fail(`"version" must be ${REGISTRY_VERSION}, got ${JSON.stringify(parsed.version)}`);
  if (!isObject(parsed.devices)) return fail(`"devices" must be an object of device id -> {hash, added}`);
  const entries = new Map<string, Entry>();
  for (const [id, value] of Object.entries(parsed.devices)) {
    // The id is quoted as JSON: whatever a corrupt file holds cannot reach the terminal raw.
    const where = `devices[${JSON.stringify(id.slice(0, 80))}]`;
    if (!isDeviceId(id)) fail(`${where}: a device id is ${DEVICE_ID_RULE}`);
    if (!isObject(value)) return fail(`${where} must be an object {hash, added}`);
    let hash: ScryptHash;
    try {
      hash = parsePhc(value.hash);
    } catch (error) {
      return fail(`${where}.hash ${(error as Error).message}`);
    }
    if (typeof value.added !== "string" || value.added.length > 64) fail(`${where}.added must be a date (ISO 8601 text)`);
    entries.set(id, { phc: value.hash as string, hash, added: value.added as string });
  }
  return entries;
}

/** What stat() says of a file, to notice that it changed. */
function signature(info: { mtimeMs: number; size: number; ino: number }): string {
  return `${info.mtimeMs}:${info.size}:${info.ino}`;
}

/**
 * A new token: TOKEN_BYTES random bytes in base64url, drawn again while it would start with
 * "-" (1 in 64), which a command line would take for an option (`--auth-token -x...`).
 */
export function newToken(): string {
  for (;;) {
    const token = randomBytes(TOKEN_BYTES).toString("base64url");
    if (token[0] !== "-") return token;
  }
}

/** A file larger than MAX_REGISTRY_BYTES is refused before it is read; the error names it. */
function checkSize(path: string, size: number): void {
  if (size > MAX_REGISTRY_BYTES) throw new RegistryError(`${path} is not a usable device registry: larger than ${MAX_REGISTRY_BYTES} bytes`);
}

export class DeviceRegistry {
  readonly path: string;
  private entries: Map<string, Entry>;
  /** The file as last read or written (signature()), to notice changes made by other processes. */
  private seen: string;
  /** One refresh at a time: concurrent callers share it. */
  private refreshing: Promise<RegistryChange | undefined> | undefined;
  /** What an unknown device's token is checked against, so it takes as long as a known one's. */
  private readonly decoy: ScryptHash = { ...DEFAULT_SCRYPT, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) };

  private constructor(path: string, entries: Map<string, Entry>, seen: string) {
    this.path = path;
    this.entries = entries;
    this.seen = seen;
  }

  /**
   * Reads the registry at `path`. A missing file is a RegistryError (a typo in --devices must
   * not start a server that admits nobody without saying why), unless `create` is set: then
   * the registry starts empty and the file is written on the first change. A file that cannot
   * be read or is not a registry is a RegistryError naming it and the problem.
   */
  static open(path: string, options: { create?: boolean } = {}): DeviceRegistry {
    let text: string;
    let seen: string;
    try {
      const info = statSyncSafe(path);
      if (info === undefined) {
        if (options.create) return new DeviceRegistry(path, new Map(), "");
        throw new RegistryError(`${path}: no such file (create it with --devices ${path} --add-device ID)`);
      }
      if (!info.isFile()) throw new RegistryError(`${path}: not a file`);
      checkSize(path, info.size);
      text = readFileSync(path, "utf8");
      seen = signature(info);
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError(`${path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return new DeviceRegistry(path, parseRegistry(path, text), seen);
  }

  /** The registered device ids, sorted. */
  ids(): string[] {
    return [...this.entries.keys()].sort();
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get size(): number {
    return this.entries.size;
  }

  /** When `id` was registered (ISO 8601), or undefined. */
  added(id: string): string | undefined {
    return this.entries.get(id)?.added;
  }

  /**
   * Registers `id` with a new random token (or `token`, when given: `npm start` registering
   * the token a simulated device already holds), writes the file, and returns the token: the
   * only time it is known here. A registered id is refused (RegistryError) unless `replace`.
   */
  async add(id: string, options: { token?: string; replace?: boolean } = {}): Promise<string> {
    if (!isDeviceId(id)) throw new RegistryError(`device id ${JSON.stringify(String(id).slice(0, 80))} is not ${DEVICE_ID_RULE}`);
    if (options.token !== undefined && !isAuthToken(options.token)) throw new RegistryError(`the token given for ${id} is not ${AUTH_TOKEN_RULE} (not shown)`);
    if (this.entries.has(id) && !options.replace) {
      throw new RegistryError(`${id} is already registered in ${this.path}; to give it a new token, remove it first (--remove-device ${id}), which disconnects it`);
    }
    const token = options.token ?? newToken();
    const salt = randomBytes(SALT_BYTES);
    const key = await scrypt(token, { ...DEFAULT_SCRYPT, salt }, KEY_BYTES);
    const phc = `$scrypt$ln=${DEFAULT_SCRYPT.ln},r=${DEFAULT_SCRYPT.r},p=${DEFAULT_SCRYPT.p}$${b64(salt)}$${b64(key)}`;
    const next = new Map(this.entries);
    next.set(id, { phc, hash: { ...DEFAULT_SCRYPT, salt, key }, added: new Date().toISOString() });
    this.save(next);
    return token;
  }

  /** Unregisters `id` and writes the file; false (and nothing written) when it was not registered. */
  remove(id: string): boolean {
    if (!this.entries.has(id)) return false;
    const next = new Map(this.entries);
    next.delete(id);
    this.save(next);
    return true;
  }

  /**
   * Whether `token` is the one registered for `id`: scrypt of it with that entry's salt,
   * compared with the stored key in constant time (crypto.timingSafeEqual). An unknown id
   * costs the same scrypt (against a decoy), so the time taken does not tell registered ids
   * from others.
   */
  async verify(id: string, token: string): Promise<boolean> {
    const entry = this.entries.get(id);
    const hash = entry?.hash ?? this.decoy;
    const derived = await scrypt(token, hash, hash.key.length);
    // Read again after the wait: a reload meanwhile may have removed or changed the entry.
    const matches = timingSafeEqual(derived, hash.key);
    return matches && entry !== undefined && this.entries.get(id) === entry;
  }

  /**
   * Reads the file again if it changed since it was last read or written (another process
   * ran --add-device or --remove-device, say); resolves with what changed, or undefined when
   * nothing did. A file that became unusable rejects with RegistryError and the registry in
   * memory stays as it was. Concurrent calls share one read.
   */
  refresh(): Promise<RegistryChange | undefined> {
    this.refreshing ??= this.readIfChanged().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async readIfChanged(): Promise<RegistryChange | undefined> {
    let text: string;
    let seen: string;
    try {
      const info = await stat(this.path);
      seen = signature(info);
      if (seen === this.seen) return undefined;
      checkSize(this.path, info.size);
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw new RegistryError(`${this.path}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); still using the devices read before`);
    }
    const entries = parseRegistry(this.path, text);
    const revoked = [...this.entries].filter(([id, entry]) => entries.get(id)?.phc !== entry.phc).map(([id]) => id);
    this.entries = entries;
    this.seen = seen;
    return { revoked, size: entries.size };
  }

  /** Writes `entries` as the file (atomically), then makes them the registry in memory. */
  private save(entries: Map<string, Entry>): void {
    const devices: Record<string, { hash: string; added: string }> = {};
    for (const id of [...entries.keys()].sort()) {
      const entry = entries.get(id)!;
      devices[id] = { hash: entry.phc, added: entry.added };
    }
    const text = JSON.stringify({ format: REGISTRY_FORMAT, version: REGISTRY_VERSION, devices }, null, 2) + "\n";
    try {
      writeFileAtomic(this.path, text, 0o600);
    } catch (error) {
      throw new RegistryError(`${this.path}: cannot be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    this.entries = entries;
    const info = statSyncSafe(this.path);
    this.seen = info ? signature(info) : "";
  }
}

/** stat(), or undefined when there is no such file. */
function statSyncSafe(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}
