import { runProviderContract } from "./contract.ts";
import { startHetznerFake } from "./fakes/hetzner.ts";

runProviderContract({
  provider: "hetzner",
  start: startHetznerFake,
  prodFilter: 'label_selector = "env=prod"',
  runningStatus: "running",
  keyValueOnly: true,
});
