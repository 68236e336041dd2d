/**
 * The shared backend conformance suite for the PID-file backend on a "remote" machine:
 * every command goes through SshRunner to a real sshd (on loopback, so the scratch
 * directory is visible to both sides, but all work happens in sshd's sessions).
 */
import assert from "node:assert/strict";
import { expectProvctlError } from "../helpers/errors.ts";
import { testPidfileBackend } from "../helpers/pidfile.ts";
import { isRunning } from "../../src/core/process_status.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName } from "../../src/core/service_name.ts";
import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { runBackendConformance } from "../backends/conformance.ts";
import { runSupervisionCases } from "../backends/pidfile_supervision.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { planOf, quietAuth } from "./_helpers.ts";

runBackendConformance({
  name: "pidfile over ssh",
  boot: false,
  setup: async () => {
    const fleet = await startSshdFleet({ count: 1 });
    const pool = new SshPool({ connect: quietAuth });
    const dir = await Deno.makeTempDir({ prefix: "provctl-conf-ssh-" });
    const runner = new SshRunner({ plan: planOf(fleet, 0), pool, commandTimeoutMs: 20_000 });
    return {
      runner,
      scratchDir: dir,
      backend: testPidfileBackend(runner, dir),
      teardown: async () => {
        await pool.close();
        await fleet.stop();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
});

Deno.test("a service started over SSH outlives the connection and is stopped through a new one", async () => {
  const fleet = await startSshdFleet({ count: 1 });
  const dir = await Deno.makeTempDir({ prefix: "provctl-remote-svc-" });
  const backendFor = (pool: SshPool) =>
    testPidfileBackend(new SshRunner({ plan: planOf(fleet, 0), pool }), dir);
  const name = parseServiceName(`remote-${Deno.pid}`);
  let pid: number | undefined;
  try {
    const first = new SshPool({ connect: quietAuth });
    try {
      await backendFor(first).start(defineService(name).binary("sleep").args(["300"]).build());
      const status = await backendFor(first).status(name);
      assert.ok(isRunning(status));
      pid = status.pid;
    } finally {
      await first.close();
    }
    await fleet.kill(0); // even sshd itself going away must not take the service down
    Deno.kill(pid, "SIGCONT"); // throws if the process is gone
    await fleet.start(0);
    const second = new SshPool({ connect: quietAuth });
    try {
      const backend = backendFor(second);
      const status = await backend.status(name);
      assert.ok(isRunning(status) && status.pid === pid);
      await backend.stop(name);
      assert.equal((await backend.status(name)).state, "not-running");
      pid = undefined;
    } finally {
      await second.close();
    }
  } finally {
    if (pid !== undefined) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await fleet.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("over SSH too, the PID-file scripts refuse a state dir others can write", async () => {
  const fleet = await startSshdFleet({ count: 1 });
  const dir = await Deno.makeTempDir({ prefix: "provctl-remote-trust-" });
  const pool = new SshPool({ connect: quietAuth });
  try {
    const backend = testPidfileBackend(new SshRunner({ plan: planOf(fleet, 0), pool }), dir);
    const name = parseServiceName(`trust-${Deno.pid}`);
    await Deno.mkdir(`${dir}/run`, { mode: 0o700 });
    await Deno.chmod(`${dir}/run`, 0o777);
    const e = await expectProvctlError("PermissionDenied", () => backend.status(name));
    assert.equal(e.key, "trust.mode");
    assert.equal(e.params.path, `${dir}/run`);
    await expectProvctlError(
      "PermissionDenied",
      () => backend.start(defineService(name).binary("sleep").args(["300"]).build()),
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/run`)], [], "nothing started");
  } finally {
    await pool.close();
    await fleet.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

// The supervision cases with every script (and the supervisor) run through sshd.
runSupervisionCases({
  name: "pidfile over ssh",
  setup: async () => {
    const fleet = await startSshdFleet({ count: 1 });
    const pool = new SshPool({ connect: quietAuth });
    const dir = await Deno.makeTempDir({ prefix: "provctl-sup-ssh-" });
    const runner = new SshRunner({ plan: planOf(fleet, 0), pool, commandTimeoutMs: 20_000 });
    return {
      runner,
      dir,
      backend: testPidfileBackend(runner, dir),
      teardown: async () => {
        await pool.close();
        await fleet.stop();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
});
