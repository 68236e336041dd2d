/**
 * Loads provctl's configuration. Layers, later wins:
 *
 *   embedded configs/  ->  /etc/provctl/  ->  $XDG_CONFIG_HOME/provctl/ (~/.config/provctl/)
 *   ->  --config-dir DIR  ->  PROVCTL_* environment variables (ENV_OVERRIDES)
 *
 * Each directory may hold defaults.toml and messages.toml. Every file is checked in
 * full (unknown keys, types, allowed values, path placeholders) so a mistake is
 * reported with its file:line:col before anything runs. An unknown key in an override
 * messages.toml is an error too: a typo there would otherwise silently change nothing.
 */
import { join } from "./_path.ts";
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import {
  coerce,
  type ConfigValue,
  isTable,
  unknownKey,
  type ValueType,
  wrongType,
} from "./_check.ts";
import type { TomlDocument } from "./_toml_file.ts";
import { readConfigText } from "./_config_text.ts";
import { embeddedMessages, Messages } from "./messages.ts";
import { absolute, environmentVars, expandTemplate, type TemplateVars } from "./placeholders.ts";
import { type ConfigSchema, defaultsSchema } from "./schema.ts";

export type { ConfigValue };

/**
 * Environment variables that override config keys (documented in the README).
 * Values are parsed to the key's type: integers in decimal, booleans as
 * true/false/1/0/yes/no, arrays of strings comma-separated. An empty value is ignored.
 */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = {
  PROVCTL_BACKEND: "general.backend",
  PROVCTL_OUTPUT: "general.output",
  PROVCTL_COLOR: "general.color",
  PROVCTL_STATE_DIR: "paths.state_dir",
  PROVCTL_SERVICES_FILE: "paths.services_file",
  PROVCTL_STOP_TIMEOUT_MS: "timeouts.stop_ms",
  PROVCTL_START_GRACE_MS: "timeouts.start_grace_ms",
  PROVCTL_LOCK_TIMEOUT_MS: "timeouts.lock_ms",
  PROVCTL_COMMAND_TIMEOUT_MS: "timeouts.command_ms",
  PROVCTL_STOP_SIGNAL: "service.stop_signal",
  PROVCTL_LOG_LINES: "logs.lines",
  PROVCTL_SERVE_LISTEN: "serve.listen",
  PROVCTL_STATE_BACKEND: "state.backend",
};

export type Layer = "embedded" | "system" | "user" | "config-dir" | "env";

/** A file `loadConfig` looked for, for `provctl config path`. */
export interface SearchedFile {
  readonly layer: Exclude<Layer, "embedded" | "env">;
  readonly kind: "defaults" | "messages";
  readonly path: string;
  readonly exists: boolean;
}

/** One merged key for `provctl config show`. */
export interface ConfigEntry {
  readonly key: string;
  readonly value: ConfigValue;
  /** "embedded", "/etc/provctl/defaults.toml:12" or "env PROVCTL_BACKEND". */
  readonly origin: string;
}

export interface LoadConfigOptions {
  /** --config-dir: must exist. */
  configDir?: string;
  /** Environment (default: the process environment). */
  env?: Readonly<Record<string, string>>;
  /** Default /etc/provctl; a missing directory is fine. */
  systemDir?: string;
  /** Default $XDG_CONFIG_HOME/provctl or ~/.config/provctl; a missing directory is fine. */
  userDir?: string;
}

/** The merged configuration. Accessors throw Internal for keys not in defaults.toml (a bug). */
export class LoadedConfig {
  readonly #schema: ConfigSchema;
  readonly #values: ReadonlyMap<string, ConfigEntry>;
  readonly #vars: TemplateVars;
  /** Every file looked for, in layer order. */
  readonly searched: readonly SearchedFile[];
  /** Embedded messages with the override layers applied. */
  readonly messages: Messages;
  /** Overridden message keys and where they came from. */
  readonly messageOverrides: readonly ConfigEntry[];

  constructor(init: {
    schema: ConfigSchema;
    values: ReadonlyMap<string, ConfigEntry>;
    env: Readonly<Record<string, string>>;
    searched: readonly SearchedFile[];
    messages: Messages;
    messageOverrides: readonly ConfigEntry[];
  }) {
    this.#schema = init.schema;
    this.#values = init.values;
    this.searched = init.searched;
    this.messages = init.messages;
    this.messageOverrides = init.messageOverrides;
    const { home, tmp, xdg_state_home } = environmentVars(init.env);
    const base = { home, tmp, xdg_state_home };
    // {state_dir} is itself a template of the environment placeholders.
    const stateDir = expandOrUndefined(this.string("paths.state_dir"), base);
    this.#vars = Object.freeze({ ...base, state_dir: stateDir });
  }

  /** The value of `key` ("timeouts.stop_ms"). */
  get(key: string): ConfigValue {
    return this.#entry(key).value;
  }
  string(key: string): string {
    return this.#typed(key, "string") as string;
  }
  integer(key: string): number {
    return this.#typed(key, "integer") as number;
  }
  float(key: string): number {
    return this.#typed(key, "float") as number;
  }
  boolean(key: string): boolean {
    return this.#typed(key, "boolean") as boolean;
  }
  strings(key: string): readonly string[] {
    return this.#typed(key, "string[]") as readonly string[];
  }

  /** Where the value of `key` came from. */
  origin(key: string): string {
    return this.#entry(key).origin;
  }

  /** Every key with its value and origin, in defaults.toml order. */
  entries(): ConfigEntry[] {
    return [...this.#values.values()];
  }

  /**
   * The path template at `key` expanded: {home}, {tmp}, {xdg_state_home}, {state_dir},
   * plus `vars` (e.g. { service_name: "web" }).
   */
  path(key: string, vars: Readonly<Record<string, string>> = {}): string {
    try {
      return expandTemplate(this.string(key), { ...this.#vars, ...vars });
    } catch (e) {
      // Placeholders were checked at load time: one missing here was not passed by the caller.
      if (isProvctlError(e) && e.key === "config.unknown_placeholder") {
        throw bug(`path(${key}) needs ${e.params.placeholder}`);
      }
      throw e;
    }
  }

  /** The placeholder values from the environment and paths.state_dir (undefined if HOME is unset). */
  get placeholders(): TemplateVars {
    return this.#vars;
  }

  #entry(key: string): ConfigEntry {
    const entry = this.#values.get(key);
    if (!entry) throw bug(`unknown config key ${key}`);
    return entry;
  }

  #typed(key: string, type: ValueType): ConfigValue {
    const spec = this.#schema.keys.get(key);
    if (spec?.type !== type) {
      throw bug(`config key ${key} is ${spec?.type ?? "unknown"}, not ${type}`);
    }
    return this.#entry(key).value;
  }
}

function bug(detail: string): ProvctlError {
  return new ProvctlError("Internal", "errors.internal", { params: { detail } });
}

function expandOrUndefined(template: string, vars: TemplateVars): string | undefined {
  try {
    return expandTemplate(template, vars);
  } catch {
    return undefined; // reported when a path that uses it is expanded
  }
}

/** The user config directory: $XDG_CONFIG_HOME/provctl, else ~/.config/provctl. */
export function defaultUserDir(env: Readonly<Record<string, string>>): string | undefined {
  const xdg = absolute(env.XDG_CONFIG_HOME);
  if (xdg) return join(xdg, "provctl");
  const { home } = environmentVars(env);
  return home === undefined ? undefined : join(home, ".config", "provctl");
}

export const DEFAULT_SYSTEM_DIR = "/etc/provctl";

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? Deno.env.toObject();
  const schema = defaultsSchema();
  const values = new Map<string, ConfigEntry>();
  for (const spec of schema.keys.values()) {
    values.set(spec.key, { key: spec.key, value: spec.default, origin: "embedded" });
  }
  const messageLayers: ConstructorParameters<typeof Messages> = [];
  const messageOverrides = new Map<string, ConfigEntry>();
  const searched: SearchedFile[] = [];

  const dirs: { layer: SearchedFile["layer"]; dir: string | undefined }[] = [
    { layer: "system", dir: options.systemDir ?? DEFAULT_SYSTEM_DIR },
    { layer: "user", dir: options.userDir ?? defaultUserDir(env) },
  ];
  if (options.configDir !== undefined) {
    await requireDirectory(options.configDir);
    dirs.push({ layer: "config-dir", dir: options.configDir });
  }

  for (const { layer, dir } of dirs) {
    if (dir === undefined) continue;
    const defaultsPath = join(dir, "defaults.toml");
    const defaultsText = await readConfigText(defaultsPath);
    searched.push({
      layer,
      kind: "defaults",
      path: defaultsPath,
      exists: defaultsText !== undefined,
    });
    if (defaultsText !== undefined) {
      const { parseTomlDocument } = await import("./_toml_file.ts");
      for (const entry of schema.read(parseTomlDocument(defaultsText, defaultsPath))) {
        values.set(entry.key, entry);
      }
    }
    const messagesPath = join(dir, "messages.toml");
    const messagesText = await readConfigText(messagesPath);
    searched.push({
      layer,
      kind: "messages",
      path: messagesPath,
      exists: messagesText !== undefined,
    });
    if (messagesText !== undefined) {
      const { parseTomlDocument } = await import("./_toml_file.ts");
      const doc = parseTomlDocument(messagesText, messagesPath);
      for (const entry of readMessages(doc)) messageOverrides.set(entry.key, entry);
      messageLayers.push(doc.tree as ConstructorParameters<typeof Messages>[number]);
    }
  }

  for (const [variable, key] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[variable];
    const spec = schema.keys.get(key);
    if (raw === undefined || raw === "" || !spec) continue;
    const where = { variable, value: raw };
    const parsed = parseEnvValue(raw, spec.type);
    if (parsed === undefined) throw wrongType(key, spec.type, raw, where);
    values.set(key, { key, value: schema.check(key, parsed, where), origin: `env ${variable}` });
  }

  return new LoadedConfig({
    schema,
    values,
    env,
    searched,
    messages: new Messages(embeddedMessages(), ...messageLayers),
    messageOverrides: [...messageOverrides.values()],
  });
}

/** Parses an environment variable's text as `type`; undefined if it is not one. */
function parseEnvValue(raw: string, type: ValueType): ConfigValue | undefined {
  const text = raw.trim();
  switch (type) {
    case "string":
      return raw;
    case "integer":
      return /^[+-]?\d+$/.test(text) && Number.isSafeInteger(Number(text))
        ? Number(text)
        : undefined;
    case "float":
      return text !== "" && Number.isFinite(Number(text)) ? Number(text) : undefined;
    case "boolean": {
      const lower = text.toLowerCase();
      if (["true", "1", "yes", "on"].includes(lower)) return true;
      if (["false", "0", "no", "off"].includes(lower)) return false;
      return undefined;
    }
    case "string[]":
      return Object.freeze(text.split(",").map((s) => s.trim()).filter((s) => s !== ""));
  }
}

/** Checks an override messages.toml: only known message keys, each a string. */
function readMessages(doc: TomlDocument): ConfigEntry[] {
  const catalog = new Messages(embeddedMessages());
  const known = new Set(catalog.keys());
  const tables = new Set<string>();
  for (const key of known) {
    for (let i = key.indexOf("."); i > 0; i = key.indexOf(".", i + 1)) tables.add(key.slice(0, i));
  }
  const out: ConfigEntry[] = [];
  const walk = (tree: Record<string, unknown>, prefix: string[]) => {
    for (const [name, raw] of Object.entries(tree)) {
      const path = [...prefix, name];
      const key = path.join(".");
      const location = doc.locate(path);
      if (!name.includes(".") && tables.has(key)) {
        if (!isTable(raw)) throw wrongType(key, "table", raw, { location });
        walk(raw, path);
      } else if (!name.includes(".") && known.has(key)) {
        const value = coerce(raw, "string");
        if (value === undefined) throw wrongType(key, "string", raw, { location });
        out.push({ key, value, origin: doc.origin(path) });
      } else {
        throw unknownKey(path, location, [...tables, ...known]);
      }
    }
  };
  walk(doc.tree, []);
  return out;
}

async function requireDirectory(dir: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ProvctlError("InvalidConfig", "config.dir_missing", { params: { path: dir } });
    }
    throw new ProvctlError("InvalidConfig", "config.read_failed", {
      params: { path: dir, reason: (e as Error).message },
      cause: e,
    });
  }
  if (!info.isDirectory) {
    throw new ProvctlError("InvalidConfig", "config.dir_not_directory", { params: { path: dir } });
  }
}
