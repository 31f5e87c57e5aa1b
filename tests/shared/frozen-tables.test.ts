/**
 * Constant tables are frozen: every plain object or array that a module of src/websocket/
 * and src/shared/ exports (enums such as Opcode and ErrorCode, default limits, codecs).
 * On the chip the Moddable linker keeps a preloaded module's objects in flash, and each one
 * left unfrozen costs RAM (xsl warns "not frozen"); frozen, they also cannot be changed by
 * mistake at run time. Tables a module keeps to itself are frozen the same way in its source.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** dist/src/, next to this file's dist/tests/shared/. */
const SRC = new URL("../../src/", import.meta.url);
const FOLDERS = ["websocket", "shared", "time"];

/** A table: an object literal or an array (not a function, class instance, regular expression or typed array). */
function isTable(value: unknown): value is object {
  if (Array.isArray(value)) return true;
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Every table inside `value` (itself included) that is not frozen, with its path. */
function unfrozen(path: string, value: object): string[] {
  const found = Object.isFrozen(value) ? [] : [path];
  for (const [key, inner] of Object.entries(value)) {
    if (isTable(inner)) found.push(...unfrozen(`${path}.${key}`, inner));
  }
  return found;
}

describe("constant tables of src/websocket, src/shared and src/time", () => {
  for (const folder of FOLDERS) {
    const files = readdirSync(fileURLToPath(new URL(`${folder}/`, SRC))).filter((name) => name.endsWith(".js"));

    it(`are frozen in every module of src/${folder} (${files.length} modules)`, async () => {
      const problems: string[] = [];
      let tables = 0;
      for (const file of files) {
        const module = (await import(new URL(`${folder}/${file}`, SRC).href)) as Record<string, unknown>;
        for (const [name, value] of Object.entries(module)) {
          if (!isTable(value)) continue;
          tables++;
          problems.push(...unfrozen(`src/${folder}/${file.replace(/\.js$/, "")}: ${name}`, value));
        }
      }
      assert.ok(tables > 0, "the walk found the tables");
      assert.deepEqual(problems, [], "not frozen");
    });
  }

  it("finds a table that is not frozen (the check itself)", () => {
    assert.deepEqual(unfrozen("t", Object.freeze({ a: 1, inner: { b: 2 } })), ["t.inner"]);
    assert.deepEqual(unfrozen("t", Object.freeze([1, Object.freeze({})])), []);
  });
});
