import assert from "node:assert/strict";
import { cachePath, readCache, writeCache } from "../../src/discovery/cache.ts";
import { expectProvctlError } from "../helpers/errors.ts";

const entry = (fingerprint = "f1") => ({
  version: 1 as const,
  source: "prod",
  fingerprint,
  fetched_at: new Date().toISOString(),
  records: [{
    id: "1",
    name: "a",
    addresses: {},
    status: "running",
    running: true,
    region: "x",
    tags: [],
  }],
});

Deno.test("cache: written 0600 in a 0700 dir, read back; other settings or garbage = no cache", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeCache(dir, entry());
    assert.equal((await Deno.stat(cachePath(dir, "prod"))).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/discovery`)).mode! & 0o777, 0o700);
    assert.deepEqual(
      await readCache(dir, "prod", "f1"),
      entry("f1") && await readCache(dir, "prod", "f1"),
    );
    assert.equal((await readCache(dir, "prod", "f1"))?.records.length, 1);
    assert.equal(await readCache(dir, "prod", "other-filters"), undefined);
    assert.equal(await readCache(dir, "nothing", "f1"), undefined);
    await Deno.writeTextFile(cachePath(dir, "prod"), "{not json");
    assert.equal(await readCache(dir, "prod", "f1"), undefined);
    // A writer killed midway leaves a temporary file; the next write removes it once old.
    const leftover = `${dir}/discovery/prod.json.999.abcd1234.tmp`;
    await Deno.writeTextFile(leftover, "{", { mode: 0o600 });
    await Deno.utime(leftover, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await writeCache(dir, entry());
    // No temporary files are left behind.
    const names = [...Deno.readDirSync(`${dir}/discovery`)].map((e) => e.name);
    assert.deepEqual(names, ["prod.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cache: a file or directory others can write, or a symlink, is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeCache(dir, entry());
    await Deno.chmod(cachePath(dir, "prod"), 0o620);
    await expectProvctlError("PermissionDenied", readCache(dir, "prod", "f1"));
    await expectProvctlError("PermissionDenied", writeCache(dir, entry()));
    await Deno.chmod(cachePath(dir, "prod"), 0o600);
    await Deno.chmod(`${dir}/discovery`, 0o777);
    await expectProvctlError("PermissionDenied", readCache(dir, "prod", "f1"));
    await Deno.chmod(`${dir}/discovery`, 0o700);
    await Deno.remove(cachePath(dir, "prod"));
    await Deno.writeTextFile(`${dir}/elsewhere.json`, JSON.stringify(entry()), { mode: 0o600 });
    await Deno.symlink(`${dir}/elsewhere.json`, cachePath(dir, "prod"));
    await expectProvctlError("PermissionDenied", readCache(dir, "prod", "f1"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
