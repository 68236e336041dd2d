/**
 * A circuit breaker per host whose state lives in <state_dir>/breakers/<host>.json, so
 * separate provctl invocations (a shell loop) share it: after `threshold` consecutive
 * connection failures the circuit opens and connects fail fast with CircuitOpen until
 * `cooldownMs` has passed; then one attempt (half-open probe) decides whether it closes
 * again or stays open for another cooldown. cockatiel's CircuitBreakerPolicy holds the
 * logic; its toJSON()/initialState carry it between processes.
 */
import {
  BrokenCircuitError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
} from "cockatiel";
import { ProvctlError } from "../core/errors.ts";
import { readTrusted, trustDir, writeTrustedAtomic } from "../core/state_trust.ts";
import { isRetryable } from "./retry.ts";

/**
 * Where breaker documents live when not in <stateDir>/breakers/: a shared state backend
 * (postgres), so every controller's connections open and close the same circuits.
 */
export interface BreakerStore {
  get(host: string): Promise<unknown | undefined>;
  put(host: string, state: unknown): Promise<void>;
  list(): Promise<{ host: string; state: unknown }[]>;
  delete(host: string): Promise<boolean>;
}

export interface BreakerOptions {
  /** provctl's state dir; files go to <stateDir>/breakers/ (unless `store` is given). */
  readonly stateDir: string;
  /** A shared store instead of the files; when it fails, connections go on unguarded. */
  readonly store?: BreakerStore;
  /** Consecutive failures that open the circuit. */
  readonly threshold: number;
  /** How long an open circuit fails fast before one probe is let through. */
  readonly cooldownMs: number;
  /** Time source (default Date.now); tests move it instead of sleeping through cooldowns. */
  readonly clock?: Clock;
}

export interface Clock {
  now(): number;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * cockatiel reads Date.now() itself: an injected clock is applied by shifting the
 * persisted openedAt into cockatiel's time on load and back on save.
 */
function shifted(state: CockatielState | undefined, by: number): CockatielState | undefined {
  if (state?.ownState.openedAt === undefined || by === 0) return state;
  return { ...state, ownState: { ...state.ownState, openedAt: state.ownState.openedAt + by } };
}

/** What `provctl hosts breakers` shows for one host. */
export interface BreakerStatus {
  readonly host: string;
  readonly state: "closed" | "open" | "half-open";
  readonly consecutiveFailures: number;
  /** When an open circuit lets the next probe through (ISO 8601). */
  readonly probeAt?: string;
  readonly lastError?: string;
  readonly updatedAt: string;
}

interface BreakerFile {
  readonly version: 1;
  readonly host: string;
  readonly cooldownMs: number;
  readonly lastError?: string;
  readonly updatedAt: string;
  /** cockatiel's CircuitBreakerPolicy.toJSON(). */
  readonly policy: CockatielState;
}

interface CockatielState {
  ownState: { value: CircuitState; openedAt?: number; attemptNo?: number };
  breakerState: number;
}

/** The breaker file of `host` ("host:port"); unsafe characters become '_'. */
export function breakerPath(stateDir: string, host: string): string {
  return `${stateDir}/breakers/${host.replace(/[^A-Za-z0-9._@-]/g, "_")}.json`;
}

/**
 * Runs `fn` (a connect attempt, retries included) under the breaker of `host`:
 * fails fast with CircuitOpen while open; records the outcome of transient failures.
 */
export async function withBreaker<T>(
  host: string,
  options: BreakerOptions,
  fn: () => Promise<T>,
): Promise<T> {
  const clock = options.clock ?? systemClock;
  const skew = Date.now() - clock.now();
  const path = breakerPath(options.stateDir, host);
  const store = options.store;
  const saved = store
    ? checked(await store.get(host).catch(() => undefined))
    : await readBreakerFile(path);
  const save = (data: BreakerFile) =>
    store ? store.put(host, data).catch(() => {}) : writeBreakerFile(path, data);
  const policy = circuitBreaker(handleWhen(isRetryable), {
    breaker: new ConsecutiveBreaker(options.threshold),
    halfOpenAfter: options.cooldownMs,
    initialState: shifted(saved?.policy, skew),
  });
  const before = JSON.stringify(policy.toJSON());
  let lastError = saved?.lastError;
  // The probe: other processes keep failing fast for another cooldown while it runs.
  const halfOpen = policy.onHalfOpen(() => {
    const state = policy.toJSON() as CockatielState;
    state.ownState = { ...state.ownState, value: CircuitState.Open, openedAt: clock.now() };
    void save({
      version: 1,
      host,
      cooldownMs: options.cooldownMs,
      lastError,
      updatedAt: isoTime(clock),
      policy: state,
    })
      .catch(() => {});
  });
  try {
    return await policy.execute(fn);
  } catch (error) {
    if (error instanceof BrokenCircuitError) throw openError(host, saved, options, clock);
    if (isRetryable(error)) lastError = error instanceof Error ? describe(error) : String(error);
    throw error;
  } finally {
    halfOpen.dispose();
    const after = shifted(policy.toJSON() as CockatielState, -skew)!;
    if (
      JSON.stringify(policy.toJSON()) !== before || saved === undefined && after.breakerState > 0
    ) {
      await save({
        version: 1,
        host,
        cooldownMs: options.cooldownMs,
        lastError: after.breakerState === 0 && after.ownState.value === CircuitState.Closed
          ? undefined
          : lastError,
        updatedAt: isoTime(clock),
        policy: after,
      });
    }
  }
}

function openError(
  host: string,
  saved: BreakerFile | undefined,
  options: BreakerOptions,
  clock: Clock,
): ProvctlError {
  const status = saved ? toStatus(saved, clock) : undefined;
  const probeAt = status?.probeAt ?? isoTime(clock);
  const seconds = Math.max(0, Math.ceil((Date.parse(probeAt) - clock.now()) / 1000));
  return new ProvctlError("CircuitOpen", "ssh.circuit_open", {
    params: {
      host,
      failures: status?.consecutiveFailures ?? options.threshold,
      probe_at: probeAt,
      probe_in: `${seconds}s`,
      last_error: status?.lastError ?? "unknown",
    },
    hint: "ssh.circuit_hint",
  });
}

function describe(error: Error): string {
  if (error instanceof ProvctlError) {
    const p = error.params;
    return [p.where, p.reason ?? p.which].filter((x) => x !== undefined).join(": ") || error.key;
  }
  return error.message;
}

function toStatus(file: BreakerFile, clock: Clock): BreakerStatus {
  const own = file.policy.ownState;
  let state: BreakerStatus["state"] = "closed";
  let probeAt: string | undefined;
  if (own.value === CircuitState.Open || own.value === CircuitState.HalfOpen) {
    const at = (own.openedAt ?? 0) + file.cooldownMs;
    probeAt = new Date(at).toISOString();
    state = clock.now() >= at ? "half-open" : "open";
  }
  return {
    host: file.host,
    state,
    consecutiveFailures: file.policy.breakerState,
    probeAt,
    lastError: file.lastError,
    updatedAt: file.updatedAt,
  };
}

/** Every persisted breaker, sorted by host ("half-open" = the next connect probes). */
export async function listBreakers(
  stateDir: string,
  clock: Clock = systemClock,
  store?: BreakerStore,
): Promise<BreakerStatus[]> {
  const dir = `${stateDir}/breakers`;
  const result: BreakerStatus[] = [];
  if (store) {
    for (const { state } of await store.list()) {
      const file = checked(state);
      if (file) result.push(toStatus(file, clock));
    }
    return result.sort((a, b) => a.host.localeCompare(b.host));
  }
  await trustDir(dir);
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      const file = await readBreakerFile(`${dir}/${entry.name}`);
      if (file) result.push(toStatus(file, clock));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return result.sort((a, b) => a.host.localeCompare(b.host));
}

/**
 * Forgets the breaker state of `host` ("host:port" or just "host" for every port of it),
 * or of every host when undefined. Returns the hosts reset.
 */
export async function resetBreakers(
  stateDir: string,
  host?: string,
  store?: BreakerStore,
): Promise<string[]> {
  const reset: string[] = [];
  for (const status of await listBreakers(stateDir, systemClock, store)) {
    const bare = status.host.replace(/:[0-9]+$/, "").replace(/^\[(.*)\]$/, "$1");
    if (host !== undefined && status.host !== host && bare !== host) continue;
    if (store) await store.delete(status.host);
    else {
      await Deno.remove(breakerPath(stateDir, status.host)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
    reset.push(status.host);
  }
  return reset;
}

async function readBreakerFile(path: string): Promise<BreakerFile | undefined> {
  // Breaker files steer connections: trusted only in a private directory, never via links.
  await trustDir(path.slice(0, path.lastIndexOf("/")));
  const text = await readTrusted(path);
  if (text === undefined) return undefined;
  try {
    return checked(JSON.parse(text));
  } catch {
    return undefined; // a garbled file is treated as a closed breaker (it is rewritten)
  }
}

/** A breaker document, or undefined when it is none (treated as a closed breaker). */
function checked(value: unknown): BreakerFile | undefined {
  const data = value as BreakerFile | undefined;
  if (data?.version !== 1 || typeof data.host !== "string" || !data.policy?.ownState) {
    return undefined;
  }
  return data;
}

/** Temp file in the same directory, then rename: readers never see half a file. */
async function writeBreakerFile(path: string, data: BreakerFile): Promise<void> {
  // Private like the rest of the state: 0700 directory, 0600 files.
  await trustDir(path.slice(0, path.lastIndexOf("/")), { create: true, private: true });
  await writeTrustedAtomic(path, JSON.stringify(data, null, 2) + "\n");
}

function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
