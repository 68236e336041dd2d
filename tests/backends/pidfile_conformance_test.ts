import { testPidfileBackend } from "../helpers/pidfile.ts";
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
      backend: testPidfileBackend(runner, dir),
      teardown: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
