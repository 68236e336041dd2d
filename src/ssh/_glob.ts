/**
 * glob(3) as OpenSSH's Include uses it (GLOB_TILDE is done by the caller): `*`, `?` and
 * bracket expressions (`[0-9]`, `[!a]`, `[^a]`, `[]x]`) within one path component, a
 * backslash escapes the next character, wildcards never match a leading ".". Matches are
 * sorted; a pattern without wildcards is returned as is (missing files are the caller's).
 */

/** Paths matching `pattern`, sorted like glob(3) does. */
export async function glob(pattern: string): Promise<string[]> {
  if (!hasMagic(pattern)) return [unescape(pattern)];
  const parts = pattern.split("/").filter((p, i) => p !== "" || i === 0);
  let paths = [parts[0] === "" ? "" : "."];
  for (const part of parts.slice(parts[0] === "" ? 1 : 0)) {
    const next: string[] = [];
    for (const base of paths) {
      const dir = base === "" ? "/" : base;
      if (!hasMagic(part)) {
        next.push(`${base}/${unescape(part)}`);
        continue;
      }
      const matcher = componentRegExp(part);
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (entry.name.startsWith(".") && !part.startsWith(".")) continue;
          if (matcher.test(entry.name)) next.push(`${base}/${entry.name}`);
        }
      } catch {
        // A missing or unreadable directory matches nothing, like glob(3).
      }
    }
    paths = next;
  }
  return paths.map((p) => p.startsWith("./") && !pattern.startsWith("./") ? p.slice(2) : p)
    .sort(compareBytes);
}

/** True when the text has an unescaped `*`, `?` or a `[` that starts a bracket expression. */
function hasMagic(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?") return true;
    else if (c === "[" && bracketEnd(text, i) > 0) return true;
  }
  return false;
}

/** Index of the `]` closing the bracket expression opened at `start`, or -1. */
function bracketEnd(text: string, start: number): number {
  let i = start + 1;
  if (text[i] === "!" || text[i] === "^") i++;
  if (text[i] === "]") i++; // a leading "]" is a literal member
  for (; i < text.length; i++) {
    if (text[i] === "]") return i;
    if (text[i] === "/") return -1;
  }
  return -1;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, "$1");
}

const REGEXP_SPECIAL = /[.*+?^${}()|[\]\\\/-]/g;

/** One path component's pattern as an anchored regular expression. */
function componentRegExp(part: string): RegExp {
  let source = "";
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    if (c === "\\" && i + 1 < part.length) {
      source += part[++i].replace(REGEXP_SPECIAL, "\\$&");
    } else if (c === "*") {
      source += "[^/]*";
    } else if (c === "?") {
      source += "[^/]";
    } else if (c === "[" && bracketEnd(part, i) > 0) {
      const end = bracketEnd(part, i);
      let body = part.slice(i + 1, end);
      let negate = false;
      if (body[0] === "!" || body[0] === "^") {
        negate = true;
        body = body.slice(1);
      }
      // Members are literal except ranges "a-z"; escape everything RegExp would read.
      const members = body.replace(/[\\\]\[^]/g, "\\$&");
      source += `[${negate ? "^" : ""}${members}]`;
      i = end;
    } else {
      source += c.replace(REGEXP_SPECIAL, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

/** strcmp order, as glob(3) sorts in the C locale. */
function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
