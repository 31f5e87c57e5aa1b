/**
 * The SDK wrappers (tools/moddable.ts: npm run build:esp32, flash, erase, chip-info, sim,
 * check:moddable), run as a user runs them: as a child process, with an environment scrubbed
 * of everything but what each case gives it. A fake `mcconfig` and a fake `esptool.py`, first
 * on a scratch PATH, record their arguments, so the exact command lines are checked without
 * the SDK or ESP-IDF.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { DEFAULT_KEYS_DIR, readPublicKey } from "../../hosts/node/firmware-keys.js";
import { hostPlatform } from "../../tools/moddable.js";
import { REPO_ROOT } from "../support/child-process.js";

const CLI = join(REPO_ROOT, "dist", "tools", "moddable.js");

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** What the fake tools were called with, in order. */
  calls: Call[];
}

interface Call {
  tool: string;
  argv: string[];
  env: Record<string, string | undefined>;
}

/** A scratch world: a project checkout, an SDK, an ESP-IDF, and directories for PATH. */
class World {
  readonly dir = mkdtempSync(join(tmpdir(), "moorline-moddable-"));
  readonly root = join(this.dir, "project");
  readonly moddable = join(this.dir, "moddable");
  readonly idf = join(this.dir, "esp-idf");
  /** Tools on PATH: the fake mcconfig, esptool.py, mcsim. */
  readonly bin = join(this.dir, "bin");
  readonly record = join(this.dir, "calls.jsonl");

  constructor() {
    mkdirSync(join(this.root, "node_modules", ".bin"), { recursive: true });
    writeFileSync(join(this.root, "manifest.json"), "{}\n");
    mkdirSync(join(this.moddable, "tools"), { recursive: true });
    mkdirSync(join(this.moddable, "build", "bin", hostPlatform(), "release"), { recursive: true });
    mkdirSync(join(this.idf, "tools"), { recursive: true });
    writeFileSync(join(this.idf, "tools", "idf.py"), "# fake\n");
    mkdirSync(this.bin);
    this.fake(join(this.bin, "mcconfig"), "mcconfig");
    this.fake(join(this.bin, "esptool.py"), "esptool.py");
    // The project's pinned TypeScript, as npm ci leaves it.
    this.fake(join(this.root, "node_modules", ".bin", "tsc"), "tsc");
  }

  /** A script that appends its argv and environment to the record, then exits $FAKE_EXIT. */
  fake(path: string, tool: string): void {
    writeFileSync(
      path,
      `#!${process.execPath}\n` +
        `const fs = require("node:fs");\n` +
        `fs.appendFileSync(${JSON.stringify(this.record)}, JSON.stringify({ tool: ${JSON.stringify(tool)}, argv: process.argv.slice(2), env: { MODDABLE: process.env.MODDABLE, PATH: process.env.PATH, UPLOAD_PORT: process.env.UPLOAD_PORT } }) + "\\n");\n` +
        `process.exit(Number(process.env.FAKE_EXIT || 0));\n`,
    );
    chmodSync(path, 0o755);
  }

  /** Runs the CLI with only `env` (plus HOME and the scratch project) in its environment. */
  run(args: string[], env: Record<string, string>): Run {
    rmSync(this.record, { force: true });
    const result = spawnSync(process.execPath, [CLI, ...args], {
      cwd: this.dir,
      env: { HOME: this.dir, MOORLINE_ROOT: this.root, ...env },
      encoding: "utf8",
      timeout: 20_000,
    });
    const calls = existsSync(this.record)
      ? readFileSync(this.record, "utf8")
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Call)
      : [];
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
  }

  /** An environment with the SDK, ESP-IDF and the fake tools ready. */
  ready(extra: Record<string, string> = {}): Record<string, string> {
    return { PATH: this.bin, MODDABLE: this.moddable, IDF_PATH: this.idf, ...extra };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The update key a build passed (config otaPublicKey): the project's, made on first use. */
  updateKey(): string {
    return readPublicKey(join(this.root, DEFAULT_KEYS_DIR))!.base64;
  }
}

describe("SDK wrappers (tools/moddable.ts)", function () {
  this.timeout(60_000);
  let world: World;
  let manifest: string;

  beforeEach(function () {
    if (process.platform === "win32") this.skip(); // the fakes are shebang scripts
    world = new World();
    manifest = join(world.root, "manifest.json");
  });
  afterEach(function () {
    world?.remove();
  });

  describe("without the Moddable SDK", function () {
    it("check:moddable says it skips and exits 0 when $MODDABLE is not set", function () {
      const run = world.run(["check:moddable"], { PATH: world.bin });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /\$MODDABLE is not set: skipping/);
      assert.deepEqual(run.calls, []);
    });

    for (const command of ["build:esp32", "flash", "sim"]) {
      it(`${command} fails with exit 1 naming $MODDABLE and where to get the SDK`, function () {
        const run = world.run([command], { PATH: world.bin, IDF_PATH: world.idf });
        assert.equal(run.status, 1);
        assert.match(run.stderr, new RegExp(`^${command}: \\$MODDABLE is not set`));
        assert.match(run.stderr, /github\.com\/Moddable-OpenSource\/moddable/);
        assert.match(run.stderr, /export MODDABLE=/);
        assert.deepEqual(run.calls, []);
      });
    }

    it("names a $MODDABLE that does not exist", function () {
      const run = world.run(["sim"], { PATH: world.bin, MODDABLE: join(world.dir, "nowhere") });
      assert.equal(run.status, 1);
      assert.match(run.stderr, /\$MODDABLE is .*nowhere, which is not a directory/);
    });

    it("names a $MODDABLE that is not the SDK", function () {
      const run = world.run(["sim"], { PATH: world.bin, MODDABLE: world.bin });
      assert.equal(run.status, 1);
      assert.match(run.stderr, /which is not the Moddable SDK \(no tools\/ and build\/ in it\)/);
    });

    it("says how to build the SDK's tools when mcconfig is nowhere", function () {
      const run = world.run(["sim"], { PATH: join(world.dir, "empty"), MODDABLE: world.moddable });
      assert.equal(run.status, 1);
      assert.match(run.stderr, /mcconfig was not found on PATH nor in .*build\/bin\/\w+\/release/);
      assert.match(run.stderr, /cd .*build\/makefiles\/\w+ && make/);
    });

    it("finds mcconfig in $MODDABLE/build/bin/<os>/release when it is not on PATH", function () {
      const sdkBin = join(world.moddable, "build", "bin", hostPlatform(), "release");
      world.fake(join(sdkBin, "mcconfig"), "mcconfig");
      const run = world.run(["sim"], { PATH: join(world.dir, "empty"), MODDABLE: world.moddable });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.calls.length, 1);
      assert.ok(run.calls[0]!.env.PATH!.split(delimiter).includes(sdkBin));
    });
  });

  describe("without tsc", function () {
    it("fails with exit 1 naming tsc and npm ci, before running mcconfig", function () {
      rmSync(join(world.root, "node_modules"), { recursive: true });
      const run = world.run(["check:moddable"], world.ready());
      assert.equal(run.status, 1);
      assert.match(run.stderr, /tsc \(TypeScript\) was not found/);
      assert.match(run.stderr, /npm ci/);
      assert.deepEqual(run.calls, []);
    });

    it("uses a tsc found on PATH when the project has none", function () {
      rmSync(join(world.root, "node_modules"), { recursive: true });
      world.fake(join(world.bin, "tsc"), "tsc");
      const run = world.run(["check:moddable"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.calls.length, 2);
    });
  });

  describe("without ESP-IDF", function () {
    for (const command of ["build:esp32", "flash", "erase", "chip-info"]) {
      it(`${command} fails with exit 1 naming $IDF_PATH and export.sh`, function () {
        const env = world.ready();
        delete env.IDF_PATH;
        const run = world.run([command], env);
        assert.equal(run.status, 1);
        assert.match(run.stderr, new RegExp(`^${command}: \\$IDF_PATH is not set`));
        assert.match(run.stderr, /source \$IDF_PATH\/export\.sh/);
        assert.deepEqual(run.calls, []);
      });
    }

    it("names an $IDF_PATH that is not ESP-IDF", function () {
      const run = world.run(["build:esp32"], world.ready({ IDF_PATH: world.bin }));
      assert.equal(run.status, 1);
      assert.match(run.stderr, /\$IDF_PATH is .*bin, which is not an ESP-IDF checkout \(no tools\/idf\.py in it\)/);
    });

    it("erase says to source export.sh when esptool is not on PATH", function () {
      rmSync(join(world.bin, "esptool.py"));
      const run = world.run(["erase"], world.ready());
      assert.equal(run.status, 1);
      assert.match(run.stderr, /esptool was not found on PATH/);
      assert.match(run.stderr, /export\.sh/);
    });

    it("check:moddable needs no ESP-IDF", function () {
      const run = world.run(["check:moddable"], { PATH: world.bin, MODDABLE: world.moddable });
      assert.equal(run.status, 0, run.stderr);
    });
  });

  describe("command lines", function () {
    it("build:esp32 runs a release build of the manifest, with the WiFi and server passed through", function () {
      const run = world.run(
        ["build:esp32", "--ssid", "Home Net", "--password", "s3cret pass", "--url", "ws://10.0.0.2:8080/device", "telemetryIntervalMs=5000", "--", "-v"],
        world.ready(),
      );
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.calls.length, 1);
      const call = run.calls[0]!;
      assert.equal(call.tool, "mcconfig");
      assert.deepEqual(call.argv, [
        "-m", "-p", "esp32", "-t", "build", manifest,
        "ssid=Home Net", "password=s3cret pass", "url=ws://10.0.0.2:8080/device", "telemetryIntervalMs=5000", `otaPublicKey=${world.updateKey()}`, "-v",
      ]);
      assert.equal(call.env.MODDABLE, world.moddable);
      // The project's own tsc comes first on mcconfig's PATH.
      assert.equal(call.env.PATH!.split(delimiter)[0], join(world.root, "node_modules", ".bin"));
    });

    it("prints the command it runs with the password masked", function () {
      const run = world.run(["build:esp32", "--ssid", "Home", "--password", "s3cret pass", "authToken=tok123"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /^\$ mcconfig -m -p esp32 -t build \S+manifest\.json ssid=Home 'password=\*\*\*\*' 'authToken=\*\*\*\*' otaPublicKey=\S+$/m);
      assert.doesNotMatch(run.stderr + run.stdout, /s3cret|tok123/);
    });

    it("takes ssid, password, url and device id from the environment, the command line winning", function () {
      const run = world.run(
        ["build:esp32", "--url", "ws://192.168.1.5:9000/"],
        world.ready({ MOORLINE_SSID: "EnvNet", MOORLINE_PASSWORD: "envpass1", MOORLINE_URL: "ws://10.9.9.9/", MOORLINE_DEVICE_ID: "kitchen-1" }),
      );
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.calls[0]!.argv.slice(6), ["ssid=EnvNet", "password=envpass1", "url=ws://192.168.1.5:9000/", "deviceId=kitchen-1", `otaPublicKey=${world.updateKey()}`]);
    });

    it("builds the project's update key in (made on first use, the one npm run image signs with), unless otaPublicKey is given", function () {
      const first = world.run(["build:esp32"], world.ready());
      assert.equal(first.status, 0, first.stderr);
      assert.match(first.stderr, /note: the update key [0-9a-f]{16} \(.*ota-signing-key\.pem, made now\) is built in/);
      assert.ok(first.calls[0]!.argv.includes(`otaPublicKey=${world.updateKey()}`));
      const again = world.run(["build:esp32"], world.ready());
      assert.doesNotMatch(again.stderr, /made now/);
      assert.ok(again.calls[0]!.argv.includes(`otaPublicKey=${world.updateKey()}`), "the same key");
      const own = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 1)]).toString("base64");
      const given = world.run(["build:esp32", `otaPublicKey=${own}`], world.ready());
      assert.equal(given.calls[0]!.argv.filter((arg) => arg.startsWith("otaPublicKey=")).length, 1);
      assert.ok(given.calls[0]!.argv.includes(`otaPublicKey=${own}`));
    });

    it("build:esp32 without an ssid builds, with a note that only saved networks will be tried", function () {
      const run = world.run(["build:esp32"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stderr, /no --ssid: the device tries the WiFi networks saved in its storage; with none that works it opens its setup portal/);
    });

    it("flash is a debug build that flashes (mcconfig -d -m -p esp32), the port given as UPLOAD_PORT", function () {
      const run = world.run(["flash", "--port", "/dev/ttyUSB1", "--ssid", "Home", "--password", "pw123456"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.calls[0]!.argv, ["-d", "-m", "-p", "esp32", manifest, "ssid=Home", "password=pw123456", `otaPublicKey=${world.updateKey()}`]);
      assert.equal(run.calls[0]!.env.UPLOAD_PORT, "/dev/ttyUSB1");
    });

    it("flash --release drops -d, and --platform picks an ESP32 variant", function () {
      const run = world.run(["flash", "--release", "--platform", "esp32/esp32c3"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.calls[0]!.argv, ["-m", "-p", "esp32/esp32c3", manifest, `otaPublicKey=${world.updateKey()}`]);
    });

    it("erase runs esptool.py erase_flash on the given port", function () {
      const run = world.run(["erase", "--port", "/dev/ttyUSB0"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(
        run.calls.map((call) => [call.tool, ...call.argv]),
        [["esptool.py", "--port", "/dev/ttyUSB0", "erase_flash"]],
      );
    });

    it("chip-info runs esptool.py chip_id then flash_id (the port from UPLOAD_PORT)", function () {
      const run = world.run(["chip-info"], world.ready({ UPLOAD_PORT: "/dev/ttyACM0" }));
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(
        run.calls.map((call) => call.argv),
        [
          ["--port", "/dev/ttyACM0", "chip_id"],
          ["--port", "/dev/ttyACM0", "flash_id"],
        ],
      );
    });

    it("sim builds and launches the simulator for this OS (mcconfig -d -m -p <os>)", function () {
      const run = world.run(["sim", "url=ws://127.0.0.1:9001/"], { PATH: world.bin, MODDABLE: world.moddable });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.calls[0]!.argv, ["-d", "-m", "-p", hostPlatform(), manifest, "url=ws://127.0.0.1:9001/"]);
    });

    it("sim --headless builds a release and runs it in mcsim, under xvfb-run without a display", function () {
      if (hostPlatform() !== "lin") this.skip();
      world.fake(join(world.bin, "mcsim"), "mcsim");
      world.fake(join(world.bin, "xvfb-run"), "xvfb-run");
      const run = world.run(["sim", "--headless", "deviceId=sim-7"], { PATH: world.bin, MODDABLE: world.moddable });
      assert.equal(run.status, 0, run.stderr);
      const library = join(world.moddable, "build", "bin", "lin", "mc", "release", "project", "mc.so");
      assert.deepEqual(
        run.calls.map((call) => [call.tool, ...call.argv]),
        [
          ["mcconfig", "-m", "-p", "lin", "-t", "build", manifest, "deviceId=sim-7"],
          ["xvfb-run", "-a", join(world.bin, "mcsim"), library],
        ],
      );
    });

    it("sim --headless says to install Xvfb when there is no display and no xvfb-run", function () {
      if (hostPlatform() !== "lin") this.skip();
      world.fake(join(world.bin, "mcsim"), "mcsim");
      const run = world.run(["sim", "--headless"], { PATH: world.bin, MODDABLE: world.moddable });
      assert.equal(run.status, 1);
      assert.match(run.stderr, /no display .* xvfb-run was not found: install Xvfb \(Debian: apt-get install xvfb xauth\)/);
      assert.deepEqual(run.calls, []);
    });

    it("check:moddable builds for the simulator, then generates the ESP32 build", function () {
      const run = world.run(["check:moddable"], { PATH: world.bin, MODDABLE: world.moddable });
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(
        run.calls.map((call) => call.argv),
        [
          ["-m", "-p", hostPlatform(), "-t", "build", manifest],
          ["-p", "esp32", manifest],
        ],
      );
    });

    it("passes ca=NAME to mcconfig when certs/NAME.der is in the project", function () {
      mkdirSync(join(world.root, "certs"));
      writeFileSync(join(world.root, "certs", "home-ca.der"), Uint8Array.of(0x30));
      const run = world.run(["build:esp32", "--url", "wss://10.0.0.2:8443/", "ca=home-ca"], world.ready());
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(run.calls[0]!.argv.slice(-3), ["url=wss://10.0.0.2:8443/", "ca=home-ca", `otaPublicKey=${world.updateKey()}`]);
    });

    it("exits with mcconfig's status when the build fails, running nothing after it", function () {
      const run = world.run(["check:moddable"], { PATH: world.bin, MODDABLE: world.moddable, FAKE_EXIT: "3" });
      assert.equal(run.status, 3);
      assert.equal(run.calls.length, 1);
    });
  });

  describe("bad arguments (exit 2, nothing run)", function () {
    const cases: Array<[string, string[], RegExp]> = [
      ["an unknown command", ["deploy"], /unknown command "deploy"/],
      ["an unknown option", ["build:esp32", "--ssdi", "x"], /unknown option --ssdi/],
      ["an option without its value", ["build:esp32", "--url"], /--url needs a value/],
      ["a URL the firmware would refuse", ["build:esp32", "--url", "http://10.0.0.2/"], /invalid WebSocket URL "http:\/\/10\.0\.0\.2\/"/],
      ["a number the firmware would refuse", ["build:esp32", "telemetryIntervalMs=5s"], /config\.telemetryIntervalMs/],
      ["an SSID over 32 characters", ["build:esp32", "--ssid", "x".repeat(33)], /^build:esp32: --ssid must be a string of at most 32 characters/],
      ["text that is not key=value", ["build:esp32", "hello"], /"hello" is not key=value/],
      ["a platform that is not an ESP32", ["flash", "--platform", "esp8266"], /--platform must be esp32/],
      ["--release on build:esp32", ["build:esp32", "--release"], /--release is for flash only/],
      ["config values for erase", ["erase", "--ssid", "x"], /erase takes no config values/],
    ];
    for (const [what, args, message] of cases) {
      it(`refuses ${what}`, function () {
        const run = world.run(args, world.ready());
        assert.equal(run.status, 2);
        assert.match(run.stderr, message);
        assert.deepEqual(run.calls, []);
      });
    }

    it("refuses ca=NAME when certs/NAME.der is not in the project, saying how to convert a PEM CA", function () {
      mkdirSync(join(world.root, "certs"));
      writeFileSync(join(world.root, "certs", "home-ca.pem"), "-----BEGIN CERTIFICATE-----\n");
      const run = world.run(["build:esp32", "--url", "wss://10.0.0.2:8443/", "ca=home-ca"], world.ready());
      assert.equal(run.status, 2);
      assert.match(run.stderr, /ca=home-ca names certs\/home-ca\.der, which is not in /);
      assert.match(run.stderr, /openssl x509 -in certs\/home-ca\.pem -outform der -out certs\/home-ca\.der/);
      assert.deepEqual(run.calls, []);
    });

    it("never shows the password in an error", function () {
      const run = world.run(["build:esp32", "--password", "x".repeat(65)], world.ready());
      assert.equal(run.status, 2);
      assert.match(run.stderr, /--password must be a string of at most 64 characters/);
      assert.doesNotMatch(run.stderr, /xxxxxxxx/);
    });

    it("prints the usage for --help and exits 0", function () {
      const run = world.run(["--help"], {});
      assert.equal(run.status, 0);
      assert.match(run.stdout, /^Usage: npm run <command>/);
      assert.match(run.stdout, /check:moddable/);
    });
  });
});
