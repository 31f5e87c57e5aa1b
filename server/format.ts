/**
 * The companion server's output: each event as one readable line (time, device, what
 * happened, a short summary), coloured for a terminal, or as one JSON line (--json). A reply
 * (to `status`, say) is what the user asked for: it is shown whole, on its line when short,
 * else pretty-printed below it. Device text is shown with its control characters escaped
 * (src/shared/log-format.ts printable): nothing a device sends may drive the terminal.
 */
import { localTime, paint as paintIf, printable, SGR } from "../src/shared/log-format.js";
import type { CompanionEvent } from "./events.js";

/** Summaries of device data are cut here, characters: one event stays one terminal line. */
export const SUMMARY_CHARS = 160;

type Colour = keyof typeof SGR;

export function formatJson(event: CompanionEvent): string {
  return JSON.stringify(event);
}

/** `value` as JSON text (a string as it is), or what String() makes of what JSON cannot show. */
function jsonText(value: unknown, indent?: number): string {
  try {
    return typeof value === "string" ? value : (JSON.stringify(value, null, indent) ?? String(value));
  } catch {
    return String(value);
  }
}

/** JSON of `value`, cut to SUMMARY_CHARS with an ellipsis. */
export function summary(value: unknown, chars = SUMMARY_CHARS): string {
  const text = printable(jsonText(value));
  return text.length > chars ? `${text.slice(0, chars - 1)}\u2026` : text;
}

/**
 * `value` whole: its compact JSON when that fits in a summary, else "\n" and the JSON
 * pretty-printed, each line indented by two spaces.
 */
export function whole(value: unknown): string {
  const compact = printable(jsonText(value));
  if (compact.length <= SUMMARY_CHARS) return compact;
  const lines = jsonText(value, 2).split("\n");
  return `\n${lines.map((line) => `  ${printable(line)}`).join("\n")}`;
}

function clock(iso: string): string {
  return localTime(Date.parse(iso));
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

type OtaEvent = Extract<CompanionEvent, { event: "ota" }>;

function otaColour(state: OtaEvent["state"]): Colour {
  if (state === "refused" || state === "rolled_back") return "red";
  if (state === "paused") return "yellow";
  if (state === "updated" || state === "installed") return "green";
  return "blue";
}

/** A firmware update's step in words: "40% 257188/642971 bytes, 512 KB/s". */
function otaSummary(event: OtaEvent): string {
  const at = event.offset !== undefined && event.size !== undefined ? `${event.offset}/${event.size} bytes (${event.percent ?? 0}%)` : "";
  switch (event.state) {
    case "offered":
      return `offered ${event.version} (${event.target}, ${event.size} bytes)`;
    case "accepted":
      return event.offset === 0 ? `accepted ${event.version}: sending ${event.size} bytes` : `accepted ${event.version}: resuming at ${at}`;
    case "progress":
      return `${event.version} ${at}${event.bytesPerSecond ? `, ${Math.round(event.bytesPerSecond / 1024)} KiB/s` : ""}`;
    case "installed":
      return `installed ${event.version}: the device restarts into it`;
    case "refused":
      return `refused ${event.version}: ${event.code}${event.message ? ` (${printable(event.message)})` : ""}`;
    case "paused":
      return `paused ${event.version} at ${at}: the connection closed (resumes when it is back)`;
    case "trial":
      return `${event.version} on trial${event.from ? ` (from ${event.from})` : ""}: confirmed once its connection proves stable`;
    case "updated":
      return `updated to ${event.version}${event.from ? ` from ${event.from}` : ""}: confirmed`;
    case "rolled_back":
      return `ROLLED BACK ${event.version}: ${event.reason}${event.detail ? ` (${printable(event.detail)})` : ""}`;
  }
}

/**
 * One readable line for `event`, with no newline. The `listening` line is plain
 * "listening on <url>" (no time, no colour), the line scripts wait for.
 */
export function formatHuman(event: CompanionEvent, colour: boolean): string {
  const paint = (name: Colour, text: string) => paintIf(SGR[name], text, colour);
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
    case "auth":
      return event.mode === "open"
        ? line("development mode", "yellow", "no --devices: any device that connects is admitted, whatever id it claims")
        : line(
            "devices",
            event.cleartext ? "yellow" : "green",
            `only the ${event.devices} registered in ${event.file} are admitted, each with its token` +
              (event.cleartext ? "; WARNING: over plain ws:// beyond this machine, tokens cross the network unencrypted (use --tls)" : ""),
          );
    case "auth_refused": {
      const slowed = event.delayMs > 0 ? ` after ${ms(event.delayMs)} ms` : "";
      const claimed = event.device === null ? "" : ` as ${event.device}`;
      return `${paint("dim", clock(event.t))} ${paint("cyan", event.remote)} ${paint("yellow", `refused ${event.status}`)}${claimed}: ${event.reason.replace(/_/g, " ")} (failure ${event.failures}${slowed})`;
    }
    case "auth_refused_many": {
      const statuses = Object.entries(event.statuses).map(([status, count]) => `${count}x ${status}`).join(", ");
      const reasons = Object.entries(event.reasons).map(([reason, count]) => `${reason.replace(/_/g, " ")} ${count}`).join(", ");
      return line("refused", "yellow", `${event.count} attempts at once without checking (${statuses}: ${reasons}) in ${(event.periodMs / 1000).toFixed(1)} s`);
    }
    case "auth_lockout":
      return line("lockout", "red", `${event.key} ${event.value} failed ${event.failures} times: refused for ${Math.round(event.lockoutMs / 1000)} s`);
    case "registry": {
      const revoked = event.revoked.length > 0 ? `; disconnecting ${event.revoked.join(", ")}` : "";
      return line("devices", "green", `${event.file} read again: ${event.devices} registered${revoked}`);
    }
    case "registry_error":
      return line("devices", "red", `${event.message}`);
    case "hello":
      return line(
        "hello",
        "green",
        `firmware=${summary(event.firmware)} boot=${summary(event.boot)} capabilities=${Array.isArray(event.capabilities) ? event.capabilities.join(",") : summary(event.capabilities)}` +
          (event.reset === null || event.reset === undefined ? "" : ` reset=${summary(event.reset)} boots=${summary(event.boots)}`) +
          (event.rebootReason === null || event.rebootReason === undefined ? "" : ` rebootReason=${summary(event.rebootReason)}`) +
          (event.safeMode === true ? ` ${paint("yellow", "SAFE MODE")}` : ""),
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
      const shown = whole(event.ok ? event.result : event.error);
      const status = event.ok ? paint("green", "ok") : paint("red", "error");
      const head = `id=${summary(event.id)}${event.request ? ` (${event.request})` : ""} ${status}`;
      // Pretty-printed below the line, after the round-trip time; a short one stays on it.
      const rest = shown.startsWith("\n") ? `${head}${rtt}${shown}` : `${head} ${shown}${rtt}`;
      return line("\u2190 reply", "magenta", rest);
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
            `${d.pendingRequests} pending${d.muted ? ", muted" : ""}${d.acks ? "" : ", acks off"}${d.authenticated ? ", authenticated" : ""}`,
        ),
      ].join("\n");
    case "ota":
      return line("ota", otaColour(event.state), otaSummary(event));
    case "ota_status": {
      const image = event.image;
      const head = line("ota", "bold", image ? `offering ${image.version} (${image.target}, ${image.size} bytes) from ${image.file}` : "no image offered");
      const rows = event.transfers.map(
        (t) => `  #${t.conn} ${t.device ?? "(no hello yet)"} ${t.state} ${t.version}: ${t.offset}/${t.size} bytes (${Math.floor((t.offset * 100) / t.size)}%)`,
      );
      return [head, ...(rows.length > 0 ? rows : ["  no transfer under way"])].join("\n");
    }
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
