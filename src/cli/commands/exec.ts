/**
 * provctl exec --host H -- CMD ARGS... | --shell 'SCRIPT'
 *
 * Runs one command on a machine over SSH, streaming its stdout to stdout and its stderr
 * to stderr as they arrive. Each argument after -- reaches the remote program exactly
 * (the SSH runner quotes every word); --shell hands a script to the remote shell on
 * purpose. Exit code: the remote command's (128+N when signal N killed it), or 255 when
 * provctl could not run it at all (connection, authentication, host key, circuit
 * breaker...) or stopped it at --timeout MS (default ssh.command_timeout_ms), as ssh does; 2 for a wrong exec
 * command line. The remote command's stdin is empty. SIGINT/SIGTERM kill the remote
 * command (exit 130/143).
 */
import { isProvctlError, ProvctlError } from "../../core/errors.ts";
import { SIGNALS } from "../../core/signals.ts";
import { shellRunner, type StreamExit, type StreamingProcess } from "../../exec/runner.ts";
import type { ExecFlags } from "./_exec_fleet.ts";
import type { Writable } from "../context.ts";
import { command, type Session } from "../session.ts";
import { fleetRequested } from "../fleet_flags.ts";

/** Exit code when the remote command could not be run (ssh's convention). */
const CANNOT_RUN = 255;
const FORWARDED = ["SIGINT", "SIGTERM"] as const;

export default command<ExecFlags, string[]>(async (session, flags, ...positional) => {
  const usage = (key: string) => new ProvctlError("Usage", key, { hint: "remote.exec_hint" });
  // Words after "--" are the command; words before it select machines from the inventory.
  const dash = session.ctx.argv.indexOf("--");
  const argv = dash < 0 ? positional : session.ctx.argv.slice(dash + 1);
  const machineNames = positional.slice(
    0,
    positional.length - (dash < 0 ? positional.length : argv.length),
  );
  if (fleetRequested(flags, machineNames)) {
    if (flags.shell !== undefined && argv.length > 0) throw usage("remote.exec_shell_and_command");
    if ((flags.shell ?? "").trim() === "" && argv.length === 0) {
      throw usage("remote.exec_no_command");
    }
    const { execOnFleet } = await import("./_exec_fleet.ts");
    return await execOnFleet(session, flags, machineNames, argv);
  }
  if (machineNames.length > 0) throw usage("remote.exec_needs_host");
  if (flags.host === undefined) throw usage("remote.exec_needs_host");
  if (flags.shell !== undefined && argv.length > 0) throw usage("remote.exec_shell_and_command");
  if ((flags.shell ?? "").trim() === "" && argv.length === 0) throw usage("remote.exec_no_command");

  const abort = new AbortController();
  let interrupted: (typeof FORWARDED)[number] | undefined;
  const listeners = FORWARDED.map((signal) => {
    const listener = () => {
      interrupted ??= signal;
      abort.abort();
    };
    Deno.addSignalListener(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  // --timeout MS, else ssh.command_timeout_ms (0 = no limit) bounds the remote command,
  // counted from when it started: connecting is bounded by the connect/auth timeouts.
  const timeoutMs = flags.timeout ?? session.loaded.config.integer("ssh.command_timeout_ms");
  let timedOut = false;
  try {
    // An SshRunner, possibly wrapped (audit log, metrics) by a runner that forwards it.
    const runner = await session.runner();
    const options = { signal: abort.signal, timeoutMs: timeoutMs > 0 ? timeoutMs : 0 };
    const proc = flags.shell !== undefined
      ? shellRunner(runner).streamShell(flags.shell, options)
      : runner.stream(argv[0], argv.slice(1), options);
    const exit = await finish(proc, session);
    timedOut = exit.timedOut === true;
    if (interrupted) return 128 + SIGNALS[interrupted];
    if (exit.readerGone) return EXIT_READER_GONE;
    if (timedOut) {
      throw new ProvctlError("Timeout", "ssh.timeout", {
        params: { which: "command", where: flags.host, ms: timeoutMs },
        hint: "remote.exec_timeout_hint",
      });
    }
    return exit.code;
  } catch (error) {
    if (interrupted) return 128 + SIGNALS[interrupted];
    return cannotRun(session, error);
  } finally {
    for (const remove of listeners) remove();
  }
});

/** As a program killed by SIGPIPE: the reader of provctl's output went away (`| head`). */
const EXIT_READER_GONE = 128 + 13;

/** Copies both output streams as they come; resolves with the exit status. */
async function finish(
  proc: StreamingProcess,
  session: Session,
): Promise<StreamExit & { readerGone?: boolean }> {
  const { stdout, stderr } = session.ctx.process;
  // Output nobody can take any more (a closed pipe): the remote command is ended, as
  // `ssh host cmd | head` ends by SIGPIPE, instead of running on unread.
  let readerGone = false;
  const gone = () => {
    readerGone = true;
    proc.kill();
  };
  // A failed connection errors the streams too: the error is taken from `done`.
  await Promise.all([pump(proc.stdout, stdout, gone), pump(proc.stderr, stderr, gone)])
    .catch(() => {});
  const exit = await proc.done;
  return readerGone ? { ...exit, readerGone } : exit;
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  out: Writable,
  gone: () => void,
): Promise<void> {
  const decoder = new TextDecoder();
  const write = (chunk: Uint8Array | undefined) => {
    // Binary-safe: the remote output may not be text (e.g. tar c).
    if (out.writeBytes) return chunk && out.writeBytes(chunk);
    const text = decoder.decode(chunk, { stream: chunk !== undefined });
    if (text !== "") out.write(text);
  };
  try {
    for await (const chunk of stream) write(chunk);
    write(undefined);
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    gone();
  }
}

/** Prints why the command could not run; 255, except for usage mistakes and bugs. */
function cannotRun(session: Session, error: unknown): number {
  if (!isProvctlError(error) || error.kind === "Usage" || error.kind === "Internal") throw error;
  session.fail(error);
  return CANNOT_RUN;
}
