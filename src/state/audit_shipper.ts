/**
 * Ships the local JSONL audit log to a shared store (the postgres backend), in file order.
 *
 * The local file is always written first (and fsynced); the shipper then sends what lies
 * after its high-water mark — a byte offset into the file, kept in a 0600 file next to it
 * — and moves the mark once the store acknowledged. While the store is unreachable the
 * records simply stay after the mark (the backlog); the next ship, a retry timer or the
 * next provctl run sends them. Sending is idempotent (the store skips ids it has), so a
 * crash between "acknowledged" and "mark moved", or two processes shipping the same log,
 * never duplicates a record. The mark names its file by inode, so when the log rotates
 * (FILE -> FILE.1 ...) the rest of the marked file is still sent from FILE.N, then the
 * newer files; only records rotated out of the last kept file before shipping are lost.
 */
import type { AuditRecord } from "../observe/audit_log.ts";

interface Mark {
  readonly version: 1;
  /** Which store it counts for (another database starts from the beginning). */
  readonly target: string;
  /** The audit file the offset belongs to (its inode: a replaced file starts again). */
  readonly ino: number | null;
  readonly offset: number;
}

export interface ShipperOptions {
  readonly auditFile: string;
  /** The store's name in the mark (e.g. host:port/database). */
  readonly target: string;
  /** Default: `${auditFile}.shipped`. */
  readonly markFile?: string;
  /** Stores records; must skip ids it already has. */
  readonly send: (records: AuditRecord[]) => Promise<void>;
  /** How long a caller waits for an online ship before it carries on (ms). */
  readonly waitMs?: number;
  /** Retry interval while the store is unreachable (ms). */
  readonly retryMs?: number;
  /** Told once each time the store becomes unreachable / reachable again. */
  readonly onOffline?: (error: unknown) => void;
  readonly onOnline?: (shipped: number) => void;
}

const BATCH = 500;
const decoder = new TextDecoder();

export class AuditShipper {
  readonly auditFile: string;
  readonly markFile: string;
  readonly #options: ShipperOptions;
  #chain: Promise<void> = Promise.resolve();
  #offline = false;
  #retry?: ReturnType<typeof setInterval>;
  #retrying = false;
  #closed = false;

  constructor(options: ShipperOptions) {
    this.#options = options;
    this.auditFile = options.auditFile;
    this.markFile = options.markFile ?? `${options.auditFile}.shipped`;
  }

  get offline(): boolean {
    return this.#offline;
  }

  /**
   * Sends everything after the mark. Waits at most waitMs while the store is reachable
   * and not at all while it is not (the retry timer works on it); never throws.
   */
  async ship(options: { wait?: boolean } = {}): Promise<void> {
    // While offline the retry timer works on the backlog; callers do not wait for it.
    if (this.#offline && !options.wait) return;
    const run = this.#chain.then(() => this.#shipOnce());
    this.#chain = run.catch(() => {});
    const waitMs = this.#options.waitMs ?? 3000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      run.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, waitMs)),
    ]);
    clearTimeout(timer);
  }

  /** Complete records after the mark (what the store has not acknowledged). */
  async backlog(): Promise<number> {
    const { lines } = await this.#pending(Number.MAX_SAFE_INTEGER);
    return lines.length;
  }

  /** Stops retrying; one last ship, waiting at most `waitMs`. */
  async close(waitMs = 5000): Promise<void> {
    this.#closed = true;
    clearInterval(this.#retry);
    this.#retry = undefined;
    const run = this.#chain.then(() => this.#shipOnce());
    this.#chain = run.catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      run.catch(() => {}),
      new Promise<void>((resolve) => timer = setTimeout(resolve, waitMs)),
    ]);
    clearTimeout(timer);
  }

  async #shipOnce(): Promise<void> {
    let sent = 0;
    try {
      for (;;) {
        const { lines, end, ino } = await this.#pending(BATCH);
        if (lines.length === 0) break;
        await this.#options.send(lines);
        await this.#writeMark({ version: 1, target: this.#options.target, ino, offset: end });
        sent += lines.length;
      }
    } catch (error) {
      if (!this.#offline) {
        this.#offline = true;
        this.#options.onOffline?.(error);
      }
      if (!this.#closed && this.#retry === undefined) {
        this.#retry = setInterval(() => {
          if (this.#retrying) return;
          this.#retrying = true;
          const run = this.#chain.then(() => this.#shipOnce());
          this.#chain = run.catch(() => {});
          void this.#chain.finally(() => this.#retrying = false);
        }, this.#options.retryMs ?? 1000);
        Deno.unrefTimer(this.#retry as unknown as number);
      }
      throw error;
    }
    if (this.#offline) {
      this.#offline = false;
      clearInterval(this.#retry);
      this.#retry = undefined;
      this.#options.onOnline?.(sent);
    }
  }

  /**
   * Up to `max` complete records after the mark, and where the last of them ends. The
   * mark's file may have been rotated (FILE -> FILE.1 -> ...): it is found by inode among
   * the rotated files, read to its end, then the newer files follow, oldest first.
   */
  async #pending(max: number): Promise<{ lines: AuditRecord[]; end: number; ino: number | null }> {
    const chain = await this.#openChain();
    try {
      if (chain.length === 0) return { lines: [], end: 0, ino: null };
      const mark = await this.#readMark();
      // Oldest first; without a usable mark everything is sent (the store skips ids it has).
      let at = 0;
      let offset = 0;
      if (mark && mark.target === this.#options.target) {
        const found = chain.findIndex((f) => f.info.ino === mark.ino);
        if (found >= 0 && mark.offset <= chain[found].info.size) {
          at = found;
          offset = mark.offset;
        }
      }
      const lines: AuditRecord[] = [];
      let end = offset;
      let ino = chain[at].info.ino;
      for (;;) {
        end = await readLines(chain[at].file, offset, max, lines);
        ino = chain[at].info.ino;
        // A rotated file is complete: once read to its end, go on with the next newer one.
        if (lines.length >= max || at === chain.length - 1) break;
        at++;
        offset = 0;
        end = 0;
        ino = chain[at].info.ino;
      }
      // A line still being written (no "\n" yet) waits for the next ship.
      return { lines, end, ino };
    } finally {
      for (const f of chain) f.file.close();
    }
  }

  /**
   * The audit file and its rotated copies, oldest first, opened together. FILE.lock (there
   * when the log rotates) is held shared meanwhile, so no rotation renames them midway.
   */
  async #openChain(): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }[]> {
    let lock: Deno.FsFile | undefined;
    try {
      lock = await Deno.open(`${this.auditFile}.lock`, { read: true, write: true });
      await lock.lock(false);
    } catch {
      lock?.close();
      lock = undefined; // no rotation configured: only FILE itself
    }
    const chain: { file: Deno.FsFile; info: Deno.FileInfo }[] = [];
    try {
      for (let i = 0;; i++) {
        const path = i === 0 ? this.auditFile : `${this.auditFile}.${i}`;
        let file: Deno.FsFile;
        try {
          file = await Deno.open(path, { read: true });
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
          // Just rotated, FILE is not there until the next write: FILE.1 still may be.
          if (i === 0 && lock) continue;
          break;
        }
        chain.unshift({ file, info: await file.stat() });
        if (!lock) break;
      }
      return chain;
    } catch (error) {
      for (const f of chain) f.file.close();
      throw error;
    } finally {
      if (lock) {
        await lock.unlock().catch(() => {});
        lock.close();
      }
    }
  }

  async #readMark(): Promise<Mark | undefined> {
    try {
      const info = await Deno.lstat(this.markFile);
      // A mark another user could write would let them hide records from the database.
      if (!info.isFile || (info.uid !== null && info.uid !== Deno.uid())) return undefined;
      const data = JSON.parse(await Deno.readTextFile(this.markFile)) as Mark;
      return data.version === 1 && Number.isSafeInteger(data.offset) && data.offset >= 0
        ? data
        : undefined;
    } catch {
      return undefined; // no mark (or a garbled one): ship from the start, the store dedupes
    }
  }

  async #writeMark(mark: Mark): Promise<void> {
    const tmp = `${this.markFile}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.writeTextFile(tmp, JSON.stringify(mark) + "\n", { mode: 0o600 });
      await Deno.chmod(tmp, 0o600);
      await Deno.rename(tmp, this.markFile);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw error;
    }
  }
}

/** Appends the whole lines of `file` from `offset` to `lines` (up to `max`); their end. */
async function readLines(
  file: Deno.FsFile,
  offset: number,
  max: number,
  lines: AuditRecord[],
): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let end = offset;
  let rest = new Uint8Array(0);
  const buf = new Uint8Array(64 * 1024);
  while (lines.length < max) {
    const n = await file.read(buf);
    if (n === null) break;
    const chunk = new Uint8Array(rest.length + n);
    chunk.set(rest);
    chunk.set(buf.subarray(0, n), rest.length);
    let start = 0;
    for (let i = 0; i < chunk.length && lines.length < max; i++) {
      if (chunk[i] !== 0x0a) continue;
      const text = decoder.decode(chunk.subarray(start, i));
      end += i - start + 1;
      start = i + 1;
      const record = parse(text);
      if (record) lines.push(record);
    }
    rest = chunk.slice(start);
  }
  return end;
}

function parse(line: string): AuditRecord | undefined {
  if (line.trim() === "") return undefined;
  try {
    const value = JSON.parse(line);
    if (typeof value?.ts !== "string" || typeof value?.machine !== "string") return undefined;
    return value as AuditRecord;
  } catch {
    return undefined; // a crash-truncated line: the local reader skips it too
  }
}
