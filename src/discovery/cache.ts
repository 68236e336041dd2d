/**
 * The discovery cache: <state_dir>/discovery/<source>.json (mode 0600, directory 0700),
 * holding the provider's normalized records, when they were fetched and a fingerprint of
 * the settings that decide what the API returns (provider, URL, filters, regions), so a
 * changed filter never serves old machines. Files are replaced atomically (write a
 * temporary file, rename). A cache file or directory that another user owns or may write
 * is refused: whoever can write it decides where provctl connects.
 */
import { writeTrustedAtomic } from "../core/state_trust.ts";
import { ProvctlError } from "../core/errors.ts";
import type { Credentials, MachineRecord } from "./provider.ts";
import type { SourceConfig } from "./sources.ts";

export interface CacheEntry {
  readonly version: 1;
  readonly source: string;
  readonly fingerprint: string;
  /** Whose answer it is (accountOf the credentials); absent in caches of older versions. */
  readonly account?: string;
  /** ISO 8601. */
  readonly fetched_at: string;
  readonly records: readonly MachineRecord[];
}

export function cacheDir(stateDir: string): string {
  return `${stateDir}/discovery`;
}

export function cachePath(stateDir: string, source: string): string {
  // Source names are machine-name-like (letters, digits, '-', '_', '.', no '/').
  return `${cacheDir(stateDir)}/${source}.json`;
}

/** What decides the API's answer; a cache entry with another fingerprint is ignored. */
export async function fingerprint(
  source: SourceConfig,
  regions: readonly string[],
): Promise<string> {
  const text = JSON.stringify([
    source.provider,
    source.apiUrl ?? "",
    Object.entries(source.filters).sort(),
    [...regions].sort(),
    source.pageSize ?? 0,
  ]);
  return await sha256Hex(text);
}

/**
 * Who an answer is for: a digest of the credentials (a token, Basic auth, the AWS access
 * key id). Another project's token or another AWS profile sees other machines: their
 * cache must not be served as this one's.
 */
export async function accountOf(credentials: Credentials): Promise<string> {
  const who = credentials.kind === "token"
    ? ["token", credentials.token]
    : credentials.kind === "basic"
    ? ["basic", credentials.user, credentials.password]
    : ["aws", credentials.accessKeyId];
  return await sha256Hex(JSON.stringify(who));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The cached entry, or undefined when there is none (or it is garbled, for other settings,
 * or, when `account` is known, for another account).
 */
export async function readCache(
  stateDir: string,
  source: string,
  expected: string,
  account?: string,
): Promise<CacheEntry | undefined> {
  const dir = cacheDir(stateDir);
  if (!(await checkOwned(dir, "directory", { mayBeAbsent: true }))) return undefined;
  const path = cachePath(stateDir, source);
  if (!(await checkOwned(path, "file", { mayBeAbsent: true }))) return undefined;
  let entry: CacheEntry;
  try {
    entry = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
  if (
    entry?.version !== 1 || entry.source !== source || entry.fingerprint !== expected ||
    !Array.isArray(entry.records) || !entry.records.every(isRecord) ||
    Number.isNaN(Date.parse(entry.fetched_at)) ||
    (account !== undefined && entry.account !== account)
  ) {
    return undefined;
  }
  return entry;
}

/** A record of the shape the providers store (a hand-damaged file is no cache at all). */
function isRecord(value: unknown): value is MachineRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  const text = (v: unknown) => typeof v === "string";
  return text(r.id) && text(r.name) && text(r.status) && text(r.region) &&
    typeof r.running === "boolean" &&
    typeof r.addresses === "object" && r.addresses !== null &&
    Object.values(r.addresses).every(text) &&
    Array.isArray(r.tags) &&
    r.tags.every((t) =>
      typeof t === "object" && t !== null && text(t.key) && (t.value === undefined || text(t.value))
    );
}

export async function writeCache(stateDir: string, entry: CacheEntry): Promise<void> {
  const dir = cacheDir(stateDir);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  await checkOwned(dir, "directory", {});
  const path = cachePath(stateDir, entry.source);
  await checkOwned(path, "file", { mayBeAbsent: true });
  await removeLeftovers(dir, `${entry.source}.json.`);
  // A new 0600 temp file, synced, renamed over the cache (state_trust's atomic write).
  await writeTrustedAtomic(path, JSON.stringify(entry));
}

/** Temporary files of a writer killed between write and rename (older than a minute). */
async function removeLeftovers(dir: string, prefix: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.startsWith(prefix) || !e.name.endsWith(".tmp")) continue;
    const path = `${dir}/${e.name}`;
    const info = await Deno.lstat(path).catch(() => undefined);
    if (info?.mtime && Date.now() - info.mtime.getTime() > 60_000) {
      await Deno.remove(path).catch(() => {});
    }
  }
}

/**
 * True when `path` exists and is safe; false when absent (if allowed). Throws
 * PermissionDenied when it is a symlink, of the wrong type, owned by another user, or
 * writable by group or others.
 */
async function checkOwned(
  path: string,
  type: "file" | "directory",
  options: { mayBeAbsent?: boolean },
): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && options.mayBeAbsent) return false;
    throw e;
  }
  const uid = Deno.uid();
  const mode = info.mode ?? 0;
  const wrongType = type === "file" ? !info.isFile : !info.isDirectory;
  if (wrongType || (uid !== null && info.uid !== uid) || (mode & 0o022) !== 0) {
    throw new ProvctlError("PermissionDenied", "discovery.cache_unsafe", {
      params: { path, what: type, mode: (mode & 0o777).toString(8).padStart(4, "0") },
      hint: "discovery.cache_unsafe_hint",
    });
  }
  return true;
}
