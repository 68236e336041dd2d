/**
 * Operations started over the API (exec, deploy, rollback): their request, per-machine
 * results and outcome, polled at GET /operations/{id}. OperationStore is the seam for
 * the state backends; the files backend keeps them in memory (the last N finished).
 */

export type OperationKind = "exec" | "deploy" | "rollback";
export type OperationStatus = "running" | "succeeded" | "failed" | "cancelled";

export interface OperationRecord {
  readonly id: string;
  readonly kind: OperationKind;
  status: OperationStatus;
  readonly operator: string;
  readonly created: string;
  finished: string | null;
  readonly request: Readonly<Record<string, unknown>>;
  /** Exec: one record per machine, as each finishes. */
  readonly results: unknown[];
  /** Deploy/rollback: the result record. */
  result: unknown | null;
  /** Why it failed or was cancelled (a problem document). */
  error: Readonly<Record<string, unknown>> | null;
}

export interface OperationStore {
  create(kind: OperationKind, operator: string, request: Record<string, unknown>): OperationRecord;
  get(id: string): OperationRecord | undefined;
  /** Newest first. */
  list(): OperationRecord[];
  /** An operation another server sharing the state started (postgres); undefined: none. */
  lookup?(id: string): Promise<OperationRecord | undefined>;
  /** Newest first, every server's (postgres). */
  listShared?(): Promise<OperationRecord[]>;
  /** Marks it finished (it stays readable until it falls out of the kept window). */
  finish(
    op: OperationRecord,
    status: Exclude<OperationStatus, "running">,
    outcome?: { result?: unknown; error?: Record<string, unknown> },
  ): void;
}

export class MemoryOperationStore implements OperationStore {
  readonly #ops = new Map<string, OperationRecord>();
  readonly #kept: number;

  constructor(kept: number) {
    this.#kept = kept;
  }

  create(kind: OperationKind, operator: string, request: Record<string, unknown>) {
    const op: OperationRecord = {
      id: `op-${crypto.randomUUID()}`,
      kind,
      status: "running",
      operator,
      created: new Date().toISOString(),
      finished: null,
      request,
      results: [],
      result: null,
      error: null,
    };
    this.#ops.set(op.id, op);
    return op;
  }

  get(id: string) {
    return this.#ops.get(id);
  }

  list() {
    return [...this.#ops.values()].reverse();
  }

  finish(
    op: OperationRecord,
    status: Exclude<OperationStatus, "running">,
    outcome: { result?: unknown; error?: Record<string, unknown> } = {},
  ) {
    op.status = status;
    op.finished = new Date().toISOString();
    if (outcome.result !== undefined) op.result = outcome.result;
    if (outcome.error !== undefined) op.error = outcome.error;
    // Forget the oldest finished ones beyond the window; running ones always stay.
    const finished = [...this.#ops.values()].filter((o) => o.status !== "running");
    for (const old of finished.slice(0, Math.max(0, finished.length - this.#kept))) {
      this.#ops.delete(old.id);
    }
  }
}

/** Where SharedOperationStore writes through to (a StateBackend). */
export interface SharedOperations {
  putOperation(op: OperationRecord): Promise<void>;
  getOperation(id: string): Promise<OperationRecord | undefined>;
  listOperations(limit: number): Promise<OperationRecord[]>;
}

/**
 * Operations kept in memory and written through to a shared state backend, so every
 * `provctl serve` on the same database can show them. A write that fails (database
 * away) only costs the other servers their view; this server's stays whole.
 */
export class SharedOperationStore implements OperationStore {
  readonly #memory: MemoryOperationStore;
  readonly #shared: SharedOperations;
  readonly #kept: number;
  readonly #onError: (error: unknown) => void;

  constructor(
    kept: number,
    shared: SharedOperations,
    onError: (error: unknown) => void = () => {},
  ) {
    this.#memory = new MemoryOperationStore(kept);
    this.#shared = shared;
    this.#kept = kept;
    this.#onError = onError;
  }

  create(kind: OperationKind, operator: string, request: Record<string, unknown>) {
    const op = this.#memory.create(kind, operator, request);
    this.#shared.putOperation(op).catch(this.#onError);
    return op;
  }

  get(id: string) {
    return this.#memory.get(id);
  }

  list() {
    return this.#memory.list();
  }

  /** Read from the database (what another server started). */
  lookup(id: string) {
    return this.#shared.getOperation(id);
  }

  /** Every server's, with this server's own (fresher: results so far) in their place. */
  async listShared() {
    const mine = new Map(this.#memory.list().map((op) => [op.id, op]));
    const shared = await this.#shared.listOperations(this.#kept);
    const merged = shared.map((op) => mine.get(op.id) ?? op);
    const seen = new Set(merged.map((op) => op.id));
    for (const op of mine.values()) if (!seen.has(op.id)) merged.push(op);
    return merged.sort((a, b) => b.created.localeCompare(a.created));
  }

  finish(
    op: OperationRecord,
    status: Exclude<OperationStatus, "running">,
    outcome?: { result?: unknown; error?: Record<string, unknown> },
  ) {
    this.#memory.finish(op, status, outcome);
    this.#shared.putOperation(op).catch(this.#onError);
  }
}
