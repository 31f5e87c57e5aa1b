/**
 * The command-line layer (hosts/node/cli.ts) every desktop command parses its flags with:
 * one table per command, one parser, one --help layout, one usage-error style. The commands
 * themselves, as child processes, are in command-lines.test.ts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  fileProblem,
  HELP_FLAG,
  flagErrorMessage,
  formatHelp,
  listenProblem,
  parseFlags,
  readFlagFile,
  usageLine,
  UsageError,
  wantsColour,
  type CommandSpec,
  type Flag,
} from "../../../hosts/node/cli.js";
import { parseDeviceConfig } from "../../../src/device/config.js";

const FLAGS: readonly Flag[] = [
  { name: "url", value: "URL", key: "url", help: "the server" },
  { name: "count", value: "N", integer: { min: 1, max: 10, unit: "milliseconds" }, help: "how many\nsecond line" },
  { name: "mode", value: "M", choices: ["a", "b"], help: "a or b", section: "Modes:" },
  { name: "pin", value: "P", repeatable: true, key: "pins", help: "repeatable" },
  { name: "quiet", help: "a switch" },
  HELP_FLAG,
];

const SPEC: CommandSpec = {
  name: "tool",
  helpCommand: "tool --help",
  usage: "Usage: tool [options] [ARG]",
  description: "Does things.",
  flags: FLAGS,
  maxPositionals: 1,
  footer: "Exit status: 0.",
};

function refused(argv: string[], spec: CommandSpec = SPEC): string {
  try {
    parseFlags(spec, argv);
  } catch (error) {
    assert.ok(error instanceof UsageError, `a UsageError, got ${String(error)}`);
    return error.message;
  }
  assert.fail(`${argv.join(" ")} was accepted`);
}

describe("command-line layer (hosts/node/cli.ts)", function () {
  describe("parseFlags", function () {
    it("takes --name value, --name=value; integers as numbers; repeatable flags as lists; one positional", function () {
      const parsed = parseFlags(SPEC, ["--url", "ws://h/", "--count=7", "--pin", "a", "--pin=b", "--quiet", "arg"]);
      assert.equal(parsed.values.get("url"), "ws://h/");
      assert.equal(parsed.values.get("count"), 7);
      assert.deepEqual(parsed.values.get("pin"), ["a", "b"]);
      assert.equal(parsed.values.get("quiet"), true);
      assert.equal(parsed.help, false);
      assert.deepEqual(parsed.positionals, ["arg"]);
      assert.equal(parsed.typed.get("url"), "--url", "as the user typed it");
      assert.equal(parseFlags(SPEC, ["-h"]).help, true);
    });

    it("takes --help anywhere as the question, whatever mistakes surround it", function () {
      assert.equal(parseFlags(SPEC, ["--bogus", "--count", "x", "--help"]).help, true);
      assert.throws(() => parseFlags({ ...SPEC, passesRest: true }, ["--bogus", "--", "--help"]), /unknown option --bogus/, "not the help of what follows --");
    });

    it("passes what follows a bare -- on, unparsed, when the command says so", function () {
      const parsed = parseFlags({ ...SPEC, passesRest: true }, ["--quiet", "--", "--bogus", "x"]);
      assert.deepEqual(parsed.rest, ["--bogus", "x"]);
      assert.match(refused(["--", "x"]), /unexpected argument "--"/);
    });

    it("refuses, naming the flag as typed: unknown flags, missing values, values for switches, flags given twice", function () {
      assert.equal(refused(["--bogus"]), "unknown option --bogus");
      assert.equal(refused(["--bogus=1"]), "unknown option --bogus");
      assert.equal(refused(["-x"]), "unknown option -x");
      assert.equal(refused(["--url"]), "--url needs a value (URL)");
      assert.equal(refused(["--url", "--quiet"]), '--url needs a value (URL), got the option --quiet; for a value starting with "-", write --url=URL');
      assert.equal(parseFlags(SPEC, ["--url=-x"]).values.get("url"), "-x");
      assert.equal(refused(["--quiet=yes"]), "--quiet takes no value");
      assert.equal(refused(["--url", "a", "--url=b"]), "--url given twice");
      assert.equal(refused(["a", "b"]), 'unexpected argument "b"');
    });

    it("checks integers (plain decimal, in range, with the unit) and choices", function () {
      assert.equal(refused(["--count", "5s"]), '--count must be an integer from 1 to 10 (milliseconds), got "5s"');
      assert.equal(refused(["--count", "0x5"]), '--count must be an integer from 1 to 10 (milliseconds), got "0x5"');
      assert.equal(refused(["--count=11"]), "--count must be an integer from 1 to 10 (milliseconds), got 11");
      assert.equal(refused(["--mode", "c"]), '--mode must be a or b, got "c"');
    });
  });

  describe("flagErrorMessage", function () {
    it("names the flag the user typed instead of the internal key, in every place the message names it", function () {
      const fromConfig = (raw: Record<string, unknown>, flags: readonly Flag[]): string => {
        try {
          parseDeviceConfig(raw);
        } catch (error) {
          return flagErrorMessage(error, flags, "config.");
        }
        assert.fail("accepted");
      };
      const flags: Flag[] = [
        { name: "telemetry-interval-ms", key: "telemetryIntervalMs", value: "N", help: "" },
        { name: "backoff-base-ms", key: "backoffBaseMs", value: "N", help: "" },
        { name: "backoff-cap-ms", key: "backoffCapMs", value: "N", help: "" },
      ];
      assert.equal(fromConfig({ telemetryIntervalMs: "5s" }, flags), '--telemetry-interval-ms must be an integer from 1000 to 86400000 (milliseconds), got "5s"');
      assert.equal(fromConfig({ backoffBaseMs: "5000", backoffCapMs: "1000" }, flags), "--backoff-base-ms must be at most --backoff-cap-ms (1000), got 5000");
    });

    it("replaces whole names only, and a plain word only where it opens the message", function () {
      const flags: Flag[] = [
        { name: "ca", key: "ca", value: "FILE", help: "" },
        { name: "host", key: "host", value: "H", help: "" },
      ];
      assert.equal(flagErrorMessage(new Error("option config.ca must be absent, not config.cap"), flags, "config."), "--ca must be absent, not config.cap");
      assert.equal(flagErrorMessage(new Error("host must be a host name"), flags), "--host must be a host name");
    });
  });

  describe("formatHelp", function () {
    it("lists every flag once, in table order, with its value, section headings and continued help lines", function () {
      const help = formatHelp(SPEC);
      assert.match(help, /^Usage: tool \[options\] \[ARG\]\n\nDoes things\.\n\nOptions:\n/);
      assert.match(help, /\n {2}--count N +how many\n {2,}second line\n/);
      assert.match(help, /\nModes:\n {2}--mode M +a or b\n/);
      assert.match(help, /\n {2}-h, --help +print this help\n\nExit status: 0\.\n$/);
      const listed = [...help.matchAll(/^ {2}(?:-\w, )?--([a-z-]+)/gm)].map((match) => match[1]);
      assert.deepEqual(listed, FLAGS.map((flag) => flag.name));
    });
  });

  describe("messages", function () {
    it("makes a usage error one line ending with where the help is", function () {
      assert.equal(usageLine("unknown option --bogus", "tool --help"), "unknown option --bogus. Try 'tool --help'.");
      assert.equal(usageLine("ends with a dot.", "tool --help"), "ends with a dot. Try 'tool --help'.");
      assert.equal(usageLine("two\n  lines with a command", "tool --help"), "two\n  lines with a command", "already says what to do");
    });

    it("says why a file or a port cannot be used, in words", function () {
      const folder = mkdtempSync(join(tmpdir(), "moorline-cli-"));
      try {
        assert.throws(() => readFlagFile("--key", join(folder, "none.pem")), { name: "UsageError", message: `--key ${join(folder, "none.pem")}: no such file` });
        assert.throws(() => readFlagFile("--key", folder), { name: "UsageError", message: `--key ${folder}: it is a folder` });
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
      assert.equal(fileProblem(Object.assign(new Error("x"), { code: "EACCES" })), "permission denied");
      assert.equal(listenProblem(Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:80"), { code: "EADDRINUSE" })), "the port is in use (EADDRINUSE)");
    });

    it("colours only a terminal, and never with NO_COLOR set", function () {
      assert.equal(wantsColour({ isTTY: true }, {}), true);
      assert.equal(wantsColour({ isTTY: true }, { NO_COLOR: "1" }), false);
      assert.equal(wantsColour({ isTTY: true }, { NO_COLOR: "" }), true, "an empty NO_COLOR does not count (no-color.org)");
      assert.equal(wantsColour({ isTTY: false }, {}), false);
      assert.equal(wantsColour({}, {}), false);
    });
  });
});
