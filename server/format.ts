/**
 * The companion server's output: each event as one readable line (time, device, what
 * happened, a short summary), coloured for a terminal, or as one JSON line (--json).
 */
import type { CompanionEvent } from "./events.js";

/** Summaries of device data are cut here, characters: one event stays one terminal line. */
export const SUMMARY_CHARS = 160;

const ANSI = {
  reset: "\u001b[0m",
  bold: "\u001b[1m",
  dim: "\u001b[2m",
  red: "\u001b[31m",
  green: "\u001b[32m",
  yellow: "\u001b[33m",
  blue: "\u001b[34m",
  magenta: "\u001b[35m",
  cyan: "\u001b[36m",
} as const;
type Colour = keyof typeof ANSI;

/** Colour when writing to a terminal, unless NO_COLOR is set to anything (https://no-color.org). */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
}

export function formatJson(event: CompanionEvent): string {
  return JSON.stringify(event);
}

/** JSON of `value`, cut to SUMMARY_CHARS with an ellipsis. */
export function summary(value: unknown, chars = SUMMARY_CHARS): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > chars ? `${text.slice(0, chars - 1)}\u2026` : text;
}

function clock(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

/**
 * One readable line for `event`, with no newline. The `listening` line is plain
 * "listening on <url>" (no time, no colour), the line scripts wait for.
 */
export function formatHuman(event: CompanionEvent, colour: boolean): string {
  const paint = (name: Colour, text: string) => (colour ? `${ANSI[name]}${text}${ANSI.reset}` : text);
  if (event.event === "listening") return `listening on ${event.url}`;
  const who = "conn" in event && event.conn !== null ? (event.device ?? `conn#${event.conn}`) : "server";
  const head = `${paint("dim", clock(event.t))} ${paint("cyan", who)}`;
  const line = (name: string, tint: Colour, rest: string) => `${head} ${paint(tint, name)}${rest === "" ? "" : ` ${rest}`}`;
  switch (event.event) {
    case "connect":
      return line("connect", "green", `from ${event.remote} ${event.path}`);
    case "reject":
      return `${paint("dim", clock(event.t))} ${paint("cyan", event.remote)} ${paint("yellow", "rejected")} with HTTP ${event.status}`;
    case "tls_error":
      return `${paint("dim", clock(event.t))} ${paint("cyan", event.remote)} ${paint("red", "TLS handshake failed")} ${event.message}`;
    case "hello":
      return line(
        "hello",
        "green",
        `firmware=${summary(event.firmware)} boot=${summary(event.boot)} capabilities=${Array.isArray(event.capabilities) ? event.capabilities.join(",") : summary(event.capabilities)}`,
      );
    case "telemetry": {
      let note = "";
      if (event.outcome === "duplicate") note = ` ${paint("yellow", `DUPLICATE (${event.duplicates} so far)`)}`;
      if (event.outcome === "gap") note = ` ${paint("yellow", `GAP: ${event.missed} missed (${event.gaps} gaps so far)`)}`;
      const acked = event.acked === null ? paint("dim", " (not acked)") : "";
      return line("telemetry", "blue", `seq=${event.seq} ${summary(event.data)}${note}${acked}`);
    }
    case "reply": {
      const rtt = event.rttMs === null ? paint("yellow", " (no such request)") : ` ${paint("dim", `${ms(event.rttMs)} ms`)}`;
      const body = event.ok ? `${paint("green", "ok")} ${summary(event.result)}` : `${paint("red", "error")} ${summary(event.error)}`;
      return line("\u2190 reply", "magenta", `id=${summary(event.id)}${event.request ? ` (${event.request})` : ""} ${body}${rtt}`);
    }
    case "device_error":
      return line("error", "red", summary(event.error));
    case "message":
      return line(event.type, "magenta", summary(event.message));
    case "unreadable":
      return line("unreadable", "red", `${event.reason}: ${summary(event.text)}`);
    case "bad_message":
      return line(`bad ${event.type}`, "red", event.reason);
    case "ping":
      return line("ping", "dim", event.answered ? "" : paint("yellow", "(muted: no pong)"));
    case "request": {
      // The type and id are in the line already; show the rest of the request.
      const { type: _type, id: _id, ...fields } = event.body;
      const rest = Object.keys(fields).length === 0 ? "" : ` ${summary(fields)}`;
      return line(`\u2192 ${event.type}`, "magenta", `id=${summary(event.id)}${rest}`);
    }
    case "sent":
      return line("\u2192 sent", "magenta", `${event.bytes} bytes: ${summary(event.text)}`);
    case "no_reply":
      return line("no reply", "yellow", `id=${summary(event.id)} (${event.request}): ${event.reason}`);
    case "garbage":
      return line("\u2192 garbage", "yellow", event.kinds.join(", "));
    case "closing":
      return line("closing", "yellow", `${event.code}${event.reason ? ` ${JSON.stringify(event.reason)}` : ""} (${event.why})`);
    case "drop":
      return line("drop", "yellow", `TCP destroyed, no close frame (${event.why})`);
    case "close":
      return line(
        "close",
        event.code === 1000 || event.code === 1001 ? "green" : "yellow",
        `${event.code}${event.reason ? ` ${JSON.stringify(event.reason)}` : ""} after ${(event.durationMs / 1000).toFixed(1)} s`,
      );
    case "protocol_error":
      return line("protocol error", "red", `${event.message}${event.code ? ` (${event.code})` : ""}`);
    case "setting":
      return line(event.setting, "yellow", `${event.value ? "on" : "off"}${event.conn === null ? " for every connection" : ""}`);
    case "devices":
      if (event.devices.length === 0) return line("devices", "bold", "none connected");
      return [
        line("devices", "bold", `${event.devices.length} connected`),
        ...event.devices.map(
          (d) =>
            `  #${d.conn} ${d.device ?? "(no hello yet)"} firmware=${summary(d.firmware)} boot=${summary(d.boot)} from ${d.remote}, ` +
            `${(d.connectedMs / 1000).toFixed(0)} s, in ${d.messagesIn} out ${d.messagesOut}, ` +
            `${d.pendingRequests} pending${d.muted ? ", muted" : ""}${d.acks ? "" : ", acks off"}`,
        ),
      ].join("\n");
    case "help":
      return event.text.replace(/\n$/, "");
    case "command_error":
      return line("command error", "red", `${event.message} (in ${JSON.stringify(event.command)})`);
    case "shutdown":
      return line("shutdown", "yellow", `closing ${event.connections} connection(s) with 1001`);
    case "closed":
      return line("closed", "dim", "");
  }
}
