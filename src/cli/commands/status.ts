/**
 * provctl status [NAME...]: every known service when no name is given; on fleets with
 * -l/-m/--profile/--all, on every selected machine. Exit 3 if any service is not running,
 * 1 if a machine could not be reached.
 */
import { ExitCode } from "../../core/errors.ts";
import { command } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames } from "../services.ts";
import { type FleetFlags, fleetRequested } from "../fleet_flags.ts";
import { serviceStatuses } from "../service_actions.ts";
import { type ServiceStatusRecord, statusRecord } from "../../backends/service_records.ts";
import { printStatuses } from "./_status_output.ts";

function exitCodeOf(rows: readonly ServiceStatusRecord[]): number {
  if (rows.some((r) => r.state === "unreachable")) return ExitCode.failed;
  return rows.every((r) => r.state === "running") ? ExitCode.ok : ExitCode.notFound;
}

export default command<GlobalFlags & FleetFlags, string[]>(async (session, flags, ...raw) => {
  const names = parseNames(raw);
  if (fleetRequested(flags)) {
    const [{ selectFleet }, { runFleet }] = await Promise.all([
      import("../fleet.ts"),
      import("../../fleet/executor.ts"),
    ]);
    const fleet = await selectFleet(session, flags);
    const outcomes = await runFleet(
      fleet.targets,
      async (target) => ({
        ok: true,
        value: await serviceStatuses(session, { target, host: target.name }, names),
      }),
      { forks: fleet.forks, maxFailures: fleet.maxFailures },
    );
    const rows = outcomes.flatMap((o): ServiceStatusRecord[] =>
      o.value ?? [statusRecord({
        name: names.join(",") || "*",
        machine: o.host,
        backend: "-",
        status: { state: "not-running" },
        unreachable: o.status === "skipped"
          ? session.format("fleet.skipped")
          : session.errorLine(o.error),
      })]
    );
    printStatuses(session, rows, { withMachine: true });
    return exitCodeOf(rows);
  }
  const host = session.flags.host;
  const rows = await serviceStatuses(session, { target: await session.target(), host }, names);
  if (rows.length === 0) {
    if (session.output === "text") session.note("cli.no_services");
    return ExitCode.ok;
  }
  printStatuses(session, rows, { withMachine: host !== undefined });
  return exitCodeOf(rows);
});
