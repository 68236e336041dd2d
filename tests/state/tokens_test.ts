import assert from "node:assert/strict";
import { cliSandbox } from "../helpers/cli.ts";
import { FileTokenStore } from "../../src/state/file_token_store.ts";
import { newToken, parseExpiry, scopeAllows, verifySecret } from "../../src/state/tokens.ts";

Deno.test("a token's secret verifies; a wrong, expired or revoked one does not", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileTokenStore(dir);
    const a = await newToken({ name: "a", scope: "read" });
    const b = await newToken({ name: "b", scope: "admin", expiresInMs: 60_000 });
    await store.add(a.stored);
    await store.add(b.stored);
    const tokens = await store.list();
    assert.deepEqual(await verifySecret(tokens, a.secret), {
      ok: true,
      token: { name: "a", scope: "read", created: a.stored.created, expires: null },
    });
    assert.equal((await verifySecret(tokens, b.secret)).ok, true);
    assert.deepEqual(await verifySecret(tokens, a.secret + "x"), { ok: false, reason: "invalid" });
    assert.deepEqual(await verifySecret(tokens, undefined), { ok: false, reason: "missing" });
    const later = new Date(Date.now() + 120_000);
    assert.deepEqual(await verifySecret(tokens, b.secret, later), {
      ok: false,
      reason: "expired",
      name: "b",
    });
    assert.equal(await store.remove("a"), true);
    assert.equal(await store.remove("a"), false);
    assert.deepEqual(await verifySecret(await store.list(), a.secret), {
      ok: false,
      reason: "invalid",
    });
    // Only hashes are stored, in a private file.
    const text = await Deno.readTextFile(store.path);
    assert.ok(!text.includes(b.secret));
    assert.equal((await Deno.stat(store.path)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a token file others can write is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileTokenStore(dir);
    await store.add((await newToken({ name: "a", scope: "read" })).stored);
    await Deno.chmod(store.path, 0o666);
    await assert.rejects(() => new FileTokenStore(dir).list(), /file_unreadable/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("scopes nest and expiries parse", () => {
  assert.equal(scopeAllows("admin", "operate"), true);
  assert.equal(scopeAllows("operate", "admin"), false);
  assert.equal(scopeAllows("read", "read"), true);
  assert.equal(parseExpiry("30d"), 30 * 86_400_000);
  assert.throws(() => parseExpiry("0d"));
  assert.throws(() => parseExpiry("5y"));
});

Deno.test("provctl token create prints the secret alone; list and revoke", async () => {
  const cli = await cliSandbox();
  try {
    const made = await cli.run(["token", "create", "ci", "--scope", "operate", "--expires", "2h"]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /^pvt_[A-Za-z0-9_-]{43}\n$/);
    assert.match(made.stderr, /Created token ci/);
    const again = await cli.run(["token", "create", "ci", "--scope", "read"]);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, "");
    assert.match(again.stderr, /^provctl: error: a token named ci already exists/);
    const bad = await cli.run(["token", "create", "x", "--scope", "root"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid scope root/);
    const listed = await cli.run(["token", "list", "-o", "json"]);
    const row = JSON.parse(listed.stdout);
    assert.equal(row.name, "ci");
    assert.equal(row.scope, "operate");
    assert.ok(!listed.stdout.includes(made.stdout.trim()));
    assert.equal((await cli.run(["token", "revoke", "ci"])).code, 0);
    assert.equal((await cli.run(["token", "revoke", "ci"])).code, 3);
  } finally {
    await cli.cleanup();
  }
});
