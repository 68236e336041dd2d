/**
 * `provctl deploy` and `provctl rollback` through the real CLI (src/main.ts) on a loopback
 * fleet of real sshd hosts.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { deploySandbox, siteServices } from "../fleet/fixtures/deploy/sandbox.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`deploy CLI tests skipped: ${unavailable}`);

const SERVICES = siteServices(`
batch = "50%"
max_failures = 1
steps = { before = ["test ! -e {deploy_root}/.refuse-{name}"] }
`);

Deno.test({
  name: "provctl deploy/rollback: content-hash versions, dry run, failures within budget, rollback",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(3);
    const run = (args: string[]) => s.run(args);
    try {
      await s.writeServices(SERVICES);
      await s.artifact("site", "one");

      const unknown = await run(["deploy", "nope"]);
      assert.equal(unknown.code, 3, unknown.stderr);
      assert.match(unknown.stderr, /no deployment nope in .*provctl\.toml \(declared: site\)/);

      const dry = await run(["deploy", "site", "--dry-run", "-o", "json"]);
      assert.equal(dry.code, 0, dry.stderr);
      const plan = JSON.parse(dry.stdout).plan;
      assert.match(plan.version, /^[0-9a-f]{12}$/);
      assert.deepEqual(plan.batches.map((b: { machines: string[] }) => b.machines), [["m1", "m2"], [
        "m3",
      ]]);
      for (const [i] of s.hosts.entries()) assert.equal(await s.current(i, "site"), undefined);

      const first = await run(["deploy", "site", "-o", "json"]);
      assert.equal(first.code, 0, first.stderr + first.stdout);
      const one = JSON.parse(first.stdout);
      assert.equal(one.version, plan.version, "the same content gives the same version");
      for (const [i] of s.hosts.entries()) {
        assert.deepEqual(await s.get(i, "cli_port", "/version.txt"), { status: 200, body: "one" });
      }

      // m2 refuses the next release: within max_failures = 1 the others go ahead.
      await Deno.writeTextFile(`${s.hosts[1].root}/site/.refuse-m2`, "");
      await s.artifact("site", "two");
      const second = await run(["deploy", "site"]);
      assert.equal(second.code, 1, second.stderr + second.stdout);
      assert.match(second.stderr, /m2: failed at before: step `test ! -e .*` exited with code 1/);
      assert.match(second.stdout, /^Deploy of site [0-9a-f]{12} failed: some machines failed/m);
      assert.match(second.stdout, /^\s+m2\s+failed\s+[0-9a-f]{12}/m);
      assert.deepEqual(await s.get(0, "cli_port", "/version.txt"), { status: 200, body: "two" });
      assert.deepEqual(await s.get(1, "cli_port", "/version.txt"), { status: 200, body: "one" });
      assert.deepEqual(await s.get(2, "cli_port", "/version.txt"), { status: 200, body: "two" });

      // m1 and m3 kept "two": the state names it, so a rollback goes back to "one".
      const back = await run(["rollback", "site", "-o", "json"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      assert.equal(JSON.parse(back.stdout).ok, true);
      assert.equal(JSON.parse(back.stdout).version, one.version);
      for (const [i] of s.hosts.entries()) {
        assert.deepEqual(await s.get(i, "cli_port", "/version.txt"), { status: 200, body: "one" });
      }
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name:
    "provctl deploy/rollback: pruning keeps the recorded previous release; rollback checks first",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    const run = (args: string[]) => s.run(args);
    try {
      // No service: the steps are the deployment; a .refuse file makes the before step fail.
      await s.writeServices(`
[deployments.app]
artifact = "artifacts/app"
deploy_root = "{deploy_root}/app"
keep_releases = 2
max_failures = 0
batch = "100%"
target = { all = true }
steps = { before = ["test ! -e {deploy_root}/.refuse"] }
`);
      const deploy = async (version: string) => {
        await s.artifact("app", version);
        return await run(["deploy", "app", "--version", version]);
      };
      assert.equal((await deploy("v1")).code, 0);
      // Two deploys that stop before the switch (interrupted): v2 and v3 are uploaded,
      // newer than v1, and the recorded state still says v1.
      for (const h of s.hosts) await Deno.writeTextFile(`${h.root}/app/.refuse`, "");
      assert.equal((await deploy("v2")).code, 1);
      assert.equal((await deploy("v3")).code, 1);
      for (const h of s.hosts) await Deno.remove(`${h.root}/app/.refuse`);
      const v4 = await deploy("v4");
      assert.equal(v4.code, 0, v4.stderr);
      for (const [i] of s.hosts.entries()) {
        // v1 is the recorded previous release: pruned it would make rollback impossible.
        assert.deepEqual(await s.releases(i, "app"), ["v1", "v3", "v4"]);
      }

      // A machine without the target: refused before anything changes, naming it.
      await Deno.rename(`${s.hosts[1].root}/app/releases/v1`, `${s.dir}/v1-aside`);
      const refused = await run(["rollback", "app"]);
      assert.equal(refused.code, 3, refused.stderr);
      assert.match(
        refused.stderr,
        /rollback of app to v1 refused, nothing was changed: the release is missing on: m2;/,
      );
      assert.equal(await s.current(0, "app"), "releases/v4");
      assert.equal(await s.current(1, "app"), "releases/v4");
      await Deno.rename(`${s.dir}/v1-aside`, `${s.hosts[1].root}/app/releases/v1`);

      const back = await run(["rollback", "app"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      for (const [i] of s.hosts.entries()) assert.equal(await s.current(i, "app"), "releases/v1");
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "provctl deploy: secrets in steps are masked in the dry run, the audit log and errors",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(1);
    try {
      // Shell functions stand in for the clients: the command lines are what matters.
      await s.writeServices(`
[deployments.db]
artifact = "artifacts/db"
deploy_root = "{deploy_root}/db"
target = { all = true }
steps = { before = ["mysql() { :; }; mysql -uroot -pS3cretA app", "curl() { :; }; curl -fsS -u admin:S3cretB http://127.0.0.1:1/"], after = ["sshpass() { return 7; }; sshpass -p S3cretC ssh db"] }
`);
      await s.artifact("db", "one");
      for (const output of [[], ["-o", "json"]]) {
        const dry = await s.run(["deploy", "db", "--dry-run", ...output]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.doesNotMatch(dry.stdout + dry.stderr, /S3cret/);
        assert.match(dry.stdout, /mysql -uroot -p\*\*\* app/);
        assert.match(dry.stdout, /curl -fsS -u admin:\*\*\* http/);
      }
      const run = await s.run(["deploy", "db"]);
      assert.equal(run.code, 1, "the after step fails");
      assert.doesNotMatch(run.stdout + run.stderr, /S3cret/);
      assert.match(run.stderr, /sshpass -p \*\*\* ssh db/);
      const audit = await Deno.readTextFile(`${s.stateDir}/audit.jsonl`);
      assert.match(audit, /mysql -uroot -p\*\*\* app/);
      assert.doesNotMatch(audit, /S3cret/);
      // The session's metrics (with its SSH pool statistics) recorded the deploy.
      const metrics = JSON.parse(await Deno.readTextFile(`${s.stateDir}/metrics.json`));
      assert.ok(metrics.families.provctl_deploys_total, "deploy counted");
      assert.ok(
        JSON.stringify(metrics).includes("provctl_ssh_connections_created_total"),
        "pool statistics of the session",
      );
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "provctl rollback honours --max-failures (and stops at the first failure without it)",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    const run = (args: string[]) => s.run(args);
    try {
      // The health check fails where a .sick file is: there rollback cannot finish.
      await s.writeServices(`
[deployments.app]
artifact = "artifacts/app"
deploy_root = "{deploy_root}/app"
target = { all = true }
health_wait_ms = 600

[deployments.app.health]
type = "command"
program = "/bin/sh"
args = ["-c", "test ! -e {deploy_root}/.sick"]
`);
      for (const v of ["v1", "v2"]) {
        await s.artifact("app", v);
        assert.equal((await run(["deploy", "app", "--version", v])).code, 0);
      }
      await Deno.writeTextFile(`${s.hosts[0].root}/app/.sick`, "");
      const stop = await run(["rollback", "app", "-o", "json"]);
      assert.equal(stop.code, 1, stop.stderr);
      assert.equal(JSON.parse(stop.stdout).reason, "rollback_budget");
      assert.equal(await s.current(1, "app"), "releases/v2", "m2 not touched past the budget");

      const within = await run(["rollback", "app", "--max-failures", "1"]);
      assert.equal(within.code, 1, within.stderr);
      assert.match(within.stdout, /could not be rolled back \(see below; within max_failures/);
      assert.equal(await s.current(1, "app"), "releases/v1", "m2 rolled back within the budget");
    } finally {
      await s.stop();
    }
  },
});

/** The recorded state of deployment `name` (files backend) in sandbox `s`'s state dir. */
async function stateOf(s: { stateDir: string }, name: string) {
  return JSON.parse(await Deno.readTextFile(`${s.stateDir}/deploy/${name}.json`));
}

// One machine per batch; a `.refuse` file fails the before step, a `.hold` file makes it
// wait (telling so by `.waiting`) until the file goes.
const PARTIAL = `
[deployments.app]
artifact = "artifacts/app"
deploy_root = "{deploy_root}/app"
batch = 1
max_failures = 1
target = { all = true }
steps = { before = ["test ! -e {deploy_root}/.refuse", "if test -e {deploy_root}/.hold; then touch {deploy_root}/.waiting; while test -e {deploy_root}/.hold; do sleep 0.1; done; fi"] }
`;

Deno.test({
  name: "provctl rollback after a rolling deploy that failed part-way: back to the release before",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(3);
    const run = (args: string[]) => s.run(args);
    const deploy = async (version: string) => {
      await s.artifact("app", version);
      return await run(["deploy", "app", "--version", version, "-o", "json"]);
    };
    const currents = () => Promise.all(s.hosts.map((_, i) => s.current(i, "app")));
    try {
      await s.writeServices(PARTIAL);
      for (const v of ["v1", "v2"]) assert.equal((await deploy(v)).code, 0);
      // m2 fails v3 (within max_failures = 1): m1 and m3 keep it, m2 stays on v2.
      await Deno.writeTextFile(`${s.hosts[1].root}/app/.refuse`, "");
      const v3 = await deploy("v3");
      assert.equal(v3.code, 1, v3.stderr + v3.stdout);
      const result = JSON.parse(v3.stdout);
      assert.deepEqual(
        result.machines.map((m: { status: string; current: string }) => [m.status, m.current]),
        [["deployed", "v3"], ["failed", "v2"], ["deployed", "v3"]],
      );
      assert.deepEqual(await currents(), ["releases/v3", "releases/v2", "releases/v3"]);
      // Machines run v3: the state says so, and that v2 is what they ran before.
      const state = await stateOf(s, "app");
      assert.equal(state.version, "v3");
      assert.equal(state.previous, "v2");
      assert.equal(state.result, "failed");
      assert.equal(state.deploymentId, result.deployment_id);

      await Deno.remove(`${s.hosts[1].root}/app/.refuse`);
      const back = await run(["rollback", "app", "-o", "json"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      assert.equal(JSON.parse(back.stdout).version, "v2");
      assert.deepEqual(await currents(), ["releases/v2", "releases/v2", "releases/v2"]);
      const after = await stateOf(s, "app");
      assert.equal(after.version, "v2");
      assert.equal(after.result, "rollback");

      // Past the budget everything goes back to v2: the state stays on v2 (previous v1).
      await Deno.writeTextFile(`${s.hosts[1].root}/app/.refuse`, "");
      await Deno.writeTextFile(`${s.hosts[2].root}/app/.refuse`, "");
      await s.writeServices(PARTIAL.replace("max_failures = 1", "max_failures = 0"));
      const v4 = await deploy("v4");
      assert.equal(v4.code, 1, v4.stderr + v4.stdout);
      assert.equal(JSON.parse(v4.stdout).rolled_back, true);
      assert.deepEqual(await currents(), ["releases/v2", "releases/v2", "releases/v2"]);
      const reverted = await stateOf(s, "app");
      assert.equal(reverted.version, "v2");
      assert.equal(reverted.result, "rolled-back");
    } finally {
      await s.stop();
    }
  },
});

Deno.test({
  name: "provctl rollback after a rolling deploy interrupted by Ctrl-C: back to the release before",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(3);
    const run = (args: string[]) => s.run(args);
    const currents = () => Promise.all(s.hosts.map((_, i) => s.current(i, "app")));
    const hold = `${s.hosts[1].root}/app/.hold`;
    try {
      await s.writeServices(PARTIAL);
      for (const v of ["v1", "v2"]) {
        await s.artifact("app", v);
        assert.equal((await run(["deploy", "app", "--version", v])).code, 0);
      }
      // v3 switches m1, then waits in m2's before step: Ctrl-C there.
      await Deno.writeTextFile(hold, "");
      await s.artifact("app", "v3");
      const child = s.spawn(["deploy", "app", "--version", "v3"]);
      const waiting = `${s.hosts[1].root}/app/.waiting`;
      for (let i = 0; !await Deno.stat(waiting).then(() => true, () => false); i++) {
        assert.ok(i < 300, "m2's step never started");
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill("SIGINT");
      const out = await child.output();
      await Deno.remove(hold);
      assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
      assert.deepEqual(await currents(), ["releases/v3", "releases/v2", "releases/v2"]);
      const state = await stateOf(s, "app");
      assert.equal(state.version, "v3");
      assert.equal(state.previous, "v2");

      const back = await run(["rollback", "app", "-o", "json"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      assert.equal(JSON.parse(back.stdout).version, "v2");
      assert.deepEqual(await currents(), ["releases/v2", "releases/v2", "releases/v2"]);
      assert.equal((await stateOf(s, "app")).version, "v2");
    } finally {
      await Deno.remove(hold).catch(() => {});
      await s.stop();
    }
  },
});
