/**
 * The companion server's command line:
 *
 *   npm run server -- [options]
 *   node dist/server/cli.js [options]     (once built)
 *
 * Prints "listening on ws://HOST:PORT/" (with --json: a `listening` event holding the URL;
 * wss:// with --tls or --cert/--key, after a "TLS:" line naming the CA), then one line per
 * event; reads commands from the terminal. Exit status: 0 after quit, end of command input,
 * SIGINT or SIGTERM; 1 when it cannot listen (or set up TLS, or use its --devices file); 2
 * for bad arguments.
 *
 * With --devices FILE it admits only the devices registered there (server/registry.ts);
 * --add-device ID, --remove-device ID and --list-devices change or show that file and exit.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import {
  fileProblem,
  flagErrorMessage,
  HELP_FLAG,
  integerFlag,
  keyedValues,
  listenProblem,
  readFlagFile,
  runCommand,
  SetupError,
  stringFlag,
  switchFlag,
  UsageError,
  wantsColour,
  type CommandSpec,
  type Flag,
  type ParsedFlags,
} from "../hosts/node/cli.js";
import { DEVICE_ID_RULE, isDeviceId } from "../src/auth/credentials.js";
import { MAX_TIMEOUT_MS } from "../src/shared/options.js";
import { isValidCloseCode } from "../src/websocket/constants.js";
import { COMMAND_HELP } from "./commands.js";
import {
  CompanionServer,
  DEFAULT_HOST,
  DEFAULT_MAX_BOOTS,
  DEFAULT_PORT,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  type CompanionOptions,
} from "./companion.js";
import { DEFAULT_TLS_DIR, ensureLocalTls } from "./certificates.js";
import { DeviceRegistry, RegistryError } from "./registry.js";
import type { CompanionEvent } from "./events.js";
import { formatHuman, formatJson } from "./format.js";
import { readImageFile, type OtaImage } from "./ota-image.js";
import type { OfferedImage } from "./ota.js";

/** After SIGINT/SIGTERM/quit, the process exits by this time whatever is left, ms. */
const EXIT_DEADLINE_MS = DEFAULT_SHUTDOWN_TIMEOUT_MS + 1500;

/** Flags with a key set that CompanionOptions key. */
const FLAGS: readonly Flag[] = [
  { name: "host", value: "H", key: "host", help: `address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for every interface)` },
  { name: "port", value: "N", key: "port", integer: { min: 0, max: 65535 }, help: `port to listen on (default ${DEFAULT_PORT}; 0: any free port)` },
  { name: "json", help: "one JSON line per event on stdout instead of readable lines" },
  { name: "stdin", help: "read commands from stdin even when it is not a terminal" },
  {
    name: "max-boots",
    value: "N",
    key: "maxBoots",
    integer: { min: 1, max: 10_000_000 },
    help: `(device, boot) pairs whose telemetry sequence is remembered\n(default ${DEFAULT_MAX_BOOTS}; the least recently heard is forgotten first)`,
  },
  {
    name: "tls",
    section: "TLS (wss://):",
    help:
      "serve wss:// with a local CA and a certificate for 127.0.0.1, ::1\n" +
      `and localhost, made on first use in ${DEFAULT_TLS_DIR}/ (ca.pem,\n` +
      "ca-key.pem, server.pem, server-key.pem); give devices the CA:\n" +
      `npm run device -- --url wss://127.0.0.1:PORT/ --ca ${DEFAULT_TLS_DIR}/ca.pem`,
  },
  { name: "tls-dir", value: "DIR", help: "... kept in DIR instead" },
  { name: "cert", value: "FILE", help: "serve wss:// with your own certificate chain (PEM), with --key" },
  { name: "key", value: "FILE", help: "... and its private key (PEM)" },
  {
    name: "devices",
    value: "FILE",
    section: "Devices (who may connect):",
    help:
      "admit only the devices registered in FILE, each with its own token\n" +
      '(sent as "Authorization: Bearer TOKEN" with "Moorline-Device: ID");\n' +
      "without it, any device is admitted (development mode)",
  },
  {
    name: "add-device",
    value: "ID",
    help: "register device ID in the --devices FILE (made if missing) and print\nits new token, once, on the last line; then exit",
  },
  { name: "remove-device", value: "ID", help: "unregister it (a server using FILE disconnects it); then exit" },
  { name: "list-devices", help: "print the registered device ids; then exit" },
  {
    name: "ota",
    value: "FILE",
    section: "Firmware updates (docs/ota.md):",
    help: "offer the signed image FILE (npm run image) to every device whose\nhello reports another version; progress is shown per device\n(terminal: ota FILE, ota off, ota)",
  },
  { name: "ota-rate", value: "N", key: "otaRate", integer: { min: 1, max: 1_000_000_000, unit: "bytes" }, help: "send each device at most N bytes of image per second (default: as\nfast as it asks)" },
  { name: "no-ack", key: "noAck", section: "Misbehaviour, for tests:", help: "never acknowledge telemetry (terminal: acks off)" },
  { name: "no-pong", key: "noPong", help: "never answer the devices' pings (acks and requests still go out; the terminal's mute silences everything)" },
  {
    name: "garbage",
    key: "garbage",
    help:
      "after each hello, send what the device must reject: text that is\n" +
      "not JSON, JSON too deep, a message too large, a request of an\n" +
      "unknown type, a bad request (terminal: garbage)",
  },
  {
    name: "drop-after-ms",
    value: "N",
    key: "dropAfterMs",
    integer: { min: 0, max: MAX_TIMEOUT_MS, unit: "milliseconds" },
    help: "destroy each connection's TCP N ms after it opens, with no close\nframe (terminal: drop)",
  },
  {
    name: "close-after-ms",
    value: "N",
    key: "closeAfterMs",
    integer: { min: 0, max: MAX_TIMEOUT_MS, unit: "milliseconds" },
    help: "close each connection N ms after it opens (terminal: close)",
  },
  { name: "close-code", value: "C", key: "closeCode", integer: { min: 0, max: 99_999 }, help: "... with close code C (default 1000)" },
  { name: "close-reason", value: "R", key: "closeReason", help: "... and reason R (default none)" },
  { name: "reject-status", value: "S", key: "rejectStatus", integer: { min: 200, max: 599 }, help: "refuse every WebSocket upgrade with HTTP status S (e.g. 503)" },
  HELP_FLAG,
];

const SERVER_COMMAND: CommandSpec = {
  name: "companion",
  helpCommand: "npm run server -- --help",
  usage: "Usage: npm run server -- [options]\n       node dist/server/cli.js [options]",
  description:
    "The moorline companion server: the server side of the device protocol (docs/protocol.md).\n" +
    "Logs what devices send, acknowledges their telemetry, sends them the commands you type,\n" +
    "and misbehaves on demand to test them.",
  flags: FLAGS,
  footer: `${COMMAND_HELP}
Output: first "listening on ws://HOST:PORT/" (wss:// with TLS; with --json,
{"event":"listening","url":...}; with --tls, a "TLS:" line naming the CA comes before it),
then one line per event: time, device id (from its hello), what happened, a summary; a
reply (status, say) is shown whole, pretty-printed. Colour when stdout is a terminal and
NO_COLOR is not set.

Exit status: 0 after quit, end of command input (Ctrl-D), SIGINT or SIGTERM (every
connection is closed with 1001 first); 1 cannot listen (the port is in use), set up TLS,
or use the --devices file (unreadable, corrupt: the message says what is wrong); 2 bad
arguments (including a --cert or --key file that cannot be read, a device id that is not
one, --add-device of a registered id, --remove-device of an unregistered one).`,
};

/** Where the TLS certificate comes from: the local CA's folder, or the user's files. */
type TlsSource = { dir: string } | { certPath: string; keyPath: string };

interface CliArguments {
  options: CompanionOptions;
  /** --devices FILE: the registry to admit devices from. */
  devices?: string;
  tls?: TlsSource;
  json: boolean;
  stdin: boolean;
}

/** The parsed flags as the server's arguments; throws UsageError naming what is wrong. */
function serverArguments(parsed: ParsedFlags): CliArguments {
  if (stringFlag(parsed, "host") === "") throw new UsageError("--host must not be empty");
  if (!parsed.values.has("close-after-ms") && (parsed.values.has("close-code") || parsed.values.has("close-reason"))) {
    throw new UsageError("--close-code and --close-reason go with --close-after-ms N (0: at once)");
  }
  const closeCode = integerFlag(parsed, "close-code");
  if (closeCode !== undefined && !isValidCloseCode(closeCode)) {
    throw new UsageError(`--close-code must be one a close frame may carry (1000-1003, 1007-1014, 3000-4999), got ${closeCode}`);
  }
  const options: CompanionOptions = { host: DEFAULT_HOST, port: DEFAULT_PORT, ...keyedValues(parsed, FLAGS) };
  const tls = tlsSource(parsed);
  const devices = stringFlag(parsed, "devices");
  if (devices === "") throw new UsageError("--devices must not be empty");
  const ota = stringFlag(parsed, "ota");
  if (ota !== undefined) options.ota = otaImage(parsed.typed.get("ota") ?? "--ota", ota);
  return { options, ...(tls ? { tls } : {}), ...(devices !== undefined ? { devices } : {}), json: switchFlag(parsed, "json"), stdin: switchFlag(parsed, "stdin") };
}

/** --ota FILE, read and checked now: a file that is no image is a usage error, one a device will refuse a warning. */
function otaImage(as: string, path: string): OfferedImage {
  let image: OtaImage;
  try {
    image = readImageFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${as} ${path}: ${code !== undefined ? fileProblem(error) : (error as Error).message}`);
  }
  for (const problem of image.problems) process.stderr.write(`companion: warning: ${as} ${path}: ${problem}; offering it all the same (devices will refuse it)\n`);
  return { image, path };
}

/** The flags that change or show the registry and exit, instead of serving. */
const REGISTRY_COMMANDS = ["add-device", "remove-device", "list-devices"] as const;

/**
 * --add-device, --remove-device, --list-devices: one of them, with --devices FILE and
 * nothing else. Prints what it did; the token of an added device on the last line.
 */
async function registryCommand(parsed: ParsedFlags): Promise<void> {
  const given = REGISTRY_COMMANDS.filter((name) => parsed.values.has(name));
  const as = (name: string) => parsed.typed.get(name) ?? `--${name}`;
  if (given.length > 1) throw new UsageError(`${as(given[0]!)} and ${as(given[1]!)} go one at a time`);
  const command = given[0]!;
  const other = [...parsed.values.keys()].find((name) => name !== command && name !== "devices");
  if (other !== undefined) throw new UsageError(`${as(command)} changes or shows the --devices file and exits: leave out ${as(other)}`);
  const path = stringFlag(parsed, "devices");
  if (path === undefined || path === "") throw new UsageError(`${as(command)} needs --devices FILE: the registry to change`);
  const open = (create: boolean) => {
    try {
      return DeviceRegistry.open(path, { create });
    } catch (error) {
      throw new SetupError((error as Error).message);
    }
  };
  if (command === "list-devices") {
    const registry = open(false);
    const ids = registry.ids();
    process.stdout.write(ids.length === 0 ? `no devices are registered in ${path}\n` : ids.map((id) => `${id}  added ${registry.added(id)}\n`).join(""));
    return;
  }
  const id = stringFlag(parsed, command)!;
  if (!isDeviceId(id)) throw new UsageError(`${as(command)} ${JSON.stringify(String(id).slice(0, 80))}: a device id is ${DEVICE_ID_RULE}`);
  if (command === "remove-device") {
    const registry = open(false);
    if (!registry.has(id)) throw new UsageError(`${as(command)} ${id}: not registered in ${path}`);
    changeRegistry(() => registry.remove(id));
    process.stdout.write(`${id} removed from ${path}: a server using it disconnects the device and refuses it from now on\n`);
    return;
  }
  const registry = open(true);
  if (registry.has(id)) throw new UsageError(`${as(command)} ${id}: already registered in ${path} (to give it a new token, --remove-device it first)`);
  const token = await changeRegistry(() => registry.add(id));
  process.stdout.write(
    `${id} registered in ${path}. Its token follows, shown this once: give it to the device\n` +
      `(npm run device -- --device-id ${id} --auth-token TOKEN, or authToken=TOKEN in its build) and keep it secret.\n` +
      `${token}\n`,
  );
}

/** Runs a change of the registry (the id already checked); a file it cannot write is a setup failure. */
async function changeRegistry<T>(change: () => T | Promise<T>): Promise<T> {
  try {
    return await change();
  } catch (error) {
    if (error instanceof RegistryError) throw new SetupError(error.message);
    throw error;
  }
}

function tlsSource(parsed: ParsedFlags): TlsSource | undefined {
  const cert = stringFlag(parsed, "cert");
  const key = stringFlag(parsed, "key");
  const dir = stringFlag(parsed, "tls-dir");
  const own = cert !== undefined || key !== undefined;
  if (own && (cert === undefined || key === undefined)) throw new UsageError("--cert and --key go together");
  if (own && (switchFlag(parsed, "tls") || dir !== undefined)) throw new UsageError("--cert/--key replace the local CA: leave out --tls and --tls-dir");
  if (own) return { certPath: cert!, keyPath: key! };
  if (dir === "") throw new UsageError("--tls-dir must not be empty");
  if (switchFlag(parsed, "tls") || dir !== undefined) return { dir: dir ?? DEFAULT_TLS_DIR };
  return undefined;
}

/** The certificate and key to serve, and a line telling the user how devices trust them. */
function loadTls(source: TlsSource): { cert: string; key: string; note: string; ca?: string; created?: boolean } {
  if ("dir" in source) {
    const local = ensureLocalTls(source.dir);
    const ca = resolve(local.caPath);
    const made = local.created.includes(local.caPath) ? "local CA created" : local.created.length > 0 ? "server certificate renewed" : "local CA";
    return {
      cert: readFileSync(local.certPath, "utf8"),
      key: readFileSync(local.keyPath, "utf8"),
      note: `TLS: ${made} at ${ca}; devices trust this server with --ca ${ca}`,
      ca,
      created: local.created.length > 0,
    };
  }
  return {
    cert: readFlagFile("--cert", source.certPath),
    key: readFlagFile("--key", source.keyPath),
    note: `TLS: serving ${resolve(source.certPath)}`,
  };
}

async function main(parsed: ParsedFlags): Promise<void> {
  if (REGISTRY_COMMANDS.some((name) => parsed.values.has(name))) return registryCommand(parsed);
  const args = serverArguments(parsed);
  if (args.devices !== undefined) {
    try {
      args.options.registry = DeviceRegistry.open(args.devices);
    } catch (error) {
      throw new SetupError((error as Error).message);
    }
  }
  let tlsLine: string | undefined;
  if (args.tls) {
    let tls;
    try {
      tls = loadTls(args.tls);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new SetupError(`cannot set up TLS: ${(error as Error).message}`);
    }
    args.options.tls = { cert: tls.cert, key: tls.key };
    tlsLine = args.json
      ? JSON.stringify({ t: new Date().toISOString(), event: "tls", ca: tls.ca ?? null, created: tls.created ?? false })
      : tls.note;
  }
  let server: CompanionServer;
  try {
    server = new CompanionServer(args.options);
  } catch (error) {
    // Option values the server refuses (a key that does not go with its certificate, say) are usage errors too.
    if (error instanceof RangeError || error instanceof TypeError) throw new UsageError(flagErrorMessage(error, FLAGS));
    throw error;
  }
  if (tlsLine !== undefined) process.stdout.write(`${tlsLine}\n`);

  // A reader of our stdout went away (piped into `head`, say): nothing left to report to.
  process.stdout.on("error", () => process.exit(0));

  const tty = process.stdin.isTTY === true;
  const colour = !args.json && wantsColour(process.stdout);
  let terminal: Interface | undefined;
  /** The prompt is redrawn below each line while a person types commands, until shutdown. */
  let prompting = false;
  const print = (event: CompanionEvent) => {
    const text = args.json ? formatJson(event) : formatHuman(event, colour);
    if (terminal && prompting) {
      // Keep the prompt, and what is being typed, below the log (none after shutdown).
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
      process.stdout.write(`${text}\n`);
      if (event.event === "shutdown") prompting = false;
      else terminal.prompt(true);
    } else {
      process.stdout.write(`${text}\n`);
    }
  };
  server.events.on("event", print);

  try {
    await server.listen();
  } catch (error) {
    throw new SetupError(`cannot listen on ${args.options.host}:${args.options.port}: ${listenProblem(error)}`);
  }

  let stopping = false;
  const stop = (signal?: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C: the user does not want to wait for the close handshakes.
      if (signal) process.exit(128 + (signal === "SIGINT" ? 2 : 15));
      return;
    }
    stopping = true;
    void server.close();
    setTimeout(() => process.exit(0), EXIT_DEADLINE_MS).unref();
  };
  server.events.once("closed", () => {
    terminal?.close();
    // Exit once what was written has reached stdout.
    process.stdout.write("", () => process.exit(0));
  });
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  if (tty || args.stdin) {
    // A prompt and line editing only when both ends are a terminal: with stdout piped into a
    // file or `tee`, the log stays free of prompts and echoed keystrokes.
    const interactive = tty && process.stdout.isTTY === true;
    terminal = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive, prompt: "> " });
    terminal.on("line", (line) => {
      if (line.trim() !== "") server.execute(line);
      if (prompting) terminal?.prompt();
    });
    // Ctrl-C at the prompt (the terminal is in raw mode, so no SIGINT reaches the process).
    terminal.on("SIGINT", () => stop("SIGINT"));
    // End of input (Ctrl-D, or the process feeding us went away): quit, never linger.
    terminal.on("close", () => stop());
    if (interactive) {
      prompting = true;
      process.stdout.write("Type help for the commands, quit (or Ctrl-D) to stop.\n");
      terminal.prompt();
    }
  }
}

void runCommand(SERVER_COMMAND, process.argv.slice(2), main);
