/**
 * The PID-file backend never signals a process group that only has the ID of a service
 * run which is over: once the supervisor has recorded the end and ended what the run
 * left, a later `stop` or `start` leaves a group that now has that ID (a reused PID, a
 * daemon's group whose leader exited) alone. PID reuse is forced in a PID namespace of
 * its own (fixtures/pidfile/pid_reuse_child.ts), so this needs root and unshare(1).
 * Under each POSIX shell.
 */
import assert from "node:assert/strict";
import { testShells } from "../helpers/pidfile.ts";

const child = new URL("./fixtures/pidfile/pid_reuse_child.ts", import.meta.url).pathname;
const why = Deno.uid() !== 0 ? "needs root (a PID namespace, ns_last_pid)" : undefined;

for (const shell of testShells()) {
  for (const op of ["stop", "start"]) {
    Deno.test({
      name: `pidfile (${shell.name}): ${op} leaves alone a group that reuses a finished run's PID`,
      ignore: Boolean(shell.missing ?? why),
      fn: async () => {
        const dir = await Deno.makeTempDir({ prefix: "provctl-reuse-" });
        try {
          const out = await new Deno.Command("unshare", {
            args: [
              "-p",
              "-f",
              "--mount-proc",
              Deno.execPath(),
              "run",
              "-A",
              "--no-check",
              child,
              dir,
              shell.path ?? "",
              op,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(out.stdout).trim();
          assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
          const result = JSON.parse(text.split("\n").at(-1) ?? "{}");
          assert.equal(result.reused, true, "the PID could not be reused as planned");
          assert.equal(result.survived, true, "the unrelated process was signalled");
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    });
  }
}
