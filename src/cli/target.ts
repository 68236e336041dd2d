/**
 * Target: one machine a command acts on — this one, `--host H`, or a machine from the
 * inventory — with its runner, its facts (probed once) and its backends (built once).
 */
import type { Backend, BackendName } from "../backends/backend.ts";
import type { BackendEnvironment } from "../backends/select.ts";
import { ProvctlError } from "../core/errors.ts";
import type { CommandRunner, HostInfo } from "../exec/runner.ts";
import type { Settings } from "./settings.ts";

export interface TargetOptions {
  /** "local", the --host spec, or the inventory machine's name. */
  readonly name: string;
  readonly runner: () => Promise<CommandRunner>;
  readonly settings: Settings;
  /** Facts of the local machine (no probe needed); undefined for remote targets. */
  readonly localHost?: HostInfo;
  readonly scope?: "system" | "user";
  readonly force?: boolean;
  /** The inventory machine's backend override. */
  readonly backend?: string;
}

export class Target {
  readonly name: string;
  readonly #o: TargetOptions;
  #runner?: Promise<CommandRunner>;
  #host?: Promise<HostInfo>;
  readonly #backends = new Map<string, Promise<Backend>>();

  constructor(options: TargetOptions) {
    this.name = options.name;
    this.#o = options;
  }

  runner(): Promise<CommandRunner> {
    this.#runner ??= this.#o.runner();
    return this.#runner;
  }

  hostInfo(): Promise<HostInfo> {
    this.#host ??= this.#o.localHost ? Promise.resolve(this.#o.localHost) : (async () => {
      const { probeHost } = await import("../exec/host_fs.ts");
      return await probeHost(await this.runner());
    })();
    return this.#host;
  }

  async environment(): Promise<BackendEnvironment> {
    return {
      runner: await this.runner(),
      host: await this.hostInfo(),
      settings: this.#o.settings,
      scope: this.#o.scope,
      force: this.#o.force,
    };
  }

  /**
   * The backend for a service: `flagged` (--backend), then the service file's, then the
   * machine's override, then config, then auto-detection.
   */
  backend(flagged: string | undefined, requested?: string): Promise<Backend> {
    // Values from flags, the services file, inventory and config were validated on load.
    const choice = (flagged ?? requested ?? this.#o.backend ?? this.#o.settings.backend) as
      | BackendName
      | "auto";
    let backend = this.#backends.get(choice);
    if (!backend) {
      backend = (async () => {
        const { createBackend } = await import("../backends/select.ts");
        return await createBackend(choice, await this.environment());
      })();
      this.#backends.set(choice, backend);
    }
    return backend;
  }
}

export function scopeFrom(
  flags: { system?: boolean; user?: boolean },
): "system" | "user" | undefined {
  if (flags.system && flags.user) throw new ProvctlError("Usage", "cli.scope_conflict");
  return flags.system ? "system" : flags.user ? "user" : undefined;
}
