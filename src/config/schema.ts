/**
 * The schema of defaults.toml, derived from configs/defaults.toml: every table and key
 * there exists, with the type of its default value. Adding a key to defaults.toml (then
 * `deno task gen`, which compiles it into _embedded_configs.ts) is all it takes to make it
 * configurable; extra rules (allowed values, ranges, placeholders) go in KEY_CONSTRAINTS.
 */
import { DEFAULT_KEYS, DEFAULT_TABLES } from "./_embedded_configs.ts";
import { RESTART_POLICIES } from "../core/service_definition.ts";
import { parseSignal, SIGNALS } from "../core/signals.ts";
import {
  coerce,
  type ConfigValue,
  invalid,
  isTable,
  MAX_INTEGER,
  unknownKey,
  type ValueType,
  type Where,
  wrongType,
} from "./_check.ts";
import type { TomlDocument } from "./_toml_file.ts";
import { listPlaceholders, PATH_PLACEHOLDERS, scanTemplate } from "./placeholders.ts";

export type { ConfigValue, ValueType };

/** Extra rules for one key, on top of its type. */
export interface KeyConstraint {
  /** The allowed string values. */
  readonly oneOf?: readonly string[];
  /** Maps accepted spellings to the canonical value (e.g. TERM -> SIGTERM); undefined = invalid. */
  readonly normalize?: (value: string) => string | undefined;
  /** Smallest and largest allowed number. */
  readonly min?: number;
  readonly max?: number;
  /** The value is a path template that may use these placeholders. */
  readonly placeholders?: readonly string[];
  /** Placeholders the template must use. */
  readonly requiredPlaceholders?: readonly string[];
}

/** Placeholders any global path may use ({state_dir} itself may not use {state_dir}). */
const GLOBAL_PLACEHOLDERS = ["home", "tmp", "xdg_state_home", "state_dir"];

/**
 * Per-key rules, by full dotted key. Generic rules apply on top (see `constraintFor`):
 * integer keys ending in `_ms` are >= 0, and string keys in [paths] or ending in
 * `_dir`, `_file` or `_path` are path templates (any of PATH_PLACEHOLDERS).
 * Engineers adding tables to defaults.toml add their keys' rules here.
 */
export const KEY_CONSTRAINTS: Record<string, KeyConstraint> = {
  "general.backend": { oneOf: ["auto", "systemd", "launchd", "pidfile"] },
  "general.output": { oneOf: ["text", "json"] },
  "general.color": { oneOf: ["auto", "always", "never"] },
  "paths.state_dir": { placeholders: ["home", "tmp", "xdg_state_home"] },
  "paths.pid_file": { requiredPlaceholders: ["service_name"] },
  "paths.log_file": { requiredPlaceholders: ["service_name"] },
  "paths.services_file": { placeholders: GLOBAL_PLACEHOLDERS },
  "service.stop_signal": { oneOf: Object.keys(SIGNALS), normalize: normalizeSignal },
  "service.restart": { oneOf: RESTART_POLICIES },
  "logs.lines": { min: 0 },
  "logs.max_bytes": { min: 0 },
  "logs.keep": { min: 0, max: 1000 },
  "service.restart_max": { min: 0 },
  "audit.max_bytes": { min: 0 },
  "audit.keep": { min: 1, max: 1000 },
  // [ssh]: the allowed values are those its comments in defaults.toml document.
  "ssh.retry_attempts": { min: 1 },
  "ssh.retry_backoff": { oneOf: ["exponential", "linear", "fibonacci", "fixed"] },
  "ssh.retry_jitter_percent": { min: 0, max: 100 },
  "ssh.breaker_threshold": { min: 0 },
  "ssh.pool_max_per_host": { min: 1 },
  "ssh.host_key_policy": { oneOf: ["strict", "accept-new", "off"] },
  "ssh.keepalive_count_max": { min: 0 },
  "ssh.persist_ms": { min: 0 },
  // [observe]: one file each for all services ({service_name} makes no sense there).
  "observe.audit_file": { placeholders: GLOBAL_PLACEHOLDERS },
  "observe.metrics_file": { placeholders: GLOBAL_PLACEHOLDERS },
  // [health]
  "health.timeout_ms": { min: 1 },
  "health.interval_ms": { min: 1 },
  "health.healthy_threshold": { min: 1, max: 100 },
  "health.unhealthy_threshold": { min: 1, max: 100 },
  "health.wait_timeout_ms": { min: 1 },
  "health.wait_interval_ms": { min: 1 },
  // [deploy]
  "deploy.keep_releases": { min: 1 },
  // [state]
  "state.backend": { oneOf: ["files", "postgres"] },
  "state.sslmode": { oneOf: ["disable", "prefer", "require", "verify-full"] },
  "state.ca_file": { placeholders: GLOBAL_PLACEHOLDERS },
  // [serve]
  "serve.tls_cert": { placeholders: GLOBAL_PLACEHOLDERS },
  "serve.tls_key": { placeholders: GLOBAL_PLACEHOLDERS },
  "serve.body_limit_bytes": { min: 1 },
  "serve.rate_limit_per_minute": { min: 0 },
  "serve.request_timeout_ms": { min: 1 },
  "serve.event_ring_size": { min: 1 },
  "serve.heartbeat_ms": { min: 1 },
  "serve.operations_kept": { min: 1 },
  "serve.shutdown_grace_ms": { min: 0 },
};

function normalizeSignal(value: string): string | undefined {
  try {
    return parseSignal(value);
  } catch {
    return undefined;
  }
}

export interface KeySpec {
  /** Full dotted key, e.g. "timeouts.stop_ms". */
  readonly key: string;
  readonly type: ValueType;
  /** The embedded default. */
  readonly default: ConfigValue;
  /** `defaults.toml:LINE` of the default, for `config show`. */
  readonly origin: string;
}

/** One key/value read from a layer, checked against the schema. */
export interface CheckedEntry {
  readonly key: string;
  readonly value: ConfigValue;
  /** `file:line` */
  readonly origin: string;
}

export class ConfigSchema {
  readonly keys: ReadonlyMap<string, KeySpec>;
  /** Every table, including nested ones ("ssh", "ssh.retry"). */
  readonly tables: ReadonlySet<string>;
  readonly #constraints: Readonly<Record<string, KeyConstraint>>;

  constructor(
    keys: ReadonlyMap<string, KeySpec>,
    tables: ReadonlySet<string>,
    constraints: Readonly<Record<string, KeyConstraint>> = KEY_CONSTRAINTS,
  ) {
    this.keys = keys;
    this.tables = tables;
    this.#constraints = constraints;
  }

  /** The explicit rules for `key` merged with the generic ones. */
  constraintFor(key: string): KeyConstraint {
    const spec = this.keys.get(key);
    const generic: { min?: number; placeholders?: readonly string[] } = {};
    if (spec?.type === "integer" && key.endsWith("_ms")) generic.min = 0;
    if (spec?.type === "string" && (key.startsWith("paths.") || /_(dir|file|path)$/.test(key))) {
      generic.placeholders = PATH_PLACEHOLDERS;
    }
    return { ...generic, ...this.#constraints[key] };
  }

  /** True if `key` is a path template (its placeholders are checked at load time). */
  isPath(key: string): boolean {
    return this.constraintFor(key).placeholders !== undefined ||
      this.constraintFor(key).requiredPlaceholders !== undefined;
  }

  /**
   * Checks a typed value against the key's rules; returns the canonical value.
   * Throws InvalidConfig naming `where` (a file position or an environment variable).
   */
  check(key: string, value: ConfigValue, where: Where): ConfigValue {
    const rule = this.constraintFor(key);
    if (typeof value === "string") {
      let result = value;
      if (rule.normalize) result = rule.normalize(value) ?? value;
      if (rule.oneOf && !rule.oneOf.includes(result)) {
        throw invalid("not_allowed", key, where, { value, allowed: rule.oneOf.join(", ") });
      }
      if (rule.placeholders || rule.requiredPlaceholders) {
        checkTemplate(key, value, rule, where);
      }
      return result;
    }
    if (typeof value === "number") {
      const min = rule.min ?? -Infinity;
      const max = Math.min(
        rule.max ?? Infinity,
        this.keys.get(key)?.type === "integer" ? MAX_INTEGER : Infinity,
      );
      if (!(value >= min && value <= max)) {
        throw invalid("out_of_range", key, where, { value, range: describeRange(min, max, value) });
      }
    }
    return value;
  }

  /**
   * Reads one defaults.toml layer: every key must exist in the schema with the right
   * type and pass its rules; errors point at the key's `file:line:col`.
   */
  read(doc: TomlDocument): CheckedEntry[] {
    const out: CheckedEntry[] = [];
    const candidates = [...this.tables, ...this.keys.keys()];
    const walk = (tree: Record<string, unknown>, prefix: string[]) => {
      for (const [name, raw] of Object.entries(tree)) {
        const path = [...prefix, name];
        const key = path.join(".");
        // A quoted key with a dot ("timeouts.stop_ms" = 1) is not the dotted key.
        const known = !name.includes(".");
        if (known && this.tables.has(key)) {
          if (!isTable(raw)) throw wrongType(key, "table", raw, { location: doc.locate(path) });
          walk(raw, path);
          continue;
        }
        const spec = known ? this.keys.get(key) : undefined;
        if (!spec) {
          throw unknownKey(path, doc.locate(path), candidates, { hint: "config.hint_keys" });
        }
        const where = { location: doc.locate(path) };
        if (typeof raw === "bigint" && (raw > BigInt(MAX_INTEGER) || raw < -BigInt(MAX_INTEGER))) {
          throw invalid("out_of_range", key, where, {
            value: String(raw),
            range: describeRange(-MAX_INTEGER, MAX_INTEGER, Number(raw)),
          });
        }
        const value = coerce(raw, spec.type);
        if (value === undefined) throw wrongType(key, spec.type, raw, where);
        out.push({ key, value: this.check(key, value, where), origin: doc.origin(path) });
      }
    };
    walk(doc.tree, []);
    return out;
  }
}

function checkTemplate(key: string, template: string, rule: KeyConstraint, where: Where): void {
  const allowed = rule.placeholders ?? PATH_PLACEHOLDERS;
  const { names, strayBrace } = scanTemplate(template);
  if (strayBrace) throw invalid("stray_brace", key, where, { template, example: "{home}" });
  for (const name of names) {
    if (!allowed.includes(name)) {
      throw invalid("unknown_placeholder_at", key, where, {
        placeholder: `{${name}}`,
        template,
        allowed: listPlaceholders(allowed),
      });
    }
  }
  for (const name of rule.requiredPlaceholders ?? []) {
    if (!names.includes(name)) {
      throw invalid("missing_placeholder", key, where, { template, placeholder: `{${name}}` });
    }
  }
}

/** The bound `value` broke, e.g. ">= 0". */
function describeRange(min: number, max: number, value: number): string {
  return value < min ? `>= ${min}` : `<= ${max}`;
}

let cached: ConfigSchema | undefined;
/**
 * The schema of the embedded defaults.toml, from its compiled form (no TOML parsing at
 * start-up; the generator derived it with deriveSchema and checked every default).
 */
export function defaultsSchema(): ConfigSchema {
  if (!cached) {
    const keys = new Map<string, KeySpec>();
    for (const [key, type, value, line] of DEFAULT_KEYS) {
      keys.set(key, { key, type, default: value, origin: `defaults.toml (embedded):${line}` });
    }
    cached = new ConfigSchema(keys, new Set(DEFAULT_TABLES));
  }
  return cached;
}
