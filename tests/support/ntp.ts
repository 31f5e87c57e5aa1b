/**
 * NTP peers for tests, on 127.0.0.1: a real server (Debian's chrony, serving its own clock on
 * a free port without touching the machine's: `chronyd -x`), hostile servers on raw UDP that
 * answer what a test scripts, and a relay that can be switched between silence and forwarding
 * to the real one. Every peer is stopped by its close(); chronyd runs in the foreground (-d)
 * as a child of the test process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { NTP_UNIX_OFFSET_SECONDS } from "../../src/time/ntp-packet.js";
import { delay, within } from "./wait.js";

export const CHRONY_MISSING = "chrony (chronyd) is not installed: apt-get install chrony";

/** Where chronyd is (Debian puts it in /usr/sbin), or undefined. */
export function findChronyd(): string | undefined {
  const folders = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin", "/usr/local/sbin"];
  for (const folder of folders) {
    const path = join(folder, "chronyd");
    if (folder !== "" && existsSync(path)) return path;
  }
  return undefined;
}

/**
 * For a before(): chronyd's path; without it the suite is skipped with a message, or fails
 * when CI is set (CI installs chrony: its absence there is a broken setup, not a skip).
 */
export function requireChronyd(context: Mocha.Context): string {
  const path = findChronyd();
  if (path !== undefined) return path;
  if (process.env.CI) throw new Error(CHRONY_MISSING);
  console.log(`      (skipped: ${CHRONY_MISSING})`);
  context.skip();
}

/** A UDP port on 127.0.0.1 free a moment ago (bound by the OS, then released). */
export async function freeUdpPort(): Promise<number> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => resolve());
  });
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export interface NtpPeer {
  readonly port: number;
  /** "127.0.0.1:PORT", as the device's `ntp` key and --ntp take it. */
  readonly label: string;
  close(): Promise<void>;
}

export interface ChronyServer extends NtpPeer {
  /** What chronyd printed (its log, -d). */
  readonly output: () => string;
}

/**
 * Starts chronyd serving NTP on 127.0.0.1 (stratum 8, its own clock: `local stratum 8`),
 * controlling no clock (-x), with every file in a folder of its own; resolves once it answers.
 */
export async function startChrony(chronyd: string): Promise<ChronyServer> {
  const folder = mkdtempSync(join(tmpdir(), "moorline-chrony-"));
  let lastError: Error | undefined;
  // The free port may be taken between the probe and chronyd's bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeUdpPort();
    const config = join(folder, "chrony.conf");
    writeFileSync(
      config,
      [
        `port ${port}`,
        "bindaddress 127.0.0.1",
        "local stratum 8",
        "allow 127.0.0.1",
        "cmdport 0",
        `pidfile ${join(folder, "chronyd.pid")}`,
        `driftfile ${join(folder, "chrony.drift")}`,
        "",
      ].join("\n"),
    );
    // As root, chronyd would drop to its own user, who cannot write our temporary folder.
    const asRoot = process.getuid?.() === 0 ? ["-u", "root"] : [];
    const child = spawn(chronyd, ["-x", "-d", ...asRoot, "-f", config], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.stderr!.setEncoding("utf8").on("data", (text: string) => (output += text));
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    try {
      await waitForAnswer(port, child, () => output);
      return {
        port,
        label: `127.0.0.1:${port}`,
        output: () => output,
        close: async () => {
          await stopChild(child, exited);
          rmSync(folder, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error as Error;
      await stopChild(child, exited);
    }
  }
  rmSync(folder, { recursive: true, force: true });
  throw lastError ?? new Error("chronyd did not start");
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  try {
    await within(exited, 5000, "chronyd to exit");
  } catch {
    child.kill("SIGKILL");
    await exited;
  }
}

/** Polls the server with client requests until one is answered (5 s at most). */
async function waitForAnswer(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const end = Date.now() + 5000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`chronyd exited (${child.exitCode}): ${output()}`);
    if ((await queryNtp(port, 200)) !== undefined) return;
    await delay(50);
  }
  throw new Error(`chronyd did not answer on 127.0.0.1:${port} within 5 s: ${output()}`);
}

/** One client request to 127.0.0.1:`port`; the answer, or undefined after `ms`. */
export async function queryNtp(port: number, ms: number): Promise<Buffer | undefined> {
  const socket = createSocket("udp4");
  socket.on("error", () => {});
  try {
    const answer = new Promise<Buffer>((resolve) => socket.once("message", (message: Buffer) => resolve(message)));
    const request = Buffer.alloc(48);
    request[0] = (4 << 3) | 3;
    request.write("testnonc", 40, "latin1");
    socket.send(request, port, "127.0.0.1");
    return await within(answer, ms, "an NTP answer").catch(() => undefined);
  } finally {
    socket.close();
  }
}

// --- hostile servers ----------------------------------------------------------------------

/** What a scripted server puts in its answer; the rest is a correct stratum-2 answer with the time now. */
export interface AnswerFields {
  leap?: number;
  version?: number;
  mode?: number;
  stratum?: number;
  /** The Reference ID as four ASCII characters (a kiss code with stratum 0). */
  referenceId?: string;
  /** The Origin Timestamp: the request's Transmit Timestamp (default), or other bytes. */
  origin?: "echo" | "wrong";
  /** The Transmit (and Receive) Timestamp, UTC ms; 0 writes an all-zero timestamp. */
  timeMs?: number;
  /** The answer's length (default 48). */
  length?: number;
}

/** A server answer to `request`, with `fields` changed. */
export function ntpAnswer(request: Buffer, fields: AnswerFields = {}): Buffer {
  const answer = Buffer.alloc(Math.max(fields.length ?? 48, 48));
  answer[0] = ((fields.leap ?? 0) << 6) | ((fields.version ?? 4) << 3) | (fields.mode ?? 4);
  answer[1] = fields.stratum ?? 2;
  answer[2] = 6;
  answer[3] = 0xec;
  answer.write((fields.referenceId ?? "GPS\u0000").slice(0, 4), 12, "latin1");
  if (fields.origin === "wrong") answer.write("notyours", 24, "latin1");
  else request.copy(answer, 24, 40, 48);
  const time = fields.timeMs ?? Date.now();
  for (const at of [16, 32, 40]) writeTimestamp(answer, at, time);
  return answer.subarray(0, fields.length ?? 48);
}

/** Writes UTC ms as an NTP timestamp (all zero for 0). */
export function writeTimestamp(into: Buffer, at: number, utcMs: number): void {
  if (utcMs === 0) {
    into.fill(0, at, at + 8);
    return;
  }
  const seconds = Math.floor(utcMs / 1000);
  into.writeUInt32BE((seconds + NTP_UNIX_OFFSET_SECONDS) % 4_294_967_296, at);
  into.writeUInt32BE(Math.floor(((utcMs - seconds * 1000) / 1000) * 4_294_967_296), at + 4);
}

export interface ScriptedNtpServer extends NtpPeer {
  /** Requests received. */
  readonly requests: number;
}

/**
 * A UDP server on 127.0.0.1 that answers each request with what `answer` returns (nothing
 * for undefined: a server that never answers), from its own port unless `answer` says to send
 * from elsewhere (`fromOtherPort`).
 */
export async function startScriptedNtp(answer: (request: Buffer, from: RemoteInfo) => Buffer | undefined | { fromOtherPort: Buffer }): Promise<ScriptedNtpServer> {
  const socket = createSocket("udp4");
  const other = createSocket("udp4");
  let requests = 0;
  socket.on("message", (request: Buffer, from) => {
    requests++;
    const reply = answer(request, from);
    if (reply === undefined) return;
    if (Buffer.isBuffer(reply)) socket.send(reply, from.port, from.address);
    else other.send(reply.fromOtherPort, from.port, from.address);
  });
  await bind(socket);
  await bind(other);
  const port = socket.address().port;
  return {
    port,
    label: `127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    close: async () => {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      await new Promise<void>((resolve) => other.close(() => resolve()));
    },
  };
}

function bind(socket: Socket): Promise<void> {
  socket.on("error", () => {});
  return new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
}

export interface NtpRelay extends ScriptedNtpServer {
  /** Forward requests to the real server (true), or drop them (false: no answer). */
  forwarding: boolean;
}

/** A server that drops every request until `forwarding` is set, then relays `upstream`'s answers. */
export async function startNtpRelay(upstream: NtpPeer): Promise<NtpRelay> {
  const own = createSocket("udp4");
  const upstreamSocket = createSocket("udp4");
  // The nonce (Transmit Timestamp) names a request: the answer carries it back as its origin.
  const pending = new Map<string, RemoteInfo>();
  let requests = 0;
  const relay = { forwarding: false };
  own.on("message", (request: Buffer, from) => {
    requests++;
    if (!relay.forwarding || request.length < 48) return;
    pending.set(request.subarray(40, 48).toString("hex"), from);
    upstreamSocket.send(request, upstream.port, "127.0.0.1");
  });
  upstreamSocket.on("message", (answer: Buffer) => {
    const key = answer.subarray(24, 32).toString("hex");
    const client = pending.get(key);
    pending.delete(key);
    // From the relay's own port, as the client expects.
    if (client) own.send(answer, client.port, client.address);
  });
  await bind(own);
  await bind(upstreamSocket);
  const port = own.address().port;
  // Getters defined in place: Object.assign would copy their values once.
  return Object.defineProperties(relay, {
    port: { value: port },
    label: { value: `127.0.0.1:${port}` },
    requests: { get: () => requests },
    close: {
      value: async () => {
        await new Promise<void>((resolve) => own.close(() => resolve()));
        await new Promise<void>((resolve) => upstreamSocket.close(() => resolve()));
      },
    },
  }) as NtpRelay;
}
