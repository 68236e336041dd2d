/**
 * Retrying SSH connection attempts. cockatiel's RetryPolicy runs the loop (attempt
 * counting, abortable sleeps, error filter); the delays come from one small IBackoff of
 * our own for all four shapes. cockatiel ships only exponential (with its own
 * decorrelated-jitter generators) and constant (no jitter) backoffs, so linear and
 * fibonacci would be missing and the four kinds would jitter differently; one
 * implementation gives them the same cap and the same jitter rule.
 *
 * Only transient network failures are retried (refused, reset, DNS, unreachable, connect
 * and auth timeouts); authentication failures, host key problems, an open circuit and a
 * remote command's non-zero exit are not (retrying cannot fix them, or must not).
 */
import { handleWhen, type IBackoff, type IBackoffFactory, retry } from "cockatiel";
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import { TRANSIENT_KEYS } from "./session.ts";

export type BackoffKind = "exponential" | "linear" | "fibonacci" | "fixed";
export const BACKOFF_KINDS: readonly BackoffKind[] = [
  "exponential",
  "linear",
  "fibonacci",
  "fixed",
];

export interface RetryOptions {
  /** Total attempts including the first (1 = no retry). */
  readonly attempts: number;
  readonly backoff: BackoffKind;
  /** First delay, and the step of linear / the unit of fibonacci. */
  readonly baseMs: number;
  /** Cap of any single delay. */
  readonly maxMs: number;
  /** Each delay is reduced by a random 0..jitterPercent % (so the cap still holds). */
  readonly jitterPercent: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  attempts: 3,
  backoff: "exponential",
  baseMs: 200,
  maxMs: 5000,
  jitterPercent: 20,
};

/** The delay before retry number `retry` (1-based), before jitter. */
export function baseDelay(options: RetryOptions, retry: number): number {
  const base = options.baseMs;
  let delay: number;
  switch (options.backoff) {
    case "exponential":
      delay = base * 2 ** (retry - 1);
      break;
    case "linear":
      delay = base * retry;
      break;
    case "fibonacci":
      delay = base * fibonacci(retry);
      break;
    case "fixed":
      delay = base;
      break;
  }
  return Math.min(delay, options.maxMs);
}

/** 1, 1, 2, 3, 5, 8, ... */
function fibonacci(n: number): number {
  let [a, b] = [1, 1];
  for (let i = 1; i < n; i++) [a, b] = [b, a + b];
  return a;
}

class JitteredBackoff implements IBackoff<unknown> {
  readonly duration: number;
  readonly #options: RetryOptions;
  readonly #retry: number;
  readonly #random: () => number;

  constructor(options: RetryOptions, retry: number, random: () => number) {
    this.#options = options;
    this.#retry = retry;
    this.#random = random;
    const jitter = Math.min(Math.max(options.jitterPercent, 0), 100) / 100;
    this.duration = Math.round(baseDelay(options, retry) * (1 - jitter * random()));
  }

  next(): IBackoff<unknown> {
    return new JitteredBackoff(this.#options, this.#retry + 1, this.#random);
  }
}

/** A cockatiel backoff factory for `options` (random is injectable for tests). */
export function backoffFactory(
  options: RetryOptions,
  random: () => number = Math.random,
): IBackoffFactory<unknown> {
  return { next: () => new JitteredBackoff(options, 1, random) };
}

/** True for failures worth another attempt (see the module comment). */
export function isRetryable(error: unknown): boolean {
  return isProvctlError(error) && TRANSIENT_KEYS.has(error.key);
}

export interface RetryHooks {
  readonly signal?: AbortSignal;
  /** Called before each wait: the failure, the retry number (1-based) and the delay. */
  readonly onRetry?: (error: unknown, retry: number, delayMs: number) => void;
  readonly random?: () => number;
}

/** Runs `fn` with retries of transient failures; the last failure is thrown. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
  hooks: RetryHooks = {},
): Promise<T> {
  validateRetryOptions(options);
  const policy = retry(handleWhen(isRetryable), {
    maxAttempts: options.attempts - 1, // cockatiel counts retries, not attempts
    backoff: backoffFactory(options, hooks.random),
  });
  const listener = policy.onRetry((event) => {
    if ("error" in event) hooks.onRetry?.(event.error, event.attempt, event.delay);
  });
  try {
    return await policy.execute((context) => fn(context.attempt + 1), hooks.signal);
  } finally {
    listener.dispose();
  }
}

/** Rejects settings that would make the policy meaningless (bad config values). */
export function validateRetryOptions(options: RetryOptions): void {
  const bad = (field: string, value: unknown, allowed: string) =>
    new ProvctlError("InvalidConfig", "ssh.retry_invalid", {
      params: { field, value: String(value), allowed },
    });
  if (!Number.isInteger(options.attempts) || options.attempts < 1) {
    throw bad("retry_attempts", options.attempts, "use an integer >= 1");
  }
  if (!BACKOFF_KINDS.includes(options.backoff)) {
    throw bad("retry_backoff", options.backoff, `use one of ${BACKOFF_KINDS.join(", ")}`);
  }
  for (
    const [field, value] of [["retry_base_ms", options.baseMs], [
      "retry_max_ms",
      options.maxMs,
    ]] as const
  ) {
    if (!Number.isInteger(value) || value < 0) {
      throw bad(field, value, "use an integer number of milliseconds >= 0");
    }
  }
  if (
    !Number.isInteger(options.jitterPercent) || options.jitterPercent < 0 ||
    options.jitterPercent > 100
  ) {
    throw bad("retry_jitter_percent", options.jitterPercent, "use an integer from 0 to 100");
  }
}
