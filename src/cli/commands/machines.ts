/**
 * provctl machines list | check: the inventory, and whether each machine answers
 * (reachable, host key, authentication, backend detected, latency), checked in parallel.
 */
import { ExitCode } from "../../core/errors.ts";
import { checkMachines, machineRecord } from "../../fleet/machine_records.ts";
import type { GlobalFlags } from "../global_flags.ts";
import type { FleetFlags } from "../fleet_flags.ts";
import { table } from "../render.ts";
import { command } from "../session.ts";

export const list = command<GlobalFlags & FleetFlags, string[]>(
  async (session, flags, ...names) => {
    const { selectInventoryMachines } = await import("../fleet.ts");
    const machines = await selectInventoryMachines(session, flags, names, { defaultAll: true });
    if (session.output === "json") {
      for (const m of machines) session.out(JSON.stringify(machineRecord(m)));
      return;
    }
    const header = ["name", "host", "user", "profile", "labels"].map((k) =>
      session.colors.bold(session.format(`machines.column_${k}`))
    );
    const rows = machines.map((m) => [
      m.name,
      m.port === undefined ? m.host : `${m.host}:${m.port}`,
      m.user ?? "-",
      m.profile ?? "-",
      Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
    ]);
    session.out(table([header, ...rows]).trimEnd());
  },
);

export const check = command<GlobalFlags & FleetFlags, string[]>(
  async (session, flags, ...names) => {
    const { selectFleet } = await import("../fleet.ts");
    const fleet = await selectFleet(session, flags, names, { defaultAll: true });
    const rows = await checkMachines(fleet.targets, fleet.forks, (e) => session.errorLine(e));
    if (session.output === "json") {
      for (const r of rows) session.out(JSON.stringify(r));
    } else {
      const c = session.colors;
      const header = ["name", "result", "backend", "latency"].map((k) =>
        c.bold(session.format(`machines.column_${k}`))
      );
      session.out(
        table([
          header,
          ...rows.map((r) => [
            r.machine,
            r.ok ? c.green(session.format("machines.ok")) : c.red(
              session.format("machines.failed_at", {
                stage: r.failed_at ?? "",
                error: r.error ?? "",
              }),
            ),
            r.backend ?? "-",
            r.latency_ms === null ? "-" : `${r.latency_ms.toFixed(1)} ms`,
          ]),
        ]).trimEnd(),
      );
    }
    return rows.every((r) => r.ok) ? ExitCode.ok : ExitCode.failed;
  },
);
