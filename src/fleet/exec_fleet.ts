/**
 * A command on many machines, output collected: the one code path behind `provctl exec`
 * on a fleet (grouped and `-o json`) and the API's POST /exec. `{var}` placeholders in
 * the command are each machine's variables.
 */
import { type CommandRunner, type RunResult, shellRunner } from "../exec/runner.ts";
import { type FailureBudget, type FleetEvent, type HostOutcome, runFleet } from "./executor.ts";
import { expandArgv, expandVars, type MachineConfig } from "./inventory.ts";

export interface ExecRequest {
  /** The program and its arguments, each reaching it as one word. */
  readonly argv: readonly string[];
  /** A script for the remote shell instead, only when asked for explicitly. */
  readonly shell?: string;
  /** Limit of the command on each machine; 0 or undefined = none. */
  readonly timeoutMs?: number;
}

export interface ExecTarget {
  readonly name: string;
  runner(): Promise<CommandRunner>;
}

/**
 * Runs the request on one machine, output collected. Machine variables are shell-quoted
 * where they stand in shell text (the --shell script, `sh -c SCRIPT`) and inserted as
 * they are into single words.
 */
export function runCollected(
  runner: CommandRunner,
  machine: MachineConfig,
  request: ExecRequest,
  signal: AbortSignal,
): Promise<RunResult> {
  const options = { signal, timeoutMs: request.timeoutMs ? request.timeoutMs : undefined };
  if (request.shell !== undefined) {
    return shellRunner(runner).runShell(
      expandVars(request.shell, machine, { as: "shell" }),
      options,
    );
  }
  const words = expandArgv(request.argv, machine);
  return runner.run(words[0], words.slice(1), options);
}

/** One outcome per target, in order; `onEvent` sees each start and finish. */
export async function execOnTargets(
  targets: readonly ExecTarget[],
  machines: readonly MachineConfig[],
  request: ExecRequest,
  options: {
    readonly forks: number;
    readonly maxFailures?: FailureBudget;
    readonly signal?: AbortSignal;
    readonly onEvent?: (event: FleetEvent) => void;
  },
): Promise<HostOutcome<RunResult>[]> {
  return await runFleet(targets, async (target, signal) => {
    const machine = machines.find((m) => m.name === target.name)!;
    const result = await runCollected(await target.runner(), machine, request, signal);
    return { ok: result.code === 0, value: result };
  }, options);
}
