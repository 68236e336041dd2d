/**
 * The target lock's rules through a LocalRunner (the sshd tests in
 * tests/cli/deploy_lock_test.ts run it between real controllers): one holder at a time,
 * name order, give-back on refusal, release only by its holder, break only of the lock
 * that was read, expiry.
 */
import assert from "node:assert/strict";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import {
  breakTargetLock,
  LOCK_DIR,
  type LockTarget,
  lockTargets,
  readTargetLock,
  type TargetLockHolder,
} from "../../src/fleet/deploy/target_lock.ts";
import { expectProvctlError } from "../helpers/errors.ts";

const runner = new LocalRunner();

function holder(id: string): TargetLockHolder {
  return {
    controller: "ctl",
    user: "u",
    pid: 1,
    deployment_id: id,
    operation: "deploy",
    since: "2026-01-01T00:00:00Z",
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("target lock: one holder, name order, give-back, own release, careful break", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ops: string[] = [];
    const target = (name: string): LockTarget => ({
      name,
      root: `${dir}/${name}/app`,
      runner: (op) => {
        ops.push(`${op} ${name}`);
        return runner;
      },
    });
    const [a, b, c] = [target("a"), target("b"), target("c")];
    const first = await lockTargets([c, a, b], holder("run-1"), {
      expiryMs: 0,
      deployment: "app",
    });
    assert.deepEqual(ops.splice(0), ["deploy.lock a", "deploy.lock b", "deploy.lock c"]);
    const held = await readTargetLock(b);
    assert.equal(held?.holder?.deployment_id, "run-1");

    // A second run that could take "a0" but finds "b" held gives "a0" back and says who.
    const a0 = target("a0");
    const refused = await expectProvctlError(
      "Locked",
      lockTargets([a0, b], holder("run-2"), { expiryMs: 0, deployment: "app" }),
    );
    assert.equal(refused.params.machine, "b");
    assert.match(String(refused.params.holder), /pid 1 on ctl \(user u, deploy run-1, since/);
    assert.equal(await exists(`${a0.root}/${LOCK_DIR}`), false, "given back");

    // Breaking needs the lock as it was read: a lock taken again meanwhile stays.
    const stale = { ...held!, text: JSON.stringify(holder("someone-else")) };
    assert.equal(await breakTargetLock(b, stale), false);
    assert.equal((await readTargetLock(b))?.holder?.deployment_id, "run-1");

    await first.release();
    for (const t of [a, b, c]) assert.equal(await readTargetLock(t), undefined);

    // Release removes only locks that still name the run.
    const mine = await lockTargets([a], holder("run-3"), { expiryMs: 0, deployment: "app" });
    const seen = (await readTargetLock(a))!;
    assert.equal(await breakTargetLock(a, seen), true);
    const theirs = await lockTargets([a], holder("run-4"), { expiryMs: 0, deployment: "app" });
    await mine.release();
    assert.equal((await readTargetLock(a))?.holder?.deployment_id, "run-4");

    // An expired lock (or one of a run known dead) is broken and reported.
    const broken: string[] = [];
    await expectProvctlError(
      "Locked",
      lockTargets([a], holder("run-5"), { expiryMs: 3_600_000, deployment: "app" }),
    );
    const dead = await lockTargets([a], holder("run-5"), {
      expiryMs: 3_600_000,
      deployment: "app",
      deadRuns: ["run-4"],
      onBroken: (m, s) => broken.push(`${m} ${s.holder?.deployment_id}`),
    });
    assert.deepEqual(broken, ["a run-4"]);
    await theirs.release(); // no longer theirs: a no-op
    assert.equal((await readTargetLock(a))?.holder?.deployment_id, "run-5");
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await lockTargets([a], holder("run-6"), { expiryMs: 500, deployment: "app" });
    await dead.release();
    assert.equal((await readTargetLock(a))?.holder?.deployment_id, "run-6");
    await expired.release();

    // Aborted while taking locks: stops, gives back, throws.
    const stop = new AbortController();
    stop.abort();
    await assert.rejects(
      lockTargets([a, b], holder("run-7"), { expiryMs: 0, deployment: "app", signal: stop.signal }),
    );
    assert.equal(await readTargetLock(a), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
