/** Connection plans for the sshd fixture's hosts (without ssh_config). */
import type { ConnectionPlan, Endpoint } from "../../src/ssh/_plan.ts";
import type { SshdFleet } from "../fixtures/sshd.ts";

export function endpointOf(
  fleet: SshdFleet,
  index: number,
  overrides: Partial<Endpoint> = {},
): Endpoint {
  const host = fleet.hosts[index];
  return {
    alias: `h${index + 1}`,
    host: host.address,
    port: host.port,
    user: "root",
    identityFiles: [fleet.clientKey],
    identitiesConfigured: true,
    identitiesOnly: false,
    knownHostsFiles: [fleet.knownHosts],
    hostKeyPolicy: "strict",
    ...overrides,
  };
}

export function planOf(
  fleet: SshdFleet,
  index: number,
  options: { hops?: number[]; overrides?: Partial<Endpoint> } = {},
): ConnectionPlan {
  return {
    hops: (options.hops ?? []).map((i) => endpointOf(fleet, i)),
    target: endpointOf(fleet, index, options.overrides),
  };
}

/** Connect options for tests: no agent, no prompt, no password from the outer env. */
export const quietAuth = {
  agentSocket: "",
  env: (_name: string) => undefined,
  prompt: (_message: string) => Promise.resolve(undefined),
};
