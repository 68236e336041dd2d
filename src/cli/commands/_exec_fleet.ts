/**
 * provctl exec on machines selected from the inventory: bounded concurrency (--forks),
 * output grouped per machine (default) or streamed line by line with a machine prefix
 * (--stream), a live progress line on a terminal, a summary, --max-failures, and
 * `-o json` with one record per machine. `{var}` placeholders in the command are the
 * machine's variables (machines.toml `vars`).
 */
import { ExitCode } from "../../core/errors.ts";
import { type CommandRunner, type RunResult, shellRunner } from "../../exec/runner.ts";
import { expandArgv, expandVars } from "../../fleet/inventory.ts";
import { execRecord } from "../../fleet/exec_records.ts";
import { runCollected } from "../../fleet/exec_fleet.ts";
import { type FleetEvent, type HostOutcome, runFleet } from "../../fleet/executor.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { selectFleet } from "../fleet.ts";
import type { Session } from "../session.ts";

export interface ExecFlags extends GlobalFlags, FleetFlags {
  readonly shell?: string;
  readonly stream?: boolean;
  readonly timeout?: number;
}

/** Splits a stream into lines, handing each complete line (with its newline) to `line`. */
function lineSplitter(line: (text: string) => void) {
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    push(chunk: Uint8Array) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        line(buffer.slice(0, nl + 1));
        buffer = buffer.slice(nl + 1);
      }
    },
    end() {
      buffer += decoder.decode();
      if (buffer) line(`${buffer}\n`);
      buffer = "";
    },
  };
}

export async function execOnFleet(
  session: Session,
  flags: ExecFlags,
  machineNames: readonly string[],
  argv: readonly string[],
): Promise<number> {
  const fleet = await selectFleet(session, flags, machineNames);
  const { stdout, stderr } = session.ctx.process;
  const json = session.output === "json";
  const progress = session.ctx.stderrIsTty && !json && !session.flags.quiet;
  const c = session.colors;
  const clearProgress = () => progress && stderr.write("\r\x1b[K");
  const showProgress = (e: FleetEvent) => {
    if (!progress) return;
    stderr.write(
      `\r\x1b[K${
        session.format("fleet.progress", {
          done: e.done,
          total: e.total,
          failed: e.failed,
          running: e.running,
        })
      }`,
    );
  };

  const remote = await session.remoteTargets();
  const runners = new Map<string, CommandRunner>();
  const outcomes = await runFleet(fleet.targets, async (target, signal) => {
    const machine = fleet.machines.find((m) => m.name === target.name)!;
    const runner = await target.runner();
    runners.set(target.name, runner);
    const limit = flags.timeout ?? session.loaded.config.integer("ssh.command_timeout_ms");
    const options = { signal, timeoutMs: limit > 0 ? limit : undefined };
    // Each word is one argument; only the script of `sh -c SCRIPT` is shell text.
    const words = flags.shell === undefined ? expandArgv(argv, machine) : [];
    if (flags.stream && !json) {
      const prefix = c.dim(`${target.name} | `);
      const out = lineSplitter((l) => {
        clearProgress();
        stdout.write(prefix + l);
      });
      const err = lineSplitter((l) => {
        clearProgress();
        stderr.write(prefix + l);
      });
      const proc = flags.shell !== undefined
        ? shellRunner(runner).streamShell(
          expandVars(flags.shell, machine, { as: "shell" }),
          options,
        )
        : runner.stream(words[0], words.slice(1), options);
      const pump = async (s: ReadableStream<Uint8Array>, sink: ReturnType<typeof lineSplitter>) => {
        for await (const chunk of s) sink.push(chunk);
        sink.end();
      };
      await Promise.all([pump(proc.stdout, out), pump(proc.stderr, err)]);
      const done = await proc.done;
      const result: RunResult = {
        code: done.code,
        signal: done.signal,
        stdout: "",
        stderr: "",
        timedOut: false,
      };
      return { ok: done.code === 0, value: result };
    }
    const result = await runCollected(runner, machine, {
      argv,
      shell: flags.shell,
      timeoutMs: options.timeoutMs,
    }, signal);
    return { ok: result.code === 0, value: result };
  }, {
    forks: fleet.forks,
    maxFailures: fleet.maxFailures,
    onEvent: (e) => {
      if (e.outcome && !json && !flags.stream) {
        printGrouped(session, e.outcome as HostOutcome<RunResult>, clearProgress);
      }
      showProgress(e);
    },
  });
  clearProgress();

  if (json) {
    for (const o of outcomes) {
      // Connection attempts, retries included (what -v showed).
      const attempts = o.status === "skipped"
        ? 0
        : runners.has(o.host)
        ? remote.connectAttempts(runners.get(o.host)!)
        : 1;
      session.out(JSON.stringify(execRecord(o, (e) => session.errorLine(e), attempts)));
    }
  } else if (!session.flags.quiet) {
    printSummary(session, outcomes);
  }
  return outcomes.every((o) => o.status === "ok") ? ExitCode.ok : ExitCode.failed;
}

function printGrouped(session: Session, o: HostOutcome<RunResult>, clearProgress: () => unknown) {
  clearProgress();
  const c = session.colors;
  const { stdout, stderr } = session.ctx.process;
  const seconds = (o.durationMs / 1000).toFixed(2);
  const header = o.value
    ? session.format("fleet.group_header", { host: o.host, code: o.value.code, seconds })
    : session.format("fleet.group_header_error", {
      host: o.host,
      status: o.status,
      error: session.errorLine(o.error),
    });
  stdout.write(`${o.status === "ok" ? c.bold(header) : c.red(header)}\n`);
  if (o.value?.stdout) {
    stdout.write(o.value.stdout.endsWith("\n") ? o.value.stdout : `${o.value.stdout}\n`);
  }
  if (o.value?.stderr) {
    stderr.write(o.value.stderr.endsWith("\n") ? o.value.stderr : `${o.value.stderr}\n`);
  }
}

function printSummary(session: Session, outcomes: readonly HostOutcome<RunResult>[]) {
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  const lines = [session.format("fleet.summary", {
    total: outcomes.length,
    ok: count("ok"),
    failed: count("failed"),
    unreachable: count("unreachable"),
    skipped: count("skipped"),
  })];
  for (const o of outcomes) {
    if (o.status === "ok") continue;
    const why = o.value
      ? session.format("fleet.why_exit", { code: o.value.code })
      : o.status === "skipped"
      ? session.format("fleet.skipped")
      : session.errorLine(o.error);
    lines.push(session.format("fleet.summary_line", { host: o.host, status: o.status, why }));
  }
  session.ctx.process.stderr.write(`${lines.join("\n")}\n`);
}
