/**
 * Untrusted text on a terminal. Names, labels, remote output and provider data can hold
 * control characters: a newline would split a one-line error in two, and an escape
 * sequence would reach the terminal raw (move the cursor, retitle the window, hide text).
 * Every such value is shown with its control characters written as visible escapes.
 */

// C0 controls, DEL, C1 controls, and the Unicode bidirectional overrides/isolates that
// can make a line read differently from its bytes (CVE-2021-42574, "Trojan Source").
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\x1b": "\\e" };

function visible(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/** One line: every control character (newline included) as a visible escape; tabs stay. */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, visible);
}

/** A block of lines (log tails, remote output shown as a block): line breaks stay. */
export function escapeControlLines(text: string): string {
  return text.split(/\r?\n/).map(escapeControl).join("\n");
}
