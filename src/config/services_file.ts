/**
 * The services file (./provctl.toml, or --file FILE): services declared as
 *
 *   [services.api]
 *   binary = "/usr/bin/python3"
 *   args = ["-m", "http.server", "8080"]
 *   env = { PORT = "8080" }
 *   env_file = "api.env"        # KEY=VALUE lines, relative to this file
 *   working_dir = "srv"         # relative to this file
 *   backend = "pidfile"         # auto | systemd | launchd | pidfile
 *   user = "www"
 *   stop_signal = "SIGINT"
 *   stop_timeout_ms = 5000
 *   restart = "on-failure"      # no | on-failure | always
 *   restart_delay_ms = 1000     # and restart_max_delay_ms, restart_max, restart_window_ms,
 *                               # min_uptime_ms (the pidfile backend's restart pacing)
 *   description = "API server"
 *
 * Every service becomes a ServiceDefinition. The env_file is read here, on the machine
 * running provctl, and merged under `env` (env wins), so the definition carries the
 * values and works the same on a remote host. Mistakes are reported with file:line:col.
 */
import { dirname, resolve } from "./_path.ts";
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import {
  defineService,
  RESTART_POLICIES,
  type ServiceDefinition,
} from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";
import { parseSignal, SIGNALS } from "../core/signals.ts";
import {
  coerce,
  displayKey,
  invalid,
  isTable,
  MAX_INTEGER,
  unknownKey,
  type ValueType,
  wrongType,
} from "./_check.ts";
import type { TomlDocument } from "./_toml_file.ts";
import type { LoadedConfig } from "./loader.ts";
import { embeddedMessages, Messages } from "./messages.ts";
import { KEY_CONSTRAINTS } from "./schema.ts";

export interface ServiceEntry {
  readonly definition: ServiceDefinition;
  /** `backend = "..."` of the service, if the file sets it. */
  readonly backend?: string;
  /** "file:line" of the service's table. */
  readonly origin: string;
}

export interface LoadServicesOptions {
  /** True for --file FILE (a missing file is an error); false for the default ./provctl.toml. */
  required: boolean;
  /**
   * Source of the defaults for keys a service leaves out (service.stop_signal,
   * timeouts.stop_ms, service.restart) and of the message catalog for errors.
   */
  defaults?: LoadedConfig;
}

const SERVICE_KEYS: Readonly<Record<string, ValueType | "table">> = {
  binary: "string",
  args: "string[]",
  env: "table",
  env_file: "string",
  working_dir: "string",
  backend: "string",
  user: "string",
  stop_signal: "string",
  stop_timeout_ms: "integer",
  restart: "string",
  restart_delay_ms: "integer",
  restart_max_delay_ms: "integer",
  restart_max: "integer",
  restart_window_ms: "integer",
  min_uptime_ms: "integer",
  description: "string",
};

/** Services file keys of the restart pacing, and their RestartBackoff fields. */
const BACKOFF_KEYS = {
  restart_delay_ms: "delayMs",
  restart_max_delay_ms: "maxDelayMs",
  restart_max: "max",
  restart_window_ms: "windowMs",
  min_uptime_ms: "minUptimeMs",
} as const;

const BACKENDS = KEY_CONSTRAINTS["general.backend"].oneOf!;

/** Reads and checks a services file; returns the services by name, in file order. */
export async function loadServicesFile(
  path: string,
  options: LoadServicesOptions,
): Promise<Map<ServiceName, ServiceEntry>> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path); // sync: every status reads it; a small file
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      if (!options.required) return new Map();
      throw new ProvctlError("InvalidConfig", "config.services_file_missing", { params: { path } });
    }
    throw new ProvctlError(
      e instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "InvalidConfig",
      "config.read_failed",
      { params: { path, reason: (e as Error).message }, cause: e },
    );
  }
  // The TOML parser loads only when there is a file (start-up of `status` without one).
  const { parseTomlDocument } = await import("./_toml_file.ts");
  const doc = parseTomlDocument(text, path);
  const baseDir = dirname(resolve(path));
  const messages = options.defaults?.messages ?? new Messages(embeddedMessages());
  const services = new Map<ServiceName, ServiceEntry>();

  for (const [name, raw] of Object.entries(doc.tree)) {
    // [deployments.NAME] tables are read by src/fleet/deploy/config.ts (loadDeployments).
    if (name !== "services" && name !== "deployments") {
      throw unknownKey([name], doc.locate([name]), ["services", "deployments"]);
    }
    if (!isTable(raw)) {
      throw wrongType(displayKey([name]), "table", raw, { location: doc.locate([name]) });
    }
  }
  const declared = (doc.tree.services ?? {}) as Record<string, unknown>;
  for (const [rawName, table] of Object.entries(declared)) {
    const path = ["services", rawName];
    const location = doc.locate(path);
    let name: ServiceName;
    try {
      name = parseServiceName(rawName);
    } catch (e) {
      throw located(e, location, messages);
    }
    if (!isTable(table)) throw wrongType(displayKey(path), "table", table, { location });
    const entry = await readService(doc, name, table, {
      baseDir,
      messages,
      defaults: options.defaults,
    });
    services.set(name, entry);
  }
  return services;
}

async function readService(
  doc: TomlDocument,
  name: ServiceName,
  table: Record<string, unknown>,
  context: { baseDir: string; messages: Messages; defaults?: LoadedConfig },
): Promise<ServiceEntry> {
  const prefix = ["services", name];
  const locate = (key: string) => doc.locate([...prefix, key]);
  const fullKey = (key: string) => displayKey([...prefix, key]);
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(table)) {
    const type = Object.hasOwn(SERVICE_KEYS, key) ? SERVICE_KEYS[key] : undefined;
    if (!type) {
      throw unknownKey(
        [...prefix, key],
        locate(key),
        Object.keys(SERVICE_KEYS).map((k) => [...prefix, k]),
        {
          hint: "config.hint_services_keys",
          params: { allowed: Object.keys(SERVICE_KEYS).join(", ") },
        },
      );
    }
    if (type === "table") {
      if (!isTable(raw)) throw wrongType(fullKey(key), "table", raw, { location: locate(key) });
      values[key] = raw;
      continue;
    }
    if (typeof raw === "bigint" && (raw < 0n || raw > BigInt(MAX_INTEGER))) {
      throw invalid("out_of_range", fullKey(key), { location: locate(key) }, {
        value: String(raw),
        range: raw < 0n ? ">= 0" : `<= ${MAX_INTEGER}`,
      });
    }
    const value = coerce(raw, type);
    if (value === undefined) throw wrongType(fullKey(key), type, raw, { location: locate(key) });
    values[key] = value;
  }

  const where = (key: string) => ({ location: locate(key) });
  const oneOf = (
    key: string,
    allowed: readonly string[],
    canonical?: (v: string) => string | undefined,
  ) => {
    const value = values[key] as string | undefined;
    if (value === undefined) return undefined;
    const result = canonical ? canonical(value) : value;
    if (result === undefined || !allowed.includes(result)) {
      throw invalid("not_allowed", fullKey(key), where(key), {
        value,
        allowed: allowed.join(", "),
      });
    }
    return result;
  };
  const backend = oneOf("backend", BACKENDS);
  const stopSignal = oneOf("stop_signal", Object.keys(SIGNALS), signalOrUndefined);
  const restart = oneOf("restart", RESTART_POLICIES);

  if (values.binary === undefined) {
    throw new ProvctlError("InvalidConfig", "config.service_binary_missing", {
      params: { location: doc.locate(prefix), service: name },
    });
  }

  // Builder errors (bad env name, empty binary) get the position of the key that caused them.
  const step = (key: string, apply: () => void) => {
    try {
      apply();
    } catch (e) {
      throw located(e, locate(key), context.messages);
    }
  };
  const builder = defineService(name);
  const d = context.defaults;
  if (d) {
    builder.stopSignal(d.string("service.stop_signal"))
      .stopTimeoutMs(d.integer("timeouts.stop_ms"))
      .restartPolicy(d.string("service.restart"));
  }
  step("binary", () => builder.binary(values.binary as string));
  if (values.args) builder.args(values.args as string[]);
  if (values.env_file !== undefined) {
    const file = resolve(context.baseDir, values.env_file as string);
    const fromFile = await readEnvFile(file, locate("env_file"));
    step("env_file", () => {
      for (const [k, v] of Object.entries(fromFile)) builder.env(k, v);
    });
  }
  for (const [k, v] of Object.entries((values.env ?? {}) as Record<string, unknown>)) {
    const location = doc.locate([...prefix, "env", k]);
    if (typeof v !== "string") {
      throw wrongType(displayKey([...prefix, "env", k]), "string", v, { location });
    }
    try {
      builder.env(k, v);
    } catch (e) {
      throw located(e, location, context.messages);
    }
  }
  if (values.working_dir !== undefined) {
    builder.workingDir(resolve(context.baseDir, values.working_dir as string));
  }
  if (values.user !== undefined) builder.user(values.user as string);
  if (stopSignal) builder.stopSignal(stopSignal);
  if (values.stop_timeout_ms !== undefined) builder.stopTimeoutMs(values.stop_timeout_ms as number);
  if (restart) builder.restartPolicy(restart);
  for (const [key, field] of Object.entries(BACKOFF_KEYS)) {
    if (values[key] !== undefined) {
      step(key, () => builder.restartBackoff({ [field]: values[key] as number }));
    }
  }
  if (values.description !== undefined) builder.description(values.description as string);

  return {
    definition: builder.build(),
    backend,
    origin: doc.origin(prefix),
  };
}

function signalOrUndefined(value: string): string | undefined {
  try {
    return parseSignal(value);
  } catch {
    return undefined;
  }
}

/**
 * Re-raises a validation error from core (service name, env name) as InvalidConfig
 * prefixed with the file position; its own message becomes the reason.
 */
function located(e: unknown, location: string, messages: Messages): unknown {
  if (!isProvctlError(e)) return e;
  const reason = messages.has(e.key) ? messages.format(e.key, e.params) : e.message;
  return new ProvctlError("InvalidConfig", "config.service_invalid", {
    params: { ...e.params, location, reason },
    hint: e.hint,
    cause: e,
  });
}

async function readEnvFile(file: string, location: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ProvctlError("InvalidConfig", "config.env_file_unreadable", {
      params: { location, path: file, reason: (e as Error).message },
      cause: e,
    });
  }
  return parseEnvFile(text, file);
}

const ENV_LINE = /^(?:export\s+)?([^=\s]+)\s*=\s*(.*)$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses KEY=VALUE lines: blank lines and `#` comments are skipped, `export ` is
 * allowed, values may be "double quoted" (with \n \t \" \\ escapes) or 'single quoted'
 * (literal); an unquoted value ends at ` #` (a comment). `file` is for errors.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [index, rawLine] of text.split(/\r?\n/).entries()) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;
    const lineNo = index + 1;
    const badLine = () =>
      new ProvctlError("InvalidConfig", "config.env_file_bad_line", {
        params: { file, line: lineNo, text: rawLine },
      });
    const match = ENV_LINE.exec(line);
    if (!match) throw badLine();
    const [, key, rest] = match;
    if (!ENV_KEY.test(key)) {
      throw new ProvctlError("InvalidConfig", "config.env_file_bad_key", {
        params: { file, line: lineNo, key },
      });
    }
    const value = parseEnvValue(rest);
    if (value === undefined) throw badLine();
    out[key] = value;
  }
  return out;
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", $: "$" };

/** The value part of a line; undefined if a quote does not close or text follows it. */
function parseEnvValue(rest: string): string | undefined {
  const quote = rest[0];
  if (quote === '"' || quote === "'") {
    let value = "";
    let i = 1;
    for (; i < rest.length && rest[i] !== quote; i++) {
      if (quote === '"' && rest[i] === "\\" && i + 1 < rest.length) {
        const next = rest[++i];
        value += ESCAPES[next] ?? `\\${next}`;
      } else {
        value += rest[i];
      }
    }
    if (i >= rest.length) return undefined;
    const after = rest.slice(i + 1).trim();
    return after === "" || after.startsWith("#") ? value : undefined;
  }
  return rest.replace(/\s+#.*$/, "").trim();
}
