import { runProviderContract } from "./contract.ts";
import { startAwsFake } from "./fakes/aws.ts";

runProviderContract({
  provider: "aws",
  start: startAwsFake,
  prodFilter: '"tag:env" = "prod"',
  runningStatus: "running",
  keyValueOnly: true,
  extraLabels: (name) => ({ Name: name }),
  parallelRequests: 2,
});
