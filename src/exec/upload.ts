/**
 * Uploads a local file or directory tree to a machine through its CommandRunner (exec
 * over SSH, no SFTP subsystem needed; works with the LocalRunner too). The content goes
 * over stdin; it lands under a temporary name next to the destination and is renamed
 * into place, so readers never see a half-written file or a half-extracted tree.
 * Directories travel as a tar stream (`tar` must exist on both sides). The whole content
 * is held in memory: meant for deployment artifacts, not for multi-gigabyte files.
 */
import { ProvctlError } from "../core/errors.ts";
import { ATOMIC_WRITE_SCRIPT, sh } from "./host_fs.ts";
import type { CommandRunner, RunResult } from "./runner.ts";

export interface UploadOptions {
  /** File mode for a file upload, e.g. "0640" (default: the local file's mode). */
  readonly mode?: string;
  readonly timeoutMs?: number;
}

export interface UploadResult {
  readonly kind: "file" | "directory";
  /** Bytes sent (the file, or the tar stream). */
  readonly bytes: number;
}

// The old tree is moved aside and removed only after the new one is in place.
const DIR_SCRIPT = `set -e
parent=$(dirname -- "$1"); mkdir -p -- "$parent"
tmp="$1.provctl-upload.$$"; old="$1.provctl-old.$$"
trap 'rm -rf -- "$tmp"' EXIT
mkdir -- "$tmp"
tar -x -o -f - -C "$tmp"
if [ -e "$1" ] || [ -L "$1" ]; then mv -- "$1" "$old"; fi
mv -- "$tmp" "$1"
trap - EXIT
rm -rf -- "$old"`;

/** Uploads `localPath` (file or directory) to `remotePath` on the runner's machine. */
export async function upload(
  runner: CommandRunner,
  localPath: string,
  remotePath: string,
  options: UploadOptions = {},
): Promise<UploadResult> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(localPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new ProvctlError("NotFound", "ssh.upload_source_missing", {
        params: { source: localPath },
      });
    }
    throw error;
  }
  if (remotePath === "" || /^\/*$/.test(remotePath)) {
    throw new ProvctlError("InvalidArgument", "ssh.upload_failed", {
      params: {
        source: localPath,
        target: runner.target,
        path: remotePath,
        reason: "not a valid destination",
      },
    });
  }
  const fail = (result: RunResult) =>
    new ProvctlError(
      /permission denied/i.test(result.stderr) ? "PermissionDenied" : "CommandFailed",
      "ssh.upload_failed",
      {
        params: {
          source: localPath,
          target: runner.target,
          path: remotePath,
          reason: result.timedOut
            ? "timed out"
            : result.stderr.trim().split("\n").pop() || `exit code ${result.code}`,
        },
      },
    );

  if (info.isDirectory) {
    const tar = await new Deno.Command("tar", {
      args: ["-C", localPath, "-cf", "-", "."],
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    if (!tar.success) {
      throw new ProvctlError("CommandFailed", "ssh.upload_failed", {
        params: {
          source: localPath,
          target: "local tar",
          path: remotePath,
          reason: new TextDecoder().decode(tar.stderr).trim(),
        },
      });
    }
    const result = await runStdin(runner, DIR_SCRIPT, [remotePath], tar.stdout, options.timeoutMs);
    if (result.code !== 0) throw fail(result);
    return { kind: "directory", bytes: tar.stdout.length };
  }

  const content = await Deno.readFile(localPath);
  const mode = options.mode ?? ((info.mode ?? 0o644) & 0o7777).toString(8).padStart(4, "0");
  if (!/^[0-7]{3,4}$/.test(mode)) {
    throw new ProvctlError("InvalidArgument", "ssh.upload_failed", {
      params: {
        source: localPath,
        target: runner.target,
        path: remotePath,
        reason: `bad mode '${mode}'`,
      },
    });
  }
  const result = await runStdin(
    runner,
    ATOMIC_WRITE_SCRIPT,
    [remotePath, mode],
    content,
    options.timeoutMs,
  );
  if (result.code !== 0) throw fail(result);
  return { kind: "file", bytes: content.length };
}

function runStdin(
  runner: CommandRunner,
  script: string,
  args: string[],
  stdin: Uint8Array,
  timeoutMs: number | undefined,
): Promise<RunResult> {
  // host_fs.sh() takes string stdin only; binary content goes through run() directly.
  if (stdin.length === 0) return sh(runner, script, args, { stdin: "", timeoutMs });
  return runner.run("/bin/sh", ["-c", script, "provctl", ...args], { stdin, timeoutMs });
}
