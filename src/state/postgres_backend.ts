/**
 * The `postgres` state backend: one database shared by every controller and every
 * `provctl serve`. Loaded (with the npm `postgres` client) only when
 * `[state] backend = "postgres"`.
 *
 * - Deployment state: a row per deployment with a revision (compare-and-set updates).
 * - Deploy locks: session advisory locks (pg_try_advisory_lock) held on a connection
 *   reserved for the deploy, so a controller that dies releases them with its session;
 *   provctl_deploy_locks says who holds one and since when.
 * - Audit: append-only provctl_audit; the local JSONL is written first and shipped by an
 *   AuditShipper (backlog kept across outages, replays skipped by record id).
 * - Schema: versioned migrations (_pg_migrations.ts), applied by `provctl state migrate`.
 */
import postgres from "postgres";
import { ProvctlError } from "../core/errors.ts";
import {
  type DeployLock,
  type DeploymentState,
  holderText,
  type LockHolder,
} from "../fleet/deploy/lock.ts";
import { auditFilter, type AuditQuery, type AuditRecord } from "../observe/audit_log.ts";
import { AuditShipper } from "./audit_shipper.ts";
import type { LockRequest, StateBackend, StateStatus, VersionedState } from "./backend.ts";
import type { OperationRecord } from "./operations.ts";
import type { StoredToken, TokenStore } from "./tokens.ts";
import { VERSION } from "../version.ts";
import {
  EVENTS_CHANNEL,
  MIGRATE_LOCK_KEY,
  MIGRATIONS,
  SCHEMA_TABLE,
  SCHEMA_VERSION,
} from "./_pg_migrations.ts";

export { SCHEMA_VERSION };

export const SSL_MODES = ["disable", "prefer", "require", "verify-full"] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface PostgresOptions {
  /** postgres://user:password@host:port/database (from the env var named by url_env). */
  readonly url: string;
  readonly sslmode: SslMode;
  /** PEM CA bundle to verify the server with (implies verify-full). */
  readonly caFile?: string;
  /** The local audit log to ship (its backlog is shipped when the database is back). */
  readonly auditFile?: string;
  /** Told when audit shipping goes offline / comes back. */
  readonly onAuditOffline?: (error: unknown) => void;
  readonly onAuditOnline?: (shipped: number) => void;
}

type Sql = postgres.Sql;

/** host:port/database of a URL (never its user or password). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") return "?";
    return `${u.hostname || "localhost"}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "?";
  }
}

/** True when `pid` certainly does not run on this machine (known only where /proc is). */
function processGone(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return false;
  }
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(") ") + 2).trimStart()[0];
    return state === "Z" || state === "X";
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/** A stable signed 64-bit advisory lock key for a deployment name. */
export async function lockKey(name: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`provctl.deploy:${name}`)),
  );
  return new DataView(bytes.buffer).getBigInt64(0).toString();
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "57P01", // admin_shutdown (server restarting)
  "57P02",
  "57P03", // cannot_connect_now (starting up)
]);

export class PostgresStateBackend implements StateBackend {
  readonly name = "postgres" as const;
  readonly location: string;
  readonly tokens: TokenStore;
  readonly #sql: Sql;
  readonly #shipper?: AuditShipper;
  #closed = false;

  private constructor(sql: Sql, location: string, options: PostgresOptions) {
    this.#sql = sql;
    this.location = location;
    this.tokens = new PgTokenStore(this);
    if (options.auditFile !== undefined) {
      this.#shipper = new AuditShipper({
        auditFile: options.auditFile,
        target: location,
        send: (records) => this.appendAudit(records),
        onOffline: options.onAuditOffline,
        onOnline: options.onAuditOnline,
      });
    }
  }

  /** Connects lazily (the first query connects); see check() for the schema. */
  static async open(options: PostgresOptions): Promise<PostgresStateBackend> {
    const location = describeUrl(options.url);
    if (location === "?") {
      throw new ProvctlError("InvalidConfig", "state.url_invalid", { params: { env: "url" } });
    }
    let ssl: postgres.Options<Record<string, never>>["ssl"];
    if (options.caFile) {
      let ca: string;
      try {
        ca = await Deno.readTextFile(options.caFile);
      } catch (error) {
        throw new ProvctlError("InvalidConfig", "state.ca_unreadable", {
          params: { path: options.caFile, reason: (error as Error).message },
        });
      }
      ssl = { ca, rejectUnauthorized: true };
    } else {
      ssl = options.sslmode === "disable" ? false : options.sslmode;
    }
    const sql = postgres(options.url, {
      max: 4,
      connect_timeout: 10,
      idle_timeout: 30,
      ssl,
      onnotice: () => {},
      connection: { application_name: "provctl" },
    });
    return new PostgresStateBackend(sql, location, options);
  }

  /** Runs a query, turning client and server errors into one clear ProvctlError. */
  async q<T>(run: (sql: Sql) => Promise<T>): Promise<T> {
    try {
      return await run(this.#sql);
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #wrap(error: unknown): unknown {
    if (error instanceof ProvctlError) return error;
    const e = error as { code?: string; message?: string; errors?: { code?: string }[] };
    const code = e?.code ?? e?.errors?.[0]?.code;
    const reason = e?.message || code || String(error);
    if (code !== undefined && CONNECTION_CODES.has(code)) {
      return new ProvctlError("ConnectionFailed", "state.db_unreachable", {
        params: { location: this.location, reason },
        hint: "state.db_unreachable_hint",
        cause: error,
      });
    }
    return new ProvctlError("CommandFailed", "state.db_failed", {
      params: { location: this.location, reason },
      cause: error,
    });
  }

  /** The database's schema version (0: no provctl schema yet). */
  async schemaVersion(): Promise<number> {
    return await this.q(async (sql) => {
      const [row] = await sql`select to_regclass('provctl_schema') is not null as present`;
      if (!row.present) return 0;
      const [v] = await sql`select coalesce(max(version), 0)::int as version from provctl_schema`;
      return Number(v.version);
    });
  }

  /** Refuses a database whose schema is not the one this provctl was built for. */
  async check(): Promise<void> {
    const version = await this.schemaVersion();
    if (version > SCHEMA_VERSION) throw schemaNewer(this.location, version);
    if (version < SCHEMA_VERSION) {
      throw new ProvctlError("BackendUnavailable", "state.schema_old", {
        params: { location: this.location, version, supported: SCHEMA_VERSION },
        hint: "state.schema_old_hint",
      });
    }
  }

  /** Applies the missing migrations in one transaction; returns the versions applied. */
  async migrate(): Promise<{ from: number; to: number; applied: number[] }> {
    return await this.q(async (sql) =>
      await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${MIGRATE_LOCK_KEY}::bigint)`;
        await tx.unsafe(SCHEMA_TABLE);
        const [v] = await tx`select coalesce(max(version), 0)::int as version from provctl_schema`;
        const from = Number(v.version);
        if (from > SCHEMA_VERSION) throw schemaNewer(this.location, from);
        const applied: number[] = [];
        for (const m of MIGRATIONS) {
          if (m.version <= from) continue;
          await tx.unsafe(m.sql);
          await tx`insert into provctl_schema (version, description, provctl)
                   values (${m.version}, ${m.description}, ${VERSION})`;
          applied.push(m.version);
        }
        return { from, to: Math.max(from, SCHEMA_VERSION), applied };
      }) as { from: number; to: number; applied: number[] }
    );
  }

  async getDeployment(name: string): Promise<VersionedState> {
    const [row] = await this.q((sql) =>
      sql`select state, revision from provctl_deployments where name = ${name}`
    );
    if (!row) return { state: undefined, revision: 0 };
    return { state: row.state as DeploymentState, revision: Number(row.revision) };
  }

  async putDeployment(state: DeploymentState, expected: number): Promise<number | undefined> {
    const json = JSON.stringify(state);
    const rows = await this.q((sql) =>
      expected === 0
        ? sql`insert into provctl_deployments (name, state, revision)
              values (${state.deployment}, ${json}::text::jsonb, 1)
              on conflict (name) do nothing returning revision`
        : sql`update provctl_deployments
              set state = ${json}::text::jsonb, revision = revision + 1, updated = now()
              where name = ${state.deployment} and revision = ${expected}
              returning revision`
    );
    return rows.length === 0 ? undefined : Number(rows[0].revision);
  }

  async acquireDeployLock(name: string, request: LockRequest): Promise<DeployLock> {
    const key = await lockKey(name);
    // The lock belongs to this connection's session: it lives exactly as long as we do.
    const conn = await this.q((sql) => sql.reserve());
    const deadline = Date.now() + (request.waitMs ?? 0);
    try {
      let pid = 0;
      for (;;) {
        const [row] = await conn`select pg_try_advisory_lock(${key}::bigint) as locked,
                                        pg_backend_pid() as pid`;
        pid = Number(row.pid);
        if (row.locked) break;
        if (Date.now() >= deadline) {
          // The winner writes its holder row just after taking the lock: give it a moment
          // so the refusal names who holds it rather than "unknown".
          let held: { holder: unknown } | undefined;
          for (let i = 0; i < 20; i++) {
            // A row of a session that is gone does not count: its holder no longer holds it.
            [held] = await conn`select holder from provctl_deploy_locks
                                where deployment = ${name} and session_pid in
                                  (select pid from pg_stat_activity)`;
            if (held) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          throw new ProvctlError("Locked", "deploy.locked", {
            params: {
              deployment: name,
              holder: held ? holderText(held.holder as LockHolder) : "unknown",
              path: `PostgreSQL advisory lock ${key} on ${this.location}`,
            },
            hint: "deploy.locked_hint",
          });
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      // We hold it: a holder row still there belongs to a session that ended.
      const [old] = await conn`select holder from provctl_deploy_locks where deployment = ${name}`;
      const me: LockHolder = {
        pid: Deno.pid,
        hostname: Deno.hostname(),
        user: request.user,
        deploymentId: request.deploymentId,
        operation: request.operation,
        since: new Date().toISOString(),
      };
      await conn`insert into provctl_deploy_locks (deployment, holder, session_pid)
                 values (${name}, ${JSON.stringify(me)}::text::jsonb, ${pid})
                 on conflict (deployment) do update
                 set holder = excluded.holder, session_pid = excluded.session_pid, since = now()`;
      // Which session is ours (a pid alone may be reused by a later session).
      const [{ started }] = await conn`select backend_start::text as started
                                       from pg_stat_activity where pid = pg_backend_pid()`;
      let released = false;
      const recovered = old ? old.holder as LockHolder : undefined;
      return {
        recovered,
        // Its session ended, but the process may run on (a database restart, a dropped
        // connection): dead only if it was on this machine and is no longer running.
        recoveredDead: recovered !== undefined && recovered.hostname === Deno.hostname() &&
          processGone(recovered.pid),
        release: async () => {
          if (released) return;
          released = true;
          let live = false;
          try {
            // A query on a reserved connection the server has closed throws out of the
            // driver's own timer (uncaught): ask through the pool if the session is there.
            const rows = await this.q((sql) =>
              sql`select 1 from pg_stat_activity
                  where pid = ${pid} and backend_start::text = ${started}::text`
            );
            live = rows.length > 0;
            if (live) {
              await conn`delete from provctl_deploy_locks
                         where deployment = ${name} and session_pid = ${pid}`;
              await conn`select pg_advisory_unlock(${key}::bigint)`;
            } else {
              // The session is gone (database restart): so is the lock; its holder row
              // goes too, unless a later holder's replaced it.
              await this.q((sql) =>
                sql`delete from provctl_deploy_locks
                    where deployment = ${name} and session_pid = ${pid}`
              );
            }
          } catch {
            // The database is unreachable: the session, and the lock, are gone.
          } finally {
            // Only a working connection goes back: the driver would hand a closed one
            // to the next query, which then throws the same way.
            if (live) conn.release();
          }
        },
      };
    } catch (error) {
      conn.release();
      throw this.#wrap(error);
    }
  }

  async appendAudit(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    const rows = await Promise.all(
      records.map(async (r) => ({ ...r, id: r.id ?? await legacyId(r) })),
    );
    const json = JSON.stringify(rows);
    // One statement, in file order; ids already stored (a replayed backlog) are skipped.
    await this.q((sql) =>
      sql`insert into provctl_audit (id, ts, machine, op, result, deployment_id, record)
          select r->>'id', (r->>'ts')::timestamptz, r->>'machine', r->>'op', r->>'result',
                 r->>'deployment_id', r
          from jsonb_array_elements(${json}::text::jsonb) with ordinality as t(r, n)
          order by n
          on conflict (id) do nothing`
    );
  }

  async queryAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const matches = auditFilter(query);
    const rows = await this.q((sql) =>
      sql`select record from provctl_audit
          where true
          ${query.result !== undefined ? sql`and result = ${query.result}` : sql``}
          ${
        query.deploymentId !== undefined ? sql`and deployment_id = ${query.deploymentId}` : sql``
      }
          order by seq`
    );
    const out = rows.map((r) => r.record as AuditRecord).filter(matches);
    return query.limit !== undefined ? out.slice(-query.limit) : out;
  }

  /** The audit shipper of this backend's local log (when it was given one). */
  get shipper(): AuditShipper | undefined {
    return this.#shipper;
  }

  readonly shipAudit = async (): Promise<void> => {
    await this.#shipper?.ship();
  };

  async getBreaker(host: string): Promise<unknown | undefined> {
    const [row] = await this.q((sql) =>
      sql`select state from provctl_breakers where host = ${host}`
    );
    return row?.state;
  }

  async putBreaker(host: string, state: unknown): Promise<void> {
    const json = JSON.stringify(state);
    await this.q((sql) =>
      sql`insert into provctl_breakers (host, state) values (${host}, ${json}::text::jsonb)
          on conflict (host) do update set state = excluded.state, updated = now()`
    );
  }

  async listBreakers(): Promise<{ host: string; state: unknown }[]> {
    const rows = await this.q((sql) => sql`select host, state from provctl_breakers order by host`);
    return rows.map((r) => ({ host: r.host as string, state: r.state }));
  }

  async deleteBreaker(host: string): Promise<boolean> {
    const rows = await this.q((sql) =>
      sql`delete from provctl_breakers where host = ${host} returning host`
    );
    return rows.length > 0;
  }

  async putOperation(op: OperationRecord): Promise<void> {
    const json = JSON.stringify(op);
    await this.q((sql) =>
      sql`insert into provctl_operations (id, created, record)
          values (${op.id}, ${op.created}::timestamptz, ${json}::text::jsonb)
          on conflict (id) do update set record = excluded.record`
    );
  }

  async getOperation(id: string): Promise<OperationRecord | undefined> {
    const [row] = await this.q((sql) =>
      sql`select record from provctl_operations where id = ${id}`
    );
    return row?.record as OperationRecord | undefined;
  }

  async listOperations(limit: number): Promise<OperationRecord[]> {
    const rows = await this.q((sql) =>
      sql`select record from provctl_operations order by created desc, id limit ${limit}`
    );
    return rows.map((r) => r.record as OperationRecord);
  }

  /** Sends an event to every `provctl serve` listening on this database. */
  async notify(payload: string): Promise<void> {
    await this.q((sql) => sql.notify(EVENTS_CHANNEL, payload));
  }

  /** Calls `fn` with every event notified on this database; returns "stop listening". */
  async listen(fn: (payload: string) => void): Promise<() => Promise<void>> {
    const sub = await this.q((sql) => sql.listen(EVENTS_CHANNEL, fn));
    return async () => await sub.unlisten().catch(() => {});
  }

  async status(): Promise<StateStatus> {
    const version = await this.schemaVersion();
    await this.#shipper?.ship({ wait: true });
    return {
      backend: "postgres",
      location: this.location,
      schema_version: version,
      schema_supported: SCHEMA_VERSION,
      audit_backlog: (await this.#shipper?.backlog()) ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#shipper?.close();
    } finally {
      await this.#sql.end({ timeout: 2 }).catch(() => {});
    }
  }
}

function schemaNewer(location: string, version: number): ProvctlError {
  return new ProvctlError("Unsupported", "state.schema_newer", {
    params: { location, version, supported: SCHEMA_VERSION },
  });
}

/** Records written before ids existed: the hash of their content stands in. */
async function legacyId(record: AuditRecord): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(record))),
  );
  return "sha256:" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class PgTokenStore implements TokenStore {
  readonly #db: PostgresStateBackend;

  constructor(db: PostgresStateBackend) {
    this.#db = db;
  }

  async add(token: StoredToken): Promise<void> {
    const json = JSON.stringify(token);
    const rows = await this.#db.q((sql) =>
      sql`insert into provctl_tokens (name, token) values (${token.name}, ${json}::text::jsonb)
          on conflict (name) do nothing returning name`
    );
    if (rows.length === 0) {
      throw new ProvctlError("Conflict", "token.exists", { params: { name: token.name } });
    }
  }

  async remove(name: string): Promise<boolean> {
    const rows = await this.#db.q((sql) =>
      sql`delete from provctl_tokens where name = ${name} returning name`
    );
    return rows.length > 0;
  }

  async list(): Promise<StoredToken[]> {
    const rows = await this.#db.q((sql) => sql`select token from provctl_tokens order by name`);
    return rows.map((r) => r.token as StoredToken);
  }
}
