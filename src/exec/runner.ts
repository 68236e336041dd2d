/**
 * CommandRunner: the one seam between provctl and a machine. Backends run every
 * program through it, so the same backend code works locally (LocalRunner, on
 * Deno.Command) and remotely (the SSH runner executes the same argv on a remote host
 * with every argument shell-quoted).
 */

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

/** A running program whose output is read as it comes (for `logs -f`). */
export interface StreamingProcess {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves when the program ends. */
  readonly done: Promise<{ code: number; signal?: string }>;
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
