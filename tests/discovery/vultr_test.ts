import { runProviderContract } from "./contract.ts";
import { startVultrFake } from "./fakes/vultr.ts";

runProviderContract({
  provider: "vultr",
  start: startVultrFake,
  prodFilter: 'tag = "env:prod"',
  runningStatus: "running",
});
