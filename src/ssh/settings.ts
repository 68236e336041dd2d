/**
 * The [ssh] settings, typed, and what the pool and runners take from them. Apart from
 * pool.ts so that a command served by the connection keeper reads them without loading
 * the pool, its sessions and ssh2's wrappers.
 */
import type { BreakerStore } from "./circuit_breaker.ts";
import type { RetryOptions } from "./retry.ts";
import type { ConnectOptions } from "./session.ts";
import type { PoolOptions } from "./pool.ts";

/** The [ssh] table of defaults.toml, typed (0 = "none"/"off" where documented). */
export interface SshSettings {
  readonly connectTimeoutMs: number;
  readonly authTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly retry: RetryOptions;
  readonly breakerThreshold: number;
  readonly breakerCooldownMs: number;
  readonly poolMaxPerHost: number;
  readonly poolIdleTimeoutMs: number;
  readonly hostKeyPolicy: "strict" | "accept-new" | "off";
  readonly keepaliveIntervalMs: number;
  readonly keepaliveCountMax: number;
  /** How long the connection keeper holds an unused connection; 0 = no keeper. */
  readonly persistMs: number;
}

/** Reads the [ssh] settings from a loaded config (LoadedConfig fits). */
export function readSshSettings(
  config: { integer(key: string): number; string(key: string): string },
): SshSettings {
  const int = (key: string) => config.integer(`ssh.${key}`);
  return {
    connectTimeoutMs: int("connect_timeout_ms"),
    authTimeoutMs: int("auth_timeout_ms"),
    commandTimeoutMs: int("command_timeout_ms"),
    totalTimeoutMs: int("total_timeout_ms"),
    retry: {
      attempts: int("retry_attempts"),
      backoff: config.string("ssh.retry_backoff") as RetryOptions["backoff"],
      baseMs: int("retry_base_ms"),
      maxMs: int("retry_max_ms"),
      jitterPercent: int("retry_jitter_percent"),
    },
    breakerThreshold: int("breaker_threshold"),
    breakerCooldownMs: int("breaker_cooldown_ms"),
    poolMaxPerHost: int("pool_max_per_host"),
    poolIdleTimeoutMs: int("pool_idle_timeout_ms"),
    hostKeyPolicy: config.string("ssh.host_key_policy") as SshSettings["hostKeyPolicy"],
    keepaliveIntervalMs: int("keepalive_interval_ms"),
    keepaliveCountMax: int("keepalive_count_max"),
    persistMs: int("persist_ms"),
  };
}

/**
 * PoolOptions for the settings. `stateDir` enables the persisted circuit breaker
 * (unless breaker_threshold is 0); `connect` adds auth hooks (prompt, env, agent).
 */
export function poolOptionsFrom(
  settings: SshSettings,
  extra: {
    stateDir?: string;
    breakerStore?: BreakerStore;
    connect?: ConnectOptions;
    onRetry?: PoolOptions["onRetry"];
  } = {},
): PoolOptions {
  return {
    maxPerHost: settings.poolMaxPerHost,
    idleTimeoutMs: settings.poolIdleTimeoutMs,
    retry: settings.retry,
    breaker: extra.stateDir !== undefined && settings.breakerThreshold > 0
      ? {
        stateDir: extra.stateDir,
        ...(extra.breakerStore ? { store: extra.breakerStore } : {}),
        threshold: settings.breakerThreshold,
        cooldownMs: settings.breakerCooldownMs,
      }
      : undefined,
    onRetry: extra.onRetry,
    connect: {
      connectTimeoutMs: settings.connectTimeoutMs,
      authTimeoutMs: settings.authTimeoutMs,
      keepaliveIntervalMs: settings.keepaliveIntervalMs,
      keepaliveCountMax: settings.keepaliveCountMax,
      ...extra.connect,
    },
  };
}

/** SshRunner timeouts for the settings (0 = no limit). */
export function runnerTimeoutsFrom(
  settings: SshSettings,
): { commandTimeoutMs?: number; totalTimeoutMs?: number } {
  return {
    commandTimeoutMs: settings.commandTimeoutMs > 0 ? settings.commandTimeoutMs : undefined,
    totalTimeoutMs: settings.totalTimeoutMs > 0 ? settings.totalTimeoutMs : undefined,
  };
}
