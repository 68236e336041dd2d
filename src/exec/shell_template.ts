/**
 * Shell text with `{name}` placeholders (deploy steps, `exec --shell`, switch commands,
 * `sh -c` scripts): every value is quoted for the place it stands in, so it reaches the
 * program as exactly that text and never as shell syntax. A small scanner follows the
 * quoting of the POSIX shell language far enough to know that place:
 *
 *   unquoted (also inside $(...))   'value'                 (shellQuote)
 *   inside "..."                    "..."'value'"..."      (closed, quoted, reopened)
 *   inside '...'                    ...'\''...              (quotes written as '\'')
 *   inside `...`                    as above, then \ ` $ escaped once more
 *   in a comment                    newlines become spaces
 *   in a here-document body, in     only plain words (letters, digits, _ . / : , @ % + = -);
 *   ${name:-...} and the like, or   anything else is refused: there quotes do not protect,
 *   in $((...))                     or shells do not agree on them
 *
 * `{raw:name}` inserts the value as shell text on purpose (the documented escape hatch);
 * `{{name}}` is a literal `{name}`, and `${name}` is the shell's own variable.
 */
import { ProvctlError } from "../core/errors.ts";
import { shellQuote } from "./shell_quote.ts";

export interface Placeholder {
  readonly name: string;
  /** Written as {raw:name}: the value is shell text, inserted as it is. */
  readonly raw: boolean;
}

/** `{{name}}`, `${name}` or `{name}` / `{raw:name}` at the scan position. */
export const PLACEHOLDER_TOKEN =
  /(\$?)\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(\$)?\{(raw:)?([A-Za-z_][A-Za-z0-9_]*)\}/y;

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]*$/;
const WORD_START = new Set([undefined, " ", "\t", "\n", ";", "&", "|", "(", ")"]);

type Context =
  // depth: open parentheses; cases: open `case` (whose patterns end in a bare ')').
  | { kind: "plain"; sub: boolean; depth: number; cases: number }
  | { kind: "single" }
  | { kind: "double" }
  | { kind: "backtick" }
  | { kind: "comment" }
  // ${name...}: inDouble when inside "...", where single quotes are plain characters.
  | { kind: "param"; inDouble: boolean; depth: number }
  // $((...)): treated as if in double quotes, where single quotes do not protect.
  | { kind: "arith"; depth: number };

interface HereDoc {
  /** Undefined when provctl cannot tell it: the rest of the script counts as the body. */
  readonly delimiter?: string;
  readonly quoted: boolean;
  readonly stripTabs: boolean;
}

/** Quotes `value` for `context` (see the module comment). */
function quoteFor(context: Context["kind"] | "heredoc", value: string, name: string): string {
  switch (context) {
    case "param":
      if (!PLAIN_WORD.test(value)) {
        throw new ProvctlError("InvalidArgument", "inventory.placeholder_param", {
          params: { placeholder: `{${name}}`, value: JSON.stringify(value) },
        });
      }
      return value;
    case "single":
      return value.replaceAll("'", `'\\''`);
    case "double":
      return PLAIN_WORD.test(value) && value !== "" ? value : `"${shellQuote(value)}"`;
    case "comment":
      return value.replace(/[\r\n]/g, " ");
    case "heredoc":
      if (!PLAIN_WORD.test(value)) {
        throw new ProvctlError("InvalidArgument", "inventory.placeholder_heredoc", {
          params: { placeholder: `{${name}}`, value: JSON.stringify(value) },
        });
      }
      return value;
    default:
      return shellQuote(value);
  }
}

/** Escapes text for use inside `...` (the shell removes one level of \ \` \$ there). */
function forBackticks(text: string, levels: number): string {
  let out = text;
  for (let i = 0; i < levels; i++) out = out.replace(/[\\`$]/g, (c) => `\\${c}`);
  return out;
}

/**
 * Replaces each placeholder of `script` with `value(placeholder)`, quoted for where it
 * stands (see the module comment). `value` throws for unknown names.
 */
export function expandShellTemplate(
  script: string,
  value: (placeholder: Placeholder) => string,
): string {
  const stack: Context[] = [{ kind: "plain", sub: false, depth: 0, cases: 0 }];
  const pending: HereDoc[] = [];
  let out = "";
  let i = 0;
  const n = script.length;
  const top = () => stack[stack.length - 1];
  const backticks = () => stack.filter((c) => c.kind === "backtick").length;
  // Inside ${...} anywhere up the stack, a value must be a plain word (see quoteFor).
  const inParam = () => stack.some((c) => c.kind === "param" || c.kind === "arith");

  /** Copies here-document bodies that start after the newline at `i - 1`. */
  const hereDocs = () => {
    while (pending.length > 0) {
      const doc = pending.shift()!;
      while (i < n) {
        const start = i;
        const end = script.indexOf("\n", i);
        const stop = end < 0 ? n : end + 1;
        const line = script.slice(i, end < 0 ? n : end);
        const bare = doc.stripTabs ? line.replace(/^\t+/, "") : line;
        i = stop;
        if (doc.delimiter !== undefined && bare === doc.delimiter) {
          out += script.slice(start, stop);
          break;
        }
        out += line.replace(
          /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(\$)?\{(raw:)?([A-Za-z_][A-Za-z0-9_]*)\}/g,
          (whole, escaped, dollar, raw, name) => {
            if (escaped !== undefined) return `{${escaped}}`;
            if (dollar) return whole;
            const v = value({ name, raw: raw !== undefined });
            if (raw !== undefined) return v;
            // A quoted delimiter (<<'EOF') expands nothing: only a line break could escape.
            if (doc.quoted && !/[\r\n]/.test(v)) return v;
            return quoteFor("heredoc", v, name);
          },
        ) + (end < 0 ? "" : "\n");
      }
    }
  };

  while (i < n) {
    const c = script[i];
    const context = top();
    if (c === "{" || (c === "$" && script[i + 1] === "{")) {
      PLACEHOLDER_TOKEN.lastIndex = i;
      const m = PLACEHOLDER_TOKEN.exec(script);
      if (m) {
        const [whole, escapedDollar, escaped, shellVar, raw, name] = m;
        i += whole.length;
        if (escaped !== undefined) out += `${escapedDollar}{${escaped}}`;
        else if (shellVar) out += whole;
        else {
          const v = value({ name, raw: raw !== undefined });
          const where = inParam() ? "param" : context.kind;
          out += raw !== undefined ? v : forBackticks(quoteFor(where, v, name), backticks());
        }
        continue;
      }
    }
    i++;
    out += c;
    if (
      c === "$" && script[i] === "(" && script[i + 1] === "(" && context.kind !== "single" &&
      context.kind !== "comment"
    ) {
      out += script.slice(i, i + 2);
      i += 2;
      stack.push({ kind: "arith", depth: 0 });
      continue;
    }
    if (c === "$" && script[i] === "{" && context.kind !== "single" && context.kind !== "comment") {
      out += script[i++];
      const inDouble = context.kind === "double" || (context.kind === "param" && context.inDouble);
      stack.push({ kind: "param", inDouble, depth: 0 });
      continue;
    }
    switch (context.kind) {
      case "arith":
        if (c === "(") context.depth++;
        else if (c === ")") {
          if (context.depth > 0) context.depth--;
          else if (script[i] === ")") {
            out += script[i++];
            stack.pop();
          }
        } else if (c === "$" && script[i] === "(") {
          out += script[i++];
          stack.push({ kind: "plain", sub: true, depth: 0, cases: 0 });
        } else if (c === "`") stack.push({ kind: "backtick" });
        break;
      case "param":
        if (c === "\\" && i < n) out += script[i++];
        else if (c === "{") context.depth++;
        else if (c === "}") {
          if (context.depth === 0) stack.pop();
          else context.depth--;
        } else if (c === '"') stack.push({ kind: "double" });
        else if (c === "'" && !context.inDouble) stack.push({ kind: "single" });
        else if (c === "`") stack.push({ kind: "backtick" });
        else if (c === "$" && script[i] === "(") {
          out += script[i++];
          stack.push({ kind: "plain", sub: true, depth: 0, cases: 0 });
        }
        break;
      case "single":
        if (c === "'") stack.pop();
        break;
      case "comment":
        if (c === "\n") {
          stack.pop();
          hereDocs();
        }
        break;
      case "double":
        if (c === '"') stack.pop();
        else if (c === "\\" && i < n) out += script[i++];
        else if (c === "`") stack.push({ kind: "backtick" });
        else if (c === "$" && script[i] === "(") {
          out += script[i++];
          stack.push({ kind: "plain", sub: true, depth: 0, cases: 0 });
        }
        break;
      default: {
        // plain or backtick
        if (c === "\\" && i < n) out += script[i++];
        else if (c === "'") stack.push({ kind: "single" });
        else if (c === '"') stack.push({ kind: "double" });
        else if (c === "`") {
          if (context.kind === "backtick") stack.pop();
          else stack.push({ kind: "backtick" });
        } else if (c === "$" && script[i] === "(") {
          out += script[i++];
          stack.push({ kind: "plain", sub: true, depth: 0, cases: 0 });
        } else if (context.kind === "plain" && context.sub && c === "(") context.depth++;
        else if (context.kind === "plain" && context.sub && c === ")") {
          if (context.cases > 0 && context.depth === 0) break;
          if (context.depth === 0) stack.pop();
          else context.depth--;
        } else if (
          context.kind === "plain" && WORD_START.has(script[i - 2]) &&
          /^(case|esac)\b/.test(script.slice(i - 1, i + 4))
        ) {
          context.cases += c === "c" ? 1 : context.cases > 0 ? -1 : 0;
        } else if (c === "#" && WORD_START.has(script[i - 2])) {
          stack.push({ kind: "comment" });
        } else if (c === "<" && script[i] === "<" && script[i + 1] !== "<") {
          out += script[i++];
          const m = /^(-?)[ \t]*(\\|'|")?([A-Za-z0-9_.-]+)(['"]?)/.exec(script.slice(i));
          const quote = m?.[2];
          if (m && (quote === "\\" ? m[4] === "" : (quote ?? "") === m[4])) {
            out += m[0];
            i += m[0].length;
            pending.push({ delimiter: m[3], quoted: quote !== undefined, stripTabs: m[1] === "-" });
          } else {
            pending.push({ quoted: false, stripTabs: false });
          }
        } else if (c === "\n") hereDocs();
      }
    }
  }
  return out;
}
