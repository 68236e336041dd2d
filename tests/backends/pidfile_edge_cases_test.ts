/**
 * Races, interrupted operations and odd services on the PID-file backend, under
 * each POSIX shell. Real processes.
 */
import assert from "node:assert/strict";
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { isProvctlError } from "../../src/core/errors.ts";
import { isRunning } from "../../src/core/process_status.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName } from "../../src/core/service_name.ts";
import { waitFor } from "../helpers/cli.ts";

/** The process exists and is not a zombie. */
async function isLive(pid: number): Promise<boolean> {
  const r = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(pid)] }).output();
  const stat = new TextDecoder().decode(r.stdout).trim();
  return r.code === 0 && stat !== "" && !stat.startsWith("Z");
}

for (const shell of testShells()) {
  const test = (title: string, fn: (dir: string, shellPath?: string) => Promise<void>) =>
    Deno.test({
      name: `pidfile (${shell.name}) edge cases: ${title}`,
      ignore: Boolean(shell.missing),
      fn: async () => {
        const dir = await Deno.makeTempDir({ prefix: "provctl-edge-" });
        try {
          await fn(dir, shell.path);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });

  test("two concurrent restarts both succeed (neither says already running)", async (dir, path) => {
    const backend = testPidfileBackend(new LocalRunner(), dir, { shell: path });
    const n = parseServiceName("twice");
    await backend.start(defineService(n).binary("/bin/sh").args(["-c", "exec sleep 300"]).build());
    try {
      const first = await backend.status(n);
      for (let round = 0; round < 3; round++) {
        const results = await Promise.allSettled([backend.restart(n), backend.restart(n)]);
        for (const r of results) {
          assert.equal(r.status, "fulfilled", r.status === "rejected" ? String(r.reason) : "");
          if (r.status === "fulfilled") assert.equal(r.value.status.state, "running");
        }
      }
      const now = await backend.status(n);
      assert.ok(isRunning(now) && isRunning(first) && now.pid !== first.pid);
    } finally {
      await backend.uninstall(n);
    }
  });

  test(
    "stop ends the children a service left behind when its main process exited unsupervised",
    async (dir, path) => {
      const backend = testPidfileBackend(new LocalRunner(), dir, { shell: path });
      const n = parseServiceName("leftover");
      const childFile = `${dir}/child.pid`;
      // The main process starts a worker in its group, then exits after the grace period.
      await backend.start(
        defineService(n).binary("/bin/sh").args([
          "-c",
          'sleep 300 & echo $! > "$0"; sleep 1.5',
          childFile,
        ]).build(),
      );
      const child = Number((await Deno.readTextFile(childFile)).trim());
      try {
        // Its supervisor (which would end the worker itself) was killed from outside.
        const recorded = await Deno.readTextFile(`${dir}/run/${n}.pid`);
        const field = (k: string) => Number(new RegExp(`^${k}=(\\d+)$`, "m").exec(recorded)?.[1]);
        Deno.kill(field("sup"), "SIGKILL");
        await waitFor("main process exited", async () => !(await isLive(field("pid"))), 5000);
        assert.ok(await isLive(child));
        await backend.stop(n);
        await waitFor("the worker is gone", async () => !(await isLive(child)), 3000);
      } finally {
        try {
          Deno.kill(child, "SIGKILL");
        } catch { /* gone */ }
        await backend.uninstall(n);
      }
    },
  );

  test(
    "two concurrent starts during the last run's clean-up: one new run, the old child gone",
    async (dir, path) => {
      const backend = testPidfileBackend(new LocalRunner(), dir, { shell: path });
      const n = parseServiceName("cleanup-race");
      const file = `${dir}/children`;
      // Each run leaves a child that ignores SIGTERM; the first run then ends (restart=no,
      // so its supervisor waits out the stop timeout for that child), later runs stay up.
      const def = defineService(n).binary("/bin/sh").args([
        "-c",
        `(trap '' TERM; exec sleep 301) & echo $! >> "$0"; ` +
        `if [ -e "$0.stay" ]; then exec sleep 300; fi; sleep 1; exit 1`,
        file,
      ]).stopTimeoutMs(1500).build();
      const children = async () =>
        (await Deno.readTextFile(file).catch(() => "")).trim().split("\n").filter(Boolean)
          .map(Number);
      try {
        const started = await backend.start(def);
        assert.ok(isRunning(started.status));
        const main = started.status.pid;
        await waitFor("the first run's main process ended", async () => !(await isLive(main)));
        const [old] = await children();
        assert.ok(await isLive(old), "still within the supervisor's clean-up");
        await Deno.writeTextFile(`${file}.stay`, "");
        const results = await Promise.allSettled([backend.start(def), backend.start(def)]);
        const ok = results.filter((r) => r.status === "fulfilled");
        const refused = results.filter((r) => r.status === "rejected");
        assert.equal(ok.length, 1, JSON.stringify(results));
        assert.equal(refused.length, 1);
        const reason = (refused[0] as PromiseRejectedResult).reason;
        assert.ok(isProvctlError(reason) && reason.kind === "AlreadyRunning", String(reason));
        assert.ok(!(await isLive(old)), `the last run's child ${old} runs beside the new run`);
        const all = await children();
        assert.equal(all.length, 2, `one new run: ${all}`);
        assert.ok(await isLive(all[1]));
        const now = await backend.status(n);
        assert.ok(isRunning(now) && now.pid !== main);
      } finally {
        for (const pid of await children()) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch { /* gone */ }
        }
        await backend.uninstall(n);
      }
    },
  );

  test(
    "a service whose PATH lacks the system directories starts, with that PATH",
    async (dir, path) => {
      const backend = testPidfileBackend(new LocalRunner(), dir, { shell: path });
      const n = parseServiceName("ownpath");
      const seen = `${dir}/path.txt`;
      try {
        const started = await backend.start(
          defineService(n).binary("/bin/sh").args([
            "-c",
            'echo "$PATH" > "$0"; exec /bin/sleep 300',
            seen,
          ]).env("PATH", "/opt/app/bin").build(),
        );
        assert.equal(started.status.state, "running");
        assert.equal((await Deno.readTextFile(seen)).trim(), "/opt/app/bin");
      } finally {
        await backend.uninstall(n);
      }
    },
  );

  test(
    "a service's environment cannot change how the supervisor launches it (IFS, its variables)",
    async (dir, path) => {
      const backend = testPidfileBackend(new LocalRunner(), dir, { shell: path });
      const n = parseServiceName("ownvars");
      try {
        const started = await backend.start(
          defineService(n).binary("/bin/sleep").args(["300"]).env("IFS", "/")
            .env("newsession", "echo").build(),
        );
        assert.ok(isRunning(started.status));
        // Its environment as the service has it (not re-read by a shell).
        const environ = await Deno.readTextFile(`/proc/${started.status.pid}/environ`);
        const env = environ.split("\0");
        assert.ok(env.includes("IFS=/") && env.includes("newsession=echo"), environ);
      } finally {
        await backend.uninstall(n);
      }
    },
  );
}
