/** LocalRunner: CommandRunner on Deno.Command for the machine provctl runs on. */
import { ProvctlError } from "../core/errors.ts";
import { signalNumberOf } from "../core/signals.ts";
import { startTimer } from "../core/timer.ts";
import type { RunOptions, RunResult, ShellRunner, StreamingProcess } from "./runner.ts";

const decoder = new TextDecoder();

function spawnError(program: string, error: unknown): ProvctlError {
  if (error instanceof Deno.errors.NotFound) {
    return new ProvctlError("SpawnFailed", "errors.program_not_found", {
      params: { program },
      cause: error,
    });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new ProvctlError("PermissionDenied", "errors.program_not_executable", {
      params: { program },
      cause: error,
    });
  }
  return new ProvctlError("SpawnFailed", "errors.program_spawn_failed", {
    params: { program, reason: error instanceof Error ? error.message : String(error) },
    cause: error,
  });
}

export class LocalRunner implements ShellRunner {
  readonly target = "local";
  readonly remote = false;

  async run(
    program: string,
    args: readonly string[],
    options: RunOptions = {},
  ): Promise<RunResult> {
    const command = new Deno.Command(program, {
      args: [...args],
      env: options.env ? { ...options.env } : undefined,
      cwd: options.cwd,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    });
    let child: Deno.ChildProcess;
    try {
      child = command.spawn();
    } catch (error) {
      throw spawnError(program, error);
    }
    let timedOut = false;
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    };
    // Not setTimeout: core/timer.ts says why.
    const cancelDeadline = options.timeoutMs
      ? startTimer(options.timeoutMs, () => {
        timedOut = true;
        kill();
      })
      : undefined;
    options.signal?.addEventListener("abort", kill, { once: true });
    // An abort that came before the call fires no event: the caller has given up already.
    if (options.signal?.aborted) kill();
    try {
      // Read while writing: a program that answers before reading all its input must
      // not block on a full pipe.
      const reading = child.output();
      if (options.stdin !== undefined) await writeAll(child.stdin, options.stdin);
      const output = await reading;
      return {
        code: output.signal ? 128 + signalNumberOf(output.signal) : output.code,
        signal: output.signal ?? undefined,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
        timedOut,
      };
    } finally {
      cancelDeadline?.();
      options.signal?.removeEventListener("abort", kill);
    }
  }

  stream(program: string, args: readonly string[], options: RunOptions = {}): StreamingProcess {
    const command = new Deno.Command(program, {
      args: [...args],
      env: options.env ? { ...options.env } : undefined,
      cwd: options.cwd,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    });
    let child: Deno.ChildProcess;
    try {
      child = command.spawn();
    } catch (error) {
      throw spawnError(program, error);
    }
    const signal = (name: Deno.Signal) => () => {
      try {
        child.kill(name);
      } catch { /* already gone */ }
    };
    const kill = signal("SIGTERM");
    let timedOut = false;
    const cancelDeadline = options.timeoutMs
      ? startTimer(options.timeoutMs, () => {
        timedOut = true;
        signal("SIGKILL")();
      })
      : undefined;
    options.signal?.addEventListener("abort", kill, { once: true });
    // An abort that came before the call fires no event: the caller has given up already.
    if (options.signal?.aborted) kill();
    if (options.stdin !== undefined) void writeAll(child.stdin, options.stdin);
    const done = child.status.then((s) => {
      cancelDeadline?.();
      options.signal?.removeEventListener("abort", kill);
      return {
        code: s.signal ? 128 + signalNumberOf(s.signal) : s.code,
        signal: s.signal ?? undefined,
        ...(timedOut ? { timedOut } : {}),
      };
    });
    return { stdout: child.stdout, stderr: child.stderr, done, kill };
  }

  /** A shell string run by /bin/sh on purpose (the local form of SshRunner.runShell). */
  runShell(script: string, options: RunOptions = {}): Promise<RunResult> {
    return this.run("/bin/sh", ["-c", script], options);
  }

  streamShell(script: string, options: RunOptions = {}): StreamingProcess {
    return this.stream("/bin/sh", ["-c", script], options);
  }
}

async function writeAll(stdin: WritableStream<Uint8Array>, data: string | Uint8Array) {
  const writer = stdin.getWriter();
  await writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data)
    .catch(() => {});
  await writer.close().catch(() => {});
}
