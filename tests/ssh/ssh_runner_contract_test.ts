import { SshPool } from "../../src/ssh/pool.ts";
import { SshRunner } from "../../src/ssh/ssh_runner.ts";
import { startSshdFleet } from "../fixtures/sshd.ts";
import { fleetUnavailable } from "../helpers/fleet.ts";
import { runRunnerContract, scratchDirectory } from "../exec/runner_contract.ts";
import { planOf, quietAuth } from "./_helpers.ts";

runRunnerContract({
  name: "ssh",
  ignore: fleetUnavailable(),
  setup: async () => {
    const fleet = await startSshdFleet({ count: 1 });
    const pool = new SshPool({ connect: quietAuth });
    const dir = await scratchDirectory();
    return {
      runner: new SshRunner({ plan: planOf(fleet, 0), pool }),
      scratchDir: dir,
      teardown: async () => {
        await pool.close();
        await fleet.stop();
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
});
