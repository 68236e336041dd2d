import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { keyPositions } from "../../src/config/_toml_position.ts";
import { parseTomlDocument } from "../../src/config/_toml_file.ts";

const DOC = [
  "# comment with [brackets] and key = value",
  'top = "a # not a comment"',
  '"quoted.key" = 1',
  "'literal key' = 2",
  "",
  "[table]",
  "  plain = 1 # comment",
  "dotted.inner.leaf = true",
  'inline = { a = 1, "b" = [1, { c = 2 }], d.e = "}" }',
  "arr = [",
  "  # comment in an array",
  '  "x]",',
  "  { f = 3 },",
  "]",
  'multi = """',
  'key = "not a key"',
  '[not.a.table] \\""" """',
  "lit = '''",
  "[nope]",
  "'''",
  "after = 1979-05-27 07:32:00",
  "",
  '[ table . "sub.table" ]',
  "deep = 1",
  "",
  "[[items]]",
  "name = 'one'",
  "[items.meta]",
  "m = 1",
  "[[items]]",
  "name = 'two'",
  "[items.meta]",
  "m = 2",
  "",
  "[unicode]",
  '"é" = 1', // non-ASCII keys must be quoted
  'z = "ü"',
].join("\n");

Deno.test("keyPositions: every kind of key is found at its line and column", () => {
  parse(DOC); // the scanner assumes valid TOML: make sure the fixture is
  const p = keyPositions(DOC);
  const cases: [(string | number)[], number, number][] = [
    [["top"], 2, 1],
    [["quoted.key"], 3, 1],
    [["literal key"], 4, 1],
    [["table"], 6, 2],
    [["table", "plain"], 7, 3],
    [["table", "dotted"], 8, 1],
    [["table", "dotted", "inner"], 8, 8],
    [["table", "dotted", "inner", "leaf"], 8, 14],
    [["table", "inline"], 9, 1],
    [["table", "inline", "a"], 9, 12],
    [["table", "inline", "b"], 9, 19],
    [["table", "inline", "b", 1, "c"], 9, 31],
    [["table", "inline", "d", "e"], 9, 43],
    [["table", "arr"], 10, 1],
    [["table", "arr", 1, "f"], 13, 5],
    [["table", "multi"], 15, 1],
    [["table", "lit"], 18, 1],
    [["table", "after"], 21, 1],
    [["table", "sub.table"], 23, 11],
    [["table", "sub.table", "deep"], 24, 1],
    [["items"], 26, 3],
    [["items", 0, "name"], 27, 1],
    [["items", 0, "meta", "m"], 29, 1],
    [["items", 1, "name"], 31, 1],
    [["items", 1, "meta"], 32, 8],
    [["items", 1, "meta", "m"], 33, 1],
    [["unicode", "é"], 36, 1],
    [["unicode", "z"], 37, 1],
  ];
  for (const [path, line, column] of cases) {
    assert.deepEqual(p.of(path), { line, column }, JSON.stringify(path));
  }
  // Text inside strings is never taken for keys or tables.
  assert.equal(p.of(["key"]), undefined);
  assert.equal(p.of(["not"]), undefined);
  assert.equal(p.of(["nope"]), undefined);
  // An unknown leaf falls back to its nearest known parent.
  assert.deepEqual(p.of(["table", "missing"]), { line: 6, column: 2 });
});

Deno.test("keyPositions: CRLF line endings and tabs", () => {
  const text = "[a]\r\n\tb = 1\r\nc.d = 'x'\r\n";
  parse(text);
  const p = keyPositions(text);
  assert.deepEqual(p.of(["a", "b"]), { line: 2, column: 2 });
  assert.deepEqual(p.of(["a", "c", "d"]), { line: 3, column: 3 });
});

Deno.test("keyPositions: text it does not understand ends the scan, keeping what came before", () => {
  for (
    const broken of ['a = "unterminated', "[a", "a = [1, 2", "a = {b = 1", "= = =", "'''", '"""x']
  ) {
    // A key before the broken text is still found where it is; nothing hangs or throws.
    const p = keyPositions(`first = 1\n${broken}\n`);
    assert.deepEqual(p.of(["first"]), { line: 1, column: 1 }, broken);
    const unknown = p.of(["no", "such", "key"]);
    assert.ok(unknown === undefined || unknown.line >= 1, broken);
  }
});

Deno.test("parseTomlDocument: locate/origin use the file name; TOML errors carry line and column", () => {
  const doc = parseTomlDocument("[a]\nb = 1\n", "x.toml");
  assert.equal(doc.locate(["a", "b"]), "x.toml:2:1");
  assert.equal(doc.origin(["a", "b"]), "x.toml:2");
  assert.equal(typeof doc.tree.a, "object");
  assert.equal(
    (doc.tree.a as Record<string, unknown>).b,
    1n,
    "integers are bigint, to tell them from floats",
  );
  assert.throws(() => parseTomlDocument("a = 1\nb = [\n", "y.toml"), (e: unknown) => {
    const err = e as { key: string; params: Record<string, unknown> };
    assert.equal(err.key, "config.toml_invalid");
    assert.equal(err.params.file, "y.toml");
    assert.equal(err.params.line, 3);
    return true;
  });
  assert.throws(() => parseTomlDocument("a = 1\na = 2\n", "z.toml"), (e: unknown) => {
    const err = e as { params: Record<string, unknown> };
    assert.deepEqual([err.params.line, err.params.column], [2, 1]);
    return true;
  });
});
