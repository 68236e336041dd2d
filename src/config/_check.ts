/** Value types, type checks and "did you mean" suggestions shared by config and services files. */
import { ProvctlError } from "../core/errors.ts";

/** A config value after checking: TOML integers and floats are both numbers here. */
export type ConfigValue = string | number | boolean | readonly string[];

/** The value types a config key can have. */
export type ValueType = "string" | "integer" | "float" | "boolean" | "string[]";

/** How types are named in messages (TOML's names). */
export const TYPE_NAMES: Readonly<Record<ValueType | "table", string>> = {
  string: "string",
  integer: "integer",
  float: "float",
  boolean: "boolean",
  "string[]": "array of strings",
  table: "table",
};

/** Where a value came from, for errors: a file position or an environment variable. */
export type Where =
  | { readonly location: string }
  | { readonly variable: string; readonly value: string };

export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    [null, Object.prototype].includes(Object.getPrototypeOf(value)); // not a date
}

/** The TOML type of a parsed value (parsed with integersAsBigInt), for "found X". */
export function tomlTypeOf(value: unknown): string {
  if (typeof value === "bigint") return "integer";
  if (typeof value === "number") return "float";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "boolean";
  if (Array.isArray(value)) {
    const inner = [...new Set(value.map(tomlTypeOf))];
    return inner.length === 0 ? "array" : `array with ${inner.join(" and ")} elements`;
  }
  if (isTable(value)) return "table";
  return "date-time";
}

/** The value as `type`, or undefined if it is not of that type. Integers must be safe. */
export function coerce(value: unknown, type: ValueType): ConfigValue | undefined {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : undefined;
    case "boolean":
      return typeof value === "boolean" ? value : undefined;
    case "integer":
      return typeof value === "bigint" ? Number(value) : undefined;
    case "float":
      return typeof value === "bigint" || typeof value === "number" ? Number(value) : undefined;
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string")
        ? Object.freeze([...value]) as readonly string[]
        : undefined;
  }
}

/** The largest integer a config value may hold (beyond it, numbers lose precision). */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;

export function wrongType(
  key: string,
  expected: ValueType | "table",
  value: unknown,
  where: Where,
) {
  if ("variable" in where) {
    return new ProvctlError("InvalidConfig", "config.env_wrong_type", {
      params: { variable: where.variable, value: where.value, key, expected: TYPE_NAMES[expected] },
    });
  }
  return new ProvctlError("InvalidConfig", "config.wrong_type", {
    params: {
      location: where.location,
      key,
      expected: TYPE_NAMES[expected],
      actual: tomlTypeOf(value),
    },
  });
}

/** An error for `key`: `config.NAME` for files, `config.env_NAME` for variables. */
export function invalid(
  name: string,
  key: string,
  where: Where,
  params: Record<string, string | number>,
) {
  if ("variable" in where) {
    return new ProvctlError("InvalidConfig", `config.env_${name}`, {
      params: { variable: where.variable, value: where.value, key, ...params },
    });
  }
  return new ProvctlError("InvalidConfig", `config.${name}`, {
    params: { location: where.location, key, ...params },
  });
}

/** A key path as written in TOML: bare segments joined by dots, others quoted. */
export function displayKey(path: readonly string[]): string {
  return path.map((s) => /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s)).join(".");
}

/** Unknown key at `path`, with the nearest of `candidates` (dotted keys) as a suggestion. */
export function unknownKey(
  path: readonly string[],
  location: string,
  candidates: Iterable<string | readonly string[]>,
  options: { hint?: string; params?: Record<string, string> } = {},
) {
  // Candidates given as paths are matched joined and shown as written in TOML.
  const shown = new Map<string, string>();
  for (const c of candidates) {
    shown.set(typeof c === "string" ? c : c.join("."), typeof c === "string" ? c : displayKey(c));
  }
  const match = nearest(path.join("."), shown.keys());
  const suggestion = match === undefined ? undefined : shown.get(match);
  return new ProvctlError(
    "InvalidConfig",
    suggestion ? "config.unknown_key_suggest" : "config.unknown_key",
    {
      params: { ...options.params, location, key: displayKey(path), suggestion },
      hint: options.hint,
    },
  );
}

/**
 * The candidate most likely meant by `name`: the same last segment in another table
 * (a key put in the wrong table), else the closest by edit distance if close enough.
 */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  const last = lastSegment(lower);
  let best: string | undefined;
  let bestScore = Infinity;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    if (lower.startsWith(`${c}.`)) continue; // the table the unknown key is in
    let score = editDistance(lower, c);
    // The same name in another table (a key in the wrong table) or a cut-off name.
    if (lastSegment(c) === last && c !== lower) score = Math.min(score, 1);
    else if (last.length >= 3 && isAbbreviation(last, lastSegment(c))) score = Math.min(score, 2);
    if (score < bestScore || (score === bestScore && best !== undefined && candidate < best)) {
      best = candidate;
      bestScore = score;
    }
  }
  const limit = Math.max(2, Math.floor(last.length / 3));
  return bestScore <= limit ? best : undefined;
}

/** "lock" for "lock_ms", "workdir" for "working_dir": the letters in order, most of them. */
function isAbbreviation(short: string, long: string): boolean {
  if (long.length > 2 * short.length) return false;
  let i = 0;
  for (const ch of long) if (ch === short[i]) i++;
  return i === short.length;
}

function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf(".") + 1);
}

/** Levenshtein distance (insert, delete, substitute). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = current;
  }
  return previous[b.length];
}
