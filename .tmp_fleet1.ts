import { startSshdFleet } from "./tests/fixtures/sshd.ts";
const fleet = await startSshdFleet({ count: 1, logLevel: "ERROR" });
const [h] = fleet.hosts;
await Deno.writeTextFile("/tmp/f1/ssh_config",
  `Host h1\n  HostName ${h.address}\n  Port ${h.port}\n  User root\n  IdentityFile ${fleet.clientKey}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${fleet.knownHosts}\n`);
console.log("ready");
await new Promise(() => {});
