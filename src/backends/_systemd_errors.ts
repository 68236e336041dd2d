/** Turns systemctl/journalctl failures into ProvctlErrors that say what to do. */
import { ProvctlError } from "../core/errors.ts";
import type { RunResult } from "../exec/runner.ts";

export interface SystemctlFailure {
  /** The systemctl verb, e.g. "start". */
  readonly command: string;
  readonly unit?: string;
  readonly target: string;
  readonly scope: "system" | "user";
  readonly user?: string;
}

const BUS =
  /Failed to connect to (?:user scope )?bus|System has not been booted with systemd|No medium found|Failed to get D-Bus connection|Transport endpoint is not connected|XDG_RUNTIME_DIR/i;
const DENIED =
  /Access denied|Interactive authentication required|Permission denied|authentication is required|Operation not permitted/i;
const NOT_FOUND =
  /not found|not loaded|does not exist|No such file or directory|Unit \S+ is not loaded/i;
const JOB_FAILED = /Job for \S+ failed|failed because|Start request repeated too quickly/i;

/** The last meaningful stderr line, for messages. */
export function lastLine(text: string): string {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  return lines.at(-1) ?? "";
}

export function systemctlError(result: RunResult, failure: SystemctlFailure): ProvctlError {
  const reason = result.stderr.trim().split("\n")[0] || lastLine(result.stdout) ||
    `exit code ${result.code}`;
  const params = {
    command: failure.command,
    unit: failure.unit ?? "",
    target: failure.target,
    reason,
    user: failure.user ?? "$USER",
  };
  if (BUS.test(result.stderr)) {
    return new ProvctlError("BackendUnavailable", "systemd.bus_unavailable", {
      params,
      hint: failure.scope === "user" ? "systemd.hint_user_manager" : "systemd.hint_no_systemd",
    });
  }
  if (DENIED.test(result.stderr)) {
    return new ProvctlError("PermissionDenied", "systemd.access_denied", {
      params,
      hint: failure.scope === "system" ? "systemd.hint_sudo_or_user" : undefined,
    });
  }
  if (JOB_FAILED.test(result.stderr)) {
    return new ProvctlError("StartFailed", "systemd.job_failed", { params });
  }
  if (failure.unit && NOT_FOUND.test(result.stderr)) {
    return new ProvctlError("NotFound", "systemd.unit_not_found", { params });
  }
  return new ProvctlError("CommandFailed", "systemd.command_failed", { params });
}
