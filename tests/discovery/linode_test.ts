import { runProviderContract } from "./contract.ts";
import { startLinodeFake } from "./fakes/linode.ts";

runProviderContract({
  provider: "linode",
  start: startLinodeFake,
  prodFilter: 'tags = "env:prod"',
  runningStatus: "running",
});
