/**
 * package.json and package-lock.json, against the Node.js versions we say we support: every
 * package `npm ci` installs must accept the lowest version of each Node line our `engines`
 * names (so `npm ci` prints no EBADENGINE warning there), and the Node running the tests must be
 * one of them. tests/support/node-range.ts reads the ranges as npm does.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./support/child-process.js";
import { lowestVersions, satisfies } from "./support/node-range.js";

interface LockPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockPackage> };

describe("the Node.js versions the package supports (package.json engines)", function () {
  const supported = pkg.engines.node;
  const lowest = lowestVersions(supported).map((v) => v.join("."));

  it("starts each line at 20.19 or later and includes the Node running these tests", function () {
    assert.ok(lowest.length > 0 && lowest.every((v) => satisfies(v, ">=20.19.0")), `engines.node ${supported}: ${lowest.join(", ")}`);
    assert.ok(satisfies(process.version, supported), `Node ${process.version} is not in engines.node ${supported}`);
  });

  it("is accepted by every package npm ci installs, at the lowest version of each line (no EBADENGINE)", function () {
    const refusing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (path === "" || range === undefined) continue;
      for (const version of [...lowest, process.version]) {
        if (!satisfies(version, range)) refusing.push(`${path}@${entry.version ?? "?"} wants node ${range}, not ${version}`);
      }
    }
    assert.deepEqual(refusing, []);
  });
});

describe("reading engines.node ranges as npm does (tests/support/node-range.ts)", function () {
  const cases: Array<[range: string, inside: string[], outside: string[]]> = [
    [">=20.19", ["20.19.0", "22.0.0", "24.1.0"], ["20.18.9", "18.0.0"]],
    [">=22", ["22.0.0", "23.1.0"], ["20.20.2", "21.99.0"]],
    ["^20.9 || ^22.11", ["20.9.0", "20.20.2", "22.11.0", "22.20.0"], ["20.8.9", "21.0.0", "22.10.9", "23.0.0", "24.0.0"]],
    ["^18.18.0 || ^20.9.0 || >=21.1.0", ["18.18.0", "20.20.2", "21.1.0", "25.0.0"], ["19.0.0", "21.0.9", "20.8.0"]],
    ["^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2", "1.0.0"]],
    ["~1.2", ["1.2.0", "1.2.7"], ["1.3.0", "1.1.9"]],
    ["6.* || 8.* || >= 10.*", ["6.1.0", "8.0.0", "10.0.0", "20.20.2"], ["7.0.0", "9.11.0"]],
    [">=16 || 14 >=14.17", ["14.17.0", "16.0.0", "20.20.2"], ["14.16.9", "15.0.0"]],
    [">= 14.16.0", ["14.16.0", "20.20.2"], ["14.15.9"]],
    ["*", ["0.10.0", "20.20.2"], []],
    [">1.2 <=3", ["1.3.0", "3.9.9"], ["1.2.9", "4.0.0"]],
  ];
  for (const [range, inside, outside] of cases) {
    it(`"${range}" holds ${inside.join(", ")}${outside.length ? ` and not ${outside.join(", ")}` : ""}`, function () {
      for (const version of inside) assert.equal(satisfies(version, range), true, version);
      for (const version of outside) assert.equal(satisfies(version, range), false, version);
    });
  }

  it("refuses what it cannot read, rather than guess", function () {
    assert.throws(() => satisfies("20.0.0", "1.2.3 - 2.3.4"), /cannot read the version range part "-"/);
    assert.throws(() => satisfies("20.0.0", ">=20.0.0-beta"), /cannot read the version range part ">=20.0.0-beta"/);
  });
});
