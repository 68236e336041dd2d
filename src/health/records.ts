/** The HealthResult and HealthTransition records (src/core/records.ts), CLI and API alike. */
import type { CommandRunner } from "../exec/runner.ts";
import type { CheckResult, HealthCheck } from "./_types.ts";

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

/** Runs one check on one machine; a check that cannot run at all is an "error" record. */
export async function checkOne(
  target: { readonly name: string; runner(): Promise<CommandRunner> },
  check: HealthCheck,
  options: { timeoutMs: number; describe: (error: unknown) => string },
): Promise<HealthRecord> {
  const { runCheck } = await import("./checks.ts");
  try {
    return healthRecord(
      target.name,
      await runCheck(check, { runner: await target.runner(), timeoutMs: options.timeoutMs }),
    );
  } catch (error) {
    return {
      machine: target.name,
      healthy: false,
      status: "error",
      detail: options.describe(error),
      latency_ms: 0,
    };
  }
}
