/**
 * The plan of one deploy: which machines, in which batches, and on each machine the
 * exact paths, commands, service definition and health check with every placeholder
 * expanded. Made before anything changes, so a bad placeholder or a machine without a
 * deploy root stops the deploy before the first upload; `--dry-run` prints it.
 *
 * Placeholders (on top of the machine's vars and built-ins, see expandVars):
 * {version}, {deployment}, {deployment_id}, {deploy_root} (this deployment's root on the
 * machine), {release_dir} (<root>/releases/<version>), {current_dir} (<root>/current).
 */
import { ProvctlError } from "../../core/errors.ts";
import { expandShellTemplate } from "../../exec/shell_template.ts";
import type { ServiceDefinition } from "../../core/service_definition.ts";
import type { ServiceEntry } from "../../config/services_file.ts";
import { describeCheck, type HealthCheck, parseHealthCheck } from "../../health/checks.ts";
import type { FailureBudget } from "../executor.ts";
import {
  expandArgv,
  expandCheckTable,
  expandVars,
  type Inventory,
  type MachineConfig,
} from "../inventory.ts";
import { selectMachines } from "../selector.ts";
import type { DeploymentConfig, GroupName, Strategy, TargetSelector } from "./config.ts";
import type { DeploymentState } from "./lock.ts";
import type { Redactor } from "../../observe/redact.ts";
import { batchesFor } from "./strategies.ts";

export interface HostPlan {
  readonly machine: MachineConfig;
  readonly name: string;
  readonly root: string;
  readonly releaseDir: string;
  readonly before: readonly string[];
  readonly after: readonly string[];
  /** The service restarted after the switch, placeholders expanded. */
  readonly service?: ServiceDefinition;
  /** The services file's backend for it. */
  readonly backend?: string;
  readonly health?: HealthCheck;
  readonly group?: GroupName;
}

export interface BatchPlan {
  readonly kind: "canary" | "batch";
  readonly hosts: readonly HostPlan[];
}

export interface BlueGreenPlan {
  /** The idle group, deployed to and then switched live. */
  readonly group: GroupName;
  /** The group live before (kept as it is, for `provctl rollback`). */
  readonly live?: GroupName;
  readonly liveHosts: readonly string[];
  readonly switchCommand: string;
  readonly switchOn: string;
}

export interface DeployPlan {
  readonly deployment: string;
  readonly strategy: Strategy;
  readonly version: string;
  readonly deploymentId: string;
  readonly artifact: string;
  readonly batches: readonly BatchPlan[];
  readonly hosts: readonly HostPlan[];
  readonly blueGreen?: BlueGreenPlan;
  readonly maxFailures: FailureBudget;
  readonly bakeMs: number;
  readonly keepReleases: number;
  /** Releases pruning must keep: every version the deployment state names (rollback targets). */
  readonly protectReleases: readonly string[];
}

export interface PlanOptions {
  readonly deployment: DeploymentConfig;
  readonly inventory: Inventory;
  readonly version: string;
  readonly deploymentId: string;
  /** The [services.NAME] the deployment names, if any. */
  readonly service?: ServiceEntry;
  readonly state?: DeploymentState;
  /** Only these machines (the CLI's selection flags narrow the deployment's target). */
  readonly only?: ReadonlySet<string>;
  readonly keepReleases: number;
  /** Overrides the deployment's max_failures (--max-failures). */
  readonly maxFailures?: FailureBudget;
}

export function selectTarget(inventory: Inventory, target: TargetSelector): MachineConfig[] {
  return selectMachines(inventory, {
    all: target.all,
    names: target.names,
    labels: target.labels,
    profile: target.profile,
    limit: target.limit,
  });
}

/** The deploy root of `deployment` on `machine` (absolute, placeholders expanded). */
export function deployRootOf(deployment: DeploymentConfig, machine: MachineConfig): string {
  const template = deployment.deployRoot ?? machine.overrides.deployRoot;
  if (template === undefined) {
    throw new ProvctlError("InvalidConfig", "deploy.root_missing", {
      params: { machine: machine.name, deployment: deployment.name, origin: machine.origin },
      hint: "deploy.root_missing_hint",
    });
  }
  const root = expandVars(template, machine, { as: "word" }).replace(/\/+$/, "");
  if (!root.startsWith("/") || root.split("/").includes("..")) {
    throw new ProvctlError("InvalidConfig", "deploy.root_invalid", {
      params: { machine: machine.name, deployment: deployment.name, root },
    });
  }
  return root;
}

export function hostPlan(
  deployment: DeploymentConfig,
  machine: MachineConfig,
  options: { version: string; deploymentId: string; service?: ServiceEntry; group?: GroupName },
): HostPlan {
  const root = deployRootOf(deployment, machine);
  const releaseDir = `${root}/releases/${options.version}`;
  const extra = {
    version: options.version,
    deployment: deployment.name,
    deployment_id: options.deploymentId,
    deploy_root: root,
    release_dir: releaseDir,
    current_dir: `${root}/current`,
  };
  const word = (text: string) => expandVars(text, machine, { as: "word", extra });
  const shell = (text: string) => expandVars(text, machine, { as: "shell", extra });
  let service: ServiceDefinition | undefined;
  if (options.service) {
    const d = options.service.definition;
    const [binary, ...args] = expandArgv([d.binary, ...d.args], machine, { extra });
    service = Object.freeze({
      ...d,
      binary,
      args: Object.freeze(args),
      env: Object.freeze(Object.fromEntries(Object.entries(d.env).map(([k, v]) => [k, word(v)]))),
      workingDir: d.workingDir === undefined ? `${root}/current` : word(d.workingDir),
    });
  }
  let health: HealthCheck | undefined;
  if (deployment.health) {
    const table = expandCheckTable(deployment.health.table, machine, { extra });
    health = parseHealthCheck(table, `${deployment.health.location} (machine ${machine.name})`);
  }
  return {
    machine,
    name: machine.name,
    root,
    releaseDir,
    before: deployment.before.map(shell),
    after: deployment.after.map(shell),
    service,
    backend: options.service?.backend,
    health,
    group: options.group,
  };
}

export function planDeploy(options: PlanOptions): DeployPlan {
  const { deployment, inventory } = options;
  const keep = (m: MachineConfig) => !options.only || options.only.has(m.name);
  let machines: MachineConfig[];
  let blueGreen: BlueGreenPlan | undefined;
  let group: GroupName | undefined;
  if (deployment.blueGreen) {
    const bg = deployment.blueGreen;
    const blue = selectTarget(inventory, bg.groups.blue);
    const green = selectTarget(inventory, bg.groups.green);
    const both = blue.filter((m) => green.includes(m));
    if (both.length > 0) {
      throw new ProvctlError("InvalidConfig", "deploy.groups_overlap", {
        params: { deployment: deployment.name, machines: both.map((m) => m.name).join(", ") },
      });
    }
    const live = options.state?.live;
    group = live === "blue" ? "green" : "blue";
    machines = (group === "blue" ? blue : green).filter(keep);
    const liveHosts = live === undefined ? [] : (live === "blue" ? blue : green).map((m) => m.name);
    const switchOn = bg.switchOn;
    if (switchOn !== "controller" && !inventory.machines.some((m) => m.name === switchOn)) {
      throw new ProvctlError("InvalidConfig", "deploy.switch_on_unknown", {
        params: { deployment: deployment.name, machine: switchOn, origin: deployment.origin },
      });
    }
    blueGreen = {
      group,
      live,
      liveHosts,
      switchCommand: expandSwitch(bg.switchCommand, {
        group,
        previous_group: live ?? "",
        version: options.version,
        deployment: deployment.name,
        deployment_id: options.deploymentId,
        hosts: machines.map((m) => m.name).join(","),
      }, deployment),
      switchOn,
    };
  } else {
    machines = selectTarget(inventory, deployment.target!).filter(keep);
  }
  if (machines.length === 0) {
    throw new ProvctlError("NotFound", "deploy.no_machines", {
      params: { deployment: deployment.name },
    });
  }
  const hosts = machines.map((m) =>
    hostPlan(deployment, m, {
      version: options.version,
      deploymentId: options.deploymentId,
      service: options.service,
      group,
    })
  );
  const batches = batchesFor(deployment.strategy, hosts, {
    batch: deployment.batch,
    canary: deployment.canary,
  }).map((b) => ({ kind: b.kind, hosts: b.items }));
  return {
    deployment: deployment.name,
    strategy: deployment.strategy,
    version: options.version,
    deploymentId: options.deploymentId,
    artifact: deployment.artifact,
    batches,
    hosts,
    blueGreen,
    maxFailures: options.maxFailures ?? deployment.maxFailures,
    bakeMs: deployment.bakeMs,
    keepReleases: deployment.keepReleases ?? options.keepReleases,
    protectReleases: protectedVersions(options.state, options.version, group),
  };
}

/**
 * The versions the deployment state will name once this deploy succeeds (its
 * rollback targets): the previous one, and blue-green's other group's.
 */
function protectedVersions(
  state: DeploymentState | undefined,
  version: string,
  group: GroupName | undefined,
): string[] {
  if (!state) return [];
  const all = group === undefined ? [state.version !== version ? state.version : state.previous] : [
    state.previous,
    ...Object.entries(state.groups ?? {}).filter(([g]) => g !== group).map(([, v]) => v),
  ];
  return [...new Set(all.filter((v): v is string => v !== undefined && v !== version))].sort();
}

/** The switch command with {group} {previous_group} {version} {hosts} ... expanded (quoted). */
export function expandSwitch(
  command: string,
  values: Readonly<Record<string, string>>,
  deployment: DeploymentConfig,
): string {
  // Shell text: each value is quoted where it stands, like machine vars in steps.
  return expandShellTemplate(command, ({ name }) => {
    if (Object.hasOwn(values, name)) return values[name];
    throw new ProvctlError("InvalidConfig", "deploy.switch_placeholder", {
      params: {
        placeholder: `{${name}}`,
        deployment: deployment.name,
        allowed: Object.keys(values).map((k) => `{${k}}`).join(", "),
      },
    });
  });
}

/**
 * The plan as plain data (dry-run `-o json`, and the text rendering), with secrets in
 * commands, the switch command and the health check masked by `redactor`.
 */
export function planData(plan: DeployPlan, redactor: Redactor) {
  const text = (s: string) => redactor.text(s);
  return {
    deployment: plan.deployment,
    strategy: plan.strategy,
    version: plan.version,
    deploymentId: plan.deploymentId,
    artifact: plan.artifact,
    maxFailures: plan.maxFailures,
    bakeMs: plan.bakeMs,
    keepReleases: plan.keepReleases,
    blueGreen: plan.blueGreen &&
      { ...plan.blueGreen, switchCommand: text(plan.blueGreen.switchCommand) },
    batches: plan.batches.map((b) => ({ kind: b.kind, hosts: b.hosts.map((h) => h.name) })),
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      group: h.group,
      root: h.root,
      releaseDir: h.releaseDir,
      before: h.before.map(text),
      after: h.after.map(text),
      service: h.service
        ? {
          name: h.service.name,
          command: redactor.command(h.service.binary, h.service.args),
          workingDir: h.service.workingDir,
          backend: h.backend ?? h.machine.overrides.backend,
        }
        : undefined,
      health: h.health ? text(describeCheck(h.health)) : undefined,
    })),
  };
}
