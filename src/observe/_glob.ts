/** Shell-style globs (`*`, `?`, `[abc]`, `[!a-z]`) for filters such as `--machine 'web-*'`. */

/** A matcher for `pattern`; a pattern without glob characters matches itself only. */
export function globMatcher(pattern: string): (value: string) => boolean {
  if (!/[*?[]/.test(pattern)) return (value) => value === pattern;
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        source += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body[0] === "!" || body[0] === "^";
      if (negate) body = body.slice(1);
      source += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else source += c.replace(/[.+^${}()|\\/\]]/g, "\\$&");
  }
  const re = new RegExp(`^${source}$`, "s");
  return (value) => re.test(value);
}
