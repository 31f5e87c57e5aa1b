/**
 * src/shared/redact.ts: runs of a secret's characters are hidden from text a server chose, whole
 * or cut short, and nothing else is touched.
 */
import assert from "node:assert/strict";

import { redact, REDACT_MIN_CHARS, REDACTED, secretsOf } from "../../src/shared/redact.js";

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.s1gn4tur3";

describe("secretsOf", () => {
  it("takes each word of a header value that is long enough to be a secret", () => {
    assert.deepEqual(secretsOf([`Bearer ${TOKEN}`, "gzip", "Basic\tdXNlcjpwYXNzd29yZA=="]), [TOKEN, "dXNlcjpwYXNzd29yZA=="]);
  });

  it(`ignores words shorter than ${REDACT_MIN_CHARS} characters, and repeats`, () => {
    assert.deepEqual(secretsOf(["Bearer abc", "short", "", "12345678 12345678"]), ["12345678"]);
  });
});

describe("redact", () => {
  it("hides a secret quoted whole, keeping the words around it", () => {
    assert.equal(redact(`server answered 401 bad token ${TOKEN}, expected 101`, [TOKEN]), `server answered 401 bad token ${REDACTED}, expected 101`);
  });

  it("hides a secret cut short at either end (a server's excerpt, our own 60-character quote)", () => {
    assert.equal(redact(`"Unauthorized (Bearer ${TOKEN.slice(0, 20)}"`, [TOKEN]), `"Unauthorized (Bearer ${REDACTED}"`);
    assert.equal(redact(`...${TOKEN.slice(-12)} expired`, [TOKEN]), `...${REDACTED} expired`);
  });

  it("hides every occurrence, and adjacent pieces as one", () => {
    const twice = `${TOKEN} and ${TOKEN}`;
    assert.equal(redact(twice, [TOKEN]), `${REDACTED} and ${REDACTED}`);
    assert.equal(redact(`${TOKEN.slice(30)}${TOKEN.slice(0, 10)}`, [TOKEN]), REDACTED);
  });

  it(`keeps runs shorter than ${REDACT_MIN_CHARS} characters: ordinary words that a secret happens to contain`, () => {
    const secret = "apple-pie-recipe-42";
    assert.equal(redact("apple pie is a recipe", [secret]), "apple pie is a recipe");
    assert.equal(redact("an apple-pie recipe", [secret]), `an ${REDACTED} recipe`);
  });

  it("returns the very same text when there is nothing to hide", () => {
    const text = "server answered 503 Service Unavailable";
    assert.equal(redact(text, []), text);
    assert.equal(redact(text, [TOKEN]), text);
    assert.equal(redact("short", [TOKEN]), "short");
  });

  it("looks for every secret", () => {
    assert.equal(redact("user dXNlcjpwYXNzd29yZA== token s1gn4tur3x", ["dXNlcjpwYXNzd29yZA==", TOKEN]), `user ${REDACTED} token ${REDACTED}x`);
  });
});
