import { LocalRunner } from "../../src/exec/local_runner.ts";
import { runRunnerContract, scratchDirectory } from "./runner_contract.ts";

runRunnerContract({
  name: "local",
  setup: async () => {
    const dir = await scratchDirectory();
    return {
      runner: new LocalRunner(),
      scratchDir: dir,
      teardown: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
