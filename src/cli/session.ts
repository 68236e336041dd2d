/**
 * Session: what one command invocation needs, built lazily from the context and the
 * global flags — configuration, messages, output, the runner and the backend.
 */
import { trustStateDir } from "../core/state_trust.ts";
import type { Backend } from "../backends/backend.ts";
import type { BackendEnvironment } from "../backends/select.ts";
import { isProvctlError, type MessageParams, ProvctlError } from "../core/errors.ts";
import type { ServiceName } from "../core/service_name.ts";
import type { Messages } from "../config/messages.ts";
import { LocalRunner } from "../exec/local_runner.ts";
import type { CommandRunner, HostInfo } from "../exec/runner.ts";
import type { ProvctlContext } from "./context.ts";
import type { GlobalFlags, OutputFormat } from "./global_flags.ts";
import { type Palette, palette } from "./render.ts";
import { loadSettings, type Settings } from "./settings.ts";
import { renderError } from "./errors.ts";
import { scopeFrom, Target } from "./target.ts";
import type { RemoteTargets } from "./remote.ts";
import type { CommandRecorder } from "./recording.ts";
import type { StateBackend } from "../state/backend.ts";

export class Session {
  readonly ctx: ProvctlContext;
  readonly flags: GlobalFlags;
  #settings?: Settings;
  #target?: Target;
  #remote?: RemoteTargets;
  #recorder?: CommandRecorder;
  #state?: Promise<StateBackend>;
  /** The backend was opened tolerating a database outage and not checked since. */
  #stateUnchecked = false;

  readonly #sharedRemote?: () => Promise<RemoteTargets>;

  /**
   * `settings`: already loaded ones; `sharedRemote`: an SSH pool that outlives this
   * session (the API server loads settings once and keeps connections across requests).
   */
  constructor(
    ctx: ProvctlContext,
    flags: GlobalFlags,
    settings?: Settings,
    sharedRemote?: () => Promise<RemoteTargets>,
  ) {
    this.ctx = ctx;
    this.flags = flags;
    this.#settings = settings;
    this.#sharedRemote = sharedRemote;
  }

  async settings(): Promise<Settings> {
    this.#settings ??= await loadSettings({ ctx: this.ctx, flags: this.flags });
    return this.#settings;
  }

  /** Settings already loaded (commands call settings() first). */
  get loaded(): Settings {
    if (!this.#settings) throw new Error("settings() not awaited");
    return this.#settings;
  }

  get messages(): Messages {
    return this.loaded.messages;
  }

  get output(): OutputFormat {
    return this.flags.output ?? this.#settings?.output ?? "text";
  }

  get colors(): Palette {
    const env = this.ctx.process.env;
    const mode = this.#settings?.color ?? "auto";
    const enabled = !this.flags.noColor && env.NO_COLOR === undefined &&
      (mode === "always" || (mode === "auto" && this.ctx.stdoutIsTty && env.TERM !== "dumb"));
    return palette(enabled);
  }

  /** The answer: stdout. */
  out(text: string): void {
    this.ctx.process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** Progress and notes: stderr, silenced by -q. */
  note(key: string, params: MessageParams = {}): void {
    this.ctx.onNote?.(key, params);
    if (this.flags.quiet) return;
    this.ctx.process.stderr.write(`${this.messages.format(key, params)}\n`);
  }

  /** Details shown with -v. */
  debug(text: string): void {
    if (this.flags.verbose) this.ctx.process.stderr.write(`${text}\n`);
  }

  format(key: string, params: MessageParams = {}): string {
    return this.messages.format(key, params);
  }

  /** The machine the command acts on: this one, or --host over SSH. */
  async target(): Promise<Target> {
    if (!this.#target) {
      const settings = await this.settings();
      const spec = this.flags.host;
      this.#target = new Target({
        name: spec ?? "local",
        settings,
        localHost: spec === undefined ? localHostInfo(this.ctx.process.env) : undefined,
        scope: scopeFrom(this.flags),
        force: this.flags.force,
        runner: spec === undefined
          ? () => Promise.resolve(new LocalRunner())
          : async () =>
            await this.recorded(await (await this.remoteTargets()).runner(spec, this.flags), spec),
      });
    }
    return this.#target;
  }

  /** A remote runner whose every operation goes to the audit log and metrics. */
  async recorded(
    runner: CommandRunner,
    machine: string,
    deploymentId?: string,
  ): Promise<CommandRunner> {
    return await (await this.recorder()).wrap(runner, machine, deploymentId);
  }

  /**
   * The command's audit log, metrics and redactor (one set per command, closed and saved
   * by close()): every part of a command records through these.
   */
  async recorder(): Promise<CommandRecorder> {
    if (!this.#recorder) {
      const { CommandRecorder } = await import("./recording.ts");
      const operation = this.ctx.argv.find((a) => !a.startsWith("-")) ?? "exec";
      const state = await this.state({ tolerateOutage: true });
      this.#recorder = new CommandRecorder(
        this.loaded.config,
        operation,
        {
          warn: (key, params) => this.warn({ key, params }),
        },
        this.ctx.operator,
        state.shipAudit,
      );
      // A shared pool's statistics are not this command's to add to the totals.
      const remote = this.#sharedRemote ? undefined : this.#remote;
      if (remote) {
        this.#recorder.metrics.registerPoolStats(() =>
          remote.poolStats()?.total ?? emptyPoolStats()
        );
      }
    }
    return this.#recorder;
  }

  /** The SSH pool and connection planning of this command (created on first use). */
  async remoteTargets(): Promise<RemoteTargets> {
    if (!this.#remote && this.#sharedRemote) this.#remote = await this.#sharedRemote();
    if (!this.#remote) {
      // Breakers, the audit log and deploy state live there: refuse it if others can write.
      await trustStateDir(this.localStateDir());
      const { RemoteTargets } = await import("./remote.ts");
      this.#remote = new RemoteTargets(this.ctx, await this.settings(), this.localStateDir(), {
        security: (key, params) =>
          this.ctx.process.stderr.write(
            `${this.colors.yellow(this.format("cli.warning_prefix"))} ${
              this.format(key, params)
            }\n`,
          ),
        note: (key, params) => this.note(key, params),
        retry: (target, error, retry, delayMs) =>
          this.debug(
            this.format("remote.retrying", {
              target,
              retry,
              ms: Math.round(delayMs),
              error: this.errorLine(error),
            }),
          ),
      }, { noPersist: this.flags.noPersist, breakers: () => this.sharedBreakers() });
    }
    return this.#remote;
  }

  async runner(): Promise<CommandRunner> {
    return await (await this.target()).runner();
  }

  /** provctl's own state dir on this machine (SSH circuit breakers, audit log). */
  localStateDir(): string {
    return this.loaded.config.path("paths.state_dir");
  }

  async hostInfo(): Promise<HostInfo> {
    return await (await this.target()).hostInfo();
  }

  /**
   * The state backend of `[state] backend` (opened on first use, closed with the session).
   * `tolerateOutage`: carry on when the database is unreachable (audit records wait in
   * the local backlog); otherwise such an outage is an error. A schema this provctl
   * cannot use is refused either way.
   */
  async state(options: { tolerateOutage?: boolean } = {}): Promise<StateBackend> {
    if (!this.#state && this.ctx.state) return this.ctx.state;
    if (!this.#state) {
      const config = this.loaded.config;
      this.#stateUnchecked = options.tolerateOutage === true;
      this.#state = import("../state/select.ts").then(({ openStateBackend, stateSettings }) =>
        openStateBackend(stateSettings(config), {
          env: this.ctx.process.env,
          tolerateOutage: options.tolerateOutage,
          onAuditOffline: (error) =>
            this.warn({
              key: "state.audit_offline",
              params: {
                reason: this.errorLine(error),
                path: config.path("observe.audit_file"),
              },
            }),
          onAuditOnline: (count) => {
            if (count > 0) this.note("state.audit_online", { count });
          },
        })
      );
    }
    const backend = await this.#state;
    if (!options.tolerateOutage && this.#stateUnchecked) {
      await backend.check?.();
      this.#stateUnchecked = false;
    }
    return backend;
  }

  /** The breaker store every controller shares (postgres); undefined: the state dir's files. */
  async sharedBreakers() {
    if (this.loaded.config.string("state.backend") === "files") return undefined;
    const { sharedBreakers } = await import("../state/select.ts");
    return sharedBreakers(await this.state({ tolerateOutage: true }));
  }

  /** Closes SSH connections, the audit log and saves metrics; called when the command ends. */
  async close(): Promise<void> {
    try {
      await this.#recorder?.close();
    } finally {
      try {
        if (!this.#sharedRemote) await this.#remote?.close();
      } finally {
        // Last: the state backend ships what the audit log got meanwhile.
        const state = await this.#state?.catch(() => undefined);
        await state?.close();
      }
    }
  }

  /** The backend for a service: --backend, then the service file's, then config, then auto. */
  async backend(requested?: string): Promise<Backend> {
    return await (await this.target()).backend(this.flags.backend, requested);
  }

  async backendEnvironment(): Promise<BackendEnvironment> {
    return await (await this.target()).environment();
  }

  /** Prints a warning (a message key with parameters) on stderr unless -q. */
  warn(warning: { key: string; params: MessageParams }): void {
    if (this.flags.quiet) return;
    const c = this.colors;
    this.ctx.process.stderr.write(
      `${c.yellow(this.format("cli.warning_prefix"))} ${
        this.format(warning.key, warning.params)
      }\n`,
    );
  }

  /** An error as one line of text (for tables and summaries). */
  errorLine(error: unknown): string {
    const { text } = renderError(error, {
      messages: this.#settings?.messages,
      verbose: false,
      colors: palette(false),
    });
    return text.split("\n")[0].replace(this.format("cli.error_prefix") + " ", "");
  }

  /** Prints an error the way users should see it and returns its exit code. */
  fail(error: unknown): number {
    const { text, exitCode } = renderError(error, {
      messages: this.#settings?.messages,
      verbose: this.flags.verbose ?? false,
      colors: this.colors,
    });
    this.ctx.process.stderr.write(text);
    return exitCode;
  }
}

/** Wraps a command body: errors become a message and an exit code, never an uncaught throw. */
export function command<F extends GlobalFlags, A extends unknown[]>(
  body: (session: Session, flags: F, ...args: A) => Promise<number | void>,
) {
  return async function (this: ProvctlContext, flags: F, ...args: A): Promise<void> {
    const session = new Session(this, flags);
    let code: number;
    try {
      await session.settings();
      code = (await body(session, flags, ...args)) ?? 0;
    } catch (error) {
      code = session.fail(error);
    }
    // Closing flushes the audit log and saves metrics: a failure there is reported and,
    // when the command itself succeeded, decides the exit code (a record was lost).
    try {
      await session.close();
    } catch (error) {
      const closeCode = session.fail(error);
      if (code === 0) code = closeCode;
    }
    this.process.exitCode = code;
  };
}

export function serviceNotFound(name: ServiceName): ProvctlError {
  return new ProvctlError("NotFound", "cli.service_unknown", { params: { service: name } });
}

export { isProvctlError };

function localHostInfo(env: Readonly<Record<string, string>>): HostInfo {
  const home = env.HOME ?? "/";
  return {
    os: Deno.build.os === "darwin" ? "Darwin" : Deno.build.os === "linux" ? "Linux" : Deno.build.os,
    home,
    tmp: (env.TMPDIR ?? "/tmp").replace(/\/+$/, "") || "/tmp",
    uid: Deno.uid() ?? 0,
    user: env.USER ?? env.LOGNAME ?? "",
    xdgStateHome: env.XDG_STATE_HOME || undefined,
    xdgConfigHome: env.XDG_CONFIG_HOME || undefined,
  };
}

function emptyPoolStats() {
  return { created: 0, reused: 0, idleClosed: 0, failed: 0, waitMs: 0 };
}
