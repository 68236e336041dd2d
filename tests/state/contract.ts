/**
 * The StateBackend contract: one suite, run against every backend (files in
 * files_backend_test.ts, postgres against a real cluster in postgres_backend_test.ts).
 * A backend that cannot meet a case skips it by name, with the reason in its test file.
 */
import assert from "node:assert/strict";
import type { StateBackend } from "../../src/state/backend.ts";
import type { AuditRecord } from "../../src/observe/audit_log.ts";
import type { OperationRecord } from "../../src/state/operations.ts";
import { newToken } from "../../src/state/tokens.ts";
import { embeddedMessages, Messages } from "../../src/config/messages.ts";
import { expectProvctlError } from "../helpers/errors.ts";

export interface ContractOptions {
  readonly name: string;
  /** A fresh, empty backend and how to dispose of it. */
  readonly make: () => Promise<{ backend: StateBackend; cleanup: () => Promise<void> }>;
  /** Cases this backend documents it does not meet. */
  readonly skip?: ReadonlySet<string>;
  readonly ignore?: boolean;
}

const messages = new Messages(embeddedMessages());

function record(i: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: crypto.randomUUID(),
    ts: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    operator: "alice",
    uid: 1000,
    pid: 42,
    machine: `web-${i % 3}`,
    op: i % 2 === 0 ? "exec" : "deploy.step",
    result: i % 5 === 4 ? "failed" : "ok",
    ...extra,
  };
}

export function stateBackendContract(options: ContractOptions): void {
  const cases: Record<string, (b: StateBackend) => Promise<void>> = {
    async "deployment state: compare-and-set by revision"(b) {
      assert.deepEqual(await b.getDeployment("api"), { state: undefined, revision: 0 });
      const one = { deployment: "api", version: "v1", deploymentId: "api-1", result: "ok" };
      assert.equal(await b.putDeployment(one, 0), 1);
      assert.deepEqual(await b.getDeployment("api"), { state: one, revision: 1 });
      // A writer that read before the first write loses.
      assert.equal(await b.putDeployment({ ...one, version: "stale" }, 0), undefined);
      const two = { ...one, version: "v2", previous: "v1", live: "green" as const };
      assert.equal(await b.putDeployment(two, 1), 2);
      assert.equal(await b.putDeployment({ ...one, version: "late" }, 1), undefined);
      assert.deepEqual(await b.getDeployment("api"), { state: two, revision: 2 });
      // Two writers with the same expectation at once: exactly one wins.
      const results = await Promise.all(
        ["a", "b", "c"].map((v) => b.putDeployment({ ...two, version: v }, 2)),
      );
      assert.deepEqual(results.filter((r) => r !== undefined), [3]);
      assert.deepEqual(await b.getDeployment("other"), { state: undefined, revision: 0 });
    },

    async "deploy lock: one holder; the other is refused naming it; released is free"(b) {
      const first = await b.acquireDeployLock("api", {
        deploymentId: "api-1",
        operation: "deploy",
        user: "alice",
      });
      assert.equal(first.recovered, undefined);
      const refused = await expectProvctlError(
        "Locked",
        b.acquireDeployLock("api", { deploymentId: "api-2", operation: "rollback", user: "bob" }),
      );
      const text = messages.format(refused.key, refused.params);
      assert.match(text, /deployment api is already being deployed/);
      assert.match(
        text,
        new RegExp(`pid ${Deno.pid} on .*user alice, deploy api-1, since \\d{4}-`),
      );
      // Another deployment is independent.
      const other = await b.acquireDeployLock("web", {
        deploymentId: "web-1",
        operation: "deploy",
        user: "bob",
      });
      await other.release();
      await first.release();
      await first.release(); // twice is harmless
      const again = await b.acquireDeployLock("api", {
        deploymentId: "api-3",
        operation: "deploy",
        user: "bob",
      });
      assert.equal(again.recovered, undefined, "a released lock is not a recovered one");
      await again.release();
    },

    async "deploy lock: waits up to waitMs for the holder to finish"(b) {
      const first = await b.acquireDeployLock("api", {
        deploymentId: "api-1",
        operation: "deploy",
        user: "alice",
      });
      setTimeout(() => void first.release(), 300);
      const started = Date.now();
      const second = await b.acquireDeployLock("api", {
        deploymentId: "api-2",
        operation: "deploy",
        user: "bob",
        waitMs: 5000,
      });
      assert.ok(Date.now() - started >= 250);
      await second.release();
    },

    async "audit: append, query in order with filters and limit"(b) {
      const records = Array.from({ length: 12 }, (_, i) =>
        record(i, {
          deployment_id: i < 4 ? "api-1" : undefined,
        }));
      await b.appendAudit(records.slice(0, 5));
      await b.appendAudit(records.slice(5));
      const all = await b.queryAudit({});
      assert.deepEqual(all.map((r) => r.id), records.map((r) => r.id));
      assert.deepEqual(all[3], records[3]);
      const ids = (rs: AuditRecord[]) => rs.map((r) => r.id);
      assert.deepEqual(
        ids(await b.queryAudit({ machine: "web-1" })),
        ids(records.filter((r) => r.machine === "web-1")),
      );
      // Several --machine globs (main's `audit -m A -m B`): a record matching any of them.
      assert.deepEqual(
        ids(await b.queryAudit({ machine: ["web-0", "*-2"] })),
        ids(records.filter((r) => r.machine !== "web-1")),
      );
      assert.deepEqual(
        ids(await b.queryAudit({ op: "deploy" })),
        ids(records.filter((r) => r.op === "deploy.step")),
      );
      assert.deepEqual(
        ids(await b.queryAudit({ result: "failed" })),
        ids(records.filter((r) => r.result === "failed")),
      );
      assert.deepEqual(
        ids(await b.queryAudit({ deploymentId: "api-1" })),
        ids(records.slice(0, 4)),
      );
      assert.deepEqual(ids(await b.queryAudit({ limit: 3 })), ids(records.slice(-3)));
      assert.deepEqual(
        ids(await b.queryAudit({ since: "2026-01-01T00:00:10Z" })),
        ids(records.slice(10)),
      );
      await expectProvctlError("InvalidArgument", b.queryAudit({ limit: 0 }));
    },

    async "audit: a replayed record is stored once"(b) {
      const records = Array.from({ length: 5 }, (_, i) => record(i));
      await b.appendAudit(records.slice(0, 3));
      // A backlog replay overlapping what was acknowledged, with a duplicate inside it.
      await b.appendAudit([...records.slice(1), records[4]]);
      assert.deepEqual((await b.queryAudit({})).map((r) => r.id), records.map((r) => r.id));
    },

    async "breakers: put, get, list, delete"(b) {
      assert.equal(await b.getBreaker("10.0.0.1:22"), undefined);
      const state = { version: 1, host: "10.0.0.1:22", policy: { breakerState: 3 } };
      await b.putBreaker("10.0.0.1:22", state);
      await b.putBreaker("[::1]:2222", { version: 1, host: "[::1]:2222", policy: {} });
      assert.deepEqual(await b.getBreaker("10.0.0.1:22"), state);
      const next = { ...state, policy: { breakerState: 0 } };
      await b.putBreaker("10.0.0.1:22", next);
      assert.deepEqual(await b.getBreaker("10.0.0.1:22"), next);
      assert.deepEqual((await b.listBreakers()).map((x) => x.host).sort(), [
        "10.0.0.1:22",
        "[::1]:2222",
      ]);
      assert.equal(await b.deleteBreaker("10.0.0.1:22"), true);
      assert.equal(await b.deleteBreaker("10.0.0.1:22"), false);
      assert.deepEqual((await b.listBreakers()).map((x) => x.host), ["[::1]:2222"]);
    },

    async "tokens: add, list, conflict, remove"(b) {
      const a = await newToken({ name: "ci", scope: "operate" });
      await b.tokens.add(a.stored);
      assert.deepEqual(await b.tokens.list(), [a.stored]);
      const dup = await newToken({ name: "ci", scope: "read" });
      await expectProvctlError("Conflict", b.tokens.add(dup.stored));
      assert.equal(await b.tokens.remove("ci"), true);
      assert.equal(await b.tokens.remove("ci"), false);
      assert.deepEqual(await b.tokens.list(), []);
    },

    async "operations: put, update, get, list newest first"(b) {
      const op = (i: number): OperationRecord => ({
        id: `op-${i}`,
        kind: "exec",
        status: "running",
        operator: "ci",
        created: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(),
        finished: null,
        request: { command: ["uptime"] },
        results: [],
        result: null,
        error: null,
      });
      for (const i of [1, 2, 3]) await b.putOperation(op(i));
      const done = { ...op(2), status: "succeeded" as const, results: [{ machine: "m1" }] };
      done.finished = new Date().toISOString();
      await b.putOperation(done);
      assert.deepEqual(await b.getOperation("op-2"), done);
      assert.equal(await b.getOperation("op-9"), undefined);
      assert.deepEqual((await b.listOperations(10)).map((o) => o.id), ["op-3", "op-2", "op-1"]);
      assert.deepEqual((await b.listOperations(2)).map((o) => o.id), ["op-3", "op-2"]);
    },

    async "status names the backend"(b) {
      const status = await b.status();
      assert.equal(status.backend, b.name);
      assert.equal(status.audit_backlog, 0);
    },
  };

  for (const [name, run] of Object.entries(cases)) {
    Deno.test({
      name: `state contract (${options.name}): ${name}`,
      ignore: options.ignore || options.skip?.has(name),
      sanitizeResources: false,
      sanitizeOps: false,
      async fn() {
        const { backend, cleanup } = await options.make();
        try {
          await run(backend);
        } finally {
          await backend.close();
          await cleanup();
        }
      },
    });
  }
}
