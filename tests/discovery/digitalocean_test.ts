import { runProviderContract } from "./contract.ts";
import { startDigitalOceanFake } from "./fakes/digitalocean.ts";

runProviderContract({
  provider: "digitalocean",
  start: startDigitalOceanFake,
  prodFilter: 'tag_name = "env:prod"',
  runningStatus: "active",
});
