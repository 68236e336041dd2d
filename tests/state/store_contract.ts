/**
 * The contract every state backend's TokenStore and OperationStore meets; each backend's
 * test file runs it (files now; PostgreSQL later).
 */
import assert from "node:assert/strict";
import type { OperationStore } from "../../src/state/operations.ts";
import { newToken, type TokenStore, verifySecret } from "../../src/state/tokens.ts";

export function tokenStoreContract(
  name: string,
  make: () => Promise<{ store: TokenStore; cleanup(): Promise<void> }>,
): void {
  Deno.test(`${name}: add, list, verify, conflict, remove`, async () => {
    const { store, cleanup } = await make();
    try {
      assert.deepEqual(await store.list(), []);
      const a = await newToken({ name: "a", scope: "read" });
      const b = await newToken({ name: "b", scope: "operate", expiresInMs: 60_000 });
      await store.add(a.stored);
      await store.add(b.stored);
      assert.deepEqual((await store.list()).map((t) => t.name).sort(), ["a", "b"]);
      await assert.rejects(
        () => store.add(a.stored),
        (e: Error & { key?: string }) => e.key === "token.exists",
      );
      const verdict = await verifySecret(await store.list(), b.secret);
      assert.ok(verdict.ok && verdict.token.name === "b" && verdict.token.scope === "operate");
      assert.equal(await store.remove("a"), true);
      assert.equal(await store.remove("a"), false);
      assert.equal((await verifySecret(await store.list(), a.secret)).ok, false);
    } finally {
      await cleanup();
    }
  });

  Deno.test(`${name}: concurrent adds are all kept`, async () => {
    const { store, cleanup } = await make();
    try {
      const tokens = await Promise.all(
        Array.from({ length: 8 }, (_, i) => newToken({ name: `t${i}`, scope: "read" })),
      );
      await Promise.all(tokens.map((t) => store.add(t.stored)));
      assert.equal((await store.list()).length, 8);
    } finally {
      await cleanup();
    }
  });
}

export function operationStoreContract(name: string, make: (kept: number) => OperationStore) {
  Deno.test(`${name}: create, results, finish, newest first, finished ones kept N`, () => {
    const store = make(2);
    const a = store.create("exec", "ci", { argv: ["true"] });
    assert.equal(a.status, "running");
    assert.equal(store.get(a.id), a);
    a.results.push({ machine: "m1" });
    store.finish(a, "succeeded");
    assert.equal(store.get(a.id)?.status, "succeeded");
    assert.ok(store.get(a.id)?.finished);
    const b = store.create("deploy", "ci", {});
    const c = store.create("rollback", "ci", {});
    assert.deepEqual(store.list().map((o) => o.id), [c.id, b.id, a.id]);
    store.finish(b, "failed", { error: { status: 500 } });
    const d = store.create("exec", "ci", {});
    store.finish(d, "cancelled");
    // Two finished kept (b, d); a fell out; running c stays.
    assert.equal(store.get(a.id), undefined);
    assert.deepEqual(store.list().map((o) => o.id).sort(), [b.id, c.id, d.id].sort());
    assert.equal(store.get("op-nope"), undefined);
  });
}
