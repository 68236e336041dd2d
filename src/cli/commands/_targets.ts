/**
 * Runs a service verb on the command's target (this machine or --host) or, when machines
 * are selected (-l, -m, --profile, --all), on each of them with bounded concurrency.
 * Rows carry the machine name; machines that fail or cannot be reached are reported
 * at the end and make the exit code 1.
 */
import { ExitCode, exitCodeFor, isProvctlError } from "../../core/errors.ts";
import type { Session } from "../session.ts";
import type { Target } from "../target.ts";
import type { MachineConfig } from "../../fleet/inventory.ts";
import { type FleetFlags, fleetRequested } from "../fleet_flags.ts";

export interface TargetsOptions {
  /** Machines per batch; each batch finishes before the next starts (rolling restarts). */
  readonly batch?: number;
}

function detailLines(session: Session, error: unknown): string[] {
  if (!isProvctlError(error)) return [];
  return session.format(error.key, error.params).split("\n").slice(1);
}

/**
 * `work` runs per target and prints its own rows (with `host` set in fleet mode).
 * Returns the exit code for machine-level failures (0 when every machine answered).
 */
export async function onTargets(
  session: Session,
  flags: FleetFlags,
  work: (target: Target, host: string | undefined, machine?: MachineConfig) => Promise<void>,
  options: TargetsOptions = {},
): Promise<number> {
  if (!fleetRequested(flags)) {
    await work(await session.target(), session.flags.host);
    return ExitCode.ok;
  }
  const [{ selectFleet }, { runFleet, budgetExceeded }] = await Promise.all([
    import("../fleet.ts"),
    import("../../fleet/executor.ts"),
  ]);
  const fleet = await selectFleet(session, flags);
  const batchSize = options.batch ?? fleet.targets.length;
  let failures = 0;
  let code: number = ExitCode.ok;
  for (let start = 0; start < fleet.targets.length; start += batchSize) {
    const batch = fleet.targets.slice(start, start + batchSize);
    if (
      budgetExceeded(
        fleet.maxFailures ?? (options.batch ? { count: 0 } : undefined),
        failures,
        fleet.targets.length,
      )
    ) {
      for (const t of batch) session.note("fleet.host_skipped", { host: t.name });
      code = ExitCode.failed;
      continue;
    }
    const outcomes = await runFleet(batch, async (target) => {
      await work(target, target.name, fleet.machines.find((m) => m.name === target.name));
      return { ok: true, value: undefined };
    }, { forks: Math.min(fleet.forks, batch.length), maxFailures: fleet.maxFailures });
    for (const o of outcomes) {
      if (o.status === "ok") continue;
      failures++;
      // "Not known/not running there" alone is exit 3, like the same answer locally.
      const notFound = isProvctlError(o.error) && exitCodeFor(o.error.kind) === ExitCode.notFound;
      code = code === ExitCode.failed || !notFound ? ExitCode.failed : ExitCode.notFound;
      if (o.status === "skipped") session.note("fleet.host_skipped", { host: o.host });
      else {
        session.ctx.process.stderr.write(
          `${
            session.format("fleet.host_failed", {
              host: o.host,
              status: o.status,
              error: session.errorLine(o.error),
            })
          }\n`,
        );
        // A message's further lines (a failed start's last log lines) as a local run
        // shows them, each marked with the machine it came from.
        for (const line of detailLines(session, o.error)) {
          session.ctx.process.stderr.write(
            `${session.format("fleet.host_line", { host: o.host, text: line })}\n`,
          );
        }
      }
    }
  }
  return code;
}
