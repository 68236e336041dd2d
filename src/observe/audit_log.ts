/**
 * AuditLog: the append-only JSON-lines record of every operation provctl performs on a
 * machine (default `{state_dir}/audit.jsonl`, mode 0600).
 *
 * Durability: append() resolves only after the record's bytes were written and
 * fdatasync'ed, so a crash loses nothing already reported. Concurrent appends within a
 * process are group-committed: records queued while a write+sync is in flight go out
 * together in the next write (complete lines only) and share its sync.
 *
 * Concurrent processes: the file is opened O_APPEND and each batch is ONE write(2) of
 * whole lines. On Linux local filesystems an O_APPEND write to a regular file is atomic
 * with respect to other appenders whatever its size (the kernel holds the inode lock for
 * the whole write), so lines never interleave. Single records are kept below PIPE_BUF
 * (4096 bytes; long commands and errors are cut, see MAX_*), which is also the size
 * POSIX readers of pipes would need. What can still break a line: a short write (disk
 * full; the rest is written next, possibly after another process's line), NFS (no atomic
 * append), or a power cut mid-write (a truncated last line). Readers skip and count such
 * lines; opening the log completes a truncated last line with "\n" so the next record
 * starts on a line of its own.
 *
 * Rotation (maxBytes > 0): when a write takes the file to maxBytes, it is renamed to
 * FILE.1 (FILE.1 to FILE.2, ..., the oldest beyond `keep` dropped) and the next append
 * creates FILE anew. Appenders hold a shared flock on FILE.lock around each write and
 * first reopen FILE if it was rotated; rotation holds it exclusively. So every record of
 * every concurrent provctl lands in a file that is kept, and readers read FILE.N ... FILE.1
 * FILE, oldest first.
 */
import { localAccount } from "../core/local_account.ts";
import { ProvctlError } from "../core/errors.ts";
import { openTrusted, trustDir } from "../core/state_trust.ts";
import { globMatcher } from "./_glob.ts";
import { Redactor } from "./redact.ts";

/** How an operation ended. */
export type AuditResult =
  | "ok"
  | "failed" // ran and reported failure (non-zero exit)
  | "unreachable" // the machine could not be reached (connect, auth, host key, breaker)
  | "timeout"
  | "cancelled"
  | "error"; // provctl could not run it for another reason

/** What a caller reports about one operation. */
export interface AuditEntry {
  /** Inventory name of the machine ("local" for this one). */
  readonly machine: string;
  /** exec, start, stop, restart, status, logs, deploy.step, rollback, ... */
  readonly op: string;
  readonly result: AuditResult;
  /** The command line; redacted again here, so secrets never reach the file. */
  readonly command?: string;
  /** Where it ran, e.g. "ssh deploy@10.0.0.5:22". */
  readonly target?: string;
  readonly exitCode?: number;
  readonly signal?: string;
  readonly durationMs?: number;
  readonly attempts?: number;
  readonly deploymentId?: string;
  /** A message key (e.g. "ssh.connect_refused") or short text. */
  readonly error?: string;
  /** When it ended (default: now). */
  readonly at?: Date;
}

/** One line of the audit log, as stored and as `provctl audit -o json` prints it. */
export interface AuditRecord {
  /** Unique per record (a UUID), so a database copy can be replayed without duplicates;
   * lines written before provctl had ids have none. */
  id?: string;
  ts: string;
  operator: string;
  uid: number | null;
  pid: number;
  machine: string;
  target?: string;
  op: string;
  command?: string;
  result: AuditResult;
  exit_code?: number;
  signal?: string;
  duration_ms?: number;
  attempts?: number;
  deployment_id?: string;
  error?: string;
}

export interface AuditLogOptions {
  /** Redacts command and error text (default: the built-in rules). */
  readonly redactor?: Redactor;
  /** Rotate when the file reaches this size (0 or unset: never). */
  readonly maxBytes?: number;
  /** Rotated files kept (FILE.1 ... FILE.keep; default 5). */
  readonly keep?: number;
  /** Who the records name instead of the local user (the API: the token's name). */
  readonly operator?: string;
  /**
   * Called after each batch is on disk, before its appends resolve (the postgres state
   * backend ships the records there). It must not throw: the local write already stands.
   */
  readonly afterWrite?: () => Promise<void>;
}

type AuditListener = (record: AuditRecord) => void;
const listeners = new Set<AuditListener>();

/** Calls `listener` with every record this process writes (once on disk); returns "stop". */
export function onAuditRecord(listener: AuditListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Longest stored command and error texts (characters), so a record stays < PIPE_BUF. */
export const MAX_COMMAND_CHARS = 2048;
export const MAX_ERROR_CHARS = 512;
const MAX_NAME_CHARS = 256;

const encoder = new TextEncoder();

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(+${text.length - max} chars)`;
}

/** The local user: its name, else "uid:N" (or "unknown" without uids). */
function localOperator(): { name: string; uid: number | null } {
  const { name, uid } = localAccount();
  return { name: name || (uid === null ? "unknown" : `uid:${uid}`), uid };
}

interface Pending {
  bytes: Uint8Array;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class AuditLog {
  readonly path: string;
  /** Set when an existing file was readable/writable by others and was chmod'ed to 0600. */
  readonly modeTightened?: { readonly from: number; readonly to: number };
  #file: Deno.FsFile;
  readonly #redactor: Redactor;
  readonly #operator?: string;
  readonly #afterWrite?: () => Promise<void>;
  /** FILE.lock, when the log rotates. */
  readonly #lock?: Deno.FsFile;
  readonly #maxBytes: number;
  readonly #keep: number;
  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;

  private constructor(
    path: string,
    file: Deno.FsFile,
    options: AuditLogOptions & { lock?: Deno.FsFile },
    tightened?: { from: number; to: number },
  ) {
    this.#operator = options.operator;
    this.#afterWrite = options.afterWrite;
    this.path = path;
    this.#file = file;
    this.#redactor = options.redactor ?? new Redactor();
    this.#lock = options.lock;
    this.#maxBytes = options.maxBytes ?? 0;
    this.#keep = Math.max(1, options.keep ?? 5);
    this.modeTightened = tightened;
  }

  /** Opens (creating with mode 0600, and its directory with 0700) the log at `path`. */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
    const fail = (error: unknown) =>
      new ProvctlError(
        error instanceof Deno.errors.PermissionDenied ? "PermissionDenied" : "CommandFailed",
        "observe.audit_open_failed",
        { params: { path, reason: reason(error) }, cause: error },
      );
    let file: Deno.FsFile;
    let created = false;
    try {
      // Never through a link or in a directory another user can write (StrictModes).
      await trustDir(dir, { create: true });
      const opened = (await openTrusted(path, { append: true, create: true }))!;
      file = opened.file;
      created = opened.created;
    } catch (error) {
      if (error instanceof ProvctlError) throw error;
      throw fail(error);
    }
    try {
      const info = await file.stat();
      if (!info.isFile) {
        throw new ProvctlError("InvalidConfig", "observe.audit_not_regular", { params: { path } });
      }
      let tightened: { from: number; to: number } | undefined;
      const mode = (info.mode ?? 0) & 0o777;
      if (info.mode !== null && (mode & 0o077) !== 0) {
        await Deno.chmod(path, 0o600);
        tightened = { from: mode, to: 0o600 };
      }
      if (created) {
        // The new directory entry must survive a crash too.
        await syncDir(dir);
      } else if (info.size > 0) {
        await completeLastLine(path, file, info.size);
      }
      const lock = (options.maxBytes ?? 0) > 0
        ? (await openTrusted(`${path}.lock`, { read: true, write: true, create: true }))!.file
        : undefined;
      return new AuditLog(path, file, { ...options, lock }, tightened);
    } catch (error) {
      file.close();
      throw error instanceof ProvctlError ? error : fail(error);
    }
  }

  /** The record that `entry` becomes (redacted, cut to size, with operator and time). */
  record(entry: AuditEntry): AuditRecord {
    const operator = localOperator();
    const record: AuditRecord = {
      id: crypto.randomUUID(),
      ts: (entry.at ?? new Date()).toISOString(),
      operator: cut(this.#operator ?? operator.name, MAX_NAME_CHARS),
      uid: operator.uid,
      pid: Deno.pid,
      machine: cut(entry.machine, MAX_NAME_CHARS),
      op: cut(entry.op, MAX_NAME_CHARS),
      result: entry.result,
    };
    if (entry.target !== undefined) record.target = cut(entry.target, MAX_NAME_CHARS);
    if (entry.command !== undefined) {
      // Redact before cutting, so a cut cannot split a secret from its name.
      record.command = cut(this.#redactor.text(entry.command), MAX_COMMAND_CHARS);
    }
    if (entry.exitCode !== undefined) record.exit_code = entry.exitCode;
    if (entry.signal !== undefined) record.signal = entry.signal;
    if (entry.durationMs !== undefined) record.duration_ms = Math.round(entry.durationMs);
    if (entry.attempts !== undefined) record.attempts = entry.attempts;
    if (entry.deploymentId !== undefined) {
      record.deployment_id = cut(entry.deploymentId, MAX_NAME_CHARS);
    }
    if (entry.error !== undefined) {
      record.error = cut(this.#redactor.text(entry.error), MAX_ERROR_CHARS);
    }
    return record;
  }

  /** Appends one record; resolves once it is on disk (written and fdatasync'ed). */
  append(entry: AuditEntry): Promise<AuditRecord> {
    return this.appendRecord(this.record(entry));
  }

  /** Appends a record made by record() (or read from another log); resolves once on disk. */
  appendRecord(record: AuditRecord): Promise<AuditRecord> {
    if (this.#closed) {
      return Promise.reject(
        new ProvctlError("Internal", "errors.internal", {
          params: { detail: "audit log used after close()" },
        }),
      );
    }
    const bytes = encoder.encode(JSON.stringify(record) + "\n");
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#queue.push({ bytes, resolve: () => resolve(record), reject });
      this.#flushing ??= this.#flush();
    });
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      const bytes = batch.length === 1 ? batch[0].bytes : concat(batch.map((p) => p.bytes));
      try {
        const size = await this.#write(bytes);
        await this.#afterWrite?.().catch(() => {});
        for (const pending of batch) pending.resolve();
        if (this.#lock && size >= this.#maxBytes) await this.#rotate();
        if (listeners.size > 0) {
          for (const pending of batch) notify(pending.bytes);
        }
      } catch (error) {
        const wrapped = new ProvctlError("CommandFailed", "observe.audit_write_failed", {
          params: { path: this.path, reason: reason(error) },
          cause: error,
        });
        for (const pending of batch) pending.reject(wrapped);
      }
    }
    this.#flushing = undefined;
  }

  /** One write(2) of whole lines and its sync, into the current file; its size after. */
  async #write(bytes: Uint8Array): Promise<number> {
    if (!this.#lock) {
      await writeAll(this.#file, bytes);
      await this.#file.syncData();
      return 0;
    }
    await this.#lock.lock(false);
    try {
      // Another provctl may have rotated the file since our last write: follow it.
      const current = await Deno.lstat(this.path).catch(() => undefined);
      const mine = await this.#file.stat();
      if (current === undefined || current.ino !== mine.ino || current.dev !== mine.dev) {
        this.#file.close();
        this.#file = (await openTrusted(this.path, { append: true, create: true }))!.file;
      }
      await writeAll(this.#file, bytes);
      await this.#file.syncData();
      return (await this.#file.stat()).size;
    } finally {
      await this.#lock.unlock();
    }
  }

  /** FILE -> FILE.1 -> ... -> FILE.keep (the oldest dropped), under the exclusive lock. */
  async #rotate(): Promise<void> {
    const lock = this.#lock!;
    await lock.lock(true);
    try {
      // Someone else may have rotated it while we waited for the lock.
      const current = await Deno.lstat(this.path).catch(() => undefined);
      if (current === undefined || current.size < this.#maxBytes) return;
      for (let i = this.#keep - 1; i >= 1; i--) {
        await Deno.rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
      await Deno.rename(this.path, `${this.path}.1`);
      await syncDir(dirOf(this.path));
    } finally {
      await lock.unlock();
    }
  }

  /** Waits for pending appends, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flushing;
    this.#file.close();
    this.#lock?.close();
  }
}

function notify(bytes: Uint8Array): void {
  const record = JSON.parse(new TextDecoder().decode(bytes)) as AuditRecord;
  for (const listener of listeners) {
    try {
      listener(record);
    } catch { /* a listener's failure is its own */ }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    // One write(2) for the whole batch; a short write (disk full) continues here.
    offset += await file.write(offset === 0 ? bytes : bytes.subarray(offset));
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function dirOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await Deno.open(dir, { read: true });
    try {
      await handle.sync();
    } finally {
      handle.close();
    }
  } catch { /* not supported on this platform: the file's own sync still holds */ }
}

/** A crash can leave a last line without "\n"; end it so new records start clean. */
async function completeLastLine(path: string, file: Deno.FsFile, size: number): Promise<void> {
  const reader = await Deno.open(path, { read: true });
  try {
    await reader.seek(size - 1, Deno.SeekMode.Start);
    const last = new Uint8Array(1);
    if ((await reader.read(last)) === 1 && last[0] !== 0x0a) {
      await writeAll(file, encoder.encode("\n"));
      await file.syncData();
    }
  } finally {
    reader.close();
  }
}

// ---------------------------------------------------------------------------------------
// Reading

export interface AuditQuery {
  /** Records at or after this time: a Date, a duration back from now ("90s", "30m", "1h",
   * "2d", "1w", "1h30m") or a date ("2024-05-01", "2024-05-01T10:00:00Z"). */
  readonly since?: Date | string;
  /** Machine names or globs; a record matches any of them. */
  readonly machine?: string | readonly string[];
  /** Operation name or glob; a plain name also matches its sub-operations ("deploy"
   * matches "deploy.step"). */
  readonly op?: string;
  readonly result?: string;
  readonly deploymentId?: string;
  /** Only the most recent N matching records (still in file order). */
  readonly limit?: number;
  /** "Now" for durations (tests). */
  readonly now?: Date;
}

const DURATION_PART = /(\d+)(ms|s|m|h|d|w)/g;
const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** The instant a --since value stands for; a ProvctlError (InvalidArgument) if it is none. */
export function parseSince(value: Date | string, now: Date = new Date()): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw sinceInvalid(String(value));
    return value;
  }
  const text = value.trim();
  if (/^(\d+(ms|s|m|h|d|w))+$/.test(text)) {
    let ms = 0;
    for (const [, n, unit] of text.matchAll(DURATION_PART)) ms += Number(n) * UNIT_MS[unit];
    return new Date(now.getTime() - ms);
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const at = new Date(text.replace(" ", "T"));
    if (!Number.isNaN(at.getTime())) return at;
  }
  throw sinceInvalid(value);
}

function sinceInvalid(value: string): ProvctlError {
  return new ProvctlError("InvalidArgument", "observe.since_invalid", { params: { value } });
}

/**
 * The test a record must pass to match `query` (all but its limit); a ProvctlError
 * (InvalidArgument) for a bad --since or limit. Shared by every audit store.
 */
export function auditFilter(query: AuditQuery): (r: AuditRecord) => boolean {
  const since = query.since === undefined
    ? undefined
    : parseSince(query.since, query.now).getTime();
  let machine: ((value: string) => boolean) | undefined;
  if (query.machine !== undefined && query.machine.length > 0) {
    const matchers = (typeof query.machine === "string" ? [query.machine] : query.machine)
      .map(globMatcher);
    machine = (value) => matchers.some((match) => match(value));
  }
  let op: ((value: string) => boolean) | undefined;
  if (query.op !== undefined) {
    const exact = globMatcher(query.op);
    const prefix = `${query.op}.`;
    op = (value) => exact(value) || value.startsWith(prefix);
  }
  const limit = query.limit;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new ProvctlError("InvalidArgument", "observe.limit_invalid", {
      params: { value: limit },
    });
  }
  return (r) => {
    if (since !== undefined && !(Date.parse(r.ts) >= since)) return false;
    if (machine && !machine(r.machine)) return false;
    if (op && !op(r.op)) return false;
    if (query.result !== undefined && r.result !== query.result) return false;
    if (query.deploymentId !== undefined && r.deployment_id !== query.deploymentId) return false;
    return true;
  };
}

function isRecord(value: unknown): value is AuditRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.ts === "string" && typeof r.machine === "string" && typeof r.op === "string" &&
    typeof r.result === "string";
}

/** The record on a line, or undefined; a line glued to a crash-truncated one is recovered. */
function parseLine(line: string): AuditRecord | undefined {
  for (let start = 0; start >= 0; start = line.indexOf('{"ts":', start + 1)) {
    try {
      const value = JSON.parse(start === 0 ? line : line.slice(start));
      if (isRecord(value)) return value;
    } catch { /* try a later record start */ }
  }
  return undefined;
}

/**
 * Records of an audit log matching a query, read as a stream (the file is never loaded
 * whole). Unreadable lines (a crash-truncated last line, a foreign line) are skipped and
 * counted in `skipped`; a missing file is an empty log.
 */
export class AuditReader implements AsyncIterable<AuditRecord> {
  readonly path: string;
  /** Lines that were not a valid record (known once iteration has finished). */
  skipped = 0;
  readonly #matches: (r: AuditRecord) => boolean;
  readonly #query: AuditQuery;

  constructor(path: string, query: AuditQuery = {}) {
    this.path = path;
    this.#query = query;
    this.#matches = auditFilter(query);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AuditRecord> {
    this.skipped = 0;
    const limit = this.#query.limit;
    // The last `limit` matches, in a ring.
    const tail: AuditRecord[] = [];
    let next = 0;
    for await (const line of this.#lines()) {
      if (line.trim() === "") continue;
      const record = parseLine(line);
      if (!record) {
        this.skipped++;
        continue;
      }
      if (!this.#matches(record)) continue;
      if (limit === undefined) yield record;
      else if (tail.length < limit) tail.push(record);
      else {
        tail[next] = record;
        next = (next + 1) % limit;
      }
    }
    for (let i = 0; i < tail.length; i++) yield tail[(next + i) % tail.length];
  }

  /** The lines of FILE.N ... FILE.1 FILE (oldest first). */
  async *#lines(): AsyncGenerator<string> {
    const files = await this.#openAll();
    try {
      for (const file of files) yield* linesOf(file);
    } finally {
      for (const file of files) {
        try {
          file.close();
        } catch { /* closed when its stream was read to the end */ }
      }
    }
  }

  /**
   * Opens the rotated files and the current one at once (under the shared lock, when
   * the log rotates), so a rotation while reading neither skips nor repeats a file.
   */
  async #openAll(): Promise<Deno.FsFile[]> {
    const lock = await openTrusted(`${this.path}.lock`, { read: true, write: true })
      .catch(() => undefined);
    await lock?.file.lock(false);
    const files: Deno.FsFile[] = [];
    try {
      const rotated: string[] = [];
      for (let i = 1;; i++) {
        const name = `${this.path}.${i}`;
        if (!(await Deno.lstat(name).then(() => true, () => false))) break;
        rotated.unshift(name);
      }
      for (const name of [...rotated, this.path]) {
        const opened = await openTrusted(name, { read: true });
        if (opened) files.push(opened.file);
      }
      return files;
    } catch (error) {
      for (const file of files) file.close();
      if (error instanceof ProvctlError) throw error;
      throw new ProvctlError("CommandFailed", "observe.audit_read_failed", {
        params: { path: this.path, reason: reason(error) },
        cause: error,
      });
    } finally {
      if (lock) {
        await lock.file.unlock().catch(() => {});
        lock.file.close();
      }
    }
  }

  /** All matching records in an array (for small logs and tests). */
  async toArray(): Promise<AuditRecord[]> {
    const out: AuditRecord[] = [];
    for await (const record of this) out.push(record);
    return out;
  }
}

async function* linesOf(file: Deno.FsFile): AsyncGenerator<string> {
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of file.readable) {
    rest += decoder.decode(chunk, { stream: true });
    let newline = rest.indexOf("\n");
    let start = 0;
    while (newline >= 0) {
      yield rest.slice(start, newline);
      start = newline + 1;
      newline = rest.indexOf("\n", start);
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest !== "") yield rest;
}

/** The records of the audit log at `path` matching `query` (see AuditReader). */
export function readAudit(path: string, query: AuditQuery = {}): AuditReader {
  return new AuditReader(path, query);
}
