/**
 * Fleet mode for commands: select machines from the inventory (names and globs, -l label
 * selectors, --profile, --all, --limit), build a Target per machine, and run a task on
 * them with bounded concurrency. Imported only by commands that act on fleets.
 */
import { DEFAULT_SYSTEM_DIR, defaultUserDir } from "../config/loader.ts";
import { ProvctlError } from "../core/errors.ts";
import { type FailureBudget, parseFailureBudget } from "../fleet/executor.ts";
import {
  type Inventory,
  loadInventory,
  type MachineConfig,
  machineTarget,
} from "../fleet/inventory.ts";
import { selectMachines } from "../fleet/selector.ts";
import type { SourceResult } from "../discovery/discover.ts";
import type { HostKeyPolicy } from "../ssh/known_hosts.ts";
import type { FleetFlags } from "./fleet_flags.ts";
import type { ConnectionChoices } from "./remote.ts";
import type { Session } from "./session.ts";
import { scopeFrom, Target } from "./target.ts";

/** The inventory with what its cloud sources discovered, and how each source fared. */
export interface FleetInventory extends Inventory {
  readonly discovery?: readonly SourceResult[];
}

/** How commands treat cloud sources (the --no-cache, --refresh, --allow-stale flags). */
export interface DiscoveryChoices {
  readonly noCache?: boolean;
  readonly refresh?: boolean;
  readonly allowStale?: boolean;
}

/** The inventory as written: --inventory FILE, else ./machines.toml, else the config dirs. */
export async function loadStaticInventory(
  session: Session,
  file: string | undefined,
): Promise<Inventory> {
  const settings = await session.settings();
  const env = session.ctx.process.env;
  const configDirs = [session.flags.configDir, defaultUserDir(env), DEFAULT_SYSTEM_DIR].filter(
    (d): d is string => d !== undefined,
  );
  return await loadInventory({
    file,
    cwd: session.ctx.cwd,
    configDirs,
    env,
    config: settings.config,
  });
}

/**
 * The inventory (see loadStaticInventory) with the machines of its `[sources.*]` merged in;
 * failed sources are warned about. With `refuseFailed` (commands that act on the whole
 * inventory, like deploy), any failed source is an error unless --allow-stale.
 */
export async function loadFleetInventory(
  session: Session,
  file: string | undefined,
  choices: DiscoveryChoices & { refuseFailed?: boolean } = {},
): Promise<FleetInventory> {
  const inventory = await loadStaticInventory(session, file);
  if (!inventory.sources?.length) return inventory;
  const { discoverWithSession } = await import("./discovery.ts");
  const { inventory: merged, results } = await discoverWithSession(session, inventory, {
    cache: choices.noCache ? "off" : choices.refresh ? "refresh" : "use",
  });
  const failed = results.filter((r) => r.state === "stale" || r.state === "failed");
  if (choices.refuseFailed && !choices.allowStale && failed.length > 0) {
    throw staleRefused(failed, merged.machines.filter((m) => m.stale));
  }
  return { ...merged, discovery: results };
}

function staleRefused(
  failed: readonly SourceResult[],
  stale: readonly MachineConfig[],
): ProvctlError {
  const sources = failed.map((r) => r.source.name).join(", ");
  if (stale.length === 0) {
    return new ProvctlError("CommandFailed", "discovery.stale_refused_unknown", {
      params: { sources },
      hint: "discovery.stale_refused_hint",
    });
  }
  const names = stale.slice(0, 5).map((m) => m.name).join(", ") +
    (stale.length > 5 ? `, ... (${stale.length})` : "");
  return new ProvctlError("CommandFailed", "discovery.stale_refused", {
    params: { sources, machines: names },
    hint: "discovery.stale_refused_hint",
  });
}

/** How to reach an inventory machine: its own settings first, then the command's flags. */
export function machineConnection(
  m: MachineConfig,
  flags: { identity?: readonly string[]; sshConfig?: string; hostKeyPolicy?: HostKeyPolicy },
): ConnectionChoices {
  return {
    jump: m.jump,
    identity: m.identity ? [m.identity, ...(flags.identity ?? [])] : flags.identity,
    sshConfig: flags.sshConfig,
    hostKeyPolicy: m.overrides.hostKeyPolicy as HostKeyPolicy | undefined ?? flags.hostKeyPolicy,
    commandTimeoutMs: m.overrides.commandTimeoutMs,
  };
}

export interface Fleet {
  readonly machines: readonly MachineConfig[];
  readonly targets: readonly Target[];
  readonly forks: number;
  readonly maxFailures?: FailureBudget;
}

/** Loads the inventory, selects machines and builds a Target for each. */
export async function selectFleet(
  session: Session,
  flags: FleetFlags & {
    host?: string;
    identity?: readonly string[];
    sshConfig?: string;
    hostKeyPolicy?: HostKeyPolicy;
  },
  names: readonly string[] = [],
  options: { defaultAll?: boolean; listing?: boolean } = {},
): Promise<Fleet> {
  if (flags.host !== undefined) throw new ProvctlError("Usage", "fleet.host_with_selector");
  const settings = await session.settings();
  const inventory = await loadFleetInventory(session, flags.inventory, flags);
  if (!options.listing && !flags.allowStale && inventory.discovery) {
    // A source that failed with nothing cached may hold machines this selection would
    // include; only a list of exact names (all found below, or an error) is unaffected.
    const failed = inventory.discovery.filter((r) => r.state === "failed");
    const exact = [...names, ...(flags.machine ?? [])];
    const onlyNames = exact.length > 0 && exact.every((n) => !/[*?[]/.test(n)) && !flags.all &&
      flags.selector === undefined && flags.profile === undefined;
    if (failed.length > 0 && !onlyNames) throw staleRefused(failed, []);
  }
  const nothingAsked = !flags.all && names.length === 0 && !flags.machine?.length &&
    flags.selector === undefined && flags.profile === undefined;
  const machines = selectMachines(inventory, {
    all: flags.all || (options.defaultAll && nothingAsked),
    names: [...names, ...(flags.machine ?? [])],
    labels: flags.selector,
    profile: flags.profile,
    limit: flags.limit,
    messages: settings.messages,
  });
  if (!options.listing && !flags.allowStale && inventory.discovery) {
    const stale = machines.filter((m) => m.stale);
    if (stale.length > 0) {
      const sources = new Set(stale.map((m) => m.source));
      throw staleRefused(inventory.discovery.filter((r) => sources.has(r.source.name)), stale);
    }
  }
  const remote = await session.remoteTargets();
  const scope = scopeFrom(session.flags);
  const targets = machines.map((m) =>
    new Target({
      name: m.name,
      settings,
      scope,
      force: session.flags.force,
      backend: m.overrides.backend,
      runner: async () =>
        await session.recorded(
          await remote.runnerFor(machineTarget(m), machineConnection(m, flags)),
          m.name,
        ),
    })
  );
  return {
    machines,
    targets,
    forks: flags.forks ?? settings.config.integer("fleet.forks"),
    maxFailures: flags.maxFailures === undefined
      ? undefined
      : parseFailureBudget(flags.maxFailures),
  };
}
