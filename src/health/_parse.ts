/**
 * Health check definitions from TOML-shaped plain objects (a `[deployments.X.health]`
 * table, an inventory's health table, or a `[health.scripts]` table), checked key by
 * key so a mistake is reported with its location and what to write instead.
 */
import { ProvctlError } from "../core/errors.ts";
import type {
  CheckOrigin,
  CommandCheck,
  CustomCheck,
  HealthCheck,
  HealthScript,
  HttpCheck,
  StatusRange,
  TcpCheck,
} from "./_types.ts";

export interface ParseHealthCheckOptions {
  /** The named scripts `type = "custom"` checks may use (from parseHealthScripts). */
  readonly scripts?: ReadonlyMap<string, HealthScript>;
}

const CHECK_TYPES = ["command", "http", "tcp", "custom"] as const;

const KEYS: Readonly<Record<HealthCheck["type"], readonly string[]>> = {
  command: ["type", "timeout_ms", "program", "args", "env", "cwd"],
  http: [
    "type",
    "timeout_ms",
    "url",
    "from",
    "method",
    "status",
    "headers",
    "body_contains",
    "body_regex",
    "tls_insecure",
    "ca_file",
  ],
  tcp: ["type", "timeout_ms", "address", "host", "port", "from"],
  custom: ["type", "timeout_ms", "script", "args"],
};
const SCRIPT_KEYS = ["program", "args", "env", "cwd"];

/** RFC 9110 token characters, the only ones a header name may have. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Keys of a script table in [health.scripts]: the same rules as service names, roughly. */
const SCRIPT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function fail(key: string, params: Record<string, string | number>): ProvctlError {
  return new ProvctlError("InvalidConfig", `health.${key}`, { params });
}

function isPlainTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    [null, Object.prototype].includes(Object.getPrototypeOf(value));
}

/** TOML's name for the type of a parsed value, for "found X". */
function typeName(value: unknown): string {
  if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) {
    return "integer";
  }
  if (typeof value === "number") return "float";
  if (typeof value === "string" || typeof value === "boolean") return typeof value;
  if (Array.isArray(value)) return "array";
  if (isPlainTable(value)) return "table";
  return "date-time";
}

/** Reads the keys of one table with the right types, or throws naming the key. */
class Reader {
  constructor(
    readonly table: Record<string, unknown>,
    readonly location: string,
  ) {}

  #wrong(key: string, expected: string): ProvctlError {
    return fail("wrong_type", {
      location: this.location,
      key,
      expected,
      found: typeName(this.table[key]),
    });
  }

  has(key: string): boolean {
    return this.table[key] !== undefined;
  }

  string(key: string, options: { required?: string } = {}): string | undefined {
    const value = this.table[key];
    if (value === undefined) {
      if (options.required) {
        throw fail("missing_key", { location: this.location, type: options.required, key });
      }
      return undefined;
    }
    if (typeof value !== "string") throw this.#wrong(key, "a string");
    if (value === "") throw fail("empty_value", { location: this.location, key });
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.table[key];
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") throw this.#wrong(key, "true or false");
    return value;
  }

  integer(key: string): number | undefined {
    const value = this.table[key];
    if (value === undefined) return undefined;
    if (typeof value === "bigint") {
      return value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number.MAX_SAFE_INTEGER
        : Number(value);
    }
    if (typeof value === "number" && Number.isInteger(value)) return value;
    throw this.#wrong(key, "an integer");
  }

  strings(key: string): string[] | undefined {
    const value = this.table[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      throw this.#wrong(key, "an array of strings");
    }
    return [...value];
  }

  stringTable(key: string): Record<string, string> | undefined {
    const value = this.table[key];
    if (value === undefined) return undefined;
    if (!isPlainTable(value) || !Object.values(value).every((v) => typeof v === "string")) {
      throw this.#wrong(key, "a table of strings");
    }
    return { ...value } as Record<string, string>;
  }

  onlyKeys(allowed: readonly string[], type: string): void {
    for (const key of Object.keys(this.table)) {
      if (!allowed.includes(key)) {
        throw fail("unknown_key", {
          location: this.location,
          key,
          type,
          allowed: allowed.join(", "),
        });
      }
    }
  }
}

/**
 * Checks one health check table and returns its definition. `location` names where
 * the table is, for errors (e.g. "deploy.toml:12 [deployments.web.health]").
 */
export function parseHealthCheck(
  value: unknown,
  location: string,
  options: ParseHealthCheckOptions = {},
): HealthCheck {
  if (!isPlainTable(value)) {
    throw fail("check_not_table", { location, found: typeName(value) });
  }
  const reader = new Reader(value, location);
  if (value.type === undefined) throw fail("type_missing", { location });
  const type = reader.string("type")!;
  if (!(CHECK_TYPES as readonly string[]).includes(type)) {
    throw fail("unknown_type", { location, value: type, allowed: CHECK_TYPES.join(", ") });
  }
  const checkType = type as HealthCheck["type"];
  reader.onlyKeys(KEYS[checkType], checkType);
  const timeoutMs = reader.integer("timeout_ms");
  if (timeoutMs !== undefined && timeoutMs < 1) {
    throw fail("bad_timeout", { location, value: timeoutMs });
  }
  const base = timeoutMs === undefined ? {} : { timeoutMs };
  switch (checkType) {
    case "command":
      return { type: "command", ...base, ...readProgram(reader, "command") } as CommandCheck;
    case "http":
      return { ...base, ...readHttp(reader) };
    case "tcp":
      return { ...base, ...readTcp(reader) };
    case "custom":
      return { ...base, ...readCustom(reader, options.scripts) };
  }
}

/**
 * Checks a `[health.scripts]` table: script name -> { program, args, env, cwd }.
 * `location` names the table, for errors.
 */
export function parseHealthScripts(value: unknown, location: string): Map<string, HealthScript> {
  if (!isPlainTable(value)) throw fail("scripts_not_table", { location, found: typeName(value) });
  const scripts = new Map<string, HealthScript>();
  for (const [name, table] of Object.entries(value)) {
    const where = `${location} (script ${name})`;
    if (!SCRIPT_NAME.test(name)) throw fail("bad_script_name", { location, name });
    if (!isPlainTable(table)) throw fail("script_not_table", { location: where, name });
    const reader = new Reader(table, where);
    reader.onlyKeys(SCRIPT_KEYS, "script");
    scripts.set(name, readProgram(reader, "script"));
  }
  return scripts;
}

function readProgram(reader: Reader, type: string): HealthScript {
  const program = reader.string("program", { required: type })!;
  const args = reader.strings("args") ?? [];
  const env = reader.stringTable("env");
  for (const key of Object.keys(env ?? {})) {
    if (!ENV_KEY.test(key)) throw fail("bad_env_key", { location: reader.location, key });
  }
  const cwd = reader.string("cwd");
  return {
    program,
    args,
    ...(env ? { env } : {}),
    ...(cwd ? { cwd } : {}),
  };
}

function readOrigin(reader: Reader): CheckOrigin {
  const from = reader.string("from") ?? "controller";
  if (from !== "controller" && from !== "remote") {
    throw fail("bad_from", { location: reader.location, value: from });
  }
  return from;
}

function readHttp(reader: Reader): HttpCheck {
  const location = reader.location;
  const url = reader.string("url", { required: "http" })!;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch { /* reported below */ }
  if (
    !parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || !parsed.hostname
  ) {
    throw fail("bad_url", { location, value: url });
  }
  const method = (reader.string("method") ?? "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") throw fail("bad_method", { location, value: method });
  const headers = reader.stringTable("headers") ?? {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || /[\r\n\0]/.test(value)) {
      throw fail("bad_header", { location, name });
    }
  }
  const bodyContains = reader.string("body_contains");
  const bodyRegex = reader.string("body_regex");
  if (bodyRegex !== undefined) {
    try {
      new RegExp(bodyRegex);
    } catch (e) {
      throw fail("bad_regex", { location, value: bodyRegex, reason: (e as Error).message });
    }
  }
  if (method === "HEAD" && (bodyContains !== undefined || bodyRegex !== undefined)) {
    throw fail("body_with_head", { location });
  }
  const tlsInsecure = reader.boolean("tls_insecure") ?? false;
  const caFile = reader.string("ca_file");
  if ((tlsInsecure || caFile) && parsed.protocol !== "https:") {
    throw fail("tls_without_https", { location, value: url });
  }
  if (tlsInsecure && caFile) throw fail("tls_conflict", { location });
  return {
    type: "http",
    url: parsed.href,
    from: readOrigin(reader),
    method,
    status: readStatus(reader),
    headers,
    ...(bodyContains !== undefined ? { bodyContains } : {}),
    ...(bodyRegex !== undefined ? { bodyRegex } : {}),
    tlsInsecure,
    ...(caFile ? { caFile } : {}),
  };
}

/** status = 200 | "200" | "200-399" | "2xx" | [200, 399]; default 200-399. */
function readStatus(reader: Reader): StatusRange {
  const raw = reader.table.status;
  if (raw === undefined) return { min: 200, max: 399 };
  const shown = Array.isArray(raw) ? `[${raw.join(", ")}]` : String(raw);
  const bad = () => fail("bad_status", { location: reader.location, value: shown });
  let range: StatusRange | undefined;
  if (typeof raw === "bigint" || typeof raw === "number") {
    range = { min: Number(raw), max: Number(raw) };
  } else if (typeof raw === "string") {
    const text = raw.trim();
    let m: RegExpMatchArray | null;
    if ((m = text.match(/^(\d{3})$/))) range = { min: +m[1], max: +m[1] };
    else if ((m = text.match(/^(\d{3})\s*-\s*(\d{3})$/))) range = { min: +m[1], max: +m[2] };
    else if ((m = text.match(/^([1-5])xx$/i))) range = { min: +m[1] * 100, max: +m[1] * 100 + 99 };
  } else if (Array.isArray(raw) && raw.length === 2) {
    const [a, b] = raw;
    if (
      (typeof a === "bigint" || typeof a === "number") &&
      (typeof b === "bigint" || typeof b === "number")
    ) {
      range = { min: Number(a), max: Number(b) };
    }
  }
  if (
    !range || !Number.isInteger(range.min) || !Number.isInteger(range.max) ||
    range.min < 100 || range.max > 599 || range.min > range.max
  ) {
    throw bad();
  }
  return range;
}

function readTcp(reader: Reader): TcpCheck {
  const location = reader.location;
  const address = reader.string("address");
  let host: string | undefined;
  let port: number | undefined;
  if (address !== undefined) {
    if (reader.has("host") || reader.has("port")) throw fail("address_and_host", { location });
    const m = address.match(/^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/) ??
      address.match(/^([^\s:\[\]]+):(\d{1,5})$/);
    if (!m) throw fail("bad_address", { location, value: address });
    host = m[1];
    port = Number(m[2]);
  } else {
    host = reader.string("host", { required: "tcp" });
    if (!reader.has("port")) throw fail("missing_key", { location, type: "tcp", key: "port" });
    port = reader.integer("port");
  }
  // A host starting with "-" would read as an option to nc on the remote side.
  if (/\s/.test(host!) || host!.startsWith("-")) throw fail("bad_host", { location, value: host! });
  if (port === undefined || port < 1 || port > 65535) {
    throw fail("bad_port", { location, value: String(port) });
  }
  return { type: "tcp", host: host!, port, from: readOrigin(reader) };
}

function readCustom(
  reader: Reader,
  scripts: ReadonlyMap<string, HealthScript> | undefined,
): CustomCheck {
  const location = reader.location;
  const name = reader.string("script", { required: "custom" })!;
  const extra = reader.strings("args") ?? [];
  if (!scripts || scripts.size === 0) throw fail("no_scripts", { location, script: name });
  const script = scripts.get(name);
  if (!script) {
    throw fail("unknown_script", { location, script: name, known: [...scripts.keys()].join(", ") });
  }
  return { type: "custom", script: name, ...script, args: [...script.args, ...extra] };
}
