import { runProviderContract } from "./contract.ts";
import { startUpCloudFake } from "./fakes/upcloud.ts";

runProviderContract({
  provider: "upcloud",
  start: startUpCloudFake,
  prodFilter: 'label = "env=prod"',
  runningStatus: "started",
  parallelRequests: 2,
});
