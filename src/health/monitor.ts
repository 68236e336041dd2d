/**
 * HealthMonitor: turns a stream of check results into a state with hysteresis.
 * A target becomes healthy after `healthyThreshold` consecutive passing checks and
 * unhealthy after `unhealthyThreshold` consecutive failing ones (a check error counts
 * as a failure), so one slow answer does not flap the state:
 *
 *   unknown -> healthy | unhealthy;  healthy -> unhealthy;  unhealthy -> recovered;
 *   recovered -> healthy (the next pass) | unhealthy
 *
 * Every transition is logged with the clock's time; the clock is injectable so tests
 * drive time by hand. `waitHealthy` is the deploy gate: poll until healthy or give up.
 */
import { ProvctlError } from "../core/errors.ts";
import type { CommandRunner } from "../exec/runner.ts";
import { type CheckResult, describeCheck, type HealthCheck, runCheck } from "./checks.ts";

export type HealthState = "unknown" | "healthy" | "unhealthy" | "recovered";

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

const systemClock: Clock = { now: () => Date.now() };

export interface HealthTransition {
  readonly from: HealthState;
  readonly to: HealthState;
  /** Clock time of the check result that caused it. */
  readonly at: number;
  /** The result that caused it. */
  readonly result: CheckResult;
  /** On leaving unhealthy: how long that unhealthy period lasted. */
  readonly unhealthyMs?: number;
}

export interface HealthMonitorOptions {
  /** Where the check runs (see runCheck); default: this machine. */
  readonly runner?: CommandRunner;
  /** Per-check time limit when the check sets none. */
  readonly timeoutMs?: number;
  /** Consecutive passes to be healthy (default 2). */
  readonly healthyThreshold?: number;
  /** Consecutive failures to be unhealthy (default 3). */
  readonly unhealthyThreshold?: number;
  readonly clock?: Clock;
}

export interface WatchOptions {
  /** Time from the start of one check to the start of the next. */
  readonly intervalMs: number;
  /** Aborting ends the watch (watch() then resolves). */
  readonly signal?: AbortSignal;
  readonly onTransition?: (transition: HealthTransition, monitor: HealthMonitor) => void;
  readonly onResult?: (result: CheckResult, monitor: HealthMonitor) => void;
}

/** A plain-data view of a monitor, for `-o json`. */
export interface HealthSnapshot {
  readonly state: HealthState;
  /** Clock time of the last transition, or undefined while unknown. */
  readonly since?: number;
  readonly consecutivePasses: number;
  readonly consecutiveFailures: number;
  readonly checks: number;
  readonly unhealthyMs: { readonly current: number; readonly total: number };
  readonly last?: CheckResult;
  readonly transitions: readonly HealthTransition[];
}

function threshold(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new ProvctlError("InvalidArgument", "health.threshold_invalid", {
      params: { name, value },
    });
  }
  return value;
}

export class HealthMonitor {
  readonly check: HealthCheck;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly #options: HealthMonitorOptions;
  readonly #clock: Clock;
  #state: HealthState = "unknown";
  #passes = 0;
  #failures = 0;
  #checks = 0;
  #last?: CheckResult;
  readonly #transitions: HealthTransition[] = [];
  #unhealthySince?: number;
  #unhealthyTotal = 0;

  constructor(check: HealthCheck, options: HealthMonitorOptions = {}) {
    this.check = check;
    this.healthyThreshold = threshold(options.healthyThreshold, 2, "healthy_threshold");
    this.unhealthyThreshold = threshold(options.unhealthyThreshold, 3, "unhealthy_threshold");
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  get state(): HealthState {
    return this.#state;
  }

  get lastResult(): CheckResult | undefined {
    return this.#last;
  }

  /** Every transition so far, oldest first. */
  get transitions(): readonly HealthTransition[] {
    return this.#transitions;
  }

  get consecutivePasses(): number {
    return this.#passes;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Feeds one result; returns the transition it caused, if any. */
  record(result: CheckResult): HealthTransition | undefined {
    const now = this.#clock.now();
    this.#checks++;
    this.#last = result;
    if (result.ok) {
      this.#passes++;
      this.#failures = 0;
    } else {
      this.#failures++;
      this.#passes = 0;
    }
    const healthyEnough = this.#passes >= this.healthyThreshold;
    const failedEnough = this.#failures >= this.unhealthyThreshold;
    let next: HealthState | undefined;
    switch (this.#state) {
      case "unknown":
        next = healthyEnough ? "healthy" : failedEnough ? "unhealthy" : undefined;
        break;
      case "healthy":
        next = failedEnough ? "unhealthy" : undefined;
        break;
      case "unhealthy":
        next = healthyEnough ? "recovered" : undefined;
        break;
      case "recovered":
        next = result.ok ? "healthy" : failedEnough ? "unhealthy" : undefined;
        break;
    }
    if (next === undefined) return undefined;
    let unhealthyMs: number | undefined;
    if (next === "unhealthy") this.#unhealthySince = now;
    if (this.#state === "unhealthy" && this.#unhealthySince !== undefined) {
      unhealthyMs = now - this.#unhealthySince;
      this.#unhealthyTotal += unhealthyMs;
      this.#unhealthySince = undefined;
    }
    const transition: HealthTransition = {
      from: this.#state,
      to: next,
      at: now,
      result,
      ...(unhealthyMs !== undefined ? { unhealthyMs } : {}),
    };
    this.#state = next;
    this.#transitions.push(transition);
    return transition;
  }

  /** Time spent unhealthy: in the current period (0 when not unhealthy) and in all. */
  unhealthyDuration(): { current: number; total: number } {
    const current = this.#unhealthySince === undefined
      ? 0
      : Math.max(0, this.#clock.now() - this.#unhealthySince);
    return { current, total: this.#unhealthyTotal + current };
  }

  snapshot(): HealthSnapshot {
    const lastTransition = this.#transitions.at(-1);
    return {
      state: this.#state,
      ...(lastTransition ? { since: lastTransition.at } : {}),
      consecutivePasses: this.#passes,
      consecutiveFailures: this.#failures,
      checks: this.#checks,
      unhealthyMs: this.unhealthyDuration(),
      ...(this.#last ? { last: this.#last } : {}),
      transitions: [...this.#transitions],
    };
  }

  /** Runs the check once and records it. */
  async checkOnce(options: { signal?: AbortSignal } = {}): Promise<{
    result: CheckResult;
    transition?: HealthTransition;
  }> {
    const result = await runCheck(this.check, {
      runner: this.#options.runner,
      timeoutMs: this.#options.timeoutMs,
      signal: options.signal,
    });
    const transition = this.record(result);
    return transition ? { result, transition } : { result };
  }

  /** Checks every `intervalMs` until the signal aborts; the first check runs at once. */
  async watch(options: WatchOptions): Promise<void> {
    const { signal } = options;
    while (!signal?.aborted) {
      const started = performance.now();
      let outcome: Awaited<ReturnType<HealthMonitor["checkOnce"]>>;
      try {
        outcome = await this.checkOnce({ signal });
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      options.onResult?.(outcome.result, this);
      if (outcome.transition) options.onTransition?.(outcome.transition, this);
      await sleep(options.intervalMs - (performance.now() - started), signal);
    }
  }
}

/** Resolves after `ms` or when the signal aborts, whichever is first. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    // setTimeout (not AbortSignal.timeout): it must keep the process alive while watching.
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

export interface WaitHealthyOptions {
  readonly runner?: CommandRunner;
  /** Give up after this many checks. */
  readonly attempts?: number;
  /** Give up when this much time has passed (default 60000 when attempts is unset too). */
  readonly timeoutMs?: number;
  /** Time from the start of one check to the start of the next (default 1000). */
  readonly intervalMs?: number;
  /** Per-check time limit when the check sets none. */
  readonly checkTimeoutMs?: number;
  /** Consecutive passes required (default 1). */
  readonly healthyThreshold?: number;
  readonly signal?: AbortSignal;
  /** Called after every check (progress output). */
  readonly onResult?: (result: CheckResult, attempt: number) => void;
}

/** The default overall wait of waitHealthy (defaults.toml health.wait_timeout_ms). */
export const DEFAULT_WAIT_TIMEOUT_MS = 60000;

/**
 * Checks until the target passes `healthyThreshold` times in a row; returns the last
 * result. Gives up with a Timeout ProvctlError that quotes the last check's detail
 * when the attempts or the time run out. No check runs past the overall deadline.
 */
export async function waitHealthy(
  check: HealthCheck,
  options: WaitHealthyOptions = {},
): Promise<CheckResult> {
  const needed = threshold(options.healthyThreshold, 1, "healthy_threshold");
  const attempts = options.attempts === undefined
    ? Infinity
    : threshold(options.attempts, 1, "attempts");
  const budget = options.timeoutMs ??
    (options.attempts === undefined ? DEFAULT_WAIT_TIMEOUT_MS : Infinity);
  const intervalMs = options.intervalMs ?? 1000;
  const started = performance.now();
  const deadline = started + budget;
  let passes = 0;
  let attempt = 0;
  let last: CheckResult | undefined;
  while (attempt < attempts) {
    const checkStart = performance.now();
    const remaining = Math.floor(deadline - checkStart);
    if (attempt > 0 && remaining <= 0) break;
    const limit = check.timeoutMs ?? options.checkTimeoutMs;
    const bounded: HealthCheck = Number.isFinite(remaining)
      ? { ...check, timeoutMs: Math.max(1, Math.min(limit ?? remaining, remaining)) }
      : check;
    attempt++;
    last = await runCheck(bounded, {
      runner: options.runner,
      timeoutMs: options.checkTimeoutMs,
      signal: options.signal,
    });
    options.onResult?.(last, attempt);
    passes = last.ok ? passes + 1 : 0;
    if (passes >= needed) return last;
    if (attempt >= attempts || performance.now() >= deadline) break;
    const pause = Math.min(
      intervalMs - (performance.now() - checkStart),
      deadline - performance.now(),
    );
    await sleep(pause, options.signal);
    if (options.signal?.aborted) throw options.signal.reason;
  }
  throw new ProvctlError("Timeout", "health.wait_failed", {
    params: {
      check: describeCheck(check),
      target: last?.ranOn ?? "",
      attempts: attempt,
      seconds: ((performance.now() - started) / 1000).toFixed(1),
      last: last?.detail ?? "",
    },
    hint: "health.wait_hint",
  });
}
