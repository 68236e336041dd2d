/** ServiceDefinition: what to run for a service, built with ServiceDefinitionBuilder. */
import { ProvctlError } from "./errors.ts";
import type { ServiceName } from "./service_name.ts";
import { parseSignal, type SignalName } from "./signals.ts";

/** When the backend should restart a service that exited (systemd Restart=, launchd KeepAlive). */
export type RestartPolicy = "no" | "on-failure" | "always";
export const RESTART_POLICIES: readonly RestartPolicy[] = ["no", "on-failure", "always"];

export interface ServiceDefinition {
  readonly name: ServiceName;
  /** Program to run: an absolute path or a name looked up on PATH. */
  readonly binary: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** A file of KEY=VALUE lines read by the backend (systemd EnvironmentFile=). */
  readonly envFile?: string;
  readonly workingDir?: string;
  /** Run as this user (systemd User=, launchd UserName); backends that cannot do it refuse. */
  readonly user?: string;
  readonly stopSignal: SignalName;
  readonly stopTimeoutMs: number;
  readonly restartPolicy: RestartPolicy;
  /** How restarts back off (unset: the configured defaults, [service] in defaults.toml). */
  readonly restartBackoff?: Partial<RestartBackoff>;
  readonly description?: string;
}

/**
 * Restart pacing (the PID-file backend's supervisor): the first delay doubles after each
 * restart up to maxDelayMs; more than `max` restarts within windowMs make the service
 * failed (0 = no limit); a run of minUptimeMs or longer starts the backoff over.
 */
export interface RestartBackoff {
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly max: number;
  readonly windowMs: number;
  readonly minUptimeMs: number;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class ServiceDefinitionBuilder {
  #binary?: string;
  #args: string[] = [];
  #env: Record<string, string> = {};
  #envFile?: string;
  #workingDir?: string;
  #user?: string;
  #stopSignal: SignalName = "SIGTERM";
  #stopTimeoutMs = 10_000;
  #restartPolicy: RestartPolicy = "no";
  #restartBackoff: Partial<RestartBackoff> = {};
  #description?: string;

  constructor(readonly name: ServiceName) {}

  binary(path: string): this {
    if (path.length === 0 || path.includes("\0")) {
      throw new ProvctlError("InvalidArgument", "errors.binary_empty", {
        params: { service: this.name },
      });
    }
    this.#binary = path;
    return this;
  }
  arg(value: string): this {
    this.#args.push(value);
    return this;
  }
  args(values: readonly string[]): this {
    this.#args.push(...values);
    return this;
  }
  env(key: string, value: string): this {
    if (!ENV_KEY.test(key)) {
      throw new ProvctlError("InvalidArgument", "errors.env_key_invalid", { params: { key } });
    }
    this.#env[key] = value;
    return this;
  }
  envFile(path: string): this {
    this.#envFile = path;
    return this;
  }
  workingDir(path: string): this {
    this.#workingDir = path;
    return this;
  }
  user(name: string): this {
    this.#user = name;
    return this;
  }
  stopSignal(signal: string): this {
    this.#stopSignal = parseSignal(signal);
    return this;
  }
  stopTimeoutMs(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new ProvctlError("InvalidArgument", "errors.stop_timeout_invalid", {
        params: { value: ms },
      });
    }
    this.#stopTimeoutMs = ms;
    return this;
  }
  restartPolicy(policy: string): this {
    if (!RESTART_POLICIES.includes(policy as RestartPolicy)) {
      throw new ProvctlError("InvalidArgument", "errors.restart_policy_invalid", {
        params: { value: policy, allowed: RESTART_POLICIES.join(", ") },
      });
    }
    this.#restartPolicy = policy as RestartPolicy;
    return this;
  }
  /** Sets some of the restart pacing; the rest stays the configured default. */
  restartBackoff(values: Partial<RestartBackoff>): this {
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 0) {
        throw new ProvctlError("InvalidArgument", "errors.restart_backoff_invalid", {
          params: { key, value },
        });
      }
    }
    this.#restartBackoff = { ...this.#restartBackoff, ...values };
    return this;
  }
  description(text: string): this {
    this.#description = text;
    return this;
  }

  build(): ServiceDefinition {
    if (this.#binary === undefined) {
      throw new ProvctlError("InvalidArgument", "errors.binary_missing", {
        params: { service: this.name },
      });
    }
    return Object.freeze({
      name: this.name,
      binary: this.#binary,
      args: Object.freeze([...this.#args]),
      env: Object.freeze({ ...this.#env }),
      envFile: this.#envFile,
      workingDir: this.#workingDir,
      user: this.#user,
      stopSignal: this.#stopSignal,
      stopTimeoutMs: this.#stopTimeoutMs,
      restartPolicy: this.#restartPolicy,
      restartBackoff: Object.keys(this.#restartBackoff).length > 0
        ? Object.freeze({ ...this.#restartBackoff })
        : undefined,
      description: this.#description,
    });
  }
}

export function defineService(name: ServiceName): ServiceDefinitionBuilder {
  return new ServiceDefinitionBuilder(name);
}
