/**
 * The companion server's command line:
 *
 *   npm run server -- [options]
 *   node dist/server/cli.js [options]     (once built)
 *
 * Prints "listening on ws://HOST:PORT/" (with --json: a `listening` event holding the URL;
 * wss:// with --tls or --cert/--key, after a "TLS:" line naming the CA), then one line per
 * event; reads commands from the terminal. Exit status: 0 after quit, end of command input,
 * SIGINT or SIGTERM; 1 when it cannot listen (or set up TLS); 2 for bad arguments.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import { parseArgs } from "node:util";
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
import type { CompanionEvent } from "./events.js";
import { formatHuman, formatJson, wantsColour } from "./format.js";

const EXIT_LISTEN_FAILED = 1;
const EXIT_USAGE = 2;
/** After SIGINT/SIGTERM/quit, the process exits by this time whatever is left, ms. */
const EXIT_DEADLINE_MS = DEFAULT_SHUTDOWN_TIMEOUT_MS + 1500;

const USAGE = `Usage: npm run server -- [options]
       node dist/server/cli.js [options]

The moorline companion server: the server side of the device protocol (docs/protocol.md).
Logs what devices send, acknowledges their telemetry, sends them the commands you type,
and misbehaves on demand to test them.

Options:
  --host H               address to listen on (default ${DEFAULT_HOST}; 0.0.0.0 for every interface)
  --port N               port to listen on (default ${DEFAULT_PORT}; 0: any free port)
  --json                 one JSON line per event on stdout instead of readable lines
  --stdin                read commands from stdin even when it is not a terminal
  --max-boots N          (device, boot) pairs whose telemetry sequence is remembered
                         (default ${DEFAULT_MAX_BOOTS}; the least recently heard is forgotten first)
TLS (wss://):
  --tls                  serve wss:// with a local CA and a certificate for 127.0.0.1, ::1
                         and localhost, made on first use in ${DEFAULT_TLS_DIR}/ (ca.pem,
                         ca-key.pem, server.pem, server-key.pem); give devices the CA:
                         npm run device -- --url wss://127.0.0.1:PORT/ --ca ${DEFAULT_TLS_DIR}/ca.pem
  --tls-dir DIR          ... kept in DIR instead
  --cert FILE --key FILE serve wss:// with your own certificate chain and key (PEM)
Misbehaviour, for tests:
  --no-ack               never acknowledge telemetry (terminal: acks off)
  --no-pong              never answer the devices' pings (terminal: mute)
  --garbage              after each hello, send what the device must reject: text that is
                         not JSON, JSON too deep, a message too large, a request of an
                         unknown type, a bad request (terminal: garbage)
  --drop-after-ms N      destroy each connection's TCP N ms after it opens, with no close
                         frame (terminal: drop)
  --close-after-ms N     close each connection N ms after it opens (terminal: close)
  --close-code C         ... with close code C (default 1000)
  --close-reason R       ... and reason R (default none)
  --reject-status S      refuse every WebSocket upgrade with HTTP status S (e.g. 503)
  -h, --help             print this help

${COMMAND_HELP}
Output: first "listening on ws://HOST:PORT/" (wss:// with TLS; with --json,
{"event":"listening","url":...}; with --tls, a "TLS:" line naming the CA comes before it),
then one line per event: time, device id (from its hello), what happened, a summary.
Colour when stdout is a terminal and NO_COLOR is not set.

Exit status: 0 after quit, end of command input (Ctrl-D), SIGINT or SIGTERM (every
connection is closed with 1001 first); 1 cannot listen; 2 bad arguments.
`;

class UsageError extends Error {}

/** Where the TLS certificate comes from: the local CA's folder, or the user's files. */
type TlsSource = { dir: string } | { certPath: string; keyPath: string };

interface CliArguments {
  options: CompanionOptions;
  tls?: TlsSource;
  json: boolean;
  stdin: boolean;
  help: boolean;
}

function integer(option: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${option} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Parses the command line; throws UsageError naming what is wrong. */
export function parseCliArguments(argv: readonly string[]): CliArguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        json: { type: "boolean" },
        stdin: { type: "boolean" },
        "max-boots": { type: "string" },
        "no-ack": { type: "boolean" },
        "no-pong": { type: "boolean" },
        garbage: { type: "boolean" },
        "drop-after-ms": { type: "string" },
        "close-after-ms": { type: "string" },
        "close-code": { type: "string" },
        "close-reason": { type: "string" },
        "reject-status": { type: "string" },
        tls: { type: "boolean" },
        "tls-dir": { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // Node's message goes on to explain "--"; its first sentence is enough.
    throw new UsageError((error as Error).message.split(". ")[0]!);
  }
  const v = parsed.values;
  if (v.help) return { options: {}, json: false, stdin: false, help: true };
  if (v.host !== undefined && v.host === "") throw new UsageError("--host must not be empty");
  const closeAfterMs = integer("close-after-ms", v["close-after-ms"], 0, 86_400_000);
  if (closeAfterMs === undefined && (v["close-code"] !== undefined || v["close-reason"] !== undefined)) {
    throw new UsageError("--close-code and --close-reason go with --close-after-ms N (0: at once)");
  }
  const closeCode = integer("close-code", v["close-code"], 0, 99_999);
  if (closeCode !== undefined && !isValidCloseCode(closeCode)) {
    throw new UsageError(`--close-code must be one a close frame may carry (1000-1003, 1007-1014, 3000-4999), got ${closeCode}`);
  }
  const options: CompanionOptions = {
    host: v.host ?? DEFAULT_HOST,
    port: integer("port", v.port, 0, 65535) ?? DEFAULT_PORT,
    maxBoots: integer("max-boots", v["max-boots"], 1, 10_000_000),
    noAck: v["no-ack"] === true,
    noPong: v["no-pong"] === true,
    garbage: v.garbage === true,
    dropAfterMs: integer("drop-after-ms", v["drop-after-ms"], 0, 86_400_000),
    closeAfterMs,
    closeCode,
    closeReason: v["close-reason"],
    rejectStatus: integer("reject-status", v["reject-status"], 200, 599),
  };
  const tls = parseTlsSource(v);
  return { options, ...(tls ? { tls } : {}), json: v.json === true, stdin: v.stdin === true, help: false };
}

function parseTlsSource(v: { tls?: boolean; "tls-dir"?: string; cert?: string; key?: string }): TlsSource | undefined {
  const own = v.cert !== undefined || v.key !== undefined;
  if (own && (v.cert === undefined || v.key === undefined)) throw new UsageError("--cert and --key go together");
  if (own && (v.tls || v["tls-dir"] !== undefined)) throw new UsageError("--cert/--key replace the local CA: leave out --tls and --tls-dir");
  if (own) return { certPath: v.cert!, keyPath: v.key! };
  if (v["tls-dir"] === "") throw new UsageError("--tls-dir must not be empty");
  if (v.tls || v["tls-dir"] !== undefined) return { dir: v["tls-dir"] ?? DEFAULT_TLS_DIR };
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
  const read = (option: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new UsageError(`${option} ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
    }
  };
  return {
    cert: read("--cert", source.certPath),
    key: read("--key", source.keyPath),
    note: `TLS: serving ${resolve(source.certPath)}`,
  };
}

async function main(argv: readonly string[]): Promise<void> {
  let args: CliArguments;
  let server: CompanionServer;
  let tlsLine: string | undefined;
  try {
    args = parseCliArguments(argv);
    if (args.help) {
      process.stdout.write(USAGE);
      return;
    }
    if (args.tls) {
      let tls;
      try {
        tls = loadTls(args.tls);
      } catch (error) {
        if (error instanceof UsageError) throw error;
        process.stderr.write(`companion: cannot set up TLS: ${(error as Error).message}\n`);
        process.exitCode = EXIT_LISTEN_FAILED;
        return;
      }
      args.options.tls = { cert: tls.cert, key: tls.key };
      tlsLine = args.json
        ? JSON.stringify({ t: new Date().toISOString(), event: "tls", ca: tls.ca ?? null, created: tls.created ?? false })
        : tls.note;
    }
    server = new CompanionServer(args.options);
    if (tlsLine !== undefined) process.stdout.write(`${tlsLine}\n`);
  } catch (error) {
    // Option values the server refuses (a close code no frame may carry, say) are usage errors too.
    if (!(error instanceof UsageError) && !(error instanceof RangeError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`companion: ${error.message}\nTry 'npm run server -- --help' for usage.\n`);
    process.exitCode = EXIT_USAGE;
    return;
  }

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
    const where = `${args.options.host}:${args.options.port}`;
    process.stderr.write(`companion: cannot listen on ${where}: ${(error as Error).message}\n`);
    process.exitCode = EXIT_LISTEN_FAILED;
    return;
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

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`companion: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
