/**
 * Remote targets for commands: `--host H` (with `--jump`, `-i`, `--ssh-config`,
 * `--host-key-policy`) turns the session's runner into an SSH runner from a pool that
 * lives as long as the command. The SSH modules are imported only here, only when a
 * remote target is asked for: local commands never pay for them.
 */
import type { CommandRunner, ShellRunner } from "../exec/runner.ts";
import { ProvctlError } from "../core/errors.ts";
import type { Settings } from "./settings.ts";
import type { ProvctlContext } from "./context.ts";
import type { SshPool } from "../ssh/pool.ts";
import type { BreakerStore } from "../ssh/circuit_breaker.ts";
import type { HostKeyPolicy } from "../ssh/known_hosts.ts";
import type { SshSettings } from "../ssh/settings.ts";

export interface RemoteFlags {
  readonly host?: string;
  readonly jump?: string;
  readonly identity?: readonly string[];
  readonly sshConfig?: string;
  readonly hostKeyPolicy?: HostKeyPolicy;
}

/** Where the SSH layer's notices go (the session decides how they are shown). */
export interface RemoteNotices {
  /** Always shown (an insecure host key policy). */
  security(key: string, params: Record<string, string>): void;
  /** Shown unless -q. */
  note(key: string, params: Record<string, string>): void;
  /** Shown with -v. */
  retry(target: string, error: unknown, retry: number, delayMs: number): void;
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
  #pool?: Promise<SshPool>;
  /** The pool once made (statistics are read synchronously). */
  #openPool?: SshPool;
  /** The shared breaker store once asked for (null: none, breakers are local). */
  #breakerStore?: BreakerStore | null;
  readonly #ctx: ProvctlContext;
  readonly #settings: Settings;
  readonly #stateDir: string;

  readonly #notices: RemoteNotices;
  /** Retries of connection attempts by target ("user@host:port"), for reports. */
  readonly #retries = new Map<string, number>();
  readonly #noPersist: boolean;
  /** The keeper's socket once asked for (undefined: connect directly). */
  #keeper?: Promise<string | undefined>;
  readonly #breakers?: () => Promise<BreakerStore | undefined>;

  /** `options.breakers`: the shared breaker store, if the state backend has one (postgres). */
  constructor(
    ctx: ProvctlContext,
    settings: Settings,
    stateDir: string,
    notices: RemoteNotices,
    options: {
      noPersist?: boolean;
      breakers?: () => Promise<BreakerStore | undefined>;
    } = {},
  ) {
    this.#breakers = options.breakers;
    this.#ctx = ctx;
    this.#settings = settings;
    this.#stateDir = stateDir;
    this.#notices = notices;
    this.#noPersist = options.noPersist ?? false;
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
    // The pool and the SSH runner are loaded only for a direct connection: a command the
    // keeper serves needs the settings and the plan alone.
    const [{ readSshSettings, runnerTimeoutsFrom }, { resolveConnectionPlan }] = await Promise
      .all([import("../ssh/settings.ts"), import("../ssh/target.ts")]);
    const ssh = readSshSettings(this.#settings.config);
    if (this.#breakerStore === undefined) {
      this.#breakerStore = (await this.#breakers?.()) ?? null;
    }
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
    const direct = async (): Promise<ShellRunner> => {
      const [{ SshRunner }, pool] = await Promise.all([
        import("../ssh/ssh_runner.ts"),
        this.#poolFor(ssh),
      ]);
      return new SshRunner({
        plan,
        pool,
        ...timeouts,
        ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
      });
    };
    // Breakers shared through the state backend (postgres) are this process's to keep: the
    // keeper, which cannot reach that store, is not used then.
    const socket = ssh.persistMs > 0 && !this.#noPersist && !this.#breakerStore
      ? await this.#keeperSocket()
      : undefined;
    if (socket === undefined) return await direct();
    const [{ KeeperRunner }, { planHash }] = await Promise.all([
      import("../ssh/keeper_runner.ts"),
      import("../ssh/_keeper_wire.ts"),
    ]);
    const configFile = options.sshConfig ?? (env.HOME ? `${env.HOME}/.ssh/config` : undefined);
    return new KeeperRunner({
      socket,
      plan,
      hash: await planHash(plan, configFile),
      settings: ssh,
      stateDir: this.#stateDir,
      persistMs: ssh.persistMs,
      env,
      // Retries in the keeper count as this command's, as they do in its own pool.
      notices: {
        security: (key, params) => this.#notices.security(key, params),
        note: (key, params) => this.#notices.note(key, params),
        retry: (key, error, retry, delayMs) => this.#retried(key, error, retry, delayMs),
      },
      commandTimeoutMs: options.commandTimeoutMs ?? timeouts.commandTimeoutMs,
      direct,
      interactive: Deno.stdin.isTerminal(),
    });
  }

  /** This command's pool, made on the first direct connection. */
  #poolFor(ssh: SshSettings): Promise<SshPool> {
    this.#pool ??= (async () => {
      const [{ SshPool }, { poolOptionsFrom }] = await Promise.all([
        import("../ssh/pool.ts"),
        import("../ssh/settings.ts"),
      ]);
      const notices = this.#notices;
      const warnedUnverified = new Set<string>();
      const pool = new SshPool(poolOptionsFrom(ssh, {
        stateDir: this.#stateDir,
        breakerStore: this.#breakerStore ?? undefined,
        // Host key decisions and retries are told through the command's output rules
        // (messages.toml, -q, -v) rather than printed by the SSH layer itself.
        connect: {
          onHostKey: (where, endpoint, verdict) => {
            if (verdict.status === "unverified") {
              // Once per host and command, however many connections the pool opens.
              if (warnedUnverified.has(endpoint.host)) return;
              warnedUnverified.add(endpoint.host);
              notices.security("ssh.host_key_unverified", { where, host: endpoint.host });
            } else if (verdict.status === "added") {
              notices.note("ssh.host_key_added", { where, file: verdict.file });
            }
          },
          onKeyIgnored: (key, params) => notices.security(key, params),
        },
        onRetry: (key, error, retry, delayMs) => this.#retried(key, error, retry, delayMs),
      }));
      this.#openPool = pool;
      return pool;
    })();
    return this.#pool;
  }

  #retried(key: string, error: unknown, retry: number, delayMs: number): void {
    // The pool's key is the hop chain ending in the target: count by the target.
    const target = key.split(" > ").pop()!;
    this.#retries.set(target, (this.#retries.get(target) ?? 0) + 1);
    this.#notices.retry(key, error, retry, delayMs);
  }

  /**
   * Connection attempts this command made to `runner`'s machine (1 + retries), as -v
   * shows them; for a runner that never connected, 1.
   */
  connectAttempts(runner: CommandRunner): number {
    return 1 + (this.#retries.get(runner.target.replace(/^ssh /, "")) ?? 0);
  }

  /** Starts or finds the keeper once per command; an unsafe socket dir is told, then skipped. */
  #keeperSocket(): Promise<string | undefined> {
    this.#keeper ??= (async () => {
      const [{ openKeeper }, { keeperDir }] = await Promise.all([
        import("../ssh/keeper_runner.ts"),
        import("../ssh/_keeper_wire.ts"),
      ]);
      try {
        return await openKeeper(keeperDir(this.#ctx.process.env, this.#stateDir));
      } catch (error) {
        if (!(error instanceof ProvctlError)) throw error;
        this.#notices.security(error.key, error.params as Record<string, string>);
        return undefined;
      }
    })();
    return this.#keeper;
  }

  /** Connection statistics of this command's pool (for metrics). */
  poolStats() {
    return this.#openPool?.stats();
  }

  async close(): Promise<void> {
    const pool = await this.#pool?.catch(() => undefined);
    this.#pool = undefined;
    this.#openPool = undefined;
    await pool?.close();
  }
}
