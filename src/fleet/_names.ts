/**
 * Names of machines and profiles, and the globs that select machines by name.
 *
 * Machine names follow service names (src/core/service_name.ts) minus '@' and with a
 * letter or digit first: '@' and ':' would read as `user@host:port`, and a name never
 * contains a glob character, so `web-*` is unambiguously a pattern.
 */
import { ProvctlError } from "../core/errors.ts";

export const NAME_MAX_LENGTH = 64;
const NAME_CHAR = /^[A-Za-z0-9_.-]$/;
const GLOB_CHAR = /[*?[\]]/;

/** A string as shown in messages: JSON-quoted, so control characters stay visible. */
export function shown(text: string): string {
  return JSON.stringify(text);
}

function describeChar(ch: string): string {
  if (ch === " ") return "a space";
  return shown(ch);
}

/** Throws InvalidName unless `raw` is a valid machine or profile name. */
export function checkName(kind: "machine" | "profile" | "source", raw: string): void {
  const fail = (key: string, params: Record<string, string | number> = {}) => {
    throw new ProvctlError("InvalidName", `inventory.${key}`, {
      params: { kind, name: shown(raw), max: NAME_MAX_LENGTH, ...params },
      hint: "inventory.name_rule",
    });
  };
  if (raw.length === 0) fail("name_empty");
  if (raw.length > NAME_MAX_LENGTH) fail("name_too_long", { length: raw.length });
  for (const [index, ch] of [...raw].entries()) {
    if (!NAME_CHAR.test(ch)) {
      fail("name_bad_char", { char: describeChar(ch), position: index + 1 });
    }
  }
  if (!/^[A-Za-z0-9]/.test(raw)) fail("name_bad_start", { char: describeChar(raw[0]) });
}

export function isGlob(pattern: string): boolean {
  return GLOB_CHAR.test(pattern);
}

/**
 * Throws InvalidArgument unless `pattern` is a name or a glob over names: name
 * characters plus `*`, `?` and `[...]` classes (`[!...]` negates, `a-z` ranges).
 */
export function checkNamePattern(pattern: string): void {
  const fail = (key: string, params: Record<string, string | number> = {}) => {
    throw new ProvctlError("InvalidArgument", `inventory.${key}`, {
      params: { pattern: shown(pattern), ...params },
      hint: "inventory.pattern_hint",
    });
  };
  if (pattern.length === 0) fail("pattern_empty");
  if (pattern.length > 4 * NAME_MAX_LENGTH) {
    fail("pattern_too_long", { length: pattern.length, max: 4 * NAME_MAX_LENGTH });
  }
  let inClass = false;
  let members = 0;
  for (const [index, ch] of [...pattern].entries()) {
    if (inClass) {
      if (ch === "]") {
        if (members === 0) fail("pattern_empty_class", { position: index + 1 });
        inClass = false;
      } else if ((ch === "!" || ch === "^") && pattern[index - 1] === "[") {
        // negation
      } else if (NAME_CHAR.test(ch)) {
        members++;
      } else {
        fail("pattern_bad_char", { char: describeChar(ch), position: index + 1 });
      }
      continue;
    }
    if (ch === "[") {
      inClass = true;
      members = 0;
    } else if (ch === "]") fail("pattern_unbalanced", { position: index + 1 });
    else if (!NAME_CHAR.test(ch) && ch !== "*" && ch !== "?") {
      fail("pattern_bad_char", { char: describeChar(ch), position: index + 1 });
    }
  }
  if (inClass) fail("pattern_unbalanced", { position: pattern.length });
}

/**
 * True if `name` matches the glob `pattern` (checked by checkNamePattern), case-
 * insensitively like machine names. Iterative with one backtrack point per `*`, so a
 * hostile pattern (`*a*a*a*b`) costs O(pattern x name), not exponential time.
 */
export function globMatch(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  let pi = 0;
  let ni = 0;
  let starP = -1;
  let starN = 0;
  while (ni < n.length) {
    if (pi < p.length && p[pi] === "*") {
      starP = pi++;
      starN = ni;
      continue;
    }
    if (pi < p.length) {
      const step = matchOne(p, pi, n[ni]);
      if (step > 0) {
        pi += step;
        ni++;
        continue;
      }
    }
    if (starP < 0) return false;
    pi = starP + 1;
    ni = ++starN;
  }
  while (pi < p.length && p[pi] === "*") pi++;
  return pi === p.length;
}

/** Length of the pattern token at `pi` if it matches `ch`, else 0. */
function matchOne(p: string, pi: number, ch: string): number {
  if (p[pi] === "?") return 1;
  if (p[pi] !== "[") return p[pi] === ch ? 1 : 0;
  const close = p.indexOf("]", pi + 1);
  if (close < 0) return p[pi] === ch ? 1 : 0;
  let i = pi + 1;
  const negate = p[i] === "!" || p[i] === "^";
  if (negate) i++;
  let hit = false;
  for (; i < close; i++) {
    if (p[i + 1] === "-" && i + 2 < close) {
      if (ch >= p[i] && ch <= p[i + 2]) hit = true;
      i += 2;
    } else if (p[i] === ch) {
      hit = true;
    }
  }
  return hit !== negate ? close - pi + 1 : 0;
}
