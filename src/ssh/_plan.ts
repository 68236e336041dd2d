/** The resolved form of a connection (built by target.ts, used by session and pool). */
import type { HostKeyPolicy } from "./known_hosts.ts";

/** One machine to open an SSH connection to (a hop or the target). */
export interface Endpoint {
  /** What the user typed for it (alias), used in messages. */
  readonly alias: string;
  /** Address or DNS name actually connected to (HostName). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Private key files to try, in order (missing ones are skipped). */
  readonly identityFiles: readonly string[];
  /** True when identity files were configured rather than the defaults. */
  readonly identitiesConfigured: boolean;
  readonly identitiesOnly: boolean;
  readonly knownHostsFiles: readonly string[];
  /**
   * GlobalKnownHostsFile: read after knownHostsFiles (their keys and @revoked lines count),
   * never written. Absent means none.
   */
  readonly globalKnownHostsFiles?: readonly string[];
  readonly hostKeyPolicy: HostKeyPolicy;
  readonly hostKeyAlias?: string;
  /** RevokedHostKeys (expanded): public keys refused for this endpoint whatever the policy. */
  readonly revokedHostKeys?: string;
  readonly connectTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveCountMax?: number;
}

export interface ConnectionPlan {
  /** Jump hosts, first one connected to directly. */
  readonly hops: readonly Endpoint[];
  readonly target: Endpoint;
}

/** "user@host:port" of an endpoint, as shown in messages and used as a pool/breaker key. */
export function endpointLabel(endpoint: Endpoint): string {
  const host = endpoint.host.includes(":") ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.user}@${host}:${endpoint.port}`;
}

/** Identifies a connection: the whole chain of hops plus the target. */
export function planKey(plan: ConnectionPlan): string {
  return [...plan.hops, plan.target].map(endpointLabel).join(" > ");
}
