/** LocalRunner: CommandRunner on Deno.Command for the machine provctl runs on. */
import { ProvctlError } from "../core/errors.ts";
import { signalNumberOf } from "../core/signals.ts";
import type { CommandRunner, RunOptions, RunResult, StreamingProcess } from "./runner.ts";

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

export class LocalRunner implements CommandRunner {
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
    // AbortSignal.timeout rather than setTimeout: the first setTimeout loads Deno's Node
    // timers module, which costs several milliseconds of every provctl start-up.
    const deadline = options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined;
    const onDeadline = () => {
      timedOut = true;
      kill();
    };
    deadline?.addEventListener("abort", onDeadline, { once: true });
    options.signal?.addEventListener("abort", kill, { once: true });
    try {
      if (options.stdin !== undefined) {
        const writer = child.stdin.getWriter();
        const data = typeof options.stdin === "string"
          ? new TextEncoder().encode(options.stdin)
          : options.stdin;
        await writer.write(data).catch(() => {});
        await writer.close().catch(() => {});
      }
      const output = await child.output();
      return {
        code: output.signal ? 128 + signalNumberOf(output.signal) : output.code,
        signal: output.signal ?? undefined,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
        timedOut,
      };
    } finally {
      deadline?.removeEventListener("abort", onDeadline);
      options.signal?.removeEventListener("abort", kill);
    }
  }

  stream(program: string, args: readonly string[], options: RunOptions = {}): StreamingProcess {
    const command = new Deno.Command(program, {
      args: [...args],
      env: options.env ? { ...options.env } : undefined,
      cwd: options.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
    let child: Deno.ChildProcess;
    try {
      child = command.spawn();
    } catch (error) {
      throw spawnError(program, error);
    }
    const kill = () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    return {
      stdout: child.stdout,
      stderr: child.stderr,
      done: child.status.then((s) => ({ code: s.code, signal: s.signal ?? undefined })),
      kill,
    };
  }
}
