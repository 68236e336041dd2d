/** The HealthResult and HealthTransition records (src/core/records.ts), CLI and API alike. */
import type { CheckResult } from "./_types.ts";

export interface HealthRecord {
  readonly machine: string;
  readonly healthy: boolean;
  readonly status: string;
  readonly detail: string;
  readonly latency_ms: number;
}

export function healthRecord(machine: string, r: CheckResult): HealthRecord {
  return {
    machine,
    healthy: r.ok,
    status: r.status,
    detail: r.detail,
    latency_ms: Math.round(r.latencyMs * 10) / 10,
  };
}

export function transitionRecord(
  machine: string,
  t: { from: string; to: string; at: number; result: CheckResult; unhealthyMs?: number },
) {
  return {
    machine,
    from: t.from,
    to: t.to,
    at: new Date(t.at).toISOString(),
    detail: t.result.detail,
    unhealthy_ms: t.unhealthyMs ?? null,
  };
}
