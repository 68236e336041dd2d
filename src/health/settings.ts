/** The [health] table of defaults.toml as options for runCheck, HealthMonitor and waitHealthy. */
import type { LoadedConfig } from "../config/loader.ts";

export interface HealthSettings {
  /** health.timeout_ms: one check's limit when the check sets none. */
  readonly timeoutMs: number;
  /** health.interval_ms: `--watch` period. */
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  /** health.wait_timeout_ms: how long a deploy waits for a machine to pass. */
  readonly waitTimeoutMs: number;
  /** health.wait_interval_ms */
  readonly waitIntervalMs: number;
}

export function healthSettings(config: Pick<LoadedConfig, "integer">): HealthSettings {
  return {
    timeoutMs: config.integer("health.timeout_ms"),
    intervalMs: config.integer("health.interval_ms"),
    healthyThreshold: config.integer("health.healthy_threshold"),
    unhealthyThreshold: config.integer("health.unhealthy_threshold"),
    waitTimeoutMs: config.integer("health.wait_timeout_ms"),
    waitIntervalMs: config.integer("health.wait_interval_ms"),
  };
}
