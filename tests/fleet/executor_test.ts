import assert from "node:assert/strict";
import { ProvctlError } from "../../src/core/errors.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { budgetExceeded, parseFailureBudget, runFleet } from "../../src/fleet/executor.ts";

const runner = new LocalRunner();
const hosts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `h${i + 1}` }));

Deno.test("runFleet never runs more than --forks tasks at once and keeps host order", async () => {
  let running = 0, peak = 0;
  const outcomes = await runFleet(hosts(9), async (h) => {
    running++;
    peak = Math.max(peak, running);
    // A real process per host: sleep a little so tasks overlap.
    const r = await runner.run("sh", ["-c", `sleep 0.1; echo ${h.name}`]);
    running--;
    return { ok: r.code === 0, value: r.stdout.trim() };
  }, { forks: 3 });
  assert.equal(peak, 3);
  assert.deepEqual(outcomes.map((o) => o.value), hosts(9).map((h) => h.name));
  assert.ok(outcomes.every((o) => o.status === "ok"));
});

Deno.test("failed, unreachable and skipped outcomes; --max-failures stops scheduling", async () => {
  const outcomes = await runFleet(hosts(8), async (h) => {
    if (h.name === "h2") {
      throw new ProvctlError("ConnectionFailed", "ssh.connection_refused", { params: {} });
    }
    const r = await runner.run("sh", [
      "-c",
      h.name === "h1" || h.name === "h3" ? "exit 3" : "true",
    ]);
    return { ok: r.code === 0, value: r.code };
  }, { forks: 1, maxFailures: { count: 2 } });
  assert.deepEqual(outcomes.map((o) => o.status), [
    "failed",
    "unreachable",
    "failed",
    "skipped",
    "skipped",
    "skipped",
    "skipped",
    "skipped",
  ]);
});

Deno.test("failure budgets: counts and percentages", () => {
  assert.deepEqual(parseFailureBudget("3"), { count: 3 });
  assert.deepEqual(parseFailureBudget("25%"), { percent: 25 });
  assert.throws(() => parseFailureBudget("many"), ProvctlError);
  assert.throws(() => parseFailureBudget("150%"), ProvctlError);
  assert.equal(budgetExceeded({ count: 0 }, 1, 10), true);
  assert.equal(budgetExceeded({ percent: 25 }, 2, 10), false);
  assert.equal(budgetExceeded({ percent: 25 }, 3, 10), true);
  assert.equal(budgetExceeded(undefined, 10, 10), false);
});

Deno.test("a spent failure budget stops scheduling but lets running tasks finish", async () => {
  const finished: string[] = [];
  const outcomes = await runFleet(hosts(4), async (h, signal) => {
    if (h.name === "h1") {
      const r = await runner.run("sh", ["-c", "exit 1"], { signal });
      return { ok: r.code === 0, value: r.code };
    }
    // h2 is still running when h1's failure spends the budget: it must not be killed.
    const r = await runner.run("sh", ["-c", "sleep 0.5"], { signal });
    finished.push(h.name);
    return { ok: r.code === 0, value: r.code };
  }, { forks: 2, maxFailures: { count: 0 } });
  assert.deepEqual(outcomes.map((o) => o.status), ["failed", "ok", "skipped", "skipped"]);
  assert.deepEqual(finished, ["h2"]);
});
