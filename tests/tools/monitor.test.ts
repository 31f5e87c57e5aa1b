/**
 * `npm run monitor` as a user runs it, against a real pseudo-terminal pair made by socat: the
 * monitor (a child process) opens one end as its serial port, the test writes what a device
 * would print into the other. Killing socat is the USB cable pulled; starting it again with
 * the same link names is the board plugged back in.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child, REPO_ROOT } from "../support/child-process.js";
import { needSocat, PtyPair } from "../support/pty.js";
import { closedPort, delay, until } from "../support/wait.js";

const CLI = join(REPO_ROOT, "dist", "tools", "monitor", "cli.js");
/** Waits in these tests are bounded by these, ms; each normally takes a few hundred. */
const START_MS = 5_000;
const SEE_MS = 3_000;

/** A local time stamp as the monitor prints it before each line. */
const STAMP = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

function monitor(args: readonly string[]): Child {
  // NO_COLOR: stdout is a pipe anyway, but the user's environment must not matter here.
  return new Child(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: "1" } });
}

/** Waits for `pattern` in the monitor's stderr (its own status lines). */
async function status(child: Child, pattern: RegExp, what: string, ms = START_MS): Promise<void> {
  const ended = (): boolean => child.process.exitCode !== null || child.process.signalCode !== null;
  await until(() => pattern.test(child.stderr) || ended(), ms, `${what} (stderr: ${JSON.stringify(child.stderr)})`);
  assert.match(child.stderr, pattern, `${what}: the monitor exited first`);
}

/** Waits for a stdout line matching `pattern`. */
function shows(child: Child, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  return child.line(pattern, SEE_MS, what);
}

/** Stops the monitor as Ctrl-C does and checks it exits 0. */
async function interrupt(child: Child): Promise<void> {
  child.kill("SIGINT");
  const exit = await child.waitForExit(START_MS, "the monitor to exit after SIGINT");
  assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${child.stderr}`);
}

/** A JSON log line as the firmware writes it (createJsonLog). */
function record(level: string, event: string, fields: Record<string, unknown> = {}, t = "2026-01-01T10:00:00.123Z"): string {
  return JSON.stringify({ t, level, event, ...fields }) + "\n";
}

describe("npm run monitor", function () {
  this.timeout(10_000);

  describe("on a serial port (a socat pty pair)", function () {
    let dir: string;
    let pty: PtyPair;
    let child: Child | undefined;

    before(function () {
      needSocat(this);
    });

    beforeEach(async function () {
      dir = mkdtempSync(join(tmpdir(), "moorline-monitor-"));
      pty = new PtyPair(dir);
      await pty.start();
    });

    afterEach(async function () {
      child?.kill();
      child = undefined;
      await pty.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Starts the monitor on the pty and waits until it has the port open. */
    async function watch(...args: string[]): Promise<Child> {
      child = monitor(["--port", pty.dev, ...args]);
      await status(child, /open at 115200 baud/, "the monitor to open the port");
      return child;
    }

    it("prints each line with the local time, the firmware's JSON log lines made readable, other lines as they are", async function () {
      const mon = await watch();
      pty.write("ets Jun  8 2016 00:22:57\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n");
      pty.write(record("info", "ws_open", { url: "ws://10.0.0.2:8080/", attempt: 2, note: "hello world", rtt: { ms: 12 } }));
      await shows(mon, new RegExp(`^${STAMP} 10:00:00\\.123 info  ws_open url=ws://10\\.0\\.0\\.2:8080/ attempt=2 note="hello world" rtt=\\{"ms":12\\}$`), "the log line");
      assert.match(mon.stdout, new RegExp(`^${STAMP} ets Jun  8 2016 00:22:57\n${STAMP} rst:0x1 \\(POWERON_RESET\\),boot:0x13\n`));
      assert.doesNotMatch(mon.stdout, /\r/, "no carriage return reaches the terminal");
      await interrupt(mon);
    });

    it("colours the level with --color", async function () {
      const mon = await watch("--color");
      pty.write(record("error", "ws_error", { code: "EPROTO" }));
      const [line] = await shows(mon, /^.*ws_error.*$/, "the log line");
      assert.ok(line!.includes("\x1b[31merror\x1b[0m"), `error in red: ${JSON.stringify(line)}`);
      await interrupt(mon);
    });

    it("--raw prints the bytes exactly as received", async function () {
      const mon = await watch("--raw");
      const sent = "boot: ROM\r\n" + record("info", "hello", { n: 1 }) + "\xe9t\xe9\n";
      pty.write(sent);
      await until(() => mon.stdout.length >= sent.length, SEE_MS, `all bytes (stdout: ${JSON.stringify(mon.stdout)})`);
      assert.equal(mon.stdout, sent);
      await interrupt(mon);
    });

    it("--level warn shows warn and error log lines, and every non-JSON line", async function () {
      const mon = await watch("--level", "warn");
      pty.write(record("debug", "tick") + record("info", "ws_open") + "Guru Meditation Error: Core 0 panic'ed\n");
      pty.write(record("warn", "ws_slow") + record("error", "ws_failed"));
      await shows(mon, /ws_failed/, "the error line");
      const shown = mon.stdout.trimEnd().split("\n").map((line) => line.replace(new RegExp(`^${STAMP} `), ""));
      assert.deepEqual(shown, [
        "Guru Meditation Error: Core 0 panic'ed",
        "10:00:00.123 warn  ws_slow",
        "10:00:00.123 error ws_failed",
      ]);
      await interrupt(mon);
    });

    it("--event takes name prefixes and regular expressions, repeatable; --only-json hides the rest", async function () {
      const mon = await watch("--event", "ws_", "--event", "^boot$", "--only-json");
      pty.write("rst:0x1 (POWERON_RESET)\n" + record("info", "wifi_up") + record("info", "ws_open") + record("info", "boot") + record("info", "booted"));
      pty.write(record("info", "ws_close"));
      await shows(mon, /ws_close/, "the last matching event");
      const events = mon.stdout.trimEnd().split("\n").map((line) => line.split(/ +/)[3]);
      assert.deepEqual(events, ["ws_open", "boot", "ws_close"]);
      await interrupt(mon);
    });

    it("shows a line cut short by a reset after a short silence, then the garbage and the boot that follow", async function () {
      const mon = await watch();
      pty.write('{"t":"2026-01-01T10:00:00.123Z","level":"info","event":"ws_cl');
      await shows(mon, new RegExp(`^${STAMP} \\{"t":.*"event":"ws_cl \\[no end of line\\]$`), "the partial line, flushed when idle");
      // A reset: garbage at the wrong speed (with an escape that must not reach the terminal),
      // the ROM's banner, then the firmware again.
      pty.write(Buffer.from([0xff, 0x00, 0x1b, 0x5b, 0x32, 0x4a, 0x0d, 0x0a]));
      pty.write("ets Jun  8 2016 00:22:57\r\n" + record("info", "boot", { reason: "power-on" }, "2026-01-01T10:00:05.000Z"));
      await shows(mon, /10:00:05\.000 info  boot reason=power-on$/, "the first log line after the reset");
      assert.match(mon.stdout, new RegExp(`\n${STAMP} \uFFFD\\\\x00\\\\x1b\\[2J\n${STAMP} ets Jun  8 2016`));
      assert.doesNotMatch(mon.stdout, /\x1b/, "no escape sequence from the device reaches the terminal");
      await interrupt(mon);
    });

    it("separates a log line from a partial line it is glued to when the reset was too quick to notice", async function () {
      const mon = await watch();
      pty.write('{"t":"2026-01-01T10:00:00.123Z","level":"warn","event":"ws_cl\xff' + record("error", "panic_reboot", {}, "2026-01-01T10:00:00.200Z"));
      await shows(mon, new RegExp(`^${STAMP} 10:00:00\\.200 error panic_reboot$`), "the log line on its own");
      assert.match(mon.stdout, new RegExp(`^${STAMP} \\{"t":.*"event":"ws_cl\xff\n`));
      await interrupt(mon);
    });

    it("cuts a line longer than 64 KiB and marks the cut", async function () {
      const mon = await watch();
      pty.write("x".repeat(70_000) + "\n" + record("info", "after"));
      await shows(mon, /info  after$/, "the line after the long one");
      const lines = mon.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 3);
      assert.match(lines[0]!, new RegExp(`^${STAMP} x{65536} \\[cut at 65536 bytes; continues on the next line\\]$`));
      assert.match(lines[1]!, new RegExp(`^${STAMP} \\[continued\\] x{4464}$`));
      await interrupt(mon);
    });

    it("says when the port goes away and when it is back, and keeps printing", async function () {
      this.timeout(15_000);
      const mon = await watch();
      pty.write(record("info", "before"));
      await shows(mon, /info  before$/, "a line before the unplug");
      await pty.stop();
      await status(mon, /port \S+\/dev gone, waiting\.\.\./, "the monitor to notice the port is gone");
      await delay(700); // more than one poll finding nothing
      assert.equal(mon.process.exitCode, null, "the monitor is still running");
      await pty.start();
      await status(mon, /reconnected to \S+\/dev/, "the monitor to reconnect");
      pty.write(record("info", "after", { uptime: 1 }));
      await shows(mon, /info  after uptime=1$/, "a line after the port came back");
      await interrupt(mon);
    });

    it("waits for a port that does not exist yet with --wait", async function () {
      await pty.stop();
      const mon = monitor(["--port", pty.dev, "--wait"]);
      child = mon;
      await status(mon, /waiting for \S+\/dev\.\.\./, "the monitor to wait");
      await pty.start();
      await status(mon, /open at 115200 baud/, "the monitor to open the port once it exists");
      pty.write(record("info", "hello"));
      await shows(mon, /info  hello$/, "a line");
      await interrupt(mon);
    });

    it("closes the port and exits 0 on Ctrl-C (SIGINT) and on SIGTERM", async function () {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const mon = await watch();
        mon.kill(signal);
        assert.deepEqual(await mon.waitForExit(START_MS), { code: 0, signal: null }, `${signal}; stderr: ${mon.stderr}`);
        assert.match(mon.stderr, /monitor: closed \S+\/dev/);
      }
      // Closed means unlocked: another monitor can have the port at once.
      const again = await watch();
      await interrupt(again);
    });

    it("refuses a port another monitor has open, and says why", async function () {
      const first = await watch();
      const second = monitor(["--port", pty.dev]);
      const exit = await second.waitForExit(START_MS);
      assert.equal(exit.code, 1);
      assert.match(second.stderr, /is in use by another program/);
      await interrupt(first);
    });

    it("explains permission denied with the dialout group", async function () {
      if (process.getuid?.() === 0) {
        console.log("      (skipped: root may open any port)");
        this.skip();
      }
      chmodSync(realpathSync(pty.dev), 0o000);
      const mon = monitor(["--port", pty.dev]);
      child = mon;
      const exit = await mon.waitForExit(START_MS);
      assert.equal(exit.code, 1);
      assert.match(mon.stderr, /permission denied opening .*\n.*group[\s\S]*sudo usermod -aG \S+ \$USER/);
    });
  });

  describe("without a serial port", function () {
    it("lists the serial ports it can see when given no --port, and exits 0", async function () {
      const mon = monitor([]);
      const exit = await mon.waitForExit(START_MS);
      assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${mon.stderr}`);
      // This machine may have any ports or none: either a listing or the advice for none.
      assert.match(mon.stdout, /^Serial ports:\n {2}\S+ |^No (USB )?serial ports found\.\n[\s\S]*dialout/);
    });

    it("fails with exit 1 and says what to do for a port that does not exist", async function () {
      const mon = monitor(["--port", "/dev/ttyMOORLINE-NONE"]);
      const exit = await mon.waitForExit(START_MS);
      assert.equal(exit.code, 1);
      assert.match(mon.stderr, /^monitor: no serial port at \/dev\/ttyMOORLINE-NONE\.\n.*without --port lists the ports[\s\S]*--wait/);
      assert.equal(mon.stdout, "");
    });

    it("fails with exit 1 for a file that is not a serial port", async function () {
      const dir = mkdtempSync(join(tmpdir(), "moorline-monitor-"));
      try {
        const file = join(dir, "notes.txt");
        writeFileSync(file, "not a tty\n");
        const mon = monitor(["--port", file]);
        const exit = await mon.waitForExit(START_MS);
        assert.equal(exit.code, 1);
        assert.match(mon.stderr, /notes\.txt is not a serial port/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("exits 2 for bad arguments, in one line naming the flag", async function () {
      const mon = monitor(["--port", "/dev/ttyUSB0", "--baud", "fast"]);
      const exit = await mon.waitForExit(START_MS);
      assert.equal(exit.code, 2);
      assert.equal(mon.stderr, `monitor: --baud must be an integer from 50 to 12000000, got "fast". Try 'npm run monitor -- --help'.\n`);
    });
  });

  describe("reading a pipe (--stdin)", function () {
    it("renders the lines as from a serial port, and exits 0 when the input ends", async function () {
      const mon = monitor(["--stdin"]);
      mon.process.stdin!.write(record("info", "ws_open", { url: "ws://h/", attempt: 2 }));
      mon.process.stdin!.write("rst:0x1 (POWERON_RESET)\n");
      mon.process.stdin!.end(record("warn", "ws_slow", { ms: 900 }).trimEnd());
      assert.deepEqual(await mon.waitForExit(START_MS), { code: 0, signal: null }, `stderr: ${mon.stderr}`);
      const lines = mon.stdout.trimEnd().split("\n");
      assert.equal(lines.length, 3, mon.stdout);
      assert.match(lines[0]!, new RegExp(`^${STAMP} 10:00:00\\.123 info  ws_open url=ws://h/ attempt=2$`));
      assert.match(lines[1]!, new RegExp(`^${STAMP} rst:0x1 \\(POWERON_RESET\\)$`));
      assert.match(lines[2]!, new RegExp(`^${STAMP} 10:00:00\\.123 warn  ws_slow ms=900 \\[no end of line\\]$`), "the last line had no newline");
    });

    it("takes the filters, and --port - as the same", async function () {
      const mon = monitor(["--port", "-", "--level", "warn"]);
      mon.process.stdin!.end(record("info", "hidden") + record("error", "shown"));
      assert.deepEqual(await mon.waitForExit(START_MS), { code: 0, signal: null });
      assert.match(mon.stdout, new RegExp(`^${STAMP} 10:00:00\\.123 error shown\n$`));
    });

    it("shows the simulated device's log piped into it: npm run -s device | npm run monitor -- --stdin", async function () {
      const dir = mkdtempSync(join(tmpdir(), "moorline-monitor-"));
      const device = spawn(
        process.execPath,
        [join(REPO_ROOT, "dist", "hosts", "node", "device.js"), "--url", `ws://127.0.0.1:${await closedPort()}/`, "--no-wifi", "--storage", join(dir, "d.json")],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      const mon = monitor(["--stdin"]);
      device.stdout!.pipe(mon.process.stdin!);
      try {
        await shows(mon, new RegExp(`^${STAMP} ${STAMP} info  device_start device=sim-1 `), "the device's start, readable");
        await shows(mon, /warn {2}ws_closed code=1006 reason="could not connect to 127\.0\.0\.1:\d+: connection refused"/, "its failed attempt");
        device.kill("SIGTERM");
        assert.deepEqual(await mon.waitForExit(START_MS, "the monitor to end with its input"), { code: 0, signal: null });
        assert.match(mon.stdout, /info {2}device_stopped device=sim-1$/m);
      } finally {
        device.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
