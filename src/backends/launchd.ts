/**
 * LaunchdBackend: services as launchd jobs on macOS, with the modern launchctl verbs
 * and an explicit domain target: `gui/UID` (a console login), `user/UID` (no console,
 * e.g. over SSH) or `system` (daemons, as root). Plists are written atomically to
 * ~/Library/LaunchAgents or /Library/LaunchDaemons through the CommandRunner; stdout
 * and stderr go to one log file that `logs` tails. A plist provctl did not write is
 * controlled but never overwritten or removed unless `force` is set.
 */
import { ProvctlError } from "../core/errors.ts";
import { resolveBinary } from "./_resolve_binary.ts";
import { isRunning, type ProcessStatus, Status } from "../core/process_status.ts";
import type { ServiceDefinition } from "../core/service_definition.ts";
import { parseServiceName, type ServiceName } from "../core/service_name.ts";
import { readFileIfExists, removeFile, sh, writeFileAtomic } from "../exec/host_fs.ts";
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
import { classifyLaunchctl, launchctlReason } from "./_launchd_errors.ts";
import { type LaunchdJobInfo, parsePrint, statusFromPrint } from "./_launchd_print.ts";
import {
  isManagedPlist,
  keepsAlive,
  labelOf,
  PLIST_MARKER,
  renderPlist,
  runAtLoadOf,
  withRunAtLoad,
} from "./launchd_plist.ts";

export type LaunchdDomainChoice = "auto" | "gui" | "user" | "system";

export interface LaunchdBackendOptions {
  readonly runner: CommandRunner;
  /** Facts about the target machine (uid, home). */
  readonly host: HostInfo;
  /** auto: system for root; else gui/UID when that domain exists (console login), else user/UID. */
  readonly domain?: LaunchdDomainChoice;
  /** Reverse-DNS prefix of job labels (label = prefix.service). */
  readonly labelPrefix?: string;
  /** The launchctl program (default: "launchctl" from PATH). */
  readonly launchctl?: string;
  /** Where plists go (default: /Library/LaunchDaemons or ~/Library/LaunchAgents). */
  readonly plistDir?: string;
  /** The job's log file for stdout and stderr (default: /Library/Logs/provctl/NAME.log, or under ~). */
  readonly logFile?: (name: ServiceName) => string;
  readonly commandTimeoutMs?: number;
  /** A job that stops within this time after start is reported as failed to start. */
  readonly startGraceMs?: number;
  readonly force?: boolean;
  /** Log lines quoted in a start failure. */
  readonly logLinesOnFailure?: number;
}

interface Job {
  readonly label: string;
  readonly target: string; // DOMAIN/LABEL
  readonly plistPath: string;
  readonly logPath: string;
}

type PrintResult = { loaded: false } | { loaded: true; info: LaunchdJobInfo };

export class LaunchdBackend implements Backend {
  readonly name = "launchd" as const;
  /** Boot (login, for agents) is the plist's RunAtLoad plus launchctl enable/disable. */
  get boot(): BootControl {
    return this;
  }
  readonly #runner: CommandRunner;
  readonly #host: HostInfo;
  readonly #choice: LaunchdDomainChoice;
  readonly #prefix: string;
  readonly #program: string;
  readonly #timeoutMs: number;
  readonly #graceMs: number;
  readonly #force: boolean;
  readonly #logLines: number;
  readonly #plistDirOption?: string;
  readonly #logFileOption?: (name: ServiceName) => string;
  #domain?: string;

  constructor(options: LaunchdBackendOptions) {
    this.#runner = options.runner;
    this.#host = options.host;
    this.#choice = options.domain ?? "auto";
    if (!["auto", "gui", "user", "system"].includes(this.#choice)) {
      throw new ProvctlError("InvalidConfig", "launchd.domain_invalid", {
        params: { domain: this.#choice },
      });
    }
    this.#prefix = options.labelPrefix ?? "local.provctl";
    labelOf(this.#prefix, "x" as ServiceName); // validates the prefix now
    this.#program = options.launchctl ?? "launchctl";
    this.#timeoutMs = options.commandTimeoutMs ?? 30_000;
    this.#graceMs = options.startGraceMs ?? 500;
    this.#force = options.force ?? false;
    this.#logLines = options.logLinesOnFailure ?? 10;
    this.#plistDirOption = options.plistDir;
    this.#logFileOption = options.logFile;
  }

  /** The domain target: "system", "gui/501" or "user/501". */
  async domain(): Promise<string> {
    if (this.#domain) return this.#domain;
    const uid = this.#host.uid;
    let choice = this.#choice;
    if (choice === "auto") {
      if (uid === 0) choice = "system";
      else {
        const gui = await this.#run(["print", `gui/${uid}`], {
          command: "print",
          job: `gui/${uid}`,
        });
        choice = gui.code === 0 ? "gui" : "user";
      }
    }
    this.#domain = choice === "system" ? "system" : `${choice}/${uid}`;
    return this.#domain;
  }

  #isSystem(domain: string): boolean {
    return domain === "system";
  }

  async #job(name: ServiceName): Promise<Job> {
    const label = labelOf(this.#prefix, name);
    const domain = await this.domain();
    const system = this.#isSystem(domain);
    const plistDir = this.#plistDirOption ??
      (system ? "/Library/LaunchDaemons" : `${this.#host.home}/Library/LaunchAgents`);
    const logDir = system ? "/Library/Logs/provctl" : `${this.#host.home}/Library/Logs/provctl`;
    return {
      label,
      target: `${domain}/${label}`,
      plistPath: `${plistDir}/${label}.plist`,
      logPath: this.#logFileOption?.(name) ?? `${logDir}/${name}.log`,
    };
  }

  async start(def: ServiceDefinition): Promise<StartResult> {
    const job = await this.#job(def.name);
    const content = await this.#render(def, job, await this.#bootFlag(job));
    const printed = await this.#print(job);
    if (printed.loaded) {
      const status = statusFromPrint(printed.info);
      if (isRunning(status)) {
        throw new ProvctlError("AlreadyRunning", "launchd.already_running", {
          params: { label: job.label, pid: status.pid, domain: await this.domain() },
        });
      }
    }
    await this.#write(job, content, printed);
    if (printed.loaded) await this.#bootout(job);
    await this.#load(job, def.name, content);
    return { status: await this.#checkStarted(job), changed: true };
  }

  async stop(name: ServiceName): Promise<StopResult> {
    const job = await this.#job(name);
    const printed = await this.#print(job);
    if (!printed.loaded) {
      if (await readFileIfExists(this.#runner, job.plistPath) === undefined) {
        throw await this.#notFound(job);
      }
      return { changed: false };
    }
    // bootout stops the job (SIGTERM, SIGKILL after ExitTimeOut) and unloads it, so
    // KeepAlive cannot bring it back; start bootstraps it again.
    await this.#bootout(job);
    return { changed: isRunning(statusFromPrint(printed.info)) };
  }

  async restart(name: ServiceName, def?: ServiceDefinition): Promise<StartResult> {
    const job = await this.#job(name);
    if (def && def.name !== name) {
      throw new ProvctlError("InvalidArgument", "launchd.definition_mismatch", {
        params: { name, definition: def.name },
      });
    }
    const printed = await this.#print(job);
    const changed = def
      ? await this.#write(job, await this.#render(def, job, await this.#bootFlag(job)), printed)
      : false;
    if (printed.loaded && !changed) {
      await this.#launchctl(["kickstart", "-k", job.target], {
        command: "kickstart",
        job: job.target,
      });
    } else {
      if (!printed.loaded && await readFileIfExists(this.#runner, job.plistPath) === undefined) {
        throw await this.#notFound(job);
      }
      if (printed.loaded) await this.#bootout(job);
      await this.#load(job, name, await readFileIfExists(this.#runner, job.plistPath) ?? "");
    }
    return { status: await this.#checkStarted(job), changed: true };
  }

  async status(name: ServiceName): Promise<ProcessStatus> {
    const job = await this.#job(name);
    const printed = await this.#print(job);
    if (printed.loaded) return statusFromPrint(printed.info);
    const installed = await readFileIfExists(this.#runner, job.plistPath) !== undefined;
    return Status.notRunning(installed ? "not loaded" : "no such job");
  }

  async logs(
    name: ServiceName,
    options: LogOptions,
    sink: LogSink,
  ): Promise<void> {
    const job = await this.#job(name);
    const printed = await this.#print(job);
    // A job provctl did not write logs wherever its plist says.
    const path = printed.loaded ? printed.info.stdoutPath ?? job.logPath : job.logPath;
    const exists = await sh(this.#runner, `[ -f "$1" ]`, [path], { timeoutMs: this.#timeoutMs });
    if (exists.code !== 0) {
      if (!printed.loaded && await readFileIfExists(this.#runner, job.plistPath) === undefined) {
        throw await this.#notFound(job);
      }
      if (!options.follow) return;
    }
    const lines = String(Math.max(0, Math.floor(options.lines)));
    if (!options.follow) {
      const result = await this.#runner.run("tail", ["-n", lines, "--", path], {
        timeoutMs: this.#timeoutMs,
      });
      if (result.code !== 0) {
        throw new ProvctlError("CommandFailed", "errors.file_op_failed", {
          params: { action: "read", path, reason: launchctlReason(result) },
        });
      }
      await sink(new TextEncoder().encode(result.stdout));
      return;
    }
    if (options.signal?.aborted) return;
    const proc = this.#runner.stream("tail", ["-n", lines, "-F", "--", path], {
      signal: options.signal,
    });
    const stop = () => proc.kill();
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      const reader = proc.stdout.getReader();
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        await sink(value);
      }
      await proc.done;
    } finally {
      options.signal?.removeEventListener("abort", stop);
    }
  }

  async list(): Promise<ServiceName[]> {
    const job = await this.#job("x" as ServiceName);
    const dir = job.plistPath.slice(0, job.plistPath.lastIndexOf("/"));
    const script = `for f in "$1"/"$2".*.plist; do
  [ -f "$f" ] && grep -qF -- "$3" "$f" && basename -- "$f" .plist
done; exit 0`;
    const result = await sh(this.#runner, script, [dir, this.#prefix, PLIST_MARKER], {
      timeoutMs: this.#timeoutMs,
    });
    const names: ServiceName[] = [];
    for (const label of result.stdout.split("\n").filter(Boolean)) {
      try {
        names.push(parseServiceName(label.slice(this.#prefix.length + 1)));
      } catch { /* not a name provctl would write */ }
    }
    return names.sort();
  }

  async uninstall(name: ServiceName): Promise<void> {
    const job = await this.#job(name);
    const existing = await readFileIfExists(this.#runner, job.plistPath);
    const printed = await this.#print(job);
    if (existing === undefined && !printed.loaded) throw await this.#notFound(job);
    if (!this.#force) {
      if (existing !== undefined && !isManagedPlist(existing)) {
        throw this.#notManaged(job.plistPath, "remove");
      }
      if (existing === undefined) {
        throw this.#notManaged(
          printed.loaded ? printed.info.path ?? job.target : job.target,
          "remove",
        );
      }
    }
    if (printed.loaded) await this.#bootout(job);
    if (existing !== undefined) await removeFile(this.#runner, job.plistPath);
  }

  /** RunAtLoad in the plist, and `launchctl enable` (clears a disable override). */
  async enable(name: ServiceName): Promise<EnableResult> {
    const job = await this.#job(name);
    const changed = await this.#setBootFlag(job, true);
    await this.#launchctl(["enable", job.target], { command: "enable", job: job.target });
    return { changed };
  }

  /**
   * RunAtLoad off; a job that is kept alive would still start at load (KeepAlive implies
   * RunAtLoad), so it is also disabled in launchd's override database.
   */
  async disable(name: ServiceName): Promise<{ changed: boolean }> {
    const job = await this.#job(name);
    const changed = await this.#setBootFlag(job, false);
    const text = await readFileIfExists(this.#runner, job.plistPath) ?? "";
    if (keepsAlive(text)) {
      await this.#launchctl(["disable", job.target], { command: "disable", job: job.target });
    }
    return { changed };
  }

  async isEnabled(name: ServiceName): Promise<boolean> {
    const job = await this.#job(name);
    const text = await readFileIfExists(this.#runner, job.plistPath);
    if (text === undefined) throw await this.#notFound(job);
    return runAtLoadOf(text);
  }

  // --- internals ---

  /** The boot flag a plist written now keeps: the current plist's (a new job: off). */
  async #bootFlag(job: Job): Promise<boolean> {
    const existing = await readFileIfExists(this.#runner, job.plistPath);
    return existing !== undefined && runAtLoadOf(existing);
  }

  /** Rewrites RunAtLoad of a known job's plist; true when it changed. */
  async #setBootFlag(job: Job, on: boolean): Promise<boolean> {
    const existing = await readFileIfExists(this.#runner, job.plistPath);
    if (existing === undefined) throw await this.#notFound(job);
    if (!this.#force && !isManagedPlist(existing)) throw this.#notManaged(job.plistPath, "change");
    if (runAtLoadOf(existing) === on) return false;
    await writeFileAtomic(this.#runner, job.plistPath, withRunAtLoad(existing, on), {
      mode: "0644",
    });
    return true;
  }

  /**
   * Loads the job and makes sure it runs. A job not enabled for boot has RunAtLoad off, so
   * bootstrap alone does not start it (kickstart does); one that is kept alive was disabled
   * in the override database (which refuses bootstrap), so it is enabled for the load and
   * disabled again after, which keeps it from starting at the next boot.
   */
  async #load(job: Job, name: ServiceName, plist: string): Promise<void> {
    const atBoot = runAtLoadOf(plist);
    const alive = keepsAlive(plist);
    if (!atBoot && alive) {
      await this.#launchctl(["enable", job.target], { command: "enable", job: job.target });
    }
    await this.#bootstrap(job, name);
    if (atBoot) return;
    await this.#launchctl(["kickstart", job.target], { command: "kickstart", job: job.target });
    if (alive) {
      await this.#launchctl(["disable", job.target], { command: "disable", job: job.target });
    }
  }

  async #render(def: ServiceDefinition, job: Job, runAtLoad: boolean): Promise<string> {
    const system = this.#isSystem(await this.domain());
    // Validate (names, XML) before asking the target anything.
    renderPlist(def, { label: job.label, logPath: job.logPath, system, execPath: "/" });
    return renderPlist(def, {
      label: job.label,
      logPath: job.logPath,
      system,
      runAtLoad,
      execPath: await this.#resolve(def),
    });
  }

  #resolve(def: ServiceDefinition): Promise<string> {
    return resolveBinary(this.#runner, def, { timeoutMs: this.#timeoutMs, backend: "launchd" });
  }

  async #run(args: readonly string[], what: { command: string; job: string }): Promise<RunResult> {
    const result = await this.#runner.run(this.#program, args, { timeoutMs: this.#timeoutMs });
    if (result.timedOut) {
      throw new ProvctlError("Timeout", "launchd.command_timeout", {
        params: { ...what, ms: this.#timeoutMs, target: this.#runner.target },
      });
    }
    return result;
  }

  async #launchctl(
    args: readonly string[],
    what: { command: string; job: string },
  ): Promise<RunResult> {
    const result = await this.#run(args, what);
    if (result.code !== 0) throw await this.#error(result, what);
    return result;
  }

  async #error(
    result: RunResult,
    what: { command: string; job: string; path?: string; name?: string },
  ) {
    const domain = await this.domain();
    const reason = launchctlReason(result);
    const label = what.job.slice(what.job.lastIndexOf("/") + 1);
    const params = {
      command: what.command,
      job: what.job,
      domain,
      reason,
      label,
      name: what.name ?? label,
    };
    let kind = classifyLaunchctl(result);
    if (kind === "ambiguous-io" && what.path) {
      // Error 5 means one of three things; ask which.
      const invalid = await this.#plistInvalid(what.path);
      if ((await this.#print({ target: `${domain}/${label}` })).loaded) kind = "already-loaded";
      else if (invalid) {
        return new ProvctlError("InvalidConfig", "launchd.invalid_plist", {
          params: { ...params, path: what.path, reason: invalid },
        });
      } else kind = "denied";
    }
    switch (kind) {
      case "not-loaded":
        return new ProvctlError("NotFound", "launchd.unknown_service", {
          params: { ...params, path: what.path ?? "" },
        });
      case "already-loaded":
        return new ProvctlError("Conflict", "launchd.already_loaded", {
          params,
          hint: "launchd.hint_already_loaded",
        });
      case "denied":
        return new ProvctlError("PermissionDenied", "launchd.domain_denied", {
          params,
          hint: "launchd.hint_domain",
        });
      default:
        return new ProvctlError("CommandFailed", "launchd.command_failed", { params });
    }
  }

  /** plutil's complaint when the plist is invalid (undefined when valid or plutil is absent). */
  async #plistInvalid(path: string): Promise<string | undefined> {
    const lint = await sh(
      this.#runner,
      `command -v plutil >/dev/null || exit 0; plutil -lint -- "$1"`,
      [path],
      {
        timeoutMs: this.#timeoutMs,
      },
    );
    return lint.code === 0 ? undefined : launchctlReason(lint);
  }

  async #print(job: Pick<Job, "target">): Promise<PrintResult> {
    const result = await this.#run(["print", job.target], { command: "print", job: job.target });
    if (result.code === 0) return { loaded: true, info: parsePrint(result.stdout) };
    if (classifyLaunchctl(result) === "not-loaded") return { loaded: false };
    throw await this.#error(result, { command: "print", job: job.target });
  }

  async #bootstrap(job: Job, name: ServiceName): Promise<void> {
    const domain = await this.domain();
    const result = await this.#run(["bootstrap", domain, job.plistPath], {
      command: "bootstrap",
      job: job.target,
    });
    if (result.code !== 0) {
      throw await this.#error(result, {
        command: "bootstrap",
        job: job.target,
        path: job.plistPath,
        name,
      });
    }
  }

  async #bootout(job: Job): Promise<void> {
    const result = await this.#run(["bootout", job.target], {
      command: "bootout",
      job: job.target,
    });
    if (result.code !== 0 && classifyLaunchctl(result) !== "not-loaded") {
      throw await this.#error(result, { command: "bootout", job: job.target });
    }
  }

  async #notFound(job: Job): Promise<ProvctlError> {
    return new ProvctlError("NotFound", "launchd.unknown_service", {
      params: { label: job.label, domain: await this.domain(), path: job.plistPath },
    });
  }

  #notManaged(path: string, action: string): ProvctlError {
    return new ProvctlError("Conflict", "launchd.not_managed", {
      params: { path, action },
      hint: "launchd.hint_force",
    });
  }

  /** Writes the plist when it differs (and the log directory). True when written. */
  async #write(job: Job, content: string, printed: PrintResult): Promise<boolean> {
    const existing = await readFileIfExists(this.#runner, job.plistPath);
    if (!this.#force) {
      if (existing !== undefined && !isManagedPlist(existing)) {
        throw this.#notManaged(job.plistPath, "overwrite");
      }
      if (
        existing === undefined && printed.loaded && printed.info.path &&
        printed.info.path !== job.plistPath
      ) {
        throw this.#notManaged(printed.info.path, "override");
      }
    }
    const logDir = job.logPath.slice(0, job.logPath.lastIndexOf("/"));
    // launchd opens the log itself and does not create directories.
    const mk = await sh(this.#runner, `mkdir -p -- "$1"`, [logDir], { timeoutMs: this.#timeoutMs });
    if (mk.code !== 0) {
      throw new ProvctlError("CommandFailed", "errors.file_op_failed", {
        params: { action: "create", path: logDir, reason: launchctlReason(mk) },
      });
    }
    if (existing === content) return false;
    await writeFileAtomic(this.#runner, job.plistPath, content, { mode: "0644" });
    return true;
  }

  async #checkStarted(job: Job): Promise<ProcessStatus> {
    if (this.#graceMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#graceMs));
    const printed = await this.#print(job);
    const status = printed.loaded ? statusFromPrint(printed.info) : Status.notRunning("not loaded");
    if (isRunning(status)) return status;
    const reason = status.state === "failed"
      ? `${status.reason}${status.code !== undefined ? ` ${status.code}` : ""}${
        status.signal ? ` ${status.signal}` : ""
      }`
      : status.state;
    const tail = await this.#runner.run("tail", ["-n", String(this.#logLines), "--", job.logPath], {
      timeoutMs: this.#timeoutMs,
    }).catch(() => undefined);
    throw new ProvctlError("StartFailed", "launchd.exited_at_start", {
      params: {
        label: job.label,
        ms: this.#graceMs,
        reason,
        log: job.logPath,
        lines: tail?.code === 0 && tail.stdout.trim() ? tail.stdout.trimEnd() : "(empty)",
      },
    });
  }
}
