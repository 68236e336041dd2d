/**
 * provctl status [NAME...]: every known service when no name is given; on fleets with
 * -l/-m/--profile/--all, on every selected machine. Exit 3 if any service is not running,
 * 1 if a machine could not be reached.
 */
import { ExitCode } from "../../core/errors.ts";
import { command, type Session } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import { parseNames } from "../services.ts";
import { type FleetFlags, fleetRequested } from "../fleet_flags.ts";
import { serviceStatuses } from "../service_actions.ts";
import { type ServiceStatusRecord, statusRecord } from "../../backends/service_records.ts";
import { printStatuses } from "./_status_output.ts";

/**
 * The restart counts of supervised services (the pidfile backend's supervisor, which has
 * no daemon to export them) go to the metrics totals as a gauge per service and machine.
 * Only services that were restarted: a plain `status` stays a read (start-up cost).
 */
async function recordRestarts(session: Session, rows: readonly ServiceStatusRecord[]) {
  const restarted = rows.filter((r) => (r.restarts ?? 0) > 0);
  if (restarted.length === 0) return;
  const { MetricsCollector, persistMetrics } = await import("../../observe/metrics.ts");
  const metrics = new MetricsCollector();
  const gauge = metrics.gauge(
    "provctl_service_restarts",
    "Restarts of a service by its supervisor since it was started (pidfile backend)",
    ["service", "machine"],
  );
  for (const row of restarted) {
    gauge.set({ service: row.name, machine: row.machine }, row.restarts!);
  }
  await persistMetrics(session.loaded.config.path("observe.metrics_file"), metrics.snapshot());
}

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
    await recordRestarts(session, rows);
    return exitCodeOf(rows);
  }
  const host = session.flags.host;
  const rows = await serviceStatuses(session, { target: await session.target(), host }, names);
  if (rows.length === 0) {
    if (session.output === "text") session.note("cli.no_services");
    return ExitCode.ok;
  }
  printStatuses(session, rows, { withMachine: host !== undefined });
  await recordRestarts(session, rows);
  return exitCodeOf(rows);
});
