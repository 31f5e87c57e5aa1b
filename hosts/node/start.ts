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
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DEFAULT_TLS_DIR } from "../../server/certificates.js";
import { formatDeviceLine, paint as paintIf } from "./log-format.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SERVER_CLI = join(HERE, "..", "..", "server", "cli.js");
const DEVICE_CLI = join(HERE, "device.js");

/** The port tried first; when it is taken, any free one. */
const PREFERRED_PORT = 8080;
/** How long the server may take to say where it listens, ms. */
const SERVER_START_TIMEOUT_MS = 10_000;
/** After Ctrl-C, how long the children may take to close their connections, ms. */
const STOP_GRACE_MS = 4_000;

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number, text: string): string => paintIf(code, text, colour);

function freePort(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => {
      const any = createServer();
      any.listen(0, "127.0.0.1", () => {
        const port = (any.address() as { port: number }).port;
        any.close(() => resolve(port));
      });
    });
    probe.listen(preferred, "127.0.0.1", () => probe.close(() => resolve(preferred)));
  });
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

async function main(argv: readonly string[]): Promise<void> {
  const split = argv.indexOf("--");
  const own = split < 0 ? argv : argv.slice(0, split);
  const deviceArgs = split < 0 ? [] : argv.slice(split + 1);
  let port: number | undefined;
  let tls = false;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === "--port" && /^[0-9]+$/.test(own[i + 1] ?? "")) port = Number(own[++i]);
    else if (own[i] === "--tls") tls = true;
    else if (own[i] === "-h" || own[i] === "--help") {
      process.stdout.write(
        "Usage: npm start [-- --port N] [--tls] [-- -- device options]\n" +
          `  --tls  wss:// with a local CA (made on first use in ${DEFAULT_TLS_DIR}/) that the device is given\n`,
      );
      return;
    } else {
      process.stderr.write(`start: unknown argument ${JSON.stringify(own[i])}\n`);
      process.exit(2);
    }
  }
  port ??= await freePort(PREFERRED_PORT);

  const tlsDir = resolve(DEFAULT_TLS_DIR);
  const serverArgs = ["--port", String(port), "--stdin", ...(tls ? ["--tls", "--tls-dir", tlsDir] : [])];
  const server = spawn(process.execPath, [SERVER_CLI, ...serverArgs], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  const children: ChildProcess[] = [server];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the companion server did not start")), SERVER_START_TIMEOUT_MS);
    pipeLines(server, paint(36, "[server]"), (line) => line, (line) => {
      const match = /listening on (wss?:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    server.once("exit", (code) => reject(new Error(`the companion server exited (${code})`)));
  });

  // The device trusts the local CA, unless told how to check the server some other way.
  const ownCheck = deviceArgs.some((arg) => arg === "--ca" || arg === "--pin" || arg === "--insecure" || /^--(ca|pin)=/.test(arg));
  const caArgs = tls && !ownCheck ? ["--ca", join(tlsDir, "ca.pem")] : [];
  const device = spawn(process.execPath, [DEVICE_CLI, "--url", url, ...caArgs, ...deviceArgs], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(device);
  pipeLines(device, paint(35, "[device]"), (line) => formatDeviceLine(line, colour));
  process.stdout.write(
    `${paint(1, "moorline")}: companion server at ${url}, simulated device connected to it` +
      (caArgs.length > 0 ? `, checking the server's certificate against ${caArgs[1]}.\n` : ".\n") +
      "Type server commands here (help, status, echo hi, config set telemetryIntervalMs 2000); Ctrl-C stops.\n",
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

main(process.argv.slice(2)).catch((error: Error) => {
  process.stderr.write(`start: ${error.message}\n`);
  process.exit(1);
});
