/**
 * Thin wrappers over the Moddable SDK and ESP-IDF for the jobs a user has with the firmware:
 * build for the ESP32, flash, erase, read chip info, run in Moddable's simulator, and check
 * the manifest. Each names what is missing (the SDK, `tsc`, ESP-IDF, esptool) before anything
 * runs, prints the exact command it runs (the WiFi password masked), and exits with that
 * command's status.
 *
 *   node dist/tools/moddable.js <command> [options] [key=value ...] [-- extra arguments]
 *
 * Nothing here needs the SDK to load: `check:moddable` without $MODDABLE says it skips and
 * exits 0, so a fresh machine's CI never fails for want of the SDK.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  failCommand,
  flagErrorMessage,
  formatHelp,
  HELP_FLAG,
  integerFlag,
  keyedValues,
  parseFlags,
  SetupError,
  stringFlag,
  switchFlag,
  UsageError,
  type CommandSpec,
  type Flag,
} from "../hosts/node/cli.js";
import { caResourceName } from "../hosts/moddable/tls.js";
import { DEFAULT_KEYS_DIR, ensureSigningKey } from "../hosts/node/firmware-keys.js";
import { parseDeviceConfig } from "../src/device/config.js";

export const COMMANDS = ["build:esp32", "flash", "erase", "chip-info", "sim", "check:moddable"] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The options that set a config key, and the environment variable that gives a default. */
const CONFIG_FLAGS: readonly Flag[] = [
  { name: "ssid", value: "S", key: "ssid", help: "WiFi network (config ssid; env MOORLINE_SSID)" },
  { name: "password", value: "P", key: "password", help: "WiFi passphrase (config password; env MOORLINE_PASSWORD)" },
  { name: "url", value: "U", key: "url", help: "the server, ws://host:port/path (config url; env MOORLINE_URL)" },
  { name: "device-id", value: "ID", key: "deviceId", help: "the device's name in hello (config deviceId; env MOORLINE_DEVICE_ID)" },
];
const CONFIG_ENV: Readonly<Record<string, string>> = Object.freeze({
  ssid: "MOORLINE_SSID",
  password: "MOORLINE_PASSWORD",
  url: "MOORLINE_URL",
  deviceId: "MOORLINE_DEVICE_ID",
});

/** The tool's command line; `name` and `helpCommand` are the command's (see commandSpec). */
const MODDABLE_COMMAND: CommandSpec = {
  name: "moddable",
  helpCommand: "node dist/tools/moddable.js --help",
  usage: "Usage: npm run <command> -- [options] [key=value ...] [-- extra arguments]",
  description: `Commands (npm scripts):
  build:esp32     build the firmware for the ESP32 (release):
                    mcconfig -m -p esp32 -t build manifest.json ssid=... password=... url=...
  flash           build, flash and start the debugger (xsbug):
                    mcconfig -d -m -p esp32 manifest.json ...
                  with --release: a release build, whose log goes to the serial port
                  (watch it with npm run monitor)
  erase           erase the whole flash (a device stuck in a boot loop): esptool.py erase_flash
  chip-info       the chip and its flash: esptool.py chip_id, then esptool.py flash_id
  sim             build and run in Moddable's simulator: mcconfig -d -m -p lin|mac|win
                  with --headless (Linux): a release build run in mcsim, its log on stdout,
                  under xvfb-run when there is no display
  check:moddable  where $MODDABLE is set: build the manifest for the simulator and generate
                  the ESP32 build (mcconfig -p esp32, no ESP-IDF needed); where it is not,
                  say so and skip (exit 0)`,
  flags: [
    ...CONFIG_FLAGS,
    { name: "platform", value: "P", help: "ESP32 variant for mcconfig -p (default esp32; e.g. esp32/esp32c3)" },
    { name: "port", value: "DEV", help: "serial port, e.g. /dev/ttyUSB0 (env UPLOAD_PORT; flash passes it to\nmcconfig as UPLOAD_PORT, erase/chip-info to esptool as --port)" },
    { name: "release", help: "flash: release build (no -d)" },
    { name: "headless", help: "sim: run mcsim without xsbug, log on stdout (Linux)" },
    { name: "seconds", value: "N", integer: { min: 1, max: 86_400 }, help: "sim --headless: stop the simulator after N seconds" },
    HELP_FLAG,
  ],
  maxPositionals: Infinity,
  passesRest: true,
  footer: `Arguments:
  key=value         any other config key, e.g. telemetryIntervalMs=5000 logLevel=debug;
                    for wss://, ca=NAME trusts the CA in certs/NAME.der (DER, built in)
  -- ...            the rest goes to mcconfig (or esptool) as is, e.g. -- -i

Needs: $MODDABLE (the Moddable SDK, its tools built), tsc (npm ci), and for the ESP32
$IDF_PATH (ESP-IDF, with its export.sh sourced). See README.md, "Building for the ESP32 and
Moddable's simulator".

Exit status: the command's own; 1 when something it needs is missing; 2 for bad arguments.`,
};

/** The --help text. */
export const USAGE = formatHelp(MODDABLE_COMMAND);

/** The spec for `command`: errors start with its name and point at its own --help. */
function commandSpec(command: string | undefined): CommandSpec {
  const known = command !== undefined && (COMMANDS as readonly string[]).includes(command);
  return known ? { ...MODDABLE_COMMAND, name: command, helpCommand: `npm run ${command} -- --help` } : MODDABLE_COMMAND;
}

export interface Options {
  command: CommandName;
  /** Config keys for mcconfig, in the order given (key=value). */
  config: Array<[string, string]>;
  platform: string;
  port: string | undefined;
  release: boolean;
  headless: boolean;
  seconds: number | undefined;
  /** After "--": passed on verbatim. */
  extra: string[];
}

/** Config keys that hold secrets: masked when a command line is printed. */
const SECRET_KEYS = new Set(["password", "authToken"]);

/** A config key as mcconfig takes it on its command line (and mc/config exposes it). */
const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The command line, validated: unknown options, missing values and config values that the
 * firmware would refuse at boot (src/device/config.ts) are reported here, before a long build.
 * The command is the first argument; --help anywhere gives `{ help: true }`.
 */
export function parseModdableArguments(argv: readonly string[], env: Env): Options | { help: true } {
  const parsed = parseFlags(MODDABLE_COMMAND, argv);
  if (parsed.help) return { help: true };
  const [command, ...settings] = parsed.positionals;
  if (command === undefined) throw new UsageError(`missing the command: one of ${COMMANDS.join(", ")}`);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}; one of ${COMMANDS.join(", ")}`);
  }
  const options: Options = {
    command: command as CommandName,
    config: [],
    platform: stringFlag(parsed, "platform") ?? (env.MOORLINE_PLATFORM || "esp32"),
    port: stringFlag(parsed, "port") ?? (env.UPLOAD_PORT || undefined),
    release: switchFlag(parsed, "release"),
    headless: switchFlag(parsed, "headless"),
    seconds: integerFlag(parsed, "seconds"),
    extra: [...parsed.rest],
  };
  const given = new Map<string, string>();
  // The environment first: options given on the command line override it.
  for (const [key, name] of Object.entries(CONFIG_ENV)) {
    const value = env[name];
    if (value !== undefined && value !== "") given.set(key, value);
  }
  for (const [key, value] of Object.entries(keyedValues(parsed, CONFIG_FLAGS))) given.set(key, String(value));
  for (const arg of settings) {
    const equals = arg.indexOf("=");
    const key = equals > 0 ? arg.slice(0, equals) : "";
    if (!CONFIG_KEY.test(key)) throw new UsageError(`${JSON.stringify(arg)} is not key=value (a config key, e.g. telemetryIntervalMs=5000)`);
    given.set(key, arg.slice(equals + 1));
  }
  if (!/^esp32(\/[A-Za-z0-9_-]+)?$/.test(options.platform)) {
    throw new UsageError(`--platform must be esp32 or esp32/<subplatform>, got ${JSON.stringify(options.platform)}`);
  }
  if (options.release && options.command !== "flash") throw new UsageError("--release is for flash only (build:esp32 always builds a release)");
  if ((options.headless || options.seconds !== undefined) && options.command !== "sim") throw new UsageError("--headless and --seconds are for sim only");
  if (options.seconds !== undefined && !options.headless) throw new UsageError("--seconds needs --headless");
  if (given.size > 0 && (options.command === "erase" || options.command === "chip-info")) {
    throw new UsageError(`${options.command} takes no config values (${[...given.keys()].join(", ")})`);
  }
  // What the firmware would refuse at boot is refused now: the values arrive as strings, as
  // they will from mcconfig. A value given by an option is named by that option; one given
  // as key=value (or by the environment) by its config key.
  try {
    parseDeviceConfig(Object.fromEntries(given));
  } catch (error) {
    const named = CONFIG_FLAGS.filter((flag) => parsed.values.has(flag.name));
    throw new UsageError(flagErrorMessage(error, named, "config."));
  }
  options.config = [...given.entries()];
  return options;
}

// ------------------------------------------------------------------------------------------
// Finding what the commands need.

/** The SDK's name for the host OS's build platform (mcconfig -p, $MODDABLE/build/bin/<os>). */
export function hostPlatform(platform: NodeJS.Platform = process.platform): "lin" | "mac" | "win" {
  if (platform === "darwin") return "mac";
  if (platform === "win32") return "win";
  return "lin";
}

/** The first `name` on `path` that is an executable file. */
export function which(name: string, path: string | undefined): string | undefined {
  if (!path) return undefined;
  const extensions = process.platform === "win32" ? ["", ".exe", ".cmd", ".bat"] : [""];
  for (const directory of path.split(delimiter)) {
    if (directory === "") continue;
    for (const extension of extensions) {
      const candidate = join(directory, name + extension);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const SDK_HELP =
  "Install the Moddable SDK (https://github.com/Moddable-OpenSource/moddable; its \"documentation/Moddable SDK - Getting Started.md\" has the steps for each OS), build its tools, then:\n" +
  "  export MODDABLE=/path/to/moddable\n" +
  "  export PATH=$MODDABLE/build/bin/<lin|mac|win>/release:$PATH";

const IDF_HELP =
  "Install ESP-IDF as the Moddable SDK's documentation/devices/esp32.md says (the SDK 8.2.3 expects ESP-IDF v6.0), then in each shell:\n" +
  "  source $IDF_PATH/export.sh";

export interface Environment {
  /** The project: where manifest.json and node_modules are. */
  root: string;
  moddable: string;
  /** PATH for mcconfig: the SDK's tools and the project's tsc in front. */
  path: string;
  os: "lin" | "mac" | "win";
}

/** Checks $MODDABLE, the SDK's tools and tsc; returns the PATH the SDK's tools need. */
export function checkModdable(env: Env, root: string): Environment {
  const moddable = env.MODDABLE;
  if (!moddable) throw new SetupError(`$MODDABLE is not set.\n${SDK_HELP}`);
  if (!isDirectory(moddable)) throw new SetupError(`$MODDABLE is ${moddable}, which is not a directory.\n${SDK_HELP}`);
  if (!isDirectory(join(moddable, "tools")) || !isDirectory(join(moddable, "build"))) {
    throw new SetupError(`$MODDABLE is ${moddable}, which is not the Moddable SDK (no tools/ and build/ in it).\n${SDK_HELP}`);
  }
  if (!existsSync(join(root, "manifest.json"))) throw new SetupError(`There is no manifest.json in ${root}: run this from a checkout of the project.`);
  const os = hostPlatform();
  const sdkBin = join(moddable, "build", "bin", os, "release");
  let path = env.PATH ?? "";
  if (!which("mcconfig", path)) {
    if (!which("mcconfig", sdkBin)) {
      throw new SetupError(
        `mcconfig was not found on PATH nor in ${sdkBin}: the SDK's tools are not built.\n` +
          `  cd ${join(moddable, "build", "makefiles", os)} && make\n` +
          `then put ${sdkBin} on PATH.`,
      );
    }
    path = sdkBin + delimiter + path;
  }
  // mcconfig compiles each .ts module with `tsc` from PATH: the project's pinned one first.
  const projectBin = join(root, "node_modules", ".bin");
  if (which("tsc", projectBin)) path = projectBin + delimiter + path;
  else if (!which("tsc", path)) {
    throw new SetupError(
      `tsc (TypeScript) was not found: mcconfig compiles the firmware's .ts modules with it.\n` +
        `Run \`npm ci\` in ${root} (TypeScript is a dev dependency), or install TypeScript so that tsc is on PATH.`,
    );
  }
  return { root, moddable, path, os };
}

/** Checks $IDF_PATH for the ESP32 commands. */
export function checkIdf(env: Env): string {
  const idf = env.IDF_PATH;
  if (!idf) throw new SetupError(`$IDF_PATH is not set: the ESP32 commands need ESP-IDF.\n${IDF_HELP}`);
  if (!existsSync(join(idf, "tools", "idf.py"))) {
    throw new SetupError(`$IDF_PATH is ${idf}, which is not an ESP-IDF checkout (no tools/idf.py in it).\n${IDF_HELP}`);
  }
  return idf;
}

/** esptool from ESP-IDF's Python environment (on PATH after export.sh), or its copy in IDF. */
export function findEsptool(env: Env, idf: string): string[] {
  const path = env.PATH;
  for (const name of ["esptool.py", "esptool"]) {
    const found = which(name, path);
    if (found) return [found];
  }
  const script = join(idf, "components", "esptool_py", "esptool", "esptool.py");
  const python = which("python3", path) ?? which("python", path);
  if (existsSync(script) && python) return [python, script];
  throw new SetupError(
    `esptool was not found on PATH (ESP-IDF installs it in its Python environment).\n` +
      `Run \`source ${join(idf, "export.sh")}\` in this shell, or install it with \`pip install esptool\`.`,
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------------
// The commands.

/** One process to run: what it is, for the printed line, and how. */
export interface Step {
  argv: string[];
  env: Record<string, string | undefined>;
  cwd: string;
  /** Indexes of argv to print masked. */
  secret: number[];
}

function configArguments(options: Options): { args: string[]; secret: number[] } {
  const args: string[] = [];
  const secret: number[] = [];
  for (const [key, value] of options.config) {
    if (SECRET_KEYS.has(key)) secret.push(args.length);
    args.push(`${key}=${value}`);
  }
  return { args, secret };
}

function mcconfigStep(environment: Environment, env: Env, flags: string[], options: Options, extraEnv: Record<string, string> = {}): Step {
  const manifest = join(environment.root, "manifest.json");
  const { args, secret } = configArguments(options);
  const head = ["mcconfig", ...flags, manifest];
  return {
    argv: [...head, ...args, ...options.extra],
    env: { ...env, ...extraEnv, MODDABLE: environment.moddable, PATH: environment.path },
    cwd: environment.root,
    secret: secret.map((index) => index + head.length),
  };
}

/** The line printed before a step runs: shell-quoted where needed, secrets masked. */
export function describe(step: Step): string {
  return step.argv
    .map((arg, index) => {
      const shown = step.secret.includes(index) ? arg.replace(/=.*$/s, "=****") : arg;
      return /^[A-Za-z0-9_./:=@%+,-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
    })
    .join(" ");
}

/** Where mcconfig puts the simulator's library: $MODDABLE/build/bin/<os>/mc/<build>/<name>/mc.so. */
export function simulatorLibrary(environment: Environment, debug: boolean): string {
  return join(environment.moddable, "build", "bin", environment.os, "mc", debug ? "debug" : "release", basename(environment.root), "mc.so");
}

export interface Plan {
  /** Printed first (warnings, the skip). */
  notes: string[];
  steps: Step[];
  /** sim --headless: run the simulator after the build. */
  simulate?: { argv: string[]; env: Record<string, string | undefined>; seconds: number | undefined };
}

/** Where the firmware's certificate resources are (manifest.json's resources). */
export const CERTS_FOLDER = "certs";

/**
 * A build with `ca=NAME` needs certs/NAME.der in the project: the firmware would refuse to
 * start without it, so say it before a long build, and how to make it from a PEM file.
 */
function checkCaResource(options: Options, root: string): void {
  const ca = options.config.find(([key]) => key === "ca")?.[1];
  if (ca === undefined || ca === "") return;
  const name = caResourceName(ca);
  if (existsSync(join(root, CERTS_FOLDER, name))) return;
  const pem = join(CERTS_FOLDER, name.replace(/\.der$/i, ".pem"));
  throw new UsageError(
    `ca=${ca} names ${CERTS_FOLDER}/${name}, which is not in ${root}: the firmware trusts a CA built into it, in DER.\n` +
      `  openssl x509 -in ${existsSync(join(root, pem)) ? pem : "your-ca.pem"} -outform der -out ${CERTS_FOLDER}/${name}`,
  );
}

/**
 * The owner's update key built into an ESP32 build (config otaPublicKey), unless one is given:
 * the public half of the pair in the project's .moorline/keys/, made there on first use, the
 * same that `npm run image` signs with (docs/ota.md).
 */
function withUpdateKey(options: Options, root: string, notes: string[]): void {
  if (options.config.some(([key]) => key === "otaPublicKey")) return;
  const dir = join(root, DEFAULT_KEYS_DIR);
  let key;
  try {
    key = ensureSigningKey(dir);
  } catch (error) {
    throw new SetupError(`the update key in ${dir} cannot be read or made: ${(error as Error).message}`);
  }
  options.config.push(["otaPublicKey", key.base64]);
  notes.push(
    `note: the update key ${key.id} (${key.path}${key.created ? ", made now" : ""}) is built in: the firmware takes images signed with it (npm run image -- --target esp32).`,
  );
}

/** What a command will run, with every prerequisite checked first. */
export function plan(options: Options, env: Env, root: string): Plan {
  const notes: string[] = [];
  checkCaResource(options, root);
  const hasSsid = options.config.some(([key, value]) => key === "ssid" && value !== "");
  switch (options.command) {
    case "check:moddable": {
      if (!env.MODDABLE) {
        return { notes: ["check:moddable: $MODDABLE is not set: skipping the build check with the Moddable SDK (nothing failed; install the SDK to run it)."], steps: [] };
      }
      const environment = checkModdable(env, root);
      return {
        notes,
        steps: [
          mcconfigStep(environment, env, ["-m", "-p", environment.os, "-t", "build"], options),
          // Without -m mcconfig only generates the ESP32 build: it resolves the esp32 platform
          // of the manifest (and its modules) without needing ESP-IDF.
          mcconfigStep(environment, { ...env }, ["-p", options.platform], options),
        ],
      };
    }
    case "build:esp32":
    case "flash": {
      const environment = checkModdable(env, root);
      checkIdf(env);
      if (!hasSsid) notes.push("note: no --ssid: the device tries the WiFi networks saved in its storage; with none that works it opens its setup portal (access point moorline-XXXX) and, in a release build, answers Improv on its serial port.");
      withUpdateKey(options, root, notes);
      const debug = options.command === "flash" && !options.release;
      const flags = [...(debug ? ["-d"] : []), "-m", "-p", options.platform, ...(options.command === "build:esp32" ? ["-t", "build"] : [])];
      const extraEnv: Record<string, string> = options.port && options.command === "flash" ? { UPLOAD_PORT: options.port } : {};
      return { notes, steps: [mcconfigStep(environment, env, flags, options, extraEnv)] };
    }
    case "erase":
    case "chip-info": {
      const idf = checkIdf(env);
      const esptool = findEsptool(env, idf);
      const port = options.port ? ["--port", options.port] : [];
      const commands = options.command === "erase" ? ["erase_flash"] : ["chip_id", "flash_id"];
      return {
        notes,
        steps: commands.map((name) => ({ argv: [...esptool, ...port, name, ...options.extra], env: { ...env }, cwd: root, secret: [] })),
      };
    }
    case "sim": {
      const environment = checkModdable(env, root);
      if (!options.headless) {
        return { notes, steps: [mcconfigStep(environment, env, ["-d", "-m", "-p", environment.os], options)] };
      }
      if (environment.os !== "lin") throw new UsageError("--headless runs mcsim directly, on Linux only; on macOS and Windows use npm run sim");
      const build = mcconfigStep(environment, env, ["-m", "-p", "lin", "-t", "build"], options);
      const mcsim = which("mcsim", environment.path);
      if (!mcsim) throw new SetupError(`mcsim was not found next to mcconfig: build the SDK's tools (cd ${join(environment.moddable, "build", "makefiles", "lin")} && make).`);
      const library = simulatorLibrary(environment, false);
      // mcsim's stdout is a pipe here, block-buffered: line-buffer it so each log line shows
      // as it happens and none is lost when the simulator is stopped.
      const stdbuf = which("stdbuf", environment.path);
      let argv = [...(stdbuf ? [stdbuf, "-oL"] : []), mcsim, library];
      if (!env.DISPLAY && !env.WAYLAND_DISPLAY) {
        const xvfb = which("xvfb-run", environment.path);
        if (!xvfb) throw new SetupError("There is no display ($DISPLAY is not set) and xvfb-run was not found: install Xvfb (Debian: apt-get install xvfb xauth), or run under a desktop session.");
        argv = [xvfb, "-a", ...argv];
      }
      return { notes, steps: [build], simulate: { argv, env: { ...env, PATH: environment.path }, seconds: options.seconds } };
    }
  }
}

// ------------------------------------------------------------------------------------------
// Running.

function runStep(step: Step): Promise<number> {
  process.stderr.write(`$ ${describe(step)}\n`);
  return new Promise((resolvePromise) => {
    let child: ChildProcess;
    try {
      child = spawn(step.argv[0]!, step.argv.slice(1), { cwd: step.cwd, env: step.env, stdio: "inherit" });
    } catch (error) {
      process.stderr.write(`could not start ${step.argv[0]}: ${(error as Error).message}\n`);
      resolvePromise(1);
      return;
    }
    child.on("error", (error) => {
      process.stderr.write(`could not start ${step.argv[0]}: ${error.message}\n`);
      resolvePromise(1);
    });
    child.on("exit", (code, signal) => resolvePromise(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
}

/** Runs the simulator in the foreground; Ctrl-C or --seconds stop it (it never exits itself). */
function runSimulator(simulate: NonNullable<Plan["simulate"]>): Promise<number> {
  process.stderr.write(`$ ${simulate.argv.join(" ")}${simulate.seconds ? `   (stopped after ${simulate.seconds} s)` : "   (Ctrl-C stops it)"}\n`);
  return new Promise((resolvePromise) => {
    // Its own process group, so stopping it also stops what xvfb-run started.
    const child = spawn(simulate.argv[0]!, simulate.argv.slice(1), { env: simulate.env, stdio: ["ignore", "inherit", "inherit"], detached: true });
    let stopping = false;
    const stop = (): void => {
      if (stopping || child.pid === undefined) return;
      stopping = true;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    };
    const timer = simulate.seconds ? setTimeout(stop, simulate.seconds * 1000) : undefined;
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    child.on("error", (error) => {
      process.stderr.write(`could not start ${simulate.argv[0]}: ${error.message}\n`);
      resolvePromise(1);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolvePromise(stopping ? 0 : (code ?? 1));
    });
  });
}

export async function main(argv: readonly string[], env: Env, root: string): Promise<number> {
  const spec = commandSpec(argv[0]);
  let steps: Plan;
  try {
    const options = parseModdableArguments(argv, env);
    if ("help" in options) {
      process.stdout.write(USAGE);
      return 0;
    }
    steps = plan(options, env, root);
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof SetupError)) throw error;
    failCommand(spec, error);
    return process.exitCode as number;
  }
  for (const note of steps.notes) process.stderr.write(note + "\n");
  for (const step of steps.steps) {
    const code = await runStep(step);
    if (code !== 0) return code;
  }
  if (steps.simulate) return runSimulator(steps.simulate);
  return 0;
}

/** The checkout this file belongs to: dist/tools/moddable.js -> the project root. */
function defaultRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // MOORLINE_ROOT: another checkout of the project (the tests point it at a scratch copy).
  const root = process.env.MOORLINE_ROOT || defaultRoot();
  main(process.argv.slice(2), process.env, root).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`moddable: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
