/**
 * The companion server's command line with a device registry (server/cli.ts, child
 * processes): --add-device prints a new token once, on the last line; --remove-device and
 * --list-devices; `--devices FILE` admits that device and no other; a corrupt or missing
 * file is refused at start in one line; without --devices, one line says anyone is admitted.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocket } from "ws";
import { DeviceRegistry } from "../../server/registry.js";
import { node, type Child } from "../support/child-process.js";

const CLI = "dist/server/cli.js";

/** Runs the command line to its end. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = node(CLI, args);
  const exit = await child.waitForExit(10_000);
  return { code: exit.code, stdout: child.stdout, stderr: child.stderr };
}

/** The HTTP status a WebSocket attempt got: 101 when admitted. */
function statusOf(url: string, id: string, token: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { "Moorline-Device": id, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    socket.on("open", () => {
      socket.close();
      resolve(101);
    });
    socket.on("unexpected-response", (_request, response) => {
      response.resume();
      socket.terminate();
      resolve(response.statusCode ?? 0);
    });
    socket.on("error", (error) => reject(error));
  });
}

describe("companion server command line with --devices (server/cli.ts, child processes)", function () {
  this.timeout(30_000);
  let folder: string;
  let file: string;
  const children: Child[] = [];
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-cli-devices-"));
    file = join(folder, "devices.json");
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill();
    rmSync(folder, { recursive: true, force: true });
  });

  it("--add-device makes the file, registers the device and prints its token once, on the last line", async function () {
    const added = await run(["--devices", file, "--add-device", "pump-1"]);
    assert.equal(added.code, 0, added.stderr);
    const lines = added.stdout.trimEnd().split("\n");
    const token = lines.at(-1)!;
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.match(lines[0]!, /^pump-1 registered in .*devices\.json\. Its token follows, shown this once/);
    assert.equal(added.stdout.split(token).length, 2, "printed once");
    assert.ok(!readFileSync(file, "utf8").includes(token), "the file holds a hash, not the token");
    assert.equal(await DeviceRegistry.open(file).verify("pump-1", token), true);
  });

  it("--list-devices and --remove-device", async function () {
    await run(["--devices", file, "--add-device", "pump-1"]);
    await run(["--devices", file, "--add-device", "pump-2"]);
    const listed = await run(["--devices", file, "--list-devices"]);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, /^pump-1 {2}added \d{4}-\d\d-\d\dT.*\npump-2 {2}added /);
    const removed = await run(["--devices", file, "--remove-device", "pump-1"]);
    assert.equal(removed.code, 0);
    assert.match(removed.stdout, /^pump-1 removed from .*devices\.json/);
    assert.deepEqual(DeviceRegistry.open(file).ids(), ["pump-2"]);
  });

  describe("refuses what cannot be done, in one line, changing nothing", function () {
    const cases: Array<[string, (file: string) => string[], number, RegExp]> = [
      ["adding a registered id", (f) => ["--devices", f, "--add-device", "pump-1"], 2, /^companion: --add-device pump-1: already registered in .* \(to give it a new token, --remove-device it first\)\. Try/],
      ["removing an unregistered id", (f) => ["--devices", f, "--remove-device", "pump-9"], 2, /^companion: --remove-device pump-9: not registered in /],
      ["an id that is not one", (f) => ["--devices", f, "--add-device", "a/b"], 2, /^companion: --add-device "a\/b": a device id is 1 to 64 letters, digits or \._:-/],
      ["two changes at once", (f) => ["--devices", f, "--add-device", "x", "--remove-device", "pump-1"], 2, /go one at a time/],
      ["a change with server flags", (f) => ["--devices", f, "--add-device", "x", "--port", "0"], 2, /changes or shows the --devices file and exits: leave out --port/],
      ["a change without --devices", () => ["--add-device", "x"], 2, /--add-device needs --devices FILE/],
    ];
    for (const [what, args, code, pattern] of cases) {
      it(what, async function () {
        await run(["--devices", file, "--add-device", "pump-1"]);
        const before = readFileSync(file, "utf8");
        const result = await run(args(file));
        assert.equal(result.code, code, result.stderr);
        assert.match(result.stderr, pattern);
        assert.equal(result.stderr.trimEnd().split("\n").length, 1, `one line: ${result.stderr}`);
        assert.equal(readFileSync(file, "utf8"), before);
      });
    }
  });

  describe("refuses at start, in one line, a --devices file it cannot use (exit 1)", function () {
    const cases: Array<[string, string | undefined, RegExp]> = [
      ["missing", undefined, /^companion: .*devices\.json: no such file \(create it with --devices .* --add-device ID\)$/],
      ["not JSON", "{ not json\n\n", /^companion: .*devices\.json is not a usable device registry: not JSON \(.*\)$/],
      ["not a registry", '{"devices": {}}', /is not a usable device registry: "format" must be "moorline-devices"$/],
      ["a corrupt entry", '{"format":"moorline-devices","version":1,"devices":{"pump-1":{"hash":"plain-token","added":"x"}}}', /devices\["pump-1"\]\.hash is not a scrypt hash/],
    ];
    for (const [what, content, pattern] of cases) {
      it(what, async function () {
        if (content !== undefined) writeFileSync(file, content);
        const result = await run(["--devices", file, "--port", "0", "--json"]);
        assert.equal(result.code, 1);
        assert.match(result.stderr.trimEnd(), pattern);
        assert.equal(result.stderr.trimEnd().split("\n").length, 1);
        assert.doesNotMatch(result.stdout, /listening/, "it never listened");
      });
    }
  });

  it("--devices FILE: admits the registered device with its token, refuses others; notices --remove-device", async function () {
    const token = (await run(["--devices", file, "--add-device", "pump-1"])).stdout.trimEnd().split("\n").at(-1)!;
    const child = node(CLI, ["--devices", file, "--port", "0", "--json"]);
    children.push(child);
    const url = (await child.line(/"event":"listening".*"url":"(ws:\/\/[^"]+)"/, 5000, "the listening line"))[1]!;
    await child.line(/"event":"auth","mode":"registry".*"devices":1/, 5000, "the line saying who is admitted");
    assert.equal(await statusOf(url, "pump-1", token), 101);
    assert.equal(await statusOf(url, "pump-1", undefined), 401);
    assert.equal(await statusOf(url, "pump-2", token), 401);
    await run(["--devices", file, "--remove-device", "pump-1"]);
    assert.equal(await statusOf(url, "pump-1", token), 401, "removed while the server runs");
    await child.line(/"event":"registry","action":"reloaded".*"devices":0/, 5000, "the reload line");
    assert.ok(!child.stdout.includes(token), "the token never in the server's output");
  });

  it("npm start refuses a corrupt registry beside the device's storage, in one line, before starting anything", async function () {
    writeFileSync(file, "{ not a registry");
    const child = node("dist/hosts/node/start.js", ["--", "--storage", join(folder, "sim.json")]);
    const exit = await child.waitForExit(10_000);
    assert.equal(exit.code, 1);
    assert.match(child.stderr.trimEnd(), /^start: .*devices\.json is not a usable device registry: not JSON \(.*\); fix it or remove it \(npm start makes a new one\)$/);
    assert.doesNotMatch(child.stdout, /listening/);
  });

  it("without --devices: one line says that anyone is admitted (development mode)", async function () {
    const child = node(CLI, ["--port", "0"]);
    children.push(child);
    await child.line(/^listening on ws:\/\//, 5000, "the listening line");
    const [line] = await child.line(/^.*development mode.*$/, 5000, "the development mode line");
    assert.match(line, /server development mode no --devices: any device that connects is admitted, whatever id it claims$/);
  });
});
