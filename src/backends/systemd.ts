/**
 * SystemdBackend: services as systemd units (`<service>.service`), driven with
 * systemctl and journalctl through a CommandRunner, so it works locally and over SSH.
 * Unit files carry provctl's marker; a unit without it is controlled (stop, status,
 * restart, logs) but never overwritten or removed unless `force` is set.
 */
import { ProvctlError } from "../core/errors.ts";
import { resolveBinary } from "./_resolve_binary.ts";
import { isRunning, type ProcessStatus, Status } from "../core/process_status.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";
import { probeHost, readFileIfExists, removeFile, sh, writeFileAtomic } from "../exec/host_fs.ts";
import type { CommandRunner, HostInfo, RunResult } from "../exec/runner.ts";
import type {
  Backend,
  BootControl,
  EnableResult,
  LogOptions,
  LogSink,
  StartResult,
  StopResult,
} from "./backend.ts";
import { lastLine, systemctlError } from "./_systemd_errors.ts";
import {
  parseShow,
  SHOW_PROPERTIES,
  type ShowProperties,
  statusFromShow,
} from "./_systemd_show.ts";
import {
  isManagedUnit,
  MANAGED_MARKER,
  renderUnit,
  type SystemdScope,
  unitNameOf,
} from "./systemd_unit.ts";

export interface SystemdBackendOptions {
  readonly runner: CommandRunner;
  /** "system": units in /etc/systemd/system; "user": `systemctl --user`, ~/.config/systemd/user. */
  readonly scope: SystemdScope;
  /** Where unit files are written (overrides the scope's directory; tests use /run/systemd/system). */
  readonly unitDir?: string;
  /** Facts about the target machine; probed through the runner when needed and not given. */
  readonly host?: HostInfo;
  /** Limit for any single systemctl/journalctl call. */
  readonly commandTimeoutMs?: number;
  /** A service that stops within this time after start is reported as failed to start. */
  readonly startGraceMs?: number;
  /** Overwrite or remove units provctl did not write. */
  readonly force?: boolean;
  /** Journal lines quoted in a start failure. */
  readonly journalLinesOnFailure?: number;
}

export interface InstallResult {
  readonly unit: string;
  readonly path: string;
  /** False when the unit file already had this content. */
  readonly changed: boolean;
}

export type { EnableResult };

const DEFAULT_TIMEOUT_MS = 30_000;
const ACTIVE_STATES = new Set(["active", "activating", "deactivating", "reloading"]);

export class SystemdBackend implements Backend {
  readonly name = "systemd" as const;
  /** enable/disable are `systemctl enable/disable` of the unit. */
  get boot(): BootControl {
    return this;
  }
  readonly #runner: CommandRunner;
  readonly #scope: SystemdScope;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #force: boolean;
  readonly #journalLines: number;
  #unitDir?: string;
  #host?: HostInfo;

  constructor(options: SystemdBackendOptions) {
    this.#runner = options.runner;
    this.#scope = options.scope;
    this.#unitDir = options.unitDir;
    this.#host = options.host;
    this.#timeoutMs = options.commandTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#graceMs = options.startGraceMs ?? 500;
    this.#force = options.force ?? false;
    this.#journalLines = options.journalLinesOnFailure ?? 10;
  }

  get scope(): SystemdScope {
    return this.#scope;
  }

  /** Directory the unit files go to on the target. */
  async unitDir(): Promise<string> {
    if (this.#unitDir) return this.#unitDir;
    if (this.#scope === "system") return (this.#unitDir = "/etc/systemd/system");
    const host = await this.#hostInfo();
    const config = host.xdgConfigHome ?? `${host.home}/.config`;
    return (this.#unitDir = `${config}/systemd/user`);
  }

  async start(def: ServiceDefinition): Promise<StartResult> {
    const unit = unitNameOf(def.name);
    const content = await this.#render(def);
    const props = await this.#show(unit);
    const status = statusFromShow(props);
    if (status && isRunning(status)) {
      throw new ProvctlError("AlreadyRunning", "systemd.already_running", {
        params: { unit, pid: status.pid, target: this.#runner.target },
      });
    }
    await this.#write(unit, content, props);
    return { status: await this.#startUnit(unit, "start"), changed: true };
  }

  async stop(name: ServiceName): Promise<StopResult> {
    const unit = unitNameOf(name);
    const props = await this.#known(unit);
    if (!ACTIVE_STATES.has(props.ActiveState ?? "")) return { changed: false };
    await this.#systemctl(["stop", unit], { command: "stop", unit });
    const after = await this.#show(unit);
    return { changed: true, killed: after.Result === "timeout" };
  }

  async restart(name: ServiceName, def?: ServiceDefinition): Promise<StartResult> {
    const unit = unitNameOf(name);
    if (def && def.name !== name) {
      throw new ProvctlError("InvalidArgument", "systemd.definition_mismatch", {
        params: { name, definition: def.name },
      });
    }
    if (def) {
      const content = await this.#render(def);
      await this.#write(unit, content, await this.#show(unit));
    }
    await this.#known(unit);
    return { status: await this.#startUnit(unit, "restart"), changed: true };
  }

  async status(name: ServiceName): Promise<ProcessStatus> {
    const unit = unitNameOf(name);
    // An unknown unit is "not running" (as for every backend); stop/logs say NotFound.
    return statusFromShow(await this.#show(unit)) ?? Status.notRunning("no such unit");
  }

  async logs(
    name: ServiceName,
    options: LogOptions,
    sink: LogSink,
  ): Promise<void> {
    const unit = unitNameOf(name);
    const args = [
      ...(this.#scope === "user" ? ["--user"] : []),
      "-u",
      unit,
      "-n",
      String(Math.max(0, Math.floor(options.lines))),
      "--no-pager",
      "-q",
      "-o",
      "short-iso",
    ];
    if (!options.follow) {
      const result = await this.#run("journalctl", args, { command: "journalctl", unit });
      if (result.code !== 0) throw systemctlError(result, this.#failure("journalctl", unit));
      if (result.stdout === "") await this.#known(unit);
      await sink(new TextEncoder().encode(result.stdout));
      return;
    }
    await this.#known(unit);
    if (options.signal?.aborted) return;
    const proc = this.#runner.stream("journalctl", [...args, "-f"], { signal: options.signal });
    const stop = () => proc.kill();
    options.signal?.addEventListener("abort", stop, { once: true });
    const drainErr = new Response(proc.stderr).text();
    try {
      const reader = proc.stdout.getReader();
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        await sink(value);
      }
      const end = await proc.done;
      const stderr = await drainErr;
      if (end.code !== 0 && !options.signal?.aborted) {
        throw systemctlError(
          { code: end.code, stdout: "", stderr, timedOut: false },
          this.#failure("journalctl", unit),
        );
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
    }
  }

  async list(): Promise<ServiceName[]> {
    const dir = await this.unitDir();
    const script = `for f in "$1"/*.service; do
  [ -f "$f" ] && grep -qF -- "$2" "$f" && basename -- "$f" .service
done; exit 0`;
    const result = await sh(this.#runner, script, [dir, MANAGED_MARKER], {
      timeoutMs: this.#timeoutMs,
    });
    if (result.code !== 0) {
      throw new ProvctlError("CommandFailed", "systemd.list_failed", {
        params: { dir, target: this.#runner.target, reason: lastLine(result.stderr) },
      });
    }
    const names: ServiceName[] = [];
    for (const line of result.stdout.split("\n")) {
      try {
        if (line) names.push(parseServiceName(line));
      } catch { /* a managed-looking file with a name provctl would not write */ }
    }
    return names.sort();
  }

  async uninstall(name: ServiceName): Promise<void> {
    const unit = unitNameOf(name);
    const path = await this.#unitPath(unit);
    const existing = await readFileIfExists(this.#runner, path);
    const props = await this.#show(unit);
    if (existing === undefined && statusFromShow(props) === undefined) throw this.#notFound(unit);
    if (!this.#force) {
      if (existing !== undefined && !isManagedUnit(existing)) {
        throw this.#notManaged(unit, path, "remove");
      }
      if (existing === undefined) {
        throw this.#notManaged(unit, props.FragmentPath || path, "remove");
      }
    }
    if (ACTIVE_STATES.has(props.ActiveState ?? "")) {
      await this.#systemctl(["stop", unit], { command: "stop", unit });
    }
    if (props.UnitFileState === "enabled") {
      await this.#systemctl(["disable", unit], { command: "disable", unit });
    }
    if (existing !== undefined) await removeFile(this.#runner, path);
    await this.#systemctl(["daemon-reload"], { command: "daemon-reload" });
    // Forget a failed state so the unit is gone from `systemctl` entirely.
    await this.#run("systemctl", [this.#scopeFlag(), "reset-failed", unit], {
      command: "reset-failed",
      unit,
    });
  }

  /** Writes the unit file (if changed) and reloads systemd, without starting it. */
  async install(def: ServiceDefinition): Promise<InstallResult> {
    const unit = unitNameOf(def.name);
    const content = await this.#render(def);
    const changed = await this.#write(unit, content, await this.#show(unit));
    return { unit, path: await this.#unitPath(unit), changed };
  }

  /** Starts the unit at boot (or at login of the user manager). */
  async enable(name: ServiceName): Promise<EnableResult> {
    const unit = unitNameOf(name);
    const props = await this.#known(unit);
    const changed = props.UnitFileState !== "enabled";
    if (changed) await this.#systemctl(["enable", unit], { command: "enable", unit });
    if (this.#scope !== "user") return { changed };
    const host = await this.#hostInfo();
    const linger = await this.#run(
      "loginctl",
      ["show-user", host.user, "-p", "Linger", "--value"],
      {
        command: "loginctl",
      },
    ).catch(() => undefined);
    if (linger?.code === 0 && linger.stdout.trim() === "yes") return { changed };
    return {
      changed,
      warning: { key: "systemd.linger_needed", params: { unit, user: host.user } },
    };
  }

  async disable(name: ServiceName): Promise<{ changed: boolean }> {
    const unit = unitNameOf(name);
    const props = await this.#known(unit);
    if (props.UnitFileState !== "enabled") return { changed: false };
    await this.#systemctl(["disable", unit], { command: "disable", unit });
    return { changed: true };
  }

  async isEnabled(name: ServiceName): Promise<boolean> {
    return (await this.#known(unitNameOf(name))).UnitFileState === "enabled";
  }

  // --- internals ---

  async #hostInfo(): Promise<HostInfo> {
    this.#host ??= await probeHost(this.#runner);
    return this.#host;
  }

  #scopeFlag(): string {
    return this.#scope === "user" ? "--user" : "--system";
  }

  async #unitPath(unit: string): Promise<string> {
    return `${await this.unitDir()}/${unit}`;
  }

  #failure(command: string, unit?: string) {
    return {
      command,
      unit,
      target: this.#runner.target,
      scope: this.#scope,
      user: this.#host?.user,
    };
  }

  async #run(
    program: string,
    args: readonly string[],
    what: { command: string; unit?: string },
  ): Promise<RunResult> {
    // TZ=UTC: timestamps in `systemctl show` are then parseable without guessing zones.
    const result = await this.#runner.run(program, args, {
      timeoutMs: this.#timeoutMs,
      env: { TZ: "UTC", SYSTEMD_PAGER: "", SYSTEMD_COLORS: "0" },
    });
    if (result.timedOut) {
      throw new ProvctlError("Timeout", "systemd.command_timeout", {
        params: {
          program,
          command: what.command,
          unit: what.unit ?? "",
          ms: this.#timeoutMs,
          target: this.#runner.target,
        },
      });
    }
    return result;
  }

  async #systemctl(
    args: readonly string[],
    what: { command: string; unit?: string },
  ): Promise<RunResult> {
    const result = await this.#run(
      "systemctl",
      [this.#scopeFlag(), "--no-ask-password", ...args],
      what,
    );
    if (result.code !== 0) throw systemctlError(result, this.#failure(what.command, what.unit));
    return result;
  }

  async #show(unit: string): Promise<ShowProperties> {
    const result = await this.#systemctl(["show", "-p", SHOW_PROPERTIES.join(","), "--", unit], {
      command: "show",
      unit,
    });
    return parseShow(result.stdout);
  }

  /** The unit's properties; NotFound when systemd does not know it. */
  async #known(unit: string): Promise<ShowProperties> {
    const props = await this.#show(unit);
    if (statusFromShow(props) === undefined) throw this.#notFound(unit);
    return props;
  }

  #notFound(unit: string): ProvctlError {
    return new ProvctlError("NotFound", "systemd.unknown_service", {
      params: { unit, target: this.#runner.target, scope: this.#scope },
    });
  }

  #notManaged(unit: string, path: string, action: string): ProvctlError {
    return new ProvctlError("Conflict", "systemd.unit_not_managed", {
      params: { unit, path, action },
      hint: "systemd.hint_force",
    });
  }

  async #render(def: ServiceDefinition): Promise<string> {
    return renderUnit(def, { scope: this.#scope, execPath: await this.#resolveBinary(def) });
  }

  /** A program name becomes the absolute path found on the target's PATH (systemd needs one). */
  #resolveBinary(def: ServiceDefinition): Promise<string> {
    return resolveBinary(this.#runner, def, { timeoutMs: this.#timeoutMs, backend: "systemd" });
  }

  /** Writes the unit when its content differs; reloads systemd. True when written. */
  async #write(unit: string, content: string, props: ShowProperties): Promise<boolean> {
    const path = await this.#unitPath(unit);
    const existing = await readFileIfExists(this.#runner, path);
    if (!this.#force) {
      if (existing !== undefined && !isManagedUnit(existing)) {
        throw this.#notManaged(unit, path, "overwrite");
      }
      // A unit defined elsewhere (e.g. a package's) would be shadowed by ours.
      const elsewhere = props.FragmentPath && props.FragmentPath !== path &&
        props.LoadState !== "not-found";
      if (existing === undefined && elsewhere) {
        throw this.#notManaged(unit, props.FragmentPath!, "override");
      }
    }
    const changed = existing !== content;
    if (changed) await writeFileAtomic(this.#runner, path, content, { mode: "0644" });
    if (changed || props.NeedDaemonReload === "yes" || props.LoadState === "not-found") {
      await this.#systemctl(["daemon-reload"], { command: "daemon-reload" });
    }
    return changed;
  }

  async #journalTail(unit: string): Promise<string> {
    const args = [
      ...(this.#scope === "user" ? ["--user"] : []),
      "-u",
      unit,
      "-n",
      String(this.#journalLines),
      "--no-pager",
      "-q",
      "-o",
      "short-iso",
    ];
    const result = await this.#run("journalctl", args, { command: "journalctl", unit }).catch(() =>
      undefined
    );
    return result?.stdout.trimEnd() || "(no journal lines)";
  }

  /** start/restart, then checks the unit is still up after the grace period. */
  async #startUnit(unit: string, verb: "start" | "restart"): Promise<ProcessStatus> {
    try {
      await this.#systemctl([verb, unit], { command: verb, unit });
    } catch (error) {
      if (error instanceof ProvctlError && error.kind === "StartFailed") {
        throw new ProvctlError("StartFailed", "systemd.start_failed", {
          params: { unit, reason: error.params.reason, journal: await this.#journalTail(unit) },
          cause: error,
        });
      }
      throw error;
    }
    if (this.#graceMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#graceMs));
    const status = statusFromShow(await this.#show(unit));
    if (status && isRunning(status)) return status;
    const reason = !status
      ? "unit vanished"
      : status.state === "failed"
      ? `${status.reason}${status.code !== undefined ? `, exit code ${status.code}` : ""}${
        status.signal ? `, signal ${status.signal}` : ""
      }`
      : status.state === "not-running" && status.note
      ? status.note
      : status.state;
    throw new ProvctlError("StartFailed", "systemd.exited_at_start", {
      params: { unit, reason, ms: this.#graceMs, journal: await this.#journalTail(unit) },
    });
  }
}
