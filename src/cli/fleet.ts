/**
 * Fleet mode for commands: select machines from the inventory (names and globs, -l label
 * selectors, --profile, --all, --limit), build a Target per machine, and run a task on
 * them with bounded concurrency. Imported only by commands that act on fleets.
 */
import { DEFAULT_SYSTEM_DIR, defaultUserDir } from "../config/loader.ts";
import { ProvctlError } from "../core/errors.ts";
import { fileStamp } from "../core/file_stamp.ts";
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
  const key = JSON.stringify([file, session.ctx.cwd, configDirs, env.PROVCTL_INVENTORY]);
  const known = loaded.get(settings.config)?.get(key);
  // A long-running caller (provctl serve) reads the file again only when it changed.
  if (known !== undefined && stampOf(known.inventory) === known.stamp) return known.inventory;
  const inventory = await loadInventory({
    file,
    cwd: session.ctx.cwd,
    configDirs,
    env,
    config: settings.config,
  });
  const stamp = stampOf(inventory);
  const byKey = loaded.get(settings.config) ?? new Map();
  if (stamp !== undefined) byKey.set(key, { inventory, stamp });
  else byKey.delete(key);
  loaded.set(settings.config, byKey);
  return inventory;
}

const loaded = new WeakMap<object, Map<string, { inventory: Inventory; stamp: string }>>();

/**
 * The found file's stamp, and that none of the files searched before it appeared since
 * (a ./machines.toml created later takes precedence over the config dir's).
 */
function stampOf(inventory: Inventory): string | undefined {
  const stamp = inventory.file === undefined ? undefined : fileStamp(inventory.file);
  if (stamp === undefined) return undefined;
  for (const path of inventory.searched ?? []) {
    if (path === inventory.file) break;
    if (exists(path)) return undefined;
  }
  return stamp;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
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
  const [{ discoverWithSession }, { staleMachinesError }] = await Promise.all([
    import("./discovery.ts"),
    import("../discovery/discover.ts"),
  ]);
  const { inventory: merged, results } = await discoverWithSession(session, inventory, {
    cache: choices.noCache ? "off" : choices.refresh ? "refresh" : "use",
  });
  if (choices.refuseFailed && !choices.allowStale) {
    const error = staleMachinesError(results, merged.machines, { anyFailure: true });
    if (error) throw error;
  }
  return { ...merged, discovery: results };
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

/** The machines of the inventory that names, -l, -m, --profile, --all and --limit select. */
export async function selectInventoryMachines(
  session: Session,
  flags: FleetFlags,
  names: readonly string[] = [],
  options: { defaultAll?: boolean; listing?: boolean; inventory?: FleetInventory } = {},
): Promise<MachineConfig[]> {
  const settings = await session.settings();
  const inventory = options.inventory ??
    await loadFleetInventory(session, flags.inventory, flags);
  // Fleet commands refuse machines of failed cloud sources unless --allow-stale.
  const guard = !options.listing && !flags.allowStale && inventory.discovery
    ? await import("../discovery/discover.ts")
    : undefined;
  if (guard) {
    // A source that failed with nothing cached may hold machines this selection would
    // include; only a list of exact names (all found below, or an error) is unaffected.
    const exact = [...names, ...(flags.machine ?? [])];
    const exactNames = exact.length > 0 && exact.every((n) => !/[*?[]/.test(n)) && !flags.all &&
      flags.selector === undefined && flags.profile === undefined;
    const error = guard.missingSourcesError(inventory.discovery!, { exactNames });
    if (error) throw error;
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
  if (guard) {
    const error = guard.staleMachinesError(inventory.discovery!, machines);
    if (error) throw error;
  }
  return machines;
}

/** Loads the inventory, selects machines and builds a Target for each. */
export async function selectFleet(
  session: Session,
  flags: FleetFlags & {
    host?: string;
    jump?: string;
    identity?: readonly string[];
    sshConfig?: string;
    hostKeyPolicy?: HostKeyPolicy;
  },
  names: readonly string[] = [],
  options: { defaultAll?: boolean; listing?: boolean } = {},
): Promise<Fleet> {
  if (flags.host !== undefined) throw new ProvctlError("Usage", "fleet.host_with_selector");
  if (flags.jump !== undefined) throw new ProvctlError("Usage", "fleet.jump_with_selector");
  const settings = await session.settings();
  const machines = await selectInventoryMachines(session, flags, names, options);
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
