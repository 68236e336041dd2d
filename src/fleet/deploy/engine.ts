/**
 * Carries out a deploy plan, and rollbacks. On each machine, in order:
 *
 *   upload    the artifact into releases/<version> (skipped when already there)
 *   before    the `steps.before` commands, run in the release dir
 *   switch    `current` -> releases/<version>, atomically
 *   after     the `steps.after` commands, run in the release dir
 *   restart   the service, through the machine's backend
 *   health    the health check, until it passes or health_wait_ms runs out
 *
 * Batches run one after the other, the machines of a batch in parallel (--forks). A
 * machine that fails is rolled back on its own (previous release linked back, service
 * restarted, health re-checked) while failures stay within the budget; past the budget
 * (or any canary failure) the deploy stops and every machine switched by this run is
 * rolled back. Every command goes through a RecordingRunner labelled with the
 * deployment id and the operation (deploy.upload, deploy.step, deploy.switch,
 * deploy.restart, deploy.health, rollback), so the audit log tells the whole story.
 */
import type { Backend } from "../../backends/backend.ts";
import { isProvctlError, type MessageParams, ProvctlError } from "../../core/errors.ts";
import type { CommandRunner } from "../../exec/runner.ts";
import { describeCheck, type HealthCheck, outputTail } from "../../health/checks.ts";
import { waitHealthy } from "../../health/monitor.ts";
import type { AuditLog } from "../../observe/audit_log.ts";
import type { MetricsCollector } from "../../observe/metrics.ts";
import { RecordingRunner } from "../../observe/recording_runner.ts";
import type { Redactor } from "../../observe/redact.ts";
import { runFleet } from "../executor.ts";
import type { GroupName } from "./config.ts";
import type { DeployPlan, HostPlan } from "./plan.ts";
import { cleanStale, listReleases, pruneReleases, stageRelease, switchCurrent } from "./release.ts";
import { allowedFailures } from "./strategies.ts";
import { holderText, lockTargets, type TargetLockHolder, type TargetLocks } from "./target_lock.ts";

/** One machine as the engine reaches it. */
export interface DeployTarget {
  readonly name: string;
  /** The machine's runner (not recording: the engine wraps it). */
  runner(): Promise<CommandRunner>;
  /** The backend for a service on the machine, working through `runner`. */
  backend(runner: CommandRunner, requested?: string): Promise<Backend>;
}

export interface HealthWait {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly checkTimeoutMs: number;
  readonly healthyThreshold: number;
}

export interface EngineOptions {
  readonly targets: ReadonlyMap<string, DeployTarget>;
  readonly forks: number;
  readonly health: HealthWait;
  readonly audit?: AuditLog;
  readonly metrics?: MetricsCollector;
  readonly redactor?: Redactor;
  /** Told of each recording runner the engine makes (e.g. to report lost audit records). */
  readonly onRecordingRunner?: (runner: RecordingRunner) => void;
  readonly stepTimeoutMs?: number;
  /** Progress lines (message key + params); the CLI prints them on stderr. */
  readonly note?: (key: string, params: MessageParams) => void;
  /** An error as one line of text. */
  readonly describe?: (error: unknown) => string;
  /** Blue-green: where the switch command runs. */
  readonly switchRunner?: () => Promise<CommandRunner>;
  readonly signal?: AbortSignal;
}

export type HostStatus =
  | "deployed"
  | "failed"
  | "rolled-back"
  | "rollback-failed"
  | "skipped"
  | "unchanged";

export interface HostResult {
  readonly host: string;
  status: HostStatus;
  /** The stage that failed (upload, before, switch, after, restart, health). */
  stage?: string;
  error?: string;
  /** The release `current` pointed to before this run. */
  previous?: string;
  /** The release `current` points to now (as far as provctl knows). */
  current?: string;
  rollbackError?: string;
}

export interface DeployResult {
  readonly deployment: string;
  readonly deploymentId: string;
  readonly strategy: string;
  readonly version: string;
  ok: boolean;
  /** True when the whole run was reverted. */
  rolledBack: boolean;
  reason?: string;
  /** Blue-green: the group live at the end. */
  live?: GroupName;
  readonly hosts: HostResult[];
  durationMs: number;
}

/** One machine during a run: its recording runner labelled with the current operation. */
class HostRun {
  op = "deploy.upload";
  stage = "upload";
  switched = false;
  readonly result: HostResult;
  readonly runner: RecordingRunner;
  readonly target: DeployTarget;

  constructor(
    target: DeployTarget,
    raw: CommandRunner,
    options: {
      audit?: AuditLog;
      metrics?: MetricsCollector;
      redactor?: Redactor;
      deploymentId: string;
    },
  ) {
    this.target = target;
    this.result = { host: target.name, status: "skipped" };
    const context = {
      machine: target.name,
      deploymentId: options.deploymentId,
      operation: () => this.op,
    };
    this.runner = new RecordingRunner(raw, {
      ...context,
      audit: options.audit,
      metrics: options.metrics,
      redactor: options.redactor,
    });
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

export class DeployEngine {
  readonly #o: EngineOptions;
  readonly #runs = new Map<string, HostRun>();

  constructor(options: EngineOptions) {
    this.#o = options;
  }

  #note(key: string, params: MessageParams = {}): void {
    this.#o.note?.(key, params);
  }

  /** A command as shown in progress lines and errors: secrets masked. */
  #shown(command: string): string {
    return this.#o.redactor ? this.#o.redactor.text(command) : command;
  }

  #describe(error: unknown): string {
    if (this.#o.describe) return this.#o.describe(error);
    return error instanceof Error ? error.message : String(error);
  }

  async #host(name: string, deploymentId: string): Promise<HostRun> {
    let run = this.#runs.get(name);
    if (!run) {
      const target = this.#o.targets.get(name);
      if (!target) {
        throw new ProvctlError("Internal", "errors.internal", {
          params: { detail: `no target ${name}` },
        });
      }
      const raw = await target.runner();
      run = new HostRun(target, raw, {
        audit: this.#o.audit,
        metrics: this.#o.metrics,
        redactor: this.#o.redactor,
        deploymentId,
      });
      this.#o.onRecordingRunner?.(run.runner);
      this.#runs.set(name, run);
    }
    return run;
  }

  async #step(
    run: HostRun,
    h: HostPlan,
    command: string,
    plan: { version: string; deployment: string; deploymentId: string },
  ) {
    const result = await run.runner.run("/bin/sh", ["-c", command], {
      cwd: h.releaseDir,
      env: {
        PROVCTL_DEPLOYMENT: plan.deployment,
        PROVCTL_DEPLOYMENT_ID: plan.deploymentId,
        PROVCTL_VERSION: plan.version,
        PROVCTL_RELEASE_DIR: h.releaseDir,
        PROVCTL_DEPLOY_ROOT: h.root,
      },
      timeoutMs: this.#o.stepTimeoutMs,
      signal: this.#o.signal,
    });
    if (result.code !== 0) {
      throw new ProvctlError(
        "CommandFailed",
        result.timedOut ? "deploy.step_timeout" : "deploy.step_failed",
        {
          params: {
            command: this.#shown(command),
            code: result.code,
            output: outputTail(result) || "-",
            ms: this.#o.stepTimeoutMs ?? 0,
          },
        },
      );
    }
  }

  async #restart(run: HostRun, h: HostPlan): Promise<void> {
    if (!h.service) return;
    const backend = await run.target.backend(run.runner, h.backend);
    await backend.restart(h.service.name, h.service);
  }

  /**
   * Waits for the machine's health check. The programs a check runs on the machine are
   * recorded as `<op>.check`; the verdict is one more record, `op` (deploy.health, or
   * rollback when re-checking after a rollback), with the check as its command — also
   * for checks made from the controller, which never touch the machine's runner.
   */
  async #checkHealth(
    run: HostRun,
    h: HostPlan,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (!h.health) return;
    const w = this.#o.health;
    const check = h.health;
    const op = run.op === "rollback" ? "rollback" : "deploy.health";
    run.op = `${op}.check`;
    const started = performance.now();
    try {
      await waitHealthy(check, {
        runner: run.runner,
        timeoutMs: w.timeoutMs,
        intervalMs: w.intervalMs,
        checkTimeoutMs: w.checkTimeoutMs,
        healthyThreshold: w.healthyThreshold,
        signal,
      });
      await this.#recordVerdict(run, op, check, started);
    } catch (error) {
      await this.#recordVerdict(run, op, check, started, error);
      throw error;
    } finally {
      run.op = op;
    }
  }

  async #recordVerdict(
    run: HostRun,
    op: string,
    check: HealthCheck,
    started: number,
    error?: unknown,
  ): Promise<void> {
    const durationMs = performance.now() - started;
    const result = error === undefined ? "ok" : "failed";
    this.#o.metrics?.recordOperation({ op, result, durationMs });
    const onController = (check.type === "http" || check.type === "tcp") &&
      check.from === "controller";
    await this.#o.audit?.append({
      machine: run.target.name,
      target: onController ? "controller" : run.runner.target,
      op,
      command: `health: ${describeCheck(check)}`,
      result,
      durationMs,
      deploymentId: this.#deploymentId,
      error: error === undefined ? undefined : this.#describe(error),
    }).catch(() => {});
  }

  #deploymentId?: string;
  /** deploy()'s `beforeSwitch`, and its one call (awaited by every machine's switch). */
  #beforeSwitch?: () => Promise<void>;
  #announced?: Promise<void>;

  /** Deploys one machine; throws with run.stage set to where it failed. */
  async #deployHost(plan: DeployPlan, h: HostPlan): Promise<void> {
    const run = await this.#host(h.name, plan.deploymentId);
    run.result.status = "failed";
    run.op = "deploy.upload";
    run.stage = "upload";
    await cleanStale(run.runner, h.root, plan.deploymentId);
    const listing = await listReleases(run.runner, h.root);
    run.result.previous = listing.current;
    run.result.current = listing.current;
    await stageRelease(run.runner, {
      root: h.root,
      version: plan.version,
      artifact: plan.artifact,
      stagingId: plan.deploymentId,
      // An artifact upload may take as long as a step (0 = no limit).
      timeoutMs: this.#o.stepTimeoutMs ?? 0,
    });
    run.op = "deploy.step";
    run.stage = "before";
    for (const command of h.before) await this.#step(run, h, command, plan);
    run.op = "deploy.switch";
    run.stage = "switch";
    // Before the first machine changes, once: a run killed from here on has said so.
    if (this.#beforeSwitch) await (this.#announced ??= this.#beforeSwitch());
    // Marked before the call: if the answer is lost the switch may have happened.
    run.switched = true;
    try {
      run.result.previous = await switchCurrent(run.runner, h.root, plan.version);
    } catch (error) {
      // Refused before any change (the release is not there): there is nothing to undo,
      // and a rollback would restart a service that never left its release.
      if (isProvctlError(error) && error.kind === "NotFound") run.switched = false;
      throw error;
    }
    run.result.current = plan.version;
    run.op = "deploy.step";
    run.stage = "after";
    for (const command of h.after) await this.#step(run, h, command, plan);
    run.op = "deploy.restart";
    run.stage = "restart";
    await this.#restart(run, h);
    run.op = "deploy.health";
    run.stage = "health";
    await this.#checkHealth(run, h, this.#o.signal);
    run.result.status = "deployed";
  }

  /**
   * Puts a machine back on `version` (undefined: no release, the service stopped).
   * `signal` cancels its health wait: not the run's own when the run was cancelled and
   * this is its rollback, which would then always be reported as failed.
   */
  async #revertHost(
    h: HostPlan,
    run: HostRun,
    version: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    run.op = "rollback";
    await switchCurrent(run.runner, h.root, version);
    run.result.current = version;
    if (version === undefined) {
      if (h.service) {
        const backend = await run.target.backend(run.runner, h.backend);
        await backend.stop(h.service.name).catch((e) => {
          if (!(isProvctlError(e) && e.kind === "NotFound")) throw e;
        });
      }
      return;
    }
    await this.#restart(run, h);
    await this.#checkHealth(run, h, signal);
  }

  async #rollbackHosts(plan: DeployPlan, hosts: readonly HostPlan[]): Promise<void> {
    const todo = hosts.filter((h) => this.#runs.get(h.name)?.switched);
    if (todo.length === 0) return;
    this.#note("deploy.rollback_start", {
      count: todo.length,
      hosts: todo.map((h) => h.name).join(", "),
    });
    await runFleet(todo, async (h) => {
      const run = this.#runs.get(h.name)!;
      try {
        await this.#revertHost(h, run, run.result.previous, undefined);
        run.switched = false;
        run.result.status = "rolled-back";
        this.#note("deploy.host_rolled_back", {
          host: h.name,
          version: run.result.previous ?? "-",
        });
      } catch (error) {
        run.result.status = "rollback-failed";
        run.result.rollbackError = this.#describe(error);
        this.#note("deploy.host_rollback_failed", {
          host: h.name,
          error: run.result.rollbackError,
        });
      }
      return { ok: true, value: undefined };
    }, { forks: this.#o.forks });
    void plan;
  }

  /**
   * Runs `plan`; never throws for a machine's failure (see the result). `beforeSwitch`
   * runs once, before the first machine's `current` changes (no machine switches if it
   * fails): e.g. to record that machines may be on the new release from now on.
   */
  async deploy(
    plan: DeployPlan,
    options: { beforeSwitch?: () => Promise<void> } = {},
  ): Promise<DeployResult> {
    const started = performance.now();
    this.#deploymentId = plan.deploymentId;
    this.#beforeSwitch = options.beforeSwitch;
    this.#announced = undefined;
    const result: DeployResult = {
      deployment: plan.deployment,
      deploymentId: plan.deploymentId,
      strategy: plan.strategy,
      version: plan.version,
      ok: false,
      rolledBack: false,
      hosts: [],
      durationMs: 0,
    };
    const resultOf = new Map<string, HostResult>();
    for (const h of plan.hosts) {
      const r: HostResult = { host: h.name, status: "skipped" };
      resultOf.set(h.name, r);
      result.hosts.push(r);
    }
    const allowed = allowedFailures(plan.maxFailures, plan.hosts.length);
    let failures = 0;
    const deployed: HostPlan[] = [];
    let stopped: string | undefined;

    for (const [index, batch] of plan.batches.entries()) {
      const budget = batch.kind === "canary" ? 0 : allowed - failures;
      this.#note(batch.kind === "canary" ? "deploy.canary_start" : "deploy.batch_start", {
        batch: index + 1,
        batches: plan.batches.length,
        hosts: batch.hosts.map((h) => h.name).join(", "),
      });
      const outcomes = await runFleet(batch.hosts, async (h) => {
        this.#note("deploy.host_start", { host: h.name, version: plan.version });
        try {
          await this.#deployHost(plan, h);
        } finally {
          const run = this.#runs.get(h.name);
          if (run) Object.assign(resultOf.get(h.name)!, run.result, { host: h.name });
        }
        this.#note("deploy.host_done", { host: h.name, version: plan.version });
        return { ok: true, value: undefined };
      }, {
        forks: this.#o.forks,
        maxFailures: { count: Math.max(0, budget) },
        signal: this.#o.signal,
      });

      const failedHere: HostPlan[] = [];
      for (const [i, o] of outcomes.entries()) {
        const h = batch.hosts[i];
        const r = resultOf.get(h.name)!;
        if (o.status === "ok") {
          deployed.push(h);
          continue;
        }
        if (o.status === "skipped") continue;
        failures++;
        failedHere.push(h);
        const run = this.#runs.get(h.name);
        r.status = "failed";
        r.stage = o.status === "unreachable" ? "connect" : run?.stage ?? "connect";
        r.error = this.#describe(o.error);
        this.#note("deploy.host_failed", { host: h.name, stage: r.stage, error: r.error });
      }
      // A failed machine goes back to its previous release whatever happens next.
      await this.#rollbackHosts(plan, failedHere);
      for (const h of failedHere) {
        const r = resultOf.get(h.name)!;
        const run = this.#runs.get(h.name);
        if (run) {
          r.current = run.result.current;
          r.rollbackError = run.result.rollbackError;
          // Failed, then put back: "rolled-back" (stage and error say why).
          if (run.result.status === "rollback-failed" || run.result.status === "rolled-back") {
            r.status = run.result.status;
          }
        }
      }
      if (batch.kind === "canary" && failedHere.length > 0) {
        stopped = "canary";
        break;
      }
      if (failures > allowed) {
        stopped = "budget";
        break;
      }
      if (this.#o.signal?.aborted) {
        stopped = "aborted";
        break;
      }
      if (batch.kind === "canary" && plan.bakeMs > 0 && index < plan.batches.length - 1) {
        this.#note("deploy.baking", { seconds: (plan.bakeMs / 1000).toFixed(1) });
        await sleep(plan.bakeMs, this.#o.signal);
        // The canaries must still be healthy after baking.
        const sick: HostPlan[] = [];
        await runFleet(batch.hosts, async (h) => {
          const run = this.#runs.get(h.name)!;
          run.op = "deploy.health";
          try {
            await this.#checkHealth(run, h, this.#o.signal);
          } catch (error) {
            sick.push(h);
            const r = resultOf.get(h.name)!;
            r.status = "failed";
            r.stage = "bake";
            r.error = this.#describe(error);
            this.#note("deploy.host_failed", { host: h.name, stage: "bake", error: r.error });
          }
          return { ok: true, value: undefined };
        }, { forks: this.#o.forks });
        if (sick.length > 0) {
          stopped = "canary";
          failures += sick.length;
          break;
        }
      }
    }

    if (!stopped && plan.blueGreen && failures > 0) {
      // The idle group must stay uniform (one release), or switching to it later would
      // send traffic to a mix: the machines that made it go back too.
      stopped = "group";
    }
    if (stopped) {
      // Everything this run switched goes back (the failed ones already are).
      await this.#rollbackHosts(plan, deployed);
      for (const h of deployed) {
        const run = this.#runs.get(h.name)!;
        Object.assign(resultOf.get(h.name)!, {
          status: run.result.status,
          current: run.result.current,
          rollbackError: run.result.rollbackError,
        });
      }
      result.rolledBack = true;
      result.reason = stopped;
    } else if (plan.blueGreen && failures === 0) {
      await this.#switchGroups(plan, result);
    }
    if (!stopped && failures === 0 && result.reason === undefined) {
      result.ok = true;
      await this.#prune(plan);
    } else if (!stopped && result.reason === undefined) {
      result.reason = "failures";
    }
    result.durationMs = Math.round(performance.now() - started);
    this.#o.metrics?.counter(
      "provctl_deploys_total",
      "Deploys and rollbacks by deployment and outcome.",
      [
        "deployment",
        "result",
      ],
    ).inc({
      deployment: plan.deployment,
      result: result.ok ? "ok" : result.rolledBack ? "rolled-back" : "failed",
    });
    return result;
  }

  async #switchGroups(plan: DeployPlan, result: DeployResult): Promise<void> {
    const bg = plan.blueGreen!;
    this.#note("deploy.switching", {
      group: bg.group,
      command: this.#shown(bg.switchCommand),
      on: bg.switchOn,
    });
    try {
      await this.runSwitch(plan.deploymentId, bg.switchCommand, bg.switchOn);
      result.live = bg.group;
    } catch (error) {
      result.reason = "switch";
      result.live = bg.live;
      this.#note("deploy.switch_failed", { error: this.#describe(error) });
    }
  }

  /** Runs a blue-green switch command (recorded as deploy.switch on its machine). */
  async runSwitch(
    deploymentId: string,
    command: string,
    on: string,
    op = "deploy.switch",
  ): Promise<void> {
    let runner: RecordingRunner;
    if (on === "controller") {
      const raw = await this.#o.switchRunner!();
      runner = new RecordingRunner(raw, {
        audit: this.#o.audit,
        metrics: this.#o.metrics,
        redactor: this.#o.redactor,
        machine: "controller",
        deploymentId,
        operation: op,
      });
      this.#o.onRecordingRunner?.(runner);
    } else {
      const run = await this.#host(on, deploymentId);
      run.op = op;
      runner = run.runner;
    }
    const result = await runner.run("/bin/sh", ["-c", command], {
      timeoutMs: this.#o.stepTimeoutMs,
      signal: this.#o.signal,
    });
    if (result.code !== 0) {
      throw new ProvctlError("CommandFailed", "deploy.switch_command_failed", {
        params: {
          command: this.#shown(command),
          on,
          code: result.code,
          output: outputTail(result) || "-",
        },
      });
    }
  }

  /**
   * Takes the target lock on every machine of `plan` (target_lock.ts) before anything
   * changes; its steps are audited as deploy.lock / deploy.lock_break / deploy.unlock.
   */
  async lockTargets(
    plan: DeployPlan,
    holder: Omit<TargetLockHolder, "deployment_id">,
    options: { expiryMs: number; deadRuns?: readonly string[]; signal?: AbortSignal },
  ): Promise<TargetLocks> {
    this.#deploymentId = plan.deploymentId;
    const targets = await Promise.all(plan.hosts.map(async (h) => {
      const run = await this.#host(h.name, plan.deploymentId);
      return {
        name: h.name,
        root: h.root,
        runner: (op: string) => run.runner.with({ operation: op }),
      };
    }));
    return await lockTargets(targets, { ...holder, deployment_id: plan.deploymentId }, {
      expiryMs: options.expiryMs,
      deadRuns: options.deadRuns,
      signal: options.signal,
      deployment: plan.deployment,
      onBroken: (machine, state) =>
        this.#note("deploy.target_lock_broken", {
          machine,
          holder: holderText(state),
          seconds: state.ageSeconds,
        }),
    });
  }

  async #prune(plan: DeployPlan): Promise<void> {
    await Promise.all(plan.hosts.map(async (h) => {
      const run = this.#runs.get(h.name);
      if (!run || run.result.status !== "deployed") return;
      run.op = "deploy.prune";
      try {
        // What the state names and what this machine ran before stay: rollback needs them.
        const protect = [...plan.protectReleases];
        if (run.result.previous !== undefined) protect.push(run.result.previous);
        const removed = await pruneReleases(run.runner, h.root, plan.keepReleases, protect);
        if (removed.length > 0) {
          this.#note("deploy.pruned", { host: h.name, releases: removed.join(", ") });
        }
      } catch (error) {
        this.#note("deploy.prune_failed", { host: h.name, error: this.#describe(error) });
      }
    }));
  }

  /**
   * Manual rollback: links each machine of `hosts` back to `version` (which must be in
   * its releases/), restarts the service and checks health, batch by batch.
   */
  async rollback(
    plan: DeployPlan,
    options: { version: string },
  ): Promise<DeployResult> {
    const started = performance.now();
    this.#deploymentId = plan.deploymentId;
    await this.#checkRollbackTarget(plan, options.version);
    const result: DeployResult = {
      deployment: plan.deployment,
      deploymentId: plan.deploymentId,
      strategy: plan.strategy,
      version: options.version,
      ok: false,
      rolledBack: false,
      hosts: [],
      durationMs: 0,
    };
    let failures = 0;
    // The same budget as a deploy (max_failures, or --max-failures).
    const allowed = allowedFailures(plan.maxFailures, plan.hosts.length);
    let stoppedEarly = false;
    for (const [index, batch] of plan.batches.entries()) {
      this.#note("deploy.batch_start", {
        batch: index + 1,
        batches: plan.batches.length,
        hosts: batch.hosts.map((h) => h.name).join(", "),
      });
      const outcomes = await runFleet(batch.hosts, async (h) => {
        const run = await this.#host(h.name, plan.deploymentId);
        run.op = "rollback";
        const listing = await listReleases(run.runner, h.root);
        run.result.previous = listing.current;
        if (!listing.releases.includes(options.version)) {
          throw new ProvctlError("NotFound", "deploy.release_missing", {
            params: { version: options.version, root: h.root, target: h.name },
          });
        }
        await this.#revertHost(h, run, options.version, this.#o.signal);
        return { ok: true, value: run.result };
      }, {
        forks: this.#o.forks,
        maxFailures: { count: Math.max(0, allowed - failures) },
        signal: this.#o.signal,
      });
      for (const [i, o] of outcomes.entries()) {
        const h = batch.hosts[i];
        const run = this.#runs.get(h.name);
        const r: HostResult = {
          host: h.name,
          status: "skipped",
          previous: run?.result.previous,
          current: run?.result.current,
        };
        if (o.status === "ok") {
          r.status = "rolled-back";
          this.#note("deploy.host_rolled_back", { host: h.name, version: options.version });
        } else if (o.status !== "skipped") {
          failures++;
          r.status = "rollback-failed";
          r.error = this.#describe(o.error);
          this.#note("deploy.host_rollback_failed", { host: h.name, error: r.error });
        }
        result.hosts.push(r);
      }
      if (failures > allowed) {
        stoppedEarly = true;
        break;
      }
    }
    for (const h of plan.hosts) {
      if (!result.hosts.some((r) => r.host === h.name)) {
        result.hosts.push({ host: h.name, status: "skipped" });
      }
    }
    result.ok = failures === 0;
    if (!result.ok) result.reason = stoppedEarly ? "rollback_budget" : "rollback_failures";
    result.durationMs = Math.round(performance.now() - started);
    return result;
  }

  /**
   * Whether `current` points at releases/<version> on every machine of `plan` (asked as
   * rollback.check); false when one cannot be asked. The deployment state alone cannot
   * tell: a failed switch or a killed deploy leaves a group on another release.
   */
  async allOn(plan: DeployPlan, version: string): Promise<boolean> {
    this.#deploymentId = plan.deploymentId;
    const outcomes = await runFleet(plan.hosts, async (h) => {
      const run = await this.#host(h.name, plan.deploymentId);
      run.op = "rollback.check";
      const listing = await listReleases(run.runner, h.root);
      return { ok: listing.current === version, value: undefined };
    }, { forks: this.#o.forks, signal: this.#o.signal });
    return outcomes.every((o) => o.status === "ok");
  }

  /**
   * Before a rollback changes anything: every machine must hold releases/<version>.
   * Otherwise a NotFound error names the machines without it (and those that could
   * not be asked), and no machine is touched.
   */
  async #checkRollbackTarget(plan: DeployPlan, version: string): Promise<void> {
    const missing: string[] = [];
    const unknown: string[] = [];
    const outcomes = await runFleet(plan.hosts, async (h) => {
      const run = await this.#host(h.name, plan.deploymentId);
      run.op = "rollback.check";
      const listing = await listReleases(run.runner, h.root);
      if (!listing.releases.includes(version)) missing.push(h.name);
      return { ok: true, value: undefined };
    }, { forks: this.#o.forks, signal: this.#o.signal });
    for (const [i, o] of outcomes.entries()) {
      if (o.status !== "ok") {
        unknown.push(`${plan.hosts[i].name} (${this.#describe(o.error)})`);
      }
    }
    if (missing.length === 0 && unknown.length === 0) return;
    const order = (names: string[]) =>
      plan.hosts.map((h) => h.name).filter((n) => names.includes(n));
    throw new ProvctlError("NotFound", "deploy.rollback_target_missing", {
      params: {
        deployment: plan.deployment,
        version,
        missing: missing.length === 0 ? "-" : order(missing).join(", "),
        unknown: unknown.length === 0 ? "-" : unknown.join("; "),
      },
      hint: "deploy.rollback_target_missing_hint",
    });
  }
}
