/**
 * The PID-file backend: works wherever there is a POSIX sh (Linux, macOS, over SSH).
 *
 * Each operation is one sh script run through the CommandRunner (scripts in
 * ./_pidfile/), so it costs one process locally and one round trip remotely. A small
 * supervisor shell in its own session starts the service, records its identity
 * (PID, process group, start time) in the PID file, and records its exit status. The
 * identity is checked before any signal is sent, so a reused PID is never signalled.
 * On this machine (Linux), `status` and `list` run in-process instead: no process spawned.
 */
import { ProvctlError } from "../core/errors.ts";
import { type ProcessStatus, Status, type Supervision } from "../core/process_status.ts";
import type { RestartBackoff, ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";
import { signalNameOf } from "../core/signals.ts";
import { readFileIfExists, sh } from "../exec/host_fs.ts";
import { shellQuote } from "../exec/shell_quote.ts";
import type { CommandRunner } from "../exec/runner.ts";
import { LocalRunner } from "../exec/local_runner.ts";
import { trustDir } from "../core/state_trust.ts";
import { canReadProcesses, localStatus } from "./_pidfile/local_status.ts";
import type {
  Backend,
  BootControl,
  LogOptions,
  LogSink,
  StartResult,
  StopResult,
} from "./backend.ts";
import { followFile } from "./_log_tail.ts";
import { parseEnvFile } from "../config/services_file.ts";
import type * as PidfileScripts from "./_pidfile/scripts.ts";

export interface PidfilePaths {
  /** Directory for definitions (services/) and locks (locks/). */
  readonly stateDir: string;
  readonly pidFile: (name: ServiceName) => string;
  readonly logFile: (name: ServiceName) => string;
}

export interface PidfileBackendOptions {
  readonly runner: CommandRunner;
  readonly paths: PidfilePaths;
  /** A service that exits within this time after start did not start. */
  readonly startGraceMs: number;
  /** How long start waits for another provctl starting the same service. */
  readonly lockMs: number;
  /** Upper bound for one script (a stop waits up to the stop timeout on top). */
  readonly commandTimeoutMs: number;
  /** The POSIX sh that runs the scripts and the supervisor (default /bin/sh). */
  readonly shell?: string;
  /** Restart pacing where a definition does not set it (default: DEFAULT_BACKOFF). */
  readonly restartBackoff?: RestartBackoff;
  /** Rotate a service's log when it reaches this size (0: never; the default). */
  readonly logMaxBytes?: number;
  /** Rotated logs kept (LOG.1 ... LOG.N). */
  readonly logKeep?: number;
}

/** The embedded defaults of [service] in configs/defaults.toml. */
export const DEFAULT_BACKOFF: RestartBackoff = {
  delayMs: 1000,
  maxDelayMs: 60_000,
  max: 5,
  windowMs: 60_000,
  minUptimeMs: 5000,
};

/** A script to run: its text, or one of the backend's scripts (_pidfile/scripts.ts). */
type Script = string | ((scripts: typeof PidfileScripts) => string);
// The definition stored by start; a link there is never followed (exit 17).
const READ_DEFINITION = `[ -L "$1" ] && exit 17; [ -e "$1" ] || exit 3; exec cat -- "$1"`;

/** Fields whose value is a path: the scripts print them alone, and they take the line. */
const WHOLE_LINE_FIELDS = new Set(["dir"]);

/**
 * Parses the "k=v k=v" lines the scripts print. A path may contain spaces ("/tmp/no such
 * dir"), so a path field takes the rest of its line instead of being cut at a blank.
 */
function fields(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0 && WHOLE_LINE_FIELDS.has(line.slice(0, eq))) {
      out[line.slice(0, eq)] = line.slice(eq + 1);
      continue;
    }
    for (const token of line.trim().split(/\s+/)) {
      const at = token.indexOf("=");
      if (at > 0) out[token.slice(0, at)] = token.slice(at + 1);
    }
  }
  return out;
}

/** The supervisor's account in a status script's output (undefined without one). */
function supervisionOf(out: Record<string, string>): Supervision | undefined {
  if (out.supervisor === undefined) return undefined;
  const last = out.last_exit === "" || out.last_exit === undefined
    ? undefined
    : Number(out.last_exit) > 128
    ? { signal: signalNameOf(Number(out.last_exit) - 128) }
    : { code: Number(out.last_exit) };
  return {
    restarts: Number(out.restarts) || 0,
    lastExit: last,
    lastRestartAt: epoch(out.last_restart_at),
    nextRestartAt: epoch(out.next_restart_at),
    supervisor: out.supervisor === "running" || out.supervisor === "gone" ? out.supervisor : "done",
  };
}

/**
 * The names of the stored definitions (NAME.json) in `dir`, as list's script finds them:
 * what `*.json` matches (no dot files) and exists (`[ -e ]`: a dangling link does not).
 */
async function definitionsIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.startsWith(".") || !entry.name.endsWith(".json")) continue;
      if (entry.isSymlink && !(await Deno.stat(`${dir}/${entry.name}`).catch(() => null))) {
        continue;
      }
      names.push(entry.name.slice(0, -".json".length));
    }
  } catch { /* no services dir (nothing stored yet), or one we cannot read */ }
  return names;
}

function dirOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function epoch(seconds: string | undefined): Date | undefined {
  const n = Number(seconds);
  return seconds && Number.isFinite(n) ? new Date(n * 1000) : undefined;
}

export class PidfileBackend implements Backend {
  readonly name = "pidfile";
  /** No boot support: nothing of this backend runs before someone calls provctl. */
  readonly boot: BootControl | undefined = undefined;
  readonly #o: PidfileBackendOptions;

  constructor(options: PidfileBackendOptions) {
    this.#o = options;
  }

  get #shell(): string {
    return this.#o.shell ?? "/bin/sh";
  }
  /**
   * Runs one of the scripts after the trust prologue (_pidfile/trust.sh), which refuses
   * state directories another user could write: those of `name` (or only the state dir
   * and its services/ without a name).
   */
  async #sh(
    script: Script,
    args: readonly string[],
    options: { stdin?: string; timeoutMs?: number; name?: ServiceName; create?: boolean } = {},
  ) {
    const { name, create, ...rest } = options;
    let dirs = this.#stateDirs(name);
    if (await this.#trustedHere(dirs, create)) dirs = [];
    // Loaded on first use: a local status runs no script (see _pidfile/scripts.ts).
    const scripts = await import("./_pidfile/scripts.ts");
    const text = typeof script === "string" ? script : script(scripts);
    const result = await sh(this.#o.runner, `${scripts.TRUST_PROLOGUE}\n${text}`, [
      create ? "1" : "0",
      String(dirs.length),
      ...dirs,
      ...args,
    ], { ...rest, shell: this.#shell });
    if (result.code === 16) {
      const out = fields(result.stdout);
      const path = dirs[Number(out.untrusted) - 1];
      if (path !== undefined && (out.why === "owner" || out.why === "mode")) {
        throw new ProvctlError("PermissionDenied", `trust.${out.why}`, {
          params: { path },
          hint: `trust.hint_${out.why}`,
        });
      }
    }
    return result;
  }

  /**
   * On this machine (LocalRunner), the trust prologue's checks in-process
   * (core/state_trust.ts), which spares every `provctl status` the find processes of the
   * shell prologue. False when they are left to the script: another runner, or a
   * directory that cannot be made (a file in the way, a read-only disk), which the script
   * reports with what to set.
   */
  async #trustedHere(dirs: readonly string[], create?: boolean): Promise<boolean> {
    if (!(this.#o.runner instanceof LocalRunner)) return false;
    try {
      for (const dir of dirs) await trustDir(dir, { create });
      return true;
    } catch (error) {
      if (error instanceof ProvctlError) throw error;
      return false;
    }
  }

  /** status.sh and list run in-process: this machine, with /proc to read processes from. */
  get #inProcess(): boolean {
    return this.#o.runner instanceof LocalRunner && canReadProcesses();
  }

  #stateDirs(name?: ServiceName): string[] {
    const { stateDir } = this.#o.paths;
    const dirs = [stateDir, `${stateDir}/services`];
    if (name !== undefined) {
      dirs.push(
        `${stateDir}/locks`,
        dirOf(this.#o.paths.pidFile(name)),
        dirOf(this.#o.paths.logFile(name)),
      );
    }
    return [...new Set(dirs)];
  }

  #exitFile(name: ServiceName): string {
    return `${this.#o.paths.pidFile(name)}.exit`;
  }
  #defFile(name: ServiceName): string {
    return `${this.#o.paths.stateDir}/services/${name}.json`;
  }
  /** What the supervisor is doing (restarts, backoff, failed), for status. */
  #stateFile(name: ServiceName): string {
    return `${this.#o.paths.pidFile(name)}.state`;
  }
  #lockFile(name: ServiceName): string {
    return `${this.#o.paths.stateDir}/locks/${name}.lock`;
  }

  async start(def: ServiceDefinition): Promise<StartResult> {
    if (def.user !== undefined) {
      throw new ProvctlError("Unsupported", "pidfile.user_unsupported", {
        params: { service: def.name, user: def.user },
      });
    }
    const env = { ...(def.envFile ? await this.#readEnvFile(def) : {}), ...def.env };
    // The definition and environment go on stdin (argv is visible to every user in ps);
    // the environment as `export K='V'` lines the supervisor sources for the service only.
    const envScript = Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join(
      "",
    );
    const { runner, paths } = this.#o;
    const backoff = { ...(this.#o.restartBackoff ?? DEFAULT_BACKOFF), ...def.restartBackoff };
    const result = await this.#sh((s) => s.START, [
      paths.pidFile(def.name),
      this.#exitFile(def.name),
      this.#stateFile(def.name),
      paths.logFile(def.name),
      this.#lockFile(def.name),
      this.#defFile(def.name),
      String(this.#o.startGraceMs),
      String(this.#o.lockMs),
      def.workingDir ?? "",
      this.#shell,
      def.restartPolicy,
      String(backoff.delayMs),
      String(Math.max(backoff.maxDelayMs, backoff.delayMs)),
      String(backoff.max),
      String(backoff.windowMs),
      String(backoff.minUptimeMs),
      String(this.#o.logMaxBytes ?? 0),
      String(this.#o.logKeep ?? 5),
      // What the service leaves in its process group is ended as stop would end it.
      def.stopSignal.replace(/^SIG/, ""),
      String(def.stopTimeoutMs),
      "--",
      def.binary,
      ...def.args,
    ], {
      stdin: `${JSON.stringify(def)}\n${envScript}`,
      // Before it starts, start ends what the last run left (up to the stop timeout, then
      // up to 5 s after SIGKILL).
      timeoutMs: this.#o.commandTimeoutMs + this.#o.lockMs + this.#o.startGraceMs +
        def.stopTimeoutMs + 5000,
      name: def.name,
      create: true,
    });
    const out = fields(result.stdout);
    const params = { service: def.name, binary: def.binary, target: runner.target };
    switch (result.code) {
      case 0:
        // Died at once but restarting, or adopted: status says how it stands.
        if (out.restarting || out.adopted) {
          return { status: await this.status(def.name), changed: true };
        }
        return { status: Status.running(Number(out.pid), epoch(out.started)), changed: true };
      case 10:
        throw new ProvctlError("AlreadyRunning", "pidfile.already_running", {
          params: { ...params, pid: out.pid },
        });
      case 11: {
        const code = Number(out.code);
        const how = code > 128 ? signalNameOf(code - 128) : `exit code ${out.code || "unknown"}`;
        const lastLines = await this.#tail(def.name, 10);
        throw new ProvctlError("StartFailed", "pidfile.died_at_start", {
          params: {
            ...params,
            how,
            grace_ms: this.#o.startGraceMs,
            log: paths.logFile(def.name),
            last_lines: lastLines,
          },
        });
      }
      case 12:
        throw new ProvctlError("Locked", "pidfile.lock_timeout", {
          params: { ...params, ms: this.#o.lockMs },
        });
      case 13:
        throw new ProvctlError("InvalidArgument", "pidfile.workdir_missing", {
          params: { ...params, dir: out.dir },
        });
      case 15:
        throw new ProvctlError("Unsupported", "pidfile.no_setsid", { params });
      case 14:
        throw new ProvctlError("PermissionDenied", "pidfile.state_unwritable", {
          params: { ...params, dir: out.dir },
        });
      case 126:
        throw new ProvctlError("SpawnFailed", "errors.program_not_executable", {
          params: { program: def.binary },
        });
      case 127:
        throw new ProvctlError("SpawnFailed", "errors.program_not_found", {
          params: { program: def.binary },
        });
      default:
        throw this.#scriptFailed("start", def.name, result);
    }
  }

  async stop(name: ServiceName): Promise<StopResult> {
    const def = await this.#definition(name);
    const known = def !== undefined || (await this.status(name)).state !== "not-running";
    const signal = def?.stopSignal ?? "SIGTERM";
    const timeoutMs = def?.stopTimeoutMs ?? 10_000;
    const result = await this.#sh((s) => s.STOP, [
      this.#o.paths.pidFile(name),
      this.#exitFile(name),
      signal.replace(/^SIG/, ""),
      String(timeoutMs),
      this.#lockFile(name),
      String(this.#o.lockMs),
      this.#stateFile(name),
    ], {
      timeoutMs: this.#o.commandTimeoutMs + this.#o.lockMs + timeoutMs + 5000,
      name,
    });
    const out = fields(result.stdout);
    if (result.code === 12) {
      throw new ProvctlError("Locked", "pidfile.lock_timeout", {
        params: { service: name, ms: this.#o.lockMs, target: this.#o.runner.target },
      });
    }
    if (result.code === 5) {
      throw new ProvctlError("StopFailed", "pidfile.stuck", {
        params: { service: name, pid: out.pid },
      });
    }
    if (result.code !== 0) throw this.#scriptFailed("stop", name, result);
    if (out.result === "notrunning") {
      if (!known) {
        throw new ProvctlError("NotFound", "pidfile.unknown_service", {
          params: { service: name },
        });
      }
      return { changed: false };
    }
    if (out.result === "cancelled") return { changed: true };
    return { changed: true, killed: out.result === "killed" };
  }

  async restart(name: ServiceName, def?: ServiceDefinition): Promise<StartResult> {
    const definition = def ?? await this.#definition(name);
    if (!definition) {
      throw new ProvctlError("NotFound", "pidfile.unknown_service", { params: { service: name } });
    }
    await this.stop(name).catch((e) => {
      if (!(e instanceof ProvctlError && e.kind === "NotFound")) throw e;
    });
    try {
      return await this.start(definition);
    } catch (e) {
      // Another restart (or start) got in between our stop and our start: the service
      // runs a process started after our stop, which is what this restart asked for.
      if (!(e instanceof ProvctlError && e.kind === "AlreadyRunning")) throw e;
      return { status: await this.status(name), changed: true };
    }
  }

  async status(name: ServiceName): Promise<ProcessStatus> {
    const files = {
      pidFile: this.#o.paths.pidFile(name),
      exitFile: this.#exitFile(name),
      stateFile: this.#stateFile(name),
    };
    let stdout: string;
    if (this.#inProcess && await this.#trustedHere(this.#stateDirs(name))) {
      stdout = localStatus(files);
    } else {
      const result = await this.#sh((s) => s.STATUS, [
        files.pidFile,
        files.exitFile,
        files.stateFile,
      ], {
        timeoutMs: this.#o.commandTimeoutMs,
        name,
      });
      if (result.code !== 0) throw this.#scriptFailed("status", name, result);
      stdout = result.stdout;
    }
    const out = fields(stdout);
    const status = this.#statusOf(out);
    const supervision = supervisionOf(out);
    return supervision ? { ...status, supervision } : status;
  }

  #statusOf(out: Record<string, string>): ProcessStatus {
    const code = Number(out.code);
    switch (out.state) {
      case "running":
        return Status.running(Number(out.pid), epoch(out.started));
      case "exited":
        return Status.exited(code, epoch(out.at));
      case "terminated":
        return Status.terminated(signalNameOf(Number(out.signal)), epoch(out.at));
      case "failed":
        return Status.failed(
          "restart_limit",
          code > 128 ? { signal: signalNameOf(code - 128) } : { code },
        );
      case "unknown":
        return Status.notRunning("exit_unknown");
      case "stale":
        return Status.notRunning(out.reason === "reused" ? "stale_reused" : "stale_dead");
      case "corrupt":
        return Status.notRunning("corrupt");
      default:
        return Status.notRunning();
    }
  }

  async logs(
    name: ServiceName,
    options: LogOptions,
    sink: LogSink,
  ): Promise<void> {
    await followFile(
      this.#o.runner,
      this.#o.paths.logFile(name),
      options,
      sink,
      () =>
        new ProvctlError("NotFound", "pidfile.no_logs", {
          params: { service: name, log: this.#o.paths.logFile(name) },
        }),
      this.#shell,
    );
  }

  async list(): Promise<ServiceName[]> {
    const dir = `${this.#o.paths.stateDir}/services`;
    let found: string[];
    if (this.#inProcess && await this.#trustedHere(this.#stateDirs())) {
      found = await definitionsIn(dir);
    } else {
      const result = await this.#sh(
        `cd -- "$1" 2>/dev/null || exit 0; for f in *.json; do [ -e "$f" ] && echo "\${f%.json}"; done`,
        [dir],
      );
      found = result.stdout.split("\n");
    }
    const names: ServiceName[] = [];
    for (const line of found) {
      try {
        if (line) names.push(parseServiceName(line));
      } catch { /* a stray file that is not a service: ignore */ }
    }
    return names.sort();
  }

  async uninstall(name: ServiceName): Promise<void> {
    await this.stop(name).catch((e) => {
      if (!(e instanceof ProvctlError && e.kind === "NotFound")) throw e;
    });
    // The files below, and the rotated logs (LOG.1, LOG.2, ...).
    const script = `log=$1; shift; rm -f -- "$log" "$@" || exit
for f in "$log".*; do case \${f##*.} in '' | *[!0-9]*) ;; *) rm -f -- "$f" ;; esac; done`;
    const result = await this.#sh(script, [
      this.#o.paths.logFile(name),
      this.#stateFile(name),
      this.#defFile(name),
      this.#defFile(name).replace(/\.json$/, ".env"),
      this.#o.paths.pidFile(name),
      this.#exitFile(name),
      this.#lockFile(name),
    ], { name });
    if (result.code !== 0) throw this.#scriptFailed("uninstall", name, result);
  }

  /** The definition stored at the last start (used by restart and stop). */
  async #definition(name: ServiceName): Promise<ServiceDefinition | undefined> {
    const result = await this.#sh(READ_DEFINITION, [this.#defFile(name)], { name });
    if (result.code === 3) return undefined;
    if (result.code === 17) {
      throw new ProvctlError("PermissionDenied", "trust.symlink", {
        params: { path: this.#defFile(name) },
        hint: "trust.hint_symlink",
      });
    }
    if (result.code !== 0) throw this.#scriptFailed("read", name, result);
    const text = result.stdout;
    try {
      return JSON.parse(text) as ServiceDefinition;
    } catch {
      return undefined;
    }
  }

  async #readEnvFile(def: ServiceDefinition): Promise<Record<string, string>> {
    const text = await readFileIfExists(this.#o.runner, def.envFile!);
    if (text === undefined) {
      throw new ProvctlError("InvalidArgument", "pidfile.env_file_missing", {
        params: { service: def.name, file: def.envFile },
      });
    }
    return parseEnvFile(text, def.envFile!);
  }

  async #tail(name: ServiceName, lines: number): Promise<string> {
    const result = await this.#sh(`tail -n "$1" -- "$2" 2>/dev/null`, [
      String(lines),
      this.#o.paths.logFile(name),
    ]);
    return result.stdout.trimEnd();
  }

  #scriptFailed(
    action: string,
    name: ServiceName,
    result: { code: number; stderr: string; timedOut: boolean },
  ) {
    if (result.timedOut) {
      return new ProvctlError("Timeout", "pidfile.script_timeout", {
        params: { action, service: name },
      });
    }
    return new ProvctlError("CommandFailed", "pidfile.script_failed", {
      params: {
        action,
        service: name,
        code: result.code,
        reason: result.stderr.trim().split("\n").pop() ?? "",
      },
    });
  }
}
