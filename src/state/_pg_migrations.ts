/**
 * The PostgreSQL schema of the state backend, one migration per version, in order.
 * Never edit a released migration: add the next one. `provctl state migrate` applies the
 * missing ones; every other command refuses a database whose version differs from
 * SCHEMA_VERSION (older: migrate it; newer: upgrade provctl).
 */

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "deployment state, deploy lock holders, audit log, breakers, tokens, operations",
    sql: `
CREATE TABLE provctl_deployments (
  name text PRIMARY KEY,
  state jsonb NOT NULL,
  revision bigint NOT NULL CHECK (revision > 0),
  updated timestamptz NOT NULL DEFAULT now()
);

-- Who holds a deployment's advisory lock (the lock itself is pg_advisory_lock, held by
-- the holder's session); a row whose session is gone is a holder that died.
CREATE TABLE provctl_deploy_locks (
  deployment text PRIMARY KEY,
  holder jsonb NOT NULL,
  session_pid integer NOT NULL,
  since timestamptz NOT NULL DEFAULT now()
);

-- Append-only: records are inserted once (id is the record's UUID, so a replayed backlog
-- is skipped) and never changed.
CREATE TABLE provctl_audit (
  seq bigserial PRIMARY KEY,
  id text NOT NULL UNIQUE,
  ts timestamptz NOT NULL,
  machine text NOT NULL,
  op text NOT NULL,
  result text NOT NULL,
  deployment_id text,
  record jsonb NOT NULL,
  received timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provctl_audit_ts ON provctl_audit (ts);
CREATE INDEX provctl_audit_deployment ON provctl_audit (deployment_id)
  WHERE deployment_id IS NOT NULL;
CREATE FUNCTION provctl_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'provctl_audit is append-only';
END
$$;
CREATE TRIGGER provctl_audit_no_change BEFORE UPDATE OR DELETE ON provctl_audit
  FOR EACH ROW EXECUTE FUNCTION provctl_audit_append_only();
CREATE TRIGGER provctl_audit_no_truncate BEFORE TRUNCATE ON provctl_audit
  FOR EACH STATEMENT EXECUTE FUNCTION provctl_audit_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON provctl_audit FROM PUBLIC;

CREATE TABLE provctl_breakers (
  host text PRIMARY KEY,
  state jsonb NOT NULL,
  updated timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provctl_tokens (
  name text PRIMARY KEY,
  token jsonb NOT NULL
);

CREATE TABLE provctl_operations (
  id text PRIMARY KEY,
  created timestamptz NOT NULL,
  record jsonb NOT NULL
);
CREATE INDEX provctl_operations_created ON provctl_operations (created DESC);
`,
  },
];

/** The schema version this provctl reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

export const SCHEMA_TABLE = `
CREATE TABLE IF NOT EXISTS provctl_schema (
  version integer PRIMARY KEY,
  description text NOT NULL,
  applied timestamptz NOT NULL DEFAULT now(),
  provctl text NOT NULL
)`;

/** Serialises concurrent `provctl state migrate` runs (pg_advisory_xact_lock). */
export const MIGRATE_LOCK_KEY = "7022817240135172921";

/** The channel `provctl serve` instances share events on. */
export const EVENTS_CHANNEL = "provctl_events";
