/**
 * `[sources.NAME]` of machines.toml, checked: which provider, where its secret comes from
 * (an environment variable or a 0600 file, never the TOML), filters, which address to
 * connect to, the machine name template, cache lifetime, API URL and time limits. The
 * machine settings a source shares with profiles (profile, user, port, labels, ...) are
 * checked by the inventory (src/fleet/inventory.ts).
 */
import {
  coerce,
  displayKey,
  invalid,
  isTable,
  unknownKey,
  wrongType,
} from "../config/toml_document.ts";
import { ProvctlError } from "../core/errors.ts";
import type { SourceTable } from "../fleet/inventory.ts";
import {
  ADDRESS_KINDS,
  type AddressKind,
  isProviderKind,
  PROVIDER_KINDS,
  type ProviderKind,
} from "./provider.ts";

export interface SourceConfig {
  readonly name: string;
  readonly provider: ProviderKind;
  readonly tokenEnv?: string;
  readonly tokenFile?: string;
  /** UpCloud Basic auth: variables of the API user and password. */
  readonly usernameEnv?: string;
  readonly passwordEnv?: string;
  /** AWS: the ~/.aws/credentials profile (else AWS_PROFILE, else "default"). */
  readonly awsProfile?: string;
  /** AWS regions; [] = AWS_REGION / AWS_DEFAULT_REGION / us-east-1. */
  readonly regions: readonly string[];
  readonly filters: Readonly<Record<string, string>>;
  readonly connectWith: readonly AddressKind[];
  /** Template of machine names: {name} {id} {region} {provider} {source} {tag:KEY}. */
  readonly nameTemplate: string;
  readonly cacheTtlMs: number;
  readonly apiUrl?: string;
  readonly pageSize?: number;
  /** Per request. */
  readonly timeoutMs: number;
  /** Retries of a request after 429, 5xx, a timeout or a network error. */
  readonly retries: number;
  /** The whole fetch (all pages, regions, retries); 0 = none; unset = [discovery] deadline_ms. */
  readonly deadlineMs?: number;
  readonly table: SourceTable;
}

export const DEFAULT_CONNECT_WITH: readonly AddressKind[] = [
  "public_ipv4",
  "private_ipv4",
  "public_ipv6",
];
export const DEFAULT_CACHE_TTL_MS = 5 * 60_000;
export const DEFAULT_TIMEOUT_MS = 15_000;
/** A source's overall limit when neither it nor [discovery] deadline_ms says. */
export const DEFAULT_DEADLINE_MS = 60_000;

const OPTION_TYPES: Readonly<Record<string, "string" | "string[]" | "table" | "integer">> = {
  provider: "string",
  token_env: "string",
  token_file: "string",
  username_env: "string",
  password_env: "string",
  aws_profile: "string",
  region: "string",
  regions: "string[]",
  filters: "table",
  connect_with: "string[]",
  name: "string",
  cache_ttl: "string",
  api_url: "string",
  page_size: "integer",
  timeout: "string",
  deadline: "string",
  retries: "integer",
};
/** Keys that would put a secret in the TOML: refused with a pointer to token_env. */
const SECRET_KEYS = new Set([
  "token",
  "api_token",
  "api_key",
  "password",
  "secret",
  "aws_access_key_id",
  "aws_secret_access_key",
  "aws_session_token",
]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const REGION = /^[a-z0-9-]{1,64}$/;

/** True for a plausible AWS region name (it goes into the API's host name). */
export function isRegionName(value: string): boolean {
  return REGION.test(value);
}
const FILTER_KEY = /^[A-Za-z0-9_.:\/-]{1,128}$/;
const PLACEHOLDER = /\{(id|name|region|provider|source|tag:[^{}]+)\}/g;

/** The checked sources of an inventory; errors are InvalidConfig at the offending key. */
export function readSources(
  tables: readonly SourceTable[],
  filterKeys: (provider: ProviderKind) => readonly string[],
  maxPageSize: (provider: ProviderKind) => number,
): SourceConfig[] {
  return tables.map((table) => readSource(table, filterKeys, maxPageSize));
}

function readSource(
  table: SourceTable,
  filterKeys: (provider: ProviderKind) => readonly string[],
  maxPageSize: (provider: ProviderKind) => number,
): SourceConfig {
  const where = (key: string, ...rest: string[]) => ({ location: table.locate([key, ...rest]) });
  const full = (key: string, ...rest: string[]) =>
    displayKey(["sources", table.name, key, ...rest]);
  const values: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(table.options)) {
    if (SECRET_KEYS.has(key.toLowerCase())) {
      throw new ProvctlError("InvalidConfig", "discovery.secret_in_toml", {
        params: { location: table.locate([key]), key: full(key) },
        hint: "discovery.secret_hint",
      });
    }
    const type = OPTION_TYPES[key];
    if (!type) {
      throw unknownKey(
        ["sources", table.name, key],
        table.locate([key]),
        [
          ...Object.keys(OPTION_TYPES),
          "profile",
          "labels",
          "user",
          "port",
          "identity",
          "jump",
          "vars",
        ].map((k) => ["sources", table.name, k]),
        {
          hint: "discovery.hint_source_keys",
          params: { allowed: Object.keys(OPTION_TYPES).join(", ") },
        },
      );
    }
    if (type === "table") {
      if (!isTable(raw)) throw wrongType(full(key), "table", raw, where(key));
      values[key] = raw;
      continue;
    }
    const value = coerce(raw, type);
    if (value === undefined) throw wrongType(full(key), type, raw, where(key));
    values[key] = value;
  }
  const s = (key: string) => values[key] as string | undefined;

  const provider = s("provider");
  if (provider === undefined) {
    throw new ProvctlError("InvalidConfig", "discovery.provider_missing", {
      params: {
        location: table.locate([]),
        source: table.name,
        allowed: PROVIDER_KINDS.join(", "),
      },
    });
  }
  if (!isProviderKind(provider)) {
    throw invalid("not_allowed", full("provider"), where("provider"), {
      value: provider,
      allowed: PROVIDER_KINDS.join(", "),
    });
  }
  for (const key of ["token_env", "username_env", "password_env"]) {
    const name = s(key);
    if (name !== undefined && !ENV_NAME.test(name)) {
      throw new ProvctlError("InvalidConfig", "discovery.env_name_invalid", {
        params: { location: table.locate([key]), key: full(key), value: JSON.stringify(name) },
        hint: "discovery.secret_hint",
      });
    }
  }
  if (s("token_env") !== undefined && s("token_file") !== undefined) {
    throw new ProvctlError("InvalidConfig", "discovery.token_both", {
      params: { location: table.locate(["token_file"]), source: table.name },
    });
  }
  if (provider !== "aws") {
    for (const key of ["aws_profile", "region", "regions"]) {
      if (values[key] !== undefined) throw onlyFor(table, key, "aws");
    }
  }
  if (provider !== "upcloud") {
    for (const key of ["username_env", "password_env"]) {
      if (values[key] !== undefined) throw onlyFor(table, key, "upcloud");
    }
  }
  const regions = [
    ...(values.regions as string[] | undefined ?? []),
    ...(s("region") ? [s("region")!] : []),
  ];
  for (const [i, region] of regions.entries()) {
    if (!REGION.test(region)) {
      throw new ProvctlError("InvalidConfig", "discovery.region_invalid", {
        params: {
          location: table.locate(
            values.regions && i < (values.regions as string[]).length ? ["regions"] : ["region"],
          ),
          value: JSON.stringify(region),
        },
      });
    }
  }

  const filters: Record<string, string> = {};
  const allowedFilters = filterKeys(provider);
  for (const [key, raw] of Object.entries((values.filters as Record<string, unknown>) ?? {})) {
    const known = allowedFilters.includes("*")
      ? FILTER_KEY.test(key)
      : key === "status" || allowedFilters.includes(key);
    if (!known) {
      throw unknownKey(
        ["sources", table.name, "filters", key],
        table.locate(["filters", key]),
        [
          ...allowedFilters,
          "status",
        ].map((k) => ["sources", table.name, "filters", k]),
        {
          hint: "discovery.hint_filters",
          params: { provider, allowed: [...allowedFilters, "status"].join(", ") },
        },
      );
    }
    if (typeof raw !== "string") {
      throw wrongType(full("filters", key), "string", raw, where("filters", key));
    }
    filters[key] = raw;
  }

  const connectWith = (values.connect_with as string[] | undefined) ?? [...DEFAULT_CONNECT_WITH];
  if (connectWith.length === 0) {
    throw invalid("not_allowed", full("connect_with"), where("connect_with"), {
      value: "[]",
      allowed: ADDRESS_KINDS.join(", "),
    });
  }
  for (const kind of connectWith) {
    if (!(ADDRESS_KINDS as readonly string[]).includes(kind)) {
      throw invalid("not_allowed", full("connect_with"), where("connect_with"), {
        value: kind,
        allowed: ADDRESS_KINDS.join(", "),
      });
    }
  }

  const nameTemplate = s("name") ?? "{name}";
  const leftover = nameTemplate.replace(PLACEHOLDER, "");
  if (/[{}]/.test(leftover) || !PLACEHOLDER.test(nameTemplate)) {
    throw new ProvctlError("InvalidConfig", "discovery.name_template_invalid", {
      params: { location: table.locate(["name"]), value: JSON.stringify(nameTemplate) },
      hint: "discovery.name_template_hint",
    });
  }
  PLACEHOLDER.lastIndex = 0;

  const apiUrl = s("api_url");
  if (apiUrl !== undefined) {
    let ok = false;
    try {
      const url = new URL(apiUrl.replaceAll("{region}", "r"));
      ok = (url.protocol === "https:" || url.protocol === "http:") && url.username === "" &&
        url.password === "";
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new ProvctlError("InvalidConfig", "discovery.api_url_invalid", {
        params: { location: table.locate(["api_url"]), value: JSON.stringify(apiUrl) },
      });
    }
  }
  const pageSize = values.page_size as number | undefined;
  const max = maxPageSize(provider);
  if (pageSize !== undefined && (pageSize < 1 || pageSize > max)) {
    throw invalid("out_of_range", full("page_size"), where("page_size"), {
      value: pageSize,
      range: `1..${max}`,
    });
  }
  const retries = values.retries as number | undefined;
  if (retries !== undefined && (retries < 0 || retries > 10)) {
    throw invalid("out_of_range", full("retries"), where("retries"), {
      value: retries,
      range: "0..10",
    });
  }
  return Object.freeze({
    name: table.name,
    retries: retries ?? 3,
    provider,
    tokenEnv: s("token_env"),
    tokenFile: s("token_file"),
    usernameEnv: s("username_env"),
    passwordEnv: s("password_env"),
    awsProfile: s("aws_profile"),
    regions,
    filters,
    connectWith: connectWith as AddressKind[],
    nameTemplate,
    cacheTtlMs: duration(table, "cache_ttl", s("cache_ttl"), DEFAULT_CACHE_TTL_MS),
    apiUrl,
    pageSize,
    timeoutMs: duration(table, "timeout", s("timeout"), DEFAULT_TIMEOUT_MS),
    deadlineMs: s("deadline") === undefined
      ? undefined
      : duration(table, "deadline", s("deadline"), DEFAULT_DEADLINE_MS),
    table,
  });
}

function onlyFor(table: SourceTable, key: string, provider: string): ProvctlError {
  return new ProvctlError("InvalidConfig", "discovery.key_only_for", {
    params: { location: table.locate([key]), key, provider },
  });
}

/** "90s", "5m", "1h", "0" -> ms. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"]!;
  if (m[1] !== "0" && m[2] === undefined) return undefined;
  return Number(m[1]) * unit;
}

function duration(table: SourceTable, key: string, text: string | undefined, fallback: number) {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) {
    throw new ProvctlError("InvalidConfig", "discovery.duration_invalid", {
      params: { location: table.locate([key]), key, value: JSON.stringify(text) },
    });
  }
  return ms;
}
