/**
 * Ships the local JSONL audit log to a shared store (the postgres backend), in file order.
 *
 * The local file is always written first (and fsynced); the shipper then sends what lies
 * after its high-water mark — a byte offset into the file, kept in a 0600 file next to it
 * — and moves the mark once the store acknowledged. While the store is unreachable the
 * records simply stay after the mark (the backlog); the next ship, a retry timer or the
 * next provctl run sends them. Sending is idempotent (the store skips ids it has), so a
 * crash between "acknowledged" and "mark moved", or two processes shipping the same log,
 * never duplicates a record.
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

  /** Up to `max` complete records after the mark, and the offset after the last of them. */
  async #pending(max: number): Promise<{ lines: AuditRecord[]; end: number; ino: number | null }> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.auditFile, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { lines: [], end: 0, ino: null };
      throw error;
    }
    try {
      const info = await file.stat();
      const mark = await this.#readMark();
      let offset = mark?.offset ?? 0;
      // Another file now (rotated, recreated) or a shorter one: start from its beginning.
      if (
        mark &&
        (mark.target !== this.#options.target || mark.ino !== info.ino || offset > info.size)
      ) offset = 0;
      await file.seek(offset, Deno.SeekMode.Start);
      const lines: AuditRecord[] = [];
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
      // A line still being written (no "\n" yet) waits for the next ship.
      return { lines, end, ino: info.ino };
    } finally {
      file.close();
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
