/**
 * Keeping credentials out of text a server chose. The client quotes a server's words in its
 * errors (a status line, a header, a close reason) because they explain a failure; a
 * careless server may quote back the Authorization token it was sent ("401 bad token
 * eyJhbGciOi..."), and errors end up in logs and status replies. So every run of characters
 * from a secret is hidden before the text goes anywhere, also when the server (or our own
 * shortening of its text) cut the secret short.
 *
 * Used on failure paths only (a refused handshake, a close reason): the cost is one
 * indexOf per character of the text and secret, on a text of at most a few hundred bytes.
 */

/**
 * Shortest run of a secret's characters that is hidden, chars: shorter runs are too likely
 * to be ordinary words ("Bearer", "token").
 */
export const REDACT_MIN_CHARS = 8;

/** What stands in for hidden characters. */
export const REDACTED = "<redacted>";

/**
 * The secrets in header values: each space- or tab-separated word of at least
 * REDACT_MIN_CHARS characters ("Bearer" of "Bearer <token>" is not a secret, the token is).
 */
export function secretsOf(values: readonly string[]): string[] {
  const secrets: string[] = [];
  for (const value of values) {
    for (const word of value.split(/[ \t]+/)) {
      if (word.length >= REDACT_MIN_CHARS && !secrets.includes(word)) secrets.push(word);
    }
  }
  return secrets;
}

/**
 * `text` with every run of at least REDACT_MIN_CHARS characters that also occurs in one of
 * `secrets` replaced by REDACTED (adjacent runs by one REDACTED). Unchanged when none occurs.
 */
export function redact(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length < REDACT_MIN_CHARS) return text;
  let out = "";
  let copied = 0;
  let i = 0;
  while (i + REDACT_MIN_CHARS <= text.length) {
    const end = secretRunEnd(text, i, secrets);
    if (end < 0) {
      i++;
      continue;
    }
    if (i > copied || out === "") out += text.slice(copied, i) + REDACTED;
    copied = i = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Where the longest run of a secret's characters starting at text[start] ends, or -1 if shorter than the minimum. */
function secretRunEnd(text: string, start: number, secrets: readonly string[]): number {
  const window = text.slice(start, start + REDACT_MIN_CHARS);
  let best = -1;
  for (const secret of secrets) {
    for (let at = secret.indexOf(window); at >= 0; at = secret.indexOf(window, at + 1)) {
      let end = start + REDACT_MIN_CHARS;
      let s = at + REDACT_MIN_CHARS;
      while (end < text.length && s < secret.length && text[end] === secret[s]) {
        end++;
        s++;
      }
      if (end > best) best = end;
    }
  }
  return best;
}
