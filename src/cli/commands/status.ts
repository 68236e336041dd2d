/**
 * provctl status [NAME...]: every known service when no name is given; on fleets with
 * -l/-m/--profile/--all, on every selected machine. Exit 3 if any service is not running,
 * 1 if a machine could not be reached.
 */
import { ExitCode } from "../../core/errors.ts";
import type { ServiceName } from "../../core/service_name.ts";
import { command, type Session } from "../session.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { Target } from "../target.ts";
import { parseNames, servicesFromFile } from "../services.ts";
import { type FleetFlags, fleetRequested } from "../fleet_flags.ts";
import { printStatuses, type ServiceStatusRow } from "./_status_output.ts";

async function statusOn(
  session: Session,
  target: Target,
  names: readonly ServiceName[],
  host?: string,
): Promise<ServiceStatusRow[]> {
  const file = await servicesFromFile(session);
  let wanted: ServiceName[] = [...names];
  if (wanted.length === 0) {
    const known = new Set<ServiceName>(file.keys());
    for (const n of await (await target.backend(session.flags.backend)).list()) known.add(n);
    wanted = [...known].sort();
  }
  return await Promise.all(wanted.map(async (name) => {
    const backend = await target.backend(session.flags.backend, file.get(name)?.backend);
    return { name, host, backend: backend.name, status: await backend.status(name) };
  }));
}

/**
 * The restart counts of supervised services (the pidfile backend's supervisor, which has
 * no daemon to export them) go to the metrics totals as a gauge per service and machine.
 */
async function recordRestarts(session: Session, rows: readonly ServiceStatusRow[]) {
  const supervised = rows.filter((r) => r.status.supervision !== undefined);
  if (supervised.length === 0) return;
  const { MetricsCollector, persistMetrics } = await import("../../observe/metrics.ts");
  const metrics = new MetricsCollector();
  const gauge = metrics.gauge(
    "provctl_service_restarts",
    "Restarts of a service by its supervisor since it was started (pidfile backend)",
    ["service", "machine"],
  );
  for (const row of supervised) {
    gauge.set(
      { service: row.name, machine: row.host ?? "local" },
      row.status.supervision!.restarts,
    );
  }
  await persistMetrics(session.loaded.config.path("observe.metrics_file"), metrics.snapshot());
}

function exitCodeOf(rows: readonly ServiceStatusRow[]): number {
  if (rows.some((r) => r.unreachable !== undefined)) return ExitCode.failed;
  return rows.every((r) => r.status.state === "running") ? ExitCode.ok : ExitCode.notFound;
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
      async (target) => ({ ok: true, value: await statusOn(session, target, names, target.name) }),
      { forks: fleet.forks, maxFailures: fleet.maxFailures },
    );
    const rows = outcomes.flatMap((o): ServiceStatusRow[] =>
      o.value ?? [{
        name: names.join(",") || "*",
        host: o.host,
        backend: "-",
        status: { state: "not-running" },
        unreachable: o.status === "skipped"
          ? session.format("fleet.skipped")
          : session.errorLine(o.error),
      }]
    );
    printStatuses(session, rows);
    await recordRestarts(session, rows);
    return exitCodeOf(rows);
  }
  const host = session.flags.host;
  const rows = await statusOn(session, await session.target(), names, host);
  if (rows.length === 0) {
    if (session.output === "text") session.note("cli.no_services");
    return ExitCode.ok;
  }
  printStatuses(session, rows);
  await recordRestarts(session, rows);
  return exitCodeOf(rows);
});
