/**
 * Backend selection and construction: `auto` asks detection (systemd when
 * /run/systemd/system exists and systemctl answers, launchd on macOS, else pidfile);
 * a named backend is built as asked.
 */
import { ProvctlError } from "../core/errors.ts";
import type { ServiceName } from "../core/service_name.ts";
import { expandTemplate } from "../config/placeholders.ts";
import type { CommandRunner, HostInfo } from "../exec/runner.ts";
import type { Settings } from "../cli/settings.ts";
import type { Backend, BackendName } from "./backend.ts";
import { PidfileBackend } from "./pidfile.ts";

export interface BackendEnvironment {
  readonly runner: CommandRunner;
  readonly host: HostInfo;
  readonly settings: Settings;
}

/** Placeholder values for path templates on the runner's machine. */
export function pathVariables(host: HostInfo, settings: Settings): Record<string, string> {
  const base = {
    home: host.home,
    tmp: host.tmp,
    xdg_state_home: host.xdgStateHome ?? `${host.home}/.local/state`,
  };
  return { ...base, state_dir: expandTemplate(settings.paths.stateDir, base) };
}

export function pidfileBackend(env: BackendEnvironment): PidfileBackend {
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
  });
}

export async function resolveBackendName(
  choice: "auto" | BackendName,
  env: BackendEnvironment,
): Promise<BackendName> {
  if (choice !== "auto") return choice;
  try {
    const { detectBackends } = await import("./detect.ts");
    return (await detectBackends(env.runner, env.host)).chosen;
  } catch (error) {
    if (error instanceof ProvctlError) throw error;
    return "pidfile";
  }
}

export async function createBackend(
  choice: "auto" | BackendName,
  env: BackendEnvironment,
): Promise<Backend> {
  const name = await resolveBackendName(choice, env);
  switch (name) {
    case "pidfile":
      return pidfileBackend(env);
    default:
      throw new ProvctlError("BackendUnavailable", "cli.backend_not_built", {
        params: { backend: name },
      });
  }
}
