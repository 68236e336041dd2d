/** The PID-file backend's supervision cases under each POSIX shell (dash, busybox sh, bash). */
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { runSupervisionCases } from "./pidfile_supervision.ts";

for (const shell of testShells()) {
  runSupervisionCases({
    name: `pidfile (${shell.name})`,
    ignore: shell.missing ?? false,
    setup: async () => {
      const dir = await Deno.makeTempDir({ prefix: "provctl-sup-" });
      const runner = new LocalRunner();
      return {
        runner,
        dir,
        backend: testPidfileBackend(runner, dir, { shell: shell.path }),
        teardown: () => Deno.remove(dir, { recursive: true }),
      };
    },
  });
}
