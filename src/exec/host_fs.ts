/**
 * File and host operations done through a CommandRunner with POSIX sh, so backends
 * that keep files (PID files, unit files, plists) work the same locally and over SSH.
 * Paths are passed as arguments ("$1"), never spliced into the script text.
 */
import { ProvctlError } from "../core/errors.ts";
import type { CommandRunner, HostInfo, RunResult } from "./runner.ts";
import { LocalRunner } from "./local_runner.ts";

/**
 * True when `path` is a directory on the runner's machine. On this machine (LocalRunner)
 * it is a stat in-process: no shell spawned, which is a measurable part of the start-up
 * of every local command that detects its backend.
 */
export async function isDirectory(
  runner: CommandRunner,
  path: string,
  options: { timeoutMs?: number } = {},
): Promise<boolean> {
  if (runner instanceof LocalRunner) {
    try {
      return Deno.statSync(path).isDirectory;
    } catch {
      return false;
    }
  }
  // A probe: "no such directory" is an answer, not a failed operation.
  return (await sh(runner, `[ -d "$1" ]`, [path], { ...options, probe: true })).code === 0;
}

/** Runs a POSIX sh script with positional arguments (with `shell`, default /bin/sh). */
export function sh(
  runner: CommandRunner,
  script: string,
  args: readonly string[] = [],
  options: {
    stdin?: string;
    timeoutMs?: number;
    env?: Record<string, string>;
    shell?: string;
    /** A check whose non-zero exit is an answer, not a failed operation (audit, metrics). */
    probe?: boolean;
  } = {},
): Promise<RunResult> {
  const { shell = "/bin/sh", ...rest } = options;
  return runner.run(shell, ["-c", script, "provctl", ...args], rest);
}

function failed(action: string, path: string, result: RunResult): ProvctlError {
  const reason = result.stderr.trim().split("\n").pop() || `exit code ${result.code}`;
  const kind = /permission denied|read-only file system/i.test(reason)
    ? "PermissionDenied"
    : "CommandFailed";
  return new ProvctlError(kind, "errors.file_op_failed", { params: { action, path, reason } });
}

/**
 * sh: stdin to file "$1" with mode "$2", atomically: a temp file in the same directory,
 * then a rename, so readers never see a half-written file. Creates parent directories.
 */
export const ATOMIC_WRITE_SCRIPT = `set -e
dir=$(dirname -- "$1"); mkdir -p -- "$dir"
tmp="$1.tmp.$$"
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
chmod "$2" "$tmp"
mv -f -- "$tmp" "$1"
trap - EXIT`;

/** Writes `content` to `path` atomically (ATOMIC_WRITE_SCRIPT). */
export async function writeFileAtomic(
  runner: CommandRunner,
  path: string,
  content: string,
  options: { mode?: string } = {},
): Promise<void> {
  const result = await sh(runner, ATOMIC_WRITE_SCRIPT, [path, options.mode ?? "0644"], {
    stdin: content,
  });
  if (result.code !== 0) throw failed("write", path, result);
}

/** The file's text, or undefined when it does not exist. */
export async function readFileIfExists(
  runner: CommandRunner,
  path: string,
): Promise<string | undefined> {
  const result = await sh(runner, `[ -e "$1" ] || exit 3; exec cat -- "$1"`, [path]);
  if (result.code === 3) return undefined;
  if (result.code !== 0) throw failed("read", path, result);
  return result.stdout;
}

/** Removes a file; a missing file is fine. */
export async function removeFile(runner: CommandRunner, path: string): Promise<void> {
  const result = await sh(runner, `rm -f -- "$1"`, [path]);
  if (result.code !== 0) throw failed("remove", path, result);
}

/** Resolves the facts about the runner's machine in one command. */
export async function probeHost(runner: CommandRunner): Promise<HostInfo> {
  const script =
    `printf '%s\\n' "$(uname -s)" "$HOME" "\${TMPDIR:-/tmp}" "$(id -u)" "$(id -un)" "\${XDG_STATE_HOME:-}" "\${XDG_CONFIG_HOME:-}"`;
  const result = await sh(runner, script);
  if (result.code !== 0) {
    throw new ProvctlError("CommandFailed", "errors.host_probe_failed", {
      params: { target: runner.target, reason: result.stderr.trim() || `exit code ${result.code}` },
    });
  }
  const [os, home, tmp, uid, user, xdgState, xdgConfig] = result.stdout.split("\n");
  return {
    os,
    home,
    tmp: tmp.replace(/\/+$/, "") || "/tmp",
    uid: Number(uid),
    user,
    xdgStateHome: xdgState || undefined,
    xdgConfigHome: xdgConfig || undefined,
  };
}
