import assert from "node:assert/strict";
import { DEFAULT_BAUD, eventMatcher, parseMonitorArguments, UsageError, USAGE, type MonitorOptions } from "../../../tools/monitor/options.js";

function monitorOptions(argv: string[]): MonitorOptions {
  const command = parseMonitorArguments(argv);
  assert.equal(command.kind, "monitor");
  return (command as { options: MonitorOptions }).options;
}

describe("monitor options", function () {
  it("needs only --port; 115200 baud, pretty, every level and event, waits for nothing", function () {
    const options = monitorOptions(["--port", "/dev/ttyUSB0"]);
    assert.equal(DEFAULT_BAUD, 115_200);
    assert.deepEqual({ ...options, events: options.events.length }, {
      port: "/dev/ttyUSB0",
      baudRate: 115_200,
      raw: false,
      minLevel: "debug",
      events: 0,
      onlyJson: false,
      wait: false,
      colour: undefined,
    });
  });

  it("takes every option, in --name value and --name=value forms", function () {
    const options = monitorOptions(["--port=/dev/ttyACM0", "--baud", "921600", "--raw", "--level=WARN", "--event", "ws_", "--event=^boot$", "--only-json", "--wait", "--no-color"]);
    assert.equal(options.port, "/dev/ttyACM0");
    assert.equal(options.baudRate, 921_600);
    assert.equal(options.raw, true);
    assert.equal(options.minLevel, "warn");
    assert.equal(options.events.length, 2);
    assert.equal(options.onlyJson, true);
    assert.equal(options.wait, true);
    assert.equal(options.colour, false);
  });

  it("lists ports without --port, and shows help for -h or --help", function () {
    assert.deepEqual(parseMonitorArguments([]), { kind: "list", colour: undefined });
    assert.deepEqual(parseMonitorArguments(["--color"]), { kind: "list", colour: true });
    assert.deepEqual(parseMonitorArguments(["-h"]), { kind: "help" });
    assert.deepEqual(parseMonitorArguments(["--port", "/dev/x", "--help"]), { kind: "help" });
    assert.match(USAGE, /^Usage: npm run monitor -- \[--port PATH \| --stdin\]/);
  });

  it("refuses bad arguments with a UsageError naming the bad value", function () {
    const cases: Array<[string[], RegExp]> = [
      [["--baud", "fast", "--port", "/dev/x"], /^--baud must be an integer from 50 to 12000000, got "fast"$/],
      [["--port", "/dev/x", "--baud", "0"], /--baud must be/],
      [["--port", "/dev/x", "--baud", "20000000"], /--baud must be/],
      [["--port", "/dev/x", "--level", "loud"], /--level must be debug, info, warn or error, got "loud"/],
      [["--port", "/dev/x", "--event", "("], /--event "\(" is not a valid regular expression/],
      [["--port", "/dev/x", "--event", ""], /--event needs/],
      [["--port"], /--port needs a value/],
      [["--port", "--raw"], /--port needs a value \(PATH\), got the option --raw/],
      [["--port="], /--port needs a path/],
      [["--port", "/dev/x", "--port", "/dev/y"], /--port given twice/],
      [["--port", "/dev/x", "--speed", "9600"], /^unknown option --speed$/],
      [["--port", "/dev/x", "extra"], /unexpected argument "extra"/],
      [["--port", "/dev/x", "--raw=yes"], /--raw takes no value/],
      [["--port", "/dev/x", "--color", "--no-color"], /contradict/],
      [["--raw"], /--raw needs --port/],
      [["--event", "ws_"], /--event needs --port/],
      [["--stdin", "--port", "/dev/x"], /--port and --stdin contradict each other/],
      [["--stdin", "--baud", "9600"], /--baud is for a serial port, not --stdin/],
      [["--stdin", "--wait"], /--wait is for a serial port, not --stdin/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseMonitorArguments(argv), (error: unknown) => error instanceof UsageError && message.test(error.message), argv.join(" "));
    }
  });

  it("reads standard input with --stdin or --port -, with the same filters", function () {
    const options = monitorOptions(["--stdin", "--level", "info", "--raw"]);
    assert.equal(options.port, "-");
    assert.equal(options.minLevel, "info");
    assert.equal(options.raw, true);
    assert.equal(monitorOptions(["--port", "-"]).port, "-");
  });

  describe("--event", function () {
    it("is a name prefix when made of letters, digits, _ . : -", function () {
      const matches = eventMatcher("ws_");
      assert.deepEqual(["ws_open", "ws_close", "wifi_up", "a_ws_open"].map(matches), [true, true, false, false]);
      assert.deepEqual(["wifi.up", "wifiXup"].map(eventMatcher("wifi.")), [true, false], "a dot is a dot");
    });

    it("is a regular expression otherwise", function () {
      const matches = eventMatcher("^(boot|ws_open)$");
      assert.deepEqual(["boot", "booted", "ws_open", "ws_opened"].map(matches), [true, false, true, false]);
      assert.deepEqual(["ws_close", "ws_closed"].map(eventMatcher("close$")), [true, false]);
    });
  });
});
