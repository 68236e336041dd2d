import assert from "node:assert/strict";
import { isoTime } from "../../src/core/iso_time.ts";

Deno.test("isoTime writes what Date#toISOString writes", () => {
  const edges = [
    0,
    1,
    999,
    86_399_999,
    86_400_000,
    Date.UTC(1972, 1, 29, 23, 59, 59, 999), // leap day
    Date.UTC(2000, 1, 29), // leap year divisible by 400
    Date.UTC(2100, 1, 28, 12), // not a leap year
    Date.UTC(2100, 2, 1),
    Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    Date.UTC(2027, 0, 1),
    Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    Date.UTC(10000, 0, 1), // six-digit year: toISOString's own form
    -1, // before 1970
    Date.UTC(1969, 11, 31),
  ];
  for (const ms of edges) {
    const date = new Date(ms);
    assert.equal(isoTime(date), date.toISOString(), String(ms));
  }
  // Every day over four centuries, at a varying time of day.
  for (let day = 0; day < 146_097 * 1.1; day += 1) {
    const date = new Date(day * 86_400_000 + ((day * 7_919_111) % 86_400_000));
    assert.equal(isoTime(date), date.toISOString());
  }
  assert.throws(() => isoTime(new Date(Number.NaN)), RangeError);
});
