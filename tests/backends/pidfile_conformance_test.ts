import { PidfileBackend } from "../../src/backends/pidfile.ts";
import { LocalRunner } from "../../src/exec/local_runner.ts";
import { runBackendConformance } from "./conformance.ts";

runBackendConformance({
  name: "pidfile",
  setup: async () => {
    const dir = await Deno.makeTempDir({ prefix: "provctl-conf-" });
    const runner = new LocalRunner();
    return {
      runner,
      scratchDir: dir,
      backend: new PidfileBackend({
        runner,
        paths: {
          stateDir: dir,
          pidFile: (n) => `${dir}/run/${n}.pid`,
          logFile: (n) => `${dir}/logs/${n}.log`,
        },
        startGraceMs: 300,
        lockMs: 5000,
        commandTimeoutMs: 10_000,
      }),
      teardown: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
