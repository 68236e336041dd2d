/**
 * Runs one task on many machines with bounded concurrency (--forks), stopping early
 * when failures pass a budget (--max-failures N or P%). Each machine's outcome says
 * whether the task succeeded, failed on the machine, or could not reach it.
 */
import { isProvctlError, ProvctlError } from "../core/errors.ts";

export type OutcomeStatus = "ok" | "failed" | "unreachable" | "skipped";

export interface HostOutcome<T> {
  readonly host: string;
  readonly status: OutcomeStatus;
  readonly value?: T;
  readonly error?: unknown;
  readonly durationMs: number;
}

/** A failure budget: more failures than this stops scheduling further machines. */
export interface FailureBudget {
  readonly count?: number;
  readonly percent?: number;
}

export interface FleetEvent {
  readonly total: number;
  readonly done: number;
  readonly failed: number;
  readonly running: number;
  readonly outcome?: HostOutcome<unknown>;
}

export interface RunFleetOptions {
  readonly forks: number;
  readonly maxFailures?: FailureBudget;
  readonly signal?: AbortSignal;
  /** Called after every start and finish (progress line, streaming output). */
  readonly onEvent?: (event: FleetEvent) => void;
}

/** The task's verdict on its own result (e.g. a non-zero exit code is "failed"). */
export type TaskResult<T> = { readonly ok: boolean; readonly value: T };

/** Errors that mean the machine was never reached (nothing ran there). */
const UNREACHABLE_KINDS = new Set([
  "ConnectionFailed",
  "AuthFailed",
  "HostKeyUnknown",
  "HostKeyMismatch",
  "HostKeyRevoked",
  "CircuitOpen",
]);

export function isUnreachable(error: unknown): boolean {
  if (!isProvctlError(error)) return false;
  if (UNREACHABLE_KINDS.has(error.kind)) return true;
  // A connect or auth timeout never reached the command.
  return error.kind === "Timeout" &&
    /connect|auth|handshake/.test(error.key + JSON.stringify(error.params));
}

/** "3" or "25%" (of the selected machines). */
export function parseFailureBudget(text: string): FailureBudget {
  const m = /^(\d+)(%?)$/.exec(text.trim());
  if (!m || (m[2] && Number(m[1]) > 100)) {
    throw new ProvctlError("Usage", "fleet.max_failures_invalid", { params: { value: text } });
  }
  return m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
}

export function budgetExceeded(
  budget: FailureBudget | undefined,
  failures: number,
  total: number,
): boolean {
  if (!budget) return false;
  if (budget.count !== undefined) return failures > budget.count;
  return failures * 100 > (budget.percent ?? 100) * total;
}

export async function runFleet<H extends { readonly name: string }, T>(
  hosts: readonly H[],
  task: (host: H, signal: AbortSignal) => Promise<TaskResult<T>>,
  options: RunFleetOptions,
): Promise<HostOutcome<T>[]> {
  if (!Number.isInteger(options.forks) || options.forks < 1) {
    throw new ProvctlError("Usage", "fleet.forks_invalid", { params: { value: options.forks } });
  }
  const outcomes: (HostOutcome<T> | undefined)[] = new Array(hosts.length);
  // Two different stops: the caller's signal cancels running tasks (Ctrl-C); a spent
  // failure budget only stops scheduling — tasks already running finish normally.
  const cancel = options.signal ?? new AbortController().signal;
  let budgetSpent = false;
  let next = 0, done = 0, failed = 0, running = 0;
  const emit = (outcome?: HostOutcome<T>) =>
    options.onEvent?.({ total: hosts.length, done, failed, running, outcome });

  const worker = async () => {
    while (next < hosts.length && !budgetSpent && !cancel.aborted) {
      const index = next++;
      const host = hosts[index];
      running++;
      emit();
      const started = performance.now();
      let outcome: HostOutcome<T>;
      try {
        const result = await task(host, cancel);
        outcome = {
          host: host.name,
          status: result.ok ? "ok" : "failed",
          value: result.value,
          durationMs: performance.now() - started,
        };
      } catch (error) {
        outcome = {
          host: host.name,
          status: isUnreachable(error) ? "unreachable" : "failed",
          error,
          durationMs: performance.now() - started,
        };
      }
      running--;
      done++;
      if (outcome.status !== "ok") failed++;
      outcomes[index] = outcome;
      emit(outcome);
      if (budgetExceeded(options.maxFailures, failed, hosts.length)) budgetSpent = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.forks, hosts.length) }, worker));
  return hosts.map((h, i) => outcomes[i] ?? { host: h.name, status: "skipped", durationMs: 0 });
}
