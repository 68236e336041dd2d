import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { embeddedMessages, FlatCatalog, Messages } from "../../src/config/messages.ts";

function flatten(tree: Record<string, unknown>, prefix = "", out = new Map<string, string>()) {
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "string") out.set(path, v);
    else flatten(v as Record<string, unknown>, path, out);
  }
  return out;
}

Deno.test("the compiled catalog answers every key exactly as a parse of messages.toml does", async () => {
  const text = await Deno.readTextFile(new URL("../../configs/messages.toml", import.meta.url));
  const full = flatten(parse(text) as Record<string, unknown>);
  assert.ok(full.size > 100);
  for (const [key, value] of full) assert.equal(embeddedMessages().get(key), value, key);
  assert.deepEqual(new Map(embeddedMessages().all()), full);
  assert.equal(embeddedMessages().get("no.such.key"), undefined);
  assert.equal(embeddedMessages().get("constructor"), undefined, "no prototype keys");
  assert.equal(embeddedMessages().get("cli.constructor"), undefined, "no prototype keys");
  assert.equal(embeddedMessages().get("cli"), undefined, "a table is not a message");
});

Deno.test("later layers override, unknown keys are a bug, placeholders are filled", () => {
  const m = new Messages(
    new FlatCatalog({ a: JSON.stringify({ "a.x": "one {n}", "a.y": "why", "a.b.z": "zed" }) }),
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
