/**
 * The echo agent's command line on the Node host:
 *
 *   node dist/hosts/node/echo-agent.js [options] <url>
 *   npm run -s echo-agent -- [options] <url>
 *
 * Connects to <url>, echoes every message back until the connection closes, and exits:
 * 0 when the connection opened and then closed (any close code), 1 when it never opened,
 * 2 for bad arguments. See docs/echo-agent.md.
 */
import { parseArgs } from "node:util";
import { MAX_LIMIT_BYTES, MAX_TIMEOUT_MS, type Limits } from "../../src/websocket/constants.js";
import { AUTOBAHN_LIMITS, startEchoAgent, type EchoAgent } from "../../src/websocket/echo-agent.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import type { ClientTlsOptions } from "../../src/websocket/client.js";
import { createNodeHost } from "./host.js";
import { readCaFile } from "./tls.js";

/** Exit code for bad arguments (a URL or option the agent cannot use). */
const EXIT_USAGE = 2;

/**
 * Room in the send buffer beyond the largest message when --max-buffered-bytes is not
 * given: the echo of a maximal message (plus its 14-byte frame header) fits in one send().
 */
const BUFFER_HEADROOM_BYTES = 64 * 1024;

/** After onExit, the longest the process may linger (a stray timer, a socket's grace). */
const EXIT_GRACE_MS = 2_000;

const USAGE = `Usage: echo-agent [options] <url>

Connects to a WebSocket server (ws:// or wss://host[:port][/path][?query]) and sends
every message it receives back unchanged, text as text and binary as binary, until the
connection closes. One connection per run: the shape Autobahn|Testsuite's fuzzing server drives
(ws://127.0.0.1:9001/runCase?case=N&agent=NAME).

Options (byte counts and milliseconds are decimal integers):
  --max-message-bytes N     largest message accepted (default 16777216, 16 MiB)
  --max-frame-bytes N       largest frame accepted (default: the message limit)
  --max-buffered-bytes N    send buffer bound (default: the message limit + 65536)
  --max-handshake-bytes N   largest handshake response header block (default 8192)
  --handshake-timeout-ms N  TCP connect to validated 101 response (default 10000)
  --close-timeout-ms N      close frame to TCP closed (default 5000)
  --autobahn                the Autobahn|Testsuite limits (16 MiB messages); the default
  --verbose                 log JSON lines (one per event) to stderr
  --ca FILE                 wss://: trust only the CA certificate(s) in this PEM file
                            (default: Node's root CAs)
  --pin BASE64              wss://: the server's public key must be this one: base64
                            SHA-256 of its SubjectPublicKeyInfo (repeatable)
  --insecure                wss://: no certificate verification (logs a warning)
  --engine node|xs          run the agent on Node (default) or inside the XS engine
                            (the chip's JavaScript engine, hosts/xs)
  -h, --help                print this help

Exit status: 0 the connection opened and then closed (whatever the close code),
1 it never opened (connect or handshake failure), 2 bad arguments.
`;

const NUMERIC_OPTIONS = {
  "max-message-bytes": "maxMessageBytes",
  "max-frame-bytes": "maxFrameBytes",
  "max-buffered-bytes": "maxBufferedBytes",
  "max-handshake-bytes": "maxHandshakeBytes",
  "handshake-timeout-ms": "handshakeTimeoutMs",
  "close-timeout-ms": "closeTimeoutMs",
} as const satisfies Record<string, keyof Limits>;

class UsageError extends Error {}

type Engine = "node" | "xs";

interface AgentArguments {
  url: string;
  limits: Limits;
  /** wss:// options, when any was given. */
  tls?: ClientTlsOptions;
  verbose: boolean;
  help: boolean;
  engine: Engine;
}

/** Parses the command line; throws UsageError with a message naming what is wrong. */
function parseAgentArguments(argv: readonly string[]): AgentArguments {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.keys(NUMERIC_OPTIONS).map((name) => [name, { type: "string" as const }])),
        autobahn: { type: "boolean" },
        verbose: { type: "boolean" },
        ca: { type: "string" },
        pin: { type: "string", multiple: true },
        insecure: { type: "boolean" },
        engine: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // Node's message goes on to explain "--" for positionals; its first sentence is enough.
    throw new UsageError((error as Error).message.split(". ")[0]!);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const engine = values.engine ?? "node";
  if (engine !== "node" && engine !== "xs") throw new UsageError(`--engine must be node or xs, got ${JSON.stringify(engine)}`);
  if (values.help) return { url: "", limits: { ...AUTOBAHN_LIMITS }, verbose: false, help: true, engine };
  if (parsed.positionals.length !== 1) {
    throw new UsageError(
      parsed.positionals.length === 0
        ? "missing the server URL"
        : `expected one URL, got ${parsed.positionals.length} arguments: ${parsed.positionals.join(" ")}`,
    );
  }
  const limits: Limits = { ...AUTOBAHN_LIMITS };
  const given = new Set<keyof Limits>();
  for (const [option, name] of Object.entries(NUMERIC_OPTIONS)) {
    const text = values[option];
    if (text === undefined) continue;
    const max = name.endsWith("Ms") ? MAX_TIMEOUT_MS : MAX_LIMIT_BYTES;
    if (typeof text !== "string" || !/^[0-9]+$/.test(text) || Number(text) > max) {
      throw new UsageError(`--${option} must be an integer from 0 to ${max}, got ${JSON.stringify(text)}`);
    }
    limits[name] = Number(text);
    given.add(name);
  }
  // Raising (or lowering) only the message limit carries the frame and buffer limits along,
  // so every accepted message can be echoed.
  if (!given.has("maxFrameBytes")) limits.maxFrameBytes = limits.maxMessageBytes;
  if (!given.has("maxBufferedBytes")) {
    limits.maxBufferedBytes = Math.min(MAX_LIMIT_BYTES, limits.maxMessageBytes + BUFFER_HEADROOM_BYTES);
  }
  const tls = parseTlsArguments(values);
  return { url: parsed.positionals[0]!, limits, ...(tls ? { tls } : {}), verbose: values.verbose === true, help: false, engine };
}

/** --ca FILE (read here: a clear error when it cannot be), --pin (repeatable), --insecure. */
function parseTlsArguments(values: Record<string, unknown>): ClientTlsOptions | undefined {
  const tls: ClientTlsOptions = {};
  if (typeof values.ca === "string") {
    try {
      tls.ca = readCaFile(values.ca);
    } catch (error) {
      throw new UsageError(`--ca: ${(error as Error).message}`);
    }
  }
  if (Array.isArray(values.pin)) tls.pins = values.pin as string[];
  if (values.insecure === true) tls.insecure = true;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

function main(argv: readonly string[]): void {
  let args: AgentArguments;
  try {
    args = parseAgentArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    usageFailure(error.message);
    return;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (args.engine === "xs") {
    mainInXs(args).catch((error: Error) => {
      process.stderr.write(`echo-agent: ${error.stack ?? error.message}\n`);
      process.exitCode = 1;
    });
    return;
  }

  // Without verification, the client's warning (tls_insecure) is always shown.
  const host = createNodeHost({ logLevel: args.verbose ? "debug" : args.tls?.insecure ? "warn" : "silent" });
  let agent: EchoAgent;
  try {
    agent = startEchoAgent({
      url: args.url,
      host,
      limits: args.limits,
      ...(args.tls ? { tls: args.tls } : {}),
      onExit: (code, reason) => {
        if (code !== 0) process.stderr.write(`echo-agent: ${reason}\n`);
        process.exitCode = code;
        // The socket is closed by now, so the process ends on its own; should anything
        // linger, do not let it hold the process (an Autobahn run starts hundreds of us).
        setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
      },
    });
  } catch (error) {
    if (!isUsageError(error)) throw error;
    usageFailure(error.message);
    return;
  }

  stopOnSignals(() => agent.stop());
}

/** The same agent inside XS (hosts/xs): same output, same exit codes. */
async function mainInXs(args: AgentArguments): Promise<void> {
  const { runEchoAgentInXs } = await import("../xs/run.js");
  let agent;
  try {
    agent = await runEchoAgentInXs({
      url: args.url,
      limits: args.limits,
      ...(args.tls ? { tls: args.tls } : {}),
      // Without verification, the client's warning (tls_insecure) is always shown.
      logLevel: args.verbose ? "debug" : args.tls?.insecure ? "warn" : "silent",
    });
  } catch (error) {
    if (!isUsageError(error)) throw error;
    usageFailure(error.message);
    return;
  }
  const forget = stopOnSignals(() => agent.stop());
  const { code, reason } = await agent.exited;
  if (code !== 0) process.stderr.write(`echo-agent: ${reason}\n`);
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  forget();
}

/** A bad URL or option the client refused: the user's mistake, exit 2. */
function isUsageError(error: unknown): error is WebSocketError {
  return error instanceof WebSocketError && (error.code === ErrorCode.INVALID_URL || error.code === ErrorCode.INVALID_OPTION);
}

/**
 * Ctrl-C or a supervisor's SIGTERM: close properly (1001 going away); a second one exits at
 * once. Returns a function that removes the handlers.
 */
function stopOnSignals(stopAgent: () => void): () => void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    stopping = true;
    stopAgent();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return () => {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  };
}

function usageFailure(message: string): void {
  process.stderr.write(`echo-agent: ${message}\nTry 'echo-agent --help' for usage.\n`);
  process.exitCode = EXIT_USAGE;
}

main(process.argv.slice(2));
