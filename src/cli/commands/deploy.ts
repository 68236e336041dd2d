/**
 * provctl deploy NAME [--version V] [--dry-run] [fleet flags]
 * provctl rollback NAME [--to VERSION] [fleet flags]
 *
 * NAME is a `[deployments.NAME]` of the services file (./provctl.toml or -f FILE).
 * Selection flags (-l, -m, --profile, --limit) narrow the deployment's own target;
 * --forks and --max-failures override its settings for this run. Progress goes to
 * stderr, the summary (or `-o json`, one result object) to stdout. Exit 0 when every
 * machine is on the new release and healthy, 1 when the deploy failed (after rollback).
 */
import type { BackendName } from "../../backends/backend.ts";
import { ExitCode, ProvctlError } from "../../core/errors.ts";
import { parseServiceName } from "../../core/service_name.ts";
import { loadServicesFile, type ServiceEntry } from "../../config/services_file.ts";
import { LocalRunner } from "../../exec/local_runner.ts";
import type { CommandRunner, HostInfo } from "../../exec/runner.ts";
import { parseFailureBudget } from "../../fleet/executor.ts";
import { type Inventory, machineTarget } from "../../fleet/inventory.ts";
import { selectMachines } from "../../fleet/selector.ts";
import { checkVersion, type DeploymentConfig, loadDeployments } from "../../fleet/deploy/config.ts";
import { DeployEngine, type DeployResult, type DeployTarget } from "../../fleet/deploy/engine.ts";
import type { DeployLock, DeploymentState } from "../../fleet/deploy/lock.ts";
import type { StateBackend } from "../../state/backend.ts";
import {
  type DeployPlan,
  deployRootOf,
  planData,
  planDeploy,
  selectTarget,
} from "../../fleet/deploy/plan.ts";
import {
  breakTargetLock,
  holderText,
  type LockState,
  type LockTarget,
  readTargetLock,
  type TargetLocks,
} from "../../fleet/deploy/target_lock.ts";
import type { RecordingRunner } from "../../observe/recording_runner.ts";
import { artifactVersion } from "../../fleet/deploy/release.ts";
import { deployRecord, dryRunRecord } from "../../fleet/deploy/records.ts";
import { healthSettings } from "../../health/settings.ts";
import { type FleetFlags, fleetRequested, type SelectFlags } from "../fleet_flags.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { command, type Session } from "../session.ts";
import { scopeFrom } from "../target.ts";
import { loadFleetInventory, machineConnection } from "../fleet.ts";

export interface DeployFlags extends GlobalFlags, FleetFlags {
  readonly dryRun?: boolean;
  readonly version?: string;
}

export interface RollbackFlags extends GlobalFlags, FleetFlags {
  readonly to?: string;
}

interface Loaded {
  deployment: DeploymentConfig;
  service?: ServiceEntry;
  inventory: Inventory;
  only?: ReadonlySet<string>;
  state?: DeploymentState;
  /** The revision `state` was read at (compare-and-set when the outcome is recorded). */
  revision: number;
  store: StateBackend;
}

async function loadDeployment(session: Session, flags: FleetFlags, name: string): Promise<Loaded> {
  const settings = await session.settings();
  const explicit = session.flags.file;
  const path = explicit ?? settings.paths.servicesFile;
  const file = path.startsWith("/") ? path : `${session.ctx.cwd}/${path}`;
  const services = await loadServicesFile(file, {
    required: explicit !== undefined,
    defaults: settings.config,
  });
  const deployments = await loadDeployments(file);
  const deployment = deployments.get(name);
  if (!deployment) {
    throw new ProvctlError("NotFound", "deploy.unknown", {
      params: {
        deployment: name,
        file,
        known: deployments.size === 0 ? "none" : [...deployments.keys()].join(", "),
      },
      hint: "deploy.unknown_hint",
    });
  }
  let service: ServiceEntry | undefined;
  if (deployment.service !== undefined) {
    service = services.get(parseServiceName(deployment.service));
    if (!service) {
      throw new ProvctlError("InvalidConfig", "deploy.service_unknown", {
        params: { deployment: name, service: deployment.service, origin: deployment.origin },
      });
    }
  }
  const inventory = await loadFleetInventory(session, flags.inventory, {
    ...flags,
    refuseFailed: true,
  });
  let only: Set<string> | undefined;
  if (fleetRequested(flags) || flags.limit !== undefined) {
    only = new Set(
      selectMachines(inventory, {
        all: flags.all || (!fleetRequested(flags) && flags.limit !== undefined),
        names: flags.machine ?? [],
        labels: flags.selector,
        profile: flags.profile,
        limit: flags.limit,
        messages: settings.messages,
      }).map((m) => m.name),
    );
  }
  const store = await session.state();
  const { state, revision } = await store.getDeployment(name);
  return { deployment, service, inventory, only, state, revision, store };
}

function newDeploymentId(name: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${name}-${stamp}-${crypto.randomUUID().slice(0, 6)}`;
}

/** Audit log, metrics and runners for the machines of a plan. */
async function engineFor(
  session: Session,
  flags: FleetFlags & GlobalFlags,
  plan: DeployPlan,
  loaded: Loaded,
  signal?: AbortSignal,
) {
  const settings = session.loaded;
  const config = settings.config;
  // The session's audit log, metrics and redactor: closed and saved when the command ends.
  const remote = await session.remoteTargets();
  const recorder = await session.recorder();
  const audit = await recorder.auditLog();
  const scope = scopeFrom(session.flags);
  const machines = new Map(loaded.inventory.machines.map((m) => [m.name, m]));
  const targets = new Map<string, DeployTarget>();
  const names = new Set(plan.hosts.map((h) => h.name));
  if (plan.blueGreen && plan.blueGreen.switchOn !== "controller") {
    names.add(plan.blueGreen.switchOn);
  }
  for (const name of names) {
    const m = machines.get(name)!;
    let host: Promise<HostInfo> | undefined;
    targets.set(name, {
      name,
      runner: () => remote.runnerFor(machineTarget(m), machineConnection(m, flags)),
      backend: async (runner: CommandRunner, requested?: string) => {
        const { createBackend } = await import("../../backends/select.ts");
        const { probeHost } = await import("../../exec/host_fs.ts");
        host ??= probeHost(runner);
        const choice = (session.flags.backend ?? requested ?? m.overrides.backend ??
          settings.backend) as BackendName | "auto";
        return await createBackend(choice, {
          runner,
          host: await host,
          settings,
          scope,
          force: session.flags.force,
        });
      },
    });
  }
  const health = healthSettings(config);
  const stepMs = config.integer("deploy.step_timeout_ms");
  const engine = new DeployEngine({
    targets,
    forks: flags.forks ?? config.integer("fleet.forks"),
    health: {
      timeoutMs: loaded.deployment.healthWaitMs ?? health.waitTimeoutMs,
      intervalMs: health.waitIntervalMs,
      checkTimeoutMs: health.timeoutMs,
      healthyThreshold: 1,
    },
    audit,
    metrics: recorder.metrics,
    redactor: recorder.redactor,
    onRecordingRunner: (runner) => recorder.track(runner),
    stepTimeoutMs: loaded.deployment.stepTimeoutMs ?? (stepMs === 0 ? undefined : stepMs),
    note: (key, params) => session.note(key, params),
    describe: (error) => session.errorLine(error),
    switchRunner: () => Promise.resolve(new LocalRunner()),
    signal,
  });
  return engine;
}

function operator(session: Session): string {
  const env = session.ctx.process.env;
  return session.ctx.operator ?? env.USER ?? env.LOGNAME ?? "";
}

async function printPlan(session: Session, plan: DeployPlan): Promise<void> {
  // Steps may carry secrets (mysql -pX, curl -u a:X): masked as in the audit log.
  const data = planData(plan, (await session.recorder()).redactor);
  if (session.output === "json") {
    session.out(JSON.stringify(dryRunRecord(plan, (await session.recorder()).redactor)));
    return;
  }
  const f = (key: string, params: Record<string, string | number> = {}) =>
    session.format(`deploy.${key}`, params);
  const lines = [
    f("plan_header", {
      deployment: plan.deployment,
      strategy: plan.strategy,
      version: plan.version,
      count: plan.hosts.length,
    }),
    f("plan_artifact", { artifact: plan.artifact }),
  ];
  if (plan.blueGreen) {
    lines.push(f("plan_groups", { group: plan.blueGreen.group, live: plan.blueGreen.live ?? "-" }));
  }
  for (const [i, b] of plan.batches.entries()) {
    lines.push(f(b.kind === "canary" ? "plan_canary" : "plan_batch", {
      batch: i + 1,
      batches: plan.batches.length,
      hosts: b.hosts.map((h) => h.name).join(", "),
    }));
    if (b.kind === "canary" && plan.bakeMs > 0) lines.push(f("plan_bake", { ms: plan.bakeMs }));
  }
  for (const h of data.hosts) {
    lines.push(f("plan_host", { host: h.name, root: h.root }));
    lines.push(f("plan_upload", { artifact: plan.artifact, dir: h.releaseDir }));
    for (const c of h.before) lines.push(f("plan_before", { command: c, dir: h.releaseDir }));
    lines.push(f("plan_switch", { root: h.root, version: plan.version }));
    for (const c of h.after) lines.push(f("plan_after", { command: c, dir: h.releaseDir }));
    if (h.service) {
      lines.push(f("plan_restart", {
        service: h.service.name,
        command: h.service.command,
        dir: h.service.workingDir ?? "-",
      }));
    }
    if (h.health) lines.push(f("plan_health", { check: h.health }));
  }
  if (data.blueGreen) {
    lines.push(f("plan_switch_command", {
      command: data.blueGreen.switchCommand,
      on: data.blueGreen.switchOn,
    }));
  }
  lines.push(f("plan_keep", { keep: plan.keepReleases }));
  lines.push(f("plan_dry_run"));
  session.out(lines.join("\n"));
}

function printResult(session: Session, result: DeployResult, verb: "deploy" | "rollback"): void {
  if (session.output === "json") {
    session.out(JSON.stringify(deployRecord(result)));
    return;
  }
  const seconds = (result.durationMs / 1000).toFixed(1);
  const head = result.ok
    ? session.format(`deploy.${verb}_ok`, {
      deployment: result.deployment,
      version: result.version,
      count: result.hosts.filter((h) =>
        h.status === "deployed" || h.status === "rolled-back"
      ).length,
      id: result.deploymentId,
      seconds,
      live: result.live ?? "-",
    })
    : session.format(`deploy.${verb}_failed`, {
      deployment: result.deployment,
      version: result.version,
      reason: session.format(`deploy.reason_${result.reason ?? "failures"}`),
      id: result.deploymentId,
    });
  const rows = result.hosts.map((h) => {
    const detail = [
      h.stage ? `${h.stage}: ${h.error ?? ""}` : h.error,
      h.rollbackError ? session.format("deploy.rollback_error", { error: h.rollbackError }) : "",
    ].filter(Boolean).join("; ");
    return `  ${h.host.padEnd(12)} ${h.status.padEnd(16)} ${h.current ?? "-"}${
      detail ? `  (${detail})` : ""
    }`;
  });
  session.out([head, ...rows].join("\n"));
}

/** The deployment's lock (waiting deploy.lock_wait_ms); says when a dead holder's was recovered. */
async function lockDeployment(
  session: Session,
  loaded: Loaded,
  name: string,
  deploymentId: string,
  operation: "deploy" | "rollback",
) {
  const lock = await loaded.store.acquireDeployLock(name, {
    deploymentId,
    operation,
    user: operator(session),
    waitMs: session.loaded.config.integer("deploy.lock_wait_ms"),
  });
  if (lock.recovered) {
    session.warn({
      key: lock.recoveredDead ? "deploy.lock_recovered" : "deploy.lock_session_lost",
      params: {
        pid: lock.recovered.pid,
        id: lock.recovered.deploymentId,
        host: lock.recovered.hostname,
      },
    });
  }
  return lock;
}

/** What a deploy or rollback ended with: a plan (dry run) or a result. */
export type DeployOutcome =
  | { readonly kind: "plan"; readonly plan: DeployPlan }
  | { readonly kind: "result"; readonly result: DeployResult };

export interface DeployHooks {
  /** Called once the deployment's lock is held (the run has really started). */
  readonly locked?: () => void;
  /** Aborts the run (machines already switched are rolled back). */
  readonly signal?: AbortSignal;
}

/** What rollback does once the target machines are locked. */
async function rollbackUnderLock(
  session: Session,
  engine: DeployEngine,
  plan: DeployPlan,
  name: string,
  version: string,
  state: DeploymentState | undefined,
): Promise<DeployResult> {
  if (!plan.blueGreen) return await engine.rollback(plan, { version });
  const group = plan.blueGreen.group;
  // The idle group still runs its release: relink only when another is asked for, or
  // when its machines are not all on it (a failed switch or a killed deploy since).
  const needsRelink = state?.groups?.[group] !== version || !await engine.allOn(plan, version);
  const result: DeployResult = needsRelink ? await engine.rollback(plan, { version }) : {
    deployment: name,
    deploymentId: plan.deploymentId,
    strategy: plan.strategy,
    version,
    ok: true,
    rolledBack: false,
    hosts: plan.hosts.map((h) => ({ host: h.name, status: "unchanged", current: version })),
    durationMs: 0,
  };
  if (result.ok) {
    session.note("deploy.switching", {
      group,
      command: (await session.recorder()).redactor.text(plan.blueGreen.switchCommand),
      on: plan.blueGreen.switchOn,
    });
    try {
      await engine.runSwitch(
        plan.deploymentId,
        plan.blueGreen.switchCommand,
        plan.blueGreen.switchOn,
        "rollback",
      );
      result.live = group;
    } catch (error) {
      result.ok = false;
      result.reason = "switch";
      session.note("deploy.switch_failed", { error: session.errorLine(error) });
    }
  }
  return result;
}

/**
 * Runs `work` holding the target lock of every machine of `plan` (taken before any
 * machine changes, in name order). The locks, and `local` (the controller's own lock),
 * are released at the end, on failure, and on SIGINT/SIGTERM (then the command exits
 * 130/143).
 */
async function withTargetLocks<T>(
  session: Session,
  engine: DeployEngine,
  plan: DeployPlan,
  operation: "deploy" | "rollback",
  local: readonly DeployLock[],
  work: () => Promise<T>,
  /** The API's cancellation: it stops the taking of locks; no process signal is handled. */
  external?: AbortSignal,
): Promise<T> {
  // Signals count from here: while locks are being taken, the taking stops and gives
  // back what it took; afterwards every lock is released before provctl exits. Inside
  // `provctl serve` the server owns SIGINT/SIGTERM and cancels through `external`.
  const stop = new AbortController();
  external?.addEventListener("abort", () => stop.abort(), { once: true });
  let locks: TargetLocks | undefined;
  let exitCode: number | undefined;
  const signals: [Deno.Signal, number][] = external ? [] : [["SIGINT", 130], ["SIGTERM", 143]];
  const handlers = signals.map(([signal, code]) => {
    const handler = () => {
      exitCode ??= code;
      stop.abort();
      if (!locks) return; // lockTargets gives its locks back and throws
      void Promise.allSettled([locks.release(), ...local.map((l) => l.release())])
        .finally(() => Deno.exit(code));
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const removeHandlers = () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
  try {
    locks = await engine.lockTargets(plan, {
      controller: Deno.hostname(),
      user: operator(session),
      pid: Deno.pid,
      operation,
      since: new Date().toISOString(),
    }, {
      expiryMs: session.loaded.config.integer("deploy.target_lock_expiry_ms"),
      // A run whose controller lock we recovered and that is certainly dead: its machine
      // locks go at once (one that only lost its database session keeps them).
      deadRuns: local.flatMap((l) =>
        l.recovered && l.recoveredDead ? [l.recovered.deploymentId] : []
      ),
      signal: stop.signal,
    });
  } catch (error) {
    removeHandlers();
    if (exitCode !== undefined) {
      await Promise.allSettled(local.map((l) => l.release()));
      Deno.exit(exitCode);
    }
    throw error;
  }
  if (exitCode !== undefined) {
    // The signal came as the last lock was taken.
    await Promise.allSettled([locks.release(), ...local.map((l) => l.release())]);
    Deno.exit(exitCode);
  }
  try {
    return await work();
  } finally {
    removeHandlers();
    await locks.release().catch((error) =>
      session.warn({
        key: "deploy.target_lock_release_failed",
        params: { error: session.errorLine(error) },
      })
    );
  }
}

export const deploy = command<DeployFlags, [string]>(async (session, flags, name) => {
  const outcome = await runDeploy(session, flags, name);
  if (outcome.kind === "plan") {
    await printPlan(session, outcome.plan);
    return ExitCode.ok;
  }
  printResult(session, outcome.result, "deploy");
  return outcome.result.ok ? ExitCode.ok : ExitCode.failed;
});

/** provctl deploy and POST /deployments/{name}/deploy: plan, lock, run, record the state. */
export async function runDeploy(
  session: Session,
  flags: DeployFlags,
  name: string,
  hooks: DeployHooks = {},
): Promise<DeployOutcome> {
  const loaded = await loadDeployment(session, flags, name);
  const { deployment } = loaded;
  try {
    await Deno.stat(deployment.artifact);
  } catch {
    throw new ProvctlError("NotFound", "deploy.artifact_not_found", {
      params: { deployment: name, artifact: deployment.artifact, origin: deployment.origin },
    });
  }
  const version = checkVersion(
    flags.version ?? deployment.version ?? await artifactVersion(deployment.artifact),
    flags.version !== undefined ? "--version" : deployment.origin,
  );
  const deploymentId = newDeploymentId(name);
  const makePlan = (state: DeploymentState | undefined) =>
    planDeploy({
      deployment,
      inventory: loaded.inventory,
      version,
      deploymentId,
      service: loaded.service,
      state,
      only: loaded.only,
      keepReleases: session.loaded.config.integer("deploy.keep_releases"),
      maxFailures: flags.maxFailures === undefined
        ? undefined
        : parseFailureBudget(flags.maxFailures),
    });
  if (flags.dryRun) return { kind: "plan", plan: makePlan(loaded.state) };
  // Checked before taking the lock (mistakes fail fast), planned again under it: the
  // recorded state (live blue-green group, releases) may change while we wait for it.
  makePlan(loaded.state);
  const lock = await lockDeployment(session, loaded, name, deploymentId, "deploy");
  try {
    hooks.locked?.();
    await reread(loaded, name);
    const plan = makePlan(loaded.state);
    session.note("deploy.starting", {
      deployment: name,
      version,
      strategy: plan.strategy,
      count: plan.hosts.length,
      id: plan.deploymentId,
    });
    const engine = await engineFor(session, flags, plan, loaded, hooks.signal);
    const result = await withTargetLocks(
      session,
      engine,
      plan,
      "deploy",
      [lock],
      () =>
        engine.deploy(plan, {
          // Recorded before the first machine switches: a run killed midway (Ctrl-C,
          // SIGKILL, a lost controller) leaves machines on the new release, and a default
          // rollback must then go back to the one they ran before, not the one before that.
          // (Blue-green's live group is untouched until its switch command.)
          beforeSwitch: plan.blueGreen
            ? undefined
            : () => record(loaded, switchedState(loaded, plan, "running"), version),
        }),
      hooks.signal,
    );
    await finished(session, plan, "deploy", result);
    await record(loaded, nextState(loaded, plan, result), plan.version);
    return { kind: "result", result };
  } finally {
    await lock.release();
  }
}

/** The recorded state, read again under the deploy lock. */
async function reread(loaded: Loaded, name: string): Promise<void> {
  const { state, revision } = await loaded.store.getDeployment(name);
  loaded.state = state;
  loaded.revision = revision;
}

/**
 * The run's own outcome as its last audit record (deploy.finish, rollback.finish): its
 * steps' records cannot tell it, a probe or retried step may fail in a run that succeeds.
 */
async function finished(
  session: Session,
  plan: DeployPlan,
  op: "deploy" | "rollback",
  result: DeployResult,
): Promise<void> {
  const audit = await (await session.recorder()).auditLog();
  const outcome = runOutcome(result);
  await audit.append({
    machine: "controller",
    op: `${op}.finish`,
    result: result.ok ? "ok" : "failed",
    command: `${op} ${plan.deployment} ${plan.version}`,
    deploymentId: plan.deploymentId,
    durationMs: result.durationMs,
    ...(result.ok ? {} : { error: outcome }),
  });
}

function stateOutcome(result: string | undefined): string {
  return result === "ok" || result === "rollback"
    ? "ok"
    : result === "rolled-back" || result === "failed"
    ? result
    : "unknown";
}

function runOutcome(result: DeployResult): "ok" | "rolled-back" | "failed" {
  return result.ok ? "ok" : result.rolledBack ? "rolled-back" : "failed";
}

/** Records the outcome if nobody else wrote the state since it was read under the lock. */
async function record(loaded: Loaded, state: DeploymentState, version: string): Promise<void> {
  const revision = await loaded.store.putDeployment(state, loaded.revision);
  if (revision === undefined) {
    throw new ProvctlError("Conflict", "state.conflict", {
      params: { deployment: state.deployment, version },
    });
  }
  loaded.revision = revision;
}

function nextState(loaded: Loaded, plan: DeployPlan, result: DeployResult): DeploymentState {
  const before = loaded.state ?? { deployment: plan.deployment };
  const common = runFields(plan, runOutcome(result));
  if (plan.blueGreen && !result.ok) return { ...before, ...common };
  if (!result.ok) {
    // Machines this run left on the new release (failures within the budget, or a
    // rollback that failed): the state names it, and what they ran before for rollback.
    const kept = result.hosts.some((h) => h.current === plan.version);
    return kept ? switchedState(loaded, plan, common.result) : { ...before, ...common };
  }
  if (plan.blueGreen) {
    const bg = plan.blueGreen;
    return {
      ...before,
      ...common,
      live: bg.group,
      groups: { ...before.groups, [bg.group]: plan.version },
      version: plan.version,
      previous: bg.live ? before.groups?.[bg.live] : before.previous,
    };
  }
  return switchedState(loaded, plan, common.result);
}

/**
 * Rolling and canary: the state once machines run `plan.version` (maybe not all of them):
 * `previous` is the release they ran before (the recorded one; a redeploy keeps its own).
 */
function switchedState(loaded: Loaded, plan: DeployPlan, result: string): DeploymentState {
  const before = loaded.state ?? { deployment: plan.deployment };
  return {
    ...before,
    ...runFields(plan, result),
    version: plan.version,
    previous: before.version !== plan.version ? before.version : before.previous,
  };
}

/** What every state write of a run records: which run, how it went (so far), when. */
function runFields(plan: DeployPlan, result: string) {
  return {
    deployment: plan.deployment,
    deploymentId: plan.deploymentId,
    result,
    updated: new Date().toISOString(),
  };
}

export const rollback = command<RollbackFlags, [string]>(async (session, flags, name) => {
  const result = await runRollback(session, flags, name);
  printResult(session, result, "rollback");
  return result.ok ? ExitCode.ok : ExitCode.failed;
});

/** provctl rollback and POST /deployments/{name}/rollback. */
export async function runRollback(
  session: Session,
  flags: RollbackFlags,
  name: string,
  hooks: DeployHooks = {},
): Promise<DeployResult> {
  const loaded = await loadDeployment(session, flags, name);
  if (flags.to !== undefined) checkVersion(flags.to, "--to");
  const deploymentId = newDeploymentId(name);
  // The recorded state decides what to go back to: read it under the lock.
  const lock = await lockDeployment(session, loaded, name, deploymentId, "rollback");
  try {
    hooks.locked?.();
    await reread(loaded, name);
    const { deployment, state } = loaded;
    const bg = deployment.blueGreen !== undefined;
    let version: string | undefined;
    if (bg) {
      if (!state?.live) {
        throw new ProvctlError("NotFound", "deploy.rollback_no_state", {
          params: { deployment: name },
        });
      }
      const other = state.live === "blue" ? "green" : "blue";
      version = flags.to ?? state.groups?.[other];
      if (version === undefined) {
        throw new ProvctlError("NotFound", "deploy.rollback_group_empty", {
          params: { deployment: name, group: other },
          hint: "deploy.rollback_to_hint",
        });
      }
    } else {
      version = flags.to ?? state?.previous;
      if (version === undefined) {
        throw new ProvctlError("NotFound", "deploy.rollback_no_previous", {
          params: { deployment: name },
          hint: "deploy.rollback_to_hint",
        });
      }
    }
    const plan = planDeploy({
      deployment,
      inventory: loaded.inventory,
      version,
      deploymentId,
      service: loaded.service,
      state,
      only: loaded.only,
      keepReleases: session.loaded.config.integer("deploy.keep_releases"),
      maxFailures: flags.maxFailures === undefined
        ? undefined
        : parseFailureBudget(flags.maxFailures),
    });
    session.note("deploy.rollback_starting", {
      deployment: name,
      version,
      count: plan.hosts.length,
      id: plan.deploymentId,
    });
    const engine = await engineFor(session, flags, plan, loaded, hooks.signal);
    const result = await withTargetLocks(
      session,
      engine,
      plan,
      "rollback",
      [lock],
      () => rollbackUnderLock(session, engine, plan, name, version, state),
      hooks.signal,
    );
    await finished(session, plan, "rollback", result);
    const before = state ?? { deployment: name };
    if (result.ok) {
      await record(loaded, {
        ...before,
        deployment: name,
        deploymentId: plan.deploymentId,
        result: "rollback",
        updated: new Date().toISOString(),
        version,
        previous: before.version,
        ...(plan.blueGreen
          ? {
            live: plan.blueGreen.group,
            groups: { ...before.groups, [plan.blueGreen.group]: version },
          }
          : {}),
      }, version);
    }
    return result;
  } finally {
    await lock.release();
  }
}

function deploymentRecord(d: DeploymentConfig, state: DeploymentState | undefined) {
  return {
    name: d.name,
    strategy: d.strategy as string,
    service: d.service ?? null,
    artifact: d.artifact,
    origin: d.origin,
    version: state?.version ?? null,
    previous: state?.previous ?? null,
    live_group: state?.live ?? null,
    last_deployment_id: state?.deploymentId ?? null,
    last_result: state?.result ?? null,
    updated: state?.updated ?? null,
  };
}

export type DeploymentRecord = ReturnType<typeof deploymentRecord>;

/** GET /deployments: every deployment of the services file with its recorded state. */
export async function deploymentRecords(session: Session): Promise<DeploymentRecord[]> {
  const settings = await session.settings();
  const explicit = session.flags.file;
  const path = explicit ?? settings.paths.servicesFile;
  const file = path.startsWith("/") ? path : `${session.ctx.cwd}/${path}`;
  let deployments: Map<string, DeploymentConfig>;
  try {
    deployments = await loadDeployments(file);
  } catch (error) {
    if (explicit === undefined && error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const store = await session.state();
  return await Promise.all(
    [...deployments.values()].map(async (d) =>
      deploymentRecord(d, (await store.getDeployment(d.name)).state)
    ),
  );
}

/**
 * GET /deployments/{name}: the deployment, the plan a deploy of its current version would
 * follow, and its runs from the audit log (newest first).
 */
export async function deploymentDetail(session: Session, name: string) {
  const loaded = await loadDeployment(session, {}, name);
  const { deployment, state } = loaded;
  let plan: ReturnType<typeof dryRunRecord>["plan"] | null = null;
  let planError: string | null = null;
  try {
    const version = checkVersion(
      deployment.version ?? state?.version ?? await artifactVersion(deployment.artifact),
      deployment.origin,
    );
    plan = dryRunRecord(
      planDeploy({
        deployment,
        inventory: loaded.inventory,
        version,
        deploymentId: newDeploymentId(name),
        service: loaded.service,
        state,
        keepReleases: session.loaded.config.integer("deploy.keep_releases"),
      }),
      (await session.recorder()).redactor,
    ).plan;
  } catch (error) {
    planError = session.errorLine(error);
  }
  const { readAudit } = await import("../../observe/audit_log.ts");
  const runs = new Map<string, {
    deployment_id: string;
    op: string;
    started: string;
    finished: string;
    operator: string;
    result: string;
    outcome: string;
    machines: string[];
  }>();
  // Shared state: every controller's runs; files: this controller's log, streamed.
  const records = loaded.store.name === "files"
    ? readAudit(session.loaded.config.path("observe.audit_file"), {})
    : await loaded.store.queryAudit({});
  for await (const r of records) {
    const id = r.deployment_id;
    if (id === undefined || !id.startsWith(`${name}-`)) continue;
    // The target locks (deploy.lock, ...) come first in deploys and rollbacks alike: the
    // run's first other step says which it was.
    const lockStep = r.op === "deploy.lock" || r.op === "deploy.lock_break" ||
      r.op === "deploy.unlock";
    const known = runs.get(id);
    const run = known ?? {
      deployment_id: id,
      op: "",
      started: r.ts,
      finished: r.ts,
      operator: r.operator,
      result: "ok",
      outcome: "unknown",
      machines: [],
    };
    if (run.op === "" && !lockStep) run.op = r.op.startsWith("rollback") ? "rollback" : "deploy";
    run.finished = r.ts;
    if (r.result !== "ok") run.result = r.result;
    // The run's own last record says how it ended (a failed probe or retry does not).
    if (r.op === "deploy.finish" || r.op === "rollback.finish") {
      run.outcome = r.result === "ok" ? "ok" : r.error === "rolled-back" ? "rolled-back" : "failed";
    }
    if (r.machine !== "controller" && !run.machines.includes(r.machine)) {
      run.machines.push(r.machine);
    }
    runs.set(id, run);
  }
  return {
    ...deploymentRecord(deployment, state),
    plan,
    plan_error: planError,
    history: [...runs.values()].reverse().map((run) => ({
      ...run,
      op: run.op || "deploy",
      // Runs recorded before finish records existed: the deployment's state knows its last.
      outcome: run.outcome === "unknown" && state?.deploymentId === run.deployment_id
        ? stateOutcome(state.result)
        : run.outcome,
    })),
  };
}

export interface UnlockFlags extends GlobalFlags, SelectFlags {
  readonly yes?: boolean;
}

/** Asks on the terminal; true for "y" or "yes". */
async function confirm(session: Session, question: string): Promise<boolean> {
  session.ctx.process.stderr.write(question);
  const buf = new Uint8Array(256);
  const n = await Deno.stdin.read(buf);
  const answer = new TextDecoder().decode(buf.subarray(0, n ?? 0)).trim().toLowerCase();
  return answer === "y" || answer === "yes";
}

/**
 * provctl deploy unlock NAME [--yes] [selection flags]: shows the target locks held on
 * the deployment's machines (both blue-green groups) and breaks them after confirmation.
 * Each read and break is audited (deploy.unlock). Exit 0 when no lock is left.
 */
export const unlock = command<UnlockFlags, [string]>(async (session, flags, name) => {
  const loaded = await loadDeployment(session, flags, name);
  const { deployment, inventory } = loaded;
  const selectors = deployment.blueGreen
    ? [deployment.blueGreen.groups.blue, deployment.blueGreen.groups.green]
    : [deployment.target!];
  const machines = [
    ...new Map(
      selectors.flatMap((t) => selectTarget(inventory, t)).map((m) => [m.name, m] as const),
    ).values(),
  ].filter((m) => !loaded.only || loaded.only.has(m.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const remote = await session.remoteTargets();
  const targets: LockTarget[] = await Promise.all(machines.map(async (m) => {
    const raw = await remote.runnerFor(machineTarget(m), machineConnection(m, flags));
    const recorded = await session.recorded(raw, m.name) as RecordingRunner;
    return {
      name: m.name,
      root: deployRootOf(deployment, m),
      runner: (op: string) => recorded.with({ operation: op }),
    };
  }));
  const read = await Promise.allSettled(targets.map((t) => readTargetLock(t)));
  const held: { target: LockTarget; state: LockState }[] = [];
  let failed = 0;
  const lines: string[] = [];
  read.forEach((r, i) => {
    if (r.status === "rejected") {
      failed++;
      lines.push(session.format("deploy.unlock_failed", {
        machine: targets[i].name,
        error: session.errorLine(r.reason),
      }));
    } else if (r.value) {
      held.push({ target: targets[i], state: r.value });
      lines.push(session.format("deploy.unlock_held", {
        machine: targets[i].name,
        holder: holderText(r.value),
      }));
    }
  });
  if (held.length === 0) {
    session.out([session.format("deploy.unlock_none", { deployment: name }), ...lines].join("\n"));
    return failed === 0 ? ExitCode.ok : ExitCode.failed;
  }
  session.out(lines.join("\n"));
  if (!flags.yes) {
    if (!session.ctx.stdinIsTty) throw new ProvctlError("Usage", "deploy.unlock_needs_yes");
    const question = session.format("deploy.unlock_confirm", {
      count: held.length,
      deployment: name,
    });
    if (!await confirm(session, question)) {
      session.out(session.format("deploy.unlock_declined"));
      return ExitCode.failed;
    }
  }
  const done: string[] = [];
  for (const { target, state } of held) {
    try {
      const broken = await breakTargetLock(target, state);
      done.push(
        session.format(broken ? "deploy.unlock_done" : "deploy.unlock_changed", {
          machine: target.name,
        }),
      );
      if (!broken) failed++;
    } catch (error) {
      failed++;
      done.push(session.format("deploy.unlock_failed", {
        machine: target.name,
        error: session.errorLine(error),
      }));
    }
  }
  session.out(done.join("\n"));
  return failed === 0 ? ExitCode.ok : ExitCode.failed;
});
