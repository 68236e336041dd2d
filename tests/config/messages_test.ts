import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { embeddedMessagesText, Messages, SectionedCatalog } from "../../src/config/messages.ts";

function flatten(tree: Record<string, unknown>, prefix = "", out = new Map<string, string>()) {
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(path, v);
    else flatten(v as Record<string, unknown>, path, out);
  }
  return out;
}

Deno.test("the sectioned catalog answers every key exactly as a full parse does", () => {
  const text = embeddedMessagesText();
  const full = flatten(parse(text) as Record<string, unknown>);
  assert.ok(full.size > 100);
  // A fresh catalog per key proves each lookup works from its own section alone.
  for (const [key, value] of full) {
    assert.equal(new SectionedCatalog(text).get(key), value, key);
  }
  assert.deepEqual(new Map(new SectionedCatalog(text).all()), full);
});

Deno.test("later layers override, unknown keys are a bug, placeholders are filled", () => {
  const m = new Messages(
    new SectionedCatalog('[a]\nx = "one {n}"\ny = "why"\n[a.b]\nz = "zed"\n'),
    { a: { x: "uno {n}" } },
  );
  assert.equal(m.format("a.x", { n: 1 }), "uno 1");
  assert.equal(m.format("a.y"), "why");
  assert.equal(m.format("a.b.z"), "zed");
  assert.equal(m.format("a.x"), "uno {n}");
  assert.ok(!m.has("a.nope"));
  assert.throws(() => m.template("a.nope"), /missing message a\.nope/);
  assert.deepEqual(m.keys().sort(), ["a.b.z", "a.x", "a.y"]);
});
