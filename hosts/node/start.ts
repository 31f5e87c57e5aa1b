/**
 * `npm start`: the main job on its embedded default. Starts the companion server on
 * 127.0.0.1 and a simulated device connected to it, as two child processes, and shows both
 * in this terminal: the server's lines as they are, the device's JSON log lines made
 * readable. Lines typed here go to the server's command prompt (try `help`, `status`,
 * `echo hi`, `config set telemetryIntervalMs 2000`). Ctrl-C stops both.
 *
 *   node dist/hosts/node/start.js [--port N] [--tls] [-- device options...]
 *
 * With --tls the server serves wss:// with the local CA of server/certificates.ts (made on
 * first use in .moorline/tls/) and the device is given that CA (--ca): wss:// end to end,
 * with the certificate verified.
 *
 * The server admits only registered devices (--devices): the simulated device is registered
 * in devices.json beside its storage file (.moorline/ by default) and given its token the way
 * provisioning gives a real one, in its storage (auth/token); a token it already holds that
 * the registry accepts is kept. So `npm start` works out of the box, with authentication on.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DEFAULT_TLS_DIR } from "../../server/certificates.js";
import { DeviceRegistry } from "../../server/registry.js";
import { AUTH_TOKEN_STORAGE, isAuthToken, saveAuthToken } from "../../src/auth/credentials.js";
import { formatDeviceLine, paint as paintIf, SGR } from "../../src/shared/log-format.js";
import {
  formatHelp,
  HELP_FLAG,
  integerFlag,
  listenProblem,
  parseFlags,
  runCommand,
  SetupError,
  stringFlag,
  switchFlag,
  UsageError,
  wantsColour,
  type ParsedFlags,
  type CommandSpec,
} from "./cli.js";
import { DEVICE_COMMAND, deviceArguments, type DeviceArguments } from "./device-options.js";
import { FileStorage } from "./file-storage.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SERVER_CLI = join(HERE, "..", "..", "server", "cli.js");
const DEVICE_CLI = join(HERE, "device.js");

/** The port tried first; when it is taken, any free one. */
const PREFERRED_PORT = 8080;
/** How long the server may take to say where it listens, ms. */
const SERVER_START_TIMEOUT_MS = 10_000;
/** After Ctrl-C, how long the children may take to close their connections, ms. */
const STOP_GRACE_MS = 4_000;

const START_COMMAND: CommandSpec = {
  name: "start",
  helpCommand: "npm start -- --help",
  usage:
    "Usage: npm start [-- [--port N] [--tls] [--devices FILE] [-- device options]]\n" +
    "       node dist/hosts/node/start.js [--port N] [--tls] [--devices FILE] [-- device options]",
  description:
    "Starts the companion server on 127.0.0.1 and a simulated device connected to it, and shows\n" +
    "both here: [server] lines, and the device's log made readable as [device] lines. Lines typed\n" +
    "here are server commands (help, status, echo hi, config set telemetryIntervalMs 2000;\n" +
    "ota FILE updates the device's firmware with an image made by npm run image).\n" +
    "Ctrl-C stops both.",
  flags: [
    { name: "port", value: "N", integer: { min: 1, max: 65535 }, help: `the server's port (default ${PREFERRED_PORT}, or any free port when it is taken)` },
    { name: "tls", help: `wss:// with a local CA (made on first use in ${DEFAULT_TLS_DIR}/);\nthe device is given it (--ca)` },
    {
      name: "devices",
      value: "FILE",
      help:
        "the server's device registry (default: devices.json beside the\n" +
        "device's storage file); the device is registered there and its\n" +
        "token kept in its storage (auth/token)",
    },
    HELP_FLAG,
  ],
  passesRest: true,
  footer:
    "After \"--\", options for the device (npm run device -- --help lists them), e.g.\n" +
    "  npm start -- -- --telemetry-interval-ms 2000 --log-level debug\n" +
    "(not --url: the device connects to the server started here).\n\n" +
    "Exit status: 0 after Ctrl-C; 1 when the server or the device cannot start (the port is in\n" +
    "use); 2 bad arguments.",
};

const colour = wantsColour(process.stdout);
const paint = (code: number, text: string): string => paintIf(code, text, colour);

/** Whether `port` can be listened on at 127.0.0.1; a SetupError saying why not. */
function checkPort(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error) => reject(new SetupError(`cannot listen on 127.0.0.1:${port}: ${listenProblem(error)}`)));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolve()));
  });
}

async function freePort(preferred: number): Promise<number> {
  try {
    await checkPort(preferred);
    return preferred;
  } catch {
    const any = createServer();
    return new Promise((resolve) => {
      any.listen(0, "127.0.0.1", () => {
        const port = (any.address() as { port: number }).port;
        any.close(() => resolve(port));
      });
    });
  }
}

function pipeLines(child: ChildProcess, prefix: string, format: (line: string) => string, onLine?: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on("line", (line) => {
      onLine?.(line);
      process.stdout.write(`${prefix} ${format(line)}\n`);
    });
  }
}

/**
 * The device options after "--", checked with the device's own table before anything starts;
 * --url is refused: the device connects to the server started here.
 */
function checkDeviceOptions(argv: readonly string[]): { parsed: ParsedFlags; device: DeviceArguments | undefined } {
  try {
    const parsed = parseFlags(DEVICE_COMMAND, argv);
    if (parsed.values.has("url")) throw new UsageError(`${parsed.typed.get("url")}: the device connects to the server npm start runs; leave it out`);
    return { parsed, device: parsed.help ? undefined : deviceArguments(parsed, false) };
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`the device's options (after "--"): ${error.message}`);
    throw error;
  }
}

/**
 * Registers the simulated device in the registry at `path` (made if missing) and gives it its
 * token, as provisioning would: in its storage, under auth/token. A token the device holds
 * already (stored, or given with --auth-token) is kept when the registry accepts it, and
 * registered when it does not. Returns a line saying where things are (never the token).
 */
async function registerSimulatedDevice(path: string, device: DeviceArguments): Promise<string> {
  const id = device.config.deviceId;
  let registry: DeviceRegistry;
  try {
    registry = DeviceRegistry.open(path, { create: true });
  } catch (error) {
    throw new SetupError(`${(error as Error).message}; fix it or remove it (npm start makes a new one)`);
  }
  const given = device.explicitSettings.includes("authToken") ? device.config.authToken : undefined;
  try {
    if (given !== undefined) {
      // --auth-token "" (no token): the server refuses it, as the user asked to see.
      if (given !== "" && !(await registry.verify(id, given))) await registry.add(id, { token: given, replace: true });
      return `device ${id} registered in ${path}, with the token given by --auth-token`;
    }
    const storage = new FileStorage(device.storage);
    const stored = storage.get(AUTH_TOKEN_STORAGE.domain, AUTH_TOKEN_STORAGE.key);
    if (!(isAuthToken(stored) && (await registry.verify(id, stored)))) saveAuthToken(storage, await registry.add(id, { replace: true }));
    return `device ${id} registered in ${path}; its token is in ${device.storage} (auth/token)`;
  } catch (error) {
    throw new SetupError(`cannot register the simulated device: ${(error as Error).message}`);
  }
}

async function main(own: ParsedFlags): Promise<number | void> {
  const tls = switchFlag(own, "tls");
  const deviceArgs = own.rest;
  const { parsed: deviceLine, device: deviceOptions } = checkDeviceOptions(deviceArgs);
  if (deviceOptions === undefined) {
    process.stdout.write(formatHelp(DEVICE_COMMAND));
    return;
  }
  const devicesFlag = stringFlag(own, "devices");
  if (devicesFlag === "") throw new UsageError("--devices must not be empty");
  const registryPath = devicesFlag ?? join(dirname(deviceOptions.storage), "devices.json");
  const chosen = integerFlag(own, "port");
  if (chosen !== undefined) await checkPort(chosen);
  const port = chosen ?? (await freePort(PREFERRED_PORT));

  const registered = await registerSimulatedDevice(registryPath, deviceOptions);

  const tlsDir = resolve(DEFAULT_TLS_DIR);
  const serverArgs = ["--port", String(port), "--stdin", "--devices", registryPath, ...(tls ? ["--tls", "--tls-dir", tlsDir] : [])];
  const server = spawn(process.execPath, [SERVER_CLI, ...serverArgs], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const children: ChildProcess[] = [server];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.kill();
      reject(new SetupError("the companion server did not start"));
    }, SERVER_START_TIMEOUT_MS);
    pipeLines(server, paint(SGR.cyan, "[server]"), (line) => line, (line) => {
      const match = /listening on (wss?:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    server.once("exit", (code) => reject(new SetupError(`the companion server exited (${code})`)));
  });

  // The device trusts the local CA, unless told how to check the server some other way.
  const ownCheck = ["ca", "pin", "insecure"].some((name) => deviceLine.values.has(name));
  const caArgs = tls && !ownCheck ? ["--ca", join(tlsDir, "ca.pem")] : [];
  // JSON lines, made readable here (the device would choose them anyway: its stdout is a pipe).
  const formatArgs = deviceLine.values.has("log-format") ? [] : ["--log-format", "json"];
  // The same storage file the token was put in, named whatever the options said.
  const storageArgs = deviceLine.values.has("storage") ? [] : ["--storage", deviceOptions.storage];
  const device = spawn(process.execPath, [DEVICE_CLI, "--url", url, ...caArgs, ...formatArgs, ...storageArgs, ...deviceArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(device);
  pipeLines(device, paint(SGR.magenta, "[device]"), (line) => formatDeviceLine(line, colour));
  process.stdout.write(
    `${paint(SGR.bold, "moorline")}: companion server at ${url}, simulated device connected to it` +
      (caArgs.length > 0 ? `, checking the server's certificate against ${caArgs[1]}.\n` : ".\n") +
      `Only registered devices are admitted: ${registered}.\n` +
      "Type server commands here (help, status, echo hi, config set telemetryIntervalMs 2000;\n" +
      "ota FILE offers a firmware image made by npm run image -- --version 0.2.0 --out FILE); Ctrl-C stops.\n",
  );

  // Typed lines go to the server's prompt.
  process.stdin.on("data", (chunk) => server.stdin?.write(chunk));

  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(130);
    stopping = true;
    for (const child of children) child.kill("SIGTERM");
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let running = children.length;
  for (const child of children) {
    child.once("exit", () => {
      if (--running === 0) process.exit(0);
      if (!stopping) {
        process.stdout.write(`start: ${child === server ? "the server" : "the device"} exited; stopping\n`);
        stop();
      }
    });
  }
}

void runCommand(START_COMMAND, process.argv.slice(2), main);
