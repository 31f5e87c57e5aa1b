/**
 * The companion server's terminal grammar (server/commands.ts): what each line becomes,
 * and the CommandError a person sees for a line that cannot run.
 */
import assert from "node:assert/strict";
import { CommandError, parseCommand, parseCommandLine, type Command } from "../../server/commands.js";

describe("companion terminal commands (server/commands.ts)", function () {
  const parses: Array<[string, Command]> = [
    ["echo hello world", { kind: "request", body: { type: "echo", payload: "hello world" } }],
    ["echo", { kind: "request", body: { type: "echo", payload: "" } }],
    ["  ping  ", { kind: "request", body: { type: "ping" } }],
    ["status", { kind: "request", body: { type: "status" } }],
    ["config get", { kind: "request", body: { type: "config", action: "get" } }],
    ["config get telemetryIntervalMs", { kind: "request", body: { type: "config", action: "get", key: "telemetryIntervalMs" } }],
    ["config set telemetryIntervalMs 5000", { kind: "request", body: { type: "config", action: "set", key: "telemetryIntervalMs", value: 5000 } }],
    ["config set enabled true", { kind: "request", body: { type: "config", action: "set", key: "enabled", value: true } }],
    ['config set name "quoted"', { kind: "request", body: { type: "config", action: "set", key: "name", value: "quoted" } }],
    ["config set name two words", { kind: "request", body: { type: "config", action: "set", key: "name", value: "two words" } }],
    ['config set led {"r":1}', { kind: "request", body: { type: "config", action: "set", key: "led", value: { r: 1 } } }],
    ["reboot", { kind: "request", body: { type: "reboot" } }],
    ["reboot new settings", { kind: "request", body: { type: "reboot", reason: "new settings" } }],
    ['send {"type":"led","on":true}', { kind: "request", body: { type: "led", on: true } }],
    ['send {"type":"led","id":7}', { kind: "request", body: { type: "led", id: 7 } }],
    ["send [1,2]", { kind: "raw", text: "[1,2]" }],
    ['send {"no":"type"}', { kind: "raw", text: '{"no":"type"}' }],
    ["raw {not json", { kind: "raw", text: "{not json" }],
    ["close", { kind: "close", code: 1000, reason: "" }],
    ["close 4000", { kind: "close", code: 4000, reason: "" }],
    ["close 1001 going away now", { kind: "close", code: 1001, reason: "going away now" }],
    ["drop", { kind: "drop" }],
    ["mute", { kind: "mute", muted: true }],
    ["unmute", { kind: "mute", muted: false }],
    ["acks off", { kind: "acks", on: false }],
    ["acks on", { kind: "acks", on: true }],
    ["garbage", { kind: "garbage" }],
    ["devices", { kind: "devices" }],
    ["ota fw-0.2.0.img", { kind: "ota", file: "fw-0.2.0.img", off: false }],
    ["ota off", { kind: "ota", file: undefined, off: true }],
    ["ota", { kind: "ota", file: undefined, off: false }],
    ["help", { kind: "help" }],
    ["quit", { kind: "quit" }],
  ];
  for (const [line, command] of parses) {
    it(`parses ${JSON.stringify(line)}`, function () {
      assert.deepEqual(parseCommand(line), command);
    });
  }

  it("takes an @<device> prefix as the target, or none for every device", function () {
    assert.deepEqual(parseCommandLine("@sim-1 ping"), { target: "sim-1", command: { kind: "request", body: { type: "ping" } } });
    assert.deepEqual(parseCommandLine("@#3 drop"), { target: "#3", command: { kind: "drop" } });
    assert.deepEqual(parseCommandLine("status"), { target: undefined, command: { kind: "request", body: { type: "status" } } });
  });

  const refusals: Array<[string, RegExp]> = [
    ["", /empty command/],
    ["@", /@ needs a device id/],
    ["@sim-1", /empty command/],
    ["explode", /unknown command "explode"; try help/],
    [`reboot ${"x".repeat(65)}`, /reboot's reason is at most 64 characters/],
    ["ping now", /ping takes no arguments/],
    ["config", /config takes get or set/],
    ["config get a b", /config get takes one key/],
    ["config set onlykey", /config set needs a key and a value/],
    ["send", /send needs JSON/],
    ["send {oops", /send needs JSON \(.*\); use raw <text>/],
    ["raw", /raw needs the text/],
    ["close 1005", /close code must be one a close frame may carry/],
    ["close 999", /close code must be/],
    ["close abc", /close code must be/],
    [`close 1000 ${"\u00e9".repeat(62)}`, /124 bytes of UTF-8, at most 123/],
    ["acks maybe", /acks takes on or off/],
    ["drop now", /drop takes no arguments/],
  ];
  for (const [line, message] of refusals) {
    it(`refuses ${JSON.stringify(line)} with a CommandError`, function () {
      assert.throws(() => parseCommandLine(line), (error: unknown) => error instanceof CommandError && message.test(error.message));
    });
  }
});
