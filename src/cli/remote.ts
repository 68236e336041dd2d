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

  async runner(spec: string, flags: RemoteFlags): Promise<CommandRunner> {
    const [{ SshPool, readSshSettings, poolOptionsFrom, runnerTimeoutsFrom }, { resolveConnectionPlan }, {
      SshRunner,
    }] = await Promise.all([
      import("../ssh/pool.ts"),
      import("../ssh/target.ts"),
      import("../ssh/ssh_runner.ts"),
    ]);
    const ssh = readSshSettings(this.#settings.config);
    this.#pool ??= new SshPool(poolOptionsFrom(ssh, { stateDir: this.#stateDir }));
    const env = this.#ctx.process.env;
    const jump = flags.jump === undefined ? undefined : flags.jump.split(",").map((s) => s.trim()).filter(Boolean);
    if (jump && jump.length === 0) {
      throw new ProvctlError("Usage", "cli.jump_empty");
    }
    const plan = await resolveConnectionPlan(spec, {
      sshConfigFile: flags.sshConfig,
      jump,
      identityFiles: flags.identity,
      hostKeyPolicy: flags.hostKeyPolicy,
      defaultHostKeyPolicy: this.#settings.config.string("ssh.host_key_policy") as HostKeyPolicy,
      home: env.HOME,
      localUser: env.USER ?? env.LOGNAME,
    });
    return new SshRunner({ plan, pool: this.#pool, ...runnerTimeoutsFrom(ssh) });
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
  }
}
