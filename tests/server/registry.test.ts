/**
 * server/registry.ts on real files: registering a device gives a fresh token that is never
 * written in clear; only that token verifies, for that id; the file is written atomically and
 * readable by its owner only; a file that is not a registry is refused whole, in one line
 * naming what is wrong; a change made by another process is noticed (and what it revoked said).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAuthToken } from "../../src/auth/credentials.js";
import { DeviceRegistry, MAX_REGISTRY_BYTES, newToken, RegistryError, REGISTRY_FORMAT } from "../../server/registry.js";

describe("device registry (server/registry.ts)", function () {
  let folder: string;
  let file: string;
  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "moorline-registry-"));
    file = join(folder, "devices.json");
  });
  afterEach(() => rmSync(folder, { recursive: true, force: true }));

  /** Asserts `action` throws a RegistryError of one line matching `pattern`. */
  function refused(action: () => unknown, pattern: RegExp): void {
    assert.throws(action, (error: Error) => {
      assert.ok(error instanceof RegistryError, `a RegistryError, got ${error.name}`);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("\n"), `one line: ${JSON.stringify(error.message)}`);
      return true;
    });
  }

  it("refuses to open a missing file unless asked to create it; the file appears at the first change", async function () {
    refused(() => DeviceRegistry.open(file), /devices\.json: no such file \(create it with --devices .* --add-device ID\)/);
    const registry = DeviceRegistry.open(file, { create: true });
    assert.equal(registry.size, 0);
    assert.throws(() => statSync(file), /ENOENT/);
    await registry.add("sim-1");
    assert.equal(statSync(file).isFile(), true);
  });

  it("adds a device with a fresh 256-bit token, stored only as a salted scrypt hash, owner-only", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    const one = await registry.add("sim-1");
    const two = await registry.add("sim-2");
    assert.equal(isAuthToken(one), true);
    assert.equal(one.length, 43, "32 random bytes in base64url");
    assert.notEqual(one, two);
    const text = readFileSync(file, "utf8");
    assert.ok(!text.includes(one) && !text.includes(two), "no token in the file");
    assert.ok(!text.includes(one.slice(0, 12)), "not even part of one");
    const saved = JSON.parse(text) as { format: string; version: number; devices: Record<string, { hash: string; added: string }> };
    assert.equal(saved.format, REGISTRY_FORMAT);
    assert.equal(saved.version, 1);
    assert.deepEqual(Object.keys(saved.devices), ["sim-1", "sim-2"]);
    assert.match(saved.devices["sim-1"]!.hash, /^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.notEqual(saved.devices["sim-1"]!.hash.split("$")[3], saved.devices["sim-2"]!.hash.split("$")[3], "each with its own salt");
    assert.ok(!Number.isNaN(Date.parse(saved.devices["sim-1"]!.added)));
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it("never makes a token that starts with \"-\" (a command line would read it as an option)", function () {
    for (let i = 0; i < 2000; i++) {
      const token = newToken();
      assert.notEqual(token[0], "-");
      assert.equal(isAuthToken(token), true);
      assert.equal(token.length, 43);
    }
  });

  it("verifies only the token of that id; not another's, not a wrong one, not an unknown or removed id", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    const one = await registry.add("sim-1");
    const two = await registry.add("sim-2");
    assert.equal(await registry.verify("sim-1", one), true);
    assert.equal(await registry.verify("sim-2", two), true);
    assert.equal(await registry.verify("sim-1", two), false, "another device's token");
    const offByOne = `${one.slice(0, -1)}${one.endsWith("A") ? "B" : "A"}`;
    assert.equal(await registry.verify("sim-1", offByOne), false, "one character off");
    assert.equal(await registry.verify("sim-1", ""), false);
    assert.equal(await registry.verify("sim-9", one), false, "an unknown id");
    assert.equal(registry.remove("sim-1"), true);
    assert.equal(await registry.verify("sim-1", one), false, "a removed device");
    assert.equal(registry.remove("sim-1"), false, "removing it again changes nothing");
    assert.deepEqual(registry.ids(), ["sim-2"]);
  });

  it("takes as long for an unknown id as for a known one (a decoy hash)", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    const token = await registry.add("sim-1");
    const time = async (id: string) => {
      const start = process.hrtime.bigint();
      await registry.verify(id, token.replace(/.$/, "x"));
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 3; i++) {
      known.push(await time("sim-1"));
      unknown.push(await time("nobody"));
    }
    const median = (values: number[]) => values.sort((a, b) => a - b)[1]!;
    // Each is a full scrypt (tens of ms); a skipped one would take microseconds.
    assert.ok(median(unknown) > median(known) / 4, `unknown ${median(unknown)} ms vs known ${median(known)} ms`);
  });

  it("refuses a registered id, a bad id and a bad given token, changing nothing", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    await registry.add("sim-1");
    const before = readFileSync(file, "utf8");
    await assert.rejects(registry.add("sim-1"), /sim-1 is already registered in .*--remove-device sim-1/);
    await assert.rejects(registry.add("bad id"), /device id "bad id" is not 1 to 64 letters/);
    await assert.rejects(registry.add("sim-3", { token: "two words" }), (error: Error) => !error.message.includes("two words"));
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("replaces a token on request (npm start re-registering its device), and accepts one given", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    const old = await registry.add("sim-1");
    const given = await registry.add("sim-1", { token: "my-own-token-AAAAAAAA", replace: true });
    assert.equal(given, "my-own-token-AAAAAAAA");
    assert.equal(await registry.verify("sim-1", old), false);
    assert.equal(await registry.verify("sim-1", given), true);
  });

  it("writes atomically: a new file renamed over the old, no temporary file left behind", async function () {
    const registry = DeviceRegistry.open(file, { create: true });
    await registry.add("sim-1");
    const before = statSync(file).ino;
    await registry.add("sim-2");
    assert.notEqual(statSync(file).ino, before, "a new file took the old one's name");
    registry.remove("sim-1");
    assert.deepEqual(readdirSync(folder), ["devices.json"]);
  });

  it("reports a write that fails, keeping what it had in memory", async function () {
    const registry = DeviceRegistry.open(join(folder, "sub", "devices.json"), { create: true });
    writeFileSync(join(folder, "sub"), "a file where the folder should be");
    await assert.rejects(registry.add("sim-1"), (error: Error) => error instanceof RegistryError && /sub\/devices\.json: cannot be written \((EEXIST|ENOTDIR)\)/.test(error.message));
    assert.equal(registry.size, 0);
  });

  describe("a file that is not a registry is refused whole, in one line saying what is wrong", function () {
    const good = () => ({
      format: REGISTRY_FORMAT,
      version: 1,
      devices: { "sim-1": { hash: "$scrypt$ln=14,r=8,p=1$QiNPj8dpzA7ipX87bBsOIQ$tkfkJ1JARWANopPxyHKanptJqH3TuZ4Hp39ZYVFtHq8", added: "2025-01-01T00:00:00.000Z" } },
    });
    const cases: Array<[string, string | ((text: ReturnType<typeof good>) => unknown), RegExp]> = [
      ["not JSON", "{\n  \"format\": \n", /is not a usable device registry: not JSON \(/],
      ["empty", "", /not JSON/],
      ["an array", "[]", /not a JSON object/],
      ["another format", (r) => ({ ...r, format: "something" }), /"format" must be "moorline-devices"/],
      ["another version", (r) => ({ ...r, version: 2 }), /"version" must be 1, got 2/],
      ["no devices", (r) => ({ ...r, devices: [] }), /"devices" must be an object/],
      ["a bad id", (r) => ({ ...r, devices: { "a b": r.devices["sim-1"] } }), /devices\["a b"\]: a device id is 1 to 64/],
      ["an entry not an object", (r) => ({ ...r, devices: { x: "hash" } }), /devices\["x"\] must be an object/],
      ["a hash that is not scrypt", (r) => ({ ...r, devices: { x: { ...r.devices["sim-1"], hash: "5f4dcc3b5aa765d61d8327deb882cf99" } } }), /devices\["x"\]\.hash is not a scrypt hash/],
      ["a cost that would take a gigabyte", (r) => ({ ...r, devices: { x: { ...r.devices["sim-1"], hash: r.devices["sim-1"].hash.replace("ln=14", "ln=20") } } }), /parameters out of bounds/],
      ["a short salt", (r) => ({ ...r, devices: { x: { ...r.devices["sim-1"], hash: r.devices["sim-1"].hash.replace("QiNPj8dpzA7ipX87bBsOIQ", "QiNP") } } }), /salt or key of the wrong size/],
      ["no date", (r) => ({ ...r, devices: { x: { hash: r.devices["sim-1"].hash } } }), /devices\["x"\]\.added must be a date/],
    ];
    for (const [what, content, pattern] of cases) {
      it(what, function () {
        writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content(good())));
        refused(() => DeviceRegistry.open(file), pattern);
      });
    }

    it("a file larger than MAX_REGISTRY_BYTES, before reading it", function () {
      writeFileSync(file, Buffer.alloc(MAX_REGISTRY_BYTES + 1, 0x20));
      refused(() => DeviceRegistry.open(file), /larger than 16777216 bytes/);
    });

    it("the good one opens", function () {
      writeFileSync(file, JSON.stringify(good()));
      assert.deepEqual(DeviceRegistry.open(file).ids(), ["sim-1"]);
    });
  });

  describe("refresh(): changes made by another process", function () {
    it("nothing changed: undefined, and the file is not read again", async function () {
      const registry = DeviceRegistry.open(file, { create: true });
      await registry.add("sim-1");
      assert.equal(await registry.refresh(), undefined);
    });

    it("reads the new file, saying which devices lost their token (removed or replaced)", async function () {
      const server = DeviceRegistry.open(file, { create: true });
      const one = await server.add("sim-1");
      await server.add("sim-2");
      await server.add("sim-3");
      // Another process (the command line) removes one, replaces one and adds one.
      const cli = DeviceRegistry.open(file);
      cli.remove("sim-1");
      await cli.add("sim-2", { replace: true });
      const four = await cli.add("sim-4");
      assert.equal(await server.verify("sim-4", four), false, "not before the refresh");
      const change = await server.refresh();
      assert.deepEqual(change, { revoked: ["sim-1", "sim-2"], size: 3 });
      assert.equal(await server.verify("sim-4", four), true);
      assert.equal(await server.verify("sim-1", one), false);
    });

    it("a file made unusable meanwhile: rejects, and the devices read before stay in force", async function () {
      const registry = DeviceRegistry.open(file, { create: true });
      const token = await registry.add("sim-1");
      writeFileSync(file, "{ half a file");
      await assert.rejects(registry.refresh(), (error: Error) => error instanceof RegistryError && /not JSON/.test(error.message));
      assert.equal(await registry.verify("sim-1", token), true);
      rmSync(file);
      await assert.rejects(registry.refresh(), /cannot be read \(ENOENT\); still using the devices read before/);
      assert.equal(await registry.verify("sim-1", token), true);
    });

    it("concurrent refreshes share one read", async function () {
      const registry = DeviceRegistry.open(file, { create: true });
      await registry.add("sim-1");
      await DeviceRegistry.open(file).add("sim-2");
      const [a, b] = await Promise.all([registry.refresh(), registry.refresh()]);
      assert.deepEqual(a, { revoked: [], size: 2 });
      assert.equal(a, b, "the same result object");
    });
  });
});
