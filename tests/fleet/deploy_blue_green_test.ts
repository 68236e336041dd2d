/**
 * Blue-green runs that end with the idle group not on the release the deployment state
 * names for it (a failed switch, a killed deploy): `provctl rollback` must put that group
 * back on the release it names before sending traffic to it. Real CLI, loopback sshd fleet.
 */
import assert from "node:assert/strict";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { deploySandbox } from "./fixtures/deploy/sandbox.ts";

const unavailable = fleetUnavailable();
if (unavailable) console.error(`blue-green deploy tests skipped: ${unavailable}`);

// The switch fails (before touching lb.txt) while the file switch-fails exists.
const SERVICES = `
[deployments.bg]
strategy = "blue-green"
artifact = "artifacts/bg"
deploy_root = "{deploy_root}/bg"
switch = "test ! -e switch-fails && echo {group} {version} > lb.txt"
groups.blue = { machines = ["m1"] }
groups.green = { machines = ["m2"] }
`;

Deno.test({
  name: "blue-green: rollback after a failed switch relinks the group before switching to it",
  ignore: Boolean(unavailable),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await deploySandbox(2);
    try {
      await s.writeServices(SERVICES);
      const lb = `${s.dir}/lb.txt`;
      for (const v of ["b1", "b2"]) {
        await s.artifact("bg", v);
        const r = await s.run(["deploy", "bg", "--version", v]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
      }
      assert.equal((await Deno.readTextFile(lb)).trim(), "green b2");
      assert.equal(await s.current(0, "bg"), "releases/b1");

      // b3 reaches the idle group (blue), then the switch fails: green keeps the traffic.
      await Deno.writeTextFile(`${s.dir}/switch-fails`, "");
      await s.artifact("bg", "b3");
      const failed = await s.run(["deploy", "bg", "--version", "b3", "-o", "json"]);
      await Deno.remove(`${s.dir}/switch-fails`);
      assert.equal(failed.code, 1, failed.stderr + failed.stdout);
      const result = JSON.parse(failed.stdout);
      assert.equal(result.reason, "switch");
      assert.equal(result.live_group, "green");
      assert.equal((await Deno.readTextFile(lb)).trim(), "green b2");

      // Rolling back goes to blue's recorded release, b1: blue must be on it first.
      const back = await s.run(["rollback", "bg", "-o", "json"]);
      assert.equal(back.code, 0, back.stderr + back.stdout);
      assert.equal(JSON.parse(back.stdout).version, "b1");
      assert.equal((await Deno.readTextFile(lb)).trim(), "blue b1");
      assert.equal(await s.current(0, "bg"), "releases/b1", "blue serves what was rolled back to");
      const state = JSON.parse(await Deno.readTextFile(`${s.stateDir}/deploy/bg.json`));
      assert.deepEqual([state.live, state.groups], ["blue", { blue: "b1", green: "b2" }]);
    } finally {
      await s.stop();
    }
  },
});
