/**
 * SshPool: SSH connections kept open for reuse within one provctl process. A connection
 * is lent to one command at a time; at most `maxPerHost` exist per key (the whole hop
 * chain + user + port + host), further requests wait in order. Idle connections close
 * after `idleTimeoutMs`. New connections go through the circuit breaker (when a state
 * dir is given) and the retry policy. The CLI calls close() in a finally block.
 */
import { ProvctlError } from "../core/errors.ts";
import type { BreakerOptions } from "./circuit_breaker.ts";
import type { RetryOptions } from "./retry.ts";
import { type ConnectOptions, connectSession, type SshSession } from "./session.ts";
import { type ConnectionPlan, endpointLabel, planKey } from "./_plan.ts";

export interface PoolOptions {
  /** Connections per key at most (default 4). */
  readonly maxPerHost?: number;
  /** An unused connection closes after this long (default 30000; 0 = at release). */
  readonly idleTimeoutMs?: number;
  readonly connect?: ConnectOptions;
  /** Retries of transient connect failures (default DEFAULT_RETRY; attempts 1 = none). */
  readonly retry?: RetryOptions;
  /** Persisted circuit breaker per target host; none when omitted. */
  readonly breaker?: BreakerOptions;
  /** Told about each retry (for verbose output). */
  readonly onRetry?: (key: string, error: unknown, retry: number, delayMs: number) => void;
}

/** A connection lent to one command: give it back with release(), or discard() it. */
export interface SessionLease {
  readonly session: SshSession;
  /** True when the connection was used before (it may have died since, unnoticed). */
  readonly reused: boolean;
  /** Back to the pool for reuse (a closed session is dropped instead). */
  release(): void;
  /** Close it: the command left it in an unknown state or the connection failed. */
  discard(): void;
}

export interface PoolStats {
  created: number;
  reused: number;
  idleClosed: number;
  failed: number;
  /** Total time requests spent waiting for a free slot. */
  waitMs: number;
}

interface Idle {
  session: SshSession;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface Waiter {
  resolve: (lease: SessionLease | "slot") => void;
  reject: (error: unknown) => void;
}

interface Entry {
  idle: Idle[];
  /** Connections lent out or being opened. */
  busy: number;
  waiters: Waiter[];
  stats: PoolStats;
}

const emptyStats = (): PoolStats => ({
  created: 0,
  reused: 0,
  idleClosed: 0,
  failed: 0,
  waitMs: 0,
});

export class SshPool {
  readonly #options: PoolOptions;
  readonly #maxPerHost: number;
  readonly #idleTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #lent = new Set<SshSession>();
  #closed = false;

  constructor(options: PoolOptions = {}) {
    this.#options = options;
    this.#maxPerHost = options.maxPerHost ?? 4;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    if (!Number.isInteger(this.#maxPerHost) || this.#maxPerHost < 1) {
      throw new ProvctlError("InvalidConfig", "ssh.pool_max_invalid", {
        params: { value: this.#maxPerHost },
      });
    }
  }

  /** A connection for `plan`: an idle one, a new one, or the next one freed. */
  async acquire(
    plan: ConnectionPlan,
    options: { signal?: AbortSignal } = {},
  ): Promise<SessionLease> {
    if (this.#closed) {
      throw new ProvctlError("Internal", "errors.internal", {
        params: { detail: "SSH pool used after close()" },
      });
    }
    const key = planKey(plan);
    const entry = this.#entry(key);
    while (true) {
      const idle = this.#takeIdle(entry);
      if (idle) {
        entry.stats.reused++;
        return this.#lease(entry, idle, true);
      }
      if (entry.busy < this.#maxPerHost) break;
      const started = performance.now();
      const got = await new Promise<SessionLease | "slot">((resolve, reject) => {
        const waiter: Waiter = { resolve, reject };
        entry.waiters.push(waiter);
        options.signal?.addEventListener("abort", () => {
          const at = entry.waiters.indexOf(waiter);
          if (at >= 0) entry.waiters.splice(at, 1);
          reject(options.signal?.reason);
        }, { once: true });
      });
      entry.stats.waitMs += performance.now() - started;
      if (got !== "slot") return got;
      // A slot freed up (a connection was discarded): loop and open a new one.
    }
    entry.busy++;
    let session: SshSession;
    try {
      session = await this.#open(key, plan, options.signal);
    } catch (error) {
      entry.busy--;
      entry.stats.failed++;
      this.#wakeOne(entry);
      throw error;
    }
    entry.stats.created++;
    if (this.#closed) {
      session.close();
      throw new ProvctlError("Internal", "errors.internal", {
        params: { detail: "SSH pool closed while connecting" },
      });
    }
    this.#lent.add(session);
    return this.#makeLease(entry, session);
  }

  /** Statistics per key and summed over all keys. */
  stats(): { total: PoolStats; hosts: Record<string, PoolStats> } {
    const total = emptyStats();
    const hosts: Record<string, PoolStats> = {};
    for (const [key, entry] of this.#entries) {
      hosts[key] = { ...entry.stats };
      for (const field of Object.keys(total) as (keyof PoolStats)[]) {
        total[field] += entry.stats[field];
      }
    }
    return { total, hosts };
  }

  /** Open connections per key: idle ones (still alive) and those lent out or opening. */
  held(): { key: string; idle: number; busy: number; stats: PoolStats }[] {
    const rows = [];
    for (const [key, entry] of this.#entries) {
      const idle = entry.idle.filter((i) => !i.session.closed).length;
      if (idle + entry.busy === 0) continue;
      rows.push({ key, idle, busy: entry.busy, stats: { ...entry.stats } });
    }
    return rows;
  }

  /** Closes every connection (idle and lent) and fails waiting requests. */
  close(): Promise<void> {
    this.#closed = true;
    const closing: Promise<string>[] = [];
    for (const entry of this.#entries.values()) {
      for (const idle of entry.idle.splice(0)) {
        clearTimeout(idle.timer);
        closing.push(idle.session.whenClosed());
        idle.session.close();
      }
      for (const waiter of entry.waiters.splice(0)) {
        waiter.reject(
          new ProvctlError("Internal", "errors.internal", {
            params: { detail: "SSH pool closed while waiting" },
          }),
        );
      }
    }
    for (const session of this.#lent) {
      closing.push(session.whenClosed());
      session.close();
    }
    this.#lent.clear();
    return Promise.all(closing).then(() => {});
  }

  #entry(key: string): Entry {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { idle: [], busy: 0, waiters: [], stats: emptyStats() };
      this.#entries.set(key, entry);
    }
    return entry;
  }

  #takeIdle(entry: Entry): SshSession | undefined {
    while (entry.idle.length > 0) {
      const idle = entry.idle.pop()!;
      clearTimeout(idle.timer);
      if (!idle.session.closed) return idle.session;
    }
    return undefined;
  }

  #lease(entry: Entry, session: SshSession, reused: boolean): SessionLease {
    entry.busy++;
    this.#lent.add(session);
    return this.#makeLease(entry, session, reused);
  }

  #makeLease(entry: Entry, session: SshSession, reused = false): SessionLease {
    let done = false;
    const finish = (keep: boolean) => {
      if (done) return;
      done = true;
      this.#lent.delete(session);
      entry.busy--;
      if (!keep || session.closed || this.#closed) {
        session.close();
        this.#wakeOne(entry);
        return;
      }
      const waiter = entry.waiters.shift();
      if (waiter) {
        entry.stats.reused++;
        waiter.resolve(this.#lease(entry, session, true));
        return;
      }
      this.#park(entry, session);
    };
    return { session, reused, release: () => finish(true), discard: () => finish(false) };
  }

  #park(entry: Entry, session: SshSession): void {
    const idle: Idle = { session, timer: undefined };
    if (this.#idleTimeoutMs <= 0) {
      session.close();
      return;
    }
    idle.timer = setTimeout(() => {
      const at = entry.idle.indexOf(idle);
      if (at >= 0) entry.idle.splice(at, 1);
      entry.stats.idleClosed++;
      session.close();
    }, this.#idleTimeoutMs);
    // An idle connection must not keep a finished CLI process alive.
    Deno.unrefTimer(idle.timer);
    entry.idle.push(idle);
  }

  #wakeOne(entry: Entry): void {
    entry.waiters.shift()?.resolve("slot");
  }

  async #open(
    key: string,
    plan: ConnectionPlan,
    signal: AbortSignal | undefined,
  ): Promise<SshSession> {
    // cockatiel is loaded with the first connection, not with the module.
    const [{ DEFAULT_RETRY, withRetry }, { withBreaker }] = await Promise.all([
      import("./retry.ts"),
      import("./circuit_breaker.ts"),
    ]);
    const retryOptions = this.#options.retry ?? DEFAULT_RETRY;
    const connect = () =>
      withRetry(() => connectSession(plan, { ...this.#options.connect, signal }), retryOptions, {
        signal,
        onRetry: (error, retry, delay) => this.#options.onRetry?.(key, error, retry, delay),
      });
    const breaker = this.#options.breaker;
    if (!breaker) return connect();
    const host = endpointLabel(plan.target).replace(/^[^@]*@/, "");
    return withBreaker(host, breaker, connect);
  }
}
