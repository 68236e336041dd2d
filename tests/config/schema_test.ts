import assert from "node:assert/strict";
import { ProvctlError } from "../../src/core/errors.ts";
import { editDistance, nearest } from "../../src/config/_check.ts";
import { parseTomlDocument } from "../../src/config/_toml_file.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { defaultsSchema, KEY_CONSTRAINTS } from "../../src/config/schema.ts";
import { deriveSchema } from "../../src/config/derive_schema.ts";

const embeddedDefaultsText = () =>
  Deno.readTextFileSync(new URL("../../configs/defaults.toml", import.meta.url));

function lineOf(text: string, pattern: RegExp): number {
  return text.slice(0, text.search(pattern)).split("\n").length;
}

Deno.test("the schema is every key of the embedded defaults.toml with its type", () => {
  const schema = defaultsSchema();
  assert.ok(schema.tables.has("general") && schema.tables.has("timeouts"));
  assert.deepEqual(schema.keys.get("timeouts.stop_ms"), {
    key: "timeouts.stop_ms",
    type: "integer",
    default: 10000,
    origin: `defaults.toml (embedded):${lineOf(embeddedDefaultsText(), /^stop_ms = /m)}`,
  });
  assert.equal(schema.keys.get("general.backend")?.type, "string");
  // Every key of the text is in the schema, found independently by line.
  const text = embeddedDefaultsText();
  let table = "";
  for (const line of text.split("\n")) {
    const header = /^\[([a-z0-9_.]+)\]/.exec(line);
    if (header) table = header[1];
    const key = /^([a-z0-9_]+)\s*=/.exec(line);
    if (key) assert.ok(schema.keys.has(`${table}.${key[1]}`), `${table}.${key[1]} missing`);
  }
});

Deno.test("every constrained key exists in defaults.toml (no rule for a typo)", () => {
  const schema = defaultsSchema();
  for (const key of Object.keys(KEY_CONSTRAINTS)) assert.ok(schema.keys.has(key), key);
});

Deno.test("deriveSchema: types from values, nested tables, generic rules", () => {
  const schema = deriveSchema(
    [
      "[a]",
      's = "x"',
      "i = 3",
      "f = 1.5",
      "b = true",
      'l = ["x"]',
      "e = []",
      "wait_ms = 10",
      'cache_dir = "{home}/c"',
      "[a.nested]",
      "deep = 1",
    ].join("\n"),
    { constraints: {} },
  );
  const types = Object.fromEntries([...schema.keys.values()].map((k) => [k.key, k.type]));
  assert.deepEqual(types, {
    "a.s": "string",
    "a.i": "integer",
    "a.f": "float",
    "a.b": "boolean",
    "a.l": "string[]",
    "a.e": "string[]",
    "a.wait_ms": "integer",
    "a.cache_dir": "string",
    "a.nested.deep": "integer",
  });
  assert.deepEqual([...schema.tables], ["a", "a.nested"]);
  // Generic rules: *_ms >= 0; *_dir is a path template.
  assert.equal(schema.constraintFor("a.wait_ms").min, 0);
  assert.ok(schema.isPath("a.cache_dir"));
  assert.ok(!schema.isPath("a.s"));
  assert.throws(() => schema.check("a.wait_ms", -1, { location: "f:1:1" }), /out_of_range/);
  assert.throws(
    () => schema.check("a.cache_dir", "{nope}", { location: "f:1:1" }),
    /unknown_placeholder_at/,
  );
  assert.equal(
    schema.check("a.i", -1, { location: "f:1:1" }),
    -1,
    "plain integers have no minimum",
  );

  // A layer is read against it, floats accept integers.
  const doc = parseTomlDocument("[a]\nf = 2\n[a.nested]\ndeep = 5\n", "layer.toml");
  assert.deepEqual(schema.read(doc), [
    { key: "a.f", value: 2, origin: "layer.toml:2" },
    { key: "a.nested.deep", value: 5, origin: "layer.toml:4" },
  ]);
});

Deno.test("deriveSchema: an unsupported default or one that breaks its rules is a bug", () => {
  const bug = (e: unknown) => e instanceof ProvctlError && e.kind === "Internal";
  assert.throws(() => deriveSchema("[a]\nd = 1979-05-27\n"), bug);
  assert.throws(() => deriveSchema("[a]\nl = [1, 2]\n"), bug);
  assert.throws(() => deriveSchema('[a]\n"x.y" = 1\n'), bug);
  assert.throws(() => deriveSchema("[a]\nwait_ms = -1\n"), bug);
  assert.throws(
    () => deriveSchema('[a]\nmode = "x"\n', { constraints: { "a.mode": { oneOf: ["y"] } } }),
    bug,
  );
});

Deno.test("every config.* message key used by src/config exists in messages.toml", async () => {
  const catalog = new Messages(embeddedMessages());
  const dir = new URL("../../src/config/", import.meta.url);
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    for (const m of text.matchAll(/"(config\.[a-z_]+)"/g)) {
      assert.ok(catalog.has(m[1]), `${entry.name}: ${m[1]}`);
    }
    // invalid("name", ...) expands to config.name and config.env_name.
    for (const m of text.matchAll(/invalid\("([a-z_]+)"/g)) {
      assert.ok(catalog.has(`config.${m[1]}`), `${entry.name}: config.${m[1]}`);
      assert.ok(
        catalog.has(`config.env_${m[1]}`) || entry.name === "services_file.ts",
        `config.env_${m[1]}`,
      );
    }
  }
});

Deno.test("nearest: typos, wrong table, abbreviations; nothing when nothing is close", () => {
  const keys = [...defaultsSchema().keys.keys(), ...defaultsSchema().tables];
  assert.equal(nearest("timeouts.stpo_ms", keys), "timeouts.stop_ms");
  assert.equal(nearest("Timeouts.Stop_MS", keys), "timeouts.stop_ms");
  assert.equal(nearest("general.stop_ms", keys), "timeouts.stop_ms");
  assert.equal(nearest("timeouts.lock", keys), "timeouts.lock_ms");
  assert.equal(nearest("timeout", keys), "timeouts");
  assert.equal(nearest("lgos", keys), "logs");
  assert.equal(nearest("general.colour", keys), "general.color");
  assert.equal(nearest("frobnicate", keys), undefined);
  assert.equal(nearest("general.x", keys), undefined);
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
});
