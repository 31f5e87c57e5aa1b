/**
 * The version ranges npm packages give in `engines.node`, read as npm reads them (node-semver's
 * grammar, the part packages use: `||` between sets, comparators with >= > <= < = ^ ~, partial
 * versions and x or * wildcards), so a test can check a lock file for what `npm ci` would warn
 * about (EBADENGINE) without running it. Pre-release tags are not supported (none of ours has one).
 */

/** A version as three numbers. */
export type Version = readonly [number, number, number];

/** A comparator set: every bound must hold; `below` is exclusive. */
interface Bounds {
  atLeast: Version;
  below: Version | undefined;
  /** The range's `>` (exclusive lower bound), kept apart from `atLeast`. */
  above: Version | undefined;
}

const ZERO: Version = [0, 0, 0];

/** "20.19.0", "v20.19.0" or a partial "20.19" (zeros filled in). */
export function parseVersion(text: string): Version {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(text.trim());
  if (!match) throw new Error(`not a version: ${JSON.stringify(text)}`);
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
}

export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** One comparator's bounds. */
function comparator(text: string): Partial<Bounds> {
  const match = /^(>=|<=|>|<|=|\^|~)?v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(text);
  if (!match) throw new Error(`cannot read the version range part ${JSON.stringify(text)}`);
  const op = match[1] ?? "=";
  // The given parts, up to the first wildcard or absent one.
  const parts: number[] = [];
  for (const part of match.slice(2, 5)) {
    if (part === undefined || /^[xX*]$/.test(part)) break;
    parts.push(Number(part));
  }
  const low: Version = [parts[0] ?? 0, parts[1] ?? 0, parts[2] ?? 0];
  // The first version past what the given parts name: 20 -> 21.0.0, 20.19 -> 20.20.0.
  const next = (fixed: number): Version | undefined =>
    fixed === 0 ? undefined : fixed === 1 ? [low[0] + 1, 0, 0] : fixed === 2 ? [low[0], low[1] + 1, 0] : [low[0], low[1], low[2] + 1];
  switch (op) {
    case ">=":
      return { atLeast: low };
    case ">":
      return parts.length === 3 ? { above: low } : { atLeast: next(parts.length) ?? ZERO };
    case "<":
      return { below: parts.length === 0 ? ZERO : low };
    case "<=":
      return { below: next(parts.length) ?? [Infinity, 0, 0] };
    case "^": {
      // Up to the next change of the first non-zero given part.
      const fixed = low[0] !== 0 || parts.length < 2 ? 1 : low[1] !== 0 || parts.length < 3 ? 2 : 3;
      return { atLeast: low, ...(parts.length === 0 ? {} : { below: next(Math.min(fixed, parts.length)) }) };
    }
    case "~":
      return { atLeast: low, ...(parts.length === 0 ? {} : { below: next(Math.min(2, parts.length)) }) };
    default:
      return { atLeast: low, ...(parts.length === 0 ? {} : { below: next(parts.length) }) };
  }
}

/** The comparator sets of a range ("^20.9 || ^22.11": two). */
function sets(range: string): Bounds[] {
  return range.split("||").map((set) => {
    const bounds: Bounds = { atLeast: ZERO, below: undefined, above: undefined };
    // ">= 14.16.0": an operator may stand apart from its version.
    const words = set.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, "$1").split(/\s+/).filter((word) => word !== "");
    for (const word of words) {
      const one = comparator(word);
      if (one.atLeast && compareVersions(one.atLeast, bounds.atLeast) > 0) bounds.atLeast = one.atLeast;
      if (one.above && (!bounds.above || compareVersions(one.above, bounds.above) > 0)) bounds.above = one.above;
      if (one.below && (!bounds.below || compareVersions(one.below, bounds.below) < 0)) bounds.below = one.below;
    }
    return bounds;
  });
}

/** Whether `version` is in `range`, as npm's engines check decides. */
export function satisfies(version: string | Version, range: string): boolean {
  const v = typeof version === "string" ? parseVersion(version) : version;
  return sets(range).some(
    (b) =>
      compareVersions(v, b.atLeast) >= 0 &&
      (b.above === undefined || compareVersions(v, b.above) > 0) &&
      (b.below === undefined || compareVersions(v, b.below) < 0),
  );
}

/** The lowest version of each set of `range` ("^20.19 || ^22.11": 20.19.0 and 22.11.0). */
export function lowestVersions(range: string): Version[] {
  return sets(range).map((b) => b.atLeast);
}
