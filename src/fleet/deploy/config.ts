/**
 * Deployments declared in the services file (provctl.toml) as `[deployments.NAME]`
 * tables (see configs/provctl.example.toml for every key). Checked key by key; a mistake
 * is an InvalidConfig error at the file:line:col of the key. Commands, the deploy root,
 * the health check and the service definition may use `{placeholders}` (machine vars,
 * {version}, {release_dir}, ...); those are expanded per machine when the plan is made.
 */
import { ProvctlError } from "../../core/errors.ts";
import {
  coerce,
  displayKey,
  isTable,
  MAX_INTEGER,
  unknownKey,
  type ValueType,
  wrongType,
} from "../../config/toml_document.ts";
import { dirname, resolve } from "../../config/toml_document.ts";
import { parseTomlDocument, type TomlDocument } from "../../config/toml_document.ts";
import type { FailureBudget } from "../executor.ts";

export type Strategy = "rolling" | "canary" | "blue-green";
export const STRATEGIES: readonly Strategy[] = ["rolling", "canary", "blue-green"];

/** "N machines" or "P percent of the machines". */
export interface Amount {
  readonly count?: number;
  readonly percent?: number;
}

/** Which machines, as with the CLI's selection flags (combined with AND). */
export interface TargetSelector {
  readonly names: readonly string[];
  readonly labels?: string;
  readonly profile?: string;
  readonly all: boolean;
  readonly limit?: number;
  /** file:line:col of the table, for errors about the selection. */
  readonly location: string;
}

export type GroupName = "blue" | "green";
export const GROUP_NAMES: readonly GroupName[] = ["blue", "green"];

export interface BlueGreenConfig {
  readonly groups: Readonly<Record<GroupName, TargetSelector>>;
  /** Run after the idle group is healthy, with {group} = the group going live. */
  readonly switchCommand: string;
  /** "controller" (this machine) or an inventory machine name. */
  readonly switchOn: string;
}

export interface DeploymentConfig {
  readonly name: string;
  /** "file:line" of its table. */
  readonly origin: string;
  /** The services file it was read from. */
  readonly file: string;
  readonly strategy: Strategy;
  /** Rolling and canary: the machines. Unset for blue-green (the groups say). */
  readonly target?: TargetSelector;
  readonly blueGreen?: BlueGreenConfig;
  /** Machines per batch (default: 1 for rolling/canary, the whole group for blue-green). */
  readonly batch?: Amount;
  /** Canary: the first N or P% machines. */
  readonly canary?: Amount;
  readonly bakeMs: number;
  /** Absolute local path of the file or directory uploaded as the release. */
  readonly artifact: string;
  readonly version?: string;
  /** Template of the machine's deploy root (default: the machine's deploy_root). */
  readonly deployRoot?: string;
  readonly keepReleases?: number;
  readonly before: readonly string[];
  readonly after: readonly string[];
  /** A [services.NAME] of the same file, restarted on each machine after the switch. */
  readonly service?: string;
  /** The raw `health` table (placeholders expanded per machine, then parseHealthCheck). */
  readonly health?: { readonly table: Record<string, unknown>; readonly location: string };
  readonly healthWaitMs?: number;
  readonly maxFailures: FailureBudget;
  readonly stepTimeoutMs?: number;
}

const DEPLOYMENT_KEYS: Readonly<Record<string, ValueType | "table" | "amount">> = {
  strategy: "string",
  target: "table",
  groups: "table",
  switch: "string",
  switch_on: "string",
  batch: "amount",
  canary: "amount",
  bake_ms: "integer",
  artifact: "string",
  version: "string",
  deploy_root: "string",
  keep_releases: "integer",
  steps: "table",
  service: "string",
  health: "table",
  health_wait_ms: "integer",
  max_failures: "amount",
  step_timeout_ms: "integer",
};
const TARGET_KEYS: Readonly<Record<string, ValueType>> = {
  machines: "string[]",
  labels: "string",
  profile: "string",
  all: "boolean",
  limit: "integer",
};
const STEP_KEYS = ["before", "after"];
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** Versions name directories on every machine: no '/', no leading '.', bounded. */
export const VERSION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

function bad(key: string, params: Record<string, string | number>): ProvctlError {
  return new ProvctlError("InvalidConfig", `deploy.${key}`, { params });
}

/** Throws unless `version` can name a release directory. */
export function checkVersion(version: string, origin: string): string {
  if (!VERSION_PATTERN.test(version)) {
    throw new ProvctlError("InvalidArgument", "deploy.version_invalid", {
      params: { version: JSON.stringify(version), origin },
    });
  }
  return version;
}

/** "3" / 3 or "25%" as an Amount; undefined when the text is neither. */
function amountOf(raw: unknown): Amount | undefined {
  if (typeof raw === "bigint") {
    return raw >= 0n && raw <= BigInt(MAX_INTEGER) ? { count: Number(raw) } : undefined;
  }
  if (typeof raw !== "string") return undefined;
  const m = /^\s*(\d+)\s*(%?)\s*$/.exec(raw);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (m[2]) return n <= 100 ? { percent: n } : undefined;
  return Number.isSafeInteger(n) ? { count: n } : undefined;
}

/** Reads every `[deployments.NAME]` of a parsed services file. */
export function parseDeployments(doc: TomlDocument): Map<string, DeploymentConfig> {
  const out = new Map<string, DeploymentConfig>();
  const raw = doc.tree.deployments;
  if (raw === undefined) return out;
  if (!isTable(raw)) {
    throw wrongType("deployments", "table", raw, { location: doc.locate(["deployments"]) });
  }
  const baseDir = dirname(resolve(doc.file));
  for (const [name, table] of Object.entries(raw)) {
    const path = ["deployments", name];
    if (!NAME.test(name)) {
      throw bad("name_invalid", { location: doc.locate(path), name: JSON.stringify(name) });
    }
    if (!isTable(table)) {
      throw wrongType(displayKey(path), "table", table, { location: doc.locate(path) });
    }
    out.set(name, readDeployment(doc, name, table, baseDir));
  }
  return out;
}

/** Reads the deployments of the services file at `path` (none when it does not exist). */
export async function loadDeployments(path: string): Promise<Map<string, DeploymentConfig>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return new Map();
    throw new ProvctlError("InvalidConfig", "config.read_failed", {
      params: { path, reason: (e as Error).message },
      cause: e,
    });
  }
  return parseDeployments(parseTomlDocument(text, path));
}

function readDeployment(
  doc: TomlDocument,
  name: string,
  table: Record<string, unknown>,
  baseDir: string,
): DeploymentConfig {
  const prefix = ["deployments", name];
  const at = (...keys: string[]) => doc.locate([...prefix, ...keys]);
  const key = (...keys: string[]) => displayKey([...prefix, ...keys]);
  const v: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(table)) {
    const type = Object.hasOwn(DEPLOYMENT_KEYS, k) ? DEPLOYMENT_KEYS[k] : undefined;
    if (!type) {
      throw unknownKey(
        [...prefix, k],
        at(k),
        Object.keys(DEPLOYMENT_KEYS).map((c) => [...prefix, c]),
        { hint: "deploy.hint_keys", params: { allowed: Object.keys(DEPLOYMENT_KEYS).join(", ") } },
      );
    }
    if (type === "table") {
      if (!isTable(raw)) throw wrongType(key(k), "table", raw, { location: at(k) });
      v[k] = raw;
    } else if (type === "amount") {
      const amount = amountOf(raw);
      if (!amount) {
        throw bad("amount_invalid", { location: at(k), key: key(k), value: String(raw) });
      }
      v[k] = amount;
    } else {
      const value = coerce(raw, type);
      if (value === undefined) throw wrongType(key(k), type, raw, { location: at(k) });
      if (type === "integer" && ((value as number) < 0 || (value as number) > MAX_INTEGER)) {
        throw bad("negative", { location: at(k), key: key(k), value: String(raw) });
      }
      v[k] = value;
    }
  }

  const strategyText = (v.strategy as string | undefined) ?? "rolling";
  if (!(STRATEGIES as readonly string[]).includes(strategyText)) {
    throw bad("strategy_invalid", {
      location: at("strategy"),
      value: strategyText,
      allowed: STRATEGIES.join(", "),
    });
  }
  const strategy = strategyText as Strategy;
  if (v.artifact === undefined || v.artifact === "") {
    throw bad("artifact_missing", { location: doc.locate(prefix), deployment: name });
  }
  const version = v.version as string | undefined;
  if (version !== undefined) {
    if (!VERSION_PATTERN.test(version)) {
      throw bad("version_invalid_at", {
        location: at("version"),
        version: JSON.stringify(version),
      });
    }
  }
  const batch = v.batch as Amount | undefined;
  if (batch && (batch.count === 0 || batch.percent === 0)) {
    throw bad("amount_zero", { location: at("batch"), key: key("batch") });
  }
  const canary = v.canary as Amount | undefined;
  if (canary && (canary.count === 0 || canary.percent === 0)) {
    throw bad("amount_zero", { location: at("canary"), key: key("canary") });
  }
  if (strategy !== "canary") {
    for (const k of ["canary", "bake_ms"]) {
      if (v[k] !== undefined) {
        throw bad("key_for_strategy", { location: at(k), key: key(k), strategy, needs: "canary" });
      }
    }
  }
  if (strategy === "canary" && !canary) {
    throw bad("canary_missing", { location: doc.locate(prefix), deployment: name });
  }
  if (strategy !== "blue-green") {
    for (const k of ["groups", "switch", "switch_on"]) {
      if (v[k] !== undefined) {
        throw bad("key_for_strategy", {
          location: at(k),
          key: key(k),
          strategy,
          needs: "blue-green",
        });
      }
    }
    if (v.target === undefined) {
      throw bad("target_missing", { location: doc.locate(prefix), deployment: name });
    }
  } else if (v.target !== undefined) {
    throw bad("target_with_groups", { location: at("target"), deployment: name });
  }
  const keep = v.keep_releases as number | undefined;
  if (keep !== undefined && keep < 1) {
    throw bad("keep_invalid", { location: at("keep_releases"), value: keep });
  }

  let blueGreen: BlueGreenConfig | undefined;
  if (strategy === "blue-green") {
    const groups = v.groups as Record<string, unknown> | undefined;
    if (!groups) throw bad("groups_missing", { location: doc.locate(prefix), deployment: name });
    for (const [g, t] of Object.entries(groups)) {
      if (!(GROUP_NAMES as readonly string[]).includes(g)) {
        throw unknownKey(
          [...prefix, "groups", g],
          at("groups", g),
          GROUP_NAMES.map((n) => [...prefix, "groups", n]),
        );
      }
      if (!isTable(t)) throw wrongType(key("groups", g), "table", t, { location: at("groups", g) });
    }
    for (const g of GROUP_NAMES) {
      if (!groups[g]) throw bad("groups_missing", { location: at("groups"), deployment: name });
    }
    const command = v.switch as string | undefined;
    if (!command || command.trim() === "") {
      throw bad("switch_missing", { location: doc.locate(prefix), deployment: name });
    }
    blueGreen = {
      groups: {
        blue: readTarget(
          doc,
          [...prefix, "groups", "blue"],
          groups.blue as Record<string, unknown>,
        ),
        green: readTarget(
          doc,
          [...prefix, "groups", "green"],
          groups.green as Record<string, unknown>,
        ),
      },
      switchCommand: command,
      switchOn: (v.switch_on as string | undefined) ?? "controller",
    };
  }

  const steps = (v.steps ?? {}) as Record<string, unknown>;
  for (const [k, raw] of Object.entries(steps)) {
    if (!STEP_KEYS.includes(k)) {
      throw unknownKey(
        [...prefix, "steps", k],
        at("steps", k),
        STEP_KEYS.map((s) => [...prefix, "steps", s]),
      );
    }
    const list = coerce(raw, "string[]");
    if (list === undefined) {
      throw wrongType(key("steps", k), "string[]", raw, { location: at("steps", k) });
    }
    (list as readonly string[]).forEach((c, i) => {
      if (c.trim() === "") {
        throw bad("step_empty", { location: at("steps", k), key: key("steps", k), index: i + 1 });
      }
    });
  }

  const healthTable = v.health as Record<string, unknown> | undefined;
  return {
    name,
    origin: doc.origin(prefix),
    file: doc.file,
    strategy,
    target: v.target
      ? readTarget(doc, [...prefix, "target"], v.target as Record<string, unknown>)
      : undefined,
    blueGreen,
    batch,
    canary,
    bakeMs: (v.bake_ms as number | undefined) ?? 0,
    artifact: resolve(baseDir, v.artifact as string),
    version,
    deployRoot: v.deploy_root as string | undefined,
    keepReleases: keep,
    before: (steps.before as string[] | undefined) ?? [],
    after: (steps.after as string[] | undefined) ?? [],
    service: v.service as string | undefined,
    health: healthTable ? { table: healthTable, location: at("health") } : undefined,
    healthWaitMs: v.health_wait_ms as number | undefined,
    maxFailures: (v.max_failures as Amount | undefined) ?? { count: 0 },
    stepTimeoutMs: v.step_timeout_ms as number | undefined,
  };
}

function readTarget(
  doc: TomlDocument,
  path: readonly string[],
  table: Record<string, unknown>,
): TargetSelector {
  const values: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(table)) {
    const type = Object.hasOwn(TARGET_KEYS, k) ? TARGET_KEYS[k] : undefined;
    const location = doc.locate([...path, k]);
    if (!type) {
      throw unknownKey([...path, k], location, Object.keys(TARGET_KEYS).map((c) => [...path, c]));
    }
    const value = coerce(raw, type);
    if (value === undefined) throw wrongType(displayKey([...path, k]), type, raw, { location });
    values[k] = value;
  }
  const location = doc.locate(path);
  const selector: TargetSelector = {
    names: (values.machines as string[] | undefined) ?? [],
    labels: values.labels as string | undefined,
    profile: values.profile as string | undefined,
    all: (values.all as boolean | undefined) ?? false,
    limit: values.limit as number | undefined,
    location,
  };
  if (
    !selector.all && selector.names.length === 0 && selector.labels === undefined &&
    selector.profile === undefined
  ) {
    throw bad("target_empty", { location, key: displayKey(path) });
  }
  return selector;
}
