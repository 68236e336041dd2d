/**
 * StateBackend: where a controller keeps what several controllers must agree on — the
 * deployment state, the deploy locks, the audit trail, SSH breaker state, API tokens and
 * API operation records. Two implementations share one contract suite
 * (tests/state/contract.ts): `files` (the state dir; zero setup, one controller) and
 * `postgres` (one database shared by every controller and `provctl serve`).
 */
import type { DeployLock, DeploymentState } from "../fleet/deploy/lock.ts";
import type { AuditQuery, AuditRecord } from "../observe/audit_log.ts";
import type { OperationRecord } from "./operations.ts";
import type { TokenStore } from "./tokens.ts";

export type StateBackendName = "files" | "postgres";

/** A deployment's state and its revision (0: none recorded yet). */
export interface VersionedState {
  readonly state: DeploymentState | undefined;
  readonly revision: number;
}

export interface LockRequest {
  readonly deploymentId: string;
  readonly operation: string;
  readonly user: string;
  /** How long to wait for a live holder before refusing (ms, default 0). */
  readonly waitMs?: number;
}

export interface StateStatus {
  readonly backend: StateBackendName;
  /** Where the state lives (a directory, or host:port/database; never a password). */
  readonly location: string;
  /** Schema version of the database (null: files). */
  readonly schema_version: number | null;
  /** Schema version this provctl writes (null: files). */
  readonly schema_supported: number | null;
  /** Audit records written locally and not yet acknowledged by the database. */
  readonly audit_backlog: number;
}

export interface StateBackend {
  readonly name: StateBackendName;

  /** The recorded state of deployment `name` and its revision. */
  getDeployment(name: string): Promise<VersionedState>;
  /**
   * Records `state` if the stored revision is still `expected` (compare-and-set);
   * returns the new revision, or undefined when another controller wrote in between.
   */
  putDeployment(state: DeploymentState, expected: number): Promise<number | undefined>;

  /** Takes the deploy lock of `name`; a ProvctlError (Locked) naming the holder if held. */
  acquireDeployLock(name: string, request: LockRequest): Promise<DeployLock>;

  /** Stores audit records (written locally first); a record whose id is stored is skipped. */
  appendAudit(records: readonly AuditRecord[]): Promise<void>;
  /** Stored audit records matching `query`, oldest first. */
  queryAudit(query: AuditQuery): Promise<AuditRecord[]>;

  /** A host's breaker state (an opaque JSON document), or undefined. */
  getBreaker(host: string): Promise<unknown | undefined>;
  putBreaker(host: string, state: unknown): Promise<void>;
  listBreakers(): Promise<{ host: string; state: unknown }[]>;
  deleteBreaker(host: string): Promise<boolean>;

  readonly tokens: TokenStore;

  /** Writes an operation record (created or updated). */
  putOperation(op: OperationRecord): Promise<void>;
  getOperation(id: string): Promise<OperationRecord | undefined>;
  /** Newest first, at most `limit`. */
  listOperations(limit: number): Promise<OperationRecord[]>;

  /**
   * Ships the local audit log's new records to the shared store (postgres; absent for
   * files, whose local log is the store). Never throws; waits only while it is reachable.
   */
  readonly shipAudit?: () => Promise<void>;

  /** Refuses a store this provctl cannot use (postgres: schema version); absent: none. */
  check?(): Promise<void>;

  status(): Promise<StateStatus>;
  close(): Promise<void>;
}
