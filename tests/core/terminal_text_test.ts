import assert from "node:assert/strict";
import { escapeControl, escapeControlLines } from "../../src/core/terminal_text.ts";
import { fill } from "../../src/config/messages.ts";

Deno.test("control characters become visible escapes; ordinary text is unchanged", () => {
  const cases: [string, string][] = [
    ["plain name-1.x", "plain name-1.x"],
    ["tab\tstays", "tab\tstays"],
    ["a\nb", "a\\nb"],
    ["a\r\nb", "a\\r\\nb"],
    ["\x1b[31mred\x1b[0m", "\\e[31mred\\e[0m"],
    ["\x00\x07\x7f", "\\x00\\x07\\x7f"],
    ["c1\x9b2J", "c1\\x9b2J"],
    ["bidi\u202eevil\u2066", "bidi\\u{202e}evil\\u{2066}"],
    ["ünïcödé ✓ 日本", "ünïcödé ✓ 日本"],
  ];
  for (const [input, expected] of cases) assert.equal(escapeControl(input), expected, input);
  assert.equal(escapeControlLines("one\x1b[2J\ntwo\r\nthree"), "one\\e[2J\ntwo\nthree");
});

Deno.test("message parameters are escaped; a trailing block parameter keeps its lines", () => {
  assert.equal(fill("service {name} failed", { name: "a\nb" }), "service a\\nb failed");
  assert.equal(
    fill("died; last lines:\n{last_lines}", { last_lines: "l1\x1b]0;t\x07\nl2" }),
    "died; last lines:\nl1\\e]0;t\\x07\nl2",
  );
  // Not at the end, or not on its own line: one line.
  assert.equal(fill("x:\n{a} y", { a: "1\n2" }), "x:\n1\\n2 y");
  assert.equal(fill("x: {a}", { a: "1\n2" }), "x: 1\\n2");
  assert.equal(fill("{n} of {m}", { n: 3, m: undefined }), "3 of {m}");
});
