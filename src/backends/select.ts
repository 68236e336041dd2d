/**
 * Backend selection and construction: `auto` asks detection (systemd when
 * /run/systemd/system exists and systemctl answers, launchd on macOS, else pidfile);
 * a named backend is built as asked, from the settings.
 */
import type { RestartBackoff } from "../core/service_definition.ts";
import type { ServiceName } from "../core/service_name.ts";
import { expandTemplate } from "../config/placeholders.ts";
import type { CommandRunner, HostInfo } from "../exec/runner.ts";
import type { Backend, BackendName } from "./backend.ts";
import { detectBackends } from "./detect.ts";
import type { LaunchdBackend } from "./launchd.ts";
import { PidfileBackend } from "./pidfile.ts";
import type { SystemdBackend } from "./systemd.ts";
import type { SystemdScope } from "./systemd_unit.ts";

/** What building a backend needs from provctl's settings (the CLI's Settings extend it). */
export interface BackendSettings {
  readonly paths: {
    readonly stateDir: string;
    readonly pidFile: string;
    readonly logFile: string;
  };
  readonly timeouts: {
    readonly startGraceMs: number;
    readonly lockMs: number;
    readonly commandMs: number;
  };
  readonly systemd: {
    readonly scope: "auto" | "system" | "user";
    readonly systemUnitDir: string;
    readonly failureJournalLines: number;
  };
  readonly launchd: {
    readonly domain: "auto" | "gui" | "user" | "system";
    readonly labelPrefix: string;
    readonly logFile: string;
    readonly systemLogFile: string;
  };
  /** The pidfile supervisor's restart pacing. */
  readonly service: { readonly backoff: RestartBackoff };
  /** Service log rotation (pidfile backend). */
  readonly logRotation: { readonly maxBytes: number; readonly keep: number };
}

export interface BackendEnvironment {
  readonly runner: CommandRunner;
  readonly host: HostInfo;
  readonly settings: BackendSettings;
  /** --system / --user; otherwise systemd.scope from the settings. */
  readonly scope?: SystemdScope;
  /** --force: overwrite or remove units/plists provctl did not write. */
  readonly force?: boolean;
}

/** Placeholder values for path templates on the runner's machine. */
export function pathVariables(host: HostInfo, settings: BackendSettings): Record<string, string> {
  const base = {
    home: host.home,
    tmp: host.tmp,
    xdg_state_home: host.xdgStateHome ?? `${host.home}/.local/state`,
  };
  return { ...base, state_dir: expandTemplate(settings.paths.stateDir, base) };
}

function systemdScope(env: BackendEnvironment): SystemdScope {
  if (env.scope) return env.scope;
  const configured = env.settings.systemd.scope;
  if (configured !== "auto") return configured;
  return env.host.uid === 0 ? "system" : "user";
}

function pidfileBackend(env: BackendEnvironment): PidfileBackend {
  const vars = pathVariables(env.host, env.settings);
  const { paths, timeouts } = env.settings;
  return new PidfileBackend({
    runner: env.runner,
    paths: {
      stateDir: vars.state_dir,
      pidFile: (name: ServiceName) =>
        expandTemplate(paths.pidFile, { ...vars, service_name: name }),
      logFile: (name: ServiceName) =>
        expandTemplate(paths.logFile, { ...vars, service_name: name }),
    },
    startGraceMs: timeouts.startGraceMs,
    lockMs: timeouts.lockMs,
    commandTimeoutMs: timeouts.commandMs,
    restartBackoff: env.settings.service.backoff,
    logMaxBytes: env.settings.logRotation.maxBytes,
    logKeep: env.settings.logRotation.keep,
  });
}

// systemd and launchd modules are loaded only when used: start-up stays small.
async function systemdBackend(env: BackendEnvironment): Promise<SystemdBackend> {
  const { SystemdBackend } = await import("./systemd.ts");
  const scope = systemdScope(env);
  const { settings } = env;
  return new SystemdBackend({
    runner: env.runner,
    scope,
    unitDir: scope === "system" ? settings.systemd.systemUnitDir : undefined,
    host: env.host,
    commandTimeoutMs: settings.timeouts.commandMs,
    startGraceMs: settings.timeouts.startGraceMs,
    force: env.force,
    journalLinesOnFailure: settings.systemd.failureJournalLines,
  });
}

async function launchdBackend(env: BackendEnvironment): Promise<LaunchdBackend> {
  const { LaunchdBackend } = await import("./launchd.ts");
  const { settings, host } = env;
  const vars = pathVariables(host, settings);
  const template = host.uid === 0 ? settings.launchd.systemLogFile : settings.launchd.logFile;
  return new LaunchdBackend({
    runner: env.runner,
    host,
    domain: settings.launchd.domain,
    labelPrefix: settings.launchd.labelPrefix,
    logFile: (name: ServiceName) => expandTemplate(template, { ...vars, service_name: name }),
    commandTimeoutMs: settings.timeouts.commandMs,
    startGraceMs: settings.timeouts.startGraceMs,
    force: env.force,
  });
}

export async function resolveBackendName(
  choice: "auto" | BackendName,
  env: BackendEnvironment,
): Promise<BackendName> {
  if (choice !== "auto") return choice;
  return (await detectBackends(env.runner, env.host, {
    scope: systemdScope(env),
    timeoutMs: env.settings.timeouts.commandMs,
  })).chosen;
}

export async function createBackend(
  choice: "auto" | BackendName,
  env: BackendEnvironment,
): Promise<Backend> {
  switch (await resolveBackendName(choice, env)) {
    case "pidfile":
      return pidfileBackend(env);
    case "systemd":
      return await systemdBackend(env);
    case "launchd":
      return await launchdBackend(env);
  }
}
