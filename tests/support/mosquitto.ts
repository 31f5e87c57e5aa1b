/**
 * A real MQTT broker for tests and the bench: Debian's mosquitto 2.0 (package mosquitto),
 * started by the test on free loopback ports with its own configuration in a temporary
 * folder: one plain TCP listener (mosquitto needs one besides the WebSocket listener, and
 * mosquitto_sub/mosquitto_pub use it), one `protocol websockets` listener (ws://), and
 * optionally a WebSocket listener with TLS (wss://). Optionally a password file and the
 * per-device ACL of docs/mqtt.md; persistence in the folder, saved at every change, so a
 * broker killed with SIGKILL and started again keeps its sessions and queued messages.
 *
 * The other side of the tests is mosquitto's own clients (package mosquitto-clients):
 * MqttWatcher runs mosquitto_sub and collects what it prints; mqttPublish runs mosquitto_pub.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child } from "./child-process.js";
import { connect } from "node:net";
import { delay, within } from "./wait.js";

export const MOSQUITTO = "/usr/sbin/mosquitto";
export const MOSQUITTO_SUB = "/usr/bin/mosquitto_sub";
export const MOSQUITTO_PUB = "/usr/bin/mosquitto_pub";
const MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd";
/** coreutils' stdbuf, to line-buffer mosquitto_sub's output. */
const STDBUF = "/usr/bin/stdbuf";

/** Linux's USER_HZ: /proc counts CPU time in these ticks a second. */
const CLOCK_TICKS = 100;

/** Why mosquitto cannot be used here, or undefined when it can. */
export function mosquittoMissing(): string | undefined {
  const missing = [MOSQUITTO, MOSQUITTO_SUB, MOSQUITTO_PUB, MOSQUITTO_PASSWD].filter((path) => !existsSync(path));
  if (missing.length === 0) return undefined;
  return `${missing.join(", ")} missing: install the Debian packages mosquitto and mosquitto-clients (apt-get install mosquitto mosquitto-clients; .ci/run does)`;
}

/** For a describe()'s before(): fails when CI=true and mosquitto is missing, skips otherwise. */
export function requireMosquitto(context: Mocha.Context): void {
  const missing = mosquittoMissing();
  if (missing === undefined) return;
  if (process.env.CI) throw new Error(missing);
  console.log(`      (skipped: ${missing})`);
  context.skip();
}

/** The user name and password of the tests' back end (reads and writes every device's topics). */
export const BACKEND = Object.freeze({ username: "backend", password: "backend-secret-4711" });

export interface BrokerOptions {
  /**
   * Devices admitted, id -> token: a password file (with BACKEND too) and the ACL of
   * docs/mqtt.md. Absent: anonymous clients are admitted, with no ACL.
   */
  devices?: Record<string, string>;
  /** A wss:// listener too, with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
  /** Sessions and queued messages saved in the folder at every change (default true). */
  persistence?: boolean;
  /**
   * Log errors and warnings only, and run with the open-file limit raised to the hard limit
   * (the bench's fleets: thousands of connections, tens of thousands of messages a second).
   */
  fleet?: boolean;
}

/** A free loopback port (taken from the OS, then released: the broker binds it next). */
async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something listens on 127.0.0.1:`port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export class Mosquitto {
  private child: Child | undefined;
  /** Every line the broker logged, over all its runs. */
  private earlier = "";

  private constructor(
    readonly dir: string,
    readonly tcpPort: number,
    readonly wsPort: number,
    readonly wssPort: number | undefined,
    private readonly fleet: boolean,
  ) {}

  static async start(options: BrokerOptions = {}): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), "moorline-mosquitto-"));
    const broker = new Mosquitto(dir, await freePort(), await freePort(), options.tls ? await freePort() : undefined, options.fleet === true);
    const persistence = options.persistence ?? true;
    const lines = [
      "per_listener_settings false",
      `allow_anonymous ${options.devices ? "false" : "true"}`,
      // Started as root, mosquitto drops to the mosquitto user and then cannot save into
      // this root-owned folder (silently): it stays root.
      ...(process.getuid?.() === 0 ? ["user root"] : []),
      ...(persistence
        ? [
            "persistence true",
            `persistence_location ${dir}/`,
            // Saved after every change (a queued message, a subscription): a SIGKILL loses nothing acknowledged.
            "autosave_interval 1",
            "autosave_on_changes true",
          ]
        : ["persistence false"]),
      // stderr: mosquitto's stdout is block-buffered into a pipe, its stderr is not.
      "log_dest stderr",
      ...(options.fleet ? ["log_type error", "log_type warning", "connection_messages false"] : ["log_type all"]),
      "max_keepalive 65535",
      `listener ${broker.tcpPort} 127.0.0.1`,
      `listener ${broker.wsPort} 127.0.0.1`,
      "protocol websockets",
    ];
    if (options.tls && broker.wssPort !== undefined) {
      writeFileSync(join(dir, "server.crt"), options.tls.cert);
      writeFileSync(join(dir, "server.key"), options.tls.key, { mode: 0o600 });
      lines.push(`listener ${broker.wssPort} 127.0.0.1`, "protocol websockets", `certfile ${dir}/server.crt`, `keyfile ${dir}/server.key`);
    }
    if (options.devices) {
      const passwd = join(dir, "passwd");
      writeFileSync(passwd, "", { mode: 0o600 });
      for (const [user, password] of [[BACKEND.username, BACKEND.password], ...Object.entries(options.devices)] as const) {
        execFileSync(MOSQUITTO_PASSWD, ["-b", passwd, user, password], { stdio: "ignore" });
      }
      writeFileSync(join(dir, "acl"), `user ${BACKEND.username}\ntopic readwrite moorline/#\n\npattern readwrite moorline/%u/#\n`, { mode: 0o600 });
      lines.push(`password_file ${passwd}`, `acl_file ${join(dir, "acl")}`);
    }
    writeFileSync(join(dir, "mosquitto.conf"), `${lines.join("\n")}\n`);
    await broker.run();
    return broker;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.wsPort}/`;
  }

  get wssUrl(): string {
    if (this.wssPort === undefined) throw new Error("this broker has no wss:// listener");
    return `wss://127.0.0.1:${this.wssPort}/`;
  }

  /** Everything the broker has logged so far (all its runs). */
  get log(): string {
    return this.earlier + (this.child?.stderr ?? "");
  }

  /** The broker's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.process.pid;
  }

  /** CPU time the broker has used so far (user + system), s; from /proc (Linux). */
  cpuSeconds(): number {
    const pid = this.pid;
    if (pid === undefined) return Number.NaN;
    // Fields 14 and 15 of /proc/PID/stat, after the command name in parentheses: utime, stime in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  }

  /** Starts (again) on the same ports with the same folder, and waits until it listens. */
  async run(): Promise<void> {
    const config = join(this.dir, "mosquitto.conf");
    // For a fleet, through sh: Node cannot raise a child's open-file limit itself.
    const child = this.fleet
      ? new Child("/bin/sh", ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"', MOSQUITTO, "-c", config])
      : new Child(MOSQUITTO, ["-c", config]);
    this.child = child;
    try {
      // Ready when both listeners take connections (it restores its persistence before it listens).
      const deadline = Date.now() + 10_000;
      while (!((await accepts(this.tcpPort)) && (await accepts(this.wsPort)))) {
        if (child.process.exitCode !== null || child.process.signalCode !== null) {
          throw new Error(`mosquitto exited (${child.process.exitCode ?? child.process.signalCode}): ${child.stderr.slice(-500)}`);
        }
        if (Date.now() > deadline) throw new Error(`mosquitto did not listen within 10 s: ${child.stderr.slice(-500)}`);
        await delay(20);
      }
    } catch (error) {
      child.kill();
      throw error;
    }
  }

  /** Ends the broker with `signal` (SIGKILL: a crash, nothing saved beyond what already was). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    await within(child.exited, 10_000, "mosquitto to exit");
    this.earlier += child.stderr;
    this.child = undefined;
  }

  /** Stops the broker (SIGTERM, then SIGKILL) and removes its folder. */
  async stop(): Promise<void> {
    try {
      await this.kill("SIGTERM");
    } catch {
      await this.kill("SIGKILL");
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Connects with mosquitto_sub as `credentials` (BACKEND by default when the broker has users). */
  credentialArgs(credentials: { username: string; password: string } | undefined): string[] {
    return credentials ? ["-u", credentials.username, "-P", credentials.password] : [];
  }
}

export interface WatchOptions {
  /** mosquitto_sub's -u/-P (default none). */
  credentials?: { username: string; password: string };
  /** A client id with a persistent session (-i ID -c): messages queued while it is away come later. */
  sessionId?: string;
}

/** One message mosquitto_sub printed (its -F %j format). */
export interface Seen {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

/**
 * mosquitto_sub on the broker's TCP listener at QoS 1, printing each message as JSON, kept in
 * `messages`. It reconnects by itself when the broker goes away and comes back.
 */
export class MqttWatcher {
  readonly child: Child;
  private constructor(child: Child) {
    this.child = child;
  }

  static async start(broker: Mosquitto, topics: readonly string[], options: WatchOptions = {}): Promise<MqttWatcher> {
    const args = ["-h", "127.0.0.1", "-p", String(broker.tcpPort), "-V", "mqttv311", "-q", "1", "-d", "-F", "%j", ...broker.credentialArgs(options.credentials)];
    if (options.sessionId) args.push("-i", options.sessionId, "-c");
    for (const topic of topics) args.push("-t", topic);
    // Line-buffered: mosquitto_sub's stdout into a pipe is block-buffered otherwise.
    const watcher = new MqttWatcher(new Child(STDBUF, ["-oL", MOSQUITTO_SUB, ...args]));
    // -d prints "Subscribed (mid: 1): 1" once the SUBACK is in (0x80 when refused).
    try {
      await watcher.child.line(/^Subscribed \(mid: \d+\)/, 10_000, "mosquitto_sub to subscribe");
    } catch (error) {
      watcher.child.kill();
      throw error;
    }
    return watcher;
  }

  /** Every message received so far, oldest first. */
  get messages(): Seen[] {
    const seen: Seen[] = [];
    for (const line of this.child.stdout.split("\n")) {
      if (!line.startsWith("{")) continue;
      const json = JSON.parse(line) as { topic: string; payload: unknown; qos: number; retain: number };
      seen.push({ topic: json.topic, payload: typeof json.payload === "string" ? json.payload : JSON.stringify(json.payload), qos: json.qos, retain: json.retain === 1 });
    }
    return seen;
  }

  /** The messages on `topic`, their payloads parsed as JSON. */
  json(topic: string): Array<Record<string, unknown>> {
    return this.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    this.child.kill("SIGTERM");
    await within(this.child.exited, 5000, "mosquitto_sub to exit").catch(() => this.child.kill());
  }
}

/** Publishes one message with mosquitto_pub (QoS 1 by default); resolves when it is acknowledged. */
export function mqttPublish(
  broker: Mosquitto,
  topic: string,
  message: string,
  options: { qos?: 0 | 1; retain?: boolean; credentials?: { username: string; password: string }; clientId?: string } = {},
): { status: number | null; stderr: string } {
  const args = ["-h", "127.0.0.1", "-p", String(broker.tcpPort), "-V", "mqttv311", "-q", String(options.qos ?? 1), "-t", topic, "-m", message, ...broker.credentialArgs(options.credentials)];
  if (options.retain) args.push("-r");
  if (options.clientId) args.push("-i", options.clientId);
  const result = spawnSync(MOSQUITTO_PUB, args, { encoding: "utf8", timeout: 10_000 });
  return { status: result.status, stderr: result.stderr };
}

/** The retained message on `topic` (mosquitto_sub -C 1 -R... reads it at once), or undefined. */
export function retainedOn(broker: Mosquitto, topic: string, credentials?: { username: string; password: string }): string | undefined {
  const result = spawnSync(
    MOSQUITTO_SUB,
    ["-h", "127.0.0.1", "-p", String(broker.tcpPort), "-V", "mqttv311", "-t", topic, "-C", "1", "-W", "2", "-F", "%r %p", ...broker.credentialArgs(credentials)],
    { encoding: "utf8", timeout: 10_000 },
  );
  const line = result.stdout.split("\n")[0] ?? "";
  return line.startsWith("1 ") ? line.slice(2) : undefined;
}
