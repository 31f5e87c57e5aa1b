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
import { MAX_LIMIT_BYTES, MAX_TIMEOUT_MS, type Limits } from "../../src/constants.js";
import { AUTOBAHN_LIMITS, startEchoAgent, type EchoAgent } from "../../src/echo-agent.js";
import { ErrorCode, WebSocketError } from "../../src/errors.js";
import { createNodeHost } from "./host.js";

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

Connects to a WebSocket server (ws://host[:port][/path][?query]) and sends every message
it receives back unchanged, text as text and binary as binary, until the connection
closes. One connection per run: the shape Autobahn|Testsuite's fuzzing server drives
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

interface AgentArguments {
  url: string;
  limits: Limits;
  verbose: boolean;
  help: boolean;
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
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    // Node's message goes on to explain "--" for positionals; its first sentence is enough.
    throw new UsageError((error as Error).message.split(". ")[0]!);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return { url: "", limits: { ...AUTOBAHN_LIMITS }, verbose: false, help: true };
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
  return { url: parsed.positionals[0]!, limits, verbose: values.verbose === true, help: false };
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

  const host = createNodeHost({ logLevel: args.verbose ? "debug" : "silent" });
  let agent: EchoAgent;
  try {
    agent = startEchoAgent({
      url: args.url,
      host,
      limits: args.limits,
      onExit: (code, reason) => {
        if (code !== 0) process.stderr.write(`echo-agent: ${reason}\n`);
        process.exitCode = code;
        // The socket is closed by now, so the process ends on its own; should anything
        // linger, do not let it hold the process (an Autobahn run starts hundreds of us).
        setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
      },
    });
  } catch (error) {
    if (
      error instanceof WebSocketError &&
      (error.code === ErrorCode.INVALID_URL || error.code === ErrorCode.INVALID_OPTION)
    ) {
      usageFailure(error.message);
      return;
    }
    throw error;
  }

  // Ctrl-C or a supervisor's SIGTERM: close properly (1001 going away); twice: now.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(128 + (signal === "SIGINT" ? 2 : 15));
    stopping = true;
    agent.stop();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

function usageFailure(message: string): void {
  process.stderr.write(`echo-agent: ${message}\nTry 'echo-agent --help' for usage.\n`);
  process.exitCode = EXIT_USAGE;
}

main(process.argv.slice(2));
