/**
 * `provctl deploy` and `provctl rollback` through the real CLI (src/main.ts) on a loopback
 * fleet of real sshd hosts.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { deploySandbox } from "../fleet/fixtures/deploy/sandbox.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`deploy CLI tests skipped: ${unavailable}`);

const SERVICES = `
[services.site]
binary = "/usr/bin/python3"
args = ["-m", "http.server", "{cli_port}", "--bind", "{host}", "--directory", "{current_dir}"]

[deployments.site]
service = "site"
artifact = "artifacts/site"
deploy_root = "{deploy_root}/site"
batch = "50%"
max_failures = 1
health_wait_ms = 8000
target = { machines = ["m*"] }
steps = { before = ["test ! -e {deploy_root}/.refuse-{name}"] }

[deployments.site.health]
type = "http"
url = "http://{host}:{cli_port}/version.txt"
from = "controller"
`;

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

      // A failed deploy records no new version: rollback has nothing before "one".
      const none = await run(["rollback", "site"]);
      assert.equal(none.code, 3, none.stderr);
      assert.match(none.stderr, /no previous version recorded/);
      const back = await run(["rollback", "site", "--to", one.version, "-o", "json"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      assert.equal(JSON.parse(back.stdout).ok, true);
      for (const [i] of s.hosts.entries()) {
        assert.deepEqual(await s.get(i, "cli_port", "/version.txt"), { status: 200, body: "one" });
      }
    } finally {
      await s.stop();
    }
  },
});
