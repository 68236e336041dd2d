/** The deploy engine on this machine (LocalRunner targets): cancellation and its rollback. */
import assert from "node:assert/strict";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { AuditLog, readAudit } from "../../src/observe/audit_log.ts";
import { DeployEngine, type DeployTarget } from "../../src/fleet/deploy/engine.ts";
import type { DeployPlan, HostPlan } from "../../src/fleet/deploy/plan.ts";
import type { MachineConfig } from "../../src/fleet/inventory.ts";

function engine(signal?: AbortSignal, audit?: AuditLog): DeployEngine {
  const target: DeployTarget = {
    name: "m1",
    runner: () => Promise.resolve(new LocalRunner()),
    backend: () => Promise.reject(new Error("no service in these plans")),
  };
  return new DeployEngine({
    targets: new Map([["m1", target]]),
    forks: 1,
    health: { timeoutMs: 3000, intervalMs: 100, checkTimeoutMs: 2000, healthyThreshold: 1 },
    signal,
    audit,
  });
}

function plan(dir: string, version: string, after: string[] = []): DeployPlan {
  const root = `${dir}/root`;
  const host: HostPlan = {
    machine: { name: "m1" } as MachineConfig,
    name: "m1",
    root,
    releaseDir: `${root}/releases/${version}`,
    before: [],
    after,
    health: {
      type: "command",
      program: "/bin/sh",
      args: ["-c", `test -f ${root}/current/health.txt`],
    },
  };
  return {
    deployment: "app",
    strategy: "rolling",
    version,
    deploymentId: `app-${version}`,
    artifact: `${dir}/art-${version}`,
    batches: [{ kind: "batch", hosts: [host] }],
    hosts: [host],
    maxFailures: { count: 0 },
    bakeMs: 0,
    keepReleases: 5,
    protectReleases: [],
  };
}

Deno.test("deploy engine: a cancelled deploy rolls the switched machine back and says so", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-engine-" });
  try {
    for (const v of ["v1", "v2"]) {
      await Deno.mkdir(`${dir}/art-${v}`);
      await Deno.writeTextFile(`${dir}/art-${v}/health.txt`, "ok\n");
    }
    const first = await engine().deploy(plan(dir, "v1"));
    assert.equal(first.ok, true, JSON.stringify(first));

    // Cancelled while v2's after step runs (the machine is switched): back to v1.
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), 1000);
    const second = await engine(stop.signal).deploy(plan(dir, "v2", ["sleep 5"]));
    clearTimeout(timer);
    assert.equal(second.ok, false);
    assert.equal(second.rolledBack, true);
    assert.equal(await Deno.readLink(`${dir}/root/current`), "releases/v1");
    const [h] = second.hosts;
    assert.equal(h.status, "rolled-back", JSON.stringify(h));
    assert.equal(h.current, "v1");
    assert.equal(h.rollbackError, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deploy engine: a switch refused before any change rolls nothing back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "provctl-engine-" });
  const log = await AuditLog.open(`${dir}/audit.jsonl`);
  try {
    for (const v of ["v1", "v2"]) {
      await Deno.mkdir(`${dir}/art-${v}`);
      await Deno.writeTextFile(`${dir}/art-${v}/health.txt`, "ok\n");
    }
    assert.equal((await engine().deploy(plan(dir, "v1"))).ok, true);
    // releases/v2 is a file, not a release: the switch refuses it, `current` stays on v1.
    await Deno.writeTextFile(`${dir}/root/releases/v2`, "");
    const result = await engine(undefined, log).deploy(plan(dir, "v2"));
    assert.equal(result.ok, false);
    const [h] = result.hosts;
    assert.deepEqual([h.status, h.stage, h.current], ["failed", "switch", "v1"]);
    assert.equal(await Deno.readLink(`${dir}/root/current`), "releases/v1");
    // Nothing was changed, so nothing was put back (no relink, no restart of the service).
    await log.close();
    const ops: string[] = [];
    for await (const r of readAudit(`${dir}/audit.jsonl`)) ops.push(r.op);
    assert.ok(ops.includes("deploy.switch"), ops.join(" "));
    assert.ok(!ops.some((op) => op.startsWith("rollback")), ops.join(" "));
  } finally {
    await log.close();
    await Deno.remove(dir, { recursive: true });
  }
});
