/**
 * Races and interrupted operations of the PID-file backend (two operators at once), under
 * each POSIX shell. Real processes.
 */
import assert from "node:assert/strict";
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { isRunning } from "../../src/core/process_status.ts";
import { defineService } from "../../src/core/service_definition.ts";
import { parseServiceName } from "../../src/core/service_name.ts";

for (const shell of testShells()) {
  const test = (title: string, fn: (dir: string, shellPath?: string) => Promise<void>) =>
    Deno.test({
      name: `pidfile (${shell.name}) races: ${title}`,
      ignore: Boolean(shell.missing),
      fn: async () => {
        const dir = await Deno.makeTempDir({ prefix: "provctl-races-" });
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
}
