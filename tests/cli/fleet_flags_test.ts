/**
 * Every fleet command honours the fleet flags it accepts, or refuses them: `health` with
 * --forks and --max-failures (and --watch refusing them), `machines check` with
 * --max-failures, `machines list` without either. Real sshd hosts on loopback.
 */
import assert from "node:assert/strict";
import { fleetSandbox, fleetUnavailable } from "../helpers/fleet.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`fleet flag tests skipped: ${unavailable}`);

Deno.test({
  name: "fleet flags: health honours --forks and --max-failures; machines check/list",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const f = await fleetSandbox(3);
    try {
      // The machines share this filesystem: a check holding a directory for a second
      // fails on any machine that runs while another holds it.
      const busy = `${f.cli.dir}/busy`;
      const exclusive = ["--", "/bin/sh", "-c", `mkdir ${busy} || exit 1; sleep 1; rmdir ${busy}`];
      const one = await f.run(["health", "--all", "--forks", "1", "-o", "json", ...exclusive]);
      assert.equal(one.code, 0, one.stderr + one.stdout);
      const rows = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(rows(one.stdout).map((r) => r.healthy), [true, true, true]);
      const all = await f.run(["health", "--all", "-o", "json", ...exclusive]);
      assert.equal(all.code, 1, "without --forks 1 they overlap");
      await Deno.remove(busy).catch(() => {});

      const failing = ["--", "/bin/sh", "-c", "exit 3"];
      const budget = await f.run([
        "health",
        "--all",
        "--forks",
        "1",
        "--max-failures",
        "0",
        "-o",
        "json",
        ...failing,
      ]);
      assert.equal(budget.code, 1);
      assert.deepEqual(rows(budget.stdout).map((r) => [r.machine, r.status]), [
        ["m1", "fail"],
        ["m2", "skipped"],
        ["m3", "skipped"],
      ]);
      const watch = await f.run(["health", "--all", "--watch", "--forks", "2", ...failing]);
      assert.equal(watch.code, 2);
      assert.match(watch.stderr, /--forks and --max-failures apply to one-off checks/);

      await f.fleet.kill(0);
      const check = await f.run([
        "machines",
        "check",
        "--forks",
        "1",
        "--max-failures",
        "0",
        "-o",
        "json",
      ]);
      assert.equal(check.code, 1);
      assert.deepEqual(rows(check.stdout).map((r) => [r.name, r.ok, r.failed_at]), [
        ["m1", false, "connect"],
        ["m2", false, "skipped"],
        ["m3", false, "skipped"],
      ]);
      const list = await f.run(["machines", "list", "--forks", "2"]);
      assert.equal(list.code, 2, "list runs nothing: --forks is not one of its flags");
      assert.match(list.stderr, /forks/);
    } finally {
      await f.stop();
    }
  },
});
