/**
 * The shared conformance suite against the PID-file backend on this machine, once per
 * POSIX shell running its scripts and supervisor: dash (Debian's /bin/sh), busybox sh
 * and bash. A shell that is not installed is reported as ignored, with the reason.
 */
import { testPidfileBackend, testShells } from "../helpers/pidfile.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { runBackendConformance } from "./conformance.ts";

for (const shell of testShells()) {
  runBackendConformance({
    name: `pidfile (${shell.name})`,
    boot: false,
    ignore: shell.missing ?? false,
    setup: async () => {
      const dir = await Deno.makeTempDir({ prefix: "provctl-conf-" });
      const runner = new LocalRunner();
      return {
        runner,
        scratchDir: dir,
        backend: testPidfileBackend(runner, dir, { shell: shell.path }),
        teardown: () => Deno.remove(dir, { recursive: true }),
      };
    },
  });
}
