/**
 * KeeperRunner: the CommandRunner of a remote machine whose connection is held by the
 * per-user connection keeper (keeper.ts), so a second provctl invocation reuses the
 * first one's SSH connection instead of paying a handshake. openKeeper() checks the
 * socket directory, starts the keeper when none answers (replacing a stale socket), and
 * gives up (undefined: connect directly) when it cannot.
 *
 * If the keeper cannot be reached when a command starts, the command runs on a direct
 * connection; if the keeper dies while a command runs, the command fails with
 * ssh.keeper_lost (it may have run) rather than running twice, and nothing waits.
 */
import { pushStream } from "./_push_stream.ts";
import { sleep, startTimer } from "../core/timer.ts";
import { ProvctlError } from "../core/errors.ts";
import type {
  RunOptions,
  RunResult,
  ShellRunner,
  StreamExit,
  StreamingProcess,
} from "../exec/runner.ts";
import { type ConnectionPlan, endpointLabel } from "./_plan.ts";
import type { SshSettings } from "./settings.ts";
import {
  checkKeeperDir,
  frameWriter,
  fromBase64,
  fromWireError,
  type HeldConnection,
  type KeeperFrame,
  type KeeperRequest,
  keeperSocket,
  readFrames,
  wireOptions,
} from "./_keeper_wire.ts";

/** The auth variables a keeper needs from the invocation (it has no terminal). */
const AUTH_ENV = ["SSH_AUTH_SOCK", "PROVCTL_SSH_PASSWORD", "PROVCTL_SSH_PASSPHRASE"];

/** How long a keeper has to acknowledge a command ("started") before it runs directly. */
export const STARTED_WAIT_MS = 2000;
/** How long a killed command's keeper has to report its end. */
export const KILL_GRACE_MS = 2000;
/** How long past a command's deadline its keeper has to report its end. */
export const DEADLINE_GRACE_MS = 3000;
/** How long `hosts connections` waits for the keeper's answer. */
export const CONTROL_WAIT_MS = 3000;

/** Keepers that did not acknowledge a command: this process connects directly. */
const unusable = new Set<string>();

export interface KeeperNotices {
  security(key: string, params: Record<string, string>): void;
  note(key: string, params: Record<string, string>): void;
  retry?(target: string, error: unknown, retry: number, delayMs: number): void;
}

export interface KeeperRunnerOptions {
  readonly socket: string;
  readonly plan: ConnectionPlan;
  readonly hash: string;
  readonly settings: SshSettings;
  readonly stateDir?: string;
  readonly persistMs: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly notices: KeeperNotices;
  /** Command timeout when run() is given none (ssh.command_timeout_ms; 0 = none). */
  readonly commandTimeoutMs?: number;
  /** A direct runner, used when the keeper cannot be reached. */
  readonly direct: () => Promise<ShellRunner>;
  /**
   * True when a terminal can prompt for a passphrase or password: a login the keeper
   * (which has none) could not complete is then retried directly, where ssh would ask.
   */
  readonly interactive?: boolean;
}

type Command = KeeperRequest["command"];

export class KeeperRunner implements ShellRunner {
  readonly target: string;
  readonly remote = true;
  readonly plan: ConnectionPlan;
  readonly #o: KeeperRunnerOptions;

  constructor(options: KeeperRunnerOptions) {
    this.#o = options;
    this.plan = options.plan;
    this.target = `ssh ${endpointLabel(options.plan.target)}`;
  }

  run(program: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.#collect({ kind: "argv", program, args }, options);
  }

  runShell(script: string, options: RunOptions = {}): Promise<RunResult> {
    return this.#collect({ kind: "shell", script }, options);
  }

  stream(program: string, args: readonly string[], options: RunOptions = {}): StreamingProcess {
    return this.#request({ kind: "argv", program, args }, options);
  }

  streamShell(script: string, options: RunOptions = {}): StreamingProcess {
    return this.#request({ kind: "shell", script }, options);
  }

  async #collect(command: Command, options: RunOptions): Promise<RunResult> {
    // As SshRunner.run: the default command timeout applies when none is given.
    const timeoutMs = options.timeoutMs ?? this.#o.commandTimeoutMs;
    const proc = this.#request(command, { ...options, timeoutMs });
    const [stdout, stderr] = await Promise.allSettled([text(proc.stdout), text(proc.stderr)]);
    const exit = await proc.done; // a failure is thrown from here, not from the streams
    return {
      code: exit.code,
      signal: exit.signal,
      stdout: stdout.status === "fulfilled" ? stdout.value : "",
      stderr: stderr.status === "fulfilled" ? stderr.value : "",
      timedOut: exit.timedOut === true,
    };
  }

  #request(command: Command, options: RunOptions): StreamingProcess {
    const out = pushStream();
    const err = pushStream();
    let conn: Deno.Conn | undefined;
    let directProc: StreamingProcess | undefined;
    let killed = false;
    let write: ((frame: unknown) => Promise<void>) | undefined;
    // Why this side stopped waiting for the keeper (the socket is closed then).
    let gaveUp: "no_start" | "deadline" | "killed" | undefined;
    let cancelTimer = () => {};
    const giveUpIn = (ms: number, why: NonNullable<typeof gaveUp>) => {
      cancelTimer();
      cancelTimer = startTimer(ms, () => {
        gaveUp = why;
        // A frames loop waiting for the reader sees the closed socket (not before a
        // start: the command then runs directly, with backpressure).
        if (why !== "no_start") out.release();
        try {
          conn?.close();
        } catch { /* closed */ }
      });
    };
    const kill = () => {
      killed = true;
      // The socket is read on, whether or not anyone reads stdout, so the exit is seen.
      out.release();
      directProc?.kill();
      if (!write) return;
      write({ op: "kill" }).catch(() => {});
      // A hung keeper would never answer: stop waiting, as a direct connection does.
      giveUpIn(KILL_GRACE_MS, "killed");
    };
    options.signal?.addEventListener("abort", kill, { once: true });
    if (options.signal?.aborted) kill(); // given up before the call: nothing may run
    const runDirect = async (): Promise<StreamExit> => {
      const runner = await this.#o.direct();
      directProc = command.kind === "argv"
        ? runner.stream(command.program, command.args, options)
        : runner.streamShell(command.script, options);
      if (killed) directProc.kill();
      await Promise.all([pipe(directProc.stdout, out, true), pipe(directProc.stderr, err)]);
      return await directProc.done;
    };
    const done = (async (): Promise<StreamExit> => {
      if (unusable.has(this.#o.socket)) return await runDirect();
      try {
        conn = await Deno.connect({ transport: "unix", path: this.#o.socket });
      } catch {
        // The keeper went away between invocations: run it directly.
        return await runDirect();
      }
      write = frameWriter(conn);
      const request: KeeperRequest = {
        op: "run",
        plan: this.#o.plan,
        hash: this.#o.hash,
        settings: this.#o.settings,
        ...(this.#o.stateDir !== undefined ? { stateDir: this.#o.stateDir } : {}),
        persistMs: this.#o.persistMs,
        env: authEnv(this.#o.env),
        command,
        options: wireOptions(options),
      };
      // Until "started" nothing ran: a keeper that does not say so in time (stopped,
      // hung, or retiring) is left for this process and the command runs directly. The
      // keeper runs it only on our "go", sent once we have the ack and are committed:
      // an ack arriving as we give up cannot make it run twice.
      // (A large stdin takes its time to arrive: 1 ms more per 10 kB.)
      const size = request.options.stdin?.length ?? 0;
      giveUpIn(STARTED_WAIT_MS + Math.floor(size / 10_000), "no_start");
      let started = false;
      let outputSeen = false;
      let cancelRelease = () => {};
      const timeoutMs = options.timeoutMs !== undefined && options.timeoutMs > 0
        ? options.timeoutMs
        : undefined;
      try {
        await write(request);
        let retryDirect = false;
        frames: for await (const frame of readFrames<KeeperFrame>(conn)) {
          // Any frame says the keeper took the command (it may have run from then on).
          // Only the first: later ones must leave the deadline (or a kill's grace) armed.
          if (frame.t !== "started" && !started) {
            started = true;
            cancelTimer();
          }
          switch (frame.t) {
            case "started":
              if (killed) break frames; // nothing ran, nothing will
              cancelTimer();
              started = true; // from here it may run
              await write({ op: "go" });
              // Its own deadline: the command's limit plus the time connecting may take.
              if (timeoutMs !== undefined && !killed) {
                giveUpIn(timeoutMs + connectBudget(this.#o.settings, this.#o.plan), "deadline");
              }
              break;
            case "out":
            case "err":
              (frame.t === "out" ? out : err).push(fromBase64(frame.d));
              // Output means the command runs: its limit counts from no later than now.
              if (!outputSeen && timeoutMs !== undefined && !killed) {
                outputSeen = true;
                giveUpIn(timeoutMs + DEADLINE_GRACE_MS, "deadline");
                // By then the keeper has killed it: its last output and exit are read
                // whether or not anyone reads stdout (else the deadline above fires).
                cancelRelease = startTimer(timeoutMs, () => out.release());
              }
              // A reader that falls behind stops the reading of the socket, so the keeper
              // (and its SSH channel) wait too; only stdout's, as readers may leave stderr.
              await out.ready();
              break;
            case "notice":
              this.#o.notices[frame.kind](frame.key, frame.params);
              break;
            case "retry":
              this.#o.notices.retry?.(
                frame.target,
                fromWireError(frame.error),
                frame.retry,
                frame.delayMs,
              );
              break;
            case "exit":
              return {
                code: frame.code,
                ...(frame.signal !== undefined ? { signal: frame.signal } : {}),
                ...(frame.timedOut ? { timedOut: true } : {}),
              };
            case "error": {
              const error = fromWireError(frame.error);
              // Nothing ran: a login that needs typing is tried where a prompt can show.
              if (error.kind === "AuthFailed" && this.#o.interactive && !killed) {
                retryDirect = true;
                break frames;
              }
              throw error;
            }
          }
        }
        if (retryDirect) return await runDirect();
      } catch (error) {
        if (error instanceof ProvctlError) throw error;
      } finally {
        cancelTimer();
        cancelRelease();
      }
      if (!started) {
        try {
          conn.close();
        } catch { /* closed */ }
        if (gaveUp === "no_start") unusable.add(this.#o.socket);
        if (killed) {
          throw new ProvctlError("ConnectionFailed", "ssh.aborted", {
            params: { where: endpointLabel(this.#o.plan.target) },
          });
        }
        return await runDirect();
      }
      if (gaveUp === "deadline") {
        throw new ProvctlError("ConnectionFailed", "ssh.keeper_unresponsive", {
          params: {
            target: endpointLabel(this.#o.plan.target),
            ms: DEADLINE_GRACE_MS,
          },
          hint: "ssh.keeper_unresponsive_hint",
        });
      }
      throw new ProvctlError("ConnectionFailed", "ssh.keeper_lost", {
        params: { target: endpointLabel(this.#o.plan.target) },
      });
    })();
    done.then(() => {
      out.close();
      err.close();
    }, (error) => {
      out.error(error);
      err.error(error);
    }).finally(() => {
      options.signal?.removeEventListener("abort", kill);
      cancelTimer();
      try {
        conn?.close();
      } catch { /* closed */ }
    });
    return { stdout: out.stream, stderr: err.stream, done, kill };
  }
}

/**
 * The longest a keeper may take to connect before a command starts: the total limit
 * when set, else every attempt at every hop with its connect and auth limits.
 */
function connectBudget(settings: SshSettings, plan: ConnectionPlan): number {
  if (settings.totalTimeoutMs > 0) return settings.totalTimeoutMs + DEADLINE_GRACE_MS;
  const attempts = Math.max(1, settings.retry.attempts);
  const perAttempt = settings.connectTimeoutMs + settings.authTimeoutMs + settings.retry.maxMs;
  return attempts * perAttempt * (plan.hops.length + 1) + DEADLINE_GRACE_MS;
}

function authEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of AUTH_ENV) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/**
 * The keeper's socket, started if needed; undefined when it cannot be used (then the
 * caller connects directly). Throws ssh.keeper_unsafe when the directory or socket is
 * not private to this user.
 */
export async function openKeeper(
  dir: string,
  options: { command?: readonly string[] } = {},
): Promise<string | undefined> {
  if (!(await checkKeeperDir(dir))) return undefined;
  const socket = keeperSocket(dir);
  if (unusable.has(socket)) return undefined;
  if (await answers(socket)) return socket;
  // No keeper, or a stale socket left by one that died: start one (it replaces it). It
  // is a daemon: its own session (detached), cwd /, no stdio of ours, and nothing the
  // invocation waits for; it closes the descriptors it inherited (keeper.ts).
  const [program, ...args] = options.command ?? [Deno.execPath(), ...selfArgs([])];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args: [...args, "__keeper", dir],
      cwd: "/",
      clearEnv: true,
      env: keeperEnv(),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn();
    child.unref();
  } catch {
    return undefined;
  }
  // Answering, or gone without answering (another keeper won the race: ask once more;
  // the dir cannot hold a socket: connect directly), or too slow to start.
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  for (let waited = 0; waited < 5000; waited += 20) {
    await sleep(20);
    if (await answers(socket)) return socket;
    if (exited) return (await answers(socket)) ? socket : undefined;
  }
  return undefined;
}

/**
 * The keeper's environment: this invocation's minus the secrets it passes per request
 * (a keeper outlives the invocation that started it).
 */
function keeperEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of AUTH_ENV) if (name !== "SSH_AUTH_SOCK") delete env[name];
  return env;
}

/** The connections a running keeper holds; undefined when none runs. */
export async function heldConnections(dir: string): Promise<HeldConnection[] | undefined> {
  return await control(dir, "list", (frame) => frame.t === "list" ? frame.connections : undefined);
}

/**
 * Asks the keeper to close its connections and exit; false when none ran. Returns once
 * the keeper has closed them and removed its socket (it then closes the conversation),
 * so the caller may remove the directory straight away.
 */
export async function stopKeeper(dir: string): Promise<boolean> {
  return (await control(dir, "stop", (frame) => frame.t === "stopping" ? true : undefined, {
    untilClosed: true,
  })) ?? false;
}

async function control<T>(
  dir: string,
  op: "list" | "stop",
  pick: (frame: KeeperFrame) => T | undefined,
  { untilClosed = false } = {},
): Promise<T | undefined> {
  if (!(await checkKeeperDir(dir))) return undefined;
  let conn: Deno.Conn;
  try {
    conn = await Deno.connect({ transport: "unix", path: keeperSocket(dir) });
  } catch {
    return undefined;
  }
  // A stopped or hung keeper still accepts (the listen backlog): its answer is bounded.
  let late = false;
  const cancelTimer = startTimer(CONTROL_WAIT_MS, () => {
    late = true;
    try {
      conn.close();
    } catch { /* closed */ }
  });
  let answer: T | undefined;
  try {
    await frameWriter(conn)({ op });
    for await (const frame of readFrames<KeeperFrame>(conn)) {
      answer ??= pick(frame);
      if (answer !== undefined && !untilClosed) return answer;
    }
    if (answer !== undefined) return answer;
  } catch (error) {
    // An answer came; only its closing was slow (a keeper still closing connections).
    if (answer !== undefined) return answer;
    if (!late) throw error;
  } finally {
    cancelTimer();
    try {
      conn.close();
    } catch { /* closed */ }
  }
  if (late) {
    throw new ProvctlError("Timeout", "ssh.keeper_no_answer", {
      params: { dir, ms: CONTROL_WAIT_MS },
      hint: "ssh.keeper_no_answer_hint",
    });
  }
  return undefined;
}

async function answers(socket: string): Promise<boolean> {
  try {
    (await Deno.connect({ transport: "unix", path: socket })).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * How to run this same provctl again: the compiled binary itself, or deno with the entry
 * module (options.command overrides it, e.g. for tests whose main module is the test).
 */
function selfArgs(args: string[]): string[] {
  const exe = Deno.execPath();
  if (!/(^|\/)deno$/.test(exe)) return args;
  return ["run", "--allow-all", "--quiet", "--no-prompt", Deno.mainModule, ...args];
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

/** Copies `from` to `to`; with `wait`, as fast as `to` is read (stderr's readers may leave it). */
async function pipe(
  from: ReadableStream<Uint8Array>,
  to: ReturnType<typeof pushStream>,
  wait = false,
) {
  for await (const chunk of from) {
    to.push(chunk);
    if (wait) await to.ready();
  }
}
