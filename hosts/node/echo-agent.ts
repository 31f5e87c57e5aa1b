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
import { MAX_LIMIT_BYTES, MAX_TIMEOUT_MS, type Limits } from "../../src/websocket/constants.js";
import { AUTOBAHN_LIMITS, startEchoAgent, type EchoAgent } from "../../src/websocket/echo-agent.js";
import { ErrorCode, WebSocketError } from "../../src/shared/errors.js";
import type { ClientTlsOptions } from "../../src/websocket/client.js";
import {
  flagErrorMessage,
  HELP_FLAG,
  integerFlag,
  listFlag,
  runCommand,
  stringFlag,
  switchFlag,
  UsageError,
  type ParsedFlags,
  type CommandSpec,
  type Flag,
} from "./cli.js";
import { createNodeHost } from "./host.js";
import { caFlagFile, TLS_FLAGS } from "./tls.js";

/**
 * Room in the send buffer beyond the largest message when --max-buffered-bytes is not
 * given: the echo of a maximal message (plus its 14-byte frame header) fits in one send().
 */
const BUFFER_HEADROOM_BYTES = 64 * 1024;

/** After onExit, the longest the process may linger (a stray timer, a socket's grace). */
const EXIT_GRACE_MS = 2_000;

const bytes = (key: keyof Limits, help: string): Flag => ({
  name: key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
  value: "N",
  key,
  integer: { min: 0, max: MAX_LIMIT_BYTES, unit: "bytes" },
  help,
});
const ms = (key: keyof Limits, help: string): Flag => ({ ...bytes(key, help), integer: { min: 0, max: MAX_TIMEOUT_MS, unit: "milliseconds" } });

/** The limits' flags: --max-message-bytes sets limits.maxMessageBytes, and so on. */
const LIMIT_FLAGS: readonly Flag[] = [
  bytes("maxMessageBytes", "largest message accepted (default 16777216, 16 MiB)"),
  bytes("maxFrameBytes", "largest frame accepted (default: the message limit)"),
  bytes("maxBufferedBytes", `send buffer bound (default: the message limit + ${BUFFER_HEADROOM_BYTES})`),
  bytes("maxHandshakeBytes", `largest handshake response header block (default ${AUTOBAHN_LIMITS.maxHandshakeBytes})`),
  ms("handshakeTimeoutMs", `TCP connect to validated 101 response (default ${AUTOBAHN_LIMITS.handshakeTimeoutMs})`),
  ms("closeTimeoutMs", `close frame to TCP closed (default ${AUTOBAHN_LIMITS.closeTimeoutMs})`),
];

const FLAGS: readonly Flag[] = [
  ...LIMIT_FLAGS,
  { name: "autobahn", help: "the Autobahn|Testsuite limits (16 MiB messages); the default" },
  { name: "verbose", help: "log JSON lines (one per event) to stderr" },
  ...TLS_FLAGS,
  { name: "engine", value: "NAME", choices: ["node", "xs"], help: "node (default), or xs: the agent inside the XS engine\n(the chip's JavaScript engine, hosts/xs)" },
  HELP_FLAG,
];

const ECHO_AGENT_COMMAND: CommandSpec = {
  name: "echo-agent",
  helpCommand: "npm run -s echo-agent -- --help",
  usage: "Usage: npm run -s echo-agent -- [options] <url>\n       node dist/hosts/node/echo-agent.js [options] <url>",
  description:
    "Connects to a WebSocket server (ws:// or wss://host[:port][/path][?query]) and sends\n" +
    "every message it receives back unchanged, text as text and binary as binary, until the\n" +
    "connection closes. One connection per run: the shape Autobahn|Testsuite's fuzzing server\n" +
    "drives (ws://127.0.0.1:9001/runCase?case=N&agent=NAME). Byte counts and milliseconds are\n" +
    "decimal integers.",
  flags: FLAGS,
  maxPositionals: 1,
  footer:
    "Exit status: 0 the connection opened and then closed (whatever the close code),\n" +
    "1 it never opened (connect or handshake failure), 2 bad arguments.",
};

type Engine = "node" | "xs";

interface AgentArguments {
  url: string;
  limits: Limits;
  /** wss:// options, when any was given. */
  tls?: ClientTlsOptions;
  verbose: boolean;
  engine: Engine;
}

/** The command line as the agent's arguments; throws UsageError naming what is wrong. */
function agentArguments(parsed: ParsedFlags): AgentArguments {
  const url = parsed.positionals[0];
  if (url === undefined) throw new UsageError("missing the server URL");
  const limits: Limits = { ...AUTOBAHN_LIMITS };
  for (const flag of LIMIT_FLAGS) {
    const value = integerFlag(parsed, flag.name);
    if (value !== undefined) limits[flag.key as keyof Limits] = value;
  }
  // Raising (or lowering) only the message limit carries the frame and buffer limits along,
  // so every accepted message can be echoed.
  if (!parsed.values.has("max-frame-bytes")) limits.maxFrameBytes = limits.maxMessageBytes;
  if (!parsed.values.has("max-buffered-bytes")) {
    limits.maxBufferedBytes = Math.min(MAX_LIMIT_BYTES, limits.maxMessageBytes + BUFFER_HEADROOM_BYTES);
  }
  // Reading pauses while the send buffer holds more than this: never more than a quarter of it.
  limits.readPauseBytes = Math.min(AUTOBAHN_LIMITS.readPauseBytes, Math.floor(limits.maxBufferedBytes / 4));
  const tls = tlsArguments(parsed);
  return { url, limits, ...(tls ? { tls } : {}), verbose: switchFlag(parsed, "verbose"), engine: stringFlag(parsed, "engine") === "xs" ? "xs" : "node" };
}

/** --ca FILE (read here: a clear error when it cannot be), --pin (repeatable), --insecure. */
function tlsArguments(parsed: ParsedFlags): ClientTlsOptions | undefined {
  const tls: ClientTlsOptions = {};
  const ca = stringFlag(parsed, "ca");
  if (ca !== undefined) tls.ca = caFlagFile(parsed.typed.get("ca")!, ca);
  const pins = listFlag(parsed, "pin");
  if (pins.length > 0) tls.pins = pins;
  if (switchFlag(parsed, "insecure")) tls.insecure = true;
  return Object.keys(tls).length > 0 ? tls : undefined;
}

function main(parsed: ParsedFlags): Promise<void> | void {
  const args = agentArguments(parsed);
  if (args.engine === "xs") return mainInXs(args);

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
    throw usageErrorOf(error);
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
    throw usageErrorOf(error);
  }
  const forget = stopOnSignals(() => agent.stop());
  const { code, reason } = await agent.exited;
  if (code !== 0) process.stderr.write(`echo-agent: ${reason}\n`);
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  forget();
}

/**
 * A bad URL or option the client refused is the user's mistake: a UsageError naming the flag
 * (exit 2). Anything else is passed on as it is.
 */
function usageErrorOf(error: unknown): unknown {
  const refused = error instanceof WebSocketError && (error.code === ErrorCode.INVALID_URL || error.code === ErrorCode.INVALID_OPTION);
  return refused ? new UsageError(flagErrorMessage(error, LIMIT_FLAGS, "limits.")) : error;
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

void runCommand(ECHO_AGENT_COMMAND, process.argv.slice(2), main);
