/**
 * Which service backends work on a machine, and which `auto` picks: systemd when
 * /run/systemd/system exists and systemctl answers (for user scope: a user manager
 * answers), launchd on macOS, otherwise the PID-file backend (always available).
 * Every check runs through the CommandRunner, so it answers for remote hosts too.
 * Feeds `provctl doctor`: reasons are message keys in the [detect] table.
 */
import type { MessageParams } from "../core/errors.ts";
import { isDirectory, sh } from "../exec/host_fs.ts";
import type { CommandRunner, HostInfo, RunResult } from "../exec/runner.ts";
import type { BackendName } from "./backend.ts";
import { lastLine } from "./_systemd_errors.ts";
import type { SystemdScope } from "./systemd_unit.ts";

export interface BackendCheck {
  readonly name: BackendName;
  readonly available: boolean;
  /** Why it is (not) available: a message key in [detect] with its parameters. */
  readonly reason: { readonly key: string; readonly params: MessageParams };
}

export interface DetectionReport {
  /** In order of preference: systemd, launchd, pidfile. */
  readonly backends: readonly BackendCheck[];
  /** The first available one (pidfile at worst). */
  readonly chosen: BackendName;
  /** The systemd scope the checks used. */
  readonly systemdScope: SystemdScope;
}

export interface DetectOptions {
  /** auto: system for root, user otherwise. */
  readonly scope?: "auto" | SystemdScope;
  readonly timeoutMs?: number;
}

const check = (
  name: BackendName,
  available: boolean,
  key: string,
  params: MessageParams = {},
): BackendCheck => ({
  name,
  available,
  reason: { key: `detect.${key}`, params },
});

async function tryRun(
  runner: CommandRunner,
  program: string,
  args: string[],
  timeoutMs: number,
): Promise<RunResult | undefined> {
  try {
    return await runner.run(program, args, { timeoutMs, probe: true });
  } catch {
    return undefined; // not installed (SpawnFailed) or unreachable
  }
}

async function detectSystemd(
  runner: CommandRunner,
  host: HostInfo,
  scope: SystemdScope,
  timeoutMs: number,
): Promise<BackendCheck> {
  if (host.os !== "Linux") return check("systemd", false, "systemd_not_linux", { os: host.os });
  if (!await isDirectory(runner, "/run/systemd/system", { timeoutMs })) {
    return check("systemd", false, "systemd_not_booted");
  }
  const version = await tryRun(runner, "systemctl", ["--version"], timeoutMs);
  if (!version || version.code !== 0) return check("systemd", false, "systemctl_missing");
  const versionText = version.stdout.split("\n")[0].trim();
  const manager = await tryRun(
    runner,
    "systemctl",
    [`--${scope}`, "show", "-p", "Version"],
    timeoutMs,
  );
  if (!manager || manager.code !== 0 || manager.timedOut) {
    const reason = manager ? lastLine(manager.stderr) || `exit code ${manager.code}` : "no answer";
    return check(
      "systemd",
      false,
      scope === "user" ? "systemd_no_user_manager" : "systemd_no_manager",
      {
        reason,
        user: host.user,
      },
    );
  }
  return check("systemd", true, "systemd_ok", { version: versionText, scope });
}

async function detectLaunchd(
  runner: CommandRunner,
  host: HostInfo,
  timeoutMs: number,
): Promise<BackendCheck> {
  if (host.os !== "Darwin") return check("launchd", false, "launchd_not_macos", { os: host.os });
  const found = await sh(runner, `command -v launchctl`, [], { timeoutMs, probe: true });
  if (found.code !== 0) return check("launchd", false, "launchctl_missing");
  return check("launchd", true, "launchd_ok", { path: found.stdout.trim() });
}

/** Checks every backend on the runner's machine and picks the one `auto` means. */
export async function detectBackends(
  runner: CommandRunner,
  host: HostInfo,
  options: DetectOptions = {},
): Promise<DetectionReport> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const scope: SystemdScope = options.scope && options.scope !== "auto"
    ? options.scope
    : host.uid === 0
    ? "system"
    : "user";
  const backends = [
    await detectSystemd(runner, host, scope, timeoutMs),
    await detectLaunchd(runner, host, timeoutMs),
    check("pidfile", true, "pidfile_ok"),
  ];
  const chosen = backends.find((b) => b.available)!.name;
  return { backends, chosen, systemdScope: scope };
}
