/**
 * SshRunner: the CommandRunner of a remote machine. It runs the same program + args a
 * backend would run locally, with every word single-quoted (no value can inject a
 * command), on a pooled SSH connection. The remote exit code, or 128+N for signal N,
 * comes from the channel's exit message.
 */
import { pushStream } from "./_push_stream.ts";
import { ProvctlError } from "../core/errors.ts";
import { signalNumberOf } from "../core/signals.ts";
import type {
  RunOptions,
  RunResult,
  ShellRunner,
  StreamExit,
  StreamingProcess,
} from "../exec/runner.ts";
import { sendSignal, type Ssh2Channel } from "./_ssh2.ts";
import type { SessionLease, SshPool } from "./pool.ts";
import { type ExecHandle, whereOf } from "./session.ts";
import { remoteCommand, remoteShellCommand } from "../exec/shell_quote.ts";
import { type ConnectionPlan, endpointLabel } from "./_plan.ts";

export interface SshRunnerOptions {
  readonly plan: ConnectionPlan;
  /** Connections come from (and go back to) this pool; the CLI closes it at exit. */
  readonly pool: SshPool;
  /** Command timeout when run() is given none (defaults.toml ssh.command_timeout_ms). */
  readonly commandTimeoutMs?: number;
  /**
   * Upper bound of one run() including waiting for a connection, connecting, retries
   * and the command itself (ssh.total_timeout_ms); expiring before the command started
   * is a Timeout error naming "total".
   */
  readonly totalTimeoutMs?: number;
}

/** Exit status of a remote program as CommandRunner reports it. */
interface Exit {
  code: number;
  signal?: string;
}

const decoder = new TextDecoder();

export class SshRunner implements ShellRunner {
  readonly target: string;
  readonly remote = true;
  readonly plan: ConnectionPlan;
  readonly #pool: SshPool;
  readonly #commandTimeoutMs?: number;
  readonly #totalTimeoutMs?: number;

  constructor(options: SshRunnerOptions) {
    this.plan = options.plan;
    this.target = `ssh ${endpointLabel(options.plan.target)}`;
    this.#pool = options.pool;
    this.#commandTimeoutMs = options.commandTimeoutMs;
    this.#totalTimeoutMs = options.totalTimeoutMs;
  }

  /** Runs `program args...` remotely, every word quoted. */
  run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.#run(remoteCommand(program, args, options), options);
  }

  /**
   * Runs a shell string on purpose (`provctl exec --shell 'a | b'`): the string is passed
   * verbatim to the remote login shell; env and cwd are applied around it.
   */
  runShell(script: string, options: RunOptions = {}): Promise<RunResult> {
    return this.#run(remoteShellCommand(script, options), options);
  }

  stream(program: string, args: readonly string[], options: RunOptions = {}): StreamingProcess {
    return this.#stream(remoteCommand(program, args, options), options);
  }

  /** The streaming form of runShell(). */
  streamShell(script: string, options: RunOptions = {}): StreamingProcess {
    return this.#stream(remoteShellCommand(script, options), options);
  }

  async #run(command: string, options: RunOptions): Promise<RunResult> {
    const started = Date.now();
    const stdout: Uint8Array[] = [];
    const stderr: Uint8Array[] = [];
    let timedOut = false;
    const { lease, proc } = await this.#start(
      command,
      options.signal,
      (chunk) => stdout.push(chunk),
    );
    const channel = proc.channel;
    const remaining = this.#totalTimeoutMs === undefined
      ? undefined
      : this.#totalTimeoutMs - (Date.now() - started);
    // A caller's explicit timeout (a deploy step's, an upload's) is the command's own
    // limit; ssh.total_timeout_ms bounds only commands run on the defaults.
    const timeoutMs = options.timeoutMs !== undefined
      ? (options.timeoutMs > 0 ? options.timeoutMs : undefined)
      : minDefined(this.#commandTimeoutMs, remaining);
    const stop = () => proc.kill();
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      stop();
    }, Math.max(0, timeoutMs));
    options.signal?.addEventListener("abort", stop, { once: true });
    try {
      channel.stderr.on("data", (chunk) => stderr.push(chunk));
      writeStdin(channel, options.stdin);
      const exit = await waitExit(proc.handle, lease, this.plan);
      lease.release();
      return {
        code: exit?.code ?? (timedOut ? 137 : 255),
        signal: exit?.signal ?? (timedOut ? "SIGKILL" : undefined),
        stdout: concatText(stdout),
        stderr: concatText(stderr),
        timedOut,
      };
    } catch (error) {
      if (timedOut || options.signal?.aborted) {
        // The channel was closed on purpose; the connection itself may still be fine.
        lease.release();
        return {
          code: 137,
          signal: "SIGKILL",
          stdout: concatText(stdout),
          stderr: concatText(stderr),
          timedOut,
        };
      }
      lease.discard();
      throw error;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener("abort", stop);
    }
  }

  #stream(command: string, options: RunOptions): StreamingProcess {
    let proc: RemoteProcess | undefined;
    let killed = false;
    let timedOut = false;
    // A reader that falls behind pauses the channel (the remote program then blocks on
    // its output) instead of its output piling up here.
    let pausedEarly = false;
    const out = pushStream({
      pause: () => proc ? proc.channel.pause() : void (pausedEarly = true),
      resume: () => proc ? proc.channel.resume() : void (pausedEarly = false),
    });
    const err = pushStream();
    let ended = false;
    const kill = () => {
      // After the exit, the PID and group may belong to the command's daemons (or others).
      if (ended) return;
      killed = true;
      // Its exit is seen only once the channel's output is taken in: no longer wait for
      // the reader (what is left is bounded by the channel's window).
      out.release();
      proc?.kill();
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    const done = (async (): Promise<StreamExit> => {
      const started = await this.#start(command, options.signal, (chunk) => out.push(chunk));
      const lease = started.lease;
      proc = started.proc;
      const channel = proc.channel;
      if (pausedEarly) channel.pause();
      if (killed) proc.kill();
      channel.stderr.on("data", (chunk) => err.push(chunk));
      writeStdin(channel, options.stdin);
      // Counted from here: connecting is bounded by the connect and auth timeouts.
      const timer = options.timeoutMs
        ? setTimeout(() => {
          timedOut = true;
          kill();
        }, options.timeoutMs)
        : undefined;
      try {
        const exit = await waitExit(proc.handle, lease, this.plan);
        ended = true;
        lease.release();
        if (timedOut) return { code: 137, signal: "SIGKILL", timedOut };
        return exit ?? { code: 137, signal: "SIGKILL" };
      } catch (error) {
        if (killed) {
          lease.release();
          return { code: 137, signal: "SIGKILL", ...(timedOut ? { timedOut } : {}) };
        }
        lease.discard();
        throw error;
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
    })();
    done.then(() => {
      out.close();
      err.close();
    }, (error) => {
      out.error(error);
      err.error(error);
    }).finally(() => options.signal?.removeEventListener("abort", kill));
    return { stdout: out.stream, stderr: err.stream, done, kill };
  }

  /**
   * A connection and the started command. A pooled connection that died while idle
   * fails when the channel opens, before anything ran: that case gets one fresh
   * connection (the command cannot have started, so this is not a command retry).
   */
  async #start(
    command: string,
    signal: AbortSignal | undefined,
    onStdout: (chunk: Uint8Array) => void,
  ): Promise<{ lease: SessionLease; proc: RemoteProcess }> {
    // Given up before the call (its abort event has fired already): nothing may start.
    // Killing it once started would race the PID marker the kill needs.
    if (signal?.aborted) {
      throw new ProvctlError("ConnectionFailed", "ssh.aborted", {
        params: { where: endpointLabel(this.plan.target) },
      });
    }
    for (let attempt = 0;; attempt++) {
      const lease = await this.#acquire(signal);
      try {
        return { lease, proc: await RemoteProcess.start(lease, command, onStdout) };
      } catch (error) {
        lease.discard();
        if (!lease.reused || attempt > 0) throw error;
      }
    }
  }

  async #acquire(signal: AbortSignal | undefined): Promise<SessionLease> {
    if (this.#totalTimeoutMs === undefined) return this.#pool.acquire(this.plan, { signal });
    const total = AbortSignal.timeout(this.#totalTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, total]) : total;
    try {
      return await this.#pool.acquire(this.plan, { signal: combined });
    } catch (error) {
      if (total.aborted && !signal?.aborted) {
        throw new ProvctlError("Timeout", "ssh.timeout", {
          params: {
            which: "total",
            where: whereOf(this.plan, this.plan.hops.length),
            ms: this.#totalTimeoutMs,
          },
          cause: error,
        });
      }
      throw error;
    }
  }
}

/** Sends stdin (then EOF) or just EOF, as a local runner with stdin "null" would. */
function writeStdin(channel: Ssh2Channel, stdin: string | Uint8Array | undefined): void {
  if (stdin === undefined || stdin.length === 0) channel.end();
  else channel.end(typeof stdin === "string" ? stdin : stdin);
}

const PID_MARKER = "__provctl_pid__=";
const MARKER_BYTES = new TextEncoder().encode(PID_MARKER);

/**
 * A program started on a channel. The command first prints a marker line with the
 * remote shell's PID (filtered out of stdout): sshd made that shell a session and
 * process group leader, so stopping kills the whole group through a second channel.
 * (sshd refuses "signal" requests for root sessions, which run without privilege
 * separation, so the signal request alone is not enough.)
 */
class RemoteProcess {
  readonly handle: ExecHandle;
  readonly channel: Ssh2Channel;
  readonly #lease: SessionLease;
  #pid: number | undefined;
  #head: Uint8Array[] | undefined = [];
  #headSize = 0;
  #killed = false;
  readonly #onStdout: (chunk: Uint8Array) => void;

  private constructor(
    lease: SessionLease,
    handle: ExecHandle,
    onStdout: (chunk: Uint8Array) => void,
  ) {
    const channel = handle.channel;
    this.#lease = lease;
    this.handle = handle;
    this.channel = channel;
    this.#onStdout = onStdout;
    channel.on("data", (chunk) => this.#data(chunk));
    channel.on("end", () => this.#flushHead());
  }

  static async start(
    lease: SessionLease,
    command: string,
    onStdout: (chunk: Uint8Array) => void,
  ): Promise<RemoteProcess> {
    const prefixed = `printf '${PID_MARKER}%s\\n' "$$"; ${command}`;
    return new RemoteProcess(lease, await lease.session.exec(prefixed), onStdout);
  }

  /** Kills the remote process group (when its PID is known), then closes the channel. */
  kill(): void {
    if (this.#killed) return;
    this.#killed = true;
    sendSignal(this.channel, "KILL");
    const pid = this.#pid;
    if (pid !== undefined && !this.#lease.session.closed) {
      // `kill -SIG -PGID`: the one group form dash, busybox and bash all accept ("--" is not).
      this.#lease.session.exec(`kill -KILL -${pid} ${pid} 2>/dev/null`).then(
        ({ channel, finished }) => {
          channel.on("data", () => {});
          channel.stderr.on("data", () => {});
          channel.end();
          return finished;
        },
      ).catch(() => {}).finally(() => closeQuietly(this.channel));
      return;
    }
    closeQuietly(this.channel);
  }

  #data(chunk: Uint8Array): void {
    if (this.#head === undefined) return this.#onStdout(chunk);
    // Until the marker line is seen, hold output (a login script may print before it).
    this.#head.push(new Uint8Array(chunk));
    const held = concatBytes(this.#head);
    const at = indexOfBytes(held, MARKER_BYTES);
    const end = at < 0 ? -1 : held.indexOf(0x0a, at);
    if (end >= 0) {
      this.#pid = Number(decoder.decode(held.subarray(at + MARKER_BYTES.length, end)));
      this.#head = undefined;
      const rest = concatBytes([held.subarray(0, at), held.subarray(end + 1)]);
      if (rest.length > 0) this.#onStdout(rest);
    } else if (held.length > 64 * 1024) {
      this.#flushHead();
    }
  }

  #flushHead(): void {
    if (this.#head === undefined) return;
    const held = concatBytes(this.#head);
    this.#head = undefined;
    if (held.length > 0) this.#onStdout(held);
  }
}

function indexOfBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function closeQuietly(channel: Ssh2Channel): void {
  try {
    channel.close();
  } catch { /* already gone */ }
}

/**
 * Resolves with the exit status when the channel closes; undefined when it closed
 * without one (killed by us). Rejects when the connection dropped under the command.
 */
async function waitExit(
  handle: ExecHandle,
  lease: SessionLease,
  plan: ConnectionPlan,
): Promise<Exit | undefined> {
  const status = await handle.finished;
  if (status?.code === null) {
    return { code: 128 + signalNumberOf(status.signal), signal: status.signal };
  }
  if (status) return { code: status.code };
  // A dropped connection closes every channel: tell that apart from our own close.
  if (lease.session.closed) {
    throw new ProvctlError("ConnectionFailed", "ssh.connection_lost", {
      params: {
        where: whereOf(plan, plan.hops.length),
        reason: "the connection closed before the command exited",
      },
    });
  }
  return undefined;
}

function concatText(chunks: Uint8Array[]): string {
  return decoder.decode(concatBytes(chunks));
}

function concatBytes(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let size = 0;
  for (const c of chunks) size += c.length;
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return all;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
