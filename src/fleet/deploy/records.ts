/**
 * The DeployPlan, DryRun and DeployResult records (src/core/records.ts): `provctl deploy|
 * rollback -o json` (and `--dry-run`) and the API's deployments and operations.
 */
import type { DeployResult } from "./engine.ts";
import { type DeployPlan, planData } from "./plan.ts";
import type { Redactor } from "../../observe/redact.ts";

/** The plan with secrets in commands masked by `redactor` (as in the audit log). */
export function planRecord(plan: DeployPlan, redactor: Redactor) {
  const data = planData(plan, redactor);
  return {
    deployment: data.deployment,
    strategy: data.strategy,
    version: data.version,
    deployment_id: data.deploymentId,
    artifact: data.artifact,
    max_failures: data.maxFailures ?? null,
    bake_ms: data.bakeMs,
    keep_releases: data.keepReleases,
    blue_green: data.blueGreen
      ? {
        group: data.blueGreen.group,
        live: data.blueGreen.live ?? null,
        switch_command: data.blueGreen.switchCommand,
        switch_on: data.blueGreen.switchOn,
      }
      : null,
    batches: data.batches.map((b) => ({ kind: b.kind, machines: b.hosts })),
    machines: data.hosts.map((h) => ({
      machine: h.name,
      group: h.group ?? null,
      root: h.root,
      release_dir: h.releaseDir,
      before: [...h.before],
      after: [...h.after],
      service: h.service
        ? {
          name: h.service.name,
          command: h.service.command,
          working_dir: h.service.workingDir ?? null,
          backend: h.service.backend ?? null,
        }
        : null,
      health: h.health ?? null,
    })),
  };
}

export type PlanRecord = ReturnType<typeof planRecord>;

export function dryRunRecord(
  plan: DeployPlan,
  redactor: Redactor,
): { dry_run: true; plan: PlanRecord } {
  return { dry_run: true, plan: planRecord(plan, redactor) };
}

export function deployRecord(result: DeployResult) {
  return {
    deployment: result.deployment,
    deployment_id: result.deploymentId,
    strategy: result.strategy,
    version: result.version,
    ok: result.ok,
    rolled_back: result.rolledBack,
    reason: result.reason ?? null,
    live_group: result.live ?? null,
    duration_ms: Math.round(result.durationMs),
    machines: result.hosts.map((h) => ({
      machine: h.host,
      status: h.status,
      previous: h.previous ?? null,
      current: h.current ?? null,
      stage: h.stage ?? null,
      error: h.error ?? null,
      rollback_error: h.rollbackError ?? null,
    })),
  };
}

export type DeployRecord = ReturnType<typeof deployRecord>;
