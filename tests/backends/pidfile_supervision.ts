/**
 * Supervision cases of the PID-file backend (restart policies, backoff, crash-loop limit,
 * stop during backoff, a killed supervisor), shared by the runs under each POSIX shell
 * (pidfile_supervision_test.ts) and over SSH (tests/ssh/pidfile_remote_test.ts). Real
 * processes; times are short but the checks are on counts and order, not exact timing.
 */
import assert from "node:assert/strict";
import { waitFor } from "../helpers/cli.ts";
import type { PidfileBackend } from "../../src/backends/pidfile.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { isRunning, type ProcessStatus } from "../../src/core/process_status.ts";
import { defineService, type ServiceDefinitionBuilder } from "../../src/core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../../src/core/service_name.ts";
import type { CommandRunner } from "../../src/exec/runner.ts";

export interface SupervisionFixture {
  readonly backend: PidfileBackend;
  readonly runner: CommandRunner;
  /** The backend's state dir (on the runner's machine, visible here too). */
  readonly dir: string;
  teardown(): Promise<void>;
}

export interface SupervisionOptions {
  readonly name: string;
  readonly ignore?: string | false;
  readonly setup: () => Promise<SupervisionFixture>;
}

let counter = 0;

const FAST = { delayMs: 100, maxDelayMs: 400, max: 3, windowMs: 60_000, minUptimeMs: 60_000 };

export function runSupervisionCases(options: SupervisionOptions): void {
  let fixture: SupervisionFixture | undefined;
  const used: ServiceName[] = [];
  const get = async () => (fixture ??= await options.setup());
  const name = (prefix: string) => {
    const n = parseServiceName(`sup-${prefix}-${Deno.pid}-${++counter}`);
    used.push(n);
    return n;
  };
  const test = (title: string, fn: (f: SupervisionFixture) => Promise<void>) =>
    Deno.test({
      name: `${options.name} supervision: ${title}`,
      ignore: Boolean(options.ignore),
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => await fn(await get()),
    });
  /** A service that appends one line per run to a file, then runs `tail`. */
  const counted = (n: ServiceName, dir: string, tail: string): ServiceDefinitionBuilder =>
    defineService(n).binary("/bin/sh").args([
      "-c",
      `date +%s.%N >> "$0"; ${tail}`,
      `${dir}/${n}.runs`,
    ]);
  const runs = async (runner: CommandRunner, dir: string, n: ServiceName): Promise<number[]> => {
    const r = await runner.run("cat", [`${dir}/${n}.runs`]);
    return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).map(Number) : [];
  };

  test("a service that exits 1 at once is restarted with growing delays, then failed at the limit", async ({ backend, runner, dir }) => {
    const n = name("crash");
    const def = counted(n, dir, "exit 1").restartPolicy("on-failure").restartBackoff(FAST).build();
    // With a restart policy a quick death is the supervisor's to handle, not a failed start.
    const started = await backend.start(def);
    let status: ProcessStatus = started.status;
    await waitFor("failed after the restart limit", async () => {
      status = await backend.status(n);
      return status.state === "failed";
    });
    assert.equal(status.state, "failed");
    if (status.state === "failed") {
      assert.equal(status.reason, "restart_limit");
      assert.equal(status.code, 1);
    }
    assert.equal(status.supervision?.restarts, 3);
    assert.deepEqual(status.supervision?.lastExit, { code: 1 });
    assert.equal(status.supervision?.supervisor, "done");
    assert.ok(status.supervision?.lastRestartAt instanceof Date);
    const times = await runs(runner, dir, n);
    assert.equal(times.length, 4, "the first run and 3 restarts");
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    // 100, 200, 400 ms (the first restart also waits for the start holding the lock):
    // each later wait at least its delay, and longer than the one before.
    assert.ok(gaps[0] >= 0.09 && gaps[1] >= 0.19 && gaps[2] >= 0.39, `gaps ${gaps}`);
    assert.ok(gaps[2] > gaps[1], `delays grow: ${gaps}`);
    await backend.uninstall(n);
  });

  test("always restarts after a clean exit; on-failure does not", async ({ backend, runner, dir }) => {
    const always = name("always");
    await backend.start(
      counted(always, dir, "sleep 0.2; exit 0").restartPolicy("always")
        .restartBackoff({ ...FAST, max: 0 }).build(),
    );
    await waitFor(
      "two restarts",
      async () => ((await backend.status(always)).supervision?.restarts ?? 0) >= 2,
    );
    assert.ok((await runs(runner, dir, always)).length >= 3);
    await backend.stop(always);
    const after = (await runs(runner, dir, always)).length;
    await new Promise((r) => setTimeout(r, 800));
    assert.equal((await runs(runner, dir, always)).length, after, "no restart after stop");
    assert.equal((await backend.status(always)).state, "not-running");
    await backend.uninstall(always);

    const onFailure = name("clean");
    await backend.start(
      counted(onFailure, dir, "sleep 1; exit 0").restartPolicy("on-failure").restartBackoff(FAST)
        .build(),
    );
    await waitFor("clean exit", async () => (await backend.status(onFailure)).state === "exited");
    await new Promise((r) => setTimeout(r, 500));
    const done = await backend.status(onFailure);
    assert.equal(done.state, "exited");
    if (done.state === "exited") assert.equal(done.code, 0);
    assert.equal(done.supervision?.restarts, 0);
    assert.equal(done.supervision?.supervisor, "done");
    assert.equal((await runs(runner, dir, onFailure)).length, 1);
    await backend.uninstall(onFailure);
  });

  test("a SIGKILL from outside counts as a failure: restarted, with the signal recorded", async ({ backend, runner }) => {
    const n = name("killed");
    await backend.start(
      defineService(n).binary("sleep").args(["300"]).restartPolicy("on-failure").restartBackoff(
        FAST,
      ).build(),
    );
    const first = await backend.status(n);
    assert.ok(isRunning(first));
    await runner.run("kill", ["-KILL", String(first.pid)]);
    let second: ProcessStatus = first;
    await waitFor("restarted", async () => {
      second = await backend.status(n);
      return isRunning(second) && second.pid !== first.pid;
    });
    assert.equal(second.supervision?.restarts, 1);
    assert.deepEqual(second.supervision?.lastExit, { signal: "SIGKILL" });
    assert.equal(second.supervision?.supervisor, "running");
    // stop's own signal is not a failure: nothing comes back.
    await backend.stop(n);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await backend.status(n)).state, "not-running");
    await backend.uninstall(n);
  });

  /** The process exists and is not a zombie (an orphan's zombie waits for init to reap it). */
  const live = async (runner: CommandRunner, pid: number): Promise<boolean> => {
    const r = await runner.run("ps", ["-o", "stat=", "-p", String(pid)]);
    const stat = r.stdout.trim();
    return r.code === 0 && stat !== "" && !stat.startsWith("Z");
  };
  /** Ends what a failing test left running (the defect it caught would leave it). */
  const reap = async (runner: CommandRunner, file: string) => {
    const left = await pids(runner, file);
    if (left.length > 0) await runner.run("kill", ["-KILL", ...left.map(String)]);
  };
  /** The PIDs a service wrote to its file, one a line (one per run). */
  const pids = async (runner: CommandRunner, file: string): Promise<number[]> => {
    const r = await runner.run("cat", [file]);
    return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).map(Number) : [];
  };

  test("a restart first ends what the last run left in its process group, and so does the limit", async ({ backend, runner, dir }) => {
    const n = name("leftover");
    const file = `${dir}/${n}.children`;
    // Each run leaves a child behind (a port it holds, a worker) and crashes.
    try {
      await backend.start(
        defineService(n).binary("/bin/sh").args([
          "-c",
          `sleep 300 & echo $! >> "$0"; sleep 0.3; exit 1`,
          file,
        ]).restartPolicy("on-failure").restartBackoff(FAST).build(),
      );
      await waitFor("restarted once", async () => (await pids(runner, file)).length >= 2);
      const [first] = await pids(runner, file);
      await waitFor("the first run's child ended", async () => !(await live(runner, first)), 3000);
      // Never two runs' children at once.
      const now = await pids(runner, file);
      const running = [];
      for (const pid of now) if (await live(runner, pid)) running.push(pid);
      assert.ok(running.length <= 1, `children of several runs alive: ${running}`);
      await waitFor("failed after the restart limit", async () => {
        return (await backend.status(n)).state === "failed";
      });
      // Giving up, the supervisor also ends what the last run left.
      const all = await pids(runner, file);
      assert.equal(all.length, 4, "the first run and 3 restarts");
      await waitFor("no child left after the limit", async () => {
        for (const pid of all) if (await live(runner, pid)) return false;
        return true;
      }, 3000);
    } finally {
      await reap(runner, file);
      await backend.uninstall(n);
    }
  });

  test("a clean exit with restart=no ends the children left behind, SIGKILL after the stop timeout", async ({ backend, runner, dir }) => {
    const n = name("rest");
    const file = `${dir}/${n}.children`;
    // One child ends at the stop signal, the other ignores it and needs the SIGKILL.
    try {
      await backend.start(
        defineService(n).binary("/bin/sh").args([
          "-c",
          `sleep 300 & echo $! >> "$0"; (trap '' TERM; exec sleep 301) & echo $! >> "$0"; ` +
          `sleep 0.5; exit 0`,
          file,
        ]).stopTimeoutMs(500).build(),
      );
      await waitFor("both children started", async () => (await pids(runner, file)).length === 2);
      const children = await pids(runner, file);
      await waitFor("exited", async () => (await backend.status(n)).state === "exited");
      const ended = Date.now();
      await waitFor("no child left", async () => {
        for (const pid of children) if (await live(runner, pid)) return false;
        return true;
      }, 5000);
      // The one that ignores SIGTERM lasts the stop timeout, then SIGKILL.
      assert.ok(
        Date.now() - ended >= 200,
        `the TERM-proof child ended after ${Date.now() - ended} ms`,
      );
    } finally {
      await reap(runner, file);
      await backend.uninstall(n);
    }
  });

  test("start during the last run's cleanup ends its leftovers first (SIGKILL after the stop timeout)", async ({ backend, runner, dir }) => {
    const n = name("restart-cleanup");
    const file = `${dir}/${n}.children`;
    // Each run leaves a child that ignores the stop signal; the first run ends at once, the
    // second (once `.stay` exists) stays up. restart=no: the supervisor only cleans up.
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      `(trap '' TERM; exec sleep 301) & echo $! >> "$0"; ` +
      `if [ -e "$0.stay" ]; then exec sleep 300; fi; sleep 1; exit 1`,
      file,
    ]).stopTimeoutMs(2000).build();
    try {
      const started = await backend.start(def);
      assert.ok(isRunning(started.status));
      const main = started.status.pid;
      await waitFor("the first run's main process ended", async () => !(await live(runner, main)));
      const [old] = await pids(runner, file);
      // Within the supervisor's stop timeout: its leftover still runs.
      assert.ok(await live(runner, old), "the leftover is still being waited out");
      await runner.run("touch", [`${file}.stay`]);
      const again = await backend.start(def);
      assert.ok(isRunning(again.status), JSON.stringify(again.status));
      assert.ok(!(await live(runner, old)), `the last run's child ${old} runs beside the new run`);
      const now = await backend.status(n);
      assert.ok(isRunning(now) && now.pid === again.status.pid && now.pid !== main);
      const all = await pids(runner, file);
      assert.equal(all.length, 2);
      assert.ok(await live(runner, all[1]), "the new run's own child is left alone");
    } finally {
      await reap(runner, file);
      await backend.uninstall(n);
    }
  });

  test("start after a killed supervisor ends what the unsupervised run left behind", async ({ backend, runner, dir }) => {
    const n = name("orphan-rest");
    const file = `${dir}/${n}.children`;
    // The first run waits for `.go`, then exits and leaves its child; the next one stays up.
    const def = defineService(n).binary("/bin/sh").args([
      "-c",
      `sleep 300 & echo $! >> "$0"; if [ -e "$0.stay" ]; then exec sleep 300; fi; ` +
      `while [ ! -e "$0.go" ]; do sleep 0.05; done; exit 1`,
      file,
    ]).restartPolicy("on-failure").restartBackoff(FAST).build();
    try {
      const started = await backend.start(def);
      assert.ok(isRunning(started.status));
      const main = started.status.pid;
      const sup = await runner.run("sed", ["-n", "s/^sup=//p", `${dir}/run/${n}.pid`]);
      await runner.run("kill", ["-KILL", sup.stdout.trim()]);
      await waitFor(
        "supervisor gone",
        async () => (await backend.status(n)).supervision?.supervisor === "gone",
      );
      await runner.run("touch", [`${file}.go`]);
      await waitFor("the main process ended", async () => !(await live(runner, main)));
      const [old] = await pids(runner, file);
      assert.ok(await live(runner, old), "nothing ended the child of the unsupervised run");
      await runner.run("touch", [`${file}.stay`]);
      const again = await backend.start(def);
      assert.ok(isRunning(again.status) && again.status.pid !== main);
      assert.ok(!(await live(runner, old)), `the last run's child ${old} runs beside the new run`);
      assert.equal((await backend.status(n)).supervision?.supervisor, "running");
      const all = await pids(runner, file);
      assert.equal(all.length, 2);
      assert.ok(await live(runner, all[1]), "the new run's own child is left alone");
    } finally {
      await reap(runner, file);
      await backend.uninstall(n);
    }
  });

  test("on-failure: death by SIGTERM, SIGHUP, SIGINT or SIGPIPE is a clean exit, not restarted; always restarts it", async ({ backend, runner }) => {
    const sleeper = (n: ServiceName, policy: "on-failure" | "always") =>
      defineService(n).binary("sleep").args(["300"]).restartPolicy(policy).restartBackoff(FAST)
        .build();
    // As systemd's Restart=on-failure: an operator's kill, a shutdown is no failure.
    // Settled, not all: each case uninstalls its service even when another one fails.
    const cases = await Promise.allSettled(
      ["SIGTERM", "SIGHUP", "SIGINT", "SIGPIPE"].map(async (signal) => {
        const n = name(`clean-${signal.slice(3).toLowerCase()}`);
        try {
          await backend.start(sleeper(n, "on-failure"));
          const first = await backend.status(n);
          assert.ok(isRunning(first));
          await runner.run("kill", [`-${signal.slice(3)}`, String(first.pid)]);
          await waitFor(`ended by ${signal}`, async () => !isRunning(await backend.status(n)));
          // Longer than the first restart's delay: nothing comes back.
          await new Promise((r) => setTimeout(r, 600));
          const after = await backend.status(n);
          assert.equal(after.state, "terminated", `${signal}: ${JSON.stringify(after)}`);
          if (after.state === "terminated") assert.equal(after.signal, signal);
          assert.equal(after.supervision?.restarts, 0, signal);
          assert.equal(after.supervision?.supervisor, "done", signal);
          assert.deepEqual(after.supervision?.lastExit, { signal });
        } finally {
          await backend.uninstall(n);
        }
      }),
    );
    for (const c of cases) if (c.status === "rejected") throw c.reason;
    // always restarts after any end.
    const always = name("term-always");
    try {
      await backend.start(sleeper(always, "always"));
      const first = await backend.status(always);
      assert.ok(isRunning(first));
      await runner.run("kill", ["-TERM", String(first.pid)]);
      await waitFor("restarted", async () => {
        const s = await backend.status(always);
        return isRunning(s) && s.pid !== first.pid;
      });
      assert.equal((await backend.status(always)).supervision?.restarts, 1);
    } finally {
      await backend.uninstall(always);
    }
    // Within the grace period it is a failed start, not a restart announced and never made.
    const early = name("term-early");
    try {
      let error: unknown;
      try {
        await backend.start(
          defineService(early).binary("/bin/sh").args(["-c", "kill -TERM $$; sleep 5"])
            .restartPolicy("on-failure").restartBackoff(FAST).build(),
        );
      } catch (e) {
        error = e;
      }
      assert.ok(isProvctlError(error) && error.kind === "StartFailed", String(error));
      const s = await backend.status(early);
      assert.equal(s.state, "terminated");
      assert.equal(s.supervision?.restarts, 0);
    } finally {
      await backend.uninstall(early);
    }
  });

  test("stop during a backoff wait ends it for good", async ({ backend, runner, dir }) => {
    const n = name("backoff");
    await backend.start(
      counted(n, dir, "exit 3").restartPolicy("always")
        .restartBackoff({ ...FAST, delayMs: 1500, maxDelayMs: 1500 }).build(),
    );
    let status: ProcessStatus | undefined;
    await waitFor("backing off", async () => {
      status = await backend.status(n);
      return status.supervision?.nextRestartAt !== undefined;
    });
    assert.equal(status?.state, "exited");
    assert.ok(status!.supervision!.nextRestartAt!.getTime() > Date.now() - 1000);
    const stopped = await backend.stop(n);
    assert.equal(stopped.changed, true, "a pending restart was cancelled");
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await runs(runner, dir, n)).length, 1, "never restarted");
    assert.equal((await backend.status(n)).state, "not-running");
    await backend.uninstall(n);
  });

  test("a killed supervisor shows in status; start supervises the running service again", async ({ backend, runner, dir }) => {
    const n = name("orphan");
    await backend.start(
      defineService(n).binary("sleep").args(["300"]).restartPolicy("on-failure").restartBackoff(
        FAST,
      ).build(),
    );
    const before = await backend.status(n);
    assert.ok(isRunning(before));
    const supervisor = async () => {
      const r = await runner.run("sed", ["-n", "s/^sup=//p", `${dir}/run/${n}.pid`]);
      return Number(r.stdout.trim());
    };
    await runner.run("kill", ["-KILL", String(await supervisor())]);
    await waitFor(
      "supervisor gone",
      async () => (await backend.status(n)).supervision?.supervisor === "gone",
    );
    const orphan = await backend.status(n);
    assert.ok(isRunning(orphan) && orphan.pid === before.pid, "the service runs on");
    // start adopts it: no second copy, no error.
    const again = await backend.start(
      defineService(n).binary("sleep").args(["300"]).restartPolicy("on-failure").restartBackoff(
        FAST,
      ).build(),
    );
    assert.ok(isRunning(again.status) && again.status.pid === before.pid);
    assert.equal((await backend.status(n)).supervision?.supervisor, "running");
    const copies = await runner.run("pgrep", ["-f", "-x", "sleep 300"]);
    assert.ok(copies.stdout.trim().split("\n").map(Number).includes(before.pid));
    // The adopted service is still under its policy.
    await runner.run("kill", ["-KILL", String(before.pid)]);
    await waitFor("restarted by the new supervisor", async () => {
      const s = await backend.status(n);
      return isRunning(s) && s.pid !== before.pid;
    });
    await backend.uninstall(n);
  });

  Deno.test({
    name: `${options.name} supervision: teardown`,
    ignore: Boolean(options.ignore),
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      if (!fixture) return;
      for (const n of used) await fixture.backend.uninstall(n).catch(() => {});
      await fixture.teardown();
      fixture = undefined;
    },
  });
}
