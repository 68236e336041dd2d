import assert from "node:assert/strict";
import { setBounded } from "../../src/serve/_bounded_map.ts";

Deno.test("setBounded keeps the newest entries, a key set again counts as new", () => {
  const map = new Map<string, number>();
  for (let i = 0; i < 5; i++) setBounded(map, `k${i}`, i, 3);
  assert.deepEqual([...map.keys()], ["k2", "k3", "k4"]);
  setBounded(map, "k2", 20, 3); // refreshed: now the newest
  setBounded(map, "k5", 5, 3);
  assert.deepEqual([...map.entries()], [["k4", 4], ["k2", 20], ["k5", 5]]);
  for (let i = 0; i < 100_000; i++) setBounded(map, `n${i}`, i, 3);
  assert.equal(map.size, 3);
});
