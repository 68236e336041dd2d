/**
 * A command on many machines, output collected: the one code path behind `provctl exec`
 * on a fleet (grouped and `-o json`) and the API's POST /exec. `{var}` placeholders in
 * the command are each machine's variables.
 */
import type { CommandRunner, RunResult } from "../exec/runner.ts";
import { type FailureBudget, type FleetEvent, type HostOutcome, runFleet } from "./executor.ts";
import { expandVars, type MachineConfig } from "./inventory.ts";

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

/** A runner that can also hand a script to the remote shell (the SSH runner). */
type ShellRunner = {
  runShell(script: string, options: { signal?: AbortSignal; timeoutMs?: number }): Promise<
    RunResult
  >;
};

/** Runs the request on one machine, output collected. */
export function runCollected(
  runner: CommandRunner,
  machine: MachineConfig,
  request: ExecRequest,
  signal: AbortSignal,
): Promise<RunResult> {
  const options = { signal, timeoutMs: request.timeoutMs ? request.timeoutMs : undefined };
  return request.shell !== undefined
    ? (runner as unknown as ShellRunner).runShell(expandVars(request.shell, machine), options)
    : runner.run(
      expandVars(request.argv[0], machine),
      request.argv.slice(1).map((a) => expandVars(a, machine)),
      options,
    );
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
