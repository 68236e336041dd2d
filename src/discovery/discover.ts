/**
 * Discovery as the rest of provctl sees it: read the `[sources.*]` of an inventory, get
 * each source's machines (from its cache while fresh, else from the provider; all sources
 * in parallel), and merge them into the inventory next to the machines of the file.
 *
 * A source that fails does not empty the others: its last cached machines are used and
 * marked stale, or, with no cache, it contributes none; the result says which (callers
 * warn, and fleet commands refuse stale machines unless --allow-stale).
 */
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import type { Inventory, MachineConfig, SourceTable } from "../fleet/inventory.ts";
import { ApiClient } from "./_http.ts";
import { credentialsFor, defaultRegions } from "./_credentials.ts";
import { accountOf, fingerprint, readCache, writeCache } from "./cache.ts";
import { type Credentials, type MachineRecord, type Provider, PROVIDER_INFO } from "./provider.ts";
import { loadProvider } from "./_registry.ts";
import { tooManyPages } from "./_util.ts";
import { startTimer } from "../core/timer.ts";
import { DEFAULT_DEADLINE_MS, readSources, type SourceConfig } from "./sources.ts";
import { cleanName, type Note, tagsToLabels } from "./tag_labels.ts";

/** A provider that never stops paging (broken or hostile) is cut off here. */
const MAX_PAGES = 10_000;

/** fresh: fetched now; cached: from a cache younger than cache_ttl; stale: fetch failed,
 * older cache used; failed: fetch failed and nothing cached. */
export type SourceState = "fresh" | "cached" | "stale" | "failed";

/** use: cache while fresh; refresh: always fetch (fall back to the cache on failure);
 * off: always fetch, never read or write the cache. */
export type CacheMode = "use" | "refresh" | "off";

export interface SourceResult {
  readonly source: SourceConfig;
  readonly state: SourceState;
  readonly records: readonly MachineRecord[];
  /** When the records were fetched (ISO 8601). */
  readonly fetchedAt?: string;
  /** Why fetching failed (stale and failed). */
  readonly error?: unknown;
  readonly pages: number;
  readonly requests: number;
  readonly durationMs: number;
}

export interface DiscoverOptions {
  readonly stateDir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly home?: string;
  readonly cache: CacheMode;
  /** Only these sources (by name); others are not fetched. */
  readonly only?: readonly string[];
  readonly onRetry?: (
    source: string,
    info: { url: string; status: string; attempt: number; delayMs: number },
  ) => void;
  readonly now?: () => number;
  /** Pages read per source before giving up (default MAX_PAGES). */
  readonly maxPages?: number;
  /** A source's whole fetch, unless it sets its own `deadline` ([discovery] deadline_ms;
   * default DEFAULT_DEADLINE_MS; 0 = no limit). */
  readonly deadlineMs?: number;
}

/** A note about one machine of a source; `error` is why it was skipped, if it was. */
export interface SourceNote extends Note {
  readonly source: string;
  readonly error?: unknown;
}

export interface Discovered {
  readonly inventory: Inventory;
  readonly results: readonly SourceResult[];
  /** Per source: tag/name/address changes and skipped machines (for -v). */
  readonly notes: readonly SourceNote[];
}

/** The checked sources of `inventory` (InvalidConfig at the offending key). */
export function sourcesOf(inventory: Inventory): SourceConfig[] {
  return readSources(
    inventory.sources ?? [],
    (p) => PROVIDER_INFO[p].filterKeys,
    (p) => PROVIDER_INFO[p].maxPageSize,
  );
}

/** Discovers every source (or `options.only`) and merges the machines into `inventory`. */
export async function discoverInventory(
  inventory: Inventory,
  options: DiscoverOptions,
): Promise<Discovered> {
  let sources = sourcesOf(inventory);
  if (options.only !== undefined) {
    for (const name of options.only) {
      if (!sources.some((s) => s.name === name)) {
        throw new ProvctlError("NotFound", "discovery.source_unknown", {
          params: {
            source: JSON.stringify(name),
            known: sources.length === 0 ? "none" : sources.map((s) => s.name).join(", "),
          },
          hint: "discovery.source_unknown_hint",
        });
      }
    }
    sources = sources.filter((s) => options.only!.includes(s.name));
  }
  const results = await Promise.all(sources.map((s) => discoverSource(s, options)));
  // A cache others could have written is not a provider outage: stop, whatever the flags.
  const unsafe = results.find((r) =>
    isProvctlError(r.error) && r.error.key === "discovery.cache_unsafe"
  );
  if (unsafe) throw unsafe.error;
  return mergeDiscovered(inventory, results);
}

/** One source's records: cache, provider, or stale cache, as described above. */
export async function discoverSource(
  source: SourceConfig,
  options: DiscoverOptions,
): Promise<SourceResult> {
  const now = options.now ?? Date.now;
  const started = performance.now();
  let regions: readonly string[] = [];
  const done = (r: Omit<SourceResult, "source" | "durationMs">): SourceResult => ({
    source,
    durationMs: performance.now() - started,
    ...r,
  });
  let key = "";
  let provider: Provider;
  // The credentials are looked up before the cache is read, so that a cache written for
  // another account (a switched token or AWS profile) is never served. Without any, the
  // cache is served as written (by this user: its directory is private); the error is
  // the fetch's.
  let credentials: Credentials | undefined;
  let credentialsError: unknown;
  let account: string | undefined;
  try {
    if (source.provider === "aws") {
      regions = source.regions.length > 0 ? source.regions : defaultRegions(options.env);
    }
    key = await fingerprint(source, regions);
    provider = await loadProvider(source.provider);
    try {
      credentials = await credentialsFor(source, provider, options);
      account = await accountOf(credentials);
    } catch (error) {
      credentialsError = error;
    }
    if (options.cache === "use") {
      const entry = await readCache(options.stateDir, source.name, key, account);
      // An entry dated ahead of now (written while the clock was ahead) is not fresh:
      // it would otherwise be served until the clock catches up, months perhaps.
      const age = entry ? now() - Date.parse(entry.fetched_at) : -1;
      if (entry && age >= 0 && age < source.cacheTtlMs) {
        return done({
          state: "cached",
          records: entry.records,
          fetchedAt: entry.fetched_at,
          pages: 0,
          requests: 0,
        });
      }
    }
  } catch (error) {
    return done({ state: "failed", records: [], error, pages: 0, requests: 0 });
  }
  let http: ApiClient | undefined;
  let pages = 0;
  const deadline = deadlineOf(source, options);
  try {
    if (credentials === undefined) throw credentialsError;
    const secrets = credentials.kind === "token"
      ? [credentials.token]
      : credentials.kind === "basic"
      ? [credentials.password, btoa(`${credentials.user}:${credentials.password}`)]
      : [credentials.secretAccessKey, credentials.sessionToken ?? ""];
    http = new ApiClient({
      source: source.name,
      provider: source.provider,
      variable: credentials.variable,
      secrets,
      timeoutMs: source.timeoutMs,
      retries: source.retries,
      onRetry: options.onRetry && ((info) => options.onRetry!(source.name, info)),
      signal: deadline.signal,
    });
    const records: MachineRecord[] = [];
    const maxPages = options.maxPages ?? MAX_PAGES;
    for await (
      const page of provider.list({
        apiUrl: source.apiUrl ?? provider.defaultApiUrl,
        credentials,
        filters: source.filters,
        regions,
        pageSize: source.pageSize,
        maxPages,
        http,
      })
    ) {
      pages++;
      records.push(...page);
      if (pages > maxPages) throw tooManyPages(source.name, source.provider, maxPages);
      deadline.signal?.throwIfAborted();
    }
    deadline.signal?.throwIfAborted();
    const wanted = statusFilter(source);
    const kept = wanted ? records.filter((r) => wanted.includes(r.status.toLowerCase())) : records;
    const fetchedAt = new Date(now()).toISOString();
    if (options.cache !== "off") {
      await writeCache(options.stateDir, {
        version: 1,
        source: source.name,
        fingerprint: key,
        account,
        fetched_at: fetchedAt,
        records: kept,
      });
    }
    return done({ state: "fresh", records: kept, fetchedAt, pages, requests: http.requests });
  } catch (error) {
    const requests = http?.requests ?? 0;
    if (options.cache !== "off" && !isProvctlError(error, "PermissionDenied")) {
      const entry = await readCache(options.stateDir, source.name, key, account)
        .catch(() => undefined);
      if (entry) {
        return done({
          state: "stale",
          records: entry.records,
          fetchedAt: entry.fetched_at,
          error,
          pages,
          requests,
        });
      }
    }
    return done({ state: "failed", records: [], error, pages, requests });
  } finally {
    deadline.clear();
  }
}

/**
 * The signal of a source's overall deadline (none for 0): aborted with the error the
 * source fails with, so the request in flight is cancelled and says why.
 */
function deadlineOf(
  source: SourceConfig,
  options: DiscoverOptions,
): { signal?: AbortSignal; clear: () => void } {
  const ms = source.deadlineMs ?? options.deadlineMs ?? DEFAULT_DEADLINE_MS;
  if (ms <= 0) return { clear: () => {} };
  const controller = new AbortController();
  const error = new ProvctlError("Timeout", "discovery.deadline", {
    params: { source: source.name, provider: source.provider, limit: shownDuration(ms) },
    hint: "discovery.deadline_hint",
  });
  // Not setTimeout: its first use loads Node's timers (core/timer.ts says why).
  const clear = startTimer(ms, () => controller.abort(error));
  return { signal: controller.signal, clear };
}

/** 60000 -> "60 s", 1500 -> "1500 ms". */
function shownDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function statusFilter(source: SourceConfig): string[] | undefined {
  const value = source.filters.status;
  if (value === undefined) return undefined;
  return value.split(",").map((v) => v.trim().toLowerCase()).filter((v) => v !== "");
}

/** What one record becomes: the machine's name, address and labels, or why it is skipped. */
export function machineOf(
  source: SourceConfig,
  record: MachineRecord,
  options: { stale?: boolean } = {},
): { machine?: MachineConfig; notes: SourceNote[] } {
  const notes: SourceNote[] = [];
  const who = { source: source.name, provider: source.provider, id: JSON.stringify(record.id) };
  const { labels, notes: labelNotes } = tagsToLabels(record.tags);
  for (const note of labelNotes) {
    notes.push({ source: source.name, key: note.key, params: { ...who, ...note.params } });
  }
  const raw = expandName(source, record);
  let name = cleanName(raw, 64);
  if (name === "") name = cleanName(`${source.provider}-${record.id}`, 64);
  if (name !== raw) {
    notes.push({
      source: source.name,
      key: "discovery.note_name_changed",
      params: { ...who, raw: JSON.stringify(raw), name },
    });
  }
  const kind = source.connectWith.find((k) => record.addresses[k] !== undefined);
  if (kind === undefined) {
    notes.push({
      source: source.name,
      key: "discovery.note_no_address",
      params: { ...who, name, connect_with: source.connectWith.join(", ") },
    });
    return { notes };
  }
  try {
    const machine = source.table.machine({
      name,
      host: record.addresses[kind]!,
      labels,
      stale: options.stale,
    });
    return { machine, notes };
  } catch (error) {
    if (!isProvctlError(error)) throw error;
    notes.push({
      source: source.name,
      key: "discovery.note_skipped",
      params: { ...who, name },
      error,
    });
    return { notes };
  }
}

/** `name` with {id} {name} {region} {provider} {source} {tag:KEY} filled in. */
function expandName(source: SourceConfig, record: MachineRecord): string {
  return source.nameTemplate.replace(
    /\{(id|name|region|provider|source|tag:[^{}]+)\}/g,
    (_, p: string) => {
      if (p.startsWith("tag:")) {
        const key = p.slice(4);
        return record.tags.find((t) => t.key === key)?.value ?? "";
      }
      return {
        id: record.id,
        name: record.name,
        region: record.region,
        provider: source.provider,
        source: source.name,
      }[p] ?? "";
    },
  );
}

/**
 * The inventory with the machines of `results` after those of the file (in source order);
 * two machines whose names differ only in case are an InvalidConfig error naming both.
 */
export function mergeDiscovered(
  inventory: Inventory,
  results: readonly SourceResult[],
): Discovered {
  const machines: MachineConfig[] = [...inventory.machines];
  const where = new Map<string, string>();
  for (const m of inventory.machines) where.set(m.name.toLowerCase(), m.origin);
  const notes: SourceNote[] = [];
  for (const result of results) {
    for (const record of result.records) {
      const { machine, notes: found } = machineOf(result.source, record, {
        stale: result.state === "stale",
      });
      notes.push(...found);
      if (!machine) continue;
      const here = `source ${result.source.name} (${result.source.provider} id ${
        JSON.stringify(record.id)
      })`;
      const clash = where.get(machine.name.toLowerCase());
      if (clash !== undefined) {
        throw new ProvctlError("InvalidConfig", "discovery.duplicate_name", {
          params: {
            name: JSON.stringify(machine.name),
            first: clash,
            second: here,
            source: result.source.name,
          },
          hint: "discovery.duplicate_name_hint",
        });
      }
      where.set(machine.name.toLowerCase(), here);
      machines.push(machine);
    }
  }
  return { inventory: { ...inventory, machines }, results, notes };
}

/** The source table a name refers to (for `discover`). */
export function findSourceTable(inventory: Inventory, name: string): SourceTable | undefined {
  return inventory.sources?.find((s) => s.name === name);
}

/**
 * Why a fleet operation must not go ahead without --allow-stale, or undefined: a source
 * failed with nothing cached, so a selection other than exact machine names (`exactNames`)
 * may be missing machines. Checked before selecting.
 */
export function missingSourcesError(
  results: readonly SourceResult[],
  options: { exactNames: boolean },
): ProvctlError | undefined {
  const failed = results.filter((r) => r.state === "failed");
  if (failed.length === 0 || options.exactNames) return undefined;
  return new ProvctlError("CommandFailed", "discovery.stale_refused_unknown", {
    params: { sources: failed.map((r) => r.source.name).join(", ") },
    hint: "discovery.stale_refused_hint",
  });
}

/**
 * Why acting on `selected` needs --allow-stale, or undefined: some are cached machines of
 * a source that failed just now (possibly gone or readdressed). With `anyFailure` (an
 * operation on the whole inventory, like deploy) any failed source counts.
 */
export function staleMachinesError(
  results: readonly SourceResult[],
  selected: readonly MachineConfig[],
  options: { anyFailure?: boolean } = {},
): ProvctlError | undefined {
  const stale = selected.filter((m) => m.stale);
  const failed = results.filter((r) =>
    (r.state === "stale" || r.state === "failed") &&
    (options.anyFailure || stale.some((m) => m.source === r.source.name))
  );
  if (failed.length === 0) return undefined;
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
