import assert from "node:assert/strict";
import * as posix from "node:path/posix";
import { dirname, join, resolve } from "../../src/config/_path.ts";

Deno.test("the config path helpers agree with node:path/posix", () => {
  const cases = ["/a/b/c", "/a/b/", "a/b", "a", "/", "/a/../b/./c", "../x/y", "./p", "a//b///c/"];
  for (const p of cases) {
    assert.equal(dirname(p), posix.dirname(p), `dirname ${p}`);
    assert.equal(resolve(p), posix.resolve(p), `resolve ${p}`);
    assert.equal(resolve("/base/dir", p), posix.resolve("/base/dir", p), `resolve base ${p}`);
    assert.equal(join("/etc/provctl", p), posix.join("/etc/provctl", p), `join ${p}`);
  }
  assert.equal(join("/home/u", ".config", "provctl"), "/home/u/.config/provctl");
});
