/**
 * Line splitting for ssh_config as OpenSSH 9.2 does it: the keyword is separated from
 * its arguments by whitespace and/or one "="; arguments follow argv_split() in misc.c
 * (double or single quotes group, backslash escapes a quote, a backslash or a space,
 * an unquoted "#" at the start of an argument ends the line).
 */

export interface ConfigLine {
  keyword: string; // lowercased
  args: string[];
  /** The raw text after the keyword and separator (ProxyJump reads it unsplit). */
  rest: string;
}

/** The keyword and arguments of a line, undefined for blank and comment lines. */
export function lexLine(text: string): ConfigLine | { error: string } | undefined {
  const line = text.replace(/\r$/, "").trim();
  if (line === "" || line.startsWith("#")) return undefined;
  const m = /^([^\s=]+)(?:[ \t]*=[ \t]*|[ \t]+|$)(.*)$/.exec(line);
  if (!m) return { error: "cannot find a keyword" };
  const args = splitArgs(m[2]);
  if (typeof args === "string") return { error: args };
  return { keyword: m[1].toLowerCase(), args, rest: m[2] };
}

function splitArgs(s: string): string[] | string {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    if (s[i] === " " || s[i] === "\t") {
      i++;
      continue;
    }
    if (s[i] === "#") break;
    let arg = "";
    let quote = "";
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === "\\") {
        const next = s[i + 1];
        if (next === "'" || next === '"' || next === "\\" || (quote === "" && next === " ")) {
          arg += next;
          i++;
        } else {
          arg += c;
        }
      } else if (quote === "" && (c === " " || c === "\t")) {
        break;
      } else if (quote === "" && (c === '"' || c === "'")) {
        quote = c;
      } else if (quote !== "" && c === quote) {
        quote = "";
      } else {
        arg += c;
      }
    }
    if (quote !== "") return `unterminated quote (${quote})`;
    out.push(arg);
  }
  return out;
}
