/**
 * The inventory (machines.toml): the machines provctl controls over SSH, and profiles
 * (staging, prod, ...) carrying defaults they inherit. See configs/machines.example.toml
 * for the format. Every setting resolves as `[defaults]` < `[profiles.P]` < the machine:
 * scalars and `jump` are replaced whole, `labels` and `vars` are merged key by key.
 *
 * Found at --inventory FILE (or $PROVCTL_INVENTORY; missing = error), else
 * ./machines.toml, else the first config dir holding one; none = an empty inventory.
 * Mistakes are InvalidConfig errors at the file:line:col of the offending key.
 *
 * `[sources.NAME]` tables (cloud discovery) are kept here only as far as the machine
 * settings they share with a profile go; src/discovery/ checks the rest and turns what a
 * provider returns into machines through SourceTable.machine().
 */
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import {
  coerce,
  displayKey,
  invalid,
  isTable,
  MAX_INTEGER,
  nearest,
  unknownKey,
  type ValueType,
  wrongType,
} from "../config/_check.ts";
import { dirname, join, resolve } from "../config/_path.ts";
import { parseTomlDocument, readConfigText, type TomlDocument } from "../config/_toml_file.ts";
import { keyPositions } from "../config/_toml_position.ts";
import type { LoadedConfig } from "../config/loader.ts";
import { embeddedMessages, Messages } from "../config/messages.ts";
import { KEY_CONSTRAINTS } from "../config/schema.ts";
import type { HostKeyPolicy } from "../ssh/known_hosts.ts";
import { parseTargetSpec } from "../ssh/target.ts";
import { expandShellTemplate } from "../exec/shell_template.ts";
import { checkLabelKey, checkLabelValue } from "./_labels.ts";

// The label rules, for what other layers turn into labels (cloud discovery's tags).
export { checkLabelKey, checkLabelValue, LABEL_NAME_MAX } from "./_labels.ts";
import { checkName, shown } from "./_names.ts";

/** Per-machine settings for the fleet executor and the remote backends. */
export interface MachineOverrides {
  /** At most this many concurrent operations on this machine. */
  readonly forks?: number;
  readonly connectTimeoutMs?: number;
  readonly commandTimeoutMs?: number;
  /** auto | systemd | launchd | pidfile */
  readonly backend?: string;
  /** Absolute remote directory of releases (placeholders already expanded). */
  readonly deployRoot?: string;
  readonly hostKeyPolicy?: HostKeyPolicy;
}

/** What `[defaults]` and a profile may set; every field is optional. */
export interface ProfileSettings {
  readonly user?: string;
  readonly port?: number;
  /** Hop specs `[user@]host[:port]`, first hop first; [] = connect directly. */
  readonly jump?: readonly string[];
  readonly identity?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly vars: Readonly<Record<string, string>>;
  readonly overrides: MachineOverrides;
}

export interface Profile extends ProfileSettings {
  readonly name: string;
  /** "file:line" of its table. */
  readonly origin: string;
}

/** Profiles by name, in file order. */
export type ProfileSet = ReadonlyMap<string, Profile>;

export interface MachineConfig {
  readonly name: string;
  /** Host name, ssh_config alias or IP address (IPv6 without brackets). */
  readonly host: string;
  /** Unset: ssh_config's Port for the host, else 22. */
  readonly port?: number;
  /** Unset: ssh_config's User for the host, else the local user. */
  readonly user?: string;
  /** Unset: ssh_config's ProxyJump decides; [] = connect directly. */
  readonly jump?: readonly string[];
  /** Private key file (absolute, or `~/...`); tried before ssh_config's. */
  readonly identity?: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly profile?: string;
  readonly overrides: MachineOverrides;
  /** Values for `{name}` placeholders in commands (see expandVars). */
  readonly vars: Readonly<Record<string, string>>;
  /** "file:line" of its table. */
  readonly origin: string;
  /** The `[sources.NAME]` it was discovered by; unset for machines written in the file. */
  readonly source?: string;
  /** Discovered, but its source failed just now: these are cached, possibly old, data. */
  readonly stale?: boolean;
}

/** What a source found for one machine, for SourceTable.machine(). */
export interface DiscoveredMachine {
  readonly name: string;
  readonly host: string;
  /** The provider's tags as labels; the source's own `labels` win over them. */
  readonly labels: Readonly<Record<string, string>>;
  readonly stale?: boolean;
}

/** A `[sources.NAME]` table. */
export interface SourceTable {
  readonly name: string;
  /** "file:line" of its table. */
  readonly origin: string;
  /** Its keys other than machine settings (provider, token_env, filters, ...). */
  readonly options: Readonly<Record<string, unknown>>;
  /** "file:line:col" of a key path inside the table, for errors. */
  locate(path: readonly string[]): string;
  /**
   * A machine of this source: [defaults] < the source's profile < its provider labels and
   * the source's settings. Throws InvalidName/InvalidArgument for a bad name or address.
   */
  machine(found: DiscoveredMachine): MachineConfig;
}

export interface Inventory {
  /** In file order. */
  readonly machines: readonly MachineConfig[];
  readonly profiles: ProfileSet;
  /** The file read; undefined when none was found (an empty inventory). */
  readonly file?: string;
  /** Every path looked at, in order (for "create one at ..." messages). */
  readonly searched: readonly string[];
  /** `[sources.NAME]` tables in file order (cloud discovery); unset = none. */
  readonly sources?: readonly SourceTable[];
}

export interface LoadInventoryOptions {
  /** --inventory FILE: must exist. Relative to `cwd`. */
  file?: string;
  /** Where ./machines.toml is looked for first. */
  cwd: string;
  /** Searched in order after `cwd` (highest priority first, e.g. --config-dir, user, system). */
  configDirs: readonly string[];
  /** PROVCTL_INVENTORY is used like --inventory when `file` is not given. */
  env?: Readonly<Record<string, string>>;
  /** Gives inventory.file (the name searched for) and the message catalog. */
  config?: LoadedConfig;
}

/** The file name searched for when configs/defaults.toml does not say. */
export const INVENTORY_FILE_NAME = "machines.toml";

/** Placeholders every machine has; vars may not reuse these names. */
export const BUILTIN_PLACEHOLDERS = [
  "name",
  "host",
  "user",
  "ssh_port",
  "profile",
  "deploy_root",
] as const;

const SETTING_KEYS: Readonly<Record<string, ValueType | "table">> = {
  user: "string",
  port: "integer",
  jump: "string[]",
  identity: "string",
  labels: "table",
  vars: "table",
  forks: "integer",
  connect_timeout_ms: "integer",
  command_timeout_ms: "integer",
  backend: "string",
  deploy_root: "string",
  host_key_policy: "string",
};

const MACHINE_KEYS: Readonly<Record<string, ValueType | "table">> = {
  host: "string",
  profile: "string",
  ...SETTING_KEYS,
};

const RANGES: Readonly<Record<string, readonly [number, number]>> = {
  port: [1, 65535],
  forks: [1, MAX_INTEGER],
  connect_timeout_ms: [0, MAX_INTEGER],
  command_timeout_ms: [0, MAX_INTEGER],
};

const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  backend: KEY_CONSTRAINTS["general.backend"].oneOf!,
  host_key_policy: KEY_CONSTRAINTS["ssh.host_key_policy"].oneOf!,
};

const TOP_KEYS = ["defaults", "profiles", "machines", "sources"];
/** Keys of a source that are machine settings; the others are discovery's. */
const SOURCE_SETTING_KEYS: Readonly<Record<string, ValueType | "table">> = {
  profile: "string",
  ...SETTING_KEYS,
};
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const VAR_NAME_MAX = 64;
const USER = /^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$/;
const USER_MAX = 64;
const HOST_MAX = 253;
const HOSTNAME_CHAR = /^[A-Za-z0-9._-]$/;
const IPV6_CHAR = /^[0-9A-Fa-f:.]$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Finds and reads the inventory (see the module comment). */
export async function loadInventory(options: LoadInventoryOptions): Promise<Inventory> {
  const messages = options.config?.messages ?? new Messages(embeddedMessages());
  const explicit = options.file ?? nonEmpty(options.env?.PROVCTL_INVENTORY);
  if (explicit !== undefined) {
    const path = resolve(options.cwd, explicit);
    const text = await readConfigText(path);
    if (text === undefined) {
      throw new ProvctlError("InvalidConfig", "inventory.file_missing", {
        params: { path },
        hint: "inventory.hint_create",
      });
    }
    return parseInventory(text, { file: path, messages, searched: [path] });
  }
  const name = options.config?.string("inventory.file") ?? INVENTORY_FILE_NAME;
  const candidates = name.startsWith("/")
    ? [name]
    : [resolve(options.cwd, name), ...options.configDirs.map((dir) => join(dir, name))];
  const searched: string[] = [];
  for (const path of candidates) {
    if (searched.includes(path)) continue;
    searched.push(path);
    const text = await readConfigText(path);
    if (text !== undefined) return parseInventory(text, { file: path, messages, searched });
  }
  return { machines: [], profiles: new Map(), searched };
}

/**
 * Parses and checks machines.toml `text`; `file` is the name used in errors and for
 * resolving relative identity paths.
 */
export function parseInventory(
  text: string,
  options: { file: string; messages?: Messages; searched?: readonly string[] },
): Inventory {
  const doc = parseTomlDocument(text, options.file);
  const reader = new Reader(doc, {
    baseDir: dirname(resolve(options.file)),
    messages: options.messages ?? new Messages(embeddedMessages()),
  });
  for (const [key, raw] of Object.entries(doc.tree)) {
    const location = doc.locate([key]);
    if (!TOP_KEYS.includes(key)) {
      throw unknownKey([key], location, TOP_KEYS, {
        hint: "inventory.hint_top_keys",
        params: { allowed: TOP_KEYS.join(", ") },
      });
    }
    if (!isTable(raw)) throw wrongType(displayKey([key]), "table", raw, { location });
  }

  const defaults = isTable(doc.tree.defaults)
    ? reader.settings(["defaults"], doc.tree.defaults, SETTING_KEYS)
    : undefined;

  const profiles = new Map<string, Profile>();
  const profileSources = new Map<string, Settings>();
  for (const [name, table] of inFileOrder(text, "profiles", doc.tree.profiles)) {
    const path = ["profiles", name];
    reader.name("profile", name, path);
    if (!isTable(table)) {
      throw wrongType(displayKey(path), "table", table, { location: doc.locate(path) });
    }
    const settings = reader.settings(path, table, SETTING_KEYS);
    profileSources.set(name, settings);
    profiles.set(name, deepFreeze({ ...settings.values, name, origin: doc.origin(path) }));
  }

  const machines: MachineConfig[] = [];
  const byLowerName = new Map<string, string>();
  for (const [name, table] of inFileOrder(text, "machines", doc.tree.machines)) {
    const path = ["machines", name];
    const location = doc.locate(path);
    reader.name("machine", name, path);
    const clash = byLowerName.get(name.toLowerCase());
    if (clash !== undefined) {
      throw new ProvctlError("InvalidConfig", "inventory.duplicate_name", {
        params: {
          location,
          name: shown(name),
          other: shown(clash),
          other_location: doc.locate(["machines", clash]),
        },
      });
    }
    byLowerName.set(name.toLowerCase(), name);
    if (!isTable(table)) throw wrongType(displayKey(path), "table", table, { location });
    const own = reader.settings(path, table, MACHINE_KEYS);
    if (own.host === undefined) {
      throw new ProvctlError("InvalidConfig", "inventory.host_missing", {
        params: { location, machine: shown(name) },
      });
    }
    let profile: Settings | undefined;
    if (own.profile !== undefined) {
      profile = profileSources.get(own.profile);
      if (!profile) throw unknownProfile(doc, path, own.profile, [...profiles.keys()]);
    }
    machines.push(
      reader.machine(name, own, [defaults, profile], {
        origin: doc.origin(path),
        profile: own.profile,
      }),
    );
  }
  const sources: SourceTable[] = [];
  for (const [name, table] of inFileOrder(text, "sources", doc.tree.sources)) {
    const path = ["sources", name];
    const location = doc.locate(path);
    reader.name("source", name, path);
    if (!isTable(table)) throw wrongType(displayKey(path), "table", table, { location });
    const settingsPart: Record<string, unknown> = {};
    const options: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(table)) {
      if (Object.hasOwn(SOURCE_SETTING_KEYS, key)) settingsPart[key] = value;
      else options[key] = value;
    }
    const own = reader.settings(path, settingsPart, SOURCE_SETTING_KEYS);
    let profile: Settings | undefined;
    if (own.profile !== undefined) {
      profile = profileSources.get(own.profile);
      if (!profile) throw unknownProfile(doc, path, own.profile, [...profiles.keys()]);
    }
    const origin = doc.origin(path);
    sources.push(Object.freeze({
      name,
      origin,
      options: Object.freeze(options),
      locate: (at: readonly string[]) => doc.locate([...path, ...at]),
      machine: (found: DiscoveredMachine): MachineConfig => {
        checkName("machine", found.name);
        const host = checkHost(found.host);
        const layer: Settings = {
          ...own,
          host,
          values: { ...own.values, labels: { ...found.labels, ...own.values.labels } },
        };
        const machine = reader.machine(found.name, layer, [defaults, profile], {
          origin,
          profile: own.profile,
        });
        return Object.freeze({
          ...machine,
          source: name,
          ...(found.stale ? { stale: true } : {}),
        });
      },
    }));
  }
  return {
    machines,
    profiles,
    file: options.file,
    searched: options.searched ?? [options.file],
    ...(sources.length > 0 ? { sources } : {}),
  };
}

/**
 * Where an expanded text goes, which decides what happens to each value:
 * - "shell": shell text (deploy steps, `exec --shell`, switch commands, `sh -c` scripts):
 *   every value is shell-quoted for where it stands, so it arrives as that exact text
 *   (`{raw:name}` inserts it as shell text on purpose; see exec/shell_template.ts);
 * - "word": one program argument, env value or path, passed without a shell: literal;
 * - "url": a URL the controller or the machine requests: a value in the host:port part
 *   may only be a host name, address or port, and no value may hold spaces or controls;
 * - "address": a TCP host:port: values may only be host names, addresses or ports.
 */
export type ExpandAs = "shell" | "word" | "url" | "address";

/**
 * `{name}` placeholders in `text` replaced with the machine's values: its vars, the
 * built-ins {name} {host} {user} {ssh_port} {profile} {deploy_root}, and `extra` (wins),
 * treated as `as` says (see ExpandAs). Only a name in braces is a placeholder, so shell
 * text such as `awk '{print $1}'`, `${HOME}` and `{a,b}` is left alone; `{{name}}` gives
 * a literal `{name}`. An unknown placeholder, or a built-in the machine has no value
 * for, is an InvalidArgument error. This is the one place placeholders are expanded.
 */
export function expandVars(
  text: string,
  machine: MachineConfig,
  options: { as: ExpandAs; extra?: Readonly<Record<string, string | undefined>> },
): string {
  return expandWith(text, placeholderValues(machine, options.extra), machine.name, options.as);
}

/**
 * A program's argv with placeholders expanded: each word literal ("word"), except the
 * script of `sh -c SCRIPT` (any of the usual shells), which is shell text ("shell").
 */
export function expandArgv(
  argv: readonly string[],
  machine: MachineConfig,
  options: { extra?: Readonly<Record<string, string | undefined>> } = {},
): string[] {
  const script = shellScriptIndex(argv);
  return argv.map((word, i) =>
    expandVars(word, machine, { ...options, as: i === script ? "shell" : "word" })
  );
}

const SHELLS = new Set(["sh", "bash", "dash", "ash", "ksh", "mksh", "zsh", "busybox"]);

/** The index of SCRIPT in `[/bin/]sh [options] -c SCRIPT ...`, or -1. */
export function shellScriptIndex(argv: readonly string[]): number {
  const program = argv[0]?.split("/").pop() ?? "";
  if (!SHELLS.has(program)) return -1;
  let i = program === "busybox" && argv[1] === "sh" ? 2 : 1;
  for (; i < argv.length && /^[-+][A-Za-z]+$/.test(argv[i]); i++) {
    if (argv[i].startsWith("-") && argv[i].includes("c")) return i + 1 < argv.length ? i + 1 : -1;
  }
  return -1;
}

/** Health check keys that are URLs or TCP addresses (the rest are words). */
const CHECK_KEY_AS: Readonly<Record<string, ExpandAs>> = {
  url: "url",
  address: "address",
  host: "address",
};

/**
 * A health check table (deployment `health`, `provctl health` flags) with placeholders
 * expanded: URLs and addresses validated, a command check's argv as expandArgv does.
 */
export function expandCheckTable(
  table: Readonly<Record<string, unknown>>,
  machine: MachineConfig,
  options: { extra?: Readonly<Record<string, string | undefined>> } = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const word = (v: unknown, as: ExpandAs = "word"): unknown =>
    typeof v === "string" ? expandVars(v, machine, { ...options, as }) : deep(v);
  const deep = (v: unknown): unknown => {
    if (typeof v === "string") return expandVars(v, machine, { ...options, as: "word" });
    if (Array.isArray(v)) return v.map(deep);
    if (isTable(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)]));
    return v;
  };
  for (const [key, value] of Object.entries(table)) {
    out[key] = word(value, Object.hasOwn(CHECK_KEY_AS, key) ? CHECK_KEY_AS[key] : "word");
  }
  if (typeof table.program === "string" && Array.isArray(table.args)) {
    const argv = [table.program, ...table.args];
    if (argv.every((a) => typeof a === "string")) {
      const expanded = expandArgv(argv as string[], machine, options);
      out.program = expanded[0];
      out.args = expanded.slice(1);
    }
  }
  return out;
}

const HOST_OR_PORT = /^[A-Za-z0-9._~:[\]-]+$/;
// deno-lint-ignore no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/;

/** Throws unless `value` may stand at `offset` of a URL / address template. */
function checkValue(
  as: "url" | "address",
  template: string,
  offset: number,
  name: string,
  value: string,
  machine: string,
): void {
  let authority = as === "address";
  if (as === "url") {
    const scheme = template.indexOf("://");
    const rest = scheme < 0 ? -1 : template.slice(scheme + 3).search(/[/?#]/);
    const end = scheme < 0 ? -1 : rest < 0 ? template.length : scheme + 3 + rest;
    authority = scheme >= 0 && offset >= scheme && offset < end;
  }
  if (authority ? HOST_OR_PORT.test(value) : !CONTROL_OR_SPACE.test(value)) return;
  throw new ProvctlError("InvalidArgument", "inventory.placeholder_value_invalid", {
    params: {
      placeholder: `{${name}}`,
      value: shown(value),
      template: shown(template),
      machine: shown(machine),
      part: authority ? "host:port" : "URL",
    },
  });
}

function expandWith(
  text: string,
  values: Readonly<Record<string, string | undefined>>,
  machine: string,
  as: ExpandAs,
): string {
  const valueOf = (name: string): string => {
    if (Object.hasOwn(values, name)) {
      const value = values[name];
      if (value !== undefined) return value;
      throw new ProvctlError("InvalidArgument", "inventory.placeholder_unset", {
        params: {
          placeholder: `{${name}}`,
          command: shown(text),
          machine: shown(machine),
          key: name === "ssh_port" ? "port" : name,
        },
      });
    }
    const defined = Object.keys(values);
    const suggestion = nearest(name, defined);
    throw new ProvctlError(
      "InvalidArgument",
      suggestion ? "inventory.unknown_placeholder_suggest" : "inventory.unknown_placeholder",
      {
        params: {
          placeholder: `{${name}}`,
          command: shown(text),
          machine: shown(machine),
          suggestion: suggestion === undefined ? undefined : `{${suggestion}}`,
          allowed: defined.map((n) => `{${n}}`).join(", "),
        },
        hint: "inventory.hint_placeholders",
      },
    );
  };
  if (as === "shell") return expandShellTemplate(text, (p) => valueOf(p.name));
  return text.replace(
    /(\$?)\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|(\$)?\{(raw:)?([A-Za-z_][A-Za-z0-9_]*)\}/g,
    (
      whole,
      _dollar,
      escaped: string | undefined,
      shell: string | undefined,
      _raw: string | undefined,
      name: string,
      offset: number,
    ) => {
      if (escaped !== undefined) return whole.replace(`{{${escaped}}}`, `{${escaped}}`);
      if (shell) return whole;
      const value = valueOf(name);
      if (as === "url" || as === "address") checkValue(as, text, offset, name, value, machine);
      return value;
    },
  );
}

/** `[user@]host[:port]` of the machine, for resolveConnectionPlan. */
export function machineTarget(machine: MachineConfig): string {
  const host = machine.host.includes(":") ? `[${machine.host}]` : machine.host;
  const user = machine.user === undefined ? "" : `${machine.user}@`;
  if (machine.port !== undefined) return `${user}${host}:${machine.port}`;
  // A bare IPv6 address is accepted by parseTargetSpec without brackets.
  return `${user}${machine.host.includes(":") ? machine.host : host}`;
}

function placeholderValues(
  machine: Pick<MachineConfig, "name" | "host" | "user" | "port" | "profile" | "vars"> & {
    overrides: { deployRoot?: string };
  },
  extra: Readonly<Record<string, string | undefined>> = {},
): Record<string, string | undefined> {
  return {
    name: machine.name,
    host: machine.host,
    user: machine.user,
    ssh_port: machine.port === undefined ? undefined : String(machine.port),
    profile: machine.profile,
    deploy_root: machine.overrides.deployRoot,
    ...machine.vars,
    ...extra,
  };
}

/** Checked values of one table, plus where deploy_root was written. */
interface Settings {
  values: ProfileSettings;
  host?: string;
  profile?: string;
  /** The key path of deploy_root, for errors when expanding it. */
  deployRootPath?: string[];
}

class Reader {
  readonly #doc: TomlDocument;
  readonly #baseDir: string;
  readonly #messages: Messages;

  constructor(doc: TomlDocument, context: { baseDir: string; messages: Messages }) {
    this.#doc = doc;
    this.#baseDir = context.baseDir;
    this.#messages = context.messages;
  }

  /** A core validation error re-raised as InvalidConfig at `path`. */
  located(e: unknown, path: readonly string[]): unknown {
    if (!isProvctlError(e)) return e;
    const reason = this.#messages.has(e.key) ? this.#messages.format(e.key, e.params) : e.message;
    return new ProvctlError("InvalidConfig", "inventory.invalid_at", {
      params: { ...e.params, location: this.#doc.locate(path), reason },
      hint: e.hint,
      cause: e,
    });
  }

  #check(path: readonly string[], fn: () => void): void {
    try {
      fn();
    } catch (e) {
      throw this.located(e, path);
    }
  }

  name(kind: "machine" | "profile" | "source", name: string, path: readonly string[]): void {
    this.#check(path, () => checkName(kind, name));
  }

  settings(
    prefix: readonly string[],
    table: Record<string, unknown>,
    keys: Readonly<Record<string, ValueType | "table">>,
  ): Settings {
    const doc = this.#doc;
    const at = (key: string) => [...prefix, key];
    const where = (key: string) => ({ location: doc.locate(at(key)) });
    const full = (key: string) => displayKey(at(key));
    const values: Record<string, unknown> = {};
    for (const [key, raw] of Object.entries(table)) {
      const type = Object.hasOwn(keys, key) ? keys[key] : undefined;
      if (!type && Object.hasOwn(MACHINE_KEYS, key)) {
        throw new ProvctlError("InvalidConfig", "inventory.machine_only_key", {
          params: { location: doc.locate(at(key)), key: full(key), name: key },
        });
      }
      if (!type) {
        throw unknownKey(at(key), doc.locate(at(key)), Object.keys(keys).map(at), {
          hint: "inventory.hint_keys",
          params: { allowed: Object.keys(keys).join(", ") },
        });
      }
      if (type === "table") {
        if (!isTable(raw)) throw wrongType(full(key), "table", raw, where(key));
        values[key] = raw;
        continue;
      }
      const range = RANGES[key];
      if (range && typeof raw === "bigint" && (raw < BigInt(range[0]) || raw > BigInt(range[1]))) {
        throw invalid("out_of_range", full(key), where(key), {
          value: String(raw),
          range: raw < BigInt(range[0]) ? `>= ${range[0]}` : `<= ${range[1]}`,
        });
      }
      const value = coerce(raw, type);
      if (value === undefined) throw wrongType(full(key), type, raw, where(key));
      const allowed = ALLOWED[key];
      if (allowed && !allowed.includes(value as string)) {
        throw invalid("not_allowed", full(key), where(key), {
          value: value as string,
          allowed: allowed.join(", "),
        });
      }
      values[key] = value;
    }

    const str = (key: string) => values[key] as string | undefined;
    const num = (key: string) => values[key] as number | undefined;
    let host = str("host");
    if (host !== undefined) {
      const raw = host;
      this.#check(at("host"), () => host = checkHost(raw));
    }
    const user = str("user");
    if (user !== undefined) this.#check(at("user"), () => checkUser(user));
    const jump = values.jump as readonly string[] | undefined;
    for (const [i, hop] of (jump ?? []).entries()) {
      try {
        parseTargetSpec(hop);
      } catch (e) {
        throw this.located(e, [...prefix, "jump", String(i)]);
      }
    }
    let identity = str("identity");
    if (identity !== undefined) {
      const raw = identity;
      this.#check(at("identity"), () => checkText("identity", raw));
      identity = raw === "~" || raw.startsWith("~/") || raw.startsWith("/")
        ? raw
        : resolve(this.#baseDir, raw);
    }
    const deployRoot = str("deploy_root");
    if (deployRoot !== undefined) {
      this.#check(at("deploy_root"), () => checkText("deploy_root", deployRoot));
    }
    const profile = str("profile");
    if (profile !== undefined) this.name("profile", profile, at("profile"));

    const overrides: MachineOverrides = {
      forks: num("forks"),
      connectTimeoutMs: num("connect_timeout_ms"),
      commandTimeoutMs: num("command_timeout_ms"),
      backend: str("backend"),
      deployRoot,
      hostKeyPolicy: str("host_key_policy") as HostKeyPolicy | undefined,
    };
    return {
      values: {
        user,
        port: num("port"),
        jump,
        identity,
        labels: this.#labels(at("labels"), values.labels as Record<string, unknown> | undefined),
        vars: this.#vars(at("vars"), values.vars as Record<string, unknown> | undefined),
        overrides: withoutUndefined(overrides),
      },
      host,
      profile,
      deployRootPath: deployRoot === undefined ? undefined : at("deploy_root"),
    };
  }

  #labels(prefix: string[], table: Record<string, unknown> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(table ?? {})) {
      const path = [...prefix, key];
      if (typeof value !== "string") {
        throw wrongType(displayKey(path), "string", value, { location: this.#doc.locate(path) });
      }
      this.#check(path, () => {
        checkLabelKey(key);
        checkLabelValue(key, value);
      });
      out[key] = value;
    }
    return out;
  }

  #vars(prefix: string[], table: Record<string, unknown> | undefined): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, raw] of Object.entries(table ?? {})) {
      const path = [...prefix, key];
      const location = this.#doc.locate(path);
      if (!VAR_NAME.test(key) || key.length > VAR_NAME_MAX) {
        throw new ProvctlError("InvalidConfig", "inventory.var_name_invalid", {
          params: { location, var: shown(key), max: VAR_NAME_MAX },
        });
      }
      if ((BUILTIN_PLACEHOLDERS as readonly string[]).includes(key)) {
        throw new ProvctlError("InvalidConfig", "inventory.var_builtin", {
          params: { location, var: key, builtins: BUILTIN_PLACEHOLDERS.join(", ") },
        });
      }
      // Integers are accepted for convenience (port = 8080) and kept as written.
      const value = typeof raw === "bigint" ? String(raw) : raw;
      if (typeof value !== "string") {
        throw wrongType(displayKey(path), "string", raw, { location });
      }
      this.#check(path, () => checkText(`vars.${key}`, value));
      out[key] = value;
    }
    return out;
  }

  /** The machine with its profile's and [defaults]' settings filled in. */
  machine(
    name: string,
    own: Settings,
    inherited: readonly (Settings | undefined)[],
    meta: { origin: string; profile?: string },
  ): MachineConfig {
    // Lowest priority first: [defaults], the profile, the machine.
    const layers = [...inherited, own].filter((s): s is Settings => s !== undefined);
    const pick = <K extends keyof ProfileSettings>(key: K): ProfileSettings[K] => {
      let found: ProfileSettings[K] = undefined as ProfileSettings[K];
      for (const layer of layers) if (layer.values[key] !== undefined) found = layer.values[key];
      return found;
    };
    const overrides: Record<string, unknown> = {};
    let deployRootPath: string[] | undefined;
    for (const layer of layers) {
      Object.assign(overrides, layer.values.overrides);
      if (layer.deployRootPath) deployRootPath = layer.deployRootPath;
    }
    const machine = {
      name,
      host: own.host!,
      port: pick("port"),
      user: pick("user"),
      jump: pick("jump"),
      identity: pick("identity"),
      labels: Object.assign({}, ...layers.map((l) => l.values.labels)),
      profile: meta.profile,
      overrides: overrides as MachineOverrides,
      vars: Object.assign({}, ...layers.map((l) => l.values.vars)),
      origin: meta.origin,
    };
    if (machine.overrides.deployRoot !== undefined) {
      // A profile may say deploy_root = "/srv/{name}"; expanded per machine.
      const template = machine.overrides.deployRoot;
      const { deploy_root: _, ...values } = placeholderValues(machine);
      let expanded = template;
      try {
        expanded = expandWith(template, values, name, "word");
      } catch (e) {
        throw this.located(e, deployRootPath!);
      }
      if (!expanded.startsWith("/")) {
        throw new ProvctlError("InvalidConfig", "inventory.deploy_root_relative", {
          params: {
            location: this.#doc.locate(deployRootPath!),
            value: shown(template),
            machine: shown(name),
          },
        });
      }
      machine.overrides = { ...machine.overrides, deployRoot: expanded };
    }
    return deepFreeze(withoutUndefined(machine)) as MachineConfig;
  }
}

function unknownProfile(
  doc: TomlDocument,
  machinePath: readonly string[],
  profile: string,
  defined: readonly string[],
): ProvctlError {
  const suggestion = nearest(profile, defined);
  return new ProvctlError(
    "InvalidConfig",
    suggestion ? "inventory.unknown_profile_suggest" : "inventory.unknown_profile",
    {
      params: {
        location: doc.locate([...machinePath, "profile"]),
        machine: shown(machinePath[1]),
        profile: shown(profile),
        suggestion: suggestion === undefined ? undefined : shown(suggestion),
        defined: defined.length === 0 ? "none" : defined.join(", "),
      },
      hint: "inventory.hint_profiles",
    },
  );
}

/**
 * Entries of the table at `[key]` in the order they are written. JavaScript puts
 * integer-like keys ("10") first in objects, so such names are sorted by position.
 */
function inFileOrder(text: string, key: string, table: unknown): [string, unknown][] {
  if (!isTable(table)) return [];
  const entries = Object.entries(table);
  if (!entries.some(([name]) => /^(0|[1-9][0-9]*)$/.test(name))) return entries;
  const positions = keyPositions(text);
  const rank = (name: string) => {
    const p = positions.of([key, name]);
    return p ? p.line * 1e6 + p.column : Infinity;
  };
  return entries.sort((a, b) => rank(a[0]) - rank(b[0]));
}

/** Checks a host and returns it without IPv6 brackets. */
function checkHost(raw: string): string {
  const fail = (key: string, params: Record<string, string | number> = {}): never => {
    throw new ProvctlError("InvalidArgument", `inventory.${key}`, {
      params: { host: shown(raw), ...params },
      hint: "inventory.hint_host",
    });
  };
  let host = raw;
  if (host === "") fail("host_empty");
  if (host.length > HOST_MAX) fail("host_too_long", { length: host.length, max: HOST_MAX });
  if (host.includes("@")) fail("host_has_user");
  if (/^[^:]+:[0-9]*$/.test(host)) fail("host_has_port");
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const ipv6 = host.includes(":");
  const percent = host.indexOf("%");
  for (const [index, ch] of [...host].entries()) {
    const zone = ipv6 && percent >= 0 && index > percent;
    const ok = ipv6
      ? (zone ? HOSTNAME_CHAR.test(ch) : IPV6_CHAR.test(ch) || ch === "%")
      : HOSTNAME_CHAR.test(ch);
    if (!ok) {
      fail("host_bad_char", {
        char: ch === " " ? "a space" : shown(ch),
        position: index + 1 + (host === raw ? 0 : 1),
      });
    }
  }
  if (/^[-.]/.test(host)) fail("host_bad_start", { char: shown(host[0]) });
  if (host === "" || (ipv6 && percent === host.length - 1)) fail("host_empty");
  return host;
}

function checkUser(user: string): void {
  if (!USER.test(user) || user.length > USER_MAX) {
    throw new ProvctlError("InvalidArgument", "inventory.user_invalid", {
      params: { user: shown(user), max: USER_MAX },
    });
  }
}

/** Free text (paths, var values): not empty for paths, no control characters. */
function checkText(key: string, value: string): void {
  if (value === "" && !key.startsWith("vars.")) {
    throw new ProvctlError("InvalidArgument", "inventory.value_empty", { params: { key } });
  }
  if (CONTROL.test(value)) {
    throw new ProvctlError("InvalidArgument", "inventory.value_control", {
      params: { key, value: shown(value) },
    });
  }
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
