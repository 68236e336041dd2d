/**
 * Remote targets for commands: `--host H` (with `--jump`, `-i`, `--ssh-config`,
 * `--host-key-policy`) turns the session's runner into an SSH runner from a pool that
 * lives as long as the command. The SSH modules are imported only here, only when a
 * remote target is asked for: local commands never pay for them.
 */
import type { CommandRunner } from "../exec/runner.ts";
import { ProvctlError } from "../core/errors.ts";
import type { Settings } from "./settings.ts";
import type { ProvctlContext } from "./context.ts";
import type { SshPool } from "../ssh/pool.ts";
import type { HostKeyPolicy } from "../ssh/known_hosts.ts";

export interface RemoteFlags {
  readonly host?: string;
  readonly jump?: string;
  readonly identity?: readonly string[];
  readonly sshConfig?: string;
  readonly hostKeyPolicy?: HostKeyPolicy;
}

export interface ConnectionChoices {
  readonly jump?: readonly string[];
  readonly identity?: readonly string[];
  readonly sshConfig?: string;
  readonly hostKeyPolicy?: HostKeyPolicy;
  readonly commandTimeoutMs?: number;
}

/** One SSH pool per command invocation; every runner of the command shares it. */
export class RemoteTargets {
  #pool?: SshPool;
  readonly #ctx: ProvctlContext;
  readonly #settings: Settings;
  readonly #stateDir: string;

  constructor(ctx: ProvctlContext, settings: Settings, stateDir: string) {
    this.#ctx = ctx;
    this.#settings = settings;
    this.#stateDir = stateDir;
  }

  /** A runner for `--host SPEC` with the command's SSH flags. */
  runner(spec: string, flags: RemoteFlags): Promise<CommandRunner> {
    const jump = flags.jump === undefined
      ? undefined
      : flags.jump.split(",").map((s) => s.trim()).filter(Boolean);
    if (jump && jump.length === 0) throw new ProvctlError("Usage", "cli.jump_empty");
    return this.runnerFor(spec, {
      jump,
      identity: flags.identity,
      sshConfig: flags.sshConfig,
      hostKeyPolicy: flags.hostKeyPolicy,
    });
  }

  /** A runner for a target with explicit connection settings (inventory machines). */
  async runnerFor(spec: string, options: ConnectionChoices): Promise<CommandRunner> {
    const [
      { SshPool, readSshSettings, poolOptionsFrom, runnerTimeoutsFrom },
      { resolveConnectionPlan },
      {
        SshRunner,
      },
    ] = await Promise.all([
      import("../ssh/pool.ts"),
      import("../ssh/target.ts"),
      import("../ssh/ssh_runner.ts"),
    ]);
    const ssh = readSshSettings(this.#settings.config);
    this.#pool ??= new SshPool(poolOptionsFrom(ssh, { stateDir: this.#stateDir }));
    const env = this.#ctx.process.env;
    const plan = await resolveConnectionPlan(spec, {
      sshConfigFile: options.sshConfig,
      jump: options.jump,
      identityFiles: options.identity,
      hostKeyPolicy: options.hostKeyPolicy,
      defaultHostKeyPolicy: this.#settings.config.string("ssh.host_key_policy") as HostKeyPolicy,
      home: env.HOME,
      localUser: env.USER ?? env.LOGNAME,
    });
    const timeouts = runnerTimeoutsFrom(ssh);
    return new SshRunner({
      plan,
      pool: this.#pool,
      ...timeouts,
      ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
    });
  }

  /** Connection statistics of this command's pool (for metrics). */
  poolStats() {
    return this.#pool?.stats();
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
  }
}
