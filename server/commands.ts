/**
 * The companion server's terminal commands: one line of text in, one parsed command out.
 * Pure (no sockets, no output), so the terminal, the test API and the help text agree on
 * one grammar. A line the grammar refuses throws CommandError naming what is wrong; the
 * terminal prints it and carries on.
 */
import { isValidCloseCode, MAX_CLOSE_REASON_BYTES } from "../src/websocket/constants.js";

export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}

/** A request body as the device protocol defines it (docs/protocol.md), before its `id`. */
export type RequestBody = { type: string; id?: unknown } & Record<string, unknown>;

export type Command =
  /** A request: an `id` is added unless the body has one; the reply is matched to it. */
  | { kind: "request"; body: RequestBody }
  /** Text sent verbatim (JSON that is not a request, or anything with `raw`). */
  | { kind: "raw"; text: string }
  /** A close frame with this code and reason, then the close handshake. */
  | { kind: "close"; code: number; reason: string }
  /** TCP destroyed with no close frame: what a crashed server or a dead link looks like. */
  | { kind: "drop" }
  /**
   * Fall silent toward the device (true: no pong, no ack, no request, nothing; its heartbeat
   * then replaces the connection) or speak again (false).
   */
  | { kind: "mute"; muted: boolean }
  /** Acknowledge telemetry (true) or not (false). */
  | { kind: "acks"; on: boolean }
  /** Send the garbage sequence (the --garbage misbehaviour) now. */
  | { kind: "garbage" }
  /** Firmware updates (server/ota.ts): offer the image in `file`, stop offering (off), or show the transfers (none). */
  | { kind: "ota"; file: string | undefined; off: boolean }
  | { kind: "devices" }
  | { kind: "help" }
  | { kind: "quit" };

/** A command line: an optional `@<device>` target and the command. */
export interface CommandLine {
  /** A device id from its hello, or `#<n>` for connection number n; undefined: every device. */
  target: string | undefined;
  command: Command;
}

export const COMMAND_HELP = `Commands (to every connected device, or to one with @<device> <command>;
<device> is the id from its hello, or #<n> for connection number n):
  echo <text>                  request an echo of <text> (a string)
  ping                         request a ping (the device answers with its uptime)
  status                       request the device's status
  config get [key]             read the configuration, or one key
  config set <key> <value>     set a key; <value> is JSON when it parses, else a string
  reboot [reason]              request a reboot (the next hello reports the reason; it also
                               ends safe mode)
  send <json>                  send a request of any type (an id is added if missing);
                               JSON that is not an object with a "type" goes as is
  raw <text>                   send <text> verbatim as one text message
  close [code] [reason]        close with a close frame (default 1000)
  drop                         destroy the TCP connection, no close frame
  mute | unmute                fall silent toward the devices (no pong, no ack, no
                               request: their heartbeat replaces the link) / speak again
  acks on|off                  acknowledge telemetry or not
  garbage                      send input the device must reject (bad JSON, too deep,
                               too large, unknown type, bad request)
  ota <file>                   offer the signed firmware image <file> (npm run image) to
                               every device running another version, now and when they
                               connect; progress is shown per device
  ota off | ota                stop offering it (transfers under way stop) | show the
                               image offered and each transfer
  devices                      list the connected devices
  help                         this text
  quit                         close every connection (1001) and exit
`;

/** Splits off the first word: ["word", "rest of the line"]. */
function firstWord(text: string): [string, string] {
  const trimmed = text.trim();
  const match = /^(\S+)\s*([\s\S]*)$/.exec(trimmed);
  return match ? [match[1]!, match[2]!] : ["", ""];
}

/** Parses a whole terminal line, with its optional `@<device>` prefix. */
export function parseCommandLine(line: string): CommandLine {
  const trimmed = line.trim();
  if (trimmed.startsWith("@")) {
    const [word, rest] = firstWord(trimmed);
    const target = word.slice(1);
    if (target === "") throw new CommandError("@ needs a device id, as in @sim-1 ping");
    return { target, command: parseCommand(rest) };
  }
  return { target: undefined, command: parseCommand(trimmed) };
}

/** Parses one command (no `@` prefix). */
export function parseCommand(text: string): Command {
  const [name, rest] = firstWord(text);
  switch (name) {
    case "":
      throw new CommandError("empty command; try help");
    case "echo":
      return { kind: "request", body: { type: "echo", payload: rest } };
    case "ping":
    case "status":
      noArguments(name, rest);
      return { kind: "request", body: { type: name } };
    case "config":
      return parseConfig(rest);
    case "reboot":
      if (rest.length > 64) throw new CommandError(`reboot's reason is at most 64 characters, got ${rest.length}`);
      return { kind: "request", body: rest === "" ? { type: "reboot" } : { type: "reboot", reason: rest } };
    case "send":
      return parseSend(rest);
    case "raw":
      if (rest === "") throw new CommandError("raw needs the text to send");
      return { kind: "raw", text: rest };
    case "close":
      return parseClose(rest);
    case "drop":
    case "garbage":
    case "devices":
    case "help":
    case "quit":
      noArguments(name, rest);
      return { kind: name };
    case "mute":
    case "unmute":
      noArguments(name, rest);
      return { kind: "mute", muted: name === "mute" };
    case "ota":
      if (rest === "") return { kind: "ota", file: undefined, off: false };
      if (rest === "off") return { kind: "ota", file: undefined, off: true };
      return { kind: "ota", file: rest, off: false };
    case "acks":
      if (rest !== "on" && rest !== "off") throw new CommandError(`acks takes on or off, got ${JSON.stringify(rest)}`);
      return { kind: "acks", on: rest === "on" };
    default:
      throw new CommandError(`unknown command ${JSON.stringify(name)}; try help`);
  }
}

function noArguments(name: string, rest: string): void {
  if (rest !== "") throw new CommandError(`${name} takes no arguments, got ${JSON.stringify(rest)}`);
}

function parseConfig(text: string): Command {
  const [action, rest] = firstWord(text);
  if (action === "get") {
    if (rest === "") return { kind: "request", body: { type: "config", action: "get" } };
    if (/\s/.test(rest)) throw new CommandError(`config get takes one key, got ${JSON.stringify(rest)}`);
    return { kind: "request", body: { type: "config", action: "get", key: rest } };
  }
  if (action === "set") {
    const [key, valueText] = firstWord(rest);
    if (key === "" || valueText === "") throw new CommandError("config set needs a key and a value, as in config set telemetryIntervalMs 5000");
    return { kind: "request", body: { type: "config", action: "set", key, value: jsonOrString(valueText) } };
  }
  throw new CommandError(`config takes get or set, got ${JSON.stringify(action)}`);
}

/** `5000` is a number, `true` a boolean, `"x"` a string, `fast` (not JSON) the string "fast". */
function jsonOrString(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseSend(text: string): Command {
  if (text === "") throw new CommandError("send needs JSON, as in send {\"type\":\"status\"}");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CommandError(`send needs JSON (${(error as Error).message}); use raw <text> to send text as is`);
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as { type?: unknown }).type === "string") {
    return { kind: "request", body: value as RequestBody };
  }
  // Not a request: the device echoes such values back (docs/protocol.md), so send them as typed.
  return { kind: "raw", text };
}

function parseClose(text: string): Command {
  if (text === "") return { kind: "close", code: 1000, reason: "" };
  const [codeText, reason] = firstWord(text);
  if (!/^[0-9]{1,5}$/.test(codeText) || !isValidCloseCode(Number(codeText))) {
    throw new CommandError(
      `close code must be one a close frame may carry (1000-1003, 1007-1014, 3000-4999), got ${JSON.stringify(codeText)}`,
    );
  }
  checkCloseReason(reason);
  return { kind: "close", code: Number(codeText), reason };
}

/** RFC 6455 section 5.5: the reason shares a 125-byte control frame with the 2-byte code. */
export function checkCloseReason(reason: string): void {
  const bytes = Buffer.byteLength(reason, "utf8");
  if (bytes > MAX_CLOSE_REASON_BYTES) {
    throw new CommandError(`close reason is ${bytes} bytes of UTF-8, at most ${MAX_CLOSE_REASON_BYTES} fit in a close frame`);
  }
}
