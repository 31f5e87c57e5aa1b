/**
 * Every desktop command as a user runs it (a child process): device, start, the companion
 * server, the echo agent and the monitor share one command-line layer (hosts/node/cli.ts), so
 * they answer a mistake the same way: one line on stderr naming the flag as typed and where the
 * help is, exit 2; a setup failure (a port in use) in one line without a stack trace, exit 1;
 * --help listing every flag once. And the device's log: readable on request (--log-format
 * text), JSON lines when piped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { node, type Child } from "../../support/child-process.js";
import { ENGINES, engineArgs, useEngine } from "../../support/engines.js";
import { closedPort, listenLoopback } from "../../support/wait.js";

interface Command {
  /** The script under dist/. */
  script: string;
  /** Arguments every run of the test gives first. */
  base: string[];
  /** How its error lines start. */
  prefix: string;
  /** What its usage errors point at. */
  help: string;
  /** Every flag its --help must list, once, in this order. */
  flags: string[];
  /** A bad value, and the one line that must say so. */
  badValue: [string[], string];
}

const COMMANDS: Command[] = [
  {
    script: "dist/hosts/node/device.js",
    base: [],
    prefix: "device",
    help: "npm run device -- --help",
    flags: [
      "--url", "--device-id", "--ssid", "--password", "--no-wifi", "--auth-token", "--ca", "--pin", "--insecure",
      "--transport", "--mqtt-prefix", "--mqtt-username",
      "--telemetry-interval-ms", "--heartbeat-interval-ms", "--heartbeat-timeout-ms", "--backoff-base-ms", "--backoff-cap-ms",
      "--stable-ms", "--max-message-bytes", "--clock-unset", "--ntp", "--ntp-interval-ms", "--clock-fallback-ms", "--storage",
      "--factory-reset", "--safe-mode-after-boots", "--outbox-flush-ms", "--outbox-writes-per-hour", "--watchdog-ms",
      "--ota-keys", "--ota-confirm-ms", "--ota-chunk-bytes", "--ota-allow-downgrade", "--faults",
      "--portal-port", "--dns-port", "--portal-timeout-ms", "--ap-password", "--server-trial-ms",
      "--serial", "--improv-url",
      "--log-level", "--log-format", "--engine", "--help",
    ],
    // The flag typed, never the config key it sets (config.telemetryIntervalMs).
    badValue: [["--telemetry-interval-ms", "5s"], '--telemetry-interval-ms must be an integer from 1000 to 86400000 (milliseconds), got "5s"'],
  },
  {
    script: "dist/hosts/node/start.js",
    base: [],
    prefix: "start",
    help: "npm start -- --help",
    flags: ["--port", "--tls", "--devices", "--help"],
    badValue: [["--port", "80x"], '--port must be an integer from 1 to 65535, got "80x"'],
  },
  {
    script: "dist/server/cli.js",
    base: [],
    prefix: "companion",
    help: "npm run server -- --help",
    flags: [
      "--host", "--port", "--json", "--stdin", "--max-boots", "--tls", "--tls-dir", "--cert", "--key",
      "--devices", "--add-device", "--remove-device", "--list-devices", "--ota", "--ota-rate", "--no-ack", "--no-pong",
      "--garbage", "--drop-after-ms", "--close-after-ms", "--close-code", "--close-reason", "--reject-status", "--help",
    ],
    badValue: [["--drop-after-ms", "1s"], '--drop-after-ms must be an integer from 0 to 86400000 (milliseconds), got "1s"'],
  },
  {
    script: "dist/tools/image.js",
    base: [],
    prefix: "image",
    help: "npm run image -- --help",
    flags: ["--version", "--out", "--target", "--binary", "--keys", "--from", "--help"],
    badValue: [["--version", "1.x", "--out", "/nonexistent/x.img"], '--version "1.x" is not a version: dotted numbers, an optional -suffix (0.2.0, 1.0.0-rc.1)'],
  },
  {
    script: "dist/hosts/node/echo-agent.js",
    base: ["ws://127.0.0.1:1/"],
    prefix: "echo-agent",
    help: "npm run -s echo-agent -- --help",
    flags: [
      "--max-message-bytes", "--max-frame-bytes", "--max-buffered-bytes", "--max-handshake-bytes", "--handshake-timeout-ms",
      "--close-timeout-ms", "--autobahn", "--verbose", "--ca", "--pin", "--insecure", "--engine", "--help",
    ],
    badValue: [["--handshake-timeout-ms", "10s"], '--handshake-timeout-ms must be an integer from 0 to 86400000 (milliseconds), got "10s"'],
  },
  {
    script: "dist/tools/monitor/cli.js",
    base: ["--port", "/dev/ttyMOORLINE-NONE"],
    prefix: "monitor",
    help: "npm run monitor -- --help",
    flags: ["--port", "--stdin", "--baud", "--raw", "--level", "--event", "--only-json", "--wait", "--color", "--no-color", "--help"],
    badValue: [["--level", "loud"], '--level must be debug, info, warn or error, got "loud"'],
  },
  {
    script: "dist/tools/provision/cli.js",
    base: ["--port", "/dev/ttyMOORLINE-NONE"],
    prefix: "provision",
    help: "npm run provision -- --help",
    flags: ["--port", "--ssid", "--password", "--scan", "--baud", "--timeout-ms", "--log", "--wait", "--help"],
    badValue: [["--timeout-ms", "5s"], '--timeout-ms must be an integer from 100 to 300000 (milliseconds), got "5s"'],
  },
];

/** The flags a --help text lists, in order ("  --name", "  -h, --name"). */
function listedFlags(help: string): string[] {
  return [...help.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((match) => match[1]!);
}

describe("command lines (hosts/node/cli.ts, as users run them)", function () {
  this.timeout(20_000);
  const children: Child[] = [];
  let folder: string;

  function run(script: string, args: string[]): Child {
    const child = node(script, args);
    children.push(child);
    return child;
  }

  beforeEach(() => (folder = mkdtempSync(join(tmpdir(), "moorline-cli-"))));
  afterEach(() => {
    for (const child of children.splice(0)) child.kill();
    rmSync(folder, { recursive: true, force: true });
  });

  for (const command of COMMANDS) {
    describe(command.prefix, function () {
      it("refuses an unknown flag in one line naming it as typed and where the help is, exit 2", async function () {
        const child = run(command.script, [...command.base, "--bogus=1"]);
        assert.deepEqual(await child.waitForExit(10_000), { code: 2, signal: null });
        assert.equal(child.stderr, `${command.prefix}: unknown option --bogus. Try '${command.help}'.\n`);
        assert.equal(child.stdout, "");
      });

      it("refuses a bad value naming the flag typed, exit 2", async function () {
        const [args, message] = command.badValue;
        const child = run(command.script, [...command.base, ...args]);
        assert.deepEqual(await child.waitForExit(10_000), { code: 2, signal: null });
        assert.equal(child.stderr, `${command.prefix}: ${message}. Try '${command.help}'.\n`);
      });

      it("lists every flag once in --help, and exits 0", async function () {
        const child = run(command.script, ["--help"]);
        assert.deepEqual(await child.waitForExit(10_000), { code: 0, signal: null });
        assert.deepEqual(listedFlags(child.stdout), command.flags);
        assert.equal(child.stderr, "");
      });
    });
  }

  describe("setup failures", function () {
    let taken: Server;
    let port: number;

    beforeEach(async () => {
      taken = createServer();
      port = await listenLoopback(taken);
    });
    afterEach(() => new Promise<void>((resolve) => taken.close(() => resolve())));

    for (const [prefix, script] of [["companion", "dist/server/cli.js"], ["start", "dist/hosts/node/start.js"]] as const) {
      it(`${prefix}: a port in use is one line without a stack trace, exit 1`, async function () {
        const child = run(script, ["--port", String(port)]);
        assert.deepEqual(await child.waitForExit(10_000), { code: 1, signal: null });
        assert.equal(child.stderr, `${prefix}: cannot listen on 127.0.0.1:${port}: the port is in use (EADDRINUSE)\n`);
      });
    }

    it("device: a --storage that is not a file is one line, exit 2 (nothing started)", async function () {
      const child = run("dist/hosts/node/device.js", ["--storage", folder]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(child.stderr, `device: --storage ${folder}: not a file. Try 'npm run device -- --help'.\n`);
      assert.equal(child.stdout, "");
    });

    it("start: checks the device's options before starting anything", async function () {
      const child = run("dist/hosts/node/start.js", ["--port", String(await closedPort()), "--", "--storage", folder]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(child.stderr, `start: the device's options (after "--"): --storage ${folder}: not a file. Try 'npm start -- --help'.\n`);
      assert.equal(child.stdout, "", "no server was started");
    });

    it("device: a --serial tty that does not exist says how to make one, exit 1", async function () {
      const tty = join(folder, "no-such-tty");
      const child = run("dist/hosts/node/device.js", ["--serial", tty, "--no-wifi"]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 1, signal: null });
      assert.equal(
        child.stderr,
        `device: --serial ${tty}: no such tty. To make a pair of connected ones:\n` +
          "  socat -d -d pty,raw,echo=0,link=/tmp/moorline-uart pty,raw,echo=0,link=/tmp/moorline-host\n" +
          "then --serial /tmp/moorline-uart here, and --port /tmp/moorline-host for npm run monitor or npm run provision.\n",
      );
      assert.equal(child.stdout, "", "nothing started");
    });

    it("device: a --serial that is not a tty is one line, exit 1", async function () {
      const file = join(folder, "plain-file");
      writeFileSync(file, "");
      const child = run("dist/hosts/node/device.js", ["--serial", file, "--no-wifi"]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 1, signal: null });
      assert.match(child.stderr, new RegExp(`^device: --serial ${file} is not a serial port \\(.*\\)\\.\\n$`));
    });

    it("provision: a port that does not exist is one line saying what to do, exit 1", async function () {
      const child = run("dist/tools/provision/cli.js", ["--port", join(folder, "ttyNONE")]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 1, signal: null });
      assert.equal(
        child.stderr,
        `provision: no serial port at ${join(folder, "ttyNONE")}.\n` +
          "Is the board plugged in? `npm run monitor` without --port lists the ports it can see;\n" +
          "--wait waits for this one to appear.\n",
      );
      assert.equal(child.stdout, "");
    });

    it("provision: --password without --ssid, an SSID over 32 bytes, are usage errors (the password never quoted)", async function () {
      const without = run("dist/tools/provision/cli.js", ["--port", "/dev/null", "--password", "hunter2"]);
      assert.deepEqual(await without.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(without.stderr, "provision: --password needs --ssid: the network it is for. Try 'npm run provision -- --help'.\n");
      const long = run("dist/tools/provision/cli.js", ["--port", "/dev/null", "--ssid", "x".repeat(33), "--password", "hunter2".repeat(10)]);
      assert.deepEqual(await long.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(long.stderr, "provision: --ssid must be 1 to 32 bytes, got 33. Try 'npm run provision -- --help'.\n");
      const secret = run("dist/tools/provision/cli.js", ["--port", "/dev/null", "--ssid", "home", "--password", "hunter2".repeat(10)]);
      assert.deepEqual(await secret.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(secret.stderr, "provision: --password must be at most 64 bytes, got 70. Try 'npm run provision -- --help'.\n");
    });

    it("device: a --ca that cannot be read is one line, exit 2", async function () {
      const child = run("dist/hosts/node/device.js", ["--url", "wss://127.0.0.1:1/", "--ca", join(folder, "none.pem")]);
      assert.deepEqual(await child.waitForExit(10_000), { code: 2, signal: null });
      assert.equal(child.stderr, `device: --ca: cannot read the CA file ${join(folder, "none.pem")}: no such file. Try 'npm run device -- --help'.\n`);
    });
  });

  for (const engine of ENGINES) {
    describe(`the device's log [${engine}]`, function () {
      useEngine(engine);

      /** The device against a closed port, until it has reported its first failed attempt. */
      async function deviceLog(args: string[]): Promise<Child> {
        const refused = await closedPort();
        const child = run("dist/hosts/node/device.js", [
          ...engineArgs(engine),
          ...["--url", `ws://127.0.0.1:${refused}/`, "--no-wifi", "--storage", join(folder, "d.json"), ...args],
        ]);
        await child.line(/ws_backoff/, 10_000, "the first failed attempt");
        child.kill("SIGTERM");
        await child.waitForExit(8000);
        return child;
      }

      it("is one JSON object a line when piped (what the monitor and scripts read)", async function () {
        const child = await deviceLog([]);
        const lines = child.stdout.trimEnd().split("\n");
        for (const line of lines) assert.match(line, /^\{"t":"[^"]+","level":"\w+","event":"\w+"/);
      });

      it("is readable with --log-format text: time, level, event, key=value", async function () {
        const child = await deviceLog(["--log-format", "text"]);
        assert.doesNotMatch(child.stdout, /^\{/m);
        assert.match(child.stdout, /^\d\d:\d\d:\d\d\.\d{3} info  device_start device=sim-1 firmware=\S+ url=ws:\/\/127\.0\.0\.1:\d+\/ wifi=none$/m);
        assert.match(child.stdout, /^\d\d:\d\d:\d\d\.\d{3} warn  ws_closed code=1006 reason="[^"]+"/m);
      });

      it("names the refused address once", async function () {
        const child = await deviceLog([]);
        const closed = child.stdout.split("\n").find((line) => line.includes('"event":"ws_closed"'))!;
        const reason = (JSON.parse(closed) as { reason: string }).reason;
        assert.match(reason, /^could not connect to 127\.0\.0\.1:\d+: connection refused$/);
      });

      it("a --telemetry-interval-ms typed at start wins over the value a server stored, and says so", async function () {
        const storage = join(folder, "d.json");
        writeFileSync(storage, JSON.stringify({ settings: { values: JSON.stringify({ telemetryIntervalMs: 2000 }) } }));
        const stored = await deviceLog([]);
        assert.match(stored.stdout, /"event":"setting_stored","key":"telemetryIntervalMs","value":2000/);
        const typed = await deviceLog(["--telemetry-interval-ms", "5000"]);
        assert.match(typed.stdout, /"event":"setting_explicit","key":"telemetryIntervalMs","value":5000,"stored":2000/);
        rmSync(storage, { force: true });
      });
    });
  }
});
