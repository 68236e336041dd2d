/**
 * CommandRunner: the one seam between provctl and a machine. Backends run every
 * program through it, so the same backend code works locally (LocalRunner, on
 * Deno.Command) and remotely (the SSH runner executes the same argv on a remote host
 * with every argument shell-quoted).
 */
import { ProvctlError } from "../core/errors.ts";

export interface RunOptions {
  /** Extra environment variables, added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Kill the program (SIGKILL) after this many milliseconds; the result has timedOut.
   * 0 means no limit. */
  readonly timeoutMs?: number;
  /** Data written to the program's stdin, which is then closed. */
  readonly stdin?: string | Uint8Array;
  /** Aborting kills the program. */
  readonly signal?: AbortSignal;
  /**
   * The program answers a question with its exit code (`[ -d /run/systemd/system ]`,
   * `command -v x`): any exit code is an answer, not a failure. Runners run it as usual;
   * the audit log and metrics record it as `<operation>.probe`, ok when it exited.
   */
  readonly probe?: boolean;
}

export interface RunResult {
  /** Exit code; 128+N when killed by signal N (as a shell reports it). */
  readonly code: number;
  /** Name of the signal that killed the program, if one did. */
  readonly signal?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** How a streamed program ended. */
export interface StreamExit {
  /** Exit code; 128+N when killed by signal N. */
  readonly code: number;
  readonly signal?: string;
  /** True when RunOptions.timeoutMs expired (counted from when the program started). */
  readonly timedOut?: boolean;
}

/** A running program whose output is read as it comes (for `logs -f`). */
export interface StreamingProcess {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves when the program ends. */
  readonly done: Promise<StreamExit>;
  /** Stops the program (SIGTERM, or closes the remote channel). */
  kill(): void;
}

export interface CommandRunner {
  /** "local", or "ssh user@host:port" — used in messages and the audit log. */
  readonly target: string;
  /** True when the programs run on another machine (paths are the remote's). */
  readonly remote: boolean;
  run(program: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  stream(program: string, args: readonly string[], options?: RunOptions): StreamingProcess;
}

/**
 * A runner that can also hand a shell string to the machine's shell on purpose
 * (`exec --shell`, deploy steps). Remote runners have it; check with canRunShell().
 */
export interface ShellRunner extends CommandRunner {
  runShell(script: string, options?: RunOptions): Promise<RunResult>;
  streamShell(script: string, options?: RunOptions): StreamingProcess;
}

/** True when `runner` offers runShell/streamShell. */
export function canRunShell(runner: CommandRunner): runner is ShellRunner {
  const r = runner as Partial<ShellRunner>;
  return typeof r.runShell === "function" && typeof r.streamShell === "function";
}

/** The runner's shell capability; a runner without it here is a bug (exit 70). */
export function shellRunner(runner: CommandRunner): ShellRunner {
  if (canRunShell(runner)) return runner;
  throw new ProvctlError("Internal", "errors.internal", {
    params: { detail: `runner ${runner.target} cannot run shell strings` },
  });
}

/** Facts about the machine behind a runner that backends need (resolved once). */
export interface HostInfo {
  readonly os: string; // `uname -s`: "Linux", "Darwin", ...
  readonly home: string;
  readonly tmp: string;
  readonly uid: number;
  readonly user: string;
  readonly xdgStateHome?: string;
  readonly xdgConfigHome?: string;
}
