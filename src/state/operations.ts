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
