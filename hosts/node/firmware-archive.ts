/**
 * The desktop firmware image's payload (docs/ota.md): the compiled modules the simulated device
 * boots from, as the desktop chip (hosts/node/chip.ts) runs them, in one archive:
 *
 *   "MLFW" | version u8 (1) | entries, each: path length u16 | path (UTF-8) | size u32 | bytes
 *   (big-endian, paths relative to dist/, sorted)
 *
 * What goes in: the firmware (src/**), the XS engine's side of the host (hosts/xs/xs-side/**,
 * loaded into XS with it) and the Node engine's worker with every module it imports
 * (hosts/node/firmware-worker.js and its relative imports, followed through the compiled
 * JavaScript). What the chip itself is (the engines' Node sides, the command line) stays out,
 * as a chip's ROM is not in its firmware. The chip unpacks a slot's archive into a folder of
 * its own and boots from it (hosts/node/firmware.ts).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const MAGIC = Buffer.from("MLFW", "latin1");
const FORMAT_VERSION = 1;
/** The Node engine's entry in an image. */
export const NODE_ENTRY = "hosts/node/firmware-worker.js";
/** Folders packed whole: the firmware and the XS side of the host. */
const WHOLE_FOLDERS = ["src", "hosts/xs/xs-side"];
/** A path an archive may hold: relative, no "." or ".." part, of plain characters, a .js file. */
const ENTRY_PATH = /^(?!\.{1,2}\/)([A-Za-z0-9_-][A-Za-z0-9_.-]*\/)*[A-Za-z0-9_-][A-Za-z0-9_.-]*\.js$/;
/** Relative specifiers in compiled ES modules: from "...", import("..."), import "...". */
const IMPORTS = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.\.?\/[^"]+\.js)"/g;

/** The files of the firmware under `root` (a dist/ folder): paths relative to it, sorted. */
export function firmwareFiles(root: string): string[] {
  const files = new Set<string>();
  for (const folder of WHOLE_FOLDERS) {
    for (const file of walk(join(root, folder))) files.add(relative(root, file).replace(/\\/g, "/"));
  }
  const visit = (path: string): void => {
    // The packed folders import only each other: what they hold is not followed again.
    if (files.has(path)) return;
    files.add(path);
    const source = readFileSync(join(root, path), "utf8");
    for (const match of source.matchAll(IMPORTS)) visit(normalize(join(dirname(path), match[1]!)).replace(/\\/g, "/"));
  };
  visit(NODE_ENTRY);
  return [...files].sort();
}

function walk(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile() && entry.name.endsWith(".js")) out.push(path);
  }
  return out;
}

/** The archive of `files` (relative paths) under `root`. */
export function packFirmware(root: string, files: readonly string[] = firmwareFiles(root)): Uint8Array {
  const parts: Buffer[] = [MAGIC, Buffer.of(FORMAT_VERSION)];
  for (const path of files) {
    if (!ENTRY_PATH.test(path)) throw new Error(`cannot pack ${JSON.stringify(path)}: not a plain relative path to a .js file`);
    const name = Buffer.from(path, "utf8");
    const bytes = readFileSync(join(root, path));
    const header = Buffer.alloc(6 + name.length);
    header.writeUInt16BE(name.length, 0);
    name.copy(header, 2);
    header.writeUInt32BE(bytes.length, 2 + name.length);
    parts.push(header, bytes);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** The entries of an archive (path -> bytes); throws naming what is wrong with it. */
export function readArchive(archive: Uint8Array): Map<string, Uint8Array> {
  const bytes = Buffer.from(archive.buffer, archive.byteOffset, archive.length);
  if (bytes.length < 5 || !bytes.subarray(0, 4).equals(MAGIC)) throw new Error("not a desktop firmware archive (no MLFW)");
  if (bytes[4] !== FORMAT_VERSION) throw new Error(`desktop firmware archive format ${bytes[4]}, this chip reads ${FORMAT_VERSION}`);
  const entries = new Map<string, Uint8Array>();
  let at = 5;
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new Error(`archive cut short at ${at}`);
    const nameLength = bytes.readUInt16BE(at);
    if (at + 6 + nameLength > bytes.length) throw new Error(`archive cut short at ${at}`);
    const path = bytes.toString("utf8", at + 2, at + 2 + nameLength);
    const size = bytes.readUInt32BE(at + 2 + nameLength);
    at += 6 + nameLength;
    if (!ENTRY_PATH.test(path) || entries.has(path)) throw new Error(`archive entry ${JSON.stringify(path.slice(0, 80))} is not a plain relative .js path, or repeated`);
    if (at + size > bytes.length) throw new Error(`archive entry ${path} cut short`);
    entries.set(path, bytes.subarray(at, at + size));
    at += size;
  }
  if (!entries.has(NODE_ENTRY)) throw new Error(`the archive has no ${NODE_ENTRY}: not a desktop firmware`);
  return entries;
}

/**
 * Unpacks `archive` into `folder`, replacing what was there only once the whole archive is
 * written (a temporary folder renamed into place), with a package.json that makes its .js
 * files ES modules wherever the folder is.
 */
export function unpackFirmware(archive: Uint8Array, folder: string): void {
  const entries = readArchive(archive);
  const temporary = `${folder}.unpacking-${process.pid}`;
  rmSync(temporary, { recursive: true, force: true });
  for (const [path, bytes] of entries) {
    const target = join(temporary, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, bytes);
  }
  writeFileSync(join(temporary, "package.json"), '{"type":"module"}\n');
  rmSync(folder, { recursive: true, force: true });
  renameSync(temporary, folder);
}
