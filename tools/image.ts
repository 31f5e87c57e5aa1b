/**
 * `npm run image`: a signed firmware image (docs/ota.md) for the companion server to offer.
 *
 *   npm run image -- --version 0.2.0 --out fw-0.2.0.img
 *       the desktop firmware as built in dist/ (its modules packed, hosts/node/firmware-archive.ts)
 *   npm run image -- --target esp32 --binary <mcconfig's .bin> --version 1.2.0 --out fw-1.2.0.img
 *       the ESP32 firmware mcconfig produced (build it with firmwareVersion=1.2.0)
 *
 * Signed with the owner's key in .moorline/keys/ (made on first use, never committed: the
 * firmware takes only images signed with the key it was built with).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isVersion, MAX_IMAGE_BYTES } from "../src/ota/manifest.js";
import { DESKTOP_TARGET } from "../hosts/node/firmware-store.js";
import { packFirmware } from "../hosts/node/firmware-archive.js";
import { DEFAULT_KEYS_DIR, ensureSigningKey } from "../hosts/node/firmware-keys.js";
import { fileProblem, HELP_FLAG, runCommand, SetupError, stringFlag, UsageError, type CommandSpec, type ParsedFlags } from "../hosts/node/cli.js";
import { buildImage } from "../server/ota-image.js";

/** dist/, where the desktop firmware is (this file runs from dist/tools/). */
const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const TARGETS = [DESKTOP_TARGET, "esp32"] as const;

const IMAGE_COMMAND: CommandSpec = {
  name: "image",
  helpCommand: "npm run image -- --help",
  usage: "Usage: npm run image -- --version V --out FILE [options]\n       node dist/tools/image.js --version V --out FILE [options]",
  description:
    "Builds a signed firmware image for the companion server to offer (npm run server -- --ota FILE,\n" +
    "or ota FILE at its prompt): a manifest (target, version, size, SHA-256) signed with the\n" +
    "owner's key (ECDSA P-256), then the payload. Devices check the signature against the key\n" +
    "built into their firmware, and the payload against the manifest, before they boot it.",
  flags: [
    { name: "version", value: "V", help: "the image's version, as its hello will report it (dotted numbers,\nan optional -suffix: 0.2.0, 1.0.0-rc.1)" },
    { name: "out", value: "FILE", help: "where to write the image" },
    { name: "target", value: "T", choices: TARGETS, help: `${DESKTOP_TARGET} (default): the simulated device's firmware, as built in dist/;\nesp32: the binary given with --binary` },
    { name: "binary", value: "FILE", help: "esp32: the firmware mcconfig built (build/bin/esp32/release/<name>/xs_esp32.bin);\nbuild it with firmwareVersion=V so that it reports the version signed here" },
    { name: "keys", value: "DIR", help: `the owner's key pair (default ${DEFAULT_KEYS_DIR}; made there on first use)` },
    { name: "from", value: "DIR", help: `${DESKTOP_TARGET}: pack this dist/ folder instead of the one built (default ${DIST_ROOT})` },
    HELP_FLAG,
  ],
  footer:
    "The key pair stays in the keys folder (git-ignored): keep the private key\n" +
    "(ota-signing-key.pem) safe; devices built with its public half take only images it signed.\n\n" +
    "Exit status: 0 written; 1 the key or the output cannot be written; 2 bad arguments.",
};

async function main(parsed: ParsedFlags): Promise<void> {
  const version = stringFlag(parsed, "version");
  const out = stringFlag(parsed, "out");
  if (version === undefined) throw new UsageError("--version is required (the image's version, e.g. 0.2.0)");
  if (!isVersion(version)) throw new UsageError(`--version ${JSON.stringify(version)} is not a version: dotted numbers, an optional -suffix (0.2.0, 1.0.0-rc.1)`);
  if (out === undefined || out === "") throw new UsageError("--out FILE is required (where to write the image)");
  const target = stringFlag(parsed, "target") ?? DESKTOP_TARGET;
  const binary = stringFlag(parsed, "binary");
  const from = stringFlag(parsed, "from");
  let payload: Uint8Array;
  if (target === DESKTOP_TARGET) {
    if (binary !== undefined) throw new UsageError(`--binary is for --target esp32; the ${DESKTOP_TARGET} image is the firmware in dist/`);
    const root = resolve(from ?? DIST_ROOT);
    if (!existsSync(join(root, "src", "device", "device.js"))) throw new UsageError(`${from !== undefined ? "--from " : ""}${root} holds no built firmware (run npm run build)`);
    payload = packFirmware(root);
  } else {
    if (from !== undefined) throw new UsageError("--from is for the desktop image");
    if (binary === undefined) throw new UsageError("--target esp32 needs --binary FILE: the firmware mcconfig built");
    try {
      payload = new Uint8Array(readFileSync(binary));
    } catch (error) {
      throw new UsageError(`--binary ${binary}: ${fileProblem(error)}`);
    }
    if (payload.length === 0 || payload[0] !== 0xe9) throw new UsageError(`--binary ${binary} is not an ESP32 app image (it must start with 0xE9)`);
  }
  if (payload.length > MAX_IMAGE_BYTES) throw new UsageError(`the payload is ${payload.length} bytes, more than an image may hold (${MAX_IMAGE_BYTES})`);
  const keys = stringFlag(parsed, "keys") ?? DEFAULT_KEYS_DIR;
  let key;
  try {
    key = ensureSigningKey(keys);
  } catch (error) {
    throw new SetupError(`the signing key in ${keys}: ${fileProblem(error)}`);
  }
  const image = buildImage({ payload, version, target, key });
  try {
    writeFileSync(out, image);
  } catch (error) {
    throw new SetupError(`cannot write ${out}: ${fileProblem(error)}`);
  }
  process.stdout.write(
    `${out}: ${target} firmware ${version}, ${payload.length} bytes, signed with key ${key.id} (${key.path}` +
      `${key.created ? ", made now: devices must be built with it, the desktop device reads it at start" : ""}).\n` +
      `Offer it with: npm run server -- --ota ${out}   (or type: ota ${out})\n`,
  );
}

void runCommand(IMAGE_COMMAND, process.argv.slice(2), main);
