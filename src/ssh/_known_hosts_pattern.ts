/**
 * OpenSSH's host pattern matching (match.c), shared by known_hosts and ssh_config:
 * `*` matches any run of characters, `?` exactly one, everything else (including `[`)
 * is literal. A pattern list is comma-separated; a `!pattern` that matches vetoes the
 * whole list.
 */

/** Whether `text` matches the whole glob `pattern`. */
export function matchPattern(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  // Where to resume after the most recent `*`: pattern index after it, text index.
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === text[t])) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === "*") {
      starP = ++p;
      starT = t;
    } else if (starP >= 0) {
      p = starP;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/**
 * OpenSSH's match_pattern_list: 1 when a positive pattern matches and no negated one
 * does, -1 when a negated pattern matches, 0 otherwise. With `lowercase`, patterns are
 * compared in lower case (the caller lowercases `text`), as for host names.
 */
export function matchPatternList(
  text: string,
  patterns: readonly string[],
  lowercase: boolean,
): -1 | 0 | 1 {
  let result: 0 | 1 = 0;
  for (const raw of patterns) {
    const negated = raw.startsWith("!");
    let pattern = negated ? raw.slice(1) : raw;
    if (lowercase) pattern = pattern.toLowerCase();
    if (matchPattern(text, pattern)) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}
