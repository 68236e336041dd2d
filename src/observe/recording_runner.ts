/**
 * RecordingRunner: a CommandRunner that wraps another one (LocalRunner, SshRunner, any)
 * and records every run() and stream() into the audit log and the metrics, with its
 * duration and outcome. Backends and fleet code use it like the runner it wraps, so
 * every operation on a machine is recorded without a line in any backend.
 *
 * It never changes what the wrapped runner does or returns: the same result, the same
 * error. run() resolves once the audit record is on disk (so a reported operation is
 * never missing from the log after a crash); stream() is recorded when it ends. A
 * failure to write the audit record does not fail the operation: it goes to
 * `onRecordError` and is counted in `recordFailures` for the caller to report.
 */
import { isProvctlError, ProvctlError } from "../core/errors.ts";
import {
  canRunShell,
  type CommandRunner,
  type RunOptions,
  type RunResult,
  type ShellRunner,
  type StreamingProcess,
} from "../exec/runner.ts";
import type { AuditEntry, AuditLog, AuditResult } from "./audit_log.ts";
import type { MetricsCollector } from "./metrics.ts";
import { Redactor } from "./redact.ts";

/** Labels of the records: what is being done, on which machine, for which deployment. */
export interface RecordingContext {
  /** Operation label (exec, start, stop, deploy.step, ...), or a function of the argv.
   * Default "exec". */
  readonly operation?: string | ((program: string, args: readonly string[]) => string);
  /** Machine name in records (default: the wrapped runner's target). */
  readonly machine?: string;
  readonly deploymentId?: string;
}

export interface RecordingRunnerOptions extends RecordingContext {
  readonly audit?: AuditLog;
  readonly metrics?: MetricsCollector;
  /** Redacts commands and errors (default: the built-in rules). */
  readonly redactor?: Redactor;
  /** Told when an audit record could not be written (the operation's result stands). */
  readonly onRecordError?: (error: unknown) => void;
}

/** Where records go; shared by a runner and the runners with() derives from it. */
interface Sinks {
  readonly audit?: AuditLog;
  readonly metrics?: MetricsCollector;
  readonly redactor: Redactor;
  readonly onRecordError?: (error: unknown) => void;
  failures: number;
}

/** with() hands its sinks to the new runner under this key (not part of the public options). */
const SHARED = Symbol("recording sinks");
type InternalOptions = RecordingRunnerOptions & { [SHARED]?: Sinks };

const UNREACHABLE_KINDS = new Set([
  "ConnectionFailed",
  "AuthFailed",
  "HostKeyUnknown",
  "HostKeyMismatch",
  "HostKeyRevoked",
  "CircuitOpen",
]);

/** How a thrown error is classified: unreachable, timeout, cancelled or error. */
export function resultOfError(error: unknown, signal?: AbortSignal): AuditResult {
  if (signal?.aborted) return "cancelled";
  if (error instanceof DOMException && error.name === "AbortError") return "cancelled";
  if (isProvctlError(error)) {
    if (UNREACHABLE_KINDS.has(error.kind)) return "unreachable";
    if (error.kind === "Timeout") return "timeout";
  }
  return "error";
}

function errorText(error: unknown): string {
  if (isProvctlError(error)) return error.key;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

function resultOfExit(
  exit: { code: number; timedOut?: boolean },
  cancelled: boolean,
  probe = false,
): AuditResult {
  if (exit.timedOut) return "timeout";
  if (exit.code === 0 || (probe && !cancelled)) return "ok";
  return cancelled ? "cancelled" : "failed";
}

export class RecordingRunner implements CommandRunner {
  readonly target: string;
  readonly remote: boolean;
  readonly inner: CommandRunner;
  readonly #sinks: Sinks;
  readonly #context: RecordingContext;

  constructor(inner: CommandRunner, options: RecordingRunnerOptions = {}) {
    this.inner = inner;
    this.target = inner.target;
    this.remote = inner.remote;
    this.#sinks = (options as InternalOptions)[SHARED] ?? {
      audit: options.audit,
      metrics: options.metrics,
      redactor: options.redactor ?? new Redactor(),
      onRecordError: options.onRecordError,
      failures: 0,
    };
    this.#context = {
      operation: options.operation,
      machine: options.machine,
      deploymentId: options.deploymentId,
    };
  }

  /** A runner on the same wrapped runner and sinks with other labels (cheap). */
  with(context: RecordingContext): RecordingRunner {
    const options: InternalOptions = { ...this.#context, ...context, [SHARED]: this.#sinks };
    return new RecordingRunner(this.inner, options);
  }

  /** Audit records that could not be written by this runner and those from with(). */
  get recordFailures(): number {
    return this.#sinks.failures;
  }

  run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.#recordRun(
      program,
      args,
      () => this.#sinks.redactor.command(program, args),
      () => this.inner.run(program, args, options),
      options,
    );
  }

  stream(program: string, args: readonly string[], options: RunOptions = {}): StreamingProcess {
    return this.#recordStream(
      program,
      args,
      () => this.#sinks.redactor.command(program, args),
      () => this.inner.stream(program, args, options),
      options,
    );
  }

  /** SshRunner.runShell through the recorder (only when the wrapped runner has it). */
  runShell(script: string, options: RunOptions = {}): Promise<RunResult> {
    const inner = this.#shellRunner();
    return this.#recordRun(
      "sh",
      ["-c", script],
      () => this.#sinks.redactor.text(script),
      () => inner.runShell(script, options),
      options,
    );
  }

  /** SshRunner.streamShell through the recorder (only when the wrapped runner has it). */
  streamShell(script: string, options: RunOptions = {}): StreamingProcess {
    const inner = this.#shellRunner();
    return this.#recordStream(
      "sh",
      ["-c", script],
      () => this.#sinks.redactor.text(script),
      () => inner.streamShell(script, options),
      options,
    );
  }

  #shellRunner(): ShellRunner {
    if (!canRunShell(this.inner)) {
      throw new ProvctlError("Unsupported", "observe.recording_no_shell", {
        params: { target: this.inner.target },
      });
    }
    return this.inner;
  }

  async #recordRun(
    program: string,
    args: readonly string[],
    command: () => string,
    run: () => Promise<RunResult>,
    options: RunOptions,
  ): Promise<RunResult> {
    const started = performance.now();
    let result: RunResult;
    try {
      result = await run();
    } catch (error) {
      await this.#record(program, args, command, started, {
        result: resultOfError(error, options.signal),
        error: errorText(error),
      }, options.probe);
      throw error;
    }
    await this.#record(program, args, command, started, {
      result: resultOfExit(result, options.signal?.aborted ?? false, options.probe),
      exitCode: result.code,
      signal: result.signal,
    }, options.probe);
    return result;
  }

  #recordStream(
    program: string,
    args: readonly string[],
    command: () => string,
    start: () => StreamingProcess,
    options: RunOptions,
  ): StreamingProcess {
    const started = performance.now();
    let proc: StreamingProcess;
    try {
      proc = start();
    } catch (error) {
      void this.#record(program, args, command, started, {
        result: resultOfError(error, options.signal),
        error: errorText(error),
      });
      throw error;
    }
    let killed = false;
    const done = proc.done.then(
      async (exit) => {
        await this.#record(program, args, command, started, {
          result: resultOfExit(exit, killed || (options.signal?.aborted ?? false)),
          exitCode: exit.code,
          signal: exit.signal,
        });
        return exit;
      },
      async (error) => {
        await this.#record(program, args, command, started, {
          result: killed ? "cancelled" : resultOfError(error, options.signal),
          error: errorText(error),
        });
        throw error;
      },
    );
    return {
      stdout: proc.stdout,
      stderr: proc.stderr,
      done,
      kill: () => {
        killed = true;
        proc.kill();
      },
    };
  }

  async #record(
    program: string,
    args: readonly string[],
    command: () => string,
    started: number,
    outcome: Pick<AuditEntry, "result" | "exitCode" | "signal" | "error">,
    probe = false,
  ): Promise<void> {
    const durationMs = performance.now() - started;
    const context = this.#context;
    const base = typeof context.operation === "function"
      ? context.operation(program, args)
      : context.operation ?? "exec";
    // A probe is part of the operation, not the operation: its own label keeps the
    // operation's counts and failures what the user saw.
    const op = probe ? `${base}.probe` : base;
    const sinks = this.#sinks;
    sinks.metrics?.recordOperation({ op, result: outcome.result, durationMs });
    if (!sinks.audit) return;
    try {
      await sinks.audit.append({
        machine: context.machine ?? this.inner.target,
        target: this.inner.target,
        op,
        command: command(),
        durationMs,
        deploymentId: context.deploymentId,
        ...outcome,
      });
    } catch (error) {
      sinks.failures++;
      try {
        sinks.onRecordError?.(error);
      } catch { /* a reporting hook must not change the operation's result */ }
    }
  }
}
